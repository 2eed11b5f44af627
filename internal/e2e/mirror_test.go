package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/content"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/internal/backend"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/mirror"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/registry"
	"github.com/vouchdev/vouch/server"
	"github.com/vouchdev/vouch/translog"
)

// testMirror is a mirror served on loopback.
type testMirror struct {
	t    *testing.T
	dir  string
	url  string
	reg  *registry.Registry
	m    *mirror.Mirror
	srv  *httptest.Server
	stop func()
}

// startMirror runs a mirror of upstream (a registry or a mirror) in dir.
func startMirror(t *testing.T, upstream string, v *translog.Verifier, dir string) *testMirror {
	t.Helper()
	ctx := context.Background()
	d, err := datadir.OpenMirror(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := backend.OpenStore(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	bs, err := backend.OpenBlobs(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	mets := metrics.New()
	reg, err := registry.Open(ctx, registry.Config{Store: st, Origin: v.Origin(), LogVKey: v.Key(), Blobs: bs, Logger: quiet,
		PollInterval: 10 * time.Millisecond, Metrics: mets})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mirror.New(mirror.Config{Upstream: upstream, LogKey: v, Registry: reg, Blobs: bs,
		Fetcher:   &content.Fetcher{Client: content.NewClient(true), Blobs: bs, MaxSize: 1 << 30},
		StateFile: filepath.Join(dir, datadir.MirrorStateFile), Interval: 20 * time.Millisecond, Logger: quiet, Metrics: mets})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Registry: m.Serving(), Logger: quiet, Metrics: mets}))
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(mctx); close(done) }()
	tm := &testMirror{t: t, dir: dir, url: srv.URL, reg: reg, m: m, srv: srv}
	stopped := false
	tm.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		srv.Close()
		reg.Close()
		st.Close()
		d.Close()
	}
	t.Cleanup(tm.stop)
	return tm
}

// caughtUp waits until the mirror serves the upstream's checkpoint.
func (tm *testMirror) caughtUp(upstream string) []byte {
	tm.t.Helper()
	want := logCheckpoint(tm.t, upstream)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := logCheckpoint(tm.t, tm.url)
		if bytes.Equal(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the mirror serves\n%s\nthe upstream\n%s\nstatus %+v", got, want, tm.m.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func getBody(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// sameLog checks that two servers serve the same checkpoint, tiles and
// entry bundles, byte for byte.
func sameLog(t *testing.T, a, b string) {
	t.Helper()
	cpA, cpB := logCheckpoint(t, a), logCheckpoint(t, b)
	if !bytes.Equal(cpA, cpB) {
		t.Fatalf("checkpoints differ:\n%s\n%s", cpA, cpB)
	}
	lines := strings.Split(string(cpA), "\n")
	var size uint64
	fmt.Sscan(lines[1], &size)
	var paths []string
	for n := uint64(0); n*256 < size; n++ {
		w := ""
		if (n+1)*256 > size {
			w = fmt.Sprintf(".p/%d", size-n*256)
		}
		paths = append(paths, fmt.Sprintf("/log/tile/0/%03d%s", n, w), fmt.Sprintf("/log/tile/entries/%03d%s", n, w))
	}
	for _, p := range paths {
		stA, bA := getBody(t, a+p)
		stB, bB := getBody(t, b+p)
		if stA != 200 || stB != 200 || !bytes.Equal(bA, bB) {
			t.Fatalf("%s differs: %d (%d bytes) and %d (%d bytes)", p, stA, len(bA), stB, len(bB))
		}
	}
}

// TestMirrorChain runs an upstream, a mirror and a mirror of the mirror
// while writers write: once caught up, the three serve the same
// checkpoints and tiles byte for byte and the same answers; the mirrors
// refuse writes, naming the upstream; a mirror restarted after downtime
// catches up; an erasure upstream leaves no byte of the erased data in
// either mirror.
func TestMirrorChain(t *testing.T) {
	up := testreg.Start(t, testreg.Options{SQLite: true})
	ctx := context.Background()
	c := up.Client()
	m1 := startMirror(t, up.URL, up.Verifier, filepath.Join(t.TempDir(), "m1"))
	m2 := startMirror(t, m1.url, up.Verifier, filepath.Join(t.TempDir(), "m2"))

	// Writers, while the mirrors follow: identities with profiles, a
	// package, releases with content, attestations, a yank with a note.
	secret := "Mirrored Person 4471"
	owner := newKey(t, keys.Ed25519)
	prof, salt, commitment, err := client.NewProfile(api.Profile{Name: secret, Email: "mp4471@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	sub := sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: owner.Public().Base64(), Commitment: commitment}, owner)
	sub.Profile, sub.Salt = prof, salt
	if _, err := c.Submit(ctx, sub, true); err != nil {
		t.Fatal(err)
	}
	l := &lc{t: t, env: up, c: c, pkg: "acme/mirrored", owner: owner}
	up.Must(&record.Record{Type: record.TypeCreate, Package: l.pkg, Owners: []string{owner.ID()}}, owner)
	var digests []string
	for i := 0; i < 3; i++ {
		body := []byte(fmt.Sprintf("mirrored content %d", i))
		digests = append(digests, l.upload(body))
		l.release(fmt.Sprintf("1.%d.0", i), body, "published", owner)
	}
	stmtSecret := "statement-secret-mirror-9917"
	for i := 0; i < 3; i++ {
		if _, err := attest(t, c, statement(predicate.Approval, map[string]any{"decision": "approved", "scope": stmtSecret}, digests[i]), nil, owner); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 300; i++ {
		register(t, c)
	}
	m1.caughtUp(up.URL)
	m2.caughtUp(up.URL)
	sameLog(t, up.URL, m1.url)
	sameLog(t, up.URL, m2.url)
	// Caught up, the mirrors say so in their metrics.
	upSize := up.Reg.Latest().Size
	for _, m := range []*testMirror{m1, m2} {
		ms := testreg.Scrape(t, m.url)
		for _, c := range []struct {
			name string
			want float64
		}{{"vouch_mirror_lag_entries", 0}, {"vouch_mirror_stopped", 0}, {"vouch_mirror_upstream_size_entries", float64(upSize)},
			{"vouch_log_checkpoint_size_entries", float64(upSize)}, {"vouch_log_integrator", 0}} {
			if v, ok := ms.Value(c.name); !ok || v != c.want {
				t.Errorf("mirror at %s: %s = %v (present: %v), want %v", m.url, c.name, v, ok, c.want)
			}
		}
		if v, _ := ms.Value("vouch_mirror_last_sync_timestamp_seconds"); v < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("mirror at %s: last sync at %v", m.url, v)
		}
		if v, _ := ms.Value("vouch_db_transaction_seconds", "kind", "sequence"); v < 1 {
			t.Errorf("mirror at %s: %v replication transactions timed", m.url, v)
		}
	}

	// The same answers, at the tip and as of an earlier size.
	for _, q := range []string{"/api/v1/packages/acme%2Fmirrored", "/api/v1/packages/acme%2Fmirrored?at=5&include=all",
		"/api/v1/identities/" + owner.ID(), "/api/v1/query?package=acme/mirrored&predicate=true"} {
		_, want := getBody(t, up.URL+q)
		for _, m := range []*testMirror{m1, m2} {
			st, got := getBody(t, m.url+q)
			if st != 200 || !sameJSONWithoutCheckpoint(t, want, got) {
				t.Fatalf("%s differs on the mirror (%d):\n%s\n%s", q, st, want, got)
			}
		}
	}
	// Content is copied, and the client verifies a release on a mirror.
	mc, err := client.New(m2.url, client.Options{LogKey: up.Verifier, Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := filepath.Join(t.TempDir(), "fetched")
		err := mc.Fetch(ctx, digests[2], int64(len("mirrored content 2")), out, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("content not copied to the mirror of the mirror: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ev, err := mc.Gather(ctx, "acme/mirrored", "1.2.0", client.At{})
	if err != nil || len(ev.Attestations) != 1 || !ev.Attestations[0].Verified {
		t.Fatalf("verifying on the mirror: %+v %v", ev, err)
	}
	// Writes are refused, naming the upstream.
	k := newKey(t, keys.Ed25519)
	_, err = mc.Submit(ctx, sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k), true)
	if !client.IsCode(err, "read_only") || !strings.Contains(err.Error(), m1.url) {
		t.Fatalf("a write to the mirror of the mirror: %v", err)
	}

	// Downtime: m1 stops, the upstream goes on, m1 comes back and
	// catches up, and m2 with it.
	m1.stop()
	for i := 0; i < 40; i++ {
		register(t, c)
	}
	m1 = startMirror(t, up.URL, up.Verifier, m1.dir)
	m1.caughtUp(up.URL)
	sameLog(t, up.URL, m1.url)
	// m1 serves at a new address now: m2 follows it there.
	m2.stop()
	m2 = startMirror(t, m1.url, up.Verifier, m2.dir)
	m2.caughtUp(up.URL)

	// A banish upstream purges the content from both mirrors.
	l.must(record.ChainOperator, &record.Record{Type: record.TypeBanish, Version: "1.0.0", Reason: "malware"}, up.Operator)
	m1.caughtUp(up.URL)
	m2.caughtUp(up.URL)
	for _, m := range []*testMirror{m1, m2} {
		if st, _ := getBody(t, m.url+"/api/v1/blobs/"+digests[0]); st != http.StatusUnavailableForLegalReasons {
			t.Fatalf("banished content on the mirror at %s: %d", m.url, st)
		}
		if found := grepDir(t, filepath.Join(m.dir, "blobs"), "mirrored content 0"); len(found) > 0 {
			t.Fatalf("banished content left in the mirror: %v", found)
		}
	}

	// An erasure upstream is carried out by both mirrors.
	if grepDir(t, m2.dir, secret, stmtSecret) == nil {
		t.Fatal("the mirror holds no copy of the data about to be erased: the test proves nothing")
	}
	if _, err := c.Admin(ctx, &api.AdminRequest{Action: "erase", Identity: owner.ID()}, up.Operator); err != nil {
		t.Fatal(err)
	}
	// Each mirror says in its status when it has carried the erasure out
	// (its own feed lists it from the start, for the mirrors that follow
	// it); then no byte of the data may be left in either directory.
	for _, m := range []*testMirror{m1, m2} {
		deadline := time.Now().Add(60 * time.Second)
		for {
			var feed api.Erasures
			if st, b := getBody(t, m.url+"/api/v1/erasures"); st == 200 && json.Unmarshal(b, &feed) == nil && len(feed.Erasures) > 0 &&
				m.m.Status().Erased > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the mirror at %s did not carry out the erasure: %+v", m.url, m.m.Status())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	st := m1.m.Status()
	m2.stop() // SQLite files are read whole only while closed
	m1.stop()
	if found := append(grepDir(t, m1.dir, secret, stmtSecret), grepDir(t, m2.dir, secret, stmtSecret)...); len(found) > 0 {
		t.Fatalf("erased data left in a mirror: %v", found)
	}
	if st.Stopped || st.Lag != 0 {
		t.Fatalf("mirror status: %+v", st)
	}
}

// sameJSONWithoutCheckpoint compares two JSON answers, leaving out the
// checkpoint they are valid for (a mirror stores the upstream's
// checkpoints at the sizes it synced at, so an answer as of an earlier
// size may cite a later one than the upstream does; both are signed by
// the upstream's key).
func sameJSONWithoutCheckpoint(t *testing.T, a, b []byte) bool {
	var ja, jb map[string]any
	if json.Unmarshal(a, &ja) != nil || json.Unmarshal(b, &jb) != nil {
		return false
	}
	delete(ja, "checkpoint")
	delete(jb, "checkpoint")
	ea, _ := json.Marshal(ja)
	eb, _ := json.Marshal(jb)
	return bytes.Equal(ea, eb)
}

// TestMirrorStopsOnMisbehaviour points mirrors at an upstream that forks
// and at one that rolls back: each stops following, keeps serving the
// last good state, and reports the evidence.
func TestMirrorStopsOnMisbehaviour(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "up")
	up := testreg.Start(t, testreg.Options{Dir: dir, SQLite: true})
	for i := 0; i < 3; i++ {
		register(t, up.Client())
	}
	up.Stop()
	// A copy of the log as it is now; then the log goes on.
	old := filepath.Join(t.TempDir(), "old")
	copyDir(t, dir, old)
	os.Remove(filepath.Join(old, "LOCK"))
	fork := filepath.Join(t.TempDir(), "fork")
	copyDir(t, dir, fork)
	os.Remove(filepath.Join(fork, "LOCK"))
	up = testreg.Start(t, testreg.Options{Dir: dir, SQLite: true})
	for i := 0; i < 5; i++ {
		register(t, up.Client())
	}

	for _, tc := range []struct {
		name, evidence string
		misbehave      func() string // returns the URL that now misbehaves
	}{
		{"rollback", "rolled back", func() string {
			// The upstream is restored from the old copy.
			up.Stop()
			return testreg.Start(t, testreg.Options{Dir: old, SQLite: true}).URL
		}},
		{"fork", "forked", func() string {
			// Another history under the same key, of the same size.
			f := testreg.Start(t, testreg.Options{Dir: fork, SQLite: true})
			for i := 0; i < 5; i++ {
				register(t, f.Client())
			}
			return f.URL
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "fork" {
				up = testreg.Start(t, testreg.Options{Dir: dir, SQLite: true})
			}
			proxy := &switchProxy{}
			proxy.set(up.URL)
			ps := httptest.NewServer(proxy)
			defer ps.Close()
			m := startMirror(t, ps.URL, up.Verifier, filepath.Join(t.TempDir(), "m"))
			good := m.caughtUp(up.URL)
			proxy.set(tc.misbehave())
			deadline := time.Now().Add(20 * time.Second)
			for !m.m.Status().Stopped {
				if time.Now().After(deadline) {
					t.Fatalf("the mirror did not stop: %+v", m.m.Status())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if v, ok := testreg.Scrape(t, m.url).Value("vouch_mirror_stopped"); v != 1 {
				t.Errorf("vouch_mirror_stopped = %v (present: %v) on a stopped mirror", v, ok)
			}
			st := status(t, m.url)
			if st.Mirror == nil || !st.Mirror.Stopped || !strings.Contains(st.Mirror.Evidence, tc.evidence) || len(st.Alarms) == 0 {
				t.Fatalf("status after misbehaviour: %+v", st)
			}
			t.Logf("evidence: %.200s", st.Mirror.Evidence)
			if got := logCheckpoint(t, m.url); !bytes.Equal(got, good) {
				t.Fatalf("the mirror no longer serves the last good checkpoint:\n%s", got)
			}
			var se *mirror.StoppedError
			if err := m.m.Sync(context.Background()); !errors.As(err, &se) {
				t.Fatalf("a stopped mirror synced again: %v", err)
			}
		})
	}
}

// switchProxy forwards to a target that the test can change.
type switchProxy struct {
	mu     sync.Mutex
	target string
}

func (p *switchProxy) set(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

func (p *switchProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	resp, err := http.Get(target + r.URL.RequestURI())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// TestMirrorRetriesContentTheUpstreamLacks: content that the upstream does
// not hold when the mirror first asks for it (404) is asked for again
// later, not given up on. A mirror of a mirror meets that whenever it is
// quicker than its upstream, which copies content after the entries.
func TestMirrorRetriesContentTheUpstreamLacks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "up")
	up := testreg.Start(t, testreg.Options{SQLite: true, Dir: dir})
	c := up.Client()
	owner := newKey(t, keys.Ed25519)
	if _, err := c.Submit(context.Background(), sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: owner.Public().Base64()}, owner), true); err != nil {
		t.Fatal(err)
	}
	l := &lc{t: t, env: up, c: c, pkg: "acme/late", owner: owner}
	up.Must(&record.Record{Type: record.TypeCreate, Package: l.pkg, Owners: []string{owner.ID()}}, owner)
	body := []byte("content the upstream lacks for a while")
	digest := l.upload(body)
	l.release("1.0.0", body, "published", owner)

	// Take the content's file out of the upstream's blob directory.
	var stored string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), strings.TrimPrefix(digest, "sha256:")) {
			stored = p
		}
		return err
	})
	if err != nil || stored == "" {
		t.Fatalf("the upstream's copy of %s not found under %s (%v)", digest, dir, err)
	}
	held := filepath.Join(t.TempDir(), "held")
	if err := os.Rename(stored, held); err != nil {
		t.Fatal(err)
	}

	// The mirror follows the upstream through a proxy that tells when it
	// has answered the mirror's request for the content with a 404.
	target, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	asked := make(chan struct{})
	var once sync.Once
	proxy.ModifyResponse = func(resp *http.Response) error {
		if strings.HasPrefix(resp.Request.URL.Path, "/api/v1/blobs/") && resp.StatusCode == http.StatusNotFound {
			once.Do(func() { close(asked) })
		}
		return nil
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	m := startMirror(t, front.URL, up.Verifier, filepath.Join(t.TempDir(), "m"))
	select {
	case <-asked:
	case <-time.After(30 * time.Second):
		t.Fatal("the mirror never asked the upstream for the content")
	}
	if st, _ := getBody(t, m.url+"/api/v1/blobs/"+digest); st != http.StatusNotFound {
		t.Fatalf("the mirror serves content the upstream lacked: %d", st)
	}

	// The upstream holds it again: the mirror copies it.
	if err := os.Rename(held, stored); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, got := getBody(t, m.url+"/api/v1/blobs/"+digest)
		if st == http.StatusOK && bytes.Equal(got, body) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mirror did not copy the content once the upstream held it: %d %s", st, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
