// Package registry is the Vouch service core, independent of HTTP: it
// takes submissions, checks their signatures, runs them through the state
// machine and sequences them into the store in batches (group commit); an
// integrator folds sequenced entries into the Merkle tree and signs a
// checkpoint after each batch; and it answers reads of the log and of the
// state at any tree size.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
)

// Config configures a Registry.
type Config struct {
	// Store is the database. Required.
	Store store.Store
	// LogSigner signs checkpoints; its name is the log's origin. Required.
	LogSigner note.Signer
	// LogVKey, if set, is the verifier key of LogSigner: Open refuses a
	// store whose latest checkpoint it does not verify (another log's
	// database, or another log key).
	LogVKey string
	// MaxBatch is the most entries sequenced in one transaction.
	MaxBatch int
	// MaxIntegrate is the most entries integrated under one checkpoint.
	MaxIntegrate int
	// PollInterval is how often a replica that does not integrate looks
	// for new checkpoints, and how often the integrator checks for work it
	// was not told about.
	PollInterval time.Duration
	// Logger receives operational messages.
	Logger *slog.Logger
	// Now returns the current time; tests may replace it.
	Now func() time.Time
	// Blobs stores release content.
	Blobs blob.Store
	// MaxBlobSize limits uploaded and fetched content (default 1 GiB).
	MaxBlobSize int64
	// Fetcher fetches content linked by URL (default NewFetchClient(false)).
	Fetcher *http.Client
	// Operator, if set, signs the records the registry makes on its own:
	// the content monitor's tombstones.
	Operator *keys.PrivateKey
	// MonitorInterval is how often linked content is re-checked (0: never).
	MonitorInterval time.Duration
	// MaxAttestationSize limits an attestation's statement (default 16 MiB).
	MaxAttestationSize int64
	// Keys caches parsed public keys (default: 100,000 of them).
	Keys *state.KeyCache
	// Guard, if set, remembers the newest checkpoint signed outside the
	// database and refuses to sign one that does not extend it, so that a
	// lost or replaced database cannot fork the log. Servers always set
	// it; tests of the core alone may leave it out.
	Guard *translog.Guard
}

// Registry is a running registry core.
type Registry struct {
	cfg    Config
	st     store.Store
	log    *slog.Logger
	queue  chan *pending
	kick   chan struct{}
	hashes *lru.Cache[int64, tlog.Hash]
	// statements caches parsed attestation statements by log index;
	// erasure removes entries.
	statements *lru.Cache[uint64, *record.Statement]
	// stateCache holds decoded latest state objects (nil for absent ones)
	// when this process is the store's only writer; nil otherwise.
	stateCache *lru.Cache[string, any]
	keyCache   *state.KeyCache

	mu      sync.Mutex
	latest  *store.CheckpointRow
	changed chan struct{} // closed and replaced when latest changes

	leading atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  atomic.Bool
	// guardDirty is kicked when the guard has a confirmed checkpoint to
	// write (see flushGuard).
	guardDirty chan struct{}
}

// ErrClosed is returned for work submitted after Close.
var ErrClosed = errors.New("registry is shutting down")

// Open starts a registry on a store: it loads the latest checkpoint (the only
// read at start-up, so start-up time does not depend on the log's size) and
// starts the sequencer and the integrator.
func Open(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.Store == nil || cfg.LogSigner == nil {
		return nil, errors.New("registry: Store and LogSigner are required")
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
	if cfg.MaxBlobSize <= 0 {
		cfg.MaxBlobSize = 1 << 30
	}
	if cfg.MaxAttestationSize <= 0 {
		cfg.MaxAttestationSize = 16 << 20
	}
	if cfg.Fetcher == nil {
		cfg.Fetcher = NewFetchClient(false)
	}
	cache, _ := lru.New[int64, tlog.Hash](1 << 20)
	r := &Registry{
		cfg:        cfg,
		st:         cfg.Store,
		log:        cfg.Logger,
		queue:      make(chan *pending, 4*cfg.MaxBatch),
		kick:       make(chan struct{}, 1),
		hashes:     cache,
		statements: newStatementCache(),
		changed:    make(chan struct{}),
		guardDirty: make(chan struct{}, 1),
		keyCache:   cfg.Keys,
	}
	if r.keyCache == nil {
		r.keyCache = state.NewKeyCache(100_000)
	}
	if r.st.Exclusive() {
		r.stateCache, _ = lru.New[string, any](500_000)
	}
	cp, err := r.st.LatestCheckpoint(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if cp != nil && cfg.LogVKey != "" {
		v, err := translog.NewVerifier(cfg.LogVKey)
		if err != nil {
			return nil, err
		}
		if _, err := v.Open(cp.Note); err != nil {
			return nil, fmt.Errorf("the database holds another log than this data directory's key signs (%v): refusing to sign for it", err)
		}
	}
	if cfg.Guard != nil {
		var dbcp *translog.Checkpoint
		if cp != nil {
			dbcp = &translog.Checkpoint{Origin: r.Origin(), Size: cp.Size, Hash: cp.Root, Note: cp.Note}
		}
		if err := cfg.Guard.Reconcile(dbcp, r.hashReader(ctx)); err != nil {
			return nil, err
		}
	}
	r.latest = cp
	bg, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(2)
	go r.sequencer(bg)
	go r.integrator(bg)
	if cfg.Guard != nil {
		r.wg.Add(1)
		go r.flushGuard(bg)
	}
	if cfg.MonitorInterval > 0 && cfg.Blobs != nil {
		r.wg.Add(1)
		go r.monitor(bg)
	}
	r.kickIntegrator()
	return r, nil
}

// MaxBlobSize returns the content size limit.
func (r *Registry) MaxBlobSize() int64 { return r.cfg.MaxBlobSize }

// MaxAttestationSize returns the statement size limit.
func (r *Registry) MaxAttestationSize() int64 { return r.cfg.MaxAttestationSize }

// Origin returns the log's origin.
func (r *Registry) Origin() string { return r.cfg.LogSigner.Name() }

// Close stops the registry after the work in progress.
func (r *Registry) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.cancel()
	r.wg.Wait()
	return nil
}

// Store returns the registry's store.
func (r *Registry) Store() store.Store { return r.st }

// ---- submissions ----

// Receipt acknowledges a sequenced entry.
type Receipt struct {
	Index    uint64
	LeafHash tlog.Hash
	Time     time.Time
	// Hash is the record hash, for records.
	Hash string
}

type pending struct {
	e    *record.Entry
	off  []store.OffLog
	done chan outcome
}

type outcome struct {
	rc  Receipt
	err error
}

// UnavailableError reports a failure of the registry, not of the request.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "registry unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// Append checks the signatures of entry e, sequences it through the state
// machine and returns once it is durably stored. The error is a
// *state.Refusal if the state machine refused it.
func (r *Registry) Append(ctx context.Context, e *record.Entry, off []store.OffLog) (Receipt, error) {
	if r.closed.Load() {
		return Receipt{}, &UnavailableError{ErrClosed}
	}
	// Check signatures here, in the caller's goroutine, so that batches of
	// submissions are verified in parallel. A key unknown now may still be
	// registered by an earlier entry of the same batch; the state machine
	// looks again then.
	if e.Record != nil {
		if err := e.Verify(r.lookupKey(ctx)); err != nil {
			var uk *record.UnknownKeyError
			if !errors.As(err, &uk) {
				if rf, ok := state.AsRefusal(state.RefusalOf(err)); ok {
					return Receipt{}, rf
				}
				return Receipt{}, &UnavailableError{err}
			}
		}
	}
	if err := r.checkContent(ctx, e); err != nil {
		return Receipt{}, err
	}
	p := &pending{e: e, off: off, done: make(chan outcome, 1)}
	select {
	case r.queue <- p:
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	}
	// Once queued, the entry will be sequenced or refused whatever the
	// caller does; wait for the outcome so the answer is truthful.
	o := <-p.done
	return o.rc, o.err
}

// lookupKey finds registered public keys for signature checks outside the
// sequencer. A key ID names one key forever, so found keys are cached.
func (r *Registry) lookupKey(ctx context.Context) record.KeyLookup {
	return func(id string) (*keys.PublicKey, error) {
		if p, ok := r.keyCache.Get(id); ok {
			return p, nil
		}
		b, err := r.st.Get(ctx, state.IdentityKey(id), maxSize)
		if err != nil || b == nil {
			return nil, err
		}
		ident, err := state.Decode[state.Identity](b)
		if err != nil {
			return nil, err
		}
		return r.keyCache.Parse(ident)
	}
}

// maxSize reads the latest state.
const maxSize = 1<<63 - 1

func (r *Registry) sequencer(ctx context.Context) {
	defer r.wg.Done()
	for {
		var first *pending
		select {
		case first = <-r.queue:
		case <-ctx.Done():
			r.drain(ctx.Err())
			return
		}
		batch := []*pending{first}
	fill:
		for len(batch) < r.cfg.MaxBatch {
			select {
			case p := <-r.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		r.sequence(batch)
	}
}

// drain fails everything still queued at shutdown.
func (r *Registry) drain(err error) {
	for {
		select {
		case p := <-r.queue:
			p.done <- outcome{err: &UnavailableError{err}}
		default:
			return
		}
	}
}

// sequence runs one batch through the state machine and stores the accepted
// entries in one transaction. When this process is the store's only writer
// and the tree is up to date, the same transaction also integrates the
// batch and stores its checkpoint: one commit makes the entries durable
// and provable.
func (r *Registry) sequence(batch []*pending) {
	results := make([]outcome, len(batch))
	// A batch is not cancelled by shutdown: it commits or fails as a whole.
	ctx := context.Background()
	var view *batchView
	var cp *store.CheckpointRow
	var stored []translog.StoredHash
	err := r.st.Sequence(ctx, func(tx store.SeqTx) error {
		view = newBatchView(tx, r.stateCache)
		entries := make([]*record.Entry, len(batch))
		for i, p := range batch {
			entries[i] = p.e
		}
		if err := view.prefetch(entries); err != nil {
			return err
		}
		start := tx.Head()
		var leafHashes []tlog.Hash
		for i, p := range batch {
			head := tx.Head()
			now := r.cfg.Now().UTC()
			if now.Before(head.LastTime) {
				now = head.LastTime // log time never goes backwards
			}
			env := state.Env{Index: head.Sequenced, Time: now, Keys: r.keyCache}
			changes, err := state.Apply(view, p.e, env)
			if err != nil {
				if _, ok := state.AsRefusal(err); ok {
					results[i] = outcome{err: err}
					continue
				}
				return err
			}
			leaf, err := p.e.Leaf(now)
			if err != nil {
				results[i] = outcome{err: &state.Refusal{Code: state.CodeTooLarge, Msg: err.Error()}}
				continue
			}
			kvs, err := view.record(changes)
			if err != nil {
				return err
			}
			if err := tx.Append(entryRow(p.e, leaf, env.Index), kvs, p.off); err != nil {
				return err
			}
			rc := Receipt{Index: env.Index, LeafHash: tlog.RecordHash(leaf), Time: now}
			if p.e.Record != nil {
				rc.Hash = p.e.Hash()
			}
			leafHashes = append(leafHashes, rc.LeafHash)
			results[i] = outcome{rc: rc}
		}
		if cur := r.Latest(); r.stateCache != nil && cur != nil && cur.Size == start.Sequenced && len(leafHashes) > 0 {
			return tx.Integrate(cur.Size, func() ([]translog.StoredHash, *store.CheckpointRow, error) {
				var err error
				cp, stored, err = r.checkpointFor(ctx, cur.Size, leafHashes)
				return stored, cp, err
			})
		}
		return nil
	})
	if err != nil {
		if cp != nil {
			r.abandon(cp)
			cp = nil
		}
		r.log.Error("sequencing failed", "entries", len(batch), "err", err)
		for i := range results {
			results[i] = outcome{err: &UnavailableError{err}}
		}
		if r.stateCache != nil {
			// A failed commit may leave SQLite's view and ours apart; start over.
			r.stateCache.Purge()
		}
	} else {
		view.commit()
		if cp != nil {
			r.integrated(stored, cp)
		} else {
			r.kickIntegrator()
		}
	}
	var effects []*record.Entry
	for i, p := range batch {
		if results[i].err == nil && p.e.Record != nil && p.e.Record.Type == record.TypeBanish {
			effects = append(effects, p.e)
		}
		p.done <- results[i]
	}
	if len(effects) > 0 {
		go r.afterCommit(effects)
	}
}

// checkpointFor integrates leaves after a tree of size old and signs the
// checkpoint of the new tree.
func (r *Registry) checkpointFor(ctx context.Context, old uint64, leafHashes []tlog.Hash) (*store.CheckpointRow, []translog.StoredHash, error) {
	stored, root, err := translog.Integrate(int64(old), leafHashes, r.hashReader(ctx))
	if err != nil {
		return nil, nil, err
	}
	size := old + uint64(len(leafHashes))
	var note []byte
	if r.cfg.Guard != nil {
		note, err = r.cfg.Guard.Sign(r.cfg.LogSigner, size, root, translog.WithHashes(r.hashReader(ctx), stored))
	} else {
		note, err = translog.Sign(r.cfg.LogSigner, size, root)
	}
	if err != nil {
		var fe *translog.ForkError
		if errors.As(err, &fe) {
			r.log.Error("ALARM: the database's log does not extend the newest checkpoint this signer signed; not signing", "err", err)
		}
		return nil, nil, err
	}
	return &store.CheckpointRow{Size: size, Time: r.cfg.Now().UTC(), Note: note, Root: root}, stored, nil
}

// integrated records a committed integration.
func (r *Registry) integrated(stored []translog.StoredHash, cp *store.CheckpointRow) {
	for _, h := range stored {
		r.hashes.Add(h.Index, h.Hash)
	}
	if r.cfg.Guard != nil {
		r.cfg.Guard.Committed(cp.Note)
		select {
		case r.guardDirty <- struct{}{}:
		default:
		}
	}
	r.setLatest(cp)
}

// abandon tells the guard that a signed checkpoint was not committed.
func (r *Registry) abandon(cp *store.CheckpointRow) {
	if r.cfg.Guard == nil {
		return
	}
	if err := r.cfg.Guard.Abandon(cp.Note); err != nil {
		r.log.Error("recording an abandoned checkpoint failed", "size", cp.Size, "err", err)
	}
}

// flushGuard writes the guard's confirmed checkpoint soon after a commit,
// off the write path: a busy log writes it with every new checkpoint
// anyway, so this matters when the log goes quiet.
func (r *Registry) flushGuard(ctx context.Context) {
	defer r.wg.Done()
	for {
		select {
		case <-ctx.Done():
			r.cfg.Guard.Flush()
			return
		case <-r.guardDirty:
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
		if err := r.cfg.Guard.Flush(); err != nil {
			r.log.Error("recording the newest checkpoint failed", "err", err)
		}
	}
}

// entryRow derives the stored row and its index fields from an entry.
func entryRow(e *record.Entry, leaf []byte, idx uint64) *store.EntryRow {
	row := &store.EntryRow{Index: idx, Leaf: leaf, Time: e.Time, Kind: string(e.Kind())}
	if rec := e.Record; rec != nil {
		row.Type, row.Package, row.Version = rec.Type, rec.Package, rec.Version
		row.PayloadDigest = e.Hash()
		if rec.Digest != "" {
			row.Subjects = []string{rec.Digest}
		}
	}
	if a := e.Attestation; a != nil {
		row.Type = string(record.KindAttestation)
		row.Statement = e.Payload
		row.PredicateType = a.PredicateType
		row.PayloadDigest = a.PayloadDigest
		row.Subjects = a.Subjects
	}
	row.Signers = e.KeyIDs()
	return row
}

// ---- integration ----

func (r *Registry) kickIntegrator() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Registry) integrator(ctx context.Context) {
	defer r.wg.Done()
	tick := time.NewTicker(r.cfg.PollInterval)
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
			l, ok, err := r.st.LeadIntegration(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.Warn("integrator election failed", "err", err)
			}
			if ok {
				lease = l
				r.leading.Store(true)
				r.log.Info("integrating the log", "origin", r.Origin())
			}
		} else if time.Since(lastCheck) > time.Second {
			lastCheck = time.Now()
			if !lease.Alive(ctx) {
				r.log.Warn("lost the integrator role")
				lease.Release()
				lease = nil
				r.leading.Store(false)
			}
		}
		if lease != nil {
			for {
				more, err := r.integrateOnce(ctx)
				if err != nil {
					if ctx.Err() == nil {
						r.log.Error("integration failed", "err", err)
					}
					break
				}
				if !more {
					break
				}
			}
		} else if err := r.refreshLatest(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reading the latest checkpoint failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-tick.C:
		}
	}
}

// integrateOnce integrates up to MaxIntegrate sequenced entries and signs a
// checkpoint. It reports whether more work remains.
func (r *Registry) integrateOnce(ctx context.Context) (bool, error) {
	// The checkpoint first, then the head: the sequencer may integrate a
	// batch in between, and a head read first could then be older than
	// the checkpoint.
	cur := r.Latest()
	head, err := r.st.Head(ctx)
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
	to := min(head.Sequenced, old+uint64(r.cfg.MaxIntegrate))
	leaves, err := r.st.Leaves(ctx, old, to)
	if err != nil {
		return false, err
	}
	lh := make([]tlog.Hash, len(leaves))
	for i, l := range leaves {
		lh[i] = tlog.RecordHash(l)
	}
	var cp *store.CheckpointRow
	var stored []translog.StoredHash
	err = r.st.Integrate(ctx, old, func() ([]translog.StoredHash, *store.CheckpointRow, error) {
		var err error
		cp, stored, err = r.checkpointFor(ctx, old, lh)
		return stored, cp, err
	})
	if err != nil {
		if cp != nil {
			r.abandon(cp)
		}
		if errors.Is(err, store.ErrConflict) {
			// Another integrator got there first; catch up with it.
			return false, r.refreshLatest(ctx)
		}
		return false, err
	}
	r.integrated(stored, cp)
	return to < head.Sequenced, nil
}

func (r *Registry) refreshLatest(ctx context.Context) error {
	cp, err := r.st.LatestCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	r.setLatest(cp)
	return nil
}

func (r *Registry) setLatest(cp *store.CheckpointRow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.latest != nil && cp.Size <= r.latest.Size {
		return
	}
	r.latest = cp
	close(r.changed)
	r.changed = make(chan struct{})
}

// Latest returns the newest checkpoint, or nil before the first one.
func (r *Registry) Latest() *store.CheckpointRow {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest
}

// WaitCovered waits until a checkpoint covers entry index and returns it.
func (r *Registry) WaitCovered(ctx context.Context, index uint64) (*store.CheckpointRow, error) {
	for {
		r.mu.Lock()
		cp, ch := r.latest, r.changed
		r.mu.Unlock()
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
func (r *Registry) WaitReady(ctx context.Context) error {
	for {
		r.mu.Lock()
		cp, ch := r.latest, r.changed
		r.mu.Unlock()
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

// hashReader reads stored tree hashes through the cache.
func (r *Registry) hashReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		var miss []int64
		var where []int
		for i, x := range idx {
			if h, ok := r.hashes.Get(x); ok {
				out[i] = h
				continue
			}
			miss = append(miss, x)
			where = append(where, i)
		}
		if len(miss) == 0 {
			return out, nil
		}
		got, err := r.st.ReadHashes(ctx, miss)
		if err != nil {
			return nil, err
		}
		for j, i := range where {
			out[i] = got[j]
			r.hashes.Add(miss[j], got[j])
		}
		return out, nil
	})
}
