package logcore

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
)

// Checkpoint returns the latest checkpoint, or an unavailable error
// before the first one.
func (l *Log[T]) Checkpoint(ctx context.Context) (*translog.Checkpoint, error) {
	cp := l.Latest()
	if cp == nil {
		return nil, &vouch.UnavailableError{Err: errors.New("the log has no checkpoint yet")}
	}
	return cp, nil
}

// TreeSize resolves a requested tree size: 0 means the latest
// checkpoint's; a size beyond it is invalid.
func (l *Log[T]) TreeSize(ctx context.Context, size uint64) (uint64, error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	if size == 0 {
		return cp.Size, nil
	}
	if size > cp.Size {
		return 0, vouch.Invalid("tree size %d is beyond the latest checkpoint (%d)", size, cp.Size)
	}
	return size, nil
}

// CheckpointFor returns the smallest checkpoint whose tree contains the
// first size entries: the checkpoint an answer as of size is valid for
// (size 0: the latest).
func (l *Log[T]) CheckpointFor(ctx context.Context, size uint64) (*translog.Checkpoint, error) {
	if size == 0 {
		return l.Checkpoint(ctx)
	}
	row, err := l.st.CheckpointCovering(ctx, size-1)
	if errors.Is(err, store.ErrNotFound) {
		return nil, vouch.Invalid("no checkpoint covers tree size %d yet", size)
	}
	if err != nil {
		return nil, err
	}
	return l.checkpoint(row), nil
}

// Entry returns entry index with an inclusion proof in the tree of the
// given size (0: the latest checkpoint).
func (l *Log[T]) Entry(ctx context.Context, index, size uint64) (*vouch.Entry, error) {
	size, err := l.TreeSize(ctx, size)
	if err != nil {
		return nil, err
	}
	if index >= size {
		if size == l.Latest().Size {
			return nil, vouch.NotFound("entry %d (the log's latest checkpoint has %d entries)", index, size)
		}
		return nil, vouch.Invalid("entry %d is not in a tree of size %d", index, size)
	}
	row, err := l.st.Entry(ctx, index)
	if errors.Is(err, store.ErrNotFound) {
		return nil, vouch.NotFound("entry %d", index)
	}
	if err != nil {
		return nil, err
	}
	out := &vouch.Entry{Index: index, Leaf: row.Leaf, Time: row.Time, TreeSize: size}
	integrated, err := l.st.CheckpointCovering(ctx, index)
	if err != nil {
		return nil, err
	}
	out.Integrated = l.checkpoint(integrated)
	if out.Proof, err = tlog.ProveRecord(int64(size), int64(index), l.HashReader(ctx)); err != nil {
		return nil, err
	}
	if row, err := l.st.CheckpointCovering(ctx, size-1); err == nil && row.Size == size {
		out.Checkpoint = l.checkpoint(row)
	}
	return out, nil
}

// InclusionProof proves entry index in the tree of the given size.
func (l *Log[T]) InclusionProof(ctx context.Context, index, size uint64) (tlog.RecordProof, error) {
	if index >= size {
		return nil, vouch.Invalid("entry %d is not in a tree of size %d", index, size)
	}
	return tlog.ProveRecord(int64(size), int64(index), l.HashReader(ctx))
}

// ConsistencyProof proves that the tree of size to extends the tree of size
// from (to = 0: the latest checkpoint). It returns the proof and to.
func (l *Log[T]) ConsistencyProof(ctx context.Context, from, to uint64) (tlog.TreeProof, uint64, error) {
	to, err := l.TreeSize(ctx, to)
	if err != nil {
		return nil, 0, err
	}
	if from > to {
		return nil, 0, vouch.Invalid("from (%d) is larger than to (%d)", from, to)
	}
	if from == 0 || from == to {
		return tlog.TreeProof{}, to, nil
	}
	p, err := tlog.ProveTree(int64(to), int64(from), l.HashReader(ctx))
	return p, to, err
}

// Tile returns a tlog-tiles hash tile of the latest checkpoint's tree.
func (l *Log[T]) Tile(ctx context.Context, level, index uint64, width int) ([]byte, error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	b, err := translog.TileData(level, index, width, cp.Size, l.HashReader(ctx))
	if errors.Is(err, translog.ErrNoTile) {
		return nil, vouch.NotFound("tile %d/%d (width %d) in a tree of size %d", level, index, width, cp.Size)
	}
	return b, err
}

// EntryBundle returns a tlog-tiles entry bundle of the latest checkpoint's
// tree.
func (l *Log[T]) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	first, n, err := translog.BundleRange(index, width, cp.Size)
	if err != nil {
		return nil, vouch.NotFound("entry bundle %d (width %d) in a tree of size %d", index, width, cp.Size)
	}
	leaves, err := l.st.Leaves(ctx, first, first+n)
	if err != nil {
		return nil, fmt.Errorf("reading entries %d-%d: %w", first, first+n, err)
	}
	return translog.EncodeBundle(leaves)
}

// Checkpoints lists stored checkpoints of size at least from, oldest
// first, at most limit, up to the newest this log publishes.
func (l *Log[T]) Checkpoints(ctx context.Context, from uint64, limit int) ([]*translog.Checkpoint, error) {
	rows, err := l.st.Checkpoints(ctx, from, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*translog.Checkpoint, 0, len(rows))
	for _, r := range rows {
		out = append(out, l.checkpoint(r))
	}
	return out, nil
}
