package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/bench"
)

type benchFlags struct {
	clients  int
	entries  int
	duration time.Duration
	rate     float64
	data     string
	external bool
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
	app := &cobra.Command{
		Use:   "append",
		Short: "Sustained appends: entries/s, latency to acknowledgement and to a verifiable proof",
		Example: `  vouch bench append --duration 30s
  vouch bench append --duration 30s --rate 5000     # latency at half the target load`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchAppend(cmd.Context(), g, f) },
	}
	app.Flags().IntVar(&f.entries, "entries", 0, "entries to pre-sign (default: enough for --duration at 20,000/s, at most 2,000,000)")
	app.Flags().DurationVar(&f.duration, "duration", 20*time.Second, "how long to send (0: until the entries run out)")
	app.Flags().Float64Var(&f.rate, "rate", 0, "target entries per second (0: as fast as possible)")
	cmd.AddCommand(app)
	return cmd
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
	s, err := bench.Spawn(ctx, dir)
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
	n := f.entries
	if n == 0 {
		n = min(2_000_000, max(50_000, int(f.duration.Seconds()*20000)))
	}
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
