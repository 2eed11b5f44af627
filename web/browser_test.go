package web_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/testenv"
	"github.com/vouchdev/vouch/record"
)

// chromium returns the Chromium binary the browser tests drive:
// $VOUCH_CHROMIUM, or Debian's /usr/bin/chromium (scripts/install-chromium.sh
// installs it).
func chromium(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("VOUCH_CHROMIUM")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		why := "no Chromium at " + bin + " for the browser tests: run scripts/install-chromium.sh, or set VOUCH_CHROMIUM"
		if os.Getenv("VOUCH_TEST_REQUIRE_BROWSER") != "" {
			t.Fatal(why) // scripts/test.sh installed it: the tests must run
		}
		testenv.Skip(t, why)
	}
	return bin
}

// browser starts a headless Chromium with a fresh profile and returns a
// tab's context; everything ends with the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// The network here is closed: Chromium must not try to reach out.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	ctx, cancelTime := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancelTime)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", bin, err)
	}
	return ctx
}

// page drives one tab over a registry's pages.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

// open loads a page and returns the text a person sees on it.
func (p *page) open(path string) string {
	p.t.Helper()
	p.do(chromedp.Navigate(p.base + path))
	return p.text()
}

// follow clicks what the CSS selector finds, waits for the page it leads
// to, and returns that page's text.
func (p *page) follow(sel string, steps ...chromedp.Action[chromedp.Void]) string {
	p.t.Helper()
	steps = append(steps, chromedp.Click(chromedp.CSS(sel)))
	if _, err := chromedp.RunResponse(p.ctx, steps...); err != nil {
		p.t.Fatalf("following %s: %v", sel, err)
	}
	return p.text()
}

// text returns the visible text of the page.
func (p *page) text() string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// eval evaluates JavaScript in the page.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// location returns the page's URL.
func (p *page) location() string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// sees fails unless the visible text holds every string.
func (p *page) sees(text string, want ...string) {
	p.t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			p.t.Fatalf("the page at %s does not say %q; it says:\n%s", p.location(), w, text)
		}
	}
}

// seesNot fails if the visible text holds any of the strings.
func (p *page) seesNot(text string, unwanted ...string) {
	p.t.Helper()
	for _, w := range unwanted {
		if strings.Contains(text, w) {
			p.t.Fatalf("the page at %s says %q; it says:\n%s", p.location(), w, text)
		}
	}
}

func (p *page) screenshot(path string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// policyFor is the README's policy over the fixture's keys.
func policyFor(f *reg) string {
	return fmt.Sprintf(`keys:
  owners:   [%s, %s]
  builder:  [%s]
  fips-lab: [%s]
  qa:       [%s, %s]
require:
  - name: published-by-an-owner
    rule: release.status == "published" && release.signers.exists(k, k in keys.owners)
  - name: slsa-provenance-from-our-builder
    rule: attestations.exists(a, a.verified && a.predicateType == "https://slsa.dev/provenance/v1" && a.signers.exists(k, k in keys.builder))
  - name: fips-140-3-from-the-lab
    rule: attestations.exists(a, a.verified && a.fields.program == "FIPS 140-3" && a.signers.exists(k, k in keys["fips-lab"]))
  - name: qa-two-of-two
    rule: keys.qa.filter(k, attestations.exists(a, a.verified && a.fields.decision == "approved" && k in a.signers)).size() >= 2
deny:
  - name: yanked-or-removed
    rule: release.status in ["yanked", "deleted", "tombstoned", "banished"]
`, f.alice.ID(), f.bob.ID(), f.builder.ID(), f.lab.ID(), f.qa1.ID(), f.qa2.ID())
}

// TestBrowser drives a real headless Chromium through the pages the way a
// reviewer would, and checks the text a person reads on each.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	f := newReg(t)
	p := &page{t: t, ctx: ctx, base: f.env.URL}
	latest, _, err := f.c.Checkpoint(f.ctx)
	f.must(err)
	size := fmt.Sprint(latest.Size)
	const rel = "/packages/acme%2Fwidget/versions/1.0.0"

	t.Run("home", func(t *testing.T) {
		p.t = t
		text := p.open("/")
		p.sees(text, "Latest: tree size "+size, "The latest checkpoint", "no witness has cosigned this checkpoint",
			"Recent activity", "acme/widget", "Lab of Certification", "FIPS 140-3")
		// The progressive script runs under the Content-Security-Policy:
		// it shows the time-travel slider.
		if !eval[bool](p, `!document.querySelector(".at-range").hidden`) {
			t.Fatal("app.js did not run: the slider is hidden")
		}
	})

	t.Run("search", func(t *testing.T) {
		p.t = t
		p.open("/")
		text := p.follow(".hero button", chromedp.SendKeys(chromedp.CSS(".hero input[name=q]"), "acme/wid"))
		p.sees(text, "acme/widget", "Owners", "Alice Example", "Timeline")
		if !strings.HasSuffix(p.location(), "/packages/acme%2Fwidget") {
			t.Fatalf("a search for a package's prefix landed on %s", p.location())
		}
		text = p.open("/search?q=" + url.QueryEscape(f.lab.ID()))
		p.sees(text, "Identity Lab of Certification", "organisation", "Certs Inc", "Statements made", "certification")
		text = p.open("/search?q=acme/widget@0.9.0")
		p.sees(text, "acme/widget@0.9.0", "yanked")
		text = p.open("/search?q=nobody/nothing")
		p.sees(text, "Nothing matches", "Search finds a package by its name")
	})

	t.Run("package with releases in every state", func(t *testing.T) {
		p.t = t
		text := p.open("/packages/acme%2Fwidget")
		p.sees(text, "Latest release: 1.0.0", "published (2)", "yanked (1)", "deleted (1)", "tombstoned (1)", "banished (1)",
			"0.9.0", "security", "0.8.0", "mistake", "0.7.0", "malware", "0.6.0", "legal",
			"1 staged release not shown", "Granted", "publish")
		p.seesNot(text, "1.1.0-rc.1", "staged (1)")
		if v := eval[string](p, `document.querySelector(".badge.latest").parentElement.querySelector("a").textContent`); v != "1.0.0" {
			t.Fatalf("the latest badge is on %q", v)
		}
		// The timeline names every record: who, in which role, why.
		p.sees(text, "tombstone", "banish", "as operator", "yank", "as owner", "reason: security", "delete", "as delegate", "grant", "create")
		text = p.follow(".hidden-staged a")
		p.sees(text, "staged (1)", "1.1.0-rc.1")
	})

	t.Run("release with statements from several signers", func(t *testing.T) {
		p.t = t
		text := p.open(rel)
		p.sees(text, "acme/widget@1.0.0", "latest", "published", "12 bytes", "application/gzip", "Download",
			"State history", "release", "Alice Example", "as owner",
			"SLSA provenance", "Acme CI", "builder", "https://ci.example.com/builder",
			"approval", "Quentin QA", "Quinn QA", "decision", "approved",
			"certification", "Lab of Certification", "program", "FIPS 140-3", "#4711",
			"Statements about this release")
		if n := eval[int](p, `document.querySelectorAll(".statement").length`); n != 3 {
			t.Fatalf("%d statements shown, want 3", n)
		}
		if href := eval[string](p, `document.querySelector("footer .api a").getAttribute("href")`); href != "/api/v1/packages/acme%2Fwidget/versions/1.0.0" {
			t.Fatalf("the page's API link is %q", href)
		}
		if os.Getenv("VOUCH_UPDATE_SCREENSHOT") != "" {
			p.screenshot("../docs/images/release-page.png")
		}
	})

	policy := policyFor(f)
	verify := func(path string) string {
		p.open(path)
		return p.follow(".policy-form button", chromedp.SetValue(chromedp.CSS(".policy-form textarea"), policy))
	}
	var yank *client.Receipt

	t.Run("policy passes, then fails after a yank", func(t *testing.T) {
		p.t = t
		text := verify(rel)
		p.sees(text, "verdict: PASS", "published-by-an-owner", "slsa-provenance-from-our-builder", "fips-140-3-from-the-lab",
			"qa-two-of-two", "yanked-or-removed", "not triggered", "3 statements")
		p.seesNot(text, "FAIL")
		yank = f.record(&record.Record{Type: record.TypeYank, Package: "acme/widget", Version: "1.0.0", Reason: "security"}, "CVE-2026-0002", f.alice)
		text = verify(rel)
		p.sees(text, "verdict: FAIL", "yanked-or-removed", "denied", "does not hold")
		if n := eval[int](p, `document.querySelectorAll(".results tr.fail").length`); n != 2 {
			t.Fatalf("%d rules fail after the yank, want 2 (published-by-an-owner, yanked-or-removed)", n)
		}
	})

	t.Run("time travel before and after the yank", func(t *testing.T) {
		p.t = t
		before := fmt.Sprint(yank.Index)
		text := p.open(rel + "?at=" + before)
		p.sees(text, "As of tree size "+before, "you are looking at the past", "latest")
		if s := eval[string](p, `document.getElementById("release-status").textContent`); s != "published" {
			t.Fatalf("before the yank the release is %q", s)
		}
		text = verify(rel + "?at=" + before)
		p.sees(text, "verdict: PASS", "at tree size "+before)
		// One entry forward with the control: the yank.
		p.open(rel + "?at=" + before)
		text = p.follow("#travel-at a[rel=next]")
		p.sees(text, "As of tree size "+fmt.Sprint(yank.Index+1), "yanked", "CVE-2026-0002", "yanked by", "the owner")
		// Typing a tree size into the control.
		p.follow("#travel-at button", chromedp.SetValue(chromedp.CSS("#travel-at input[name=at]"), before))
		if s := eval[string](p, `document.getElementById("release-status").textContent`); s != "published" || !strings.Contains(p.location(), "at="+before) {
			t.Fatalf("the control went to %s, where the release is %q", p.location(), s)
		}
		// Links keep the point in time.
		text = p.follow(".crumbs a")
		p.sees(text, "As of tree size "+before, "Latest release: 1.0.0")
		text = p.open(rel)
		p.sees(text, "Latest: tree size", "yanked")
		p.seesNot(text, "you are looking at the past")
	})

	t.Run("user-controlled text is shown, never run", func(t *testing.T) {
		p.t = t
		for _, path := range []string{"/identities/" + f.mallory.ID(), "/packages/acme%2Fwidget/versions/0.5.0", "/packages/acme%2Fwidget",
			"/packages/acme%2Fwidget/versions/0.9.0", "/", "/search?q=" + url.QueryEscape(hostile)} {
			text := p.open(path)
			p.sees(text, hostile)
			if !eval[bool](p, `window.pwned === undefined && document.querySelectorAll("img, b").length === 0 && document.scripts.length === 1`) {
				t.Fatalf("%s: hostile markup became part of the page", path)
			}
		}
		text := p.open("/identities/" + f.mallory.ID())
		p.sees(text, "javascript:alert(1)")
		if n := eval[int](p, `document.querySelectorAll("a[href^=javascript]").length`); n != 0 {
			t.Fatalf("%d javascript: links", n)
		}
	})

	t.Run("an erased identity", func(t *testing.T) {
		p.t = t
		if _, err := f.c.Admin(f.ctx, &api.AdminRequest{Action: "erase", Identity: f.mallory.ID()}, f.env.Operator); err != nil {
			t.Fatal(err)
		}
		text := p.open("/identities/" + f.mallory.ID())
		p.sees(text, "The profile was erased", "Statements made", "approval")
		p.seesNot(text, hostile)
		text = p.open("/packages/acme%2Fwidget/versions/0.5.0")
		p.sees(text, "(profile erased)", "The statement was erased")
		p.seesNot(text, hostile)
		text = p.open("/packages/acme%2Fwidget")
		p.sees(text, "Granted", "(profile erased)")
	})
}
