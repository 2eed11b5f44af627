package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sync/semaphore"
)

// Limits bound what one request, and all of them together, may cost the
// server before anything is authenticated. The zero value of a field means
// its default.
type Limits struct {
	// MaxInflight is the request-body memory all requests in progress may
	// hold together, in bytes (default 512 MiB). A body is charged
	// BodyCost times its size while it is parsed and checked; a request
	// that does not fit within MaxWait gets 503 with Retry-After.
	MaxInflight int64
	// BodyCost is how many bytes of memory a byte of a submitted body
	// costs while it is decoded and checked (default 6, measured on the
	// largest attestation bodies; see docs/operating.md).
	BodyCost int64
	// MaxWait is how long a request waits for memory to free up before
	// it is answered 503 (default 2 s).
	MaxWait time.Duration
	// BodyGrace is how long a client has to start sending its body, and
	// MinBodyRate the bytes per second it must keep up after that
	// (defaults 30 s and 16 KiB/s): a body may take BodyGrace plus its
	// size divided by MinBodyRate, so a 1 GiB upload may take 18 hours at
	// the least rate, while a client trickling a byte a second is cut off
	// after BodyGrace.
	BodyGrace   time.Duration
	MinBodyRate int64
	// WriteTimeout bounds the writing of an answer (default 60 s); a
	// download of content gets its size divided by MinBodyRate on top.
	WriteTimeout time.Duration
	// MaxConns caps open connections (default 4096); further clients wait
	// in the listen queue.
	MaxConns int
	// RequestTimeout bounds a read request's own work (default 30 s).
	RequestTimeout time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxInflight, 512<<20)
	def(&l.BodyCost, 6)
	def(&l.MinBodyRate, 16<<10)
	defd(&l.MaxWait, 2*time.Second)
	defd(&l.BodyGrace, 30*time.Second)
	defd(&l.WriteTimeout, 60*time.Second)
	defd(&l.RequestTimeout, 30*time.Second)
	if l.MaxConns <= 0 {
		l.MaxConns = 4096
	}
	return l
}

// HTTPServer returns an http.Server for s with the timeouts of its limits:
// headers must arrive within 10 s, idle connections close after 2 min, and
// bodies and answers have the per-request deadlines Limits describes (set
// by the handlers, since they depend on the body's size).
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          newErrorLog(s.log),
	}
}

// Listen listens on a TCP address with the connection cap of the limits.
func (s *Server) Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return netutil.LimitListener(ln, s.limits.MaxConns), nil
}

// admission charges request bodies to the in-flight memory budget.
type admission struct {
	sem  *semaphore.Weighted
	max  int64
	wait time.Duration
}

// errBusy is answered 503 with Retry-After.
var errBusy = errorf(http.StatusServiceUnavailable, "busy",
	"the registry is handling as many large requests as its memory allows; retry shortly")

// reserve reserves n bytes of memory, waiting at most MaxWait for them,
// and returns the function that releases them.
func (a *admission) reserve(ctx context.Context, n int64) (func(), error) {
	w := min(n, a.max)
	if w <= 0 {
		return func() {}, nil
	}
	if !a.sem.TryAcquire(w) {
		ctx, cancel := context.WithTimeout(ctx, a.wait)
		defer cancel()
		if err := a.sem.Acquire(ctx, w); err != nil {
			return nil, errBusy
		}
	}
	return func() { a.sem.Release(w) }, nil
}

// readBody reads a request body of at most limit bytes, charging it to the
// in-flight budget while the caller works on it (call release when done),
// and enforcing the body deadline: BodyGrace plus MinBodyRate.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, release func(), err error) {
	n := r.ContentLength
	if n > limit {
		return nil, nil, &http.MaxBytesError{Limit: limit}
	}
	if n < 0 {
		n = limit
	}
	release, err = s.admit.reserve(r.Context(), n*s.limits.BodyCost)
	if err != nil {
		return nil, nil, err
	}
	buf := make([]byte, 0, min(n, limit)+1)
	body, err = readAllInto(buf, s.bodyReader(w, r, limit))
	if err != nil {
		release()
		return nil, nil, err
	}
	return body, release, nil
}

// readAllInto reads r to its end into buf, growing it only if needed.
func readAllInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// bodyReader wraps a request body: at most limit bytes, with a read
// deadline that moves with the bytes received, and errors that say whose
// fault they are.
func (s *Server) bodyReader(w http.ResponseWriter, r *http.Request, limit int64) io.Reader {
	b := &slowBody{r: http.MaxBytesReader(w, r.Body, limit), rc: http.NewResponseController(w), start: time.Now(),
		grace: s.limits.BodyGrace, rate: s.limits.MinBodyRate, declared: r.ContentLength, req: r}
	b.extend()
	return b
}

type slowBody struct {
	r        io.Reader
	rc       *http.ResponseController
	req      *http.Request
	start    time.Time
	grace    time.Duration
	rate     int64
	n, next  int64
	declared int64
}

// extend moves the read deadline to start + grace + n/rate.
func (b *slowBody) extend() {
	d := b.start.Add(b.grace + time.Duration(float64(b.n)/float64(b.rate)*float64(time.Second)))
	b.rc.SetReadDeadline(d)
	b.next = b.n + b.rate // move it again a second's worth of bytes later
}

func (b *slowBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n >= b.next {
		b.extend()
	}
	if err == nil || err == io.EOF {
		return n, err
	}
	var mb *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mb):
		return n, err
	case errors.As(err, &ne) && ne.Timeout():
		return n, errorf(http.StatusRequestTimeout, "body_too_slow", fmt.Sprintf(
			"the request body arrived too slowly (%d bytes in %s; at least %d bytes per second are needed after the first %s)",
			b.n, time.Since(b.start).Round(time.Millisecond), b.rate, b.grace))
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The client stopped sending; if it is still there, it learns why.
		msg := "the request body was cut short"
		if b.declared >= 0 {
			msg = fmt.Sprintf("the request body was cut short: %d of the %d bytes its Content-Length announced arrived", b.n, b.declared)
		}
		return n, errorf(http.StatusBadRequest, "truncated_body", msg)
	case b.req.Context().Err() != nil:
		return n, errClientGone
	}
	return n, errorf(http.StatusBadRequest, "bad_body", "reading the request body: "+err.Error())
}

// errClientGone marks a request whose client went away; it is logged (as
// 499, the nginx convention) but not answered.
var errClientGone = errors.New("the client went away")

// setWriteDeadline gives the answer WriteTimeout, plus the time to send
// size bytes at MinBodyRate.
func (s *Server) setWriteDeadline(w http.ResponseWriter, size int64) {
	d := s.limits.WriteTimeout + time.Duration(float64(size)/float64(s.limits.MinBodyRate)*float64(time.Second))
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
}

// retryAfter is the Retry-After of a 503 for a full server.
var retryAfter = strconv.Itoa(2)

// newErrorLog routes the http.Server's own complaints (bad TLS handshakes,
// accept errors) to the logger as warnings: they are the network's doing.
func newErrorLog(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelWarn)
}
