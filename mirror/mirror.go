// Package mirror keeps a verified copy of another registry's log: it
// follows the upstream through its C2SP checkpoints and entry bundles (the
// public read path, not a private API), checks the checkpoint's signature
// (and witness quorum, with a policy), checks that the new entries extend
// what it holds and hash to the checkpoint's root, replays every entry
// through the same state machine as the upstream, and only then stores
// them with the upstream's signed checkpoint, so that it serves the same
// checkpoints and tiles byte for byte. It copies statements, notes,
// profiles and release content, checking every digest, and erases what
// the upstream erases.
//
// If the upstream rolls back, forks, or logged an entry the rules refuse,
// the mirror stops following, keeps serving the last good state, and
// reports the evidence in its status and its log.
package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	tapi "github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/content"
	"github.com/vouchdev/vouch/cosign"
	"github.com/vouchdev/vouch/internal/atomicfile"
	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/registry"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
)

// Config configures a Mirror.
type Config struct {
	// Upstream is the registry (or mirror) followed, e.g.
	// https://registry.example.com.
	Upstream string
	// LogKey verifies the upstream's checkpoints.
	LogKey *translog.Verifier
	// Policy, if set, is the witnesses whose quorum every upstream
	// checkpoint must carry.
	Policy *cosign.Policy
	// Registry is the mirror's own registry, read-only (opened without a
	// LogSigner, with the upstream's origin).
	Registry *registry.Registry
	// Blobs is where release content is copied (nil: no content).
	Blobs blob.Store
	// Fetcher fetches content that the upstream links to elsewhere.
	Fetcher *content.Fetcher
	// StateFile keeps the mirror's place in the upstream's erasures.
	StateFile string
	// Client makes the requests to the upstream.
	Client *http.Client
	// Interval is how often the upstream is asked for a newer checkpoint
	// (default 1 s).
	Interval time.Duration
	Logger   *slog.Logger
	// Metrics, if set, reports the mirror's lag and whether it stopped
	// (at every scrape, for the mirror's lifetime).
	Metrics *metrics.Metrics
}

// Mirror follows an upstream log.
type Mirror struct {
	cfg  Config
	base *url.URL

	mu     sync.Mutex
	status api.MirrorStatus
	// content holds digests whose content is still to be copied.
	content map[string]bool
	// scanned is set once the whole state was scanned for content to copy.
	scanned bool
	// later holds content the upstream does not hold (yet): an upstream
	// that is itself a mirror copies content after the entries that name
	// it. Each is asked for again after a wait that doubles, up to
	// maxContentWait.
	later map[string]contentRetry
}

// contentRetry is when to ask the upstream again for content it lacked.
type contentRetry struct {
	at   time.Time
	wait time.Duration
}

// Waits before content the upstream lacked is asked for again.
const (
	minContentWait = time.Second
	maxContentWait = 10 * time.Minute
)

// errUpstreamLacks is copyBlob's answer when the upstream does not hold
// the content (404) though this registry's state says it is servable.
var errUpstreamLacks = errors.New("the upstream does not hold this content yet")

// StoppedError is the evidence that made the mirror stop following.
type StoppedError struct{ Evidence string }

func (e *StoppedError) Error() string { return "stopped following the upstream: " + e.Evidence }

// New returns a mirror; Run starts it.
func New(cfg Config) (*Mirror, error) {
	u, err := url.Parse(strings.TrimRight(cfg.Upstream, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upstream %q must be http(s)://host[:port]", cfg.Upstream)
	}
	if cfg.LogKey == nil || cfg.Registry == nil {
		return nil, errors.New("mirror: the upstream's log key and a registry are required")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Mirror{cfg: cfg, base: u, content: map[string]bool{}, later: map[string]contentRetry{}}
	m.status.Upstream = u.String()
	cfg.Metrics.AttachMirror(m.readings)
	return m, nil
}

// Status says how far the mirror is behind, and whether it stopped.
func (m *Mirror) Status() api.MirrorStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.status
	if cp := m.cfg.Registry.Latest(); cp != nil {
		st.Size = cp.Size
	}
	if st.UpstreamSize > st.Size {
		st.Lag = st.UpstreamSize - st.Size
	}
	return st
}

// Run follows the upstream until ctx ends or the mirror stops on evidence
// of misbehaviour.
func (m *Mirror) Run(ctx context.Context) {
	for {
		err := m.Sync(ctx)
		var se *StoppedError
		switch {
		case errors.As(err, &se):
			return
		case err != nil && ctx.Err() == nil:
			m.cfg.Logger.Warn("syncing with the upstream failed; retrying", "upstream", m.base, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.cfg.Interval):
		}
	}
}

// stop records the evidence that makes the mirror stop following.
func (m *Mirror) stop(evidence string) error {
	m.mu.Lock()
	m.status.Stopped, m.status.Evidence = true, evidence
	m.mu.Unlock()
	m.cfg.Logger.Error("ALARM: stopped following the upstream; serving the last good state", "upstream", m.base, "evidence", evidence)
	return &StoppedError{Evidence: evidence}
}

// Sync makes one pass: new entries up to the upstream's latest checkpoint,
// the upstream's erasures, and content still to copy.
func (m *Mirror) Sync(ctx context.Context) error {
	m.mu.Lock()
	stopped := m.status.Stopped
	m.mu.Unlock()
	if stopped {
		return &StoppedError{Evidence: m.Status().Evidence}
	}
	err := m.syncLog(ctx)
	m.mu.Lock()
	if err == nil {
		m.status.LastSync, m.status.LastError = time.Now().UTC(), ""
	} else {
		m.status.LastError = err.Error()
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if err := m.syncErasures(ctx); err != nil {
		return err
	}
	return m.copyContent(ctx)
}

// get fetches a path of the upstream and returns the body of a 200.
func (m *Mirror) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base.String()+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "vouch-mirror")
	resp, err := m.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &httpError{status: resp.StatusCode, path: path, body: b}
	}
	return b, nil
}

type httpError struct {
	status int
	path   string
	body   []byte
}

func (e *httpError) Error() string {
	return fmt.Sprintf("the upstream answered %s with %d: %.200s", e.path, e.status, e.body)
}

func isStatus(err error, status int) bool {
	var he *httpError
	return errors.As(err, &he) && he.status == status
}

// syncLog copies the entries up to the upstream's latest checkpoint.
func (m *Mirror) syncLog(ctx context.Context) error {
	note, err := m.get(ctx, "/log/checkpoint")
	if err != nil {
		return err
	}
	cp, err := m.cfg.LogKey.Open(note)
	if err != nil {
		return fmt.Errorf("the upstream's checkpoint: %w", err)
	}
	if m.cfg.Policy != nil {
		if err := m.cfg.Policy.Check(note, cp.Size); err != nil {
			return fmt.Errorf("the upstream's checkpoint: %w", err)
		}
	}
	m.mu.Lock()
	m.status.UpstreamSize = cp.Size
	m.mu.Unlock()
	local := m.cfg.Registry.Latest()
	old := uint64(0)
	if local != nil {
		old = local.Size
	}
	switch {
	case local != nil && cp.Size < old:
		return m.stop(fmt.Sprintf("the upstream rolled back: it serves a checkpoint of size %d, signed by its log key, after one of size %d that this mirror holds:\n%s\n%s",
			cp.Size, old, note, local.Note))
	case local != nil && cp.Size == old:
		if cp.Hash != local.Hash {
			return m.stop(fmt.Sprintf("the upstream forked: two checkpoints of size %d with different roots, both signed by its log key:\n%s\n%s", cp.Size, note, local.Note))
		}
		return nil
	}
	leaves, err := m.fetchLeaves(ctx, old, cp.Size)
	if err != nil {
		return err
	}
	hashes := make([]tlog.Hash, len(leaves))
	for i, l := range leaves {
		hashes[i] = tlog.RecordHash(l)
	}
	_, root, err := translog.Integrate(int64(old), hashes, m.cfg.Registry.HashReader(ctx))
	if err != nil {
		return err
	}
	if root != cp.Hash {
		prev := "the start of the log"
		if local != nil {
			prev = fmt.Sprintf("the checkpoint of size %d this mirror holds:\n%s", old, local.Note)
		}
		return m.stop(fmt.Sprintf("the upstream's entries %d to %d do not extend %s into its checkpoint of size %d (the log forked, or serves entries its checkpoint does not commit to):\n%s",
			old, cp.Size, prev, cp.Size, note))
	}
	for first := old; first < cp.Size; first += chunk {
		end := min(first+chunk, cp.Size)
		reps, err := m.replicas(ctx, first, leaves[first-old:end-old])
		if err != nil {
			return err
		}
		err = m.cfg.Registry.Replicate(ctx, first, reps)
		var re *registry.ReplicaError
		if errors.As(err, &re) {
			return m.stop(fmt.Sprintf("the upstream logged an entry the rules refuse: %v", re))
		}
		if err != nil {
			return err
		}
	}
	cp.Note = note
	if err := m.cfg.Registry.IntegrateReplica(ctx, cp, hashes); err != nil {
		var ie *registry.IndexMismatchError
		if errors.As(err, &ie) {
			return m.stop(fmt.Sprintf("the upstream's verifiable index lies: %v\n%s", ie, note))
		}
		return err
	}
	m.cfg.Logger.Info("mirrored the upstream", "upstream", m.base, "from", old, "to", cp.Size)
	return nil
}

// chunk is the most entries replicated in one transaction.
const chunk = 1024

// fetchLeaves reads entries [from, to) from the upstream's entry bundles.
func (m *Mirror) fetchLeaves(ctx context.Context, from, to uint64) ([][]byte, error) {
	out := make([][]byte, 0, to-from)
	for first := from - from%translog.TileWidth; first < to; first += translog.TileWidth {
		idx := first / translog.TileWidth
		width := uint8(0)
		if to-first < translog.TileWidth {
			width = uint8(to - first)
		}
		raw, err := m.get(ctx, "/log/"+layout.EntriesPath(idx, width))
		if err != nil {
			return nil, err
		}
		var eb tapi.EntryBundle
		if err := eb.UnmarshalText(raw); err != nil {
			return nil, fmt.Errorf("entry bundle %d: %w", idx, err)
		}
		want := translog.TileWidth
		if width != 0 {
			want = int(width)
		}
		if len(eb.Entries) != want {
			return nil, fmt.Errorf("entry bundle %d holds %d entries, want %d", idx, len(eb.Entries), want)
		}
		skip := 0
		if from > first {
			skip = int(from - first)
		}
		out = append(out, eb.Entries[skip:]...)
	}
	return out, nil
}

// replicas completes entries [first, first+len(leaves)) with what the log
// does not hold: statements, notes and profiles, each checked against its
// digest.
func (m *Mirror) replicas(ctx context.Context, first uint64, leaves [][]byte) ([]registry.Replica, error) {
	reps := make([]registry.Replica, len(leaves))
	var statements map[uint64]api.StatementBody
	for i, l := range leaves {
		reps[i].Leaf = l
		e, err := record.ParseLeaf(l)
		if err != nil {
			continue // the replay refuses it, with the evidence
		}
		idx := first + uint64(i)
		// An import holds a record or attestation of another log; its
		// statement is stored here like any attestation's, and the
		// content of an imported release is copied like any other.
		e = e.Unwrap()
		switch {
		case e.Attestation != nil:
			if statements == nil {
				if statements, err = m.statements(ctx, first, uint64(len(leaves))); err != nil {
					return nil, err
				}
			}
			reps[i].Statement, reps[i].Bundle = statements[idx].Statement, statements[idx].Bundle
		case e.Record != nil:
			for _, d := range []string{e.Record.Note, e.Record.Commitment} {
				if d == "" {
					continue
				}
				o, err := m.offLog(ctx, d)
				if err != nil {
					return nil, err
				}
				if o != nil {
					reps[i].OffLog = append(reps[i].OffLog, *o)
				}
			}
			if e.Record.Digest != "" {
				m.want(e.Record.Digest)
			}
		}
	}
	return reps, nil
}

// statements fetches the statements (and keyless bundles) of the
// attestations among n entries from first; erased ones are absent.
func (m *Mirror) statements(ctx context.Context, first, n uint64) (map[uint64]api.StatementBody, error) {
	out := map[uint64]api.StatementBody{}
	for from := first; from < first+n; from += 256 {
		count := min(256, first+n-from)
		b, err := m.get(ctx, "/api/v1/statements?from="+strconv.FormatUint(from, 10)+"&count="+strconv.FormatUint(count, 10))
		if err != nil {
			return nil, err
		}
		var sj api.Statements
		if err := json.Unmarshal(b, &sj); err != nil {
			return nil, fmt.Errorf("the upstream's statements from %d: %w", from, err)
		}
		for _, s := range sj.Statements {
			if !s.Erased {
				out[s.Index] = s
			}
		}
	}
	return out, nil
}

// offLog fetches off-log data by digest, checked; nil if the upstream no
// longer has it.
func (m *Mirror) offLog(ctx context.Context, digest string) (*store.OffLog, error) {
	b, err := m.get(ctx, "/api/v1/offlog/"+digest)
	if isStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var o api.OffLogData
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("the upstream's off-log data %s: %w", digest, err)
	}
	if o.Digest != digest {
		return nil, fmt.Errorf("asked the upstream for %s, got %s", digest, o.Digest)
	}
	if err := api.CheckOffLog(digest, o.Kind, o.Data); err != nil {
		return nil, fmt.Errorf("the upstream's off-log data: %w", err)
	}
	return &store.OffLog{Digest: digest, Kind: o.Kind, Data: o.Data}, nil
}

// syncErasures erases what the upstream erased since the last pass.
func (m *Mirror) syncErasures(ctx context.Context) error {
	st, err := m.loadState()
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.status.Erased = st.ErasuresAfter
	m.mu.Unlock()
	for {
		b, err := m.get(ctx, "/api/v1/erasures?limit=1000&after="+strconv.FormatUint(st.ErasuresAfter, 10))
		if err != nil {
			return err
		}
		var es api.Erasures
		if err := json.Unmarshal(b, &es); err != nil {
			return fmt.Errorf("the upstream's erasures: %w", err)
		}
		for _, e := range es.Erasures {
			if err := m.cfg.Registry.ApplyErasure(ctx, &e); err != nil {
				return err
			}
			st.ErasuresAfter = e.Seq
			if err := m.saveState(st); err != nil {
				return err
			}
			m.mu.Lock()
			m.status.Erased = e.Seq
			m.mu.Unlock()
			m.cfg.Logger.Info("erased what the upstream erased", "statements", len(e.Statements), "offlog", len(e.OffLog))
		}
		if len(es.Erasures) < 1000 {
			return nil
		}
	}
}

// mirrorState is what the mirror keeps beside its database.
type mirrorState struct {
	Upstream      string `json:"upstream"`
	ErasuresAfter uint64 `json:"erasuresAfter"`
}

func (m *Mirror) loadState() (*mirrorState, error) {
	st := &mirrorState{Upstream: m.base.String()}
	if m.cfg.StateFile == "" {
		return st, nil
	}
	b, err := readFileIfExists(m.cfg.StateFile)
	if err != nil || b == nil {
		return st, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", m.cfg.StateFile, err)
	}
	return st, nil
}

func (m *Mirror) saveState(st *mirrorState) error {
	if m.cfg.StateFile == "" {
		return nil
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	return atomicfile.Write(m.cfg.StateFile, append(b, '\n'), 0o600)
}

// want notes content to copy.
func (m *Mirror) want(digest string) {
	m.mu.Lock()
	m.content[digest] = true
	m.mu.Unlock()
}

// copyContent copies the content of servable releases that the mirror
// does not hold yet: at the first pass every release's, then the content
// newly named by replicated records. Failures are retried next pass.
func (m *Mirror) copyContent(ctx context.Context) error {
	if m.cfg.Blobs == nil {
		return nil
	}
	m.mu.Lock()
	scanned := m.scanned
	m.mu.Unlock()
	if !scanned {
		err := m.cfg.Registry.ServableContent(ctx, func(digest string) error {
			m.want(digest)
			return nil
		})
		if err != nil {
			return err
		}
		m.mu.Lock()
		m.scanned = true
		m.mu.Unlock()
	}
	now := time.Now()
	m.mu.Lock()
	todo := make([]string, 0, len(m.content))
	for d := range m.content {
		if r, ok := m.later[d]; !ok || !now.Before(r.at) {
			todo = append(todo, d)
		}
	}
	m.mu.Unlock()
	for _, d := range todo {
		err := m.copyBlob(ctx, d)
		m.mu.Lock()
		switch {
		case errors.Is(err, errUpstreamLacks):
			r := m.later[d]
			r.wait = min(max(2*r.wait, minContentWait), maxContentWait)
			r.at = now.Add(r.wait)
			m.later[d] = r
		case err == nil:
			delete(m.content, d)
			delete(m.later, d)
		}
		m.mu.Unlock()
		if err != nil && !errors.Is(err, errUpstreamLacks) {
			m.cfg.Logger.Warn("copying content failed; retrying later", "digest", d, "err", err)
		}
	}
	return nil
}

// copyBlob copies one content digest, unless held already or not to be
// served (this registry's state says so, or the upstream says 410 or
// 451). It returns errUpstreamLacks if the upstream answers 404.
func (m *Mirror) copyBlob(ctx context.Context, digest string) error {
	if _, err := m.cfg.Blobs.Stat(ctx, digest); err == nil {
		return nil
	}
	st, err := m.cfg.Registry.ContentStatus(ctx, digest)
	if err != nil {
		return err
	}
	if st.State != vouch.ContentServable {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base.String()+"/api/v1/blobs/"+digest, nil)
	if err != nil {
		return err
	}
	resp, err := m.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		_, err := m.cfg.Blobs.Put(ctx, digest, resp.Body, m.cfg.Registry.MaxBlobSize())
		return err
	case resp.StatusCode == http.StatusTemporaryRedirect && m.cfg.Fetcher != nil:
		// Linked content the upstream did not store: fetch it from where
		// it lives, verified like the upstream would.
		return m.cfg.Fetcher.Fetch(ctx, resp.Header.Get("Location"), digest, st.Size)
	case resp.StatusCode == http.StatusGone || resp.StatusCode == http.StatusUnavailableForLegalReasons:
		return nil
	case resp.StatusCode == http.StatusNotFound:
		return errUpstreamLacks
	}
	return fmt.Errorf("the upstream answered %d for content %s", resp.StatusCode, digest)
}

// readFileIfExists reads a file, or returns nil if there is none.
func readFileIfExists(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
