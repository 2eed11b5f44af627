package logcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
)

// sign integrates leaves after a tree of size old and signs the checkpoint
// of the new tree, through the guard if there is one. It returns the
// checkpoint, the hashes to store and the row to store.
func (l *Log[T]) sign(ctx context.Context, old uint64, leaves []tlog.Hash) (*translog.Checkpoint, []translog.StoredHash, *store.CheckpointRow, error) {
	stored, root, err := translog.Integrate(int64(old), leaves, l.HashReader(ctx))
	if err != nil {
		return nil, nil, nil, err
	}
	size := old + uint64(len(leaves))
	var ext []string
	if l.cfg.Commitment != nil {
		if ext, err = l.cfg.Commitment.Lines(ctx, size); err != nil {
			return nil, nil, nil, err
		}
	}
	var note []byte
	if l.cfg.Guard != nil {
		note, err = l.cfg.Guard.Sign(l.cfg.Signer, size, root, translog.WithHashes(l.HashReader(ctx), stored), ext...)
	} else {
		note, err = translog.Sign(l.cfg.Signer, size, root, ext...)
	}
	if err != nil {
		var fe *translog.ForkError
		if errors.As(err, &fe) {
			l.log.Error("ALARM: the database's log does not extend the newest checkpoint this signer signed; not signing", "err", err)
		}
		return nil, nil, nil, err
	}
	now := l.cfg.Now().UTC()
	cp := &translog.Checkpoint{Origin: l.Origin(), Size: size, Hash: root, Note: note, Time: now}
	return cp, stored, &store.CheckpointRow{Size: size, Time: now, Note: note, Root: root}, nil
}

// integrated records a committed integration.
func (l *Log[T]) integrated(stored []translog.StoredHash, cp *translog.Checkpoint) {
	for _, h := range stored {
		l.hashes.Add(h.Index, h.Hash)
	}
	if l.cfg.Guard != nil {
		l.cfg.Guard.Committed(cp.Note)
		select {
		case l.guardDirty <- struct{}{}:
		default:
		}
	}
	l.setLatest(cp)
}

// abandon tells the guard that a signed checkpoint was not committed.
func (l *Log[T]) abandon(cp *translog.Checkpoint) {
	if l.cfg.Guard == nil {
		return
	}
	if err := l.cfg.Guard.Abandon(cp.Note); err != nil {
		l.log.Error("recording an abandoned checkpoint failed", "size", cp.Size, "err", err)
	}
}

// flushGuard writes the guard's confirmed checkpoint soon after a commit,
// off the write path: a busy log writes it with every new checkpoint
// anyway, so this matters when the log goes quiet.
func (l *Log[T]) flushGuard(ctx context.Context) {
	defer l.wg.Done()
	for {
		select {
		case <-ctx.Done():
			l.cfg.Guard.Flush()
			return
		case <-l.guardDirty:
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
		if err := l.cfg.Guard.Flush(); err != nil {
			l.log.Error("recording the newest checkpoint failed", "err", err)
		}
	}
}

func (l *Log[T]) kickIntegrator() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// integrator integrates what was sequenced but not integrated (always,
// with a shared store; with an exclusive one, only what a restart left),
// while this process leads; otherwise it follows the checkpoints another
// process signs.
func (l *Log[T]) integrator(ctx context.Context) {
	defer l.wg.Done()
	tick := time.NewTicker(l.cfg.PollInterval)
	defer tick.Stop()
	var lease store.Lease
	defer func() {
		if lease != nil {
			lease.Release()
		}
	}()
	lastCheck := time.Now()
	for {
		if lease == nil {
			ls, ok, err := l.st.LeadIntegration(ctx)
			if err != nil && ctx.Err() == nil {
				l.log.Warn("integrator election failed", "err", err)
			}
			if ok {
				lease = ls
				l.leading.Store(true)
				l.log.Info("integrating the log", "origin", l.Origin())
			}
		} else if time.Since(lastCheck) > time.Second {
			lastCheck = time.Now()
			if !lease.Alive(ctx) {
				l.log.Warn("lost the integrator role")
				lease.Release()
				lease = nil
				l.leading.Store(false)
			}
		}
		if lease != nil {
			for {
				more, err := l.integrateOnce(ctx)
				if err != nil {
					if ctx.Err() == nil {
						l.log.Error("integration failed", "err", err)
					}
					break
				}
				if !more {
					break
				}
			}
		} else if err := l.refreshLatest(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("reading the latest checkpoint failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		case <-tick.C:
		}
	}
}

// integrateOnce integrates up to MaxIntegrate sequenced entries and signs a
// checkpoint. It reports whether more work remains.
func (l *Log[T]) integrateOnce(ctx context.Context) (bool, error) {
	// The checkpoint first, then the head: the sequencer may integrate a
	// batch in between, and a head read first could then be older than
	// the checkpoint.
	cur := l.Latest()
	head, err := l.st.Head(ctx)
	if err != nil {
		return false, err
	}
	old := uint64(0)
	if cur != nil {
		old = cur.Size
		if head.Sequenced <= old {
			return false, nil
		}
	}
	to := min(head.Sequenced, old+uint64(l.cfg.MaxIntegrate))
	if l.cfg.Commitment != nil && to > old {
		// A checkpoint commits to what the log derives from its entries
		// only where that was computed: at the end of a sequencing batch.
		if to, err = l.cfg.Commitment.Boundary(ctx, old, to); err != nil || to == 0 {
			return false, err
		}
	}
	leaves, err := l.st.Leaves(ctx, old, to)
	if err != nil {
		return false, err
	}
	lh := make([]tlog.Hash, len(leaves))
	for i, lf := range leaves {
		lh[i] = tlog.RecordHash(lf)
	}
	var cp *translog.Checkpoint
	var stored []translog.StoredHash
	err = l.st.Integrate(ctx, old, func() ([]translog.StoredHash, *store.CheckpointRow, error) {
		var row *store.CheckpointRow
		var err error
		cp, stored, row, err = l.sign(ctx, old, lh)
		return stored, row, err
	})
	if err != nil {
		if cp != nil {
			l.abandon(cp)
		}
		if errors.Is(err, store.ErrConflict) {
			// Another integrator got there first; catch up with it.
			return false, l.refreshLatest(ctx)
		}
		return false, err
	}
	l.integrated(stored, cp)
	return to < head.Sequenced, nil
}

func (l *Log[T]) refreshLatest(ctx context.Context) error {
	row, err := l.st.LatestCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	l.setLatest(l.checkpoint(row))
	return nil
}

func (l *Log[T]) setLatest(cp *translog.Checkpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.latest != nil && cp.Size <= l.latest.Size {
		return
	}
	l.latest = cp
	close(l.changed)
	l.changed = make(chan struct{})
}

// Latest returns the newest checkpoint, or nil before the first one.
func (l *Log[T]) Latest() *translog.Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latest
}

// Changed returns a channel that is closed when a newer checkpoint than
// the current one is known: for followers of the log, such as a witness
// submitter.
func (l *Log[T]) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// WaitCovered waits until a checkpoint covers entry index and returns it.
func (l *Log[T]) WaitCovered(ctx context.Context, index uint64) (*translog.Checkpoint, error) {
	for {
		l.mu.Lock()
		cp, ch := l.latest, l.changed
		l.mu.Unlock()
		if cp != nil && cp.Size > index {
			return cp, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// WaitReady waits until the log has a checkpoint (the integrator signs one
// of size 0 for a new log).
func (l *Log[T]) WaitReady(ctx context.Context) error {
	for {
		l.mu.Lock()
		cp, ch := l.latest, l.changed
		l.mu.Unlock()
		if cp != nil {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the first checkpoint: %w", ctx.Err())
		}
	}
}

// Leading reports whether this process integrates the log.
func (l *Log[T]) Leading() bool { return l.leading.Load() }

// HashReader reads stored tree hashes through the cache.
func (l *Log[T]) HashReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		var miss []int64
		var where []int
		for i, x := range idx {
			if h, ok := l.hashes.Get(x); ok {
				out[i] = h
				continue
			}
			miss = append(miss, x)
			where = append(where, i)
		}
		if len(miss) == 0 {
			return out, nil
		}
		got, err := l.st.ReadHashes(ctx, miss)
		if err != nil {
			return nil, err
		}
		for j, i := range where {
			out[i] = got[j]
			l.hashes.Add(miss[j], got[j])
		}
		return out, nil
	})
}
