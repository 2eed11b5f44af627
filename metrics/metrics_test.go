package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestNilRecordsNothing: every method of a nil Metrics is a no-op, so that
// components opened without metrics need no checks.
func TestNilRecordsNothing(t *testing.T) {
	var m *Metrics
	m.ObserveAck(time.Millisecond)
	m.ObserveProof(time.Millisecond)
	m.ObserveBatch(3)
	m.Refused("malformed")
	m.Content(ContentOK)
	m.DB("sqlite").Since(TxRead, time.Now())
	m.AttachLog(func(context.Context) LogReadings { return LogReadings{} })()
	m.AttachMirror(func() MirrorReadings { return MirrorReadings{} })()
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if got := m.HTTP(h); got == nil {
		t.Fatal("HTTP of nil Metrics returned nil")
	}
}

// gather returns the gathered metric families by name.
func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// TestHTTPRoutes: requests are counted by the pattern that served them
// (bounded, whatever the path and method), and a handler that aborts
// counts as 499; the wrapped writer still reaches the connection's
// deadlines through http.ResponseController.
func TestHTTPRoutes(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline through the wrapper: %v", err)
		}
		io.WriteString(w, "item")
	})
	mux.HandleFunc("GET /abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	srv := httptest.NewServer(m.HTTP(mux))
	defer srv.Close()
	for _, c := range []struct{ method, path string }{
		{"GET", "/items/1"}, {"GET", "/items/2"}, {"GET", "/random/a"}, {"BREW", "/random/b"}, {"GET", "/abort"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	got := map[string]float64{}
	for _, mt := range gather(t, m)["vouch_http_requests_total"].GetMetric() {
		l := labels(mt)
		got[l["route"]+" "+l["code"]] = mt.GetCounter().GetValue()
	}
	want := map[string]float64{"GET /items/{id} 200": 2, "/ 404": 2, "GET /abort 499": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("routes %v, want %v", got, want)
	}
}

// TestReadings: the figures of attached sources are read at each scrape,
// and a detached source no longer reports, unless another replaced it.
func TestReadings(t *testing.T) {
	m := New()
	detach := m.AttachLog(func(ctx context.Context) LogReadings {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the source's context has no deadline")
		}
		return LogReadings{QueueDepth: 7, Sequenced: 120, SequencedOK: true, CheckpointSize: 100, CheckpointTime: time.Now().Add(-3 * time.Second),
			Integrator: true, Witnesses: []WitnessReadings{{Name: "w1", Behind: 20, LastSuccess: time.Unix(1700000000, 0)}, {Name: "w2", Alarm: true}}}
	})
	m.AttachMirror(func() MirrorReadings { return MirrorReadings{UpstreamSize: 50, Size: 45, Stopped: true} })
	fams := gather(t, m)
	value := func(name string, want float64, lbl ...string) {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Errorf("%s missing", name)
			return
		}
		for _, mt := range f.GetMetric() {
			l := labels(mt)
			if len(lbl) == 2 && l[lbl[0]] != lbl[1] {
				continue
			}
			if v := mt.GetGauge().GetValue(); v != want {
				t.Errorf("%s%v = %v, want %v", name, lbl, v, want)
			}
			return
		}
		t.Errorf("%s%v missing", name, lbl)
	}
	value("vouch_sequencer_queue_depth", 7)
	value("vouch_log_sequenced_entries", 120)
	value("vouch_log_checkpoint_size_entries", 100)
	value("vouch_log_integration_lag_entries", 20)
	value("vouch_log_integrator", 1)
	value("vouch_witness_lag_entries", 20, "witness", "w1")
	value("vouch_witness_last_success_timestamp_seconds", 1700000000, "witness", "w1")
	value("vouch_witness_last_success_timestamp_seconds", 0, "witness", "w2")
	value("vouch_witness_alarm", 1, "witness", "w2")
	value("vouch_mirror_lag_entries", 5)
	value("vouch_mirror_stopped", 1)
	if age := fams["vouch_log_checkpoint_age_seconds"].GetMetric()[0].GetGauge().GetValue(); age < 3 || age > 60 {
		t.Errorf("checkpoint age %v", age)
	}
	// A second source replaces the first; the first's detach leaves it.
	m.AttachLog(func(context.Context) LogReadings { return LogReadings{QueueDepth: 1} })
	detach()
	value = func(name string, want float64, _ ...string) {
		t.Helper()
		if v := gather(t, m)[name].GetMetric()[0].GetGauge().GetValue(); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	value("vouch_sequencer_queue_depth", 1)
	if f := gather(t, m)["vouch_log_sequenced_entries"]; f != nil {
		t.Errorf("an unknown head is reported: %v", f)
	}
}

// TestHandler serves the text exposition format.
func TestHandler(t *testing.T) {
	m := New()
	m.Refused("stale_prev")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `vouch_refusals_total{code="stale_prev"} 1`) {
		t.Fatalf("exposition:\n%s", b)
	}
}

// TestCheapOnTheWritePath: what a submission records on its way (its
// batch, its time to ack and proof, its database time, its request)
// allocates nothing beyond the one writer that remembers the status.
func TestCheapOnTheWritePath(t *testing.T) {
	m := New()
	db := m.DB("sqlite")
	if n := testing.AllocsPerRun(100, func() {
		m.ObserveBatch(17)
		m.ObserveAck(time.Millisecond)
		m.ObserveProof(time.Millisecond)
		db.Since(TxSequence, time.Now())
		m.Content(ContentOK)
	}); n != 0 {
		t.Errorf("observations allocate %v times", n)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/entries", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	h := m.HTTP(mux)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/entries", nil)
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req) // the first request of a route and status makes its series
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) }); n > 1 {
		t.Errorf("counting a request allocates %v times", n)
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}
