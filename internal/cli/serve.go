package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on --debug-addr
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/content"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/internal/backend"
	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/registry"
	"github.com/vouchdev/vouch/server"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/web"
)

type serveFlags struct {
	data            string
	addr            string
	origin          string
	operatorKey     string
	deleteWindow    time.Duration
	logLevel        string
	maxBlobSize     int64
	fetchPrivate    bool
	monitor         time.Duration
	maxAttest       int64
	debugAddr       string
	db              string
	blobs           string
	newLog          bool
	maxInflight     int64
	maxConns        int
	witnessInterval time.Duration
	tufDir          string
	rotateLog       bool
	trustedRoots    []string
}

func newServeCmd(g *globals) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a registry",
		Long: `Run a registry: the log under /log/ (C2SP tlog-tiles), the API under /api/v1/,
and web pages for people at / (browse packages, releases, statements and the log
at any point in time; see docs/web.md).

The first start creates the data directory with the log's signing key
(log.key), its verifier key (log.vkey: give it to clients as --log-key), an
operator key (operator.key) and an SQLite database. Later starts reuse them;
start-up time does not depend on the size of the log.

At scale, several servers share one PostgreSQL database (--db) and one
S3-compatible bucket (--blobs); each has a data directory holding copies of
the same log.key, log.vkey, config.json and operator key. Every server accepts
writes and serves reads; one at a time, elected through the database,
integrates and signs checkpoints.

GET /metrics serves Prometheus metrics (append latency, integration and
witness lag, refusals, requests, database time); docs/operating.md lists them
with the alerts to set.`,
		Example: `  vouch serve
  vouch serve --data /var/lib/vouch --addr 0.0.0.0:8080 --origin registry.example.com/vouch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "./vouch-data", "data directory")
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fl.StringVar(&f.origin, "origin", "", "checkpoint origin of a new log (default: localhost/vouch/<random>); fixed once the log exists")
	fl.BoolVar(&f.newLog, "new-log", false, "start a new log under a new --origin with a new log key, keeping the old key aside: for when the old log's database is lost for good (the new log needs an empty database)")
	fl.BoolVar(&f.rotateLog, "rotate-log", false, "rotate the log key: start a new log under a new --origin that continues this one (same tree, from its newest checkpoint), the old key kept aside; see docs/trust.md")
	fl.StringVar(&f.tufDir, "tuf-dir", "", "the TUF repository published under /tuf/ (docs/trust.md); default <data>/tuf, made on first start as a development repository; off: none")
	fl.StringVar(&f.operatorKey, "operator-key", "", "operator private key file (default: <data>/operator.key, created on first start)")
	fl.DurationVar(&f.deleteWindow, "delete-window", state.DefaultDeleteWindow, "how long after publication owners may delete a release")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.Int64Var(&f.maxBlobSize, "max-blob-size", 1<<30, "largest content accepted, uploaded or linked, in bytes")
	fl.BoolVar(&f.fetchPrivate, "fetch-private-urls", false, "allow linked content on loopback and private networks (off: the registry fetches only from public addresses)")
	fl.StringVar(&f.db, "db", "", "database: empty for SQLite in the data directory, or postgres://USER@HOST:PORT/DB for PostgreSQL (shared by replicas)")
	fl.StringVar(&f.blobs, "blobs", "", "blob store: empty for <data>/blobs, a directory, or s3://BUCKET?endpoint=HOST:PORT&region=R&secure=false (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	fl.StringVar(&f.debugAddr, "debug-addr", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060); off by default")
	fl.Int64Var(&f.maxAttest, "max-attestation-size", 16<<20, "largest attestation statement accepted, in bytes")
	fl.Int64Var(&f.maxInflight, "max-inflight-memory", 512<<20, "memory that request bodies being checked may hold together, in bytes; more requests wait briefly, then get 503 with Retry-After")
	fl.DurationVar(&f.witnessInterval, "witness-interval", 500*time.Millisecond, "with --witness-policy: the least time between two rounds of submissions to the witnesses")
	fl.IntVar(&f.maxConns, "max-connections", 4096, "most open client connections; more wait to be accepted")
	fl.DurationVar(&f.monitor, "monitor-interval", time.Hour, "how often linked content is re-checked; changed or vanished content is tombstoned (0: never)")
	fl.StringArrayVar(&f.trustedRoots, "sigstore-trusted-root", nil, "a Sigstore trusted_root.json to verify keyless bundles against (repeatable; a file may hold several, one per line); without one, keyless bundles are refused")
	return cmd
}

func runServe(ctx context.Context, g *globals, f *serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(g.errOut, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger) // for what packages log on their own, such as a schema upgrade
	if f.deleteWindow < 0 {
		return errors.New("--delete-window must not be negative")
	}
	if (f.newLog || f.rotateLog) && f.origin == "" {
		return errors.New("--new-log and --rotate-log need --origin with the new log's origin")
	}
	roots, err := loadTrustedRoots(f.trustedRoots)
	if err != nil {
		return err
	}
	if f.newLog && f.rotateLog {
		return errors.New("--new-log (the old database is lost) and --rotate-log (the new log continues the old one) exclude each other")
	}
	origin := f.origin
	if f.rotateLog {
		origin = ""
	}
	dir, err := datadir.Open(f.data, datadir.Options{Origin: origin, OperatorKeyFile: f.operatorKey, NewLog: f.newLog})
	if err != nil {
		return err
	}
	defer dir.Close()
	guard, err := dir.OpenGuard()
	if err != nil {
		return err
	}
	policy, err := g.policy()
	if err != nil {
		return err
	}
	st, err := backend.OpenStore(ctx, f.data, f.db)
	if err != nil {
		return err
	}
	defer st.Close()
	if f.rotateLog {
		if err := rotateLog(ctx, dir, st, f.origin); err != nil {
			return err
		}
		if guard, err = dir.OpenGuard(); err != nil {
			return err
		}
	}
	if f.maxBlobSize <= 0 || f.maxAttest <= 0 || f.maxInflight <= 0 || f.maxConns <= 0 {
		return errors.New("--max-blob-size, --max-attestation-size, --max-inflight-memory and --max-connections must be positive")
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Collect garbage harder as the heap nears what the limits allow,
		// rather than let it grow by the GC percentage past them. The
		// ceiling is --max-inflight-memory plus 256 MiB of resident
		// memory; 64 MiB of that is left to what the Go runtime does not
		// count (the mapped binary, SQLite's C allocations).
		debug.SetMemoryLimit(f.maxInflight + 192<<20)
	}
	blobs, err := backend.OpenBlobs(ctx, f.data, f.blobs)
	if err != nil {
		return err
	}
	mets := metrics.New()
	reg, err := registry.Open(ctx, registry.Config{
		Store: st, LogSigner: dir.LogSigner, LogVKey: dir.LogVKey, Logger: logger,
		Blobs: blobs, MaxBlobSize: f.maxBlobSize, Fetcher: content.NewClient(f.fetchPrivate),
		Operator: dir.OperatorKey, MonitorInterval: f.monitor, MaxAttestationSize: f.maxAttest, Guard: guard,
		WitnessPolicy: policy, WitnessInterval: f.witnessInterval,
		Continues: dir.Continues(), ContinuesKey: dir.Predecessor(), Metrics: mets,
		Sigstore: roots,
	})
	if err != nil {
		return err
	}
	defer reg.Close()
	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := reg.WaitReady(readyCtx); err != nil {
		return err
	}
	if err := reg.EnsureOperator(readyCtx, dir.OperatorKey, f.deleteWindow); err != nil {
		return fmt.Errorf("starting the operator chain: %w", err)
	}
	if err := reg.EnsureContinued(readyCtx, dir.OperatorKey); err != nil {
		return fmt.Errorf("continuing the log %s: %w", dir.Continues().Origin, err)
	}
	tufFS, tufRoot, err := setupTUF(ctx, g, f, dir, logger)
	if err != nil {
		return err
	}
	srv := server.New(server.Config{Registry: reg, Logger: logger, Pages: web.New(web.Config{Registry: reg, Logger: logger}),
		Limits: server.Limits{MaxInflight: f.maxInflight, MaxConns: f.maxConns}, TUF: tufFS, Metrics: mets})
	ln, err := srv.Listen(f.addr)
	if err != nil {
		return err
	}
	hs := srv.HTTPServer()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if f.debugAddr != "" {
		dln, err := net.Listen("tcp", f.debugAddr)
		if err != nil {
			return fmt.Errorf("--debug-addr: %w", err)
		}
		logger.Info("debug endpoints (pprof) listening", "addr", dln.Addr().String())
		go http.Serve(dln, http.DefaultServeMux) // net/http/pprof registers on the default mux
	}
	abs, _ := filepath.Abs(f.data)
	logger.Info("vouch registry serving", "url", "http://"+ln.Addr().String(), "origin", reg.Origin(),
		"data", abs, "operator", dir.OperatorKey.ID())
	if tufRoot != "" {
		rootAbs, _ := filepath.Abs(tufRoot)
		fmt.Fprintf(g.errOut, "\nClients trust this registry through its TUF root:\n  export VOUCH_REGISTRY=http://%s\n  vouch trust init --root %s\n(or with its log key: export VOUCH_LOG_KEY=%s)\n\n",
			ln.Addr().String(), rootAbs, filepath.Join(abs, datadir.LogVKeyFile))
	} else {
		fmt.Fprintf(g.errOut, "\nClients verify this log with its key:\n  export VOUCH_LOG_KEY=%s\n  export VOUCH_REGISTRY=http://%s\n\n",
			filepath.Join(abs, datadir.LogVKeyFile), ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer scancel()
	if err := hs.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
	}
	return nil
}
