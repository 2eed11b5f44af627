package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func now() string { return time.Now().UTC().Format(time.RFC3339) }

func get(t testing.TB, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func post(t testing.TB, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWebKnowsNoStore: the pages read through the interfaces of package
// vouch only, like package server.
func TestWebKnowsNoStore(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/vouchdev/vouch/store") || pkg == "github.com/vouchdev/vouch/registry" || pkg == "github.com/vouchdev/vouch/logcore" {
			t.Errorf("package web depends on %s", pkg)
		}
	}
}

// TestRoutesAndHeaders: pages answer at / beside the API, which keeps its
// JSON answers; every page carries the security headers.
func TestRoutesAndHeaders(t *testing.T) {
	f := newReg(t)
	u := f.env.URL
	for _, c := range []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html", "Recent activity"},
		{"GET", "/packages", 200, "text/html", "acme/widget"},
		{"GET", "/packages/acme%2Fwidget", 200, "text/html", "Timeline"},
		{"GET", "/packages/acme/widget", 200, "text/html", "Timeline"},
		{"GET", "/packages/acme%2Fnothing", 404, "text/html", "There is no package acme/nothing"},
		{"GET", "/packages/acme%2Fwidget/versions/9.9.9", 404, "text/html", "There is no release acme/widget@9.9.9"},
		{"GET", "/packages/acme%2Fwidget/versions/..%2F1", 400, "text/html", "version"},
		{"GET", "/identities/nope", 400, "text/html", "A key ID is"},
		{"GET", "/entries/3", 200, "text/html", "Inclusion proof"},
		{"GET", "/entries/99999", 404, "text/html", "not in the log"},
		{"GET", "/nope", 404, "text/html", "There is no page at /nope"},
		{"POST", "/", 405, "text/html", "The pages only read"},
		{"DELETE", "/packages/acme%2Fwidget", 405, "text/html", "The pages only read"},
		{"GET", "/?at=0", 400, "text/html", "at= must be a tree size"},
		{"GET", "/?asof=yesterday", 400, "text/html", "asof= must be a time"},
		{"GET", "/?asof=1999-01-01T00:00:00Z", 400, "text/html", "the log has no entries at or before"},
		{"GET", "/static/style.css", 200, "text/css", "font-family"},
		{"GET", "/log?at=3", 200, "text/html", "As of tree size 3"},
		{"GET", "/api/v1/nope", 404, "application/json", `"not_found"`},
		{"GET", "/log/nope", 404, "application/json", `"not_found"`},
		{"GET", "/api/v1/checkpoint", 200, "application/json", `"size"`},
		{"GET", "/healthz", 200, "text/plain", "ok"},
	} {
		req, _ := http.NewRequest(c.method, u+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) || !strings.Contains(string(b), c.body) {
			t.Errorf("%s %s: %d %s, want %d %s with %q:\n%.2000s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.status, c.ctype, c.body, b)
		}
		if strings.HasPrefix(c.ctype, "text/html") {
			h := resp.Header
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") ||
				h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
				t.Errorf("%s %s: security headers %v", c.method, c.path, h)
			}
		}
	}
}

// TestPagesShowWhatTheAPIShows: a release page shows a content digest only
// where the API shows it (tombstoned releases hide theirs), and the pages
// name the API call behind them.
func TestPagesShowWhatTheAPIShows(t *testing.T) {
	f := newReg(t)
	for _, v := range []string{"0.5.0", "0.6.0", "0.7.0", "0.8.0", "0.9.0", "1.0.0", "1.1.0-rc.1"} {
		_, _, js := get(t, f.env.URL+"/api/v1/packages/acme%2Fwidget/versions/"+v)
		var rel struct{ Status, Digest string }
		if err := json.Unmarshal([]byte(js), &rel); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte("widget " + v))
		digest := "sha256:" + hex.EncodeToString(sum[:])
		st, _, html := get(t, f.env.URL+"/packages/acme%2Fwidget/versions/"+v)
		if st != 200 || !strings.Contains(html, `id="release-status">`+rel.Status+`<`) {
			t.Errorf("%s: %d, status %s not on the page", v, st, rel.Status)
		}
		if v != "0.5.0" && strings.Contains(html, digest) != (rel.Digest != "") {
			t.Errorf("%s (%s): the API shows digest %q; the page shows %s: %v", v, rel.Status, rel.Digest, digest, strings.Contains(html, digest))
		}
		if !strings.Contains(html, `href="/api/v1/packages/acme%2Fwidget/versions/`+v+`"`) {
			t.Errorf("%s: no link to the API call behind the page", v)
		}
	}
}

// TestUserTextIsEscaped: every field a user controls is escaped into the
// HTML; nothing it holds becomes markup (the browser test proves that none
// of it runs).
func TestUserTextIsEscaped(t *testing.T) {
	f := newReg(t)
	for _, p := range []string{"/", "/packages/acme%2Fwidget", "/packages/acme%2Fwidget/versions/0.5.0", "/packages/acme%2Fwidget/versions/0.9.0",
		"/identities/" + f.mallory.ID(), "/entries", "/entries/24", "/search?q=" + url.QueryEscape(hostile)} {
		_, _, html := get(t, f.env.URL+p)
		for _, bad := range []string{"<script>window", "<img", "<b>", `onerror="`, "javascript:alert"} {
			if strings.Contains(html, bad) && !(bad == "javascript:alert" && strings.Contains(html, "<code>javascript:alert(1)</code>")) {
				t.Errorf("%s holds %q unescaped", p, bad)
			}
		}
		if !strings.Contains(html, "&lt;script&gt;window.pwned=1&lt;/script&gt;") {
			t.Errorf("%s does not show the hostile text escaped", p)
		}
	}
}

// TestPolicyFormLimits: the policy form refuses what it will not evaluate
// with a message, and a policy that costs more than the request's CEL
// budget is stopped and says so.
func TestPolicyFormLimits(t *testing.T) {
	f := newReg(t)
	u := f.env.URL + "/verify?package=acme%2Fwidget&version=1.0.0"
	st, html := post(t, u, url.Values{"policy": {"require:\n  - name: published\n    rule: release.status == \"published\"\n"}})
	if st != 200 || !strings.Contains(html, "verdict: PASS") {
		t.Fatalf("a simple policy: %d\n%s", st, html)
	}
	list := "[" + strings.Repeat("1,", 149) + "1]"
	expensive := "require:\n  - name: cubic\n    rule: '" + list + ".all(a, " + list + ".all(b, " + list + ".all(c, a + b + c > 0)))'\n  - name: after\n    rule: true\n"
	start := time.Now()
	st, html = post(t, u, url.Values{"policy": {expensive}})
	if st != 200 || !strings.Contains(html, "verdict: FAIL") || !strings.Contains(html, "spent this evaluation&#39;s budget") ||
		!strings.Contains(html, "the evaluation stopped before this rule") {
		t.Fatalf("an expensive policy: %d\n%s", st, html)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the expensive policy took %v", d)
	}
	st, html = post(t, u, url.Values{"policy": {"require:\n  - name: broken\n    rule: release.status ==\n"}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(html, "broken") {
		t.Fatalf("a broken policy: %d\n%s", st, html)
	}
	st, html = post(t, u, url.Values{"policy": {strings.Repeat("#", 40<<10)}})
	if st != http.StatusRequestEntityTooLarge || !strings.Contains(html, "at most 32768") {
		t.Fatalf("a large policy: %d\n%s", st, html)
	}
	st, _ = post(t, u, url.Values{"policy": {strings.Repeat("#", 200<<10)}})
	if st != http.StatusRequestEntityTooLarge {
		t.Fatalf("a form larger than the server allows: %d", st)
	}
	st, html = post(t, f.env.URL+"/verify?package=acme%2Fwidget&version=7.0.0", url.Values{"policy": {"require: []"}})
	if st != 404 || !strings.Contains(html, "There is no release") {
		t.Fatalf("an unknown release: %d\n%s", st, html)
	}
}

// TestAsOf: ?asof= shows a page as of the entries logged at or before a
// time, and the page says which tree size that is.
func TestAsOf(t *testing.T) {
	f := newReg(t)
	_, _, js := get(t, f.env.URL+"/api/v1/entries/11") // 0.7.0's release
	var e struct{ Time time.Time }
	if err := json.Unmarshal([]byte(js), &e); err != nil {
		t.Fatal(err)
	}
	st, _, html := get(t, f.env.URL+"/packages/acme%2Fwidget?asof="+url.QueryEscape(e.Time.Format(time.RFC3339Nano)))
	if st != 200 || !strings.Contains(html, "As of tree size 12</strong>") || !strings.Contains(html, ">0.7.0<") || strings.Contains(html, ">0.8.0<") ||
		!strings.Contains(html, `href="/packages/acme%2Fwidget/versions/0.7.0?at=12"`) {
		t.Fatalf("asof the release of 0.7.0: %d\n%s", st, html)
	}
}
