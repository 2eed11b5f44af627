package registry_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/internal/bench"
	"github.com/vouchdev/vouch/query"
	"github.com/vouchdev/vouch/registry"
	"github.com/vouchdev/vouch/store/sqlstore"
	"github.com/vouchdev/vouch/translog"
	"golang.org/x/mod/sumdb/tlog"
)

func openRegistry(b *testing.B) *registry.Registry {
	dir := filepath.Join(b.TempDir(), "data")
	d, err := datadir.Open(dir, datadir.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "vouch.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	blobs, _ := blob.OpenDir(filepath.Join(dir, "blobs"))
	reg, err := registry.Open(context.Background(), registry.Config{Store: st, LogSigner: d.LogSigner, Blobs: blobs,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Close() })
	reg.WaitReady(context.Background())
	return reg
}

// prepare registers a workload's identities and uploads its blobs.
func prepare(b *testing.B, reg *registry.Registry, w *bench.Workload) {
	ctx := context.Background()
	for _, id := range w.Identities {
		if _, err := reg.Submit(ctx, id, nil); err != nil {
			b.Fatal(err)
		}
	}
	for d, c := range w.Blobs {
		if _, err := reg.PutBlob(ctx, d, bytes.NewReader(c)); err != nil {
			b.Fatal(err)
		}
	}
}

// submit sends the workload's streams concurrently, at most limit entries
// in all.
func submit(b *testing.B, reg *registry.Registry, w *bench.Workload, limit int64) {
	var n atomic.Int64
	var wg sync.WaitGroup
	for _, s := range w.Streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, it := range s {
				if n.Add(1) > limit {
					return
				}
				if _, err := reg.Submit(context.Background(), it.Body, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkAppend measures the registry core without HTTP: 64 concurrent
// submitters, a realistic mix of creations, releases and attestations,
// every entry verified, sequenced, integrated and checkpointed.
func BenchmarkAppend(b *testing.B) {
	reg := openRegistry(b)
	w, err := bench.NewWorkload(max(b.N, 640), 64, "b")
	if err != nil {
		b.Fatal(err)
	}
	prepare(b, reg, w)
	io0 := procIO()
	if f := os.Getenv("VOUCH_BENCH_CPUPROFILE"); f != "" {
		out, _ := os.Create(f)
		pprof.StartCPUProfile(out)
		defer pprof.StopCPUProfile()
	}
	b.ResetTimer()
	submit(b, reg, w, int64(b.N))
	b.ReportMetric(float64(procIO()-io0)/float64(b.N), "written-B/entry")
}

// BenchmarkIntegrate integrates batches of 256 leaves into a growing tree.
func BenchmarkIntegrate(b *testing.B) {
	hashes := map[int64]tlog.Hash{}
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	leaves := make([]tlog.Hash, 256)
	for i := range leaves {
		leaves[i] = tlog.RecordHash([]byte{byte(i)})
	}
	size := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		stored, _, err := translog.Integrate(size, leaves, hr)
		if err != nil {
			b.Fatal(err)
		}
		for _, h := range stored {
			hashes[h.Index] = h.Hash
		}
		size += 256
	}
}

// procIO returns the bytes this process has written so far.
func procIO() int64 {
	b, _ := os.ReadFile("/proc/self/io")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "wchar:") {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(l, "wchar:")), 10, 64)
			return n
		}
	}
	return 0
}

// filled returns a registry holding n entries of the benchmark workload.
func filled(b *testing.B, n int) (*registry.Registry, *bench.Workload) {
	reg := openRegistry(b)
	w, err := bench.NewWorkload(n, 8, "q")
	if err != nil {
		b.Fatal(err)
	}
	prepare(b, reg, w)
	submit(b, reg, w, int64(w.Total))
	ctx := context.Background()
	head, _ := reg.Store().Head(ctx)
	if _, err := reg.WaitCovered(ctx, head.Sequenced-1); err != nil {
		b.Fatal(err)
	}
	return reg, w
}

// BenchmarkProofs generates inclusion and consistency proofs in a tree of
// 2,000 entries.
func BenchmarkProofs(b *testing.B) {
	reg, _ := filled(b, 2000)
	ctx := context.Background()
	size := reg.Latest().Size
	i := uint64(0)
	b.ResetTimer()
	for b.Loop() {
		i = (i + 7919) % size
		if _, err := reg.InclusionProof(ctx, i, size); err != nil {
			b.Fatal(err)
		}
		if _, _, err := reg.ConsistencyProof(ctx, i+1, size); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuery plans and runs the query for the attestations of a digest,
// and one with a where= filter over a package, on 2,000 entries.
func BenchmarkQuery(b *testing.B) {
	reg, w := filled(b, 2000)
	ctx := context.Background()
	size := reg.Latest().Size
	f, err := query.Compile(`kind == "attestation" && fields.decision == "approved"`)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		items, _, err := reg.Query(ctx, &vouch.QueryRequest{Size: size, Filter: vouch.Filter{Subject: w.Digests[i%len(w.Digests)], Kind: "attestation"}, Desc: true})
		if err != nil || len(items) == 0 {
			b.Fatal(err, len(items))
		}
		if _, _, err := reg.Query(ctx, &vouch.QueryRequest{Size: size, Filter: vouch.Filter{Package: w.Packages[i%len(w.Packages)]}, Where: f, Desc: true}); err != nil {
			b.Fatal(err)
		}
	}
}
