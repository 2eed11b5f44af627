// Package web serves Vouch's web pages: server-rendered HTML from Go
// templates embedded in the binary, and one stylesheet, beside the JSON API
// (docs/web.md). People who review software browse packages, releases,
// statements, identities and the log with them, as of any point in the log
// (?at= and ?asof=), and run a vouch verify policy against a release.
//
// The pages read the registry through the interfaces of package vouch only,
// and through the same functions as the API (vouch.ReleaseView for what
// stays visible of a release), so a page never shows what the API would
// not. They hold no Writer: no form changes anything. Everything a user
// wrote is escaped by html/template, and every answer carries a strict
// Content-Security-Policy.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/translog"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Reader is what the pages read: the registry's read interfaces, and none
// that writes.
type Reader interface {
	vouch.LogReader
	vouch.StateReader
	vouch.Querier
	// ContentStatus and BlobSize, of vouch.Content: whether content may
	// be downloaded, and whether linked content is stored.
	ContentStatus(ctx context.Context, digest string) (*vouch.ContentStatus, error)
	BlobSize(ctx context.Context, digest string) (int64, error)
}

// Config configures the pages.
type Config struct {
	Registry Reader
	Logger   *slog.Logger
}

// MaxPolicySize bounds the policy a visitor may paste into the policy form.
const MaxPolicySize = 32 << 10

// maxForm bounds a form's body: the policy, URL-encoded, and a little more.
const maxForm = 3*MaxPolicySize + 1024

// Pages is an http.Handler serving the web pages.
type Pages struct {
	reg    Reader
	log    *slog.Logger
	mux    *http.ServeMux
	pages  map[string]*template.Template
	static map[string]staticFile
}

type staticFile struct {
	body  []byte
	ctype string
	etag  string
}

// New returns the pages over a registry.
func New(cfg Config) *Pages {
	p := &Pages{reg: cfg.Registry, log: cfg.Logger, mux: http.NewServeMux(), pages: map[string]*template.Template{},
		static: map[string]staticFile{}}
	if p.log == nil {
		p.log = slog.Default()
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		p.pages[strings.TrimSuffix(base, ".html")] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	files, _ := fs.Glob(staticFS, "static/*")
	for _, f := range files {
		b, _ := staticFS.ReadFile(f)
		ct := "text/css; charset=utf-8"
		if strings.HasSuffix(f, ".js") {
			ct = "text/javascript; charset=utf-8"
		}
		p.static["/"+f] = staticFile{body: b, ctype: ct, etag: fmt.Sprintf(`"%x"`, hashBytes(b))}
	}
	p.routes()
	return p
}

func (p *Pages) routes() {
	get := func(pattern string, h func(*request) error) {
		p.mux.HandleFunc("GET "+pattern, p.handle(h))
	}
	get("/{$}", p.home)
	get("/search", p.search)
	get("/packages", p.packages)
	get("/packages/{path...}", p.packageOrRelease)
	get("/verify", p.verify)
	p.mux.HandleFunc("POST /verify", p.handle(p.verify))
	get("/identities/{keyId}", p.identity)
	get("/keyless", p.keyless)
	get("/entries", p.entries)
	p.mux.HandleFunc("GET /log", func(w http.ResponseWriter, r *http.Request) {
		u := "/entries"
		if r.URL.RawQuery != "" {
			u += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, u, http.StatusSeeOther)
	})
	get("/entries/{index}", p.entry)
	get("/content/{digest}", p.content)
	p.mux.HandleFunc("GET /static/{file}", p.serveStatic)
	p.mux.HandleFunc("/", p.handle(func(rq *request) error {
		if rq.r.Method != http.MethodGet && rq.r.Method != http.MethodHead {
			rq.w.Header().Set("Allow", "GET, HEAD")
			return &pageError{status: http.StatusMethodNotAllowed, msg: "The pages only read: " + rq.r.Method + " is not allowed here."}
		}
		return &pageError{status: http.StatusNotFound, msg: "There is no page at " + rq.r.URL.Path + "."}
	}))
}

// ServeHTTP implements http.Handler.
func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	p.mux.ServeHTTP(w, r)
}

// csp allows the page's own stylesheet and script and nothing else: no
// inline script or style, no plugin, no framing, forms to this origin only.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (p *Pages) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := p.static["/static/"+r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// request is one page request: the point in the log it answers for, and
// what every page shows about it.
type request struct {
	p *Pages
	w http.ResponseWriter
	r *http.Request
	// size is the tree size the page answers for, cp the checkpoint that
	// answer is valid for, latest the latest checkpoint.
	size   uint64
	cp     *translog.Checkpoint
	latest *translog.Checkpoint
	// pinned: the visitor asked for a point in time (at= or asof=).
	pinned bool
	ids    *identities
}

func (rq *request) ctx() context.Context { return rq.r.Context() }

// pageError is an error page with its status.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return &pageError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &pageError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// handle resolves the point in time of a page request and renders its
// error, if any, as an error page.
func (p *Pages) handle(h func(*request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rq := &request{p: p, w: w, r: r}
		rq.ids = &identities{rq: rq, m: map[string]signer{}}
		err := rq.resolve()
		if err == nil {
			err = h(rq)
		}
		if err != nil {
			p.errorPage(rq, err)
		}
	}
}

// resolve turns at= and asof= into the tree size the page answers for.
func (rq *request) resolve() error {
	q := rq.r.URL.Query()
	if _, err := url.ParseQuery(rq.r.URL.RawQuery); err != nil {
		return badRequest("The address's query string is malformed: %v.", err)
	}
	latest, err := rq.p.reg.Checkpoint(rq.ctx())
	if err != nil {
		return err
	}
	rq.latest = latest
	var at uint64
	if s := q.Get("at"); s != "" {
		n, err := strconv.ParseUint(s, 10, 63)
		if err != nil || n == 0 {
			return badRequest("at= must be a tree size of at least 1, not %q.", s)
		}
		at, rq.pinned = min(n, latest.Size), true
	}
	asof := q.Get("asof")
	if asof != "" {
		if at != 0 {
			return badRequest("Give at= or asof=, not both.")
		}
		t, err := parseTime(asof)
		if err != nil {
			return err
		}
		asof, rq.pinned = t.Format(time.RFC3339Nano), true
	}
	if latest.Size == 0 {
		rq.size, rq.cp = 0, latest
		return nil
	}
	rq.size, rq.cp, err = rq.p.reg.Resolve(rq.ctx(), at, asof)
	return err
}

// parseTime reads asof=: RFC 3339, or the "2006-01-02T15:04[:05]" of an
// HTML datetime-local input, taken as UTC.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest("asof= must be a time such as 2026-11-25T17:32:54Z, not %q.", s)
}

// errorPage renders an error with the status it deserves. The registry's
// own failures are logged; the visitor's mistakes are not.
func (p *Pages) errorPage(rq *request, err error) {
	status, msg := http.StatusInternalServerError, "The registry failed to answer; try again later."
	var pe *pageError
	var inv *vouch.InvalidError
	var un *vouch.UnavailableError
	switch {
	case errors.As(err, &pe):
		status, msg = pe.status, pe.msg
	case errors.As(err, &inv):
		status, msg = http.StatusBadRequest, inv.Msg
	case errors.Is(err, vouch.ErrNotFound):
		status, msg = http.StatusNotFound, err.Error()
	case errors.As(err, &un):
		status, msg = http.StatusServiceUnavailable, "The registry is unavailable; try again shortly."
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		if rq.r.Context().Err() == context.Canceled {
			return // nobody is there to read it
		}
		status, msg = http.StatusServiceUnavailable, "The page took longer than the registry allows; try a narrower page, or retry."
	}
	switch {
	case status == http.StatusServiceUnavailable:
		rq.w.Header().Set("Retry-After", "2")
		p.log.Warn("page not served", "path", rq.r.URL.Path, "status", status, "err", err)
	case status >= 500:
		p.log.Error("page failed", "path", rq.r.URL.Path, "status", status, "err", err)
	}
	d := &errorData{Message: msg, Status: status, StatusText: http.StatusText(status)}
	d.base = rq.base("Error", "")
	if rq.latest == nil {
		d.base.Travel = nil
	}
	rq.render(status, "error", d)
}

type errorData struct {
	base
	Status     int
	StatusText string
	Message    string
}

// render executes a page template into a buffer first, so that a template
// failure is an error page rather than half a page.
func (rq *request) render(status int, page string, data any) {
	var buf bytes.Buffer
	t := rq.p.pages[page]
	if err := t.ExecuteTemplate(&buf, "layout.html", data); err != nil {
		rq.p.log.Error("rendering a page", "page", page, "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("<!doctype html><title>Error</title><p>The page could not be rendered.</p>")
	}
	h := rq.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	rq.w.WriteHeader(status)
	rq.w.Write(buf.Bytes())
}
