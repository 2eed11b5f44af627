package cosign

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/translog"
)

// Log is what a Gateway needs from the log it gets witnessed.
type Log interface {
	// Latest returns the newest checkpoint, or nil.
	Latest() *translog.Checkpoint
	// Changed returns a channel closed when a newer checkpoint is known.
	Changed() <-chan struct{}
	// ConsistencyProof proves the tree of size to extends the tree of size
	// from.
	ConsistencyProof(ctx context.Context, from, to uint64) (tlog.TreeProof, uint64, error)
}

// Publish records a checkpoint that meets the policy's quorum: note is the
// log's signed checkpoint with the witnesses' cosignature lines appended.
type Publish func(ctx context.Context, cp *translog.Checkpoint, note []byte) error

// GatewayConfig configures a Gateway.
type GatewayConfig struct {
	Policy  *Policy
	Log     Log
	Publish Publish
	// Client makes the requests to witnesses (default: 10 s timeout).
	Client *http.Client
	// Interval is the least time between two rounds of submissions
	// (default 500 ms): a busy log signs a checkpoint per batch, far more
	// often than witnesses should be asked.
	Interval time.Duration
	Logger   *slog.Logger
}

// Gateway submits a log's checkpoints to the witnesses of a policy and
// publishes those that meet its quorum. It runs beside the log and never
// holds up an append: witnessing lags the log by a round or so.
type Gateway struct {
	cfg GatewayConfig
	ws  []*witnessState

	mu        sync.Mutex
	witnessed *translog.Checkpoint
}

// witnessState is what the gateway knows of one witness.
type witnessState struct {
	w  Witness
	mu sync.Mutex
	// size is the size of the latest checkpoint of ours the witness
	// cosigned, as far as we know (learned from its answers); cosig is its
	// cosignature line on the checkpoint of size cosigSize.
	size, cosigSize uint64
	cosig           []byte
	lastOK          time.Time
	lastErr         string
	failures        int
	retryAt         time.Time
	alarm           string
}

// WitnessStatus is the state of one witness, for /api/v1/status.
type WitnessStatus struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Size is the tree size the witness last cosigned.
	Size        uint64    `json:"size"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	// Alarm is set when the witness refused a checkpoint in a way that
	// means it has seen another history of this log.
	Alarm string `json:"alarm,omitempty"`
}

// NewGateway returns a gateway; Run starts it.
func NewGateway(cfg GatewayConfig) (*Gateway, error) {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Gateway{cfg: cfg}
	for _, w := range cfg.Policy.Witnesses() {
		if w.URL == "" {
			return nil, fmt.Errorf("witness %s has no URL in the policy: the log cannot submit to it", w.Label)
		}
		if _, err := url.Parse(w.URL); err != nil {
			return nil, fmt.Errorf("witness %s: %v", w.Label, err)
		}
		g.ws = append(g.ws, &witnessState{w: w})
	}
	if len(g.ws) == 0 {
		return nil, errNoWitnesses
	}
	return g, nil
}

// Witnessed returns the newest checkpoint published, with its cosignatures
// in its Note, or nil.
func (g *Gateway) Witnessed() *translog.Checkpoint {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.witnessed
}

// Status returns the state of every witness.
func (g *Gateway) Status() []WitnessStatus {
	out := make([]WitnessStatus, len(g.ws))
	for i, ws := range g.ws {
		ws.mu.Lock()
		out[i] = WitnessStatus{Name: ws.w.Label, URL: ws.w.URL, Size: ws.size, LastSuccess: ws.lastOK, LastError: ws.lastErr, Alarm: ws.alarm}
		ws.mu.Unlock()
	}
	return out
}

// Run submits the log's newest checkpoint to every witness, at most once
// per interval, until ctx ends.
func (g *Gateway) Run(ctx context.Context) {
	var done uint64
	started := false
	for {
		changed := g.cfg.Log.Changed()
		if cp := g.cfg.Log.Latest(); cp != nil && (!started || cp.Size > done || g.retryDue()) {
			started = true
			g.Round(ctx, cp)
			done = cp.Size
		}
		var retry <-chan time.Time
		if d := g.untilRetry(); d > 0 {
			retry = time.After(d)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-retry:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(g.cfg.Interval):
		}
	}
}

// retryDue reports whether a failed witness is due for another try.
func (g *Gateway) retryDue() bool { return g.untilRetry() == 0 }

// untilRetry returns how long until the next failed witness is due (0:
// one is due now; -1: none failed).
func (g *Gateway) untilRetry() time.Duration {
	d := time.Duration(-1)
	now := time.Now()
	for _, ws := range g.ws {
		ws.mu.Lock()
		if ws.failures > 0 {
			w := max(ws.retryAt.Sub(now), 0)
			if d < 0 || w < d {
				d = w
			}
		}
		ws.mu.Unlock()
	}
	return d
}

// Round submits cp to every witness not backing off, in parallel, and
// publishes it with the cosignatures gathered if they meet the quorum. It
// returns the published note, or nil.
func (g *Gateway) Round(ctx context.Context, cp *translog.Checkpoint) []byte {
	var wg sync.WaitGroup
	for _, ws := range g.ws {
		ws.mu.Lock()
		skip := ws.failures > 0 && time.Now().Before(ws.retryAt) || ws.cosigSize == cp.Size && ws.cosig != nil
		ws.mu.Unlock()
		if skip {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.submit(ctx, ws, cp)
		}()
	}
	wg.Wait()
	signed := bytes.Clone(cp.Note)
	for _, ws := range g.ws {
		ws.mu.Lock()
		if ws.cosigSize == cp.Size {
			signed = append(signed, ws.cosig...)
		}
		ws.mu.Unlock()
	}
	if g.cfg.Policy.Check(signed, cp.Size) != nil {
		return nil
	}
	g.mu.Lock()
	newer := g.witnessed == nil || cp.Size > g.witnessed.Size
	g.mu.Unlock()
	if !newer {
		return nil
	}
	if err := g.cfg.Publish(ctx, cp, signed); err != nil {
		g.cfg.Logger.Error("recording a witnessed checkpoint failed", "size", cp.Size, "err", err)
		return nil
	}
	w := *cp
	w.Note = signed
	g.mu.Lock()
	if g.witnessed == nil || w.Size > g.witnessed.Size {
		g.witnessed = &w
	}
	g.mu.Unlock()
	return signed
}

// submit asks one witness to cosign cp, following its 409s to the size it
// holds.
func (g *Gateway) submit(ctx context.Context, ws *witnessState, cp *translog.Checkpoint) {
	ws.mu.Lock()
	old := ws.size
	ws.mu.Unlock()
	for attempt := 0; attempt < 3; attempt++ {
		if old > cp.Size {
			g.fail(ws, fmt.Sprintf("the witness has cosigned size %d, beyond this checkpoint (%d); waiting for the log to grow", old, cp.Size), "")
			return
		}
		status, body, err := g.post(ctx, ws.w, old, cp)
		if err != nil {
			g.fail(ws, err.Error(), "")
			return
		}
		switch status {
		case http.StatusOK:
			line, err := checkCosignature(ws.w, cp.Note, body)
			if err != nil {
				g.fail(ws, err.Error(), "")
				return
			}
			ws.mu.Lock()
			ws.size, ws.cosigSize, ws.cosig = cp.Size, cp.Size, line
			ws.lastOK, ws.lastErr, ws.failures, ws.alarm = time.Now(), "", 0, ""
			ws.mu.Unlock()
			return
		case http.StatusConflict:
			size, err := strconv.ParseUint(strings.TrimSpace(string(body)), 10, 64)
			if err != nil {
				g.fail(ws, fmt.Sprintf("409 with a malformed size %q", clip(body)), "")
				return
			}
			if size == old {
				g.fail(ws, "409", fmt.Sprintf("the witness holds another checkpoint of size %d for this log: the log shows two histories", size))
				return
			}
			ws.mu.Lock()
			ws.size = size
			ws.mu.Unlock()
			old = size
			continue
		case http.StatusUnprocessableEntity:
			g.fail(ws, "422", fmt.Sprintf("the witness refused the consistency proof from size %d to %d: it has cosigned a checkpoint this log does not extend (a split view, or a lost database)", old, cp.Size))
			return
		case http.StatusForbidden:
			g.fail(ws, "403: the witness does not accept this log's signature (is the log's key configured on it?)", "")
			return
		case http.StatusNotFound:
			g.fail(ws, "404: the witness does not witness this log (run vouch witness add-log there)", "")
			return
		default:
			g.fail(ws, fmt.Sprintf("%d: %s", status, clip(body)), "")
			return
		}
	}
	g.fail(ws, "the witness kept moving its size", "")
}

// fail records a failed submission, with an alarm for refusals that mean
// the witness has seen another history of this log, and backs off.
func (g *Gateway) fail(ws *witnessState, msg, alarm string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.failures++
	ws.lastErr = msg
	if alarm != "" {
		ws.alarm = alarm
		ws.lastErr = alarm
	}
	ws.retryAt = time.Now().Add(min(time.Duration(1<<min(ws.failures, 10))*250*time.Millisecond, 5*time.Minute))
	if alarm != "" {
		g.cfg.Logger.Error("ALARM: a witness refused this log's checkpoint", "witness", ws.w.Label, "alarm", alarm)
	} else {
		g.cfg.Logger.Warn("witness submission failed", "witness", ws.w.Label, "err", msg, "retry_in", time.Until(ws.retryAt).Round(time.Millisecond))
	}
}

// post sends one add-checkpoint request.
func (g *Gateway) post(ctx context.Context, w Witness, old uint64, cp *translog.Checkpoint) (int, []byte, error) {
	var proof tlog.TreeProof
	if old > 0 && old < cp.Size {
		p, _, err := g.cfg.Log.ConsistencyProof(ctx, old, cp.Size)
		if err != nil {
			return 0, nil, fmt.Errorf("proving %d to %d: %v", old, cp.Size, err)
		}
		proof = p
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(cp.Note)
	u, err := url.JoinPath(w.URL, "add-checkpoint")
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, &b)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("User-Agent", "vouch-registry (witness submission)")
	resp, err := g.cfg.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, body, err
}

// checkCosignature checks a witness's answer: cosignature lines, one of
// which is a valid cosignature by the witness on the checkpoint. It
// returns that line.
func checkCosignature(w Witness, cp, answer []byte) ([]byte, error) {
	n, err := note.Open(append(bytes.Clone(cp), answer...), note.VerifierList(w.Key))
	if err != nil || len(n.Sigs) != 1 {
		return nil, fmt.Errorf("the witness's answer holds no valid cosignature by %s: %q", w.Name, clip(answer))
	}
	return fmt.Appendf(nil, "— %s %s\n", n.Sigs[0].Name, n.Sigs[0].Base64), nil
}

func clip(b []byte) string {
	s := string(b)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.TrimSpace(s)
}
