package registry

// The verifiable index (package vindex): every sequencing batch updates it
// in its own transaction, as one version at the batch's end size, and
// every checkpoint commits to its root at the checkpoint's size.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/vindex"
)

// indexBatch collects what a batch changes in the index: the packages
// whose state changed, and the indexes to append to each list key.
type indexBatch struct {
	packages map[string]bool
	lists    map[[32]byte][]uint64
}

func newIndexBatch() *indexBatch {
	return &indexBatch{packages: map[string]bool{}, lists: map[[32]byte][]uint64{}}
}

// add notes an appended entry, and the state changes it made (nil when
// they are unknown: the package state is then read at the end).
func (ib *indexBatch) add(row *store.EntryRow, pkgs []string) {
	seen := map[string]bool{}
	for _, k := range row.Signers {
		if !seen[k] {
			seen[k] = true
			l := vindex.Label(vindex.KindSigner, k)
			ib.lists[l] = append(ib.lists[l], row.Index)
		}
	}
	if row.Kind == string(record.KindAttestation) {
		clear(seen)
		for _, d := range row.Subjects {
			if !seen[d] {
				seen[d] = true
				l := vindex.Label(vindex.KindSubject, d)
				ib.lists[l] = append(ib.lists[l], row.Index)
			}
		}
	}
	for _, p := range pkgs {
		ib.packages[p] = true
	}
}

// changedPackages lists the packages whose state c changes.
func changedPackages(c *state.Changes) []string {
	var out []string
	if c.Package != nil {
		out = append(out, c.Package.Name)
	}
	for _, r := range c.Releases {
		if !slices.Contains(out, r.Package) {
			out = append(out, r.Package)
		}
	}
	return out
}

// indexState reads the package state the index's values are made of.
type indexState interface {
	Package(name string) (*state.Package, error)
	Release(name, version string) (*state.Release, error)
	// fetchKeys may read state objects ahead, in one query.
	fetchKeys(keys []string) error
}

// seqNodes reads the newest index nodes in a sequencing transaction.
type seqNodes struct{ tx store.SeqTx }

func (n seqNodes) Nodes(_ context.Context, labels [][]byte) (map[string][]byte, error) {
	return n.tx.IndexNodes(labels)
}

// writeIndex applies a batch's index changes as the version at tree size
// size, in the sequencing transaction tx, and returns the new root and the
// update (to Commit once the transaction has).
func (r *Registry) writeIndex(ctx context.Context, tx store.SeqTx, st indexState, size uint64, ib *indexBatch) (*vindex.Update, [32]byte, error) {
	var root [32]byte
	u := vindex.NewUpdate(seqNodes{tx}, r.indexCache)
	labels := make([][32]byte, 0, len(ib.lists))
	for l := range ib.lists {
		labels = append(labels, l)
	}
	cur, err := u.Values(ctx, labels)
	if err != nil {
		return nil, root, err
	}
	for _, l := range labels {
		h, ok := cur[l]
		if !ok {
			h = vindex.ListStart
		}
		for _, i := range ib.lists[l] {
			h = vindex.ListNext(h, i)
		}
		u.Set(l, h)
	}
	if len(ib.packages) > 0 {
		names := make([]string, 0, len(ib.packages))
		keys := make([]string, 0, len(ib.packages))
		for n := range ib.packages {
			names = append(names, n)
			keys = append(keys, state.PackageKey(n))
		}
		slices.Sort(names)
		if err := st.fetchKeys(keys); err != nil {
			return nil, root, err
		}
		pkgs := make([]*state.Package, len(names))
		keys = keys[:0]
		for i, n := range names {
			if pkgs[i], err = st.Package(n); err != nil {
				return nil, root, err
			}
			if pkgs[i] == nil {
				return nil, root, fmt.Errorf("index: package %s changed but does not exist", n)
			}
			for _, v := range pkgs[i].Versions {
				keys = append(keys, state.ReleaseKey(n, v))
			}
		}
		if err := st.fetchKeys(keys); err != nil {
			return nil, root, err
		}
		for _, p := range pkgs {
			rels := make([]*state.Release, len(p.Versions))
			for i, v := range p.Versions {
				if rels[i], err = st.Release(p.Name, v); err != nil {
					return nil, root, err
				}
			}
			val, err := vindex.PackageValueOf(p, rels)
			if err != nil {
				return nil, root, err
			}
			u.Set(vindex.Label(vindex.KindPackage, p.Name), vindex.ValueHash(val))
		}
	}
	root, rows, err := u.Apply(ctx)
	if err != nil {
		return nil, root, err
	}
	nodes := make([]store.IndexNode, len(rows))
	for i, n := range rows {
		nodes[i] = store.IndexNode{Label: n.Label, Node: n.Node}
	}
	if err := tx.PutIndex(size, nodes, root[:]); err != nil {
		return nil, root, err
	}
	return u, root, nil
}

// pendingRoot is the index root of the batch being sequenced, which the
// checkpoint signed in the same transaction commits to before it is
// stored.
type pendingRoot struct {
	mu   sync.Mutex
	size uint64
	root *[32]byte
}

func (p *pendingRoot) set(size uint64, root *[32]byte) {
	p.mu.Lock()
	p.size, p.root = size, root
	p.mu.Unlock()
}

func (p *pendingRoot) get(size uint64) *[32]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.root != nil && p.size == size {
		return p.root
	}
	return nil
}

// IndexRoot returns the verifiable index's root at tree size size (a
// size some batch ended at, as every checkpoint's is).
func (r *Registry) IndexRoot(ctx context.Context, size uint64) ([32]byte, error) {
	if p := r.pendingIndex.get(size); p != nil {
		return *p, nil
	}
	if size == 0 {
		return vindex.EmptyRoot, nil
	}
	b, err := r.st.IndexRoot(ctx, size)
	if err != nil {
		return [32]byte{}, err
	}
	if len(b) != 32 {
		return [32]byte{}, fmt.Errorf("index: the root stored for size %d is %d bytes", size, len(b))
	}
	return [32]byte(b), nil
}

// commitment commits every checkpoint to the index root at its size.
type commitment struct{ r *Registry }

func (c commitment) Lines(ctx context.Context, size uint64) ([]string, error) {
	root, err := c.r.IndexRoot(ctx, size)
	if err != nil {
		return nil, fmt.Errorf("the index root at size %d: %w", size, err)
	}
	return []string{translog.IndexLine(root)}, nil
}

func (c commitment) Boundary(ctx context.Context, old, to uint64) (uint64, error) {
	at, _, err := c.r.st.LatestIndexRoot(ctx, to)
	if errors.Is(err, store.ErrNotFound) || err == nil && at <= old {
		return 0, nil
	}
	return at, err
}
