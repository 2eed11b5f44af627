package vindex

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"filippo.io/torchwood/prefix"
)

// Cache holds the newest version of recently used nodes, for the one
// process that writes a store: the upper levels of the tree are on every
// update's path. Safe for concurrent use.
//
// It keeps two generations of at most n/2 nodes each: a node used while
// only in the older one moves to the newer, and when the newer fills up,
// the older is dropped. That is an LRU's behaviour, near enough, at the
// price of a map lookup: every update asks for thousands of nodes, and a
// list-ordered LRU spent more time ordering than the update hashing.
type Cache struct {
	mu       sync.Mutex
	half     int
	cur, old map[prefix.Label]*stored
}

// NewCache returns a cache of at most n nodes.
func NewCache(n int) *Cache {
	half := max(n/2, 1)
	return &Cache{half: half, cur: make(map[prefix.Label]*stored), old: map[prefix.Label]*stored{}}
}

// Purge empties the cache, after a write that may not have been stored.
func (c *Cache) Purge() {
	if c != nil {
		c.mu.Lock()
		c.cur, c.old = map[prefix.Label]*stored{}, map[prefix.Label]*stored{}
		c.mu.Unlock()
	}
}

// get returns the cached version of the node at l.
func (c *Cache) get(l prefix.Label) (*stored, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.cur[l]; ok {
		return s, true
	}
	s, ok := c.old[l]
	if ok {
		c.addLocked(l, s)
	}
	return s, ok
}

// add caches s as the newest version of the node at l.
func (c *Cache) add(l prefix.Label, s *stored) {
	c.mu.Lock()
	c.addLocked(l, s)
	c.mu.Unlock()
}

func (c *Cache) addLocked(l prefix.Label, s *stored) {
	if _, ok := c.cur[l]; !ok && len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[prefix.Label]*stored, c.half)
	}
	c.cur[l] = s
}

// Warm reads the tree's upper levels into the cache, level by level from
// the root of the version at tree size version, until it holds half the
// nodes it may (the other half is left for what updates read and write),
// and returns how many nodes it added. An update's path crosses the upper
// levels of the tree wherever its keys fall; without Warm, a process that
// has just started reads them one update at a time, for minutes on a large
// tree. It never replaces a newer version of a node than the one it read,
// so it may run beside updates.
func (c *Cache) Warm(ctx context.Context, r Nodes, version uint64) (int, error) {
	const chunk = 4096
	added := 0
	rd := newReader(r)
	level := []ref{{prefix.RootLabel, version, either}}
	for len(level) > 0 {
		var next []ref
		for len(level) > 0 {
			n := min(len(level), chunk, c.half-added)
			if n <= 0 {
				return added, nil
			}
			refs := level[:n]
			level = level[n:]
			got, err := rd.nodes(ctx, refs)
			if err != nil {
				return added, err
			}
			if len(got) != len(refs) {
				return added, fmt.Errorf("vindex: the stored tree lacks %d of %d nodes of version %d", len(refs)-len(got), len(refs), version)
			}
			for _, s := range got {
				if c.offer(s.node.Label, s) {
					added++
				}
				if l := s.node.Label; !l.IsLeaf() && l != prefix.EmptyNodeLabel {
					next = append(next, children(s)...)
				}
			}
		}
		level = next
	}
	return added, nil
}

// offer caches s unless the cache holds the node at its label already, at
// that version or a newer one; it reports whether it did.
func (c *Cache) offer(l prefix.Label, s *stored) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.cur[l]; ok && have.version >= s.version {
		return false
	}
	if have, ok := c.old[l]; ok && have.version >= s.version {
		return false
	}
	c.addLocked(l, s)
	return true
}

// Update is one batch of changes to the map, applied on top of the
// newest version (written at tree size from) and written as the version
// at a larger tree size.
type Update struct {
	rd    *reader
	tiles bool // write tiles (tile.go), not a row per node
	cache *Cache
	from  uint64
	empty bool                     // the store holds no tree yet
	nodes map[prefix.Label]*stored // read or written by this update
	dirty map[prefix.Label]*stored // written by this update
	// refs holds the version and hash of nodes the update knows from
	// their parent without having read them: the siblings of the nodes on
	// its paths, and the nodes where a path leaves the tree.
	refs map[prefix.Label]child
	sets map[[32]byte][32]byte
	// walked holds the targets whose paths are in nodes already: Values
	// and Apply walk to the same keys, before any insert changes a path.
	walked map[prefix.Label]bool
}

// NewUpdate starts an update of the tree whose newest version was written
// at tree size from (empty: no version yet), reading nodes through r and
// cache (which may be nil).
func NewUpdate(r Nodes, cache *Cache, from uint64, empty bool) *Update {
	_, perNode := r.(rowPerNode)
	return &Update{rd: newReader(r), tiles: !perNode, cache: cache, from: from, empty: empty, nodes: map[prefix.Label]*stored{},
		dirty: map[prefix.Label]*stored{}, refs: map[prefix.Label]child{}, sets: map[[32]byte][32]byte{}, walked: map[prefix.Label]bool{}}
}

// reserve sizes the update's maps for about n keys, before they grow one
// rehash at a time.
func (u *Update) reserve(n int) {
	if len(u.nodes) == 0 && n > 0 {
		// A key's path is about log2 of the tree's keys long; the
		// nodes on it are read, and the siblings they name are noted.
		u.nodes = make(map[prefix.Label]*stored, 12*n)
		u.dirty = make(map[prefix.Label]*stored, 12*n)
		u.refs = make(map[prefix.Label]child, 12*n)
	}
}

// Set sets the value of a key, by label.
func (u *Update) Set(label, value [32]byte) { u.sets[label] = value }

// Len returns the number of keys set.
func (u *Update) Len() int { return len(u.sets) }

// ref names a node version to read.
type ref struct {
	label   prefix.Label
	version uint64
	layout  layout
}

// fetch loads node versions into the update, from the cache or in one
// read.
func (u *Update) fetch(ctx context.Context, refs []ref) error {
	var miss []ref
	for _, r := range refs {
		if _, ok := u.nodes[r.label]; ok {
			continue
		}
		if u.cache != nil {
			if s, ok := u.cache.get(r.label); ok && s.version == r.version {
				u.nodes[r.label] = s
				continue
			}
		}
		miss = append(miss, r)
	}
	if len(miss) == 0 {
		return nil
	}
	got, err := u.rd.nodes(ctx, miss)
	if err != nil {
		return err
	}
	for _, s := range got {
		u.nodes[s.node.Label] = s
		if u.cache != nil {
			u.cache.add(s.node.Label, s)
		}
	}
	return nil
}

// children returns the refs of a node's children.
func children(s *stored) []ref {
	return []ref{{s.node.Left, s.left.version, layoutOf(s.left)}, {s.node.Right, s.right.version, layoutOf(s.right)}}
}

// sides returns the child of inner node s on label's side and the other
// child, each with what s holds of it. label must be longer than the
// node's label and begin with it: the bit after the node's label picks
// the side.
func sides(s *stored, label prefix.Label) (next prefix.Label, nc child, other prefix.Label, oc child) {
	if b, _ := label.Bit(s.node.Label.BitLen()); b == 1 {
		return s.node.Right, s.right, s.node.Left, s.left
	}
	return s.node.Left, s.left, s.node.Right, s.right
}

// known returns the version and hash of the node at l, read or known from
// its parent.
func (u *Update) known(l prefix.Label) (child, bool) {
	if s := u.nodes[l]; s != nil {
		return child{s.version, s.node.Hash, s.tiled}, true
	}
	c, ok := u.refs[l]
	return c, ok
}

// loadRoot reads the newest root, unless there is no tree yet.
func (u *Update) loadRoot(ctx context.Context) error {
	if u.empty {
		return nil
	}
	if err := u.fetch(ctx, []ref{{prefix.RootLabel, u.from, either}}); err != nil {
		return err
	}
	root := u.nodes[prefix.RootLabel]
	if root == nil {
		return fmt.Errorf("vindex: no root stored for tree size %d", u.from)
	}
	// Its children are known from it, as a walk knows the siblings it
	// passes: an update that sets no key walks nowhere, and writes the
	// root again all the same.
	for _, k := range root.kids() {
		if _, ok := u.known(k.l); !ok {
			u.refs[k.l] = k.c
		}
	}
	return nil
}

// walk loads the nodes on the way from the root to each target, one
// level of all walks per read: each node whose label is a prefix of a
// target, and the target's leaf if it is in the tree. Of the siblings
// passed on the way, and of the node where a target leaves the tree, it
// needs only the label, version and hash, which their parent holds. This
// is every node prefix.Tree.Insert and Lookup read.
func (u *Update) walk(ctx context.Context, targets []prefix.Label) error {
	if u.empty || len(targets) == 0 {
		return nil
	}
	if err := u.loadRoot(ctx); err != nil {
		return err
	}
	targets = slices.DeleteFunc(slices.Clone(targets), func(l prefix.Label) bool { return u.walked[l] })
	for _, l := range targets {
		u.walked[l] = true // once the walk below returns without error
	}
	at := make([]prefix.Label, len(targets))
	for i := range at {
		at[i] = prefix.RootLabel
	}
	need := make([]ref, 0, len(targets))
	for {
		need = need[:0]
		for i, target := range targets {
			for {
				cur := at[i]
				n := u.nodes[cur]
				if n == nil || cur == target || !target.HasPrefix(cur) || cur.IsLeaf() {
					break // done: the leaf, or where target leaves the tree
				}
				next, nc, other, oc := sides(n, target)
				if u.nodes[other] == nil {
					u.refs[other] = oc
				}
				if u.nodes[next] != nil {
					at[i] = next
					continue
				}
				if target.HasPrefix(next) {
					need = append(need, ref{next, nc.version, layoutOf(nc)})
				} else {
					u.refs[next] = nc
				}
				break
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
			return fmt.Errorf("vindex: the stored tree lacks a node below %s", LabelString(need[0].label))
		}
	}
}

// Prefetch reads the nodes on the paths to keys, by label, that Values
// and Apply will need, so that a caller can have them read while it does
// other work (see walk). It must return before the update's other methods
// are called.
func (u *Update) Prefetch(ctx context.Context, labels [][32]byte) error {
	want := make([]prefix.Label, len(labels))
	for i, l := range labels {
		want[i] = leafLabel(l)
	}
	u.reserve(len(labels))
	return u.walk(ctx, want)
}

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
	if err := u.walk(ctx, want); err != nil {
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

// Apply inserts every key set into the tree, as the version at tree size
// version, and returns the new root and the node versions to store. Call
// Commit once they are stored.
func (u *Update) Apply(ctx context.Context, version uint64) (root [32]byte, rows []NodeRow, err error) {
	labels := make([][32]byte, 0, len(u.sets))
	for l := range u.sets {
		labels = append(labels, l)
	}
	slices.SortFunc(labels, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	leaves := make([]prefix.Label, len(labels))
	for i, l := range labels {
		leaves[i] = leafLabel(l)
	}
	u.reserve(len(labels))
	if err := u.walk(ctx, leaves); err != nil {
		return root, nil, err
	}
	if err := u.loadRoot(ctx); err != nil {
		return root, nil, err
	}
	st := &overlay{u: u, version: version}
	if u.empty {
		if err := prefix.InitStorage(ctx, Hash, st); err != nil {
			return root, nil, err
		}
	}
	t := prefix.NewTree(Hash, st)
	for i, l := range labels {
		// Each insert computes its path only up to where the next
		// key's path joins it: the next insert computes the rest again,
		// from the nodes this one wrote (see LoadPath).
		st.next, st.more = prefix.Label{}, i+1 < len(leaves)
		if st.more {
			st.next = leaves[i+1]
		}
		if err := t.Insert(ctx, l, u.sets[l]); err != nil {
			return root, nil, fmt.Errorf("vindex: inserting %x: %w", l, err)
		}
	}
	// Every version has its root, changed or not, so a reader starts at
	// the root of the version it asks for.
	r := u.nodes[prefix.RootLabel]
	if _, ok := u.dirty[prefix.RootLabel]; !ok {
		c := *r
		c.version, c.tiled = version, u.tiles
		u.nodes[prefix.RootLabel], u.dirty[prefix.RootLabel] = &c, &c
		r = &c
	}
	for l, s := range u.dirty {
		if !l.IsLeaf() && l != prefix.EmptyNodeLabel {
			left, lok := u.known(s.node.Left)
			right, rok := u.known(s.node.Right)
			if !lok || !rok {
				return root, nil, fmt.Errorf("vindex: a written node's child is unknown")
			}
			s.left, s.right = left, right
		}
	}
	if u.tiles {
		rows = encodeTiles(version, u.dirty)
	} else {
		rows = make([]NodeRow, 0, len(u.dirty))
		for l, s := range u.dirty {
			rows = append(rows, NodeRow{Key: Key(version, l), Node: s.encode()})
		}
		slices.SortFunc(rows, func(a, b NodeRow) int { return bytes.Compare(a.Key, b.Key) })
	}
	return r.node.Hash, rows, nil
}

// Commit tells the update its nodes are stored: they become the newest
// in the cache.
func (u *Update) Commit() {
	if u.cache == nil {
		return
	}
	u.cache.mu.Lock()
	defer u.cache.mu.Unlock()
	for l, s := range u.dirty {
		u.cache.addLocked(l, s)
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

// overlay is the prefix.Storage an update inserts through: the nodes its
// walks loaded, and those it writes, as the version at tree size version.
//
// Apply inserts keys in label order and tells the overlay the key it
// inserts next. prefix.Tree.Insert computes a new node for each sibling
// LoadPath returns, from the bottom up, so LoadPath leaves out the
// siblings at the top whose parent is on the next key's path as well:
// the next insert computes that parent again anyway, from its children as
// this insert left them. Keys in label order share a node with every
// later key under it only through the next key, so each node is computed
// once, by the last key below it, as if the batch had been inserted one
// key at a time; a key's insert only ever stops above the node whose
// children it changes (where it adds a leaf), so that the next key's
// walk finds the tree's new shape.
type overlay struct {
	u       *Update
	version uint64
	next    prefix.Label // the key inserted next, if more
	more    bool
}

func (o *overlay) Load(_ context.Context, l prefix.Label) (*prefix.Node, error) {
	if s, ok := o.u.nodes[l]; ok && s != nil {
		return s.node, nil
	}
	return nil, fmt.Errorf("vindex: node %s was not read ahead: %w", LabelString(l), errNotFound)
}

// LoadPath is prefix's loadPath (which prefix.Tree.Insert calls, when its
// storage has one) over the nodes the update read and the siblings it
// knows from their parents: the siblings on the way from the root to
// label, from the bottom up.
func (o *overlay) LoadPath(_ context.Context, label prefix.Label) ([]*prefix.Node, error) {
	u := o.u
	n := u.nodes[prefix.RootLabel]
	if n == nil {
		return nil, fmt.Errorf("vindex: the root was not read ahead: %w", errNotFound)
	}
	var path []*prefix.Node
	top := o.more // still above where the next key's path leaves this one
	for n.node.Label != label {
		if !label.HasPrefix(n.node.Label) {
			if n.node.Label != prefix.EmptyNodeLabel {
				path = append(path, n.node)
			}
			break
		}
		// Written nodes hold no children's hashes until Apply encodes
		// them: take both children as read, written or known.
		next, _, other, _ := sides(n, label)
		// other's parent is n, which the next insert computes if its
		// path passes n too; unless this insert changes n's children,
		// where its way leaves the tree at next.
		top = top && o.next.HasPrefix(n.node.Label) && label.HasPrefix(next)
		if !top {
			sib, err := u.brief(other)
			if err != nil {
				return nil, err
			}
			path = append(path, sib)
		}
		if s := u.nodes[next]; s != nil {
			n = s
			continue
		}
		// The way leaves the tree at next, which was not read: only its
		// label and hash count.
		if label.HasPrefix(next) {
			return nil, fmt.Errorf("vindex: node %s was not read ahead: %w", LabelString(next), errNotFound)
		}
		if next != prefix.EmptyNodeLabel {
			end, err := u.brief(next)
			if err != nil {
				return nil, err
			}
			path = append(path, end)
		}
		break
	}
	slices.Reverse(path)
	return path, nil
}

// brief returns the node at l, as read, or as its label and hash.
func (u *Update) brief(l prefix.Label) (*prefix.Node, error) {
	if s := u.nodes[l]; s != nil {
		return s.node, nil
	}
	c, ok := u.refs[l]
	if !ok {
		return nil, fmt.Errorf("vindex: node %s is unknown: %w", LabelString(l), errNotFound)
	}
	return &prefix.Node{Label: l, Hash: c.hash}, nil
}

func (o *overlay) Store(_ context.Context, nodes ...*prefix.Node) error {
	for _, n := range nodes {
		s := &stored{node: n, version: o.version, tiled: o.u.tiles}
		if n.Label.IsLeaf() {
			s.value = o.u.sets[[32]byte(n.Label.Bytes())]
		}
		o.u.nodes[n.Label] = s
		o.u.dirty[n.Label] = s
	}
	return nil
}
