package state

import (
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// movingLog is a registry's state machine with its log: the leaves it
// accepted, in a Merkle tree, and a key to sign checkpoints of it, so that
// another registry can import its entries.
type movingLog struct {
	*harness
	self   *Location
	skey   string
	leaves [][]byte
	hashes []tlog.Hash
}

func newMovingLog(t *testing.T, origin string) *movingLog {
	skey, vkey, err := translog.GenerateLogKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	return &movingLog{harness: newHarness(t), self: &Location{Origin: origin, Key: vkey}, skey: skey}
}

func (l *movingLog) apply(e *record.Entry) error {
	c, err := Apply(l.m, e, Env{Index: l.index, Time: l.now, Self: l.self})
	if err != nil {
		return err
	}
	leaf, err := e.Leaf(l.now)
	if err != nil {
		l.t.Fatal(err)
	}
	l.m.Commit(c, l.index)
	l.index++
	l.leaves = append(l.leaves, leaf)
	hs, err := tlog.StoredHashes(int64(len(l.leaves)-1), leaf, l.reader())
	if err != nil {
		l.t.Fatal(err)
	}
	l.hashes = append(l.hashes, hs...)
	return nil
}

func (l *movingLog) reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = l.hashes[x]
		}
		return out, nil
	})
}

func (l *movingLog) write(r *record.Record, signers ...*keys.PrivateKey) error {
	return l.apply(l.entry(r, signers...))
}

func (l *movingLog) mustWrite(r *record.Record, signers ...*keys.PrivateKey) {
	l.t.Helper()
	if err := l.write(r, signers...); err != nil {
		l.t.Fatalf("%s: %v", r.Type, err)
	}
}

// ref returns the import of entry i, proven in a checkpoint of the whole
// log.
func (l *movingLog) ref(i int) *record.ImportRef {
	l.t.Helper()
	n := int64(len(l.leaves))
	root, err := tlog.TreeHash(n, l.reader())
	if err != nil {
		l.t.Fatal(err)
	}
	s, err := translog.NewSigner(l.skey)
	if err != nil {
		l.t.Fatal(err)
	}
	cp, err := translog.Sign(s, uint64(n), root)
	if err != nil {
		l.t.Fatal(err)
	}
	proof, err := tlog.ProveRecord(n, int64(i), l.reader())
	if err != nil {
		l.t.Fatal(err)
	}
	ref := &record.ImportRef{Origin: l.self.Origin, VKey: l.self.Key, Checkpoint: cp, Index: uint64(i), Leaf: l.leaves[i]}
	for _, h := range proof {
		ref.Proof = append(ref.Proof, h[:])
	}
	return ref
}

// importFrom applies entry i of src here as an import.
func (l *movingLog) importFrom(src *movingLog, i int) error {
	l.t.Helper()
	e, err := record.NewImportEntry(src.ref(i), nil)
	if err != nil {
		return err
	}
	return l.apply(e)
}

func wantCode(t *testing.T, err error, code Code, what string) {
	t.Helper()
	rf, ok := AsRefusal(err)
	if !ok || rf.Code != code {
		t.Fatalf("%s: got %v, want refusal %s", what, err, code)
	}
}

// TestMoveRules walks a package from registry A to B and back through the
// state machines of both, and checks every refusal on the way.
func TestMoveRules(t *testing.T) {
	a, b := newMovingLog(t, "a.example/vouch"), newMovingLog(t, "b.example/vouch")
	owner, delegate, op := a.key(keys.Ed25519), a.key(keys.Ed25519), a.key(keys.Ed25519)
	a.mustWrite(&record.Record{Type: record.TypeGenesis, PublicKeys: []string{op.Public().Base64()}}, op)
	for _, k := range []*keys.PrivateKey{owner, delegate} {
		a.mustWrite(&record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k)
	}
	a.mustWrite(&record.Record{Type: record.TypeCreate, Package: pkg, Owners: []string{owner.ID()}}, owner)
	a.mustWrite(&record.Record{Type: record.TypeGrant, Package: pkg, Prev: a.head(pkg), KeyID: delegate.ID(), Permissions: record.AllPermissions}, owner)
	a.mustWrite(&record.Record{Type: record.TypeRelease, Package: pkg, Prev: a.head(pkg), Version: "1.0.0", Digest: digest, Size: size(5),
		MediaType: "application/octet-stream", Channel: record.ChannelPublished}, delegate)
	moveTo := func(l *movingLog, to *Location) *record.Record {
		return &record.Record{Type: record.TypeMove, Package: pkg, Prev: l.head(pkg), To: to.Origin, ToKey: to.Key, ToURL: "https://" + to.Origin}
	}

	// Who may move, and where to.
	wantCode(t, a.write(moveTo(a, b.self), delegate), CodeNotAuthorized, "a move by a delegate")
	wantCode(t, a.write(moveTo(a, a.self), owner), CodeMalformed, "a move to this registry")

	// An import into a registry where the package is active is refused;
	// so is an import from a registry's own log.
	wantCode(t, a.importFrom(a, 3), CodeMalformed, "an import from this registry's own log")

	// B imports the history before the move; the package is importing
	// there and takes no owner writes yet.
	for i := 1; i < len(a.leaves); i++ {
		if err := b.importFrom(a, i); err != nil {
			t.Fatalf("import of entry %d: %v", i, err)
		}
	}
	if p := b.m.Packages[pkg]; p == nil || p.Status != StatusImporting || p.Location.Origin != a.self.Origin {
		t.Fatalf("at B before the move: %+v", p)
	}
	wantCode(t, b.write(&record.Record{Type: record.TypeYank, Package: pkg, Prev: b.head(pkg), Version: "1.0.0", Reason: "x"}, owner),
		CodeMoved, "an owner write while importing")
	// Operator records are not imported.
	wantCode(t, b.importFrom(a, 0), CodeMalformed, "an import of an operator record")

	// The move, then its import: the package is B's.
	a.mustWrite(moveTo(a, b.self), owner)
	moveIdx := len(a.leaves) - 1
	wantCode(t, a.write(&record.Record{Type: record.TypeYank, Package: pkg, Prev: a.head(pkg), Version: "1.0.0", Reason: "x"}, delegate),
		CodeMoved, "a delegate write after the move")
	wantCode(t, a.write(&record.Record{Type: record.TypeYank, Actor: record.ActorOperator, Package: pkg, Prev: a.opHead(), Version: "1.0.0", Reason: "x"}, op),
		CodeMoved, "an operator write after the move")
	if err := b.importFrom(a, moveIdx); err != nil {
		t.Fatal(err)
	}
	if p := b.m.Packages[pkg]; p.Status != StatusActive || p.Location != nil {
		t.Fatalf("at B after the move: %+v", p)
	}
	// The same entry again is a stale prev: the chain moved on.
	if err := b.importFrom(a, moveIdx); err == nil {
		t.Fatal("importing the move twice was accepted")
	}
	b.mustWrite(&record.Record{Type: record.TypeRelease, Package: pkg, Prev: b.head(pkg), Version: "2.0.0", Digest: digest, Size: size(5),
		MediaType: "application/octet-stream", Channel: record.ChannelPublished}, owner)
	// An import into the active package is refused.
	wantCode(t, b.importFrom(a, moveIdx), CodeConflict, "an import into an active package")

	// An import of an import is refused: import from the log that holds it.
	_, err := record.NewImportEntry(b.ref(1), nil)
	if err == nil || !strings.Contains(err.Error(), "itself an import") {
		t.Fatalf("an import of an import: %v", err)
	}

	// And back: A takes B's own entries after its move record.
	b.mustWrite(moveTo(b, a.self), owner)
	for i := len(b.leaves) - 2; i < len(b.leaves); i++ {
		if err := a.importFrom(b, i); err != nil {
			t.Fatalf("import of B's entry %d: %v", i, err)
		}
	}
	if p := a.m.Packages[pkg]; p.Status != StatusActive || a.m.Releases[pkg+"@2.0.0"] == nil {
		t.Fatalf("at A after the move back: %+v", p)
	}
	a.mustWrite(&record.Record{Type: record.TypeYank, Package: pkg, Prev: a.head(pkg), Version: "2.0.0", Reason: "x"}, delegate)
}

// TestOperatorActedPackageCannotMove: the destination could not check an
// operator record's authority, so a package one acted on stays.
func TestOperatorActedPackageCannotMove(t *testing.T) {
	w := newWorld(t)
	a, b := newMovingLog(t, "a.example/vouch"), newMovingLog(t, "b.example/vouch")
	w.self = a.self
	to := &record.Record{Type: record.TypeMove, Package: pkg, To: b.self.Origin, ToKey: b.self.Key, ToURL: "https://b.example"}
	if err := w.do(record.TypeTombstone, "operator", ""); err != nil {
		t.Fatal(err)
	}
	if err := w.do(record.TypeLift, "operator", ""); err != nil {
		t.Fatal(err)
	}
	to.Prev = w.head(pkg)
	w.refused(CodeConflict, to, w.owner)
}
