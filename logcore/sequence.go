package logcore

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
)

// Batch is one sequencing transaction, as its Decide function sees it.
type Batch struct {
	tx      store.SeqTx
	now     func() time.Time
	next    *Appended // the position the next Append takes, once asked
	results []outcome
	decided []bool
	leaves  []tlog.Hash
}

// Tx returns the sequencing transaction, for the caller's reads.
func (b *Batch) Tx() store.SeqTx { return b.tx }

// Next returns the index and log time that the next appended entry takes.
// Log time never goes backwards.
func (b *Batch) Next() (index uint64, t time.Time) {
	if b.next == nil {
		head := b.tx.Head()
		now := b.now().UTC()
		if now.Before(head.LastTime) {
			now = head.LastTime
		}
		b.next = &Appended{Index: head.Sequenced, Time: now}
	}
	return b.next.Index, b.next.Time
}

// Append stores item i as the next entry: row (whose Index and Time must
// be what Next returned), the state objects it changes and its off-log
// data.
func (b *Batch) Append(i int, row *store.EntryRow, changes []store.KV, off []store.OffLog) error {
	idx, t := b.Next()
	if row.Index != idx || !row.Time.Equal(t) {
		return fmt.Errorf("logcore: entry appended at %d (%v), but the next position is %d (%v)", row.Index, row.Time, idx, t)
	}
	if b.decided[i] {
		return fmt.Errorf("logcore: item %d decided twice", i)
	}
	if err := b.tx.Append(row, changes, off); err != nil {
		return err
	}
	a := *b.next
	a.LeafHash = tlog.RecordHash(row.Leaf)
	b.next = nil
	b.results[i], b.decided[i] = outcome{a: a}, true
	b.leaves = append(b.leaves, a.LeafHash)
	return nil
}

// Refuse records that item i is not logged, and why.
func (b *Batch) Refuse(i int, err error) {
	b.results[i], b.decided[i] = outcome{err: err}, true
}

func (l *Log[T]) sequencer(ctx context.Context) {
	defer l.wg.Done()
	for {
		var first *pending[T]
		select {
		case first = <-l.queue:
		case <-ctx.Done():
			l.drain()
			return
		}
		batch := []*pending[T]{first}
	fill:
		for len(batch) < l.cfg.MaxBatch {
			select {
			case p := <-l.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		l.sequence(batch)
	}
}

// drain fails everything still queued at shutdown.
func (l *Log[T]) drain() {
	for {
		select {
		case p := <-l.queue:
			p.done <- outcome{err: &vouch.UnavailableError{Err: vouch.ErrClosed}}
		default:
			return
		}
	}
}

// sequence runs one batch through Decide and stores the appended entries
// in one transaction. When the store is exclusive and the tree is up to
// date, the same transaction integrates the batch and stores its
// checkpoint.
func (l *Log[T]) sequence(batch []*pending[T]) {
	items := make([]T, len(batch))
	for i, p := range batch {
		items[i] = p.item
	}
	b := &Batch{now: l.cfg.Now, results: make([]outcome, len(batch)), decided: make([]bool, len(batch))}
	l.cfg.Metrics.ObserveBatch(len(batch))
	// A batch is not cancelled by shutdown: it commits or fails as a whole.
	ctx := context.Background()
	var after func(bool)
	var cp *translog.Checkpoint
	var stored []translog.StoredHash
	err := l.st.Sequence(ctx, func(tx store.SeqTx) error {
		b.tx = tx
		start := tx.Head()
		var err error
		if after, err = l.decide(b, items); err != nil {
			return err
		}
		for i, d := range b.decided {
			if !d {
				return fmt.Errorf("logcore: Decide left item %d undecided", i)
			}
		}
		if cur := l.Latest(); l.st.Exclusive() && cur != nil && cur.Size == start.Sequenced && len(b.leaves) > 0 {
			return tx.Integrate(cur.Size, func() ([]translog.StoredHash, *store.CheckpointRow, error) {
				var row *store.CheckpointRow
				var err error
				cp, stored, row, err = l.sign(ctx, cur.Size, b.leaves)
				return stored, row, err
			})
		}
		return nil
	})
	if err != nil {
		if cp != nil {
			l.abandon(cp)
			cp = nil
		}
		l.log.Error("sequencing failed", "entries", len(batch), "err", err)
		for i := range b.results {
			b.results[i] = outcome{err: &vouch.UnavailableError{Err: err}}
		}
	} else if cp != nil {
		l.integrated(stored, cp)
	} else if len(b.leaves) > 0 {
		l.kickIntegrator()
	}
	for i, p := range batch {
		p.done <- b.results[i]
	}
	if after != nil {
		after(err == nil)
	}
}
