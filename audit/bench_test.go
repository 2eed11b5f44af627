package audit_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"

	"github.com/vouchdev/vouch/audit"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/bench"
	"github.com/vouchdev/vouch/translog"
)

// BenchmarkAuditFilled audits the log in $VOUCH_BENCH_DATA (filled with
// "vouch bench fill") served by the vouch binary $VOUCH_BIN; it is skipped
// without them.
func BenchmarkAuditFilled(b *testing.B) {
	dir := os.Getenv("VOUCH_BENCH_DATA")
	if dir == "" || os.Getenv("VOUCH_BIN") == "" {
		b.Skip("VOUCH_BENCH_DATA and VOUCH_BIN are not set")
	}
	ctx := context.Background()
	srv, err := bench.Spawn(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	v, err := translog.LoadVerifier(filepath.Join(dir, "log.vkey"))
	if err != nil {
		b.Fatal(err)
	}
	if f := os.Getenv("VOUCH_BENCH_CPUPROFILE"); f != "" {
		out, _ := os.Create(f)
		pprof.StartCPUProfile(out)
		defer pprof.StopCPUProfile()
	}
	for b.Loop() {
		c, _ := client.New(srv.URL, client.Options{LogKey: v, Home: b.TempDir()})
		rep, err := audit.Run(ctx, audit.Options{Client: c, LogURL: srv.URL}, v)
		if err != nil || !rep.OK() {
			b.Fatal(err, rep)
		}
		b.ReportMetric(rep.Rate, "entries/s")
	}
}
