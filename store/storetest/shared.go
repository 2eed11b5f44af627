package storetest

// The integrator's lease, and concurrency: many goroutines on one store,
// and two stores on one database, as processes that share it.

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/vouchdev/vouch/store"
)

// shared opens a fixture and a second store on the same database, or skips
// the test for a store only one process may write.
func shared(t *testing.T, open opener) (*fixture, store.Store) {
	f := newFixture(t, open)
	if f.s.Exclusive() {
		t.Skip("the store is Exclusive: one process writes it")
	}
	b := openStore(t, open)
	if b.Exclusive() {
		t.Fatal("a second store on the same database is Exclusive")
	}
	f.seq(rec("genesis", "", "").set(kv("o", `"ops"`)))
	if h, err := b.Head(ctx); err != nil || h.Sequenced != 1 {
		t.Fatalf("the second store's Head: %+v %v (is open returning a store on the same database for the same t?)", h, err)
	}
	return f, b
}

// testSharedLead checks that one store leads integration at a time.
func testSharedLead(t *testing.T, open opener) {
	f, b := shared(t, open)
	a := f.s
	la, ok, err := a.LeadIntegration(ctx)
	if err != nil || !ok {
		t.Fatalf("the first store cannot lead: %v %v", ok, err)
	}
	if _, ok, err := b.LeadIntegration(ctx); err != nil || ok {
		t.Fatalf("the second store leads too: %v %v", ok, err)
	}
	if !la.Alive(ctx) {
		t.Fatal("the leader's lease is not alive")
	}
	la.Release()
	lb, ok, err := b.LeadIntegration(ctx)
	if err != nil || !ok {
		t.Fatalf("the second store cannot lead after the first released: %v %v", ok, err)
	}
	if _, ok, err := a.LeadIntegration(ctx); err != nil || ok {
		t.Fatalf("the first store leads again while the second does: %v %v", ok, err)
	}
	if !lb.Alive(ctx) {
		t.Fatal("the new leader's lease is not alive")
	}
	lb.Release()
	la, ok, err = a.LeadIntegration(ctx)
	if err != nil || !ok {
		t.Fatalf("the first store cannot lead again: %v %v", ok, err)
	}
	la.Release()
}

// testSharedSequence checks that Sequence serializes across stores.
func testSharedSequence(t *testing.T, open opener) {
	f, b := shared(t, open)
	concurrentSequence(t, []store.Store{f.s, b}, uint64(len(f.rows)), 6, 4)
}

// testSharedIntegrate checks that integration is a compare-and-swap across
// stores: of two integrations from the same old size at once, one wins and
// the other conflicts without building a checkpoint.
func testSharedIntegrate(t *testing.T, open opener) {
	f, b := shared(t, open)
	f.seq(rec("identity", "", ""), rec("identity", "", ""), rec("identity", "", ""))
	type result struct {
		err   error
		calls int
		b     *built
	}
	for _, to := range []uint64{2, 4} {
		old := f.latestSize()
		res := make(chan result, 2)
		start := make(chan struct{})
		for _, s := range []store.Store{f.s, b} {
			go func() {
				var r result
				build := f.build(old, f.leaves(old, to), &r.calls, &r.b)
				<-start
				r.err = s.Integrate(ctx, old, build)
				res <- r
			}()
		}
		close(start)
		r1, r2 := <-res, <-res
		if r1.err != nil {
			r1, r2 = r2, r1
		}
		if r1.err != nil || !errors.Is(r2.err, store.ErrConflict) || r2.calls != 0 {
			t.Fatalf("two integrations from %d at once: %v (build called %d times) and %v (build called %d times)",
				old, r1.err, r1.calls, r2.err, r2.calls)
		}
		f.committed(r1.b)
		for _, s := range []store.Store{f.s, b} {
			cp, err := s.LatestCheckpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			checkCheckpoint(t, "LatestCheckpoint", cp, r1.b.cp)
		}
	}
	f.checkTree()
}

// testLease checks the integrator's lease of one store.
func testLease(t *testing.T, open opener) {
	s := openStore(t, open)
	for range 2 {
		l, ok, err := s.LeadIntegration(ctx)
		if err != nil || !ok || l == nil {
			t.Fatalf("LeadIntegration on a store nobody else uses: %v %v %v", l, ok, err)
		}
		if !l.Alive(ctx) {
			t.Fatal("a new lease is not alive")
		}
		l.Release()
	}
}

// testConcurrentSequence checks that Sequence serializes: transactions from
// many goroutines each get contiguous indexes, distinct from all others.
func testConcurrentSequence(t *testing.T, open opener) {
	s := openStore(t, open)
	concurrentSequence(t, []store.Store{s}, 0, 6, 5)
}

// concurrentSequence runs txs transactions on each of workers goroutines,
// spread over the stores, each appending 1 to 3 entries to a log of skip
// entries, and checks the log they make.
func concurrentSequence(t *testing.T, stores []store.Store, skip uint64, workers, txs int) {
	t.Helper()
	type got struct {
		idx  []uint64
		leaf []string
	}
	results := make([][]got, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			<-start
			for k := range txs {
				var g got
				err := s.Sequence(ctx, func(tx store.SeqTx) error {
					g = got{}
					for j := range 1 + (w+k)%3 {
						h := tx.Head()
						leaf := fmt.Sprintf("worker %d tx %d entry %d", w, k, j)
						e := &store.EntryRow{Index: h.Sequenced, Leaf: []byte(leaf), Time: base, Kind: "record", Type: "identity",
							Signers: []string{fmt.Sprintf("w%d", w)}, Subjects: []string{fmt.Sprintf("sha256:w%dt%d", w, k)}}
						if err := tx.Append(e, []store.KV{kv(fmt.Sprintf("i/w%d", w), fmt.Sprintf("%d", k))}, nil); err != nil {
							return err
						}
						g.idx = append(g.idx, h.Sequenced)
						g.leaf = append(g.leaf, leaf)
					}
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d, transaction %d: %w", w, k, err)
					return
				}
				results[w] = append(results[w], g)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := map[uint64]string{}
	for _, rs := range results {
		for _, g := range rs {
			for j, i := range g.idx {
				if j > 0 && i != g.idx[j-1]+1 {
					t.Fatalf("a transaction got indexes %v", g.idx)
				}
				if _, dup := want[i]; dup {
					t.Fatalf("index %d was given twice", i)
				}
				want[i] = g.leaf[j]
			}
		}
	}
	n := skip + uint64(len(want))
	for _, s := range stores {
		h, err := s.Head(ctx)
		if err != nil || h.Sequenced != n {
			t.Fatalf("Head after %d entries: %+v %v", n, h, err)
		}
		leaves, err := s.Leaves(ctx, skip, n)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range leaves {
			if w := want[skip+uint64(i)]; string(l) != w {
				t.Fatalf("leaf %d is %q, want %q", skip+uint64(i), l, w)
			}
		}
		// Every worker's state is its last transaction's.
		for w := range workers {
			v, err := s.Get(ctx, fmt.Sprintf("i/w%d", w), n)
			if err != nil || string(v) != fmt.Sprint(txs-1) {
				t.Fatalf("state of worker %d: %q %v", w, v, err)
			}
		}
	}
	keys := slices.Sorted(maps.Keys(want))
	if keys[0] != skip || keys[len(keys)-1] != n-1 {
		t.Fatalf("indexes %d to %d for %d entries", keys[0], keys[len(keys)-1], n)
	}
}
