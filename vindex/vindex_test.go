package vindex

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"filippo.io/torchwood/prefix"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// versioned is a node store with versions, keyed as the database keys
// them.
type versioned struct {
	rows  map[string][]byte
	reads int // calls to Nodes
	keys  int // node versions asked for
}

func newVersioned() *versioned { return &versioned{rows: map[string][]byte{}} }

func (v *versioned) put(rows []NodeRow) {
	for _, r := range rows {
		v.rows[string(r.Key)] = r.Node
	}
}

func (v *versioned) Nodes(_ context.Context, keys [][]byte) (map[string][]byte, error) {
	v.reads++
	v.keys += len(keys)
	out := map[string][]byte{}
	for _, k := range keys {
		if b, ok := v.rows[string(k)]; ok {
			out[string(k)] = b
		}
	}
	return out, nil
}

// rowsOnly is a store an update writes a row per node to, as it did
// before tiles: a database written by an earlier version.
type rowsOnly struct{ *versioned }

func (rowsOnly) rowPerNode() {}

// reference builds the same map from scratch with the prefix package's
// own memory storage.
func reference(t *testing.T, values map[[32]byte][32]byte) [32]byte {
	ctx := context.Background()
	st := prefix.NewMemoryStorage()
	if err := prefix.InitStorage(ctx, Hash, st); err != nil {
		t.Fatal(err)
	}
	tr := prefix.NewTree(Hash, st)
	for l, v := range values {
		if err := tr.Insert(ctx, l, v); err != nil {
			t.Fatal(err)
		}
	}
	r, err := tr.RootHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestUpdatesAndProofs applies batches of inserts and updates as
// versions, through a cache, and checks each version's root against a
// tree built from scratch, and membership and non-membership proofs
// against every version's root: with the nodes stored in tiles, a row
// per node, and a row per node for the first half of the versions and
// tiles after, as in a database written before tiles.
func TestUpdatesAndProofs(t *testing.T) {
	for _, tiledFrom := range []uint64{1, 16, 100} {
		t.Run(fmt.Sprintf("tiles from version %d", tiledFrom), func(t *testing.T) { testUpdatesAndProofs(t, tiledFrom) })
	}
}

func testUpdatesAndProofs(t *testing.T, tiledFrom uint64) {
	ctx := context.Background()
	st := newVersioned()
	cache := NewCache(64) // small: most reads go to the store
	rng := rand.New(rand.NewPCG(1, 2))
	values := map[[32]byte][32]byte{}
	var keys [][32]byte
	type snapshot struct {
		root   [32]byte
		values map[[32]byte][32]byte
	}
	snaps := map[uint64]snapshot{0: {EmptyRoot, map[[32]byte][32]byte{}}}
	for version := uint64(1); version <= 30; version++ {
		var w Nodes = st
		if version < tiledFrom {
			w = rowsOnly{st}
		}
		u := NewUpdate(w, cache, version-1, version == 1)
		n := 1 + rng.IntN(40)
		for range n {
			var l [32]byte
			if len(keys) > 0 && rng.IntN(3) == 0 {
				l = keys[rng.IntN(len(keys))] // an update
			} else {
				l = Label(KindSubject, fmt.Sprintf("sha256:%d-%d", version, rng.Uint64()))
				keys = append(keys, l)
			}
			cur, err := u.Values(ctx, [][32]byte{l})
			if err != nil {
				t.Fatal(err)
			}
			prev, ok := cur[l]
			if want, had := values[l]; ok != had || prev != want {
				t.Fatalf("version %d: the current value of %x is %x (%v), want %x (%v)", version, l, prev, ok, want, had)
			}
			if !ok {
				prev = ListStart
			}
			v := ListNext(prev, version)
			u.Set(l, v)
			values[l] = v
		}
		root, rows, err := u.Apply(ctx, version)
		if err != nil {
			t.Fatal(err)
		}
		st.put(rows)
		u.Commit()
		if want := reference(t, values); root != want {
			t.Fatalf("version %d: root %x, a tree built from scratch has %x", version, root, want)
		}
		snap := map[[32]byte][32]byte{}
		for k, v := range values {
			snap[k] = v
		}
		snaps[version] = snapshot{root, snap}
	}
	absent := Label(KindSigner, "sha256:nobody")
	for version, s := range snaps {
		for _, l := range append(keys[:min(len(keys), 20)], absent) {
			p, err := Prove(ctx, st, version, l)
			if err != nil {
				t.Fatalf("version %d: %v", version, err)
			}
			want, present := s.values[l]
			if p.Present != present || present && p.Value != want {
				t.Fatalf("version %d: proof says present=%v value %x; want %v %x", version, p.Present, p.Value, present, want)
			}
			if err := p.Verify(s.root, l); err != nil {
				t.Fatalf("version %d, key %x: %v", version, l, err)
			}
			// A proof checked against another root, or with the value
			// changed, fails.
			if version > 0 {
				bad := *p
				bad.Present = !p.Present
				if bad.Verify(s.root, l) == nil {
					t.Fatalf("version %d: a proof with presence flipped verifies", version)
				}
				if present {
					bad = *p
					bad.Value[0] ^= 1
					if bad.Verify(s.root, l) == nil {
						t.Fatalf("version %d: a proof of another value verifies", version)
					}
				}
			}
		}
	}
}

func TestListHash(t *testing.T) {
	h := ListStart
	for _, i := range []uint64{3, 9, 12} {
		h = ListNext(h, i)
	}
	if h != ListHash([]uint64{3, 9, 12}) || h == ListHash([]uint64{3, 9}) || h == ListHash([]uint64{3, 12, 9}) {
		t.Fatal("ListHash is not the chain of ListNext over the list, in order")
	}
}

func TestLabelString(t *testing.T) {
	l := leafLabel(Label(KindPackage, "acme/widget"))
	for _, x := range []prefix.Label{l, prefix.RootLabel, prefix.EmptyNodeLabel, prefix.LongestCommonPrefix(l, leafLabel(Label(KindPackage, "x")))} {
		got, err := ParseLabel(LabelString(x))
		if err != nil || got != x {
			t.Fatalf("%s: %v %v", LabelString(x), got, err)
		}
	}
	for _, bad := range []string{"", "3", "300:00", "8:0000", "4:ff", "x:00"} {
		if _, err := ParseLabel(bad); err == nil {
			t.Errorf("ParseLabel(%q) accepted", bad)
		}
	}
}

// TestCacheKeepsWhatIsUsed checks the cache's two generations: a node
// used since the last turnover survives the next one, one left unused
// for two is dropped, and the cache never holds more than its size.
func TestCacheKeepsWhatIsUsed(t *testing.T) {
	label := func(i byte) prefix.Label {
		l, err := prefix.NewLabel(8, []byte{i})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	c := NewCache(4)
	for i := range byte(3) {
		c.add(label(i), &stored{version: uint64(i)})
	}
	// 0 and 1 were turned over when 2 came; using 0 brings it back.
	if s, ok := c.get(label(0)); !ok || s.version != 0 {
		t.Fatalf("node 0 was dropped after one turnover: %v %v", s, ok)
	}
	c.add(label(3), &stored{version: 3}) // turns over again: 2 and 0 stay
	if _, ok := c.get(label(1)); ok {
		t.Error("node 1, unused for two turnovers, is still cached")
	}
	for _, i := range []byte{0, 2, 3} {
		if _, ok := c.get(label(i)); !ok {
			t.Errorf("node %d was dropped", i)
		}
	}
	// A newer version replaces an older one in either generation.
	c.add(label(2), &stored{version: 20})
	if s, _ := c.get(label(2)); s.version != 20 {
		t.Errorf("got version %d of node 2, want 20", s.version)
	}
	for i := range byte(200) {
		c.add(label(i), &stored{})
		if n := len(c.cur) + len(c.old); n > 4 {
			t.Fatalf("the cache holds %d nodes, more than 4", n)
		}
	}
	c.Purge()
	if _, ok := c.get(label(199)); ok {
		t.Error("Purge left a node")
	}
}

// TestWarm reads a stored tree's upper levels into caches of two sizes:
// one that takes the whole tree, after which an update reads nothing from
// the store, and one that takes only its top, level by level.
func TestWarm(t *testing.T) {
	ctx := context.Background()
	st := newVersioned()
	values := map[[32]byte][32]byte{}
	var keys [][32]byte
	for version := uint64(1); version <= 10; version++ {
		u := NewUpdate(st, nil, version-1, version == 1)
		for i := range 50 {
			l := Label(KindSigner, fmt.Sprintf("%d-%d", version, i))
			keys = append(keys, l)
			values[l] = ListNext(ListStart, version)
			u.Set(l, values[l])
		}
		_, rows, err := u.Apply(ctx, version)
		if err != nil {
			t.Fatal(err)
		}
		st.put(rows)
	}
	// 500 leaves and 499 inner nodes.
	const nodes = 999

	whole := NewCache(4 * nodes)
	n, err := whole.Warm(ctx, st, 10)
	if err != nil || n != nodes {
		t.Fatalf("Warm added %d nodes (%v), want %d", n, err, nodes)
	}
	st.reads = 0
	u := NewUpdate(st, whole, 10, false)
	for _, l := range keys[:100] {
		values[l] = ListNext(values[l], 11)
		u.Set(l, values[l])
	}
	root, rows, err := u.Apply(ctx, 11)
	if err != nil {
		t.Fatal(err)
	}
	if st.reads != 0 {
		t.Errorf("an update after Warm read the store %d times", st.reads)
	}
	if want := reference(t, values); root != want {
		t.Fatalf("root after Warm %x, want %x", root, want)
	}
	st.put(rows)
	u.Commit()

	// Warming from the older version keeps the newer nodes cached.
	if n, err := whole.Warm(ctx, st, 10); err != nil || n != 0 {
		t.Errorf("Warm from an older version added %d nodes (%v): it replaced newer ones", n, err)
	}
	if s, ok := whole.get(prefix.RootLabel); !ok || s.version != 11 {
		t.Errorf("the cached root is %+v, want version 11", s)
	}

	top := NewCache(64)
	if n, err := top.Warm(ctx, st, 11); err != nil || n != 32 {
		t.Fatalf("Warm added %d nodes (%v) to a cache of 64, want 32", n, err)
	}
	for l := range top.cur {
		if l.BitLen() > 8 {
			t.Errorf("a node %d levels deep was cached before the levels above it", l.BitLen())
		}
	}
	if _, err := top.Warm(ctx, st, 12); err == nil {
		t.Error("Warm from a version that is not stored did not fail")
	}
}

// TestPrefetch reads the paths to the keys a batch's entries name before
// the batch is decided: what the batch then sets is read already, and
// the update's root is the one a fresh update gives.
func TestPrefetch(t *testing.T) {
	ctx := context.Background()
	st := newVersioned()
	u := NewUpdate(st, nil, 0, true)
	for i := range 300 {
		u.Set(Label(KindSubject, fmt.Sprintf("sha256:%d", i)), ListNext(ListStart, 0))
	}
	u.Set(Label(KindSigner, "k1"), ListNext(ListStart, 0))
	u.Set(Label(KindPackage, "acme/widget"), Hash([]byte("widget")))
	_, rows, err := u.Apply(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	st.put(rows)

	release := &record.Entry{
		Envelope: &dsse.Envelope{Signatures: []dsse.Signature{{KeyID: "k1"}}},
		Record:   &record.Record{Type: "release", Package: "acme/widget", Version: "1.0.0"},
	}
	attestation := &record.Entry{Attestation: &record.AttestationRef{
		Subjects:   []string{"sha256:7", "sha256:new"},
		Signatures: []record.AttestSigRef{{Signer: "k1"}, {Signer: "k2"}},
	}}
	entries := []*record.Entry{release, attestation}
	names := Names(entries)
	want := [][32]byte{Label(KindSigner, "k1"), Label(KindPackage, "acme/widget"), Label(KindSigner, "k2"),
		Label(KindSubject, "sha256:7"), Label(KindSubject, "sha256:new")}
	if len(names) != len(want) {
		t.Fatalf("Names gave %d labels, want %d", len(names), len(want))
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("Names left out %x", w)
		}
	}

	b := NewBatch()
	for i, e := range entries {
		b.Add(uint64(1+i), e, &state.Changes{Package: &state.Package{Name: "acme/widget"}})
	}
	pre := NewUpdate(st, nil, 1, false)
	if err := pre.Prefetch(ctx, names); err != nil {
		t.Fatal(err)
	}
	st.reads = 0
	view := packageView{"acme/widget": {Name: "acme/widget"}}
	if err := b.Apply(ctx, pre, view); err != nil {
		t.Fatal(err)
	}
	got, _, err := pre.Apply(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if st.reads != 0 {
		t.Errorf("the update read the store %d times after Prefetch", st.reads)
	}
	fresh := NewUpdate(st, nil, 1, false)
	if err := b.Apply(ctx, fresh, view); err != nil {
		t.Fatal(err)
	}
	if want, _, err := fresh.Apply(ctx, 3); err != nil || got != want {
		t.Errorf("root after Prefetch %x, without %x (%v)", got, want, err)
	}
}

// packageView is a StateView of packages without releases.
type packageView map[string]*state.Package

func (v packageView) Package(name string) (*state.Package, error) { return v[name], nil }
func (v packageView) Release(string, string) (*state.Release, error) {
	return nil, nil
}

// TestUpgrade checks that MemoryNodes.Upgrade gives every inner node saved
// in the older format the bytes the current format writes, and refuses a
// tree that lacks a child.
func TestUpgrade(t *testing.T) {
	ctx := context.Background()
	nodes := NewMemoryNodes()
	for version := uint64(1); version <= 5; version++ {
		u := NewUpdate(nodes, nil, version-1, version == 1)
		for i := range 20 {
			u.Set(Label(KindSubject, fmt.Sprint(version, i%(int(version)*4))), ListNext(ListStart, version))
		}
		_, rows, err := u.Apply(ctx, version)
		if err != nil {
			t.Fatal(err)
		}
		nodes.Put(rows)
	}
	want := nodes.Export()
	// old returns the nodes as saved before: each inner node without its
	// children's hashes.
	old := func() map[string][]byte {
		m := map[string][]byte{}
		for l, v := range want {
			if len(v) == 8+innerSize {
				v = v[:8+innerSizeV1]
			}
			m[l] = slices.Clone(v)
		}
		return m
	}
	saved := old()
	inner := 0
	for l, v := range saved {
		if len(v) != len(want[l]) {
			inner++
		}
	}
	if inner < 20 {
		t.Fatalf("only %d inner nodes to upgrade", inner)
	}
	up := NewMemoryNodes()
	up.Import(saved)
	for range 2 { // upgraded nodes are left alone
		if err := up.Upgrade(); err != nil {
			t.Fatal(err)
		}
		for l, v := range want {
			if got := up.Export()[l]; !bytes.Equal(got, v) {
				t.Fatalf("node %x upgraded to %x, want %x", l, got, v)
			}
		}
	}
	// A tree without one of its leaves cannot be upgraded.
	broken := old()
	for l, v := range broken {
		if len(v) == 8+leafSize {
			delete(broken, l)
			break
		}
	}
	up.Import(broken)
	if err := up.Upgrade(); err == nil || !strings.Contains(err.Error(), "lacks the child") {
		t.Fatalf("Upgrade of a tree without a leaf: %v", err)
	}
}

// TestReadsOnlyThePath checks that a proof and an update of one key read
// the nodes on the key's way from the root and none of their siblings:
// with a row per node, one node per sibling in the proof, and the leaf
// (of a present key); with tiles, one tile per stratum the way passes
// through. A root is asked for both ways.
func TestReadsOnlyThePath(t *testing.T) {
	t.Run("tiles", func(t *testing.T) { testReadsOnlyThePath(t, true) })
	t.Run("rows", func(t *testing.T) { testReadsOnlyThePath(t, false) })
}

// way returns the labels of the nodes on the way to target in the
// version, as written in one version (with a row per node or in tiles).
func way(t *testing.T, st Nodes, version uint64, target [32]byte) []prefix.Label {
	rd := newReader(st)
	tl := leafLabel(target)
	r := ref{prefix.RootLabel, version, either}
	var out []prefix.Label
	for {
		got, err := rd.nodes(context.Background(), []ref{r})
		if err != nil || len(got) != 1 {
			t.Fatalf("walking to %x: %v (%d nodes)", target, err, len(got))
		}
		n := got[0]
		out = append(out, n.node.Label)
		if n.node.Label.IsLeaf() {
			return out
		}
		next, nc, _, _ := sides(n, tl)
		if !tl.HasPrefix(next) {
			return out
		}
		r = ref{next, nc.version, layoutOf(nc)}
	}
}

func testReadsOnlyThePath(t *testing.T, tiles bool) {
	ctx := context.Background()
	st := newVersioned()
	var w Nodes = st
	if !tiles {
		w = rowsOnly{st}
	}
	reads := func(l [32]byte) int {
		if !tiles {
			return len(way(t, st, 1, l)) + 1 // and the root's tile, asked for
		}
		strata := map[int]bool{}
		for _, l := range way(t, st, 1, l) {
			strata[stratum(l)] = true
		}
		return len(strata) + 1 // and the root's row, asked for
	}
	u := NewUpdate(w, nil, 0, true)
	for i := range 2000 {
		u.Set(Label(KindSubject, fmt.Sprint(i)), ListNext(ListStart, 1))
	}
	_, rows, err := u.Apply(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	st.put(rows)
	for i, l := range [][32]byte{Label(KindSubject, "7"), Label(KindSubject, "1234"), Label(KindSubject, "absent")} {
		want := reads(l)
		st.keys = 0
		p, err := Prove(ctx, st, 1, l)
		if err != nil {
			t.Fatal(err)
		}
		if p.Present != (i < 2) || st.keys != want {
			t.Errorf("proof of key %d (present %v, %d nodes) read %d nodes, want %d", i, p.Present, len(p.Nodes), st.keys, want)
		}
		if !p.Present {
			continue
		}
		st.keys = 0
		u := NewUpdate(w, nil, 1, false)
		if _, err := u.Values(ctx, [][32]byte{l}); err != nil {
			t.Fatal(err)
		}
		u.Set(l, ListNext(ListStart, 2))
		if _, _, err := u.Apply(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if st.keys != want {
			t.Errorf("an update of key %d read %d nodes, want %d", i, st.keys, want)
		}
	}
}

// TestUpdateSettingNoKey checks that an update that sets no key writes the
// newest root again as the new version, whose proofs verify, in tiles and
// in rows.
func TestUpdateSettingNoKey(t *testing.T) {
	for _, tiles := range []bool{true, false} {
		ctx := context.Background()
		st := newVersioned()
		var w Nodes = st
		if !tiles {
			w = rowsOnly{st}
		}
		u := NewUpdate(w, nil, 0, true)
		for i := range 100 {
			u.Set(Label(KindSubject, fmt.Sprint(i)), ListNext(ListStart, 1))
		}
		root1, rows, err := u.Apply(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		st.put(rows)
		root2, rows, err := NewUpdate(w, nil, 1, false).Apply(ctx, 2)
		if err != nil {
			t.Fatalf("tiles %v: %v", tiles, err)
		}
		if root2 != root1 || len(rows) != 1 {
			t.Fatalf("tiles %v: root %x in %d rows, want %x in 1", tiles, root2, len(rows), root1)
		}
		st.put(rows)
		l := Label(KindSubject, "42")
		p, err := Prove(ctx, st, 2, l)
		if err != nil || !p.Present || p.Verify(root2, l) != nil {
			t.Fatalf("tiles %v: a proof at the new version: %+v, %v", tiles, p, err)
		}
	}
}
