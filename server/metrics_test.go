package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

// TestMetrics runs a real registry on loopback, writes to it (one write
// refused), runs the content monitor over linked content that stays,
// changes, vanishes and fails, then scrapes GET /metrics over HTTP as
// Prometheus does and checks that every metric is there with the values
// those writes give it.
func TestMetrics(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	ctx := context.Background()

	// Linked content on another server.
	var mu sync.Mutex
	served := map[string][]byte{"/a.tgz": []byte("metered a"), "/b.tgz": []byte("metered b"), "/c.tgz": []byte("metered c")}
	failing := false
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/c.tgz" && failing {
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
			return
		}
		b, ok := served[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer origin.Close()

	owner := env.Key(keys.Ed25519)
	create := &record.Record{Type: record.TypeCreate, Package: "acme/metered", Owners: []string{owner.ID()}}
	prev := env.Must(create, owner).Hash
	if _, err := env.Submit(nil, &record.Record{Type: record.TypeCreate, Package: "acme/metered", Owners: []string{owner.ID()}}, owner); !client.IsCode(err, "package_exists") {
		t.Fatalf("a second create: %v", err)
	}
	for i, path := range []string{"/a.tgz", "/b.tgz", "/c.tgz"} {
		b := served[path]
		sum := sha256.Sum256(b)
		size := int64(len(b))
		rc := env.Must(&record.Record{Type: record.TypeRelease, Package: "acme/metered", Prev: prev, Version: "1.0." + string(rune('0'+i)),
			Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: &size, MediaType: "application/gzip", Channel: "published", URL: origin.URL + path}, owner)
		prev = rc.Hash
	}
	const accepted = 5 // the identity, the create and three releases
	if rep, err := env.Reg.MonitorLinked(ctx); err != nil || rep.Checked != 3 || len(rep.Tombstoned) != 0 {
		t.Fatalf("first monitor pass: %+v %v", rep, err)
	}
	mu.Lock()
	served["/a.tgz"] = []byte("metered a, changed")
	delete(served, "/b.tgz")
	failing = true
	mu.Unlock()
	if rep, err := env.Reg.MonitorLinked(ctx); err != nil || len(rep.Tombstoned) != 2 {
		t.Fatalf("second monitor pass: %+v %v", rep, err)
	}

	// Requests the API refuses: their routes are patterns, never raw paths.
	for _, p := range []string{"/api/v1/entries/abc", "/api/v1/no-such-thing-1", "/api/v1/no-such-thing-2"} {
		resp, err := http.Get(env.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// The time to proof is observed when a checkpoint covers the entry,
	// which with a shared database may come just after the answer.
	var ms testreg.Metrics
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms = testreg.Scrape(t, env.URL)
		proofs, _ := ms.Value("vouch_append_proof_seconds")
		lag, _ := ms.Value("vouch_log_integration_lag_entries")
		if proofs >= accepted && lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %v proofs observed, integration lag %v", proofs, lag)
		}
		time.Sleep(20 * time.Millisecond)
	}
	atLeast := func(min float64, name string, labels ...string) {
		t.Helper()
		v, ok := ms.Value(name, labels...)
		if !ok {
			t.Errorf("%s%v is missing", name, labels)
		} else if v < min {
			t.Errorf("%s%v = %v, want at least %v", name, labels, v, min)
		}
	}
	exactly := func(want float64, name string, labels ...string) {
		t.Helper()
		v, ok := ms.Value(name, labels...)
		if !ok || v != want {
			t.Errorf("%s%v = %v (present: %v), want %v", name, labels, v, ok, want)
		}
	}
	atLeast(accepted, "vouch_append_ack_seconds")
	atLeast(accepted, "vouch_append_proof_seconds")
	atLeast(1, "vouch_sequencer_batch_size")
	atLeast(0, "vouch_sequencer_queue_depth")
	exactly(1, "vouch_refusals_total", "code", "package_exists")
	atLeast(accepted+3, "vouch_log_sequenced_entries") // and the genesis and two tombstones
	atLeast(accepted+3, "vouch_log_checkpoint_size_entries")
	exactly(0, "vouch_log_integration_lag_entries")
	atLeast(0, "vouch_log_checkpoint_age_seconds")
	exactly(1, "vouch_log_integrator")
	exactly(3, "vouch_content_monitor_results_total", "result", "ok")
	exactly(1, "vouch_content_monitor_results_total", "result", "changed")
	exactly(1, "vouch_content_monitor_results_total", "result", "gone")
	exactly(1, "vouch_content_monitor_results_total", "result", "error")
	exactly(0, "vouch_content_monitor_results_total", "result", "purged")
	atLeast(accepted, "vouch_http_requests_total", "route", "POST /api/v1/entries", "code", "201")
	exactly(1, "vouch_http_requests_total", "route", "POST /api/v1/entries", "code", "409")
	exactly(1, "vouch_http_requests_total", "route", "GET /api/v1/entries/{index}", "code", "400")
	exactly(2, "vouch_http_requests_total", "route", "/api/", "code", "404")
	atLeast(accepted+1, "vouch_http_request_duration_seconds", "route", "POST /api/v1/entries")
	atLeast(1, "vouch_db_transaction_seconds", "backend", env.Backend, "kind", "sequence")
	atLeast(1, "vouch_db_transaction_seconds", "backend", env.Backend, "kind", "read")
	atLeast(0, "vouch_db_transaction_seconds", "backend", env.Backend, "kind", "integrate")
	if env.Backend == "postgres" {
		// PostgreSQL integrates in transactions of their own.
		atLeast(1, "vouch_db_transaction_seconds", "backend", env.Backend, "kind", "integrate")
	}
	atLeast(1, "go_goroutines")
	for _, f := range []string{"vouch_http_requests_total", "vouch_http_request_duration_seconds"} {
		for _, m := range ms[f].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && strings.Contains(l.GetValue(), "no-such-thing") {
					t.Errorf("%s has a raw path as its route: %q", f, l.GetValue())
				}
			}
		}
	}
	// A registry has no upstream, and without a witness policy no witnesses.
	for _, f := range []string{"vouch_mirror_lag_entries", "vouch_mirror_stopped", "vouch_witness_lag_entries"} {
		if ms[f] != nil {
			t.Errorf("%s is reported by a registry without one", f)
		}
	}
}

// TestMetricsRoute: /metrics is the server's own route, not a page, and
// answers bad requests with 4xx.
func TestMetricsRoute(t *testing.T) {
	env := testreg.Start(t, testreg.Options{SQLite: true})
	resp, err := http.Get(env.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") ||
		!strings.Contains(string(body), "# TYPE vouch_append_ack_seconds histogram") {
		t.Fatalf("GET /metrics: %d %q\n%.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	for _, c := range []struct{ method, path string }{{"POST", "/metrics"}, {"GET", "/metrics?x=%zz"}, {"DELETE", "/metrics"}} {
		req, _ := http.NewRequest(c.method, env.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
