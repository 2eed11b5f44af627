package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

// world is a registry state with one package, its owner, a delegate holding
// every permission, a registered stranger and an operator.
type world struct {
	*harness
	owner, delegate, stranger, op *keys.PrivateKey
}

const pkg = "acme/widget"

func newWorld(t *testing.T) *world {
	h := newHarness(t)
	w := &world{harness: h, owner: h.key(keys.Ed25519), delegate: h.key(keys.ECDSAP256), stranger: h.key(keys.Ed25519), op: h.key(keys.Ed25519)}
	h.genesis(w.op)
	for _, k := range []*keys.PrivateKey{w.owner, w.delegate, w.stranger} {
		h.register(k)
	}
	h.must(&record.Record{Type: record.TypeCreate, Package: pkg, Owners: []string{w.owner.ID()}}, w.owner)
	h.must(&record.Record{Type: record.TypeGrant, Package: pkg, Prev: h.head(pkg), KeyID: w.delegate.ID(), Permissions: record.AllPermissions}, w.owner)
	return w
}

// act builds the record for an action by an actor on version v.
func (w *world) act(action, actor, v string) (*record.Record, *keys.PrivateKey) {
	signer := map[string]*keys.PrivateKey{"owner": w.owner, "delegate": w.delegate, "stranger": w.stranger, "operator": w.op}[actor]
	r := &record.Record{Type: action, Package: pkg, Version: v}
	switch action {
	case record.TypeTombstone, record.TypeBanish:
		r.Reason = "malware"
	case record.TypeYank, record.TypeDelete:
		r.Reason = "mistake"
	}
	chain := r.Chain()
	if actor == "operator" && chain == record.ChainPackage {
		r.Actor = record.ActorOperator
		chain = record.ChainOperator
	}
	if chain == record.ChainOperator {
		r.Prev = w.opHead()
	} else {
		r.Prev = w.head(pkg)
	}
	return r, signer
}

func (w *world) do(action, actor, v string) error {
	r, k := w.act(action, actor, v)
	return w.try(r, k)
}

// publish creates v in the given channel.
func (w *world) publish(v, channel string) {
	w.must(&record.Record{Type: record.TypeRelease, Package: pkg, Prev: w.head(pkg), Version: v, Digest: digest, Size: size(5),
		MediaType: "application/octet-stream", Channel: channel}, w.owner)
}

// reach brings version v into a named starting state.
func (w *world) reach(v, start string) {
	w.t.Helper()
	steps := map[string][][2]string{
		"staged":          {{"staged"}},
		"published":       {{"published"}},
		"yanked-owner":    {{"published"}, {"yank", "owner"}},
		"yanked-operator": {{"published"}, {"yank", "operator"}},
		"deleted":         {{"staged"}, {"delete", "owner"}},
		"tombstoned":      {{"published"}, {"tombstone", "operator"}},
		"banished":        {{"published"}, {"banish", "operator"}},
	}[start]
	for _, s := range steps {
		if s[1] == "" {
			w.publish(v, s[0])
			continue
		}
		if err := w.do(s[0], s[1], v); err != nil {
			w.t.Fatalf("reaching %s: %s by %s: %v", start, s[0], s[1], err)
		}
	}
}

// TestTransitionTable walks every transition of SPEC §3 for every actor,
// from every state: the allowed ones must land in the right state, the
// others must be refused with the right code.
func TestTransitionTable(t *testing.T) {
	const (
		ok     = ""
		denied = CodeNotAuthorized
		bad    = CodeInvalidTransition
		closed = CodeWindowClosed
	)
	type cell struct {
		want Code
		to   string // state after an allowed transition
	}
	starts := []string{"staged", "published", "yanked-owner", "yanked-operator", "deleted", "tombstoned", "banished"}
	// expect[action][start][actor]
	expect := map[string]map[string]map[string]cell{}
	set := func(action, start, actor string, c cell) {
		if expect[action] == nil {
			expect[action] = map[string]map[string]cell{}
		}
		if expect[action][start] == nil {
			expect[action][start] = map[string]cell{}
		}
		expect[action][start][actor] = c
	}
	owners := []string{"owner", "delegate"}
	for _, start := range starts {
		for _, a := range []string{record.TypePromote, record.TypeYank, record.TypeUnyank, record.TypeDelete,
			record.TypeTombstone, record.TypeLift, record.TypeBanish} {
			set(a, start, "stranger", cell{want: denied})
			for _, o := range owners {
				c := cell{want: bad}
				switch {
				case a == record.TypeTombstone || a == record.TypeLift || a == record.TypeBanish:
					c = cell{want: denied}
				case a == record.TypePromote && start == "staged":
					c = cell{to: StatusPublished}
				case a == record.TypeYank && start == "published":
					c = cell{to: StatusYanked}
				case a == record.TypeUnyank && start == "yanked-owner":
					c = cell{to: StatusPublished}
				case a == record.TypeUnyank && start == "yanked-operator":
					c = cell{want: denied}
				case a == record.TypeDelete && (start == "staged" || start == "published" || start == "yanked-owner" || start == "yanked-operator"):
					c = cell{to: StatusDeleted}
				}
				set(a, start, o, c)
			}
			c := cell{want: bad}
			switch {
			case a == record.TypePromote && start == "staged":
				c = cell{to: StatusPublished}
			case a == record.TypeYank && start == "published":
				c = cell{to: StatusYanked}
			case a == record.TypeUnyank && (start == "yanked-owner" || start == "yanked-operator"):
				c = cell{to: StatusPublished}
			case a == record.TypeDelete && start != "deleted" && start != "banished":
				c = cell{to: StatusDeleted}
			case a == record.TypeTombstone && start != "tombstoned" && start != "banished":
				c = cell{to: StatusTombstoned}
			case a == record.TypeLift && start == "tombstoned":
				c = cell{to: StatusPublished} // the state before the tombstone
			case a == record.TypeBanish && start != "banished":
				c = cell{to: StatusBanished}
			}
			set(a, start, "operator", c)
		}
	}
	n := 0
	for action, byStart := range expect {
		for start, byActor := range byStart {
			for actor, c := range byActor {
				t.Run(fmt.Sprintf("%s/%s/by-%s", action, start, actor), func(t *testing.T) {
					w := newWorld(t)
					w.reach("1.0.0", start)
					err := w.do(action, actor, "1.0.0")
					rel := w.m.Releases[pkg+"@1.0.0"]
					if c.want == ok {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						if rel.Status != c.to {
							t.Fatalf("status %s, want %s", rel.Status, c.to)
						}
						last := rel.History[len(rel.History)-1]
						if last.Action != action || last.Index != w.index-1 {
							t.Fatalf("history does not record the transition: %+v", last)
						}
						return
					}
					rf, isRefusal := AsRefusal(err)
					if !isRefusal || rf.Code != c.want {
						t.Fatalf("got %v, want refusal %s", err, c.want)
					}
				})
				n++
			}
		}
	}
	if n != 7*7*4 {
		t.Fatalf("walked %d cells", n)
	}
}

func TestDeleteWindow(t *testing.T) {
	for _, actor := range []string{"owner", "delegate", "operator"} {
		for _, start := range []string{"published", "yanked-owner"} {
			t.Run(actor+"/"+start, func(t *testing.T) {
				w := newWorld(t)
				w.reach("1.0.0", start)
				w.reach("2.0.0", start)
				// Just inside the default 72 h window: allowed.
				w.now = w.now.Add(DefaultDeleteWindow)
				if err := w.do(record.TypeDelete, actor, "1.0.0"); err != nil {
					t.Fatalf("inside the window: %v", err)
				}
				// One second later: only the operator may delete.
				w.now = w.now.Add(time.Second)
				err := w.do(record.TypeDelete, actor, "2.0.0")
				if actor == "operator" {
					if err != nil {
						t.Fatalf("operator after the window: %v", err)
					}
					return
				}
				if rf, ok := AsRefusal(err); !ok || rf.Code != CodeWindowClosed {
					t.Fatalf("after the window: %v", err)
				}
			})
		}
	}
	// Staged releases may be deleted by owners at any time.
	w := newWorld(t)
	w.reach("1.0.0", "staged")
	w.now = w.now.Add(365 * 24 * time.Hour)
	if err := w.do(record.TypeDelete, "owner", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	// The window follows the operator's settings record.
	w = newWorld(t)
	w.must(&record.Record{Type: record.TypeSettings, Prev: w.opHead(), DeleteWindow: size(60)}, w.op)
	w.reach("1.0.0", "published")
	w.now = w.now.Add(61 * time.Second)
	if rf, ok := AsRefusal(w.do(record.TypeDelete, "owner", "1.0.0")); !ok || rf.Code != CodeWindowClosed {
		t.Fatal("settings window not enforced")
	}
}

func TestLiftRestoresPriorState(t *testing.T) {
	for _, start := range []string{"staged", "published", "yanked-owner", "deleted"} {
		w := newWorld(t)
		w.reach("1.0.0", start)
		before := w.m.Releases[pkg+"@1.0.0"].Status
		if err := w.do(record.TypeTombstone, "operator", "1.0.0"); err != nil {
			t.Fatal(err)
		}
		if err := w.do(record.TypeLift, "operator", "1.0.0"); err != nil {
			t.Fatal(err)
		}
		if got := w.m.Releases[pkg+"@1.0.0"].Status; got != before {
			t.Fatalf("%s: lift returned to %s", start, got)
		}
	}
}

func TestVersionsNeverReused(t *testing.T) {
	for _, start := range []string{"published", "deleted", "banished"} {
		w := newWorld(t)
		w.reach("1.0.0", start)
		r := &record.Record{Type: record.TypeRelease, Package: pkg, Prev: w.head(pkg), Version: "1.0.0", Digest: digest, Size: size(5),
			MediaType: "application/octet-stream", Channel: "published"}
		w.refused(CodeVersionExists, r, w.owner)
	}
}

func TestPackageTombstoneAndBanish(t *testing.T) {
	w := newWorld(t)
	w.reach("1.0.0", "published")
	tomb := &record.Record{Type: record.TypeTombstone, Package: pkg, Prev: w.opHead(), Reason: "legal-hold"}
	w.must(tomb, w.op)
	rel, p := w.m.Releases[pkg+"@1.0.0"], w.m.Packages[pkg]
	if rel.Effective(p) != StatusTombstoned || rel.EffectiveReason(p) != "legal-hold" {
		t.Fatalf("effective %s/%s", rel.Effective(p), rel.EffectiveReason(p))
	}
	// Owners cannot change a tombstoned package.
	if rf, ok := AsRefusal(w.do(record.TypeYank, "owner", "1.0.0")); !ok || rf.Code != CodeInvalidTransition {
		t.Fatal("owner changed a tombstoned package")
	}
	// A tombstone needs a tombstone reason class.
	w.refused(CodeMalformed, &record.Record{Type: record.TypeTombstone, Package: pkg, Version: "1.0.0", Prev: w.opHead(), Reason: "whim"}, w.op)
	w.must(&record.Record{Type: record.TypeLift, Package: pkg, Prev: w.opHead()}, w.op)
	if w.m.Packages[pkg].Status != StatusActive {
		t.Fatal("lift did not restore the package")
	}
	w.must(&record.Record{Type: record.TypeBanish, Package: pkg, Prev: w.opHead(), Reason: "legal"}, w.op)
	if w.m.Releases[pkg+"@1.0.0"].Effective(w.m.Packages[pkg]) != StatusBanished {
		t.Fatal("release of a banished package is not banished")
	}
	// Nothing leaves banished, not even for the operator.
	w.refused(CodeInvalidTransition, &record.Record{Type: record.TypeLift, Package: pkg, Prev: w.opHead()}, w.op)
	w.refused(CodeInvalidTransition, &record.Record{Type: record.TypeTransfer, Package: pkg, Prev: w.opHead(), Owners: []string{w.stranger.ID()}}, w.op)
}

func TestTransferAfterKeyLoss(t *testing.T) {
	w := newWorld(t)
	w.must(&record.Record{Type: record.TypeTransfer, Package: pkg, Prev: w.opHead(), Owners: []string{w.stranger.ID()}, Reason: "key-loss"}, w.op)
	p := w.m.Packages[pkg]
	if !p.IsOwner(w.stranger.ID()) || p.IsOwner(w.owner.ID()) || len(p.Grants) != 0 {
		t.Fatalf("transfer: %+v", p)
	}
	w.publishAs("1.0.0", w.stranger)
	w.refused(CodeNotAuthorized, &record.Record{Type: record.TypeYank, Package: pkg, Prev: w.head(pkg), Version: "1.0.0", Reason: "mistake"}, w.owner)
}

func (w *world) publishAs(v string, k *keys.PrivateKey) {
	w.must(&record.Record{Type: record.TypeRelease, Package: pkg, Prev: w.head(pkg), Version: v, Digest: digest, Size: size(5),
		MediaType: "application/octet-stream", Channel: "published"}, k)
}
