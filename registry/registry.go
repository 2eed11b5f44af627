// Package registry is the Vouch service core, independent of HTTP: it
// takes submissions, checks their signatures and content, runs them through
// the state machine inside the log's sequencing transactions (package
// logcore does the sequencing, integration and signing), and answers reads
// of the state at any tree size, the query, and erasure.
package registry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/content"
	"github.com/vouchdev/vouch/cosign"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/logcore"
	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/sigstore"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/vindex"
)

// Config configures a Registry.
type Config struct {
	// Store is the database. Required.
	Store store.Store
	// LogSigner signs checkpoints; its name is the log's origin. Without
	// it the registry is a read-only copy of another registry's log (a
	// mirror, fed by Replicate), whose origin is Origin.
	LogSigner note.Signer
	// Origin is the origin of a mirrored log (with no LogSigner).
	Origin string
	// LogVKey, if set, is the verifier key of LogSigner: Open refuses a
	// store whose latest checkpoint it does not verify (another log's
	// database, or another log key).
	LogVKey string
	// Continues and ContinuesKey are, for a log that continues another
	// after a key rotation, the other log's last checkpoint and key (see
	// EnsureContinued).
	Continues    *translog.Checkpoint
	ContinuesKey *translog.Verifier
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
	// Fetcher fetches content linked by URL (default
	// content.NewClient(false): public addresses only).
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
	// WitnessPolicy, if set, makes the registry get its checkpoints
	// cosigned by the policy's witnesses and publish only those that meet
	// its quorum (see package cosign).
	WitnessPolicy *cosign.Policy
	// WitnessInterval is the least time between two rounds of
	// submissions to the witnesses (default 500 ms).
	WitnessInterval time.Duration
	// WitnessClient makes the requests to witnesses (default: 10 s timeout).
	WitnessClient *http.Client
	// Guard, if set, remembers the newest checkpoint signed outside the
	// database and refuses to sign one that does not extend it, so that a
	// lost or replaced database cannot fork the log. Servers always set
	// it; tests of the core alone may leave it out.
	Guard *translog.Guard
	// Sigstore are the trusted roots keyless Sigstore bundles are
	// verified against (none: keyless bundles are refused).
	Sigstore *sigstore.Roots
	// Metrics, if set, records the registry's metrics (see package metrics).
	Metrics *metrics.Metrics
}

// Registry is a running registry core.
type Registry struct {
	cfg Config
	st  store.Store
	log *slog.Logger
	lc  *logcore.Log[*pending]
	// statements caches parsed attestation statements by log index;
	// erasure removes entries.
	statements *lru.Cache[uint64, *record.Statement]
	// stateCache holds the latest state objects, decoded (nil for absent
	// ones) and as stored, when this process is the store's only writer;
	// nil otherwise.
	stateCache *lru.Cache[string, stateObject]
	// indexCache holds the newest nodes of the verifiable index, likewise;
	// pendingIndex is the root of the batch being sequenced.
	indexCache   *vindex.Cache
	pendingIndex pendingRoot
	keyCache     *state.KeyCache
	fetcher      *content.Fetcher
	witnessing   *witnessing // nil without a witness policy
	// digests caches the sha384 and sha512 digests of content this
	// process stored, by sha256 digest (see contentDigests).
	digests *lru.Cache[string, []string]
	proofs  proofWatch // submissions waiting for a checkpoint, for metrics

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

// ErrClosed is returned for work submitted after Close.
var ErrClosed = vouch.ErrClosed

// Open starts a registry on a store: it opens the log (the only read at
// start-up is the latest checkpoint, so start-up time does not depend on
// the log's size) and starts the content monitor if asked.
func Open(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.Store == nil || cfg.LogSigner == nil && cfg.Origin == "" {
		return nil, errors.New("registry: a Store, and a LogSigner or (for a mirror) an Origin, are required")
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
		cfg.Fetcher = content.NewClient(false)
	}
	r := &Registry{
		cfg:        cfg,
		st:         cfg.Store,
		log:        cfg.Logger,
		statements: newStatementCache(),
		keyCache:   cfg.Keys,
		digests:    newDigestCache(),
	}
	if r.keyCache == nil {
		r.keyCache = state.NewKeyCache(100_000)
	}
	if cfg.Blobs != nil {
		r.fetcher = &content.Fetcher{Client: cfg.Fetcher, Blobs: digestingBlobs{cfg.Blobs, r.digests}, MaxSize: cfg.MaxBlobSize}
	}
	if r.st.Exclusive() {
		r.stateCache, _ = lru.New[string, stateObject](500_000)
		r.indexCache = vindex.NewCache(1 << 18)
	}
	lc, err := logcore.Open(ctx, logcore.Config{
		Store: cfg.Store, Signer: cfg.LogSigner, Origin: cfg.Origin, VKey: cfg.LogVKey, Guard: cfg.Guard,
		Continues: cfg.Continues, ContinuesKey: cfg.ContinuesKey,
		MaxBatch: cfg.MaxBatch, MaxIntegrate: cfg.MaxIntegrate, PollInterval: cfg.PollInterval,
		Logger: cfg.Logger, Now: cfg.Now, Commitment: commitment{r}, Metrics: cfg.Metrics,
	}, r.decide)
	if err != nil {
		return nil, err
	}
	r.lc = lc
	bg, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if cfg.WitnessPolicy != nil {
		if err := r.startWitnessing(bg); err != nil {
			cancel()
			lc.Close()
			return nil, err
		}
	}
	r.startMetrics(bg)
	if r.indexCache != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.warmIndex(bg)
		}()
	}
	if cfg.MonitorInterval > 0 && cfg.Blobs != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			// One monitor per registry: the integrator's.
			r.monitorer().Run(bg, cfg.MonitorInterval, r.Leading)
		}()
	}
	return r, nil
}

// MaxBlobSize returns the content size limit.
func (r *Registry) MaxBlobSize() int64 { return r.cfg.MaxBlobSize }

// MaxAttestationSize returns the statement size limit.
func (r *Registry) MaxAttestationSize() int64 { return r.cfg.MaxAttestationSize }

// Origin returns the log's origin.
func (r *Registry) Origin() string { return r.lc.Origin() }

// Close stops the registry after the work in progress.
func (r *Registry) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.cancel()
	r.wg.Wait()
	return r.lc.Close()
}

// Store returns the registry's store.
func (r *Registry) Store() store.Store { return r.st }

// ---- submissions ----

// Receipt acknowledges a sequenced entry.
type Receipt = vouch.Receipt

// pending is a submission on its way into the log.
type pending struct {
	e   *record.Entry
	off []store.OffLog
	// keyless is a keyless attestation's off-log data.
	keyless *store.Keyless
}

// UnavailableError reports a failure of the registry, not of the request.
type UnavailableError = vouch.UnavailableError

// Append checks the signatures of entry e, sequences it through the state
// machine and returns once it is durably stored. The error is a
// *state.Refusal if the state machine refused it.
func (r *Registry) Append(ctx context.Context, e *record.Entry, off []store.OffLog) (Receipt, error) {
	return r.append(ctx, &pending{e: e, off: off})
}

func (r *Registry) append(ctx context.Context, p *pending) (Receipt, error) {
	e := p.e
	if r.closed.Load() {
		return Receipt{}, &UnavailableError{Err: ErrClosed}
	}
	// Check signatures here, in the caller's goroutine, so that batches of
	// submissions are verified in parallel. A key unknown now may still be
	// registered by an earlier entry of the same batch; the state machine
	// looks again then.
	if e.Record != nil || e.Import != nil {
		if err := e.Verify(r.lookupKey(ctx)); err != nil {
			var uk *record.UnknownKeyError
			if !errors.As(err, &uk) {
				if rf, ok := state.AsRefusal(state.RefusalOf(err)); ok {
					return Receipt{}, rf
				}
				return Receipt{}, &UnavailableError{Err: err}
			}
		}
	}
	if err := r.checkContent(ctx, e); err != nil {
		return Receipt{}, err
	}
	a, err := r.lc.Append(ctx, p)
	if err != nil {
		return Receipt{}, err
	}
	rc := Receipt{Index: a.Index, LeafHash: a.LeafHash, Time: a.Time}
	if e.Record != nil || e.Import != nil && e.Inner.Record != nil {
		rc.Hash = e.Hash()
	}
	return rc, nil
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

// decide is the registry's half of sequencing a batch (see logcore.Decide):
// it runs every submission through the state machine, over the committed
// state plus the changes of the entries accepted earlier in the batch, and
// appends the accepted ones with the state objects they change.
func (r *Registry) decide(b *logcore.Batch, items []*pending) (func(bool), error) {
	view := newBatchView(b.Tx(), r.stateCache)
	entries := make([]*record.Entry, len(items))
	for i, p := range items {
		entries[i] = p.e
	}
	ahead, err := r.readIndexAhead(b.Tx(), entries)
	if err != nil {
		return nil, err
	}
	// Its reads use the transaction, which ends when decide returns.
	defer ahead.wait()
	if err := view.prefetch(entries); err != nil {
		return nil, err
	}
	var effects []*record.Entry
	ib := vindex.NewBatch()
	appended := 0
	for i, p := range items {
		idx, now := b.Next()
		env := state.Env{Index: idx, Time: now, Keys: r.keyCache, Self: r.self()}
		changes, err := state.Apply(view, p.e, env)
		if err != nil {
			if _, ok := state.AsRefusal(err); ok {
				b.Refuse(i, err)
				continue
			}
			return nil, err
		}
		leaf, err := p.e.Leaf(now)
		if err != nil {
			b.Refuse(i, &state.Refusal{Code: state.CodeTooLarge, Msg: err.Error()})
			continue
		}
		kvs, err := view.record(changes)
		if err != nil {
			return nil, err
		}
		row := entryRow(p.e, leaf, idx, changes)
		row.Keyless = p.keyless
		if err := b.Append(i, row, kvs, p.off); err != nil {
			return nil, err
		}
		ib.Add(idx, p.e, changes)
		appended++
		if p.e.Record != nil && p.e.Record.Type == record.TypeBanish {
			effects = append(effects, p.e)
		}
	}
	var index *vindex.Update
	if appended > 0 {
		size := b.Tx().Head().Sequenced
		u, err := ahead.wait()
		if err != nil {
			return nil, err
		}
		job, err := r.startIndex(context.Background(), b.Tx(), view, size, ib, u)
		if err != nil {
			return nil, err
		}
		// The index takes as long to compute as the batch's rows take to
		// write, and the two do not depend on each other: do both at once.
		ferr := b.Tx().Flush()
		var root [32]byte
		index, root, err = job.finish(b.Tx())
		if err = errors.Join(ferr, err); err != nil {
			return nil, err
		}
		r.pendingIndex.set(size, &root)
	}
	return func(committed bool) {
		r.pendingIndex.set(0, nil)
		switch {
		case committed:
			if index != nil {
				index.Commit()
			}
			view.commit()
			if len(effects) > 0 {
				go r.afterCommit(effects)
			}
		case r.stateCache != nil:
			// A failed commit may leave SQLite's view and ours apart; start over.
			r.stateCache.Purge()
		}
	}, nil
}

// self names this registry to the state machine (moves and imports).
func (r *Registry) self() *state.Location {
	if r.cfg.LogVKey == "" {
		return nil
	}
	return &state.Location{Origin: r.Origin(), Key: r.cfg.LogVKey}
}

// entryRow derives the stored row and its index fields from an entry and
// the changes the state machine accepted it with. An import is indexed as
// the entry it imports (its kind, type, package, signers and subjects), at
// its own index.
func entryRow(e *record.Entry, leaf []byte, idx uint64, c *state.Changes) *store.EntryRow {
	if e.Import != nil {
		row := entryRow(e.Inner, leaf, idx, c)
		row.Time = e.Time
		if e.Inner.Attestation != nil {
			row.Statement = e.Payload
		}
		return row
	}
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
		if len(c.Resolved) > 0 {
			// Subjects named by sha384 or sha512 only are also found by
			// the sha256 digest of the release content they name.
			row.Subjects = append(slices.Clone(a.Subjects), c.Resolved...)
		}
	}
	row.Signers = e.KeyIDs()
	return row
}

// A Registry is everything the HTTP edge asks of one.
var _ vouch.Registry = (*Registry)(nil)
