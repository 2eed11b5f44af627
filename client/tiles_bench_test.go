package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/translog"
)

// memTree is a tree of n synthetic leaves whose tiles are served from
// memory over loopback HTTP.
type memTree struct {
	size     uint64
	hashes   map[int64]tlog.Hash
	requests atomic.Int64
}

func (m *memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		h, ok := m.hashes[x]
		if !ok {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = h
	}
	return out, nil
}

func benchLeaf(i int) []byte { return fmt.Appendf(nil, "leaf %d", i) }

func newMemTree(b testing.TB, n int) (*memTree, tlog.Hash) {
	m := &memTree{size: uint64(n), hashes: map[int64]tlog.Hash{}}
	for i := 0; i < n; i++ {
		hs, err := tlog.StoredHashes(int64(i), benchLeaf(i), m)
		if err != nil {
			b.Fatal(err)
		}
		for j, h := range hs {
			m.hashes[tlog.StoredHashIndex(0, int64(i))+int64(j)] = h
		}
	}
	root, err := tlog.TreeHash(int64(n), m)
	if err != nil {
		b.Fatal(err)
	}
	return m, root
}

func (m *memTree) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.requests.Add(1)
	level, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/log/tile/"), "/")
	l, i, p, err := layout.ParseTileLevelIndexPartial(level, rest)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	data, err := translog.TileData(l, i, int(p), m.size, m)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Write(data)
}

// BenchmarkInclusionProofFromCachedTiles builds and checks inclusion proofs
// in a tree of a million entries from tiles already in the client's cache:
// the cost of a proof once its tiles are fetched.
func BenchmarkInclusionProofFromCachedTiles(b *testing.B) {
	const n = 1 << 20
	m, root := newMemTree(b, n)
	srv := httptest.NewServer(m)
	b.Cleanup(srv.Close)
	skey, vkey, err := translog.GenerateLogKey("example.test/bench")
	if err != nil {
		b.Fatal(err)
	}
	s, _ := translog.NewSigner(skey)
	v, _ := translog.NewVerifier(vkey)
	note, err := translog.Sign(s, n, root)
	if err != nil {
		b.Fatal(err)
	}
	cp, err := v.Open(note)
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(srv.URL, Options{LogKey: v, Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// Twenty entries in the same neighbourhood, as a release's attestations.
	idx := make([]uint64, 20)
	for i := range idx {
		idx[i] = n - 5000 + uint64(i)*97
	}
	for _, i := range idx {
		if err := c.ProveIncluded(ctx, i, benchLeaf(int(i)), cp); err != nil {
			b.Fatal(err)
		}
	}
	fetched := m.requests.Load()
	b.ResetTimer()
	for k := 0; b.Loop(); k++ {
		i := idx[k%len(idx)]
		if err := c.ProveIncluded(ctx, i, benchLeaf(int(i)), cp); err != nil {
			b.Fatal(err)
		}
	}
	if m.requests.Load() != fetched {
		b.Fatalf("%d tiles fetched again from a warm cache", m.requests.Load()-fetched)
	}
	b.ReportMetric(float64(fetched), "tiles-fetched")
}
