package registry

import (
	"context"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/translog"
)

// The log's reads are the log core's (see package logcore).

// Latest returns the newest checkpoint, or nil before the first one.
func (r *Registry) Latest() *translog.Checkpoint { return r.lc.Latest() }

// Checkpoint returns the latest published checkpoint: with a witness
// policy, the newest one a quorum cosigned, its cosignatures in its Note.
func (r *Registry) Checkpoint(ctx context.Context) (*translog.Checkpoint, error) {
	return r.published(ctx)
}

// Changed returns a channel closed when a newer checkpoint is known.
func (r *Registry) Changed() <-chan struct{} { return r.lc.Changed() }

// WaitCovered waits until a published checkpoint covers entry index and
// returns it.
func (r *Registry) WaitCovered(ctx context.Context, index uint64) (*translog.Checkpoint, error) {
	return r.waitPublished(ctx, index)
}

// WaitReady waits until the log has a checkpoint.
func (r *Registry) WaitReady(ctx context.Context) error { return r.lc.WaitReady(ctx) }

// Leading reports whether this registry integrates the log.
func (r *Registry) Leading() bool { return r.lc.Leading() }

// CheckpointFor returns the checkpoint an answer as of size is valid for:
// the first one covering it, or the published one (with its
// cosignatures) when it is of exactly that size.
func (r *Registry) CheckpointFor(ctx context.Context, size uint64) (*translog.Checkpoint, error) {
	pub, err := r.published(ctx)
	if err != nil {
		return nil, err
	}
	if size == 0 || size == pub.Size {
		return pub, nil
	}
	return r.lc.CheckpointFor(ctx, size)
}

// Entry returns entry index with an inclusion proof in the tree of the
// given size (0: the latest published checkpoint).
func (r *Registry) Entry(ctx context.Context, index, size uint64) (*vouch.Entry, error) {
	size, err := r.treeSize(ctx, size)
	if err != nil {
		return nil, err
	}
	e, err := r.lc.Entry(ctx, index, size)
	if err == nil && e.Checkpoint != nil && e.Checkpoint.Size == size {
		if pub, perr := r.published(ctx); perr == nil && pub.Size == size {
			e.Checkpoint = pub
		}
	}
	return e, err
}

// InclusionProof proves entry index in the tree of the given size.
func (r *Registry) InclusionProof(ctx context.Context, index, size uint64) (tlog.RecordProof, error) {
	return r.lc.InclusionProof(ctx, index, size)
}

// ConsistencyProof proves that the tree of size to extends the tree of size
// from (to = 0: the latest published checkpoint).
func (r *Registry) ConsistencyProof(ctx context.Context, from, to uint64) (tlog.TreeProof, uint64, error) {
	to, err := r.treeSize(ctx, to)
	if err != nil {
		return nil, 0, err
	}
	return r.lc.ConsistencyProof(ctx, from, to)
}

// Tile returns a tlog-tiles hash tile of the latest checkpoint's tree.
func (r *Registry) Tile(ctx context.Context, level, index uint64, width int) ([]byte, error) {
	return r.lc.Tile(ctx, level, index, width)
}

// EntryBundle returns a tlog-tiles entry bundle of the latest checkpoint's tree.
func (r *Registry) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	return r.lc.EntryBundle(ctx, index, width)
}

// resolveSize turns an at= tree size (0: latest) into a size and the
// checkpoint the answer is valid for.
func (r *Registry) resolveSize(ctx context.Context, size uint64) (uint64, *translog.Checkpoint, error) {
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

// parseTime parses an asof= time: RFC 3339 (with or without fractional
// seconds).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, vouch.Invalid("asof %q is not an RFC 3339 time (e.g. 2026-11-25T17:00:00Z)", s)
	}
	return t, nil
}

// OperatorsAt returns the operator chain's state at a tree size, or nil
// before genesis.
func (r *Registry) OperatorsAt(ctx context.Context, size uint64) (*state.Operators, error) {
	return getState[state.Operators](ctx, r, state.OperatorsKey, size)
}

// Status says what this server is doing with the log.
func (r *Registry) Status(ctx context.Context) (*api.Status, error) {
	cp, err := r.lc.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	head, err := r.st.Head(ctx)
	if err != nil {
		return nil, err
	}
	st := &api.Status{Origin: r.Origin(), Integrator: r.Leading(), Sequenced: head.Sequenced, TreeSize: cp.Size, CheckpointTime: cp.Time}
	return st, r.witnessStatus(ctx, st)
}

// HashReader reads the log's stored tree hashes (through the cache).
func (r *Registry) HashReader(ctx context.Context) tlog.HashReader { return r.lc.HashReader(ctx) }

// Checkpoints lists stored checkpoints of size at least from, oldest
// first, at most limit, none newer than the one the registry publishes.
func (r *Registry) Checkpoints(ctx context.Context, from uint64, limit int) ([]*translog.Checkpoint, error) {
	pub, err := r.published(ctx)
	if err != nil {
		return nil, err
	}
	cps, err := r.lc.Checkpoints(ctx, from, limit)
	if err != nil {
		return nil, err
	}
	for i, cp := range cps {
		if cp.Size > pub.Size {
			return cps[:i], nil
		}
	}
	return cps, nil
}
