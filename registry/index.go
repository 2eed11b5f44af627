package registry

// The verifiable index (package vindex): every sequencing batch updates it
// in its own transaction, as one version at the batch's end size, and
// every checkpoint commits to its root at the checkpoint's size.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/vindex"
)

// warmIndex reads the upper levels of the index's newest version into the
// node cache, beside the work a starting registry does: until they are
// cached, every batch reads them from the store (see vindex.Cache.Warm).
func (r *Registry) warmIndex(ctx context.Context) {
	size, _, err := r.st.LatestIndexRoot(ctx, math.MaxInt64)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	start := time.Now()
	n := 0
	if err == nil {
		n, err = r.indexCache.Warm(ctx, storedNodes{r.st}, size)
	}
	switch {
	case err == nil:
		r.log.Info("read the index's upper levels into memory", "nodes", n, "size", size, "took", time.Since(start).Round(time.Millisecond))
	case ctx.Err() == nil:
		// Only slower batches follow from this.
		r.log.Warn("could not read the index's upper levels into memory", "err", err)
	}
}

// indexState reads the package state the index's values are made of,
// and may read it ahead in one query.
type indexState interface {
	vindex.StateView
	fetchKeys(keys []string) error
}

// seqNodes reads the newest index nodes in a sequencing transaction.
type seqNodes struct{ tx store.SeqTx }

func (n seqNodes) Nodes(_ context.Context, keys [][]byte) (map[string][]byte, error) {
	return n.tx.IndexNodes(keys)
}

// writeIndex applies a batch's index changes as the version at tree size
// size, in the sequencing transaction tx, and returns the new root and the
// update (to Commit once the transaction has).
func (r *Registry) writeIndex(ctx context.Context, tx store.SeqTx, st indexState, size uint64, ib *vindex.Batch) (*vindex.Update, [32]byte, error) {
	u, err := r.newIndexUpdate(tx)
	if err != nil {
		return nil, [32]byte{}, err
	}
	j, err := r.startIndex(ctx, tx, st, size, ib, u)
	if err != nil {
		return nil, [32]byte{}, err
	}
	return j.finish(tx)
}

// newIndexUpdate starts an update of the index's newest version in tx.
func (r *Registry) newIndexUpdate(tx store.SeqTx) (*vindex.Update, error) {
	prev, ok, err := tx.IndexHead()
	if err != nil {
		return nil, err
	}
	return vindex.NewUpdate(seqNodes{tx}, r.indexCache, prev, !ok), nil
}

// indexAhead is a batch's index update, reading the paths to the keys the
// batch's entries name while the sequencer decides them: on a large index
// those paths are mostly not cached, and reading them is half the index's
// work.
type indexAhead struct {
	u    *vindex.Update
	done chan struct{}
	err  error
}

// readIndexAhead starts the index update of a batch of entries, reading
// their paths on a goroutine of its own (store.SeqTx allows IndexNodes
// beside its other methods). Call wait before the transaction ends.
func (r *Registry) readIndexAhead(tx store.SeqTx, entries []*record.Entry) (*indexAhead, error) {
	u, err := r.newIndexUpdate(tx)
	if err != nil {
		return nil, err
	}
	a := &indexAhead{u: u, done: make(chan struct{})}
	names := vindex.Names(entries)
	go func() {
		defer close(a.done)
		a.err = u.Prefetch(context.Background(), names)
	}()
	return a, nil
}

// wait returns the update once its paths are read.
func (a *indexAhead) wait() (*vindex.Update, error) {
	<-a.done
	return a.u, a.err
}

// indexJob is the index version of one batch, being computed on a
// goroutine of its own while the sequencer writes the batch's entries.
type indexJob struct {
	size uint64
	done chan struct{}
	u    *vindex.Update
	root [32]byte
	rows []vindex.NodeRow
	err  error
}

// startIndex starts computing a batch's index changes in u, as the version
// at tree size size. It reads what the computation needs of the state
// through tx first; the computation itself reads only index nodes (through
// tx on a cache miss: store.SeqTx allows that beside Flush) and the state
// already read. Call finish before anything else uses st or tx but Flush.
func (r *Registry) startIndex(ctx context.Context, tx store.SeqTx, st indexState, size uint64, ib *vindex.Batch, u *vindex.Update) (*indexJob, error) {
	// Read every package, then every release of them, in two queries.
	names := ib.Packages()
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = state.PackageKey(n)
	}
	if err := st.fetchKeys(keys); err != nil {
		return nil, err
	}
	keys = keys[:0]
	for _, n := range names {
		p, err := st.Package(n)
		if err != nil {
			return nil, err
		}
		if p != nil {
			for _, v := range p.Versions {
				keys = append(keys, state.ReleaseKey(n, v))
			}
		}
	}
	if err := st.fetchKeys(keys); err != nil {
		return nil, err
	}
	j := &indexJob{size: size, done: make(chan struct{}), u: u}
	go func() {
		defer close(j.done)
		if j.err = ib.Apply(ctx, j.u, st); j.err == nil {
			j.root, j.rows, j.err = j.u.Apply(ctx, size)
		}
	}()
	return j, nil
}

// finish waits for the job and stores its node versions and root in tx.
func (j *indexJob) finish(tx store.SeqTx) (*vindex.Update, [32]byte, error) {
	<-j.done
	if j.err != nil {
		return nil, j.root, j.err
	}
	nodes := make([]store.IndexNode, len(j.rows))
	for i, n := range j.rows {
		nodes[i] = store.IndexNode{Key: n.Key, Node: n.Node}
	}
	if err := tx.PutIndex(j.size, nodes, j.root[:]); err != nil {
		return nil, j.root, err
	}
	return j.u, j.root, nil
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
