// Package audit replays a Vouch log from the outside. It downloads every
// entry through the tlog-tiles API (never the registry's database), checks
// that they hash to the verified checkpoint, checks every signature, and runs
// every entry through the same state machine as the server, reporting the
// first entry that should have been refused. It then compares the state it
// computed with the server's answers for every package. Progress is saved so
// that a later run resumes where this one stopped.
package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"

	vapi "github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/atomicfile"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/sigstore"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/vindex"
)

// Options configure an audit.
type Options struct {
	// Client reads and verifies checkpoints and answers for the
	// comparison. Required.
	Client *client.Client
	// LogURL is the registry's base URL; tiles are read under LogURL/log/.
	LogURL string
	// StateFile keeps progress between runs; empty means no resume.
	StateFile string
	// Compare asks the server about every package at the end.
	Compare bool
	// Workers verify signatures in parallel (default: GOMAXPROCS).
	Workers int
	// Progress, if set, is called now and then with entries done and total.
	Progress func(done, total uint64)
	// HTTPClient fetches bundles (default: http.DefaultClient).
	HTTPClient *http.Client
	// Sigstore are the trusted roots keyless attestations' bundles are
	// verified against (package sigstore). A bundle the log says was
	// verified against one of them must verify; others are counted as
	// unchecked. Without roots, every bundle is only matched against the
	// log (its digest, signature and statement).
	Sigstore *sigstore.Roots
}

// Violation is an entry the state machine refuses: the log contains
// something the registry should never have accepted.
type Violation struct {
	Index  uint64 `json:"index"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Report is the outcome of an audit.
type Report struct {
	Origin     string     `json:"origin"`
	From       uint64     `json:"from"`
	To         uint64     `json:"to"`
	Violation  *Violation `json:"violation,omitempty"`
	Mismatches []string   `json:"mismatches,omitempty"`
	Packages   int        `json:"packages"`
	// Statements is the number of attestations whose statement was fetched
	// and whose signatures were checked; Erased those whose statement was
	// erased (their signatures can no longer be checked).
	Statements int `json:"statements"`
	Erased     int `json:"erased"`
	// IndexRoots is the number of checkpoints whose verifiable index root
	// (the "vouch-index" line) was checked against the index rebuilt from
	// the entries.
	IndexRoots int `json:"indexRoots"`
	// Bundles is the number of keyless attestations whose bundle verified
	// against one of the auditor's trusted roots; BundlesUnchecked those
	// whose bundle matched the log but was not verified (no root of the
	// auditor's issued its certificate). They are among Statements.
	Bundles          int           `json:"bundles"`
	BundlesUnchecked int           `json:"bundlesUnchecked"`
	Elapsed          time.Duration `json:"elapsedNanos"`
	// Rate is entries replayed per second in this run.
	Rate float64 `json:"entriesPerSecond"`
}

// OK reports whether the audit found nothing wrong.
func (r *Report) OK() bool { return r.Violation == nil && len(r.Mismatches) == 0 }

// saved is the resume file.
type saved struct {
	Origin     string        `json:"origin"`
	Size       uint64        `json:"size"`
	Range      [][]byte      `json:"range"`
	Checkpoint string        `json:"checkpoint"`
	LastTime   time.Time     `json:"lastTime"`
	State      *state.Memory `json:"state"`
	// Index is the rebuilt verifiable index's nodes, by hex label.
	Index map[string][]byte `json:"index"`
}

type auditor struct {
	o        Options
	v        *translog.Verifier
	mem      *state.Memory
	rng      *compact.Range
	rf       *compact.RangeFactory
	keys     *state.KeyCache // parsed keys of registered identities, for parallel verification
	lastTime time.Time
	// statements and erased count attestations checked with and without
	// their statement; bundles and unchecked keyless ones verified against
	// a trusted root or not.
	statements, erased int
	bundles, unchecked int
	bundleMu           sync.Mutex
	// index is the verifiable index rebuilt from the entries, ib what the
	// entries since the last checked checkpoint change in it, and
	// checkpoints the checkpoints still to check as the replay reaches
	// their sizes.
	index       *vindex.MemoryNodes
	ib          *vindex.Batch
	checkpoints []*translog.Checkpoint
	indexRoots  int
	// indexVersion is the tree size of the rebuilt index's newest version
	// (indexed: it has one).
	indexVersion uint64
	indexed      bool
}

// Run audits the log up to its latest checkpoint.
func Run(ctx context.Context, o Options, v *translog.Verifier) (*Report, error) {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	a := &auditor{o: o, v: v, mem: state.NewMemory(), rf: &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren},
		keys: state.NewKeyCache(1 << 20), index: vindex.NewMemoryNodes(), ib: vindex.NewBatch()}
	a.rng = a.rf.NewEmptyRange(0)
	start := time.Now()
	cp, _, err := o.Client.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	from, err := a.resume(ctx, cp)
	if err != nil {
		return nil, err
	}
	rep := &Report{Origin: v.Origin(), From: from, To: cp.Size}
	if err := a.listCheckpoints(ctx, from, cp); err != nil {
		return nil, err
	}
	viol, err := a.replay(ctx, from, cp.Size)
	if err != nil {
		return nil, err
	}
	rep.Elapsed = time.Since(start)
	if cp.Size > from {
		rep.Rate = float64(cp.Size-from) / rep.Elapsed.Seconds()
	}
	if viol != nil {
		rep.Violation = viol
		return rep, nil
	}
	root, err := a.rng.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root, cp.Hash[:]) {
		return nil, fmt.Errorf("the entries served by the tile API hash to %x, but the checkpoint of size %d says %x", root, cp.Size, cp.Hash)
	}
	if err := a.save(cp); err != nil {
		return nil, err
	}
	rep.Packages = len(a.mem.Packages)
	rep.IndexRoots = a.indexRoots
	rep.Statements, rep.Erased = a.statements, a.erased
	rep.Bundles, rep.BundlesUnchecked = a.bundles, a.unchecked
	if o.Compare {
		if rep.Mismatches, err = a.compare(ctx, cp); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// resume loads the saved progress, if any, and checks that the log still
// extends what was audited. It returns the index to continue from.
func (a *auditor) resume(ctx context.Context, cp *translog.Checkpoint) (uint64, error) {
	if a.o.StateFile == "" {
		return 0, nil
	}
	b, err := os.ReadFile(a.o.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var s saved
	if err := json.Unmarshal(b, &s); err != nil {
		return 0, fmt.Errorf("audit state %s is corrupt (delete it to start over): %w", a.o.StateFile, err)
	}
	if s.Origin != a.v.Origin() {
		return 0, fmt.Errorf("audit state %s is for log %s, not %s", a.o.StateFile, s.Origin, a.v.Origin())
	}
	old, err := a.v.Open([]byte(s.Checkpoint))
	if err != nil {
		return 0, fmt.Errorf("audit state: %w", err)
	}
	if old.Size != s.Size || old.Size > cp.Size {
		return 0, fmt.Errorf("audit state is at size %d but the log's checkpoint is %d: the log was rolled back", old.Size, cp.Size)
	}
	p, err := a.o.Client.ConsistencyProof(ctx, old.Size, cp.Size)
	if err != nil {
		return 0, err
	}
	if err := translog.VerifyConsistency(old, cp, p); err != nil {
		return 0, fmt.Errorf("the log is not consistent with the audited checkpoint: %w", err)
	}
	rng, err := a.rf.NewRange(0, s.Size, s.Range)
	if err != nil {
		return 0, fmt.Errorf("audit state: %w", err)
	}
	if root, err := rng.GetRootHash(nil); err != nil || !bytes.Equal(root, old.Hash[:]) {
		return 0, errors.New("audit state does not match its checkpoint; delete it to start over")
	}
	a.rng, a.mem, a.lastTime = rng, s.State, s.LastTime
	if s.Index == nil && s.Size > 0 {
		// Saved by an auditor that did not rebuild the index: it cannot
		// be checked from here on; start over to check it.
		a.index = nil
	} else {
		nodes := make(map[string][]byte, len(s.Index))
		for k, v := range s.Index {
			b, err := hex.DecodeString(k)
			if err != nil {
				return 0, fmt.Errorf("audit state %s is corrupt (delete it to start over): %w", a.o.StateFile, err)
			}
			nodes[string(b)] = v
		}
		a.index.Import(nodes)
		// A state saved before inner nodes held their children's hashes.
		if err := a.index.Upgrade(); err != nil {
			return 0, fmt.Errorf("audit state %s is corrupt (delete it to start over): %w", a.o.StateFile, err)
		}
		a.indexVersion, a.indexed = s.Size, len(nodes) > 0
	}
	for _, id := range a.mem.Identities {
		a.keys.Parse(id)
	}
	return s.Size, nil
}

func (a *auditor) save(cp *translog.Checkpoint) error {
	if a.o.StateFile == "" {
		return nil
	}
	var index map[string][]byte
	if a.index != nil {
		index = make(map[string][]byte, len(a.index.Export()))
		for k, v := range a.index.Export() {
			index[hex.EncodeToString([]byte(k))] = v
		}
	}
	b, err := json.Marshal(saved{Origin: a.v.Origin(), Size: cp.Size, Range: a.rng.Hashes(), Checkpoint: string(cp.Note), LastTime: a.lastTime, State: a.mem,
		Index: index})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(a.o.StateFile), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(a.o.StateFile, b, 0o600)
}

// bundle is one entry bundle's parsed entries.
type bundle struct {
	first   uint64
	leaves  [][]byte
	entries []*record.Entry
	bad     map[int]error // entries that do not parse, or whose statement does not match
	err     error
}

// replay downloads and replays entries [from, to).
func (a *auditor) replay(ctx context.Context, from, to uint64) (*Violation, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bundles := make(chan chan *bundle, 8)
	go func() {
		defer close(bundles)
		for first := from - from%translog.TileWidth; first < to; first += translog.TileWidth {
			ch := make(chan *bundle, 1)
			select {
			case bundles <- ch:
			case <-ctx.Done():
				return
			}
			go func(first uint64) { ch <- a.fetch(ctx, first, from, to) }(first)
		}
	}()
	done := from
	lastReport := time.Now()
	for ch := range bundles {
		b := <-ch
		if b.err != nil {
			return nil, b.err
		}
		for i, e := range b.entries {
			idx := b.first + uint64(i)
			if err := a.rng.Append(rfc6962.DefaultHasher.HashLeaf(b.leaves[i]), nil); err != nil {
				return nil, err
			}
			if err := b.bad[i]; err != nil {
				code := "malformed"
				var ce *sigstore.CheckError
				if errors.As(err, &ce) {
					code = "bundle_" + ce.Check
				}
				return &Violation{Index: idx, Code: code, Reason: err.Error()}, nil
			}
			if in := e.Unwrap(); in.Attestation != nil {
				if in.Envelope != nil || in.Bundle != nil {
					a.statements++
				} else {
					a.erased++
				}
			}
			if v := a.apply(idx, e); v != nil {
				return v, nil
			}
			done = idx + 1
			for len(a.checkpoints) > 0 && a.checkpoints[0].Size <= done {
				if a.checkpoints[0].Size == done {
					if v, err := a.checkCheckpoint(ctx, a.checkpoints[0]); v != nil || err != nil {
						return v, err
					}
				}
				a.checkpoints = a.checkpoints[1:]
			}
		}
		if a.o.Progress != nil && time.Since(lastReport) > 500*time.Millisecond {
			a.o.Progress(done, to)
			lastReport = time.Now()
		}
	}
	if a.o.Progress != nil {
		a.o.Progress(done, to)
	}
	return nil, nil
}

// apply runs one entry through the state machine.
func (a *auditor) apply(idx uint64, e *record.Entry) *Violation {
	if e.Time.Before(a.lastTime) {
		return &Violation{Index: idx, Code: "time_backwards", Reason: fmt.Sprintf("log time %s is before the previous entry's %s", e.Time, a.lastTime)}
	}
	a.lastTime = e.Time
	c, err := state.Apply(a.mem, e, state.Env{Index: idx, Time: e.Time, Keys: a.keys,
		Self: &state.Location{Origin: a.v.Origin(), Key: a.v.Key()}})
	if err != nil {
		if rf, ok := state.AsRefusal(err); ok {
			return &Violation{Index: idx, Code: string(rf.Code), Reason: rf.Msg}
		}
		return &Violation{Index: idx, Code: "error", Reason: err.Error()}
	}
	a.mem.Commit(c, idx)
	a.ib.Add(idx, e, c)
	for _, id := range c.Identities {
		a.keys.Parse(id)
	}
	return nil
}

// fetch downloads one entry bundle, keeps the entries in [from, to), parses
// them and checks their signatures in parallel where the keys are known.
func (a *auditor) fetch(ctx context.Context, first, from, to uint64) *bundle {
	b := &bundle{first: first}
	idx := first / translog.TileWidth
	width := uint8(0)
	if to-first < translog.TileWidth {
		width = uint8(to - first)
	}
	raw, err := a.get(ctx, a.o.LogURL+"/log/"+layout.EntriesPath(idx, width))
	if err != nil {
		b.err = err
		return b
	}
	var eb api.EntryBundle
	if err := eb.UnmarshalText(raw); err != nil {
		b.err = fmt.Errorf("entry bundle %d: %w", idx, err)
		return b
	}
	want := translog.TileWidth
	if width != 0 {
		want = int(width)
	}
	if len(eb.Entries) != want {
		b.err = fmt.Errorf("entry bundle %d holds %d entries, want %d", idx, len(eb.Entries), want)
		return b
	}
	skip := 0
	if from > first {
		skip = int(from - first)
	}
	b.first += uint64(skip)
	b.leaves = eb.Entries[skip:]
	b.entries = make([]*record.Entry, len(b.leaves))
	b.bad = map[int]error{}
	hasAttestations := false
	for i, l := range b.leaves {
		e, err := record.ParseLeaf(l)
		if err != nil {
			b.bad[i] = err
			e = &record.Entry{}
		}
		b.entries[i] = e
		hasAttestations = hasAttestations || e.Unwrap().Attestation != nil
	}
	if hasAttestations {
		if err := a.attachStatements(ctx, b); err != nil {
			b.err = err
			return b
		}
	}
	// Check signatures in parallel where the keys are already known, the
	// Ed25519 ones in batches; the state machine checks the rest in order,
	// and finds again, with its reason, any signature that failed here.
	var wg sync.WaitGroup
	per := (len(b.entries) + a.o.Workers - 1) / a.o.Workers
	for w := 0; w < len(b.entries); w += per {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			record.VerifyBatch(b.entries[lo:hi], a.cachedKey)
		}(w, min(w+per, len(b.entries)))
	}
	wg.Wait()
	return b
}

// attachStatements fetches the statements of a bundle's attestations and
// attaches them; an erased statement leaves its entry without a body.
func (a *auditor) attachStatements(ctx context.Context, b *bundle) error {
	raw, err := a.get(ctx, fmt.Sprintf("%s/api/v1/statements?from=%d&count=%d", a.o.LogURL, b.first, len(b.entries)))
	if err != nil {
		return err
	}
	var sj vapi.Statements
	if err := json.Unmarshal(raw, &sj); err != nil {
		return fmt.Errorf("statements from %d: %w", b.first, err)
	}
	for _, s := range sj.Statements {
		if s.Index < b.first || s.Index >= b.first+uint64(len(b.entries)) || s.Erased {
			continue
		}
		i := int(s.Index - b.first)
		e := b.entries[i].Unwrap()
		if e.Attestation == nil {
			continue
		}
		if e.Attestation.Bundle != nil {
			if err := a.checkBundle(e, &s); err != nil {
				b.bad[i] = err
			}
			continue
		}
		if err := e.AttachBody(s.Statement); err != nil {
			b.bad[i] = fmt.Errorf("the statement served for attestation %d does not match the log: %w", s.Index, err)
		}
	}
	return nil
}

// checkBundle checks a keyless attestation's bundle against the log, and
// verifies it if the auditor trusts the root the log says it was verified
// against (or another root that issued its certificate).
func (a *auditor) checkBundle(e *record.Entry, s *vapi.StatementBody) error {
	if s.Bundle == nil {
		return fmt.Errorf("the registry served the statement of keyless attestation %d without its bundle", s.Index)
	}
	if stmt := s.Statement; stmt != nil && record.Digest(stmt) != e.Attestation.PayloadDigest {
		return fmt.Errorf("the statement served for attestation %d does not match the log", s.Index)
	}
	_, err := sigstore.CheckEntry(e, s.Bundle, a.o.Sigstore)
	var ce *sigstore.CheckError
	switch {
	case err == nil && a.o.Sigstore != nil:
		a.bundleMu.Lock()
		a.bundles++
		a.bundleMu.Unlock()
		return nil
	case err == nil, errors.As(err, &ce) && a.o.Sigstore.Find(e.Attestation.Bundle.TrustedRoot) == nil && ce.Check == sigstore.CheckChain:
		// Matched against the log; no root of ours issued its certificate.
		a.bundleMu.Lock()
		a.unchecked++
		a.bundleMu.Unlock()
		return nil
	case ce != nil:
		return fmt.Errorf("keyless attestation %d: %w", s.Index, err)
	}
	return fmt.Errorf("the bundle served for keyless attestation %d does not match the log: %w", s.Index, err)
}

func (a *auditor) cachedKey(id string) (*keys.PublicKey, error) {
	if p, ok := a.keys.Get(id); ok {
		return p, nil
	}
	return nil, errNotYet
}

var errNotYet = errors.New("key not known yet")

func (a *auditor) get(ctx context.Context, url string) ([]byte, error) {
	var last error
	for try := 0; try < 3; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := a.o.HTTPClient.Do(req)
		if err != nil {
			last = err
			continue
		}
		body, err := readBody(resp)
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
		}
		return body, nil
	}
	return nil, fmt.Errorf("GET %s: %w", url, last)
}

func readBody(resp *http.Response) ([]byte, error) {
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" && !resp.Uncompressed {
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, err
		}
		defer gz.Close()
		r = gz
	}
	return io.ReadAll(io.LimitReader(r, 64<<20))
}

// listCheckpoints fetches the checkpoints the replay of entries after from
// reaches, up to cp (included), to check each.
func (a *auditor) listCheckpoints(ctx context.Context, from uint64, cp *translog.Checkpoint) error {
	next := from + 1
	for next <= cp.Size {
		cps, err := a.o.Client.Checkpoints(ctx, next, 1000)
		if err != nil {
			return err
		}
		if len(cps) == 0 {
			break
		}
		for _, c := range cps {
			if c.Size <= cp.Size {
				a.checkpoints = append(a.checkpoints, c)
			}
		}
		next = cps[len(cps)-1].Size + 1
	}
	if n := len(a.checkpoints); n == 0 || a.checkpoints[n-1].Size != cp.Size {
		a.checkpoints = append(a.checkpoints, cp)
	}
	return nil
}

// checkCheckpoint checks a checkpoint the replay has reached: its root is
// the tree of the entries replayed, and its index line (if any) is the
// root of the index rebuilt from them. A wrong index root is a violation:
// the registry's index lies about what its log holds.
func (a *auditor) checkCheckpoint(ctx context.Context, cp *translog.Checkpoint) (*Violation, error) {
	root, err := a.rng.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root, cp.Hash[:]) {
		return nil, fmt.Errorf("the entries served by the tile API hash to %x, but the checkpoint of size %d says %x", root, cp.Size, cp.Hash)
	}
	if cp.Index == nil || a.index == nil {
		return nil, nil
	}
	u := vindex.NewUpdate(a.index, nil, a.indexVersion, !a.indexed)
	if err := a.ib.Apply(ctx, u, a.mem); err != nil {
		return nil, err
	}
	ir, rows, err := u.Apply(ctx, cp.Size)
	if err != nil {
		return nil, err
	}
	a.index.Put(rows)
	a.indexVersion, a.indexed = cp.Size, true
	a.ib = vindex.NewBatch()
	a.indexRoots++
	if !bytes.Equal(ir[:], cp.Index) {
		return &Violation{Index: cp.Size - 1, Code: "index_root", Reason: fmt.Sprintf(
			"the checkpoint of size %d commits to index root %x, but the index of the entries it covers has root %x", cp.Size, cp.Index, ir)}, nil
	}
	return nil, nil
}
