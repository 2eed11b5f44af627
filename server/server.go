// Package server is Vouch's HTTP front: the C2SP tlog-tiles endpoints under
// /log/ and the JSON API under /api/v1/, over a registry.Registry.
package server

import (
	"compress/gzip"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/semaphore"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/translog"
)

// openAPI is the OpenAPI description of the API, served at
// /api/v1/openapi.json.
//
//go:embed openapi.json
var openAPI []byte

// MaxEntryBody is the largest request body POST /api/v1/entries accepts
// for a record; attestations may be as large as their statement limit
// allows.
const MaxEntryBody = 256 << 10

// MaxWait bounds how long POST /api/v1/entries?wait=true waits for a
// checkpoint to cover the new entry.
const MaxWait = 30 * time.Second

// Config configures a Server.
type Config struct {
	Registry vouch.Registry
	Logger   *slog.Logger
	// Limits bound the cost of requests (zero fields: defaults).
	Limits Limits
	// Pages, if set, serves every path outside /api/, /log/, /tuf/, /healthz and /metrics
	// (the web pages of package web). Page requests get the deadlines of
	// API reads, and their bodies (a form) at most MaxPageBody bytes under
	// the same rate and memory limits as API bodies.
	Pages http.Handler
	// TUF, if set, is the registry's published TUF repository, served
	// under /tuf/ (see package tufrepo).
	TUF fs.FS
	// Metrics are served at /metrics, and count the server's requests
	// (pass the registry's, so that one scrape has everything); nil: a
	// set of the server's own, with the request metrics only.
	Metrics *metrics.Metrics
}

// MaxPageBody bounds the body of a request to Config.Pages.
const MaxPageBody = 64 << 10

// Server serves the registry over HTTP.
type Server struct {
	reg    vouch.Registry
	log    *slog.Logger
	mux    *http.ServeMux
	limits Limits
	admit  *admission
	pages  http.Handler
	tuf    fs.FS
	// metrics and the handler that counts every request on the way to serve.
	metrics *metrics.Metrics
	counted http.Handler
}

// New returns a server for a registry.
func New(cfg Config) *Server {
	l := cfg.Limits.withDefaults()
	s := &Server{reg: cfg.Registry, log: cfg.Logger, mux: http.NewServeMux(), limits: l, pages: cfg.Pages, tuf: cfg.TUF,
		admit: &admission{sem: semaphore.NewWeighted(l.MaxInflight), max: l.MaxInflight, wait: l.MaxWait}}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.metrics = cfg.Metrics
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	s.counted = s.metrics.HTTP(http.HandlerFunc(s.serve))
	s.routes()
	return s
}

func (s *Server) routes() {
	allowed := map[string][]string{}
	route := func(method, path string, h func(http.ResponseWriter, *http.Request) error) {
		s.mux.HandleFunc(method+" "+path, s.handle(h))
		allowed[path] = append(allowed[path], method)
	}
	route("GET", "/log/checkpoint", s.logCheckpoint)
	route("GET", "/log/tile/{path...}", s.logTile)
	route("POST", "/api/v1/entries", s.postEntry)
	route("GET", "/api/v1/entries/{index}", s.getEntry)
	route("GET", "/api/v1/proof/consistency", s.getConsistency)
	route("GET", "/api/v1/proof/inclusion", s.getInclusion)
	route("GET", "/api/v1/checkpoint", s.getCheckpoint)
	route("GET", "/api/v1/packages", s.listPackages)
	route("GET", "/api/v1/operators", s.getOperators)
	route("GET", "/api/v1/identities/{keyId}", s.getIdentity)
	route("GET", "/api/v1/packages/{path...}", s.getPackage)
	route("PUT", "/api/v1/blobs/{digest}", s.putBlob)
	route("GET", "/api/v1/query", s.query)
	route("GET", "/api/v1/attestations/{index}", s.getAttestation)
	route("GET", "/api/v1/statements", s.getStatements)
	route("GET", "/api/v1/offlog/{digest}", s.getOffLog)
	route("GET", "/api/v1/erasures", s.getErasures)
	route("POST", "/api/v1/admin", s.postAdmin)
	route("GET", "/api/v1/blobs/{digest}", s.getBlob)
	route("GET", "/api/v1/status", s.getStatus)
	route("GET", "/api/v1/checkpoints", s.getCheckpoints)
	route("GET", "/api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write(openAPI)
		return err
	})
	route("GET", "/tuf/{path...}", s.tufFile)
	route("GET", "/healthz", func(w http.ResponseWriter, r *http.Request) error {
		_, err := io.WriteString(w, "ok\n")
		return err
	})
	route("GET", "/metrics", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		s.metrics.Handler().ServeHTTP(w, r)
		return nil
	})
	// Every path answers other methods with a JSON 405, and unknown paths
	// with a JSON 404.
	for path, methods := range allowed {
		allow := strings.Join(methods, ", ")
		s.mux.HandleFunc(path, s.handle(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return errorf(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path+"; use "+allow)
		}))
	}
	notFound := s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	if s.pages == nil {
		s.mux.HandleFunc("/", notFound)
		return
	}
	// The API and the log keep their JSON 404s; every other path is a page.
	s.mux.HandleFunc("/api/", notFound)
	s.mux.HandleFunc("/log/", notFound)
	s.mux.HandleFunc("/log", s.page) // not redirected to /log/: a person typing it wants the log's page
	s.mux.HandleFunc("/", s.page)
}

// page serves a request to the pages with the bounds of an API read: the
// write deadline, the request timeout, and a body (a form) of at most
// MaxPageBody bytes arriving at the minimum rate, charged to the in-flight
// memory while the page works on it.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	s.setWriteDeadline(w, 0)
	ctx, cancel := context.WithTimeout(r.Context(), s.limits.RequestTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		release, err := s.admit.reserve(ctx, MaxPageBody*s.limits.BodyCost)
		if err != nil {
			w.Header().Set("Retry-After", retryAfter)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer release()
		r.Body = struct {
			io.Reader
			io.Closer
		}{s.bodyReader(w, r, MaxPageBody), r.Body}
	}
	s.pages.ServeHTTP(w, r)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.counted.ServeHTTP(w, r) }

// serve serves a request, counted by ServeHTTP.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
			s.writeError(w, r, errorf(http.StatusInternalServerError, "internal", "internal error"))
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// handle adapts an error-returning handler. Every answer gets the write
// deadline of the limits; reads also get the request timeout.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.setWriteDeadline(w, 0)
		if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/v1/blobs/") {
			ctx, cancel := context.WithTimeout(r.Context(), s.limits.RequestTimeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			s.writeError(w, r, badRequest("malformed query string: "+err.Error()))
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// uintParam parses an optional non-negative integer query parameter.
func uintParam(r *http.Request, name string) (uint64, bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return 0, false, badRequest(name + " must be a non-negative integer, not " + strconv.Quote(v))
	}
	return n, true, nil
}

// limitParam parses the limit= of a paginated read: 1 to 1000, default 100.
func limitParam(r *http.Request) (int, error) {
	limit, given, err := uintParam(r, "limit")
	if err != nil {
		return 0, err
	}
	if !given {
		return 100, nil
	}
	if limit < 1 || limit > 1000 {
		return 0, badRequest("limit must be 1 to 1000")
	}
	return int(limit), nil
}

// ---- /log/ (C2SP tlog-tiles) ----

const immutable = "public, max-age=31536000, immutable"

func (s *Server) logCheckpoint(w http.ResponseWriter, r *http.Request) error {
	cp, err := s.reg.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, err = w.Write(cp.Note)
	return err
}

func (s *Server) logTile(w http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("path")
	notFound := errorf(http.StatusNotFound, "not_found", "no such tile: "+p)
	level, rest, ok := strings.Cut(p, "/")
	if !ok {
		return notFound
	}
	var data []byte
	var width uint8
	var err error
	if level == "entries" {
		var idx uint64
		idx, width, err = layout.ParseTileIndexPartial(rest)
		if err != nil || layout.EntriesPath(idx, width) != "tile/"+p {
			return notFound
		}
		data, err = s.reg.EntryBundle(r.Context(), idx, int(width))
	} else {
		var l, idx uint64
		l, idx, width, err = layout.ParseTileLevelIndexPartial(level, rest)
		if err != nil || layout.TilePath(l, idx, width) != "tile/"+p {
			return notFound
		}
		data, err = s.reg.Tile(r.Context(), l, idx, int(width))
	}
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	if width == 0 {
		h.Set("Cache-Control", immutable)
	} else {
		h.Set("Cache-Control", "public, max-age=3600")
	}
	if level == "entries" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		h.Set("Vary", "Accept-Encoding")
		gz := gzip.NewWriter(w)
		if _, err := gz.Write(data); err != nil {
			return nil
		}
		gz.Close()
		return nil
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
	return nil
}

// ---- /api/v1/ ----

func (s *Server) checkpointJSON(cp *translog.Checkpoint) *api.Checkpoint {
	return &api.Checkpoint{Origin: s.reg.Origin(), Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Hash[:]), Time: cp.Time, Note: string(cp.Note)}
}

// getCheckpoints lists stored checkpoints, oldest first, for auditors that
// check every one.
func (s *Server) getCheckpoints(w http.ResponseWriter, r *http.Request) error {
	from, _, err := uintParam(r, "from")
	if err != nil {
		return err
	}
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	cps, err := s.reg.Checkpoints(r.Context(), from, limit)
	if err != nil {
		return err
	}
	out := api.CheckpointList{Checkpoints: make([]*api.Checkpoint, len(cps))}
	for i, cp := range cps {
		out.Checkpoints[i] = s.checkpointJSON(cp)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getCheckpoint(w http.ResponseWriter, r *http.Request) error {
	cp, err := s.reg.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-cache")
	return writeJSON(w, http.StatusOK, s.checkpointJSON(cp))
}

func hashStrings[T ~[]tlog.Hash](hs T) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

func (s *Server) postEntry(w http.ResponseWriter, r *http.Request) error {
	wait := false
	if v := r.URL.Query().Get("wait"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("wait must be true or false")
		}
		wait = b
	}
	limit := max(int64(MaxEntryBody), s.reg.MaxAttestationSize()/3*4+MaxEntryBody)
	body, release, err := s.readBody(w, r, limit)
	if err != nil {
		return err
	}
	rc, err := s.reg.Submit(r.Context(), body, r.URL.Query()["signer"])
	body = nil
	release()
	if err != nil {
		return err
	}
	resp := api.AppendResponse{Index: rc.Index, LeafHash: base64.StdEncoding.EncodeToString(rc.LeafHash[:]), Hash: rc.Hash, Time: rc.Time}
	if wait {
		// The entry is durable already; waiting for its checkpoint is
		// bounded, so a stalled integrator shows as a 503, not a hang.
		ctx, cancel := context.WithTimeout(r.Context(), MaxWait)
		defer cancel()
		cp, err := s.reg.WaitCovered(ctx, rc.Index)
		if err != nil {
			return err
		}
		proof, err := s.reg.InclusionProof(r.Context(), rc.Index, cp.Size)
		if err != nil {
			return err
		}
		resp.TreeSize = cp.Size
		resp.InclusionProof = hashStrings(proof)
		resp.Checkpoint = s.checkpointJSON(cp)
		resp.Proof = string(translog.FormatProof(rc.Index, proof, cp.Note))
	}
	w.Header().Set("Location", "/api/v1/entries/"+strconv.FormatUint(rc.Index, 10))
	return writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request) error {
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 63)
	if err != nil {
		return badRequest("entry index must be a non-negative integer")
	}
	size, given, err := uintParam(r, "size")
	if err != nil {
		return err
	}
	if given && size == 0 {
		return badRequest("size must be a tree size of at least 1 (leave it out for the latest checkpoint)")
	}
	e, err := s.reg.Entry(r.Context(), idx, size)
	if err != nil {
		return err
	}
	lh := tlog.RecordHash(e.Leaf)
	resp := api.EntryResponse{
		Index: idx, Leaf: base64.StdEncoding.EncodeToString(e.Leaf), Entry: e.Leaf,
		LeafHash: base64.StdEncoding.EncodeToString(lh[:]), Time: e.Time,
		TreeSize: e.TreeSize, InclusionProof: hashStrings(e.Proof),
	}
	if e.Integrated != nil {
		resp.IntegratedTime = &e.Integrated.Time
	}
	if c := e.Checkpoint; c != nil {
		resp.Checkpoint = s.checkpointJSON(c)
	}
	if size != 0 {
		w.Header().Set("Cache-Control", immutable)
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) getConsistency(w http.ResponseWriter, r *http.Request) error {
	from, ok, err := uintParam(r, "from")
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("from is required")
	}
	to, _, err := uintParam(r, "to")
	if err != nil {
		return err
	}
	p, to, err := s.reg.ConsistencyProof(r.Context(), from, to)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.ConsistencyResponse{From: from, To: to, Proof: hashStrings(p)})
}

func (s *Server) getInclusion(w http.ResponseWriter, r *http.Request) error {
	idx, ok, err := uintParam(r, "index")
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("index is required")
	}
	size, ok, err := uintParam(r, "size")
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("size is required")
	}
	if cp, err := s.reg.Checkpoint(r.Context()); err != nil {
		return err
	} else if size > cp.Size {
		return badRequest("size is beyond the latest checkpoint")
	}
	p, err := s.reg.InclusionProof(r.Context(), idx, size)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.InclusionResponse{Index: idx, TreeSize: size, Proof: hashStrings(p)})
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.reg.Status(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, st)
}
