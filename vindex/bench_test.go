package vindex

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// benchTree is a tree of about 400,000 keys, the size of a
// million-entry log's index, built once for the benchmarks.
var benchTree = sync.OnceValues(func() (*versioned, uint64) {
	const size = 1_000_000
	ctx := context.Background()
	st := newVersioned()
	rng := rand.New(rand.NewPCG(1, 2))
	u := NewUpdate(st, nil, 0, true)
	for range 400_000 - benchSigners - benchPackages {
		u.Set(Label(KindSubject, fmt.Sprintf("sha256:%x", rng.Uint64())), ListNext(ListStart, 0))
	}
	for i := range benchSigners {
		u.Set(Label(KindSigner, fmt.Sprint(i)), ListNext(ListStart, 0))
	}
	for i := range benchPackages {
		u.Set(Label(KindPackage, fmt.Sprint(i)), Hash([]byte{byte(i)}))
	}
	_, rows, err := u.Apply(ctx, size)
	if err != nil {
		panic(err)
	}
	st.put(rows)
	return st, size
})

const (
	benchSigners  = 801
	benchPackages = 20_000
	benchBatch    = 210 // entries per batch, as appends batch at a million entries
)

// BenchmarkUpdate applies batches shaped like the append benchmark's at a
// million entries: per entry a new content digest, one of 801 signers and
// one of 20,000 packages, through a warm cache; it reports the time per
// entry of reading ahead, values, inserts and encoding (the node reads
// that miss the cache come from a Go map; storing the rows is left out),
// and the node rows and bytes (keys and nodes) an entry writes.
func BenchmarkUpdate(b *testing.B) {
	ctx := context.Background()
	st, size := benchTree()
	cache := NewCache(1 << 18)
	if _, err := cache.Warm(ctx, st, size); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var nrows, stored int
	b.ResetTimer()
	for range b.N {
		var labels [][32]byte
		sets := map[[32]byte][32]byte{}
		for range benchBatch {
			for _, l := range [][32]byte{
				Label(KindSubject, fmt.Sprintf("sha256:%x", rng.Uint64())),
				Label(KindSigner, fmt.Sprint(rng.IntN(benchSigners))),
				Label(KindPackage, fmt.Sprint(rng.IntN(benchPackages))),
			} {
				if _, ok := sets[l]; !ok {
					labels = append(labels, l)
				}
				sets[l] = ListNext(sets[l], size)
			}
		}
		u := NewUpdate(st, cache, size, false)
		if err := u.Prefetch(ctx, labels); err != nil {
			b.Fatal(err)
		}
		if _, err := u.Values(ctx, labels); err != nil {
			b.Fatal(err)
		}
		for l, v := range sets {
			u.Set(l, v)
		}
		_, rows, err := u.Apply(ctx, size+benchBatch)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, r := range rows {
			stored += len(r.Key) + len(r.Node)
		}
		nrows += len(rows)
		st.put(rows)
		u.Commit()
		size += benchBatch
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch)/1000, "µs/entry")
	b.ReportMetric(float64(nrows)/float64(b.N*benchBatch), "rows/entry")
	b.ReportMetric(float64(stored)/float64(b.N*benchBatch), "bytes-stored/entry")
}
