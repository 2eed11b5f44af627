package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/audit"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/bench"
	"github.com/vouchdev/vouch/translog"
)

type benchFlags struct {
	db, blobs string
	clients   int
	// entries is the size of the log fill and query work on; appendEntries
	// the entries append pre-signs. They are separate variables because a
	// flag's default is written into its variable when the flag is
	// defined: sharing one, append inherited fill's million.
	entries       int
	appendEntries int
	duration      time.Duration
	rate          float64
	data          string
	external      bool
	cpuProfile    string
}

func newBenchCmd(g *globals) *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a registry: append, time to proof, queries, audit, start-up",
		Long: `Benchmark a registry the way real clients use it, over HTTP, with pre-signed
entries: package creations, releases with small uploaded blobs, and
attestations (SLSA provenance and approvals), in the ratio 1:3:6.

By default each benchmark starts its own "vouch serve" on a data directory
(--data, default a new temporary one) and reports the server's CPU and memory
too; --external benchmarks the registry at --registry instead.

Results are printed as a table, or as JSON with --json. See BENCHMARKS.md.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.data, "data", "", "data directory of the spawned registry (default: a new temporary directory)")
	pf.BoolVar(&f.external, "external", false, "benchmark the registry at --registry instead of spawning one")
	pf.IntVar(&f.clients, "clients", 64, "concurrent clients")
	pf.StringVar(&f.db, "db", "", "--db of the spawned registry (e.g. postgres://...; default SQLite)")
	pf.StringVar(&f.blobs, "blobs", "", "--blobs of the spawned registry (e.g. s3://...; default a directory)")
	pf.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the load generator, or the auditor for bench audit) to this file; profile the server with vouch serve --debug-addr")
	cmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if f.cpuProfile == "" {
			return nil
		}
		out, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			out.Close()
			return err
		}
		cmd.PersistentPostRun = func(*cobra.Command, []string) {
			pprof.StopCPUProfile()
			out.Close()
		}
		return nil
	}
	app := &cobra.Command{
		Use:   "append",
		Short: "Sustained appends: entries/s, latency to acknowledgement and to a verifiable proof",
		Example: `  vouch bench append --duration 30s
  vouch bench append --duration 30s --rate 5000     # latency at half the target load`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchAppend(cmd.Context(), g, f) },
	}
	app.Flags().IntVar(&f.appendEntries, "entries", 0, fmt.Sprintf("entries to pre-sign (default: enough for --duration at %d/s, at least %d and at most %d)",
		appendSizingRate, minAppendEntries, maxAppendEntries))
	app.Flags().DurationVar(&f.duration, "duration", 20*time.Second, "how long to send (0: until the entries run out)")
	app.Flags().Float64Var(&f.rate, "rate", 0, "target entries per second (0: as fast as possible)")
	fill := &cobra.Command{
		Use:     "fill --data DIR --entries N",
		Short:   "Fill (or grow) a registry's log for the query, audit and start-up benchmarks",
		Example: `  vouch bench fill --data /var/tmp/vouch-1m --entries 1000000`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { _, err := benchFill(cmd.Context(), g, f); return err },
	}
	fill.Flags().IntVar(&f.entries, "entries", 1_000_000, "entries the log should hold")
	var requests, workers int
	query := &cobra.Command{
		Use:   "query --data DIR [--entries N]",
		Short: "Query latency (p50/p99) on a filled log: attestations of a digest, package state, where=, at=",
		Long: `Measure the SPEC §9 queries on a log of --entries entries (filling --data to
that size first if needed): attestations of a digest, the state of a package, a
where= CEL query, and the first two at random at= tree sizes.`,
		Example: `  vouch bench query --data /var/tmp/vouch-1m --entries 1000000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchQuery(cmd.Context(), g, f, bench.QueryOptions{Requests: requests, Workers: workers})
		},
	}
	query.Flags().IntVar(&f.entries, "entries", 1_000_000, "entries the log should hold")
	query.Flags().IntVar(&requests, "requests", 2000, "requests per kind of query")
	query.Flags().IntVar(&workers, "workers", 4, "concurrent requests")
	auditCmd := &cobra.Command{
		Use:   "audit --data DIR",
		Short: "Audit rate: entries/s of a full replay of a filled log",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runBenchAudit(cmd.Context(), g, f) },
	}
	startup := &cobra.Command{
		Use:   "startup --data DIR",
		Short: "Start-up time with an empty log and with the log in --data",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runBenchStartup(cmd.Context(), g, f) },
	}
	cmd.AddCommand(app, fill, query, auditCmd, startup)
	return cmd
}

// serveArgs are the backend flags of spawned servers.
func (f *benchFlags) serveArgs() []string {
	var a []string
	if f.db != "" {
		a = append(a, "--db", f.db)
	}
	if f.blobs != "" {
		a = append(a, "--blobs", f.blobs)
	}
	return a
}

// target returns the registry to benchmark, spawning one if needed.
func (f *benchFlags) target(ctx context.Context, g *globals) (string, *bench.Server, func(), error) {
	if f.external {
		return strings.TrimRight(g.registry, "/"), nil, func() {}, nil
	}
	dir := f.data
	cleanup := func() {}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "vouch-bench-")
		if err != nil {
			return "", nil, nil, err
		}
		dir, cleanup = filepath.Join(tmp, "data"), func() { os.RemoveAll(tmp) }
	}
	s, err := bench.Spawn(ctx, dir, f.serveArgs()...)
	if err != nil {
		cleanup()
		return "", nil, nil, err
	}
	return s.URL, s, func() { s.Stop(); cleanup() }, nil
}

func machine() string {
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
	}
	return fmt.Sprintf("%d CPUs%s, %s/%s, %s", runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func runBenchAppend(ctx context.Context, g *globals, f *benchFlags) error {
	if f.clients < 1 {
		return errors.New("--clients must be at least 1")
	}
	n := appendEntries(f.appendEntries, f.duration)
	fmt.Fprintf(g.errOut, "pre-signing %d entries for %d clients...\n", n, f.clients)
	w, err := bench.NewWorkload(n, f.clients, fmt.Sprint(time.Now().UnixNano()%1e9))
	if err != nil {
		return err
	}
	base, srv, stop, err := f.target(ctx, g)
	if err != nil {
		return err
	}
	defer stop()
	hc := bench.NewHTTPClient(f.clients)
	fmt.Fprintf(g.errOut, "uploading %d blobs and registering %d identities...\n", len(w.Blobs), len(w.Identities))
	if err := w.Setup(ctx, base, hc, 16); err != nil {
		return err
	}
	fmt.Fprintf(g.errOut, "appending for %s...\n", f.duration)
	o := bench.AppendOptions{Duration: f.duration, Rate: f.rate}
	if srv != nil {
		o.PID = srv.PID()
	}
	res, err := bench.RunAppend(ctx, base, hc, w, o)
	if err != nil {
		return err
	}
	out := map[string]any{"benchmark": "append", "machine": machine(), "result": res}
	return g.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "machine        %s\n", machine())
		fmt.Fprintf(w, "clients        %d", res.Clients)
		if res.Target > 0 {
			fmt.Fprintf(w, " (target %.0f entries/s)", res.Target)
		}
		fmt.Fprintf(w, "\naccepted       %d entries in %s: %.0f entries/s (%d errors, %d checkpoints)\n", res.Accepted, res.Elapsed.Round(time.Millisecond), res.Rate, res.Errors, res.Checkpoints)
		fmt.Fprintf(w, "to ack         %s\n", res.Ack)
		fmt.Fprintf(w, "to proof       %s\n", res.Proof)
		if res.ServerCPU > 0 {
			fmt.Fprintf(w, "server         %.2f cores, peak RSS %s\n", res.ServerCPU, human(res.ServerRSS))
		}
		fmt.Fprintf(w, "load generator %.2f cores\n", res.ClientCPU)
		for _, s := range res.ErrorSamples {
			fmt.Fprintf(w, "error          %s\n", s)
		}
	})
}

// The sizing of vouch bench append's workload without --entries: enough
// entries to send for the whole --duration at twice the design target of
// 10,000 appends per second, so a run never ends for want of entries, but
// bounded, since every entry is signed (and a third of them upload a blob)
// before the clock starts.
const (
	appendSizingRate = 20_000
	minAppendEntries = 50_000
	maxAppendEntries = 2_000_000
)

// appendEntries is the number of entries vouch bench append pre-signs:
// entries if given, else what a run of duration needs at appendSizingRate,
// within [minAppendEntries, maxAppendEntries] (a duration of 0, "until the
// entries run out", gets the minimum).
func appendEntries(entries int, duration time.Duration) int {
	if entries > 0 {
		return entries
	}
	return min(maxAppendEntries, max(minAppendEntries, int(duration.Seconds()*appendSizingRate)))
}

// benchFill grows the log in --data to --entries entries and returns its
// metadata.
func benchFill(ctx context.Context, g *globals, f *benchFlags) (*bench.Meta, error) {
	if f.data == "" {
		return nil, errors.New("--data DIR is required: the filled log is kept there for reuse")
	}
	os.MkdirAll(f.data, 0o700)
	meta, err := bench.LoadMeta(f.data)
	if err != nil {
		meta = &bench.Meta{}
	}
	if meta.Entries >= uint64(f.entries) {
		fmt.Fprintf(g.errOut, "%s already holds %d entries\n", f.data, meta.Entries)
		return meta, nil
	}
	srv, err := bench.Spawn(ctx, f.data, f.serveArgs()...)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	clients := max(f.clients, 192)
	hc := bench.NewHTTPClient(clients)
	for meta.Entries < uint64(f.entries) {
		n := min(f.entries-int(meta.Entries), 250_000)
		fmt.Fprintf(g.errOut, "pre-signing %d entries...\n", n)
		w, err := bench.NewWorkload(n, clients, fmt.Sprint(time.Now().UnixNano()%1e9))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(g.errOut, "uploading %d blobs...\n", len(w.Blobs))
		if err := w.Setup(ctx, srv.URL, hc, 32); err != nil {
			return nil, err
		}
		res, err := bench.RunAppend(ctx, srv.URL, hc, w, bench.AppendOptions{PID: srv.PID()})
		if err != nil {
			return nil, err
		}
		if res.Errors > 0 {
			return nil, fmt.Errorf("%d errors while filling, e.g. %v", res.Errors, res.ErrorSamples)
		}
		var cp struct{ Size uint64 }
		if err := bench.GetJSON(ctx, hc, srv.URL+"/api/v1/checkpoint", &cp); err != nil {
			return nil, err
		}
		meta.Entries = cp.Size
		meta.Packages = append(meta.Packages, w.Packages...)
		meta.Digests = append(meta.Digests, w.Digests...)
		if err := meta.Save(f.data); err != nil {
			return nil, err
		}
		fmt.Fprintf(g.errOut, "log holds %d entries (%.0f entries/s)\n", meta.Entries, res.Rate)
	}
	return meta, nil
}

func runBenchQuery(ctx context.Context, g *globals, f *benchFlags, o bench.QueryOptions) error {
	meta, err := benchFill(ctx, g, f)
	if err != nil {
		return err
	}
	srv, err := bench.Spawn(ctx, f.data, f.serveArgs()...)
	if err != nil {
		return err
	}
	defer srv.Stop()
	hc := bench.NewHTTPClient(o.Workers)
	// Warm up: the first requests fill the OS and SQLite caches.
	bench.RunQueries(ctx, srv.URL, hc, meta, bench.QueryOptions{Requests: 200, Workers: o.Workers})
	res, err := bench.RunQueries(ctx, srv.URL, hc, meta, o)
	if err != nil {
		return err
	}
	return g.print(map[string]any{"benchmark": "query", "machine": machine(), "entries": meta.Entries, "results": res}, func(w io.Writer) {
		fmt.Fprintf(w, "machine  %s\nlog      %d entries, %d packages, %d release digests\n\n", machine(), meta.Entries, len(meta.Packages), len(meta.Digests))
		for _, r := range res {
			fmt.Fprintf(w, "%-48s %s  (%.1f items, %.0f bytes", r.Name, r.Latency, r.Items, r.Bytes)
			if r.ProofNodes > 0 {
				fmt.Fprintf(w, ", %.1f proof nodes", r.ProofNodes)
			}
			fmt.Fprintf(w, ", %d errors)\n", r.Errors)
		}
	})
}

func runBenchAudit(ctx context.Context, g *globals, f *benchFlags) error {
	if f.data == "" {
		return errors.New("--data DIR is required (fill it with vouch bench fill)")
	}
	srv, err := bench.Spawn(ctx, f.data, f.serveArgs()...)
	if err != nil {
		return err
	}
	defer srv.Stop()
	home, err := os.MkdirTemp("", "vouch-bench-audit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	v, err := translog.LoadVerifier(filepath.Join(f.data, "log.vkey"))
	if err != nil {
		return err
	}
	c, err := client.New(srv.URL, client.Options{LogKey: v, Home: home})
	if err != nil {
		return err
	}
	before, _ := bench.ReadProc(srv.PID())
	self, _ := bench.ReadProc(os.Getpid())
	rep, err := audit.Run(ctx, audit.Options{Client: c, LogURL: srv.URL, HTTPClient: bench.NewHTTPClient(8)}, v)
	if err != nil {
		return err
	}
	after, _ := bench.ReadProc(srv.PID())
	me, _ := bench.ReadProc(os.Getpid())
	serverCPU := float64(after.CPU-before.CPU) / float64(rep.Elapsed)
	auditCPU := float64(me.CPU-self.CPU) / float64(rep.Elapsed)
	return g.print(map[string]any{"benchmark": "audit", "machine": machine(), "report": rep, "serverCpuCores": serverCPU, "auditorCpuCores": auditCPU},
		func(w io.Writer) {
			fmt.Fprintf(w, "machine   %s\n", machine())
			fmt.Fprintf(w, "replayed  %d entries in %s: %.0f entries/s (%d statements checked, %d erased)\n", rep.To-rep.From, rep.Elapsed.Round(time.Millisecond), rep.Rate, rep.Statements, rep.Erased)
			fmt.Fprintf(w, "cpu       auditor %.2f cores, server %.2f cores\n", auditCPU, serverCPU)
			if !rep.OK() {
				fmt.Fprintf(w, "AUDIT FAILED: %+v\n", rep.Violation)
			}
		})
}

func runBenchStartup(ctx context.Context, g *globals, f *benchFlags) error {
	if f.data == "" {
		return errors.New("--data DIR is required (fill it with vouch bench fill)")
	}
	tmp, err := os.MkdirTemp("", "vouch-bench-startup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	measure := func(dir string) (time.Duration, error) {
		var best time.Duration
		for i := 0; i < 3; i++ {
			s, err := bench.Spawn(ctx, dir)
			if err != nil {
				return 0, err
			}
			s.Stop()
			if best == 0 || s.Started < best {
				best = s.Started
			}
		}
		return best, nil
	}
	empty, err := measure(filepath.Join(tmp, "data"))
	if err != nil {
		return err
	}
	full, err := measure(f.data)
	if err != nil {
		return err
	}
	meta, _ := bench.LoadMeta(f.data)
	n := uint64(0)
	if meta != nil {
		n = meta.Entries
	}
	return g.print(map[string]any{"benchmark": "startup", "machine": machine(), "empty": empty, "full": full, "entries": n}, func(w io.Writer) {
		fmt.Fprintf(w, "machine                 %s\n", machine())
		fmt.Fprintf(w, "start-up, empty log     %s (best of 3, from exec to answering /healthz)\n", empty.Round(time.Millisecond))
		fmt.Fprintf(w, "start-up, %d entries %s\n", n, full.Round(time.Millisecond))
	})
}
