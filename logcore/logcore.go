// Package logcore is the log at the heart of a registry. It sequences
// submissions into the store in batches (group commit), integrates them
// into the Merkle tree, signs checkpoints through a guard that never signs
// a fork, elects one integrator among replicas, and answers the log's
// reads: checkpoints, tiles, entry bundles, inclusion and consistency
// proofs.
//
// Its API follows the stages of an entry, in the spirit of Tessera's:
// Append returns once the entry is durably sequenced at an index;
// WaitCovered waits until a checkpoint covers that index; Latest reads the
// newest checkpoint. What an entry means is the caller's business: a Decide
// function, run inside each batch's transaction, says which submissions
// become entries, and what else to store with them. With an exclusive
// store (SQLite), the same transaction also integrates the batch and
// stores its checkpoint, so one commit makes entries durable and provable.
package logcore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
)

// Storage is what the log needs from the database.
type Storage interface {
	store.Log
	store.Checkpoints
}

// Config configures a Log.
type Config struct {
	// Store is the database. Required.
	Store Storage
	// Signer signs checkpoints; its name is the log's origin. Without a
	// Signer the log is read-only (a mirror's copy of another log): it
	// sequences and signs nothing, and follows the checkpoints stored by
	// whoever writes the store (see Refresh); Origin must then be set.
	Signer note.Signer
	// Origin is the log's origin when there is no Signer.
	Origin string
	// VKey, if set, is the verifier key of Signer: Open refuses a store
	// whose latest checkpoint it does not verify (another log's database,
	// or another log key).
	VKey string
	// Continues, if set, is the last checkpoint of the log this one
	// continues after a key rotation (same tree, the previous origin and
	// key), verified with ContinuesKey: until this log signs its first
	// checkpoint, the store's newest checkpoint is that one.
	Continues    *translog.Checkpoint
	ContinuesKey *translog.Verifier
	// Guard, if set, remembers the newest checkpoint signed, outside the
	// database, and refuses to sign one that does not extend it (see
	// translog.Guard). Servers always set it.
	Guard *translog.Guard
	// Commitment, if set, adds extension lines to every checkpoint the
	// log signs: what the log commits to beside its tree (the verifiable
	// index's root).
	Commitment Commitment
	// MaxBatch is the most submissions sequenced in one transaction
	// (default 2048).
	MaxBatch int
	// MaxIntegrate is the most entries integrated under one checkpoint
	// (default 16384).
	MaxIntegrate int
	// PollInterval is how often a replica that does not integrate looks
	// for new checkpoints, and how often the integrator looks for work it
	// was not told about (default 50 ms).
	PollInterval time.Duration
	// Logger receives operational messages.
	Logger *slog.Logger
	// Now returns the current time; tests may replace it.
	Now func() time.Time
	// Metrics, if set, records the sizes of sequencing batches.
	Metrics *metrics.Metrics
}

// Commitment is data derived from the log that its checkpoints commit to,
// through extension lines.
type Commitment interface {
	// Lines returns the extension lines of the checkpoint of the tree of
	// size size. It is called inside the transaction that stores the
	// checkpoint, possibly the one that sequenced the entries.
	Lines(ctx context.Context, size uint64) ([]string, error)
	// Boundary returns the largest tree size in (old, to] that Lines can
	// commit to, or 0 if there is none yet.
	Boundary(ctx context.Context, old, to uint64) (uint64, error)
}

// Decide is the caller's half of sequencing. It runs inside the
// transaction of one batch and, for each item in order, either appends it
// (Batch.Append) or refuses it (Batch.Refuse). An error fails the whole
// batch (every item gets a *vouch.UnavailableError): nothing of it is stored. after, if not nil, is called once the
// transaction has committed (true) or failed (false), after every item's
// Append has returned.
type Decide[T any] func(b *Batch, items []T) (after func(committed bool), err error)

// Appended says where an entry went.
type Appended struct {
	Index    uint64
	LeafHash tlog.Hash
	// Time is the entry's log time.
	Time time.Time
}

// Log is a running log core. Submissions of type T are sequenced by the
// Decide function it was opened with.
type Log[T any] struct {
	cfg    Config
	st     Storage
	log    *slog.Logger
	decide Decide[T]
	queue  chan *pending[T]
	kick   chan struct{}
	hashes *lru.Cache[int64, tlog.Hash]

	mu      sync.Mutex
	latest  *translog.Checkpoint
	changed chan struct{} // closed and replaced when latest changes

	leading    atomic.Bool
	guardDirty chan struct{}
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	closed     atomic.Bool
}

type pending[T any] struct {
	item T
	done chan outcome
}

type outcome struct {
	a   Appended
	err error
}

// Open starts a log on a store: it loads the latest checkpoint (the only
// read at start-up, so start-up time does not depend on the log's size),
// settles the guard against it, and starts the sequencer and the
// integrator.
func Open[T any](ctx context.Context, cfg Config, decide Decide[T]) (*Log[T], error) {
	if cfg.Store == nil || decide == nil {
		return nil, errors.New("logcore: a Store and a Decide function are required")
	}
	if cfg.Signer == nil && cfg.Origin == "" {
		return nil, errors.New("logcore: a read-only log needs its Origin")
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2048
	}
	if cfg.MaxIntegrate <= 0 {
		cfg.MaxIntegrate = 16384
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cache, _ := lru.New[int64, tlog.Hash](1 << 20)
	l := &Log[T]{
		cfg: cfg, st: cfg.Store, log: cfg.Logger, decide: decide,
		queue:      make(chan *pending[T], 4*cfg.MaxBatch),
		kick:       make(chan struct{}, 1),
		hashes:     cache,
		changed:    make(chan struct{}),
		guardDirty: make(chan struct{}, 1),
	}
	row, err := l.st.LatestCheckpoint(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var latest *translog.Checkpoint
	if row != nil {
		l.latest = l.checkpoint(row)
		latest = l.latest
		if cfg.VKey != "" {
			v, err := translog.NewVerifier(cfg.VKey)
			if err != nil {
				return nil, err
			}
			if _, err := v.Open(row.Note); err != nil {
				if continuing, cerr := l.continuing(row); cerr != nil || !continuing {
					return nil, fmt.Errorf("the database holds another log than this data directory's key signs (%v): refusing to sign for it%s", err, errSuffix(cerr))
				}
				latest = nil // the guard of the new key starts with its first checkpoint
			}
		}
	}
	if cfg.Guard != nil {
		if err := cfg.Guard.Reconcile(latest, l.HashReader(ctx)); err != nil {
			return nil, err
		}
	}
	bg, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	if cfg.Signer == nil {
		l.wg.Add(1)
		go l.follower(bg)
		return l, nil
	}
	l.wg.Add(2)
	go l.sequencer(bg)
	go l.integrator(bg)
	if cfg.Guard != nil {
		l.wg.Add(1)
		go l.flushGuard(bg)
	}
	l.kickIntegrator()
	return l, nil
}

// checkpoint converts a stored checkpoint.
func (l *Log[T]) checkpoint(row *store.CheckpointRow) *translog.Checkpoint {
	return &translog.Checkpoint{Origin: l.Origin(), Size: row.Size, Hash: row.Root, Note: row.Note, Time: row.Time}
}

// Origin returns the log's origin.
func (l *Log[T]) Origin() string {
	if l.cfg.Signer == nil {
		return l.cfg.Origin
	}
	return l.cfg.Signer.Name()
}

// ReadOnly reports whether the log is a read-only copy (no Signer).
func (l *Log[T]) ReadOnly() bool { return l.cfg.Signer == nil }

// Refresh reads the newest checkpoint from the store: for a read-only log,
// after its writer stored one.
func (l *Log[T]) Refresh(ctx context.Context) error { return l.refreshLatest(ctx) }

// follower keeps a read-only log's checkpoint current.
func (l *Log[T]) follower(ctx context.Context) {
	defer l.wg.Done()
	tick := time.NewTicker(l.cfg.PollInterval)
	defer tick.Stop()
	for {
		if err := l.refreshLatest(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("reading the latest checkpoint failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Close stops the log after the work in progress; submissions still
// queued fail with ErrClosed.
func (l *Log[T]) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.cancel()
	l.wg.Wait()
	return nil
}

// Append queues an item to be sequenced and returns once the batch that
// holds it has committed: the entry is durable at the returned index. The
// error is the one its Decide gave to Batch.Refuse, or a failure of the
// batch. Once queued, an item is sequenced or refused whatever ctx does,
// and Append waits for the outcome, so the answer is always truthful.
func (l *Log[T]) Append(ctx context.Context, item T) (Appended, error) {
	if l.closed.Load() {
		return Appended{}, &vouch.UnavailableError{Err: vouch.ErrClosed}
	}
	if l.cfg.Signer == nil {
		return Appended{}, &vouch.UnavailableError{Err: errors.New("this log is a read-only copy")}
	}
	p := &pending[T]{item: item, done: make(chan outcome, 1)}
	select {
	case l.queue <- p:
	case <-ctx.Done():
		return Appended{}, ctx.Err()
	}
	o := <-p.done
	return o.a, o.err
}
