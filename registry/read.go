package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
)

// Checkpoint returns the latest checkpoint.
func (r *Registry) Checkpoint(ctx context.Context) (*store.CheckpointRow, error) {
	cp := r.Latest()
	if cp == nil {
		return nil, &UnavailableError{errors.New("the log has no checkpoint yet")}
	}
	return cp, nil
}

// treeSize resolves a requested tree size: 0 means the latest checkpoint's.
func (r *Registry) treeSize(ctx context.Context, size uint64) (uint64, error) {
	cp, err := r.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	if size == 0 {
		return cp.Size, nil
	}
	if size > cp.Size {
		return 0, invalidf("tree size %d is beyond the latest checkpoint (%d)", size, cp.Size)
	}
	return size, nil
}

// CheckpointFor returns the smallest checkpoint whose tree contains the
// first size entries: the checkpoint an answer as of size is valid for.
func (r *Registry) CheckpointFor(ctx context.Context, size uint64) (*store.CheckpointRow, error) {
	if size == 0 {
		return r.Checkpoint(ctx)
	}
	cp, err := r.st.CheckpointCovering(ctx, size-1)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidf("no checkpoint covers tree size %d yet", size)
	}
	return cp, err
}

// Entry is a log entry with its proof.
type Entry struct {
	Row *store.EntryRow
	// Integrated is the time of the first checkpoint that covered it.
	Integrated *store.CheckpointRow
	// TreeSize is the tree the proof is for, and Checkpoint its
	// checkpoint if one was signed at exactly that size.
	TreeSize   uint64
	Proof      tlog.RecordProof
	Checkpoint *store.CheckpointRow
}

// Entry returns entry index with an inclusion proof in the tree of the
// given size (0: the latest checkpoint).
func (r *Registry) Entry(ctx context.Context, index, size uint64) (*Entry, error) {
	size, err := r.treeSize(ctx, size)
	if err != nil {
		return nil, err
	}
	if index >= size {
		if size == r.Latest().Size {
			return nil, notFound("entry %d (the log's latest checkpoint has %d entries)", index, size)
		}
		return nil, invalidf("entry %d is not in a tree of size %d", index, size)
	}
	row, err := r.st.Entry(ctx, index)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("entry %d", index)
	}
	if err != nil {
		return nil, err
	}
	out := &Entry{Row: row, TreeSize: size}
	if out.Integrated, err = r.st.CheckpointCovering(ctx, index); err != nil {
		return nil, err
	}
	if out.Proof, err = tlog.ProveRecord(int64(size), int64(index), r.hashReader(ctx)); err != nil {
		return nil, err
	}
	if cp, err := r.st.CheckpointCovering(ctx, size-1); err == nil && cp.Size == size {
		out.Checkpoint = cp
	}
	return out, nil
}

// InclusionProof proves entry index in the tree of the given size.
func (r *Registry) InclusionProof(ctx context.Context, index, size uint64) (tlog.RecordProof, error) {
	if index >= size {
		return nil, invalidf("entry %d is not in a tree of size %d", index, size)
	}
	return tlog.ProveRecord(int64(size), int64(index), r.hashReader(ctx))
}

// ConsistencyProof proves that the tree of size to extends the tree of size
// from (to = 0: the latest checkpoint).
func (r *Registry) ConsistencyProof(ctx context.Context, from, to uint64) (tlog.TreeProof, uint64, error) {
	to, err := r.treeSize(ctx, to)
	if err != nil {
		return nil, 0, err
	}
	if from > to {
		return nil, 0, invalidf("from (%d) is larger than to (%d)", from, to)
	}
	if from == 0 || from == to {
		return tlog.TreeProof{}, to, nil
	}
	p, err := tlog.ProveTree(int64(to), int64(from), r.hashReader(ctx))
	return p, to, err
}

// Tile returns a tlog-tiles hash tile of the latest checkpoint's tree.
func (r *Registry) Tile(ctx context.Context, level, index uint64, width int) ([]byte, error) {
	cp, err := r.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	b, err := translog.TileData(level, index, width, cp.Size, r.hashReader(ctx))
	if errors.Is(err, translog.ErrNoTile) {
		return nil, notFound("tile %d/%d (width %d) in a tree of size %d", level, index, width, cp.Size)
	}
	return b, err
}

// EntryBundle returns a tlog-tiles entry bundle of the latest checkpoint's tree.
func (r *Registry) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	cp, err := r.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	first, n, err := translog.BundleRange(index, width, cp.Size)
	if err != nil {
		return nil, notFound("entry bundle %d (width %d) in a tree of size %d", index, width, cp.Size)
	}
	leaves, err := r.st.Leaves(ctx, first, first+n)
	if err != nil {
		return nil, fmt.Errorf("reading entries %d-%d: %w", first, first+n, err)
	}
	return translog.EncodeBundle(leaves)
}

// resolveSize turns an at= tree size (0: latest) into a size and the
// checkpoint the answer is valid for.
func (r *Registry) resolveSize(ctx context.Context, size uint64) (uint64, *store.CheckpointRow, error) {
	size, err := r.treeSize(ctx, size)
	if err != nil {
		return 0, nil, err
	}
	cp, err := r.CheckpointFor(ctx, size)
	if err != nil {
		return 0, nil, err
	}
	return size, cp, nil
}

// SizeAt returns the tree size as of a time: the number of entries logged
// at or before t.
func (r *Registry) SizeAt(ctx context.Context, t time.Time) (uint64, error) {
	n, err := r.st.SizeAt(ctx, t)
	if err != nil {
		return 0, err
	}
	cp, err := r.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	return min(n, cp.Size), nil
}

func getState[T any](ctx context.Context, r *Registry, key string, size uint64) (*T, error) {
	b, err := r.st.Get(ctx, key, size)
	if err != nil {
		return nil, err
	}
	return state.Decode[T](b)
}

// PackageState returns a package's state at tree size (0: latest
// checkpoint), or nil if it did not exist then.
func (r *Registry) PackageState(ctx context.Context, name string, size uint64) (*state.Package, error) {
	size, err := r.treeSize(ctx, size)
	if err != nil {
		return nil, err
	}
	return getState[state.Package](ctx, r, state.PackageKey(name), size)
}

// IdentityState returns an identity at tree size (0: latest), or nil.
func (r *Registry) IdentityState(ctx context.Context, keyID string, size uint64) (*state.Identity, error) {
	size, err := r.treeSize(ctx, size)
	if err != nil {
		return nil, err
	}
	return getState[state.Identity](ctx, r, state.IdentityKey(keyID), size)
}

// CheckpointInfo is the checkpoint a read is valid for.
type CheckpointInfo struct {
	Size uint64
	Time time.Time
	Root tlog.Hash
	Note []byte
}

// parseTime parses an asof= time: RFC 3339 (with or without fractional
// seconds).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalidf("asof %q is not an RFC 3339 time (e.g. 2026-11-25T17:00:00Z)", s)
	}
	return t, nil
}

// OperatorsAt returns the operator chain's state at a tree size, or nil
// before genesis.
func (r *Registry) OperatorsAt(ctx context.Context, size uint64) (*state.Operators, error) {
	return getState[state.Operators](ctx, r, state.OperatorsKey, size)
}

// Leading reports whether this registry integrates the log.
func (r *Registry) Leading() bool { return r.leading.Load() }
