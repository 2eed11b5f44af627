package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/audit"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// clock is a settable clock for the registry.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func httpDo(t *testing.T, method, url string, body []byte, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// lc is a lifecycle test fixture: a registry, a package, its owner, a
// delegate, a stranger and the operator.
type lc struct {
	t                         *testing.T
	env                       *testreg.Env
	clk                       *clock
	c                         *client.Client
	owner, delegate, stranger *keys.PrivateKey
	pkg                       string
}

func newLC(t *testing.T) *lc {
	clk := &clock{}
	env := testreg.Start(t, testreg.Options{Now: clk.now, MaxBlobSize: 1 << 20})
	l := &lc{t: t, env: env, clk: clk, c: env.Client(), pkg: "acme/widget"}
	l.owner, l.delegate, l.stranger = env.Key(keys.Ed25519), env.Key(keys.ECDSAP256), env.Key(keys.Ed25519)
	env.Must(&record.Record{Type: record.TypeCreate, Package: l.pkg, Owners: []string{l.owner.ID()}}, l.owner)
	l.must(record.ChainPackage, &record.Record{Type: record.TypeGrant, KeyID: l.delegate.ID(), Permissions: []string{"publish", "yank"}}, l.owner)
	return l
}

// write fills in package, prev and time, signs and submits a record.
func (l *lc) write(chain record.Chain, r *record.Record, k *keys.PrivateKey) (*client.Receipt, error) {
	ctx := context.Background()
	if r.Type != record.TypeGrantOperator {
		r.Package = l.pkg
	}
	if chain == record.ChainOperator {
		ops, err := l.c.Operators(ctx)
		if err != nil {
			l.t.Fatal(err)
		}
		r.Prev = ops.Head
	} else {
		p, _, err := l.c.Package(ctx, l.pkg, client.At{})
		if err != nil {
			l.t.Fatal(err)
		}
		r.Prev = p.Head
	}
	return l.env.Submit(l.c, r, k)
}

func (l *lc) must(chain record.Chain, r *record.Record, k *keys.PrivateKey) uint64 {
	l.t.Helper()
	rc, err := l.write(chain, r, k)
	if err != nil {
		l.t.Fatalf("%s %s: %v", r.Type, r.Version, err)
	}
	return rc.Checkpoint.Size
}

func (l *lc) refused(code string, chain record.Chain, r *record.Record, k *keys.PrivateKey) {
	l.t.Helper()
	_, err := l.write(chain, r, k)
	if !client.IsCode(err, code) {
		l.t.Fatalf("%s %s: got %v, want %s", r.Type, r.Version, err, code)
	}
}

func (l *lc) upload(content []byte) string {
	l.t.Helper()
	d := digestOf(content)
	if err := l.c.UploadBlob(context.Background(), d, bytes.NewReader(content), int64(len(content)), nil); err != nil {
		l.t.Fatal(err)
	}
	return d
}

func (l *lc) release(v string, content []byte, channel string, k *keys.PrivateKey) uint64 {
	l.t.Helper()
	n := int64(len(content))
	return l.must(record.ChainPackage, &record.Record{Type: record.TypeRelease, Version: v, Digest: digestOf(content), Size: &n,
		MediaType: "application/octet-stream", Channel: channel}, k)
}

func (l *lc) pkgAt(at uint64, include string) *api.Package {
	l.t.Helper()
	p, _, err := l.c.Package(context.Background(), l.pkg, client.At{Size: at, Include: include})
	if err != nil {
		l.t.Fatal(err)
	}
	return p
}

func versions(p *api.Package) string {
	var s []string
	for _, r := range p.Releases {
		s = append(s, r.Version+"="+r.Status)
	}
	return strings.Join(s, " ")
}

func (l *lc) content(digest string) int {
	st, _, _ := httpDo(l.t, "GET", l.env.URL+"/api/v1/blobs/"+digest, nil)
	return st
}

func (l *lc) meta(v string, at uint64) (int, api.ReleaseResponse) {
	q := ""
	if at > 0 {
		q = fmt.Sprintf("?at=%d", at)
	}
	st, body, _ := httpDo(l.t, "GET", l.env.URL+"/api/v1/packages/acme%2Fwidget/versions/"+v+q, nil)
	var rr api.ReleaseResponse
	json.Unmarshal(body, &rr)
	return st, rr
}

// TestLifecycleAndPointInTime publishes, stages, yanks, deletes, tombstones
// and banishes over HTTP, checks the status codes of content and metadata,
// asks the same questions at earlier tree sizes and gets the earlier
// answers, and audits the resulting log.
func TestLifecycleAndPointInTime(t *testing.T) {
	l := newLC(t)
	op := l.env.Operator
	v1, v2, v3, v4 := []byte("widget 1.0.0"), []byte("widget 1.1.0-rc"), []byte("widget 2.0.0"), []byte("widget 3.0.0")

	// Content must be uploaded, and match, before a release names it.
	l.refused("content_missing", record.ChainPackage, &record.Record{Type: record.TypeRelease, Version: "1.0.0", Digest: digestOf(v1),
		Size: ptr(int64(len(v1))), MediaType: "text/plain", Channel: "published"}, l.owner)
	for _, b := range [][]byte{v1, v2, v3, v4} {
		l.upload(b)
	}
	l.refused("content_mismatch", record.ChainPackage, &record.Record{Type: record.TypeRelease, Version: "1.0.0", Digest: digestOf(v1),
		Size: ptr(int64(len(v1) + 1)), MediaType: "text/plain", Channel: "published"}, l.owner)
	// A stranger cannot publish.
	l.refused("not_authorized", record.ChainPackage, &record.Record{Type: record.TypeRelease, Version: "1.0.0", Digest: digestOf(v1),
		Size: ptr(int64(len(v1))), MediaType: "text/plain", Channel: "published"}, l.stranger)

	l.release("1.0.0", v1, "published", l.owner)
	l.release("1.1.0-rc", v2, "staged", l.delegate)
	l.release("2.0.0", v3, "published", l.delegate)
	n1 := l.release("3.0.0", v4, "published", l.owner)

	p := l.pkgAt(0, "")
	if p.Latest != "3.0.0" || versions(p) != "1.0.0=published 2.0.0=published 3.0.0=published" {
		t.Fatalf("after publishing: latest %s, %s", p.Latest, versions(p))
	}
	if p = l.pkgAt(0, "staged"); versions(p) != "1.0.0=published 1.1.0-rc=staged 2.0.0=published 3.0.0=published" {
		t.Fatalf("include=staged: %s", versions(p))
	}
	if st, rr := l.meta("1.1.0-rc", 0); st != 200 || !rr.Unvalidated {
		t.Fatalf("staged release: %d %+v", st, rr)
	}
	if l.content(digestOf(v2)) != 200 {
		t.Fatal("staged content is not served")
	}
	// Range requests work.
	st, body, _ := httpDo(t, "GET", l.env.URL+"/api/v1/blobs/"+digestOf(v1), nil, "Range", "bytes=7-11")
	if st != http.StatusPartialContent || string(body) != "1.0.0" {
		t.Fatalf("range: %d %q", st, body)
	}

	// The operator yanks 3.0.0; the owner may not unyank it.
	n2 := l.must(record.ChainOperator, &record.Record{Type: record.TypeYank, Actor: "operator", Version: "3.0.0", Reason: "security"}, op)
	l.refused("not_authorized", record.ChainPackage, &record.Record{Type: record.TypeUnyank, Version: "3.0.0"}, l.owner)
	// The delegate yanks 2.0.0 with a note; the note stays off the log.
	note := "CVE-2026-0001: parser crash"
	rc, err := l.c.Submit(context.Background(), signedWithNote(t, l, &record.Record{Type: record.TypeYank, Version: "2.0.0", Reason: "security"}, note, l.delegate), true)
	if err != nil {
		t.Fatal(err)
	}
	n3 := rc.Checkpoint.Size
	if p = l.pkgAt(0, ""); p.Latest != "1.0.0" || versions(p) != "1.0.0=published" {
		t.Fatalf("after yanks: latest %s, %s", p.Latest, versions(p))
	}
	if st, rr := l.meta("2.0.0", 0); st != 200 || rr.Status != "yanked" || rr.YankedBy != "owner" || rr.Note != note {
		t.Fatalf("yanked release: %d %+v", st, rr)
	}
	if l.content(digestOf(v3)) != 200 {
		t.Fatal("yanked content must stay fetchable")
	}
	entry, _ := l.env.Store.Entry(context.Background(), rc.Index)
	if bytes.Contains(entry.Leaf, []byte("CVE")) {
		t.Fatal("the note's text entered the log")
	}

	// Deleting: the staged release any time; published ones within the window.
	n4 := l.must(record.ChainPackage, &record.Record{Type: record.TypeDelete, Version: "1.1.0-rc", Reason: "mistake"}, l.owner)
	l.clk.advance(state.DefaultDeleteWindow + time.Minute)
	l.refused("delete_window_closed", record.ChainPackage, &record.Record{Type: record.TypeDelete, Version: "1.0.0", Reason: "mistake"}, l.owner)
	if l.content(digestOf(v2)) != http.StatusGone {
		t.Fatal("deleted content is not 410")
	}
	if st, rr := l.meta("1.1.0-rc", 0); st != http.StatusGone || rr.Digest != digestOf(v2) || rr.RemovedBy != "owner" || rr.Reason != "mistake" || rr.Size != 0 {
		t.Fatalf("deleted metadata: %d %+v", st, rr)
	}
	// The version is never reusable.
	l.refused("version_exists", record.ChainPackage, &record.Record{Type: record.TypeRelease, Version: "1.1.0-rc", Digest: digestOf(v2),
		Size: ptr(int64(len(v2))), MediaType: "text/plain", Channel: "staged"}, l.owner)

	// Tombstone 2.0.0 for a legal hold (451), banish 1.0.0 (451, bytes purged).
	n5 := l.must(record.ChainOperator, &record.Record{Type: record.TypeTombstone, Version: "2.0.0", Reason: "legal-hold"}, op)
	if l.content(digestOf(v3)) != http.StatusUnavailableForLegalReasons {
		t.Fatal("legal-hold content is not 451")
	}
	if st, rr := l.meta("2.0.0", 0); st != http.StatusUnavailableForLegalReasons || rr.Reason != "legal-hold" || rr.Digest != "" {
		t.Fatalf("tombstoned metadata: %d %+v", st, rr)
	}
	n6 := l.must(record.ChainOperator, &record.Record{Type: record.TypeBanish, Version: "1.0.0", Reason: "legal"}, op)
	waitFor(t, func() bool { _, err := l.env.Reg.BlobSize(context.Background(), digestOf(v1)); return err != nil })
	if l.content(digestOf(v1)) != http.StatusUnavailableForLegalReasons {
		t.Fatal("banished content is not 451")
	}
	if st, _, _ := httpDo(t, "PUT", l.env.URL+"/api/v1/blobs/"+digestOf(v1), v1); st != http.StatusUnavailableForLegalReasons {
		t.Fatalf("re-uploading banished content: %d", st)
	}
	if st, rr := l.meta("1.0.0", 0); st != http.StatusUnavailableForLegalReasons || rr.Status != "banished" || rr.Digest != digestOf(v1) {
		t.Fatalf("banished metadata: %d %+v", st, rr)
	}
	l.refused("invalid_transition", record.ChainOperator, &record.Record{Type: record.TypeUnyank, Actor: "operator", Version: "1.0.0"}, op)
	// The operator unyanks 3.0.0: it is published and latest again.
	l.must(record.ChainOperator, &record.Record{Type: record.TypeUnyank, Actor: "operator", Version: "3.0.0"}, op)

	// The same questions at earlier tree sizes get the earlier answers.
	for _, c := range []struct {
		at     uint64
		latest string
		all    string
	}{
		{n1, "3.0.0", "1.0.0=published 1.1.0-rc=staged 2.0.0=published 3.0.0=published"},
		{n2, "2.0.0", "1.0.0=published 1.1.0-rc=staged 2.0.0=published 3.0.0=yanked"},
		{n3, "1.0.0", "1.0.0=published 1.1.0-rc=staged 2.0.0=yanked 3.0.0=yanked"},
		{n4, "1.0.0", "1.0.0=published 1.1.0-rc=deleted 2.0.0=yanked 3.0.0=yanked"},
		{n5, "1.0.0", "1.0.0=published 1.1.0-rc=deleted 2.0.0=tombstoned 3.0.0=yanked"},
		{n6, "", "1.0.0=banished 1.1.0-rc=deleted 2.0.0=tombstoned 3.0.0=yanked"},
		{0, "3.0.0", "1.0.0=banished 1.1.0-rc=deleted 2.0.0=tombstoned 3.0.0=published"},
	} {
		p := l.pkgAt(c.at, "all")
		if p.Latest != c.latest || versions(p) != c.all {
			t.Errorf("at %d: latest %q, %s; want %q, %s", c.at, p.Latest, versions(p), c.latest, c.all)
		}
	}
	if st, rr := l.meta("1.0.0", n1); st != 200 || rr.Status != "published" || rr.TreeSize != n1 {
		t.Fatalf("1.0.0 at %d: %d %+v", n1, st, rr)
	}
	// asof= a time between two writes answers like at= the size then.
	cps, _ := l.env.Store.Checkpoints(context.Background(), n2, 1)
	pa, _, err := l.c.Package(context.Background(), l.pkg, client.At{Time: cps[0].Time, Include: "all"})
	if err != nil || versions(pa) != "1.0.0=published 1.1.0-rc=staged 2.0.0=published 3.0.0=yanked" {
		t.Fatalf("asof: %v %s", err, versions(pa))
	}
	// Asking about a package before it existed: 404.
	if _, _, err := l.c.Package(context.Background(), l.pkg, client.At{Size: 2}); !client.IsCode(err, "unknown_package") {
		t.Fatalf("before create: %v", err)
	}

	// The whole log passes an audit, and the server agrees with the replay.
	rep, err := audit.Run(context.Background(), audit.Options{Client: l.env.Client(), LogURL: l.env.URL, Compare: true,
		StateFile: filepath.Join(t.TempDir(), "audit.json")}, l.env.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("audit: %+v", rep)
	}
}

func ptr[T any](v T) *T { return &v }

func signedWithNote(t *testing.T, l *lc, r *record.Record, note string, k *keys.PrivateKey) *client.Submission {
	p, _, err := l.c.Package(context.Background(), l.pkg, client.At{})
	if err != nil {
		t.Fatal(err)
	}
	r.Package, r.Prev, r.Note = l.pkg, p.Head, record.Digest([]byte(note))
	s := sign(t, r, k)
	s.Note = &note
	return s
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	waitUntil(t, 5*time.Second, "condition", cond)
}

// waitUntil polls cond until it holds, and fails the test, saying what was
// awaited, if it does not hold within d: a wait that ends as soon as the
// event happens on a quiet machine and still has room on a loaded one.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAuditFindsForbiddenTransition writes an entry below the state machine
// (an owner unyanking what the operator yanked) straight into the store:
// the audit names that entry.
func TestAuditFindsForbiddenTransition(t *testing.T) {
	l := newLC(t)
	ctx := context.Background()
	v1 := []byte("one")
	l.upload(v1)
	l.release("1.0.0", v1, "published", l.owner)
	l.must(record.ChainOperator, &record.Record{Type: record.TypeYank, Actor: "operator", Version: "1.0.0", Reason: "malware"}, l.env.Operator)
	home := t.TempDir()
	auditOnce := func() *audit.Report {
		rep, err := audit.Run(ctx, audit.Options{Client: l.env.ClientAt(home), LogURL: l.env.URL, Compare: true,
			StateFile: filepath.Join(home, "audit.json")}, l.env.Verifier)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := auditOnce(); !rep.OK() {
		t.Fatalf("clean log: %+v", rep)
	}

	p, _, _ := l.c.Package(ctx, l.pkg, client.At{})
	bad := sign(t, &record.Record{Type: record.TypeUnyank, Package: l.pkg, Prev: p.Head, Version: "1.0.0"}, l.owner)
	badIndex := appendBelow(t, l.env, bad, storeEntryRow{Kind: "record", Type: "unyank", Package: l.pkg, Version: "1.0.0"})
	waitFor(t, func() bool { cp := l.env.Reg.Latest(); return cp.Size > badIndex })
	rep := auditOnce()
	if rep.Violation == nil || rep.Violation.Index != badIndex || rep.Violation.Code != "not_authorized" {
		t.Fatalf("audit of a forbidden transition: %+v", rep)
	}
	if rep.From == 0 {
		t.Fatal("the second audit did not resume")
	}
	t.Logf("audit: %s at %d: %s", rep.Violation.Code, rep.Violation.Index, rep.Violation.Reason)
}

// TestAuditFindsBadSignature writes, below the state machine, a record
// whose Ed25519 signature is altered among good ones: the auditor, which
// checks signatures in batches, names that entry and not its neighbours.
func TestAuditFindsBadSignature(t *testing.T) {
	l := newLC(t)
	ctx := context.Background()
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		c := []byte("widget " + v)
		l.upload(c)
		l.release(v, c, "published", l.owner)
	}
	p, _, _ := l.c.Package(ctx, l.pkg, client.At{})
	bad := sign(t, &record.Record{Type: record.TypeYank, Package: l.pkg, Prev: p.Head, Version: "1.0.0", Reason: "forged"}, l.owner)
	sig, _ := base64.StdEncoding.DecodeString(bad.Envelope.Signatures[0].Sig)
	sig[3] ^= 0x40
	bad.Envelope.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig)
	badIndex := appendBelow(t, l.env, bad, storeEntryRow{Kind: "record", Type: "yank", Package: l.pkg, Version: "1.0.0"})
	waitFor(t, func() bool { cp := l.env.Reg.Latest(); return cp.Size > badIndex })
	rep, err := audit.Run(ctx, audit.Options{Client: l.env.ClientAt(t.TempDir()), LogURL: l.env.URL}, l.env.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Violation == nil || rep.Violation.Index != badIndex || rep.Violation.Code != "bad_signature" {
		t.Fatalf("audit of a bad signature: %+v", rep)
	}
}

// TestContentMonitor links content on another server, changes it there,
// and checks that the monitor tombstones the release.
func TestContentMonitor(t *testing.T) {
	l := newLC(t)
	var mu sync.Mutex
	served := map[string][]byte{"/a.tgz": []byte("linked a"), "/b.tgz": []byte("linked b")}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b, ok := served[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer origin.Close()
	link := func(v, path string, channel string) (*client.Receipt, error) {
		mu.Lock()
		b := served[path]
		mu.Unlock()
		return l.write(record.ChainPackage, &record.Record{Type: record.TypeRelease, Version: v, Digest: digestOf(b), Size: ptr(int64(len(b))),
			MediaType: "application/gzip", Channel: channel, URL: origin.URL + path}, l.owner)
	}
	if _, err := link("1.0.0", "/a.tgz", "published"); err != nil {
		t.Fatal(err)
	}
	if st, rr := l.meta("1.0.0", 0); st != 200 || !rr.Content.Verified {
		t.Fatalf("linked release: %d %+v", st, rr)
	}
	// A staged linked release may stay unverified: it is not fetched.
	mu.Lock()
	served["/c.tgz"] = []byte("linked c")
	mu.Unlock()
	if _, err := link("2.0.0-rc", "/c.tgz", "staged"); err != nil {
		t.Fatal(err)
	}
	if _, rr := l.meta("2.0.0-rc", 0); rr.Content.Verified {
		t.Fatal("staged linked content was fetched")
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(l.env.URL + "/api/v1/blobs/" + digestOf([]byte("linked c")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Vouch-Content-Verified") != "false" || resp.Header.Get("Location") != origin.URL+"/c.tgz" {
		t.Fatalf("unverified staged content: %d %v", resp.StatusCode, resp.Header)
	}
	// Promoting it fetches and verifies it; if it changed meanwhile, promote is refused.
	mu.Lock()
	served["/c.tgz"] = []byte("tampered")
	mu.Unlock()
	if _, err := l.write(record.ChainPackage, &record.Record{Type: record.TypePromote, Version: "2.0.0-rc"}, l.owner); !client.IsCode(err, "content_mismatch") {
		t.Fatalf("promote of changed content: %v", err)
	}
	// Linking content that does not match is refused.
	mu.Lock()
	served["/b.tgz"] = []byte("not what was hashed")
	mu.Unlock()
	if _, err := l.write(record.ChainPackage, &record.Record{Type: record.TypeRelease, Version: "1.5.0", Digest: digestOf([]byte("linked b")),
		Size: ptr(int64(8)), MediaType: "application/gzip", Channel: "published", URL: origin.URL + "/b.tgz"}, l.owner); !client.IsCode(err, "content_mismatch") {
		t.Fatalf("mismatched link: %v", err)
	}
	// The origin changes the published bytes: the monitor tombstones 1.0.
	mu.Lock()
	served["/a.tgz"] = []byte("linked a, changed")
	mu.Unlock()
	rep, err := l.env.Reg.MonitorLinked(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tombstoned) != 1 || rep.Tombstoned[0] != "acme/widget@1.0.0" {
		t.Fatalf("monitor: %+v", rep)
	}
	waitFor(t, func() bool { st, _ := l.meta("1.0.0", 0); return st == http.StatusGone })
	if _, rr := l.meta("1.0.0", 0); rr.Status != "tombstoned" || rr.Reason != "integrity" {
		t.Fatalf("after the monitor: %+v", rr)
	}
	// Uploads are verified: a wrong digest stores nothing.
	wrong := digestOf([]byte("something else"))
	if st, body, _ := httpDo(t, "PUT", l.env.URL+"/api/v1/blobs/"+wrong, []byte("payload")); st != 400 || !strings.Contains(string(body), "digest_mismatch") {
		t.Fatalf("wrong digest: %d %s", st, body)
	}
	if _, err := l.env.Reg.BlobSize(context.Background(), wrong); err == nil {
		t.Fatal("a mismatched upload was stored")
	}
	big := bytes.Repeat([]byte("x"), 1<<20+1)
	if st, _, _ := httpDo(t, "PUT", l.env.URL+"/api/v1/blobs/"+digestOf(big), big); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized upload: %d", st)
	}
	tmp, _ := os.ReadDir(filepath.Join(l.env.Dir, "blobs", "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("%d temporary files left behind", len(tmp))
	}
}
