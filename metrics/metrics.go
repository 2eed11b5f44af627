// Package metrics is Vouch's instrumentation: the Prometheus metrics of a
// registry, a mirror or a witness, served at GET /metrics in the Prometheus
// text exposition format (docs/operating.md lists them, with the alerts to
// set).
//
// A Metrics owns its own prometheus.Registry instead of registering on the
// process-wide default one. A process may run several registries at once
// (the tests run a registry beside its mirrors and witnesses, and restart
// them), and each must count only its own work, be scraped on its own
// address, and never fail with a duplicate registration. The cost is that
// a Metrics must be handed to what it instruments: it travels in the Config
// of the registry, the server and the mirror, like the logger does.
//
// A nil *Metrics is valid and records nothing, so instrumentation points
// are one call each, with no checks around them, and components opened
// without metrics (most tests) pay nothing but a nil comparison.
//
// Counters and histograms are updated where the work happens: per batch in
// the sequencer (serial, and the registry's bottleneck), per request at the
// HTTP edge, per transaction in the store. Figures that describe a state
// (queue depth, integration lag, witness and mirror lag) are read only when
// /metrics is scraped, from sources the registry and the mirror attach.
package metrics

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the collectors of one registry, mirror or witness, in a
// prometheus.Registry of their own. The zero value is not usable; call New.
// A nil *Metrics records nothing.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	appendAck    prometheus.Histogram
	appendProof  prometheus.Histogram
	batchSize    prometheus.Histogram
	refusals     *prometheus.CounterVec
	content      [numContentResults]prometheus.Counter
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	dbTx         *prometheus.HistogramVec

	log    atomic.Pointer[logSource]
	mirror atomic.Pointer[mirrorSource]

	// routes caches the series of each route and status seen, so that a
	// request finds them without allocating (every append is a request).
	routesMu sync.RWMutex
	routes   map[routeCode]routeSeries
}

type routeCode struct {
	route string
	code  int
}

type routeSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// latencyBuckets are the buckets of request and append latencies, in
// seconds: from 0.5 ms to 30 s, with a bound at 250 ms (the target of a
// write's time to proof).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// dbBuckets are the buckets of database transaction times, in seconds:
// from 0.1 ms (a cached read) to 10 s.
var dbBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New returns a Metrics with every Vouch collector, and Go's runtime and
// process collectors, registered.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), routes: map[routeCode]routeSeries{}}
	m.appendAck = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vouch_append_ack_seconds",
		Help:    "Time from the registry receiving a submission to its being durably sequenced (accepted submissions).",
		Buckets: latencyBuckets,
	})
	m.appendProof = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vouch_append_proof_seconds",
		Help:    "Time from the registry receiving a submission to the first checkpoint signed by the log that covers it (an inclusion proof exists).",
		Buckets: latencyBuckets,
	})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vouch_sequencer_batch_size",
		Help:    "Submissions sequenced per transaction (group commit), accepted or refused.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 13), // 1 to 4096
	})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vouch_refusals_total",
		Help: "Submissions refused, by the state machine's refusal code.",
	}, []string{"code"})
	contentResults := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vouch_content_monitor_results_total",
		Help: "Results of the content monitor: linked content checked ok, changed or gone (the release is tombstoned), not checked for an error (retried next pass), and banished content purged.",
	}, []string{"result"})
	for r := range m.content {
		m.content[r] = contentResults.WithLabelValues(contentResultNames[r])
	}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vouch_http_requests_total",
		Help: "HTTP requests answered, by route pattern and status code (499: the client went away).",
	}, []string{"route", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vouch_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern.",
		Buckets: latencyBuckets,
	}, []string{"route"})
	m.dbTx = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vouch_db_transaction_seconds",
		Help:    "Time of database transactions and reads, from their start (waiting for a connection included) to their commit or last row, by backend and kind.",
		Buckets: dbBuckets,
	}, []string{"backend", "kind"})
	m.reg.MustRegister(m.appendAck, m.appendProof, m.batchSize, m.refusals, contentResults,
		m.httpRequests, m.httpDuration, m.dbTx, newReadings(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A scrape is cheap (one indexed read of the database besides
		// memory), and at most two run at once: more get 503.
		MaxRequestsInFlight: 2,
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
	})
	return m
}

// Registry returns the prometheus.Registry that holds the collectors, to
// register more or to gather them directly.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text exposition format
// (compressed if the client accepts it). A nil Metrics serves 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// ObserveAck records the time from receiving a submission to its
// acknowledgement (durably sequenced).
func (m *Metrics) ObserveAck(d time.Duration) {
	if m != nil {
		m.appendAck.Observe(d.Seconds())
	}
}

// ObserveProof records the time from receiving a submission to the first
// checkpoint that covers it.
func (m *Metrics) ObserveProof(d time.Duration) {
	if m != nil {
		m.appendProof.Observe(d.Seconds())
	}
}

// ObserveBatch records the number of submissions of one sequencing
// transaction.
func (m *Metrics) ObserveBatch(n int) {
	if m != nil {
		m.batchSize.Observe(float64(n))
	}
}

// Refused counts a submission refused with a refusal code (a state.Code:
// a small, fixed set, so the label stays bounded).
func (m *Metrics) Refused(code string) {
	if m != nil {
		m.refusals.WithLabelValues(code).Inc()
	}
}

// ContentResult is what the content monitor found for one release.
type ContentResult int

// The content monitor's results.
const (
	// ContentOK: the linked content is there, with the release's digest.
	ContentOK ContentResult = iota
	// ContentChanged: the link serves other bytes (the release is tombstoned).
	ContentChanged
	// ContentGone: the link answers 404 or 410 (the release is tombstoned).
	ContentGone
	// ContentError: the content could not be checked (a network error, a
	// server error); the monitor tries again next pass.
	ContentError
	// ContentPurged: bytes of a banished release were found and removed.
	ContentPurged
	numContentResults
)

var contentResultNames = [numContentResults]string{"ok", "changed", "gone", "error", "purged"}

// String returns the result's label value.
func (r ContentResult) String() string { return contentResultNames[r] }

// Content counts one result of the content monitor.
func (m *Metrics) Content(r ContentResult) {
	if m != nil {
		m.content[r].Inc()
	}
}

// TxKind is a kind of database transaction.
type TxKind int

// The kinds of database transactions.
const (
	// TxSequence: a sequencing transaction (a batch of new entries, or of
	// a mirror's replicated ones), with its inline integration if any.
	TxSequence TxKind = iota
	// TxIntegrate: an integration transaction (tree hashes and a checkpoint).
	TxIntegrate
	// TxRead: a read (entries, state, the query index, checkpoints, tree hashes).
	TxRead
	// TxWitness: recording a witnessed checkpoint.
	TxWitness
	// TxErase: erasing off-log data, recording an erasure, compacting.
	TxErase
	// TxAdmin: recording an operator request as carried out (replay protection).
	TxAdmin
	numTxKinds
)

var txKindNames = [numTxKinds]string{"sequence", "integrate", "read", "witness", "erase", "admin"}

// String returns the kind's label value.
func (k TxKind) String() string { return txKindNames[k] }

// DBTimer times the transactions of one database. A nil *DBTimer records
// nothing.
type DBTimer struct {
	obs [numTxKinds]prometheus.Observer
}

// DB returns the timer of a database backend ("sqlite" or "postgres").
// Its series are created at once, so every kind appears (at zero) from the
// first scrape.
func (m *Metrics) DB(backend string) *DBTimer {
	if m == nil {
		return nil
	}
	t := &DBTimer{}
	for k := range t.obs {
		t.obs[k] = m.dbTx.WithLabelValues(backend, txKindNames[k])
	}
	return t
}

// Since records a transaction of a kind that started at start: call it as
// defer t.Since(kind, time.Now()).
func (t *DBTimer) Since(kind TxKind, start time.Time) {
	if t != nil {
		t.obs[kind].Observe(time.Since(start).Seconds())
	}
}

// HTTP returns h counting every request by its route and status code, and
// timing it by route. The route is the pattern of the http.ServeMux that
// served the request (Request.Pattern, which a ServeMux sets on the request
// it is given: h must be one, or pass its request on to one unchanged), never
// the raw path or method, so the labels stay bounded whatever clients send.
// A handler that panics (http.ErrAbortHandler: the client went away) counts
// as 499.
func (m *Metrics) HTTP(h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		finished := false
		defer func() {
			code := sw.code
			switch {
			case !finished:
				code = 499
			case code == 0:
				code = http.StatusOK
			}
			s := m.routeSeries(r.Pattern, code)
			s.requests.Inc()
			s.duration.Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(sw, r)
		finished = true
	})
}

// routeSeries returns the series of a route pattern and status code.
func (m *Metrics) routeSeries(route string, code int) routeSeries {
	if route == "" {
		route = "unmatched"
	}
	k := routeCode{route, code}
	m.routesMu.RLock()
	s, ok := m.routes[k]
	m.routesMu.RUnlock()
	if ok {
		return s
	}
	s = routeSeries{requests: m.httpRequests.WithLabelValues(route, strconv.Itoa(code)), duration: m.httpDuration.WithLabelValues(route)}
	m.routesMu.Lock()
	m.routes[k] = s
	m.routesMu.Unlock()
	return s
}

// statusWriter remembers the status code of an answer. It unwraps for
// http.ResponseController (deadlines, flushes) and passes io.ReaderFrom on,
// so that file downloads keep their sendfile.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, r)
}

// Flush implements http.Flusher for handlers that assert it.
func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// LogReadings are a log's figures as of a scrape.
type LogReadings struct {
	// QueueDepth is the number of submissions waiting for the sequencer.
	QueueDepth int
	// Sequenced is the number of entries stored, if SequencedOK (it is
	// read from the database, which may fail).
	Sequenced   uint64
	SequencedOK bool
	// CheckpointSize and CheckpointTime are the size and signing time of
	// the newest checkpoint; a zero CheckpointTime means there is none yet.
	CheckpointSize uint64
	CheckpointTime time.Time
	// Integrator says whether this process integrates the log and signs
	// its checkpoints.
	Integrator bool
	// Witnesses are the witnesses this process submits checkpoints to
	// (only the integrator does).
	Witnesses []WitnessReadings
}

// WitnessReadings are the figures of one witness.
type WitnessReadings struct {
	// Name is the witness's name in the witness policy.
	Name string
	// Behind is how many entries the newest checkpoint the witness
	// cosigned is behind the log's newest checkpoint.
	Behind uint64
	// LastSuccess is when the witness last cosigned (zero: never, since
	// this process started).
	LastSuccess time.Time
	// Alarm says the witness refused a checkpoint in a way that means it
	// saw another history of this log.
	Alarm bool
}

// MirrorReadings are a mirror's figures as of a scrape.
type MirrorReadings struct {
	// UpstreamSize is the size of the upstream's newest checkpoint seen;
	// Size is the mirror's.
	UpstreamSize, Size uint64
	// Stopped says the mirror stopped following on evidence that the
	// upstream misbehaved.
	Stopped bool
	// LastSync is when the mirror last caught up (zero: never, since it
	// started).
	LastSync time.Time
}

type logSource struct {
	read func(context.Context) LogReadings
}

type mirrorSource struct {
	read func() MirrorReadings
}

// AttachLog makes read the source of the log's figures, called at every
// scrape with a context that ends within ScrapeTimeout. It replaces any
// source attached before; detach removes it, unless another replaced it.
func (m *Metrics) AttachLog(read func(context.Context) LogReadings) (detach func()) {
	if m == nil {
		return func() {}
	}
	s := &logSource{read: read}
	m.log.Store(s)
	return func() { m.log.CompareAndSwap(s, nil) }
}

// AttachMirror makes read the source of a mirror's figures, called at
// every scrape. It replaces any source attached before; detach removes it,
// unless another replaced it.
func (m *Metrics) AttachMirror(read func() MirrorReadings) (detach func()) {
	if m == nil {
		return func() {}
	}
	s := &mirrorSource{read: read}
	m.mirror.Store(s)
	return func() { m.mirror.CompareAndSwap(s, nil) }
}

// ScrapeTimeout bounds the work of the sources at one scrape.
const ScrapeTimeout = 5 * time.Second
