package vindex

import (
	"context"
	"fmt"
	"slices"

	"filippo.io/torchwood/prefix"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Cache holds the newest version of recently used nodes, for the one
// process that writes a store: the upper levels of the tree are on every
// update's path. Safe for concurrent use.
type Cache struct {
	c *lru.Cache[prefix.Label, *stored]
}

// NewCache returns a cache of at most n nodes.
func NewCache(n int) *Cache {
	c, _ := lru.New[prefix.Label, *stored](max(n, 1))
	return &Cache{c: c}
}

// Update is one batch of changes to the map, applied on top of the nodes
// a reader sees (the newest ones) and written as the next version.
type Update struct {
	r     Nodes
	cache *Cache
	nodes map[prefix.Label]*stored // read or written by this update
	dirty map[prefix.Label]*stored // written by this update
	sets  map[[32]byte][32]byte
	empty bool // the store holds no tree yet
}

// NewUpdate starts an update over the nodes r reads, through cache (which
// may be nil).
func NewUpdate(r Nodes, cache *Cache) *Update {
	return &Update{r: r, cache: cache, nodes: map[prefix.Label]*stored{}, dirty: map[prefix.Label]*stored{},
		sets: map[[32]byte][32]byte{}}
}

// Set sets the value of a key, by label.
func (u *Update) Set(label, value [32]byte) { u.sets[label] = value }

// Len returns the number of keys set.
func (u *Update) Len() int { return len(u.sets) }

// Values returns the current values of keys: set in this update, or as
// stored; absent keys are absent from the map.
func (u *Update) Values(ctx context.Context, labels [][32]byte) (map[[32]byte][32]byte, error) {
	out := map[[32]byte][32]byte{}
	var want []prefix.Label
	for _, l := range labels {
		if v, ok := u.sets[l]; ok {
			out[l] = v
			continue
		}
		want = append(want, leafLabel(l))
	}
	if err := u.fetch(ctx, want); err != nil {
		return nil, err
	}
	for _, l := range want {
		if s := u.nodes[l]; s != nil {
			out[[32]byte(l.Bytes())] = s.value
		}
	}
	return out, nil
}

func leafLabel(l [32]byte) prefix.Label {
	pl, _ := prefix.NewLabel(256, l[:])
	return pl
}

// fetch loads the given nodes into the update, from the cache or in one
// read.
func (u *Update) fetch(ctx context.Context, labels []prefix.Label) error {
	var keys [][]byte
	for _, l := range labels {
		if _, ok := u.nodes[l]; ok {
			continue
		}
		if u.cache != nil {
			if s, ok := u.cache.c.Get(l); ok {
				u.nodes[l] = s
				continue
			}
		}
		keys = append(keys, labelKey(l))
	}
	if len(keys) == 0 {
		return nil
	}
	got, err := u.r.Nodes(ctx, keys)
	if err != nil {
		return err
	}
	for _, k := range keys {
		b, ok := got[string(k)]
		if !ok {
			continue
		}
		l, err := parseLabelKey(k)
		if err != nil {
			return err
		}
		s, err := decode(l, b)
		if err != nil {
			return err
		}
		u.nodes[l] = s
		if u.cache != nil {
			u.cache.c.Add(l, s)
		}
	}
	return nil
}

// prefetch loads every node the inserts of the given leaves will read:
// the path from the root to where each leaf goes, with both children of
// every node on it. It reads one level of all paths at a time.
func (u *Update) prefetch(ctx context.Context, leaves []prefix.Label) error {
	if err := u.fetch(ctx, []prefix.Label{prefix.RootLabel}); err != nil {
		return err
	}
	if u.nodes[prefix.RootLabel] == nil {
		u.empty = true
		return nil
	}
	at := make([]prefix.Label, len(leaves)) // where each walk has got to
	for i := range at {
		at[i] = prefix.RootLabel
	}
	for {
		var need []prefix.Label
		for i, target := range leaves {
			for {
				cur := at[i]
				n := u.nodes[cur]
				if n == nil || cur == target || !target.HasPrefix(cur) {
					break // done: a leaf, or where target diverges
				}
				left, right := u.nodes[n.node.Left], u.nodes[n.node.Right]
				if left == nil || right == nil {
					need = append(need, n.node.Left, n.node.Right)
					break
				}
				if target.SideOf(cur) == prefix.Left {
					at[i] = n.node.Left
				} else {
					at[i] = n.node.Right
				}
			}
		}
		if len(need) == 0 {
			return nil
		}
		before := len(u.nodes)
		if err := u.fetch(ctx, need); err != nil {
			return err
		}
		if len(u.nodes) == before {
			return fmt.Errorf("vindex: the stored tree lacks a node below %s", LabelString(need[0]))
		}
	}
}

// Apply inserts every key set into the tree and returns the new root and
// the nodes to store as this version. Call Commit once they are stored.
func (u *Update) Apply(ctx context.Context) (root [32]byte, rows []NodeRow, err error) {
	labels := make([][32]byte, 0, len(u.sets))
	for l := range u.sets {
		labels = append(labels, l)
	}
	slices.SortFunc(labels, func(a, b [32]byte) int { return compareBytes(a[:], b[:]) })
	leaves := make([]prefix.Label, len(labels))
	for i, l := range labels {
		leaves[i] = leafLabel(l)
	}
	if err := u.prefetch(ctx, leaves); err != nil {
		return root, nil, err
	}
	st := &overlay{u: u}
	if u.empty {
		if err := prefix.InitStorage(ctx, Hash, st); err != nil {
			return root, nil, err
		}
	}
	t := prefix.NewTree(Hash, st)
	for _, l := range labels {
		if err := t.Insert(ctx, l, u.sets[l]); err != nil {
			return root, nil, fmt.Errorf("vindex: inserting %x: %w", l, err)
		}
	}
	if root, err = t.RootHash(ctx); err != nil {
		return root, nil, err
	}
	rows = make([]NodeRow, 0, len(u.dirty))
	for l, s := range u.dirty {
		rows = append(rows, NodeRow{Label: labelKey(l), Node: s.encode()})
	}
	return root, rows, nil
}

// Root returns the root of the tree the update reads, before it applies.
func (u *Update) Root(ctx context.Context) ([32]byte, error) {
	if err := u.fetch(ctx, []prefix.Label{prefix.RootLabel}); err != nil {
		return [32]byte{}, err
	}
	if s := u.nodes[prefix.RootLabel]; s != nil {
		return s.node.Hash, nil
	}
	return EmptyRoot, nil
}

// Commit tells the update its nodes are stored: they become the newest
// in the cache.
func (u *Update) Commit() {
	if u.cache == nil {
		return
	}
	for l, s := range u.dirty {
		u.cache.c.Add(l, s)
	}
}

// Purge empties the cache, after a write that may not have been stored.
func (c *Cache) Purge() {
	if c != nil {
		c.c.Purge()
	}
}

// EmptyRoot is the root of the empty map.
var EmptyRoot, emptyNode = func() ([32]byte, *prefix.Node) {
	ctx := context.Background()
	st := prefix.NewMemoryStorage()
	prefix.InitStorage(ctx, Hash, st)
	r, _ := prefix.NewTree(Hash, st).RootHash(ctx)
	e, _ := st.Load(ctx, prefix.EmptyNodeLabel)
	return r, e
}()

// overlay is the prefix.Storage an update inserts through.
type overlay struct{ u *Update }

func (o *overlay) Load(ctx context.Context, l prefix.Label) (*prefix.Node, error) {
	if s, ok := o.u.nodes[l]; ok && s != nil {
		return s.node, nil
	}
	if err := o.u.fetch(ctx, []prefix.Label{l}); err != nil {
		return nil, err
	}
	if s := o.u.nodes[l]; s != nil {
		return s.node, nil
	}
	return nil, errNotFound
}

func (o *overlay) Store(_ context.Context, nodes ...*prefix.Node) error {
	for _, n := range nodes {
		s := &stored{node: n}
		if n.Label.IsLeaf() {
			s.value = o.u.sets[[32]byte(n.Label.Bytes())]
		}
		o.u.nodes[n.Label] = s
		o.u.dirty[n.Label] = s
	}
	return nil
}

func compareBytes(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return len(a) - len(b)
}
