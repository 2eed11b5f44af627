package vindex

import (
	"context"
	"fmt"
	"slices"

	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// Batch collects what a run of log entries changes in the index: the
// packages whose state changed, and the log indexes to append to each
// list. The registry, its mirrors and the auditor derive it the same way,
// from the entries and the state machine's changes.
type Batch struct {
	packages map[string]bool
	lists    map[[32]byte][]uint64
}

// NewBatch returns an empty batch.
func NewBatch() *Batch {
	return &Batch{packages: map[string]bool{}, lists: map[[32]byte][]uint64{}}
}

// Add notes entry e, logged at index, which the state machine accepted
// with changes c: it joins the list of every key that signed it and, for
// an attestation, of every content digest its statement names (and the
// sha256 digest of release content it names by another digest); the
// packages c changes are valued again. An import counts as the entry it
// imports.
func (b *Batch) Add(index uint64, e *record.Entry, c *state.Changes) {
	var resolved []string
	if c != nil {
		resolved = c.Resolved
	}
	for _, l := range lists(e, resolved) {
		b.lists[l] = append(b.lists[l], index)
	}
	if c != nil {
		if c.Package != nil {
			b.packages[c.Package.Name] = true
		}
		for _, r := range c.Releases {
			b.packages[r.Package] = true
		}
	}
}

// lists returns the labels of the lists entry e joins, each once: those of
// the keys that signed it and, for an attestation, of the content digests
// its statement names, and resolved (the sha256 digests of release content
// it names by another digest).
func lists(e *record.Entry, resolved []string) [][32]byte {
	e = e.Unwrap()
	var out [][32]byte
	seen := map[[32]byte]bool{}
	add := func(l [32]byte) {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	for _, k := range e.KeyIDs() {
		add(Label(KindSigner, k))
	}
	if a := e.Attestation; a != nil {
		for _, d := range a.Subjects {
			add(Label(KindSubject, d))
		}
		for _, d := range resolved {
			add(Label(KindSubject, d))
		}
	}
	return out
}

// Names returns the labels of the keys that entries will most likely
// change, judged from the entries alone, before the state machine has
// decided them: the lists they join and their records' packages. A
// batch's Add may change others too (the sha256 digest an attestation's
// other digest resolves to, the packages a move changes) and not all of
// these (a refused entry changes none).
func Names(entries []*record.Entry) [][32]byte {
	seen := map[[32]byte]bool{}
	var out [][32]byte
	add := func(l [32]byte) {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	for _, e := range entries {
		for _, l := range lists(e, nil) {
			add(l)
		}
		if r := e.Unwrap().Record; r != nil && r.Package != "" {
			add(Label(KindPackage, r.Package))
		}
	}
	return out
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool { return len(b.packages) == 0 && len(b.lists) == 0 }

// Packages lists the packages whose values change, in name order.
func (b *Batch) Packages() []string {
	out := make([]string, 0, len(b.packages))
	for n := range b.packages {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// StateView is the state the package values are made of, as it stands
// after the batch's entries.
type StateView interface {
	Package(name string) (*state.Package, error)
	Release(name, version string) (*state.Release, error)
}

// Apply sets the batch's new values in u: each list extended from its
// current value, each package valued from st.
func (b *Batch) Apply(ctx context.Context, u *Update, st StateView) error {
	labels := make([][32]byte, 0, len(b.lists))
	for l := range b.lists {
		labels = append(labels, l)
	}
	u.reserve(len(b.lists) + len(b.packages))
	cur, err := u.Values(ctx, labels)
	if err != nil {
		return err
	}
	for _, l := range labels {
		h, ok := cur[l]
		if !ok {
			h = ListStart
		}
		for _, i := range b.lists[l] {
			h = ListNext(h, i)
		}
		u.Set(l, h)
	}
	for _, name := range b.Packages() {
		p, err := st.Package(name)
		if err != nil {
			return err
		}
		if p == nil {
			return fmt.Errorf("vindex: package %s changed but does not exist", name)
		}
		rels := make([]*state.Release, len(p.Versions))
		for i, v := range p.Versions {
			if rels[i], err = st.Release(name, v); err != nil {
				return err
			}
		}
		sv, _ := st.(StoredView)
		val, err := packageValue(p, rels, sv)
		if err != nil {
			return err
		}
		u.Set(Label(KindPackage, name), ValueHash(val))
	}
	return nil
}

// MemoryNodes is an index's newest node versions held in memory, by
// label, for an auditor that rebuilds the index as it replays a log and
// needs only its newest version.
type MemoryNodes struct {
	m map[string][]byte // label (labelKey bytes) → version (8 bytes) and node
}

// NewMemoryNodes returns an empty index.
func NewMemoryNodes() *MemoryNodes { return &MemoryNodes{m: map[string][]byte{}} }

// Nodes implements Nodes: each key's label, if its newest version is the
// one asked for.
func (n *MemoryNodes) Nodes(_ context.Context, keys [][]byte) (map[string][]byte, error) {
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		if len(k) != 42 {
			continue
		}
		if v, ok := n.m[string(k[8:])]; ok && string(v[:8]) == string(k[:8]) {
			out[string(k)] = v[8:]
		}
	}
	return out, nil
}

func (n *MemoryNodes) rowPerNode() {}

// Put stores an update's nodes.
func (n *MemoryNodes) Put(rows []NodeRow) {
	for _, r := range rows {
		n.m[string(r.Key[8:])] = append(append(make([]byte, 0, 8+len(r.Node)), r.Key[:8]...), r.Node...)
	}
}

// Export returns the nodes, to save (see Import).
func (n *MemoryNodes) Export() map[string][]byte { return n.m }

// Import replaces the nodes with saved ones.
func (n *MemoryNodes) Import(m map[string][]byte) {
	if m == nil {
		m = map[string][]byte{}
	}
	n.m = m
}

// Upgrade rewrites the inner nodes saved before inner nodes held their
// children's hashes (see Import), taking each child's hash from the
// child's own node. Stores upgrade their tables the same way, in a schema
// migration.
func (n *MemoryNodes) Upgrade() error {
	for l, v := range n.m {
		if len(v) != 8+innerSizeV1 {
			continue // a leaf, the empty node, or upgraded already
		}
		node := v[8:]
		out := slices.Clip(v)
		for _, ref := range [][]byte{node[32:74], node[74:116]} {
			c, ok := n.m[string(ref[:34])]
			if !ok || len(c) < 8+32 || string(c[:8]) != string(ref[34:]) {
				return fmt.Errorf("vindex: the saved tree lacks the child %x of node %x", ref, l)
			}
			out = append(out, c[8:8+32]...)
		}
		n.m[l] = out
	}
	return nil
}
