package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/vouchdev/vouch/store"
)

// indexRows returns n node versions of the verifiable index for tree size
// size. The store treats keys and nodes as opaque bytes.
func indexRows(size uint64, n int) []store.IndexNode {
	out := make([]store.IndexNode, n)
	for i := range out {
		out[i] = store.IndexNode{Key: fmt.Appendf([]byte{0x00, 0xff}, "%016x/%04d", size, i), Node: fmt.Appendf([]byte{0xfe}, "node %d of %d", i, size)}
	}
	return out
}

// checkIndexRows checks that read returns exactly the nodes put.
func checkIndexRows(t *testing.T, what string, read func([][]byte) (map[string][]byte, error), nodes []store.IndexNode) {
	t.Helper()
	keys := make([][]byte, len(nodes))
	for i, n := range nodes {
		keys[i] = n.Key
	}
	got, err := read(append(keys, []byte("absent")))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(got) != len(nodes) {
		t.Fatalf("%s: %d nodes, want %d", what, len(got), len(nodes))
	}
	for _, n := range nodes {
		if !bytes.Equal(got[string(n.Key)], n.Node) {
			t.Fatalf("%s: node %q is %q, want %q", what, n.Key, got[string(n.Key)], n.Node)
		}
	}
}

// testIndexTree checks the storage of the verifiable index: node versions
// and roots put in a sequencing transaction are read back inside later
// transactions and outside, by key and by size; and SeqTx.Flush writes a
// batch's rows while another goroutine reads committed nodes and state
// through the same transaction, as the registry does while it computes a
// batch's index version.
func testIndexTree(t *testing.T, open opener) {
	f := newFixture(t, open)
	v2 := indexRows(2, 20)
	err := f.s.Sequence(ctx, func(tx store.SeqTx) error {
		if _, ok, err := tx.IndexHead(); err != nil || ok {
			return fmt.Errorf("IndexHead of a new store: ok=%v, %v", ok, err)
		}
		for i, e := range []ent{rec("genesis", "", ""), rec("create", "acme/widget", "").set(kv("pkg/acme/widget", "v1"))} {
			e = fill(e, uint64(i))
			if err := tx.Append(e.row, e.kvs, e.off); err != nil {
				return err
			}
			f.rows = append(f.rows, e.row)
		}
		return tx.PutIndex(2, v2, []byte("root at 2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	checkIndexRows(t, "IndexNodes", func(k [][]byte) (map[string][]byte, error) { return f.s.IndexNodes(ctx, k) }, v2)
	if r, err := f.s.IndexRoot(ctx, 2); err != nil || string(r) != "root at 2" {
		t.Fatalf("IndexRoot(2) = %q, %v", r, err)
	}
	if _, err := f.s.IndexRoot(ctx, 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("IndexRoot(1) with no version at 1: %v, want ErrNotFound", err)
	}

	// A batch of many entries, flushed while another goroutine reads.
	const n = 300
	v := indexRows(n+3, 50)
	err = f.s.Sequence(ctx, func(tx store.SeqTx) error {
		if size, ok, err := tx.IndexHead(); err != nil || !ok || size != 2 {
			return fmt.Errorf("IndexHead = %d, %v, %v; want 2", size, ok, err)
		}
		// IndexNodes runs on another goroutine throughout, as the
		// registry reads a batch's index paths while it decides the
		// batch: beside appends and the other reads, then beside Flush.
		var ixwg sync.WaitGroup
		var ixerr error
		ixstop := make(chan struct{})
		ixwg.Go(func() {
			for {
				nodes, err := tx.IndexNodes([][]byte{v2[0].Key, v2[19].Key})
				if err == nil && len(nodes) != 2 {
					err = fmt.Errorf("IndexNodes beside the transaction's work: %d nodes, want 2", len(nodes))
				}
				if err != nil {
					ixerr = err
					return
				}
				select {
				case <-ixstop:
					return
				default:
				}
			}
		})
		stopIndexReads := sync.OnceValue(func() error {
			close(ixstop)
			ixwg.Wait()
			return ixerr
		})
		defer stopIndexReads()
		for range n {
			idx := tx.Head().Sequenced
			e := fill(att("https://example.com/p", fmt.Sprintf("sha256:p%d", idx), []string{"sha256:k1"}, []string{"sha256:d1"}).set(kv(fmt.Sprintf("k/%d", idx), "x")), idx)
			if err := tx.Append(e.row, e.kvs, e.off); err != nil {
				return err
			}
			f.rows = append(f.rows, e.row)
			if idx%50 == 0 {
				if v, err := tx.Get("pkg/acme/widget"); err != nil || string(v) != "v1" {
					return fmt.Errorf("tx.Get beside IndexNodes: %q, %v; want v1", v, err)
				}
				if _, err := tx.Subjects([]string{"sha256:d1"}); err != nil {
					return fmt.Errorf("tx.Subjects beside IndexNodes: %v", err)
				}
				if _, err := tx.Signers(0); err != nil {
					return fmt.Errorf("tx.Signers beside IndexNodes: %v", err)
				}
				if _, _, err := tx.IndexHead(); err != nil {
					return fmt.Errorf("tx.IndexHead beside IndexNodes: %v", err)
				}
			}
		}
		var wg sync.WaitGroup
		var rerr error
		stop := make(chan struct{})
		wg.Go(func() {
			for {
				var vals map[string][]byte
				vals, err := tx.GetMany([]string{"pkg/acme/widget"})
				if err == nil && string(vals["pkg/acme/widget"]) != "v1" {
					err = fmt.Errorf("GetMany beside Flush: %q, want v1", vals["pkg/acme/widget"])
				}
				if err != nil {
					rerr = err
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
		ferr := tx.Flush()
		close(stop)
		wg.Wait()
		if err := errors.Join(ferr, rerr); err != nil {
			return err
		}
		// The transaction goes on after a Flush.
		e := fill(rec("release", "acme/widget", "1.0.0", "sha256:d2"), tx.Head().Sequenced)
		if err := tx.Append(e.row, e.kvs, e.off); err != nil {
			return err
		}
		f.rows = append(f.rows, e.row)
		if err := stopIndexReads(); err != nil {
			return err
		}
		return tx.PutIndex(n+3, v, []byte("root at 303"))
	})
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := f.s.Leaves(ctx, 0, n+3)
	if err != nil || len(leaves) != n+3 {
		t.Fatalf("Leaves after a flushed batch: %d, %v; want %d", len(leaves), err, n+3)
	}
	for i, l := range leaves {
		if !bytes.Equal(l, f.rows[i].Leaf) {
			t.Fatalf("leaf %d is %q, want %q", i, l, f.rows[i].Leaf)
		}
	}
	checkIndexRows(t, "IndexNodes of the flushed batch", func(k [][]byte) (map[string][]byte, error) { return f.s.IndexNodes(ctx, k) }, v)
	if size, r, err := f.s.LatestIndexRoot(ctx, 1000); err != nil || size != n+3 || string(r) != "root at 303" {
		t.Fatalf("LatestIndexRoot(1000) = %d, %q, %v", size, r, err)
	}
	if size, r, err := f.s.LatestIndexRoot(ctx, 100); err != nil || size != 2 || string(r) != "root at 2" {
		t.Fatalf("LatestIndexRoot(100) = %d, %q, %v", size, r, err)
	}
	err = f.s.Sequence(ctx, func(tx store.SeqTx) error {
		checkIndexRows(t, "SeqTx.IndexNodes", tx.IndexNodes, v2)
		if size, ok, err := tx.IndexHead(); err != nil || !ok || size != n+3 {
			return fmt.Errorf("IndexHead = %d, %v, %v; want %d", size, ok, err, n+3)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
