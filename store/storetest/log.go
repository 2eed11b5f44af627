package storetest

// The log role: sequencing, entries, leaves, integration, checkpoints.

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
)

// testEmpty checks every read of a new store.
func testEmpty(t *testing.T, open opener) {
	s := openStore(t, open)
	if h, err := s.Head(ctx); err != nil || h.Sequenced != 0 || !h.LastTime.IsZero() {
		t.Fatalf("Head of an empty store: %+v %v", h, err)
	}
	if _, err := s.LatestCheckpoint(ctx); !isNotFound(err) {
		t.Fatalf("LatestCheckpoint of an empty store: %v", err)
	}
	if cps, err := s.Checkpoints(ctx, 0, 10); err != nil || len(cps) != 0 {
		t.Fatalf("Checkpoints of an empty store: %d %v", len(cps), err)
	}
	if _, err := s.CheckpointCovering(ctx, 0); !isNotFound(err) {
		t.Fatalf("CheckpointCovering of an empty store: %v", err)
	}
	if _, err := s.Entry(ctx, 0); !isNotFound(err) {
		t.Fatalf("Entry(0) of an empty store: %v", err)
	}
	if _, err := s.Leaves(ctx, 0, 1); !isNotFound(err) {
		t.Fatalf("Leaves(0, 1) of an empty store: %v", err)
	}
	if l, err := s.Leaves(ctx, 0, 0); err != nil || len(l) != 0 {
		t.Fatalf("Leaves(0, 0): %d %v", len(l), err)
	}
	if _, err := s.ReadHashes(ctx, []int64{0}); err == nil {
		t.Fatal("ReadHashes of an empty store found a hash")
	}
	if h, err := s.ReadHashes(ctx, nil); err != nil || len(h) != 0 {
		t.Fatalf("ReadHashes(nil): %d %v", len(h), err)
	}
	if v, err := s.Get(ctx, "p/a", 1<<63-1); err != nil || v != nil {
		t.Fatalf("Get of an empty store: %q %v", v, err)
	}
	if kvs, err := s.Scan(ctx, "", 1<<63-1, "", 10); err != nil || len(kvs) != 0 {
		t.Fatalf("Scan of an empty store: %v %v", kvs, err)
	}
	if rows, err := s.Query(ctx, &store.Query{Size: 1 << 63, Limit: 10}); err != nil || len(rows) != 0 {
		t.Fatalf("Query of an empty store: %d %v", len(rows), err)
	}
	if n, err := s.SizeAt(ctx, base); err != nil || n != 0 {
		t.Fatalf("SizeAt of an empty store: %d %v", n, err)
	}
	if _, err := s.OffLog(ctx, "sha256:00"); !isNotFound(err) {
		t.Fatalf("OffLog of an empty store: %v", err)
	}
	if m, err := s.Statements(ctx, 0, 10); err != nil || len(m) != 0 {
		t.Fatalf("Statements of an empty store: %v %v", m, err)
	}
}

// testSequence checks that entries are appended at Head().Sequenced, in
// order, and that Head and the entries are there after the commit.
func testSequence(t *testing.T, open opener) {
	f := newFixture(t, open)
	f.seq(rec("genesis", "", ""), rec("identity", "", ""), rec("create", "acme/widget", ""))
	if h, err := f.s.Head(ctx); err != nil || h.Sequenced != 3 || !h.LastTime.Equal(f.rows[2].Time) {
		t.Fatalf("Head after 3 entries: %+v %v", h, err)
	}
	// The next transaction starts where the last ended; equal log times are
	// fine (time never goes backwards, but may stand still).
	same := f.rows[2].Time
	err := f.s.Sequence(ctx, func(tx store.SeqTx) error {
		if h := tx.Head(); h.Sequenced != 3 || !h.LastTime.Equal(same) {
			return fmt.Errorf("tx.Head() at the start of a transaction: %+v", h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.seq(rec("release", "acme/widget", "1.0.0", "sha256:d1").at(same), rec("promote", "acme/widget", "1.0.0").at(same))
	later := same.Add(time.Hour)
	f.seq(rec("yank", "acme/widget", "1.0.0").at(later))
	h, err := f.s.Head(ctx)
	if err != nil || h.Sequenced != 6 || !h.LastTime.Equal(later) {
		t.Fatalf("Head: %+v %v, want 6 entries, last at %v", h, err, later)
	}
	leaves, err := f.s.Leaves(ctx, 0, 6)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range leaves {
		if !bytes.Equal(l, f.rows[i].Leaf) {
			t.Fatalf("leaf %d is %q, want %q", i, l, f.rows[i].Leaf)
		}
	}
	// An empty transaction changes nothing.
	if err := f.s.Sequence(ctx, func(store.SeqTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if h2, err := f.s.Head(ctx); err != nil || h2.Sequenced != 6 || !h2.LastTime.Equal(later) {
		t.Fatalf("Head after an empty transaction: %+v %v", h2, err)
	}
}

// testAppendChecks checks that Append refuses an entry at the wrong index or
// logged before the newest entry, and that a refused entry is not stored.
func testAppendChecks(t *testing.T, open opener) {
	f := newFixture(t, open)
	f.seq(rec("genesis", "", ""), rec("identity", "", ""))
	last := f.rows[1].Time
	for _, idx := range []uint64{0, 1, 3, 100} {
		err := f.s.Sequence(ctx, func(tx store.SeqTx) error {
			e := fill(rec("identity", "", ""), idx)
			e.row.Time = last
			if err := tx.Append(e.row, nil, nil); err == nil {
				return fmt.Errorf("tx.Append at %d accepted with %d entries", idx, tx.Head().Sequenced)
			}
			if h := tx.Head(); h.Sequenced != 2 || !h.LastTime.Equal(last) {
				return fmt.Errorf("tx.Head() after a refused Append: %+v", h)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Log time going backwards: against the committed log, and against an
	// entry appended earlier in the same transaction.
	err := f.s.Sequence(ctx, func(tx store.SeqTx) error {
		e := fill(rec("identity", "", ""), 2)
		e.row.Time = last.Add(-time.Nanosecond)
		if err := tx.Append(e.row, []store.KV{kv("i/back", `{}`)}, nil); err == nil {
			return errors.New("tx.Append accepted a log time before the last entry's")
		}
		e.row.Time = last.Add(time.Minute)
		if err := tx.Append(e.row, nil, nil); err != nil {
			return err
		}
		e2 := fill(rec("identity", "", ""), 3)
		e2.row.Time = last.Add(time.Minute - time.Nanosecond)
		if err := tx.Append(e2.row, nil, nil); err == nil {
			return errors.New("tx.Append accepted a log time before the previous append's")
		}
		if h := tx.Head(); h.Sequenced != 3 || !h.LastTime.Equal(last.Add(time.Minute)) {
			return fmt.Errorf("tx.Head() after a refused Append: %+v", h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The transaction committed the one good entry and nothing of the
	// refused ones.
	if h, err := f.s.Head(ctx); err != nil || h.Sequenced != 3 || !h.LastTime.Equal(last.Add(time.Minute)) {
		t.Fatalf("Head: %+v %v", h, err)
	}
	if _, err := f.s.Entry(ctx, 3); !isNotFound(err) {
		t.Fatalf("a refused entry is stored: %v", err)
	}
	if v, err := f.s.Get(ctx, "i/back", 1<<63-1); err != nil || v != nil {
		t.Fatalf("a refused entry's state is stored: %q %v", v, err)
	}
}

// testRollback checks that an error from fn stores nothing: no entries,
// state, index rows, off-log data, statements, hashes or checkpoints.
// testPanicRollsBack: a sequencing function that panics leaves nothing
// behind, and the store takes the next transaction (on SQLite, the panic
// must not keep the only writer connection).
func testPanicRollsBack(t *testing.T, open opener) {
	f := newFixture(t, open)
	func() {
		defer func() { recover() }()
		f.s.Sequence(ctx, func(tx store.SeqTx) error {
			e := fill(rec("genesis", "", ""), tx.Head().Sequenced)
			if err := tx.Append(e.row, e.kvs, e.off); err != nil {
				t.Fatal(err)
			}
			panic("boom")
		})
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.seq(rec("genesis", "", ""))
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the store took no transaction after a panic in one")
	}
	if h, err := f.s.Head(ctx); err != nil || h.Sequenced != 1 {
		t.Fatalf("head after a panicked and a committed transaction: %+v, %v", h, err)
	}
}

func testRollback(t *testing.T, open opener) {
	f := newFixture(t, open)
	f.seq(rec("genesis", "", "").set(kv("o", `"ops"`)))
	f.integrate(1)
	boom := errors.New("boom")
	for _, integrate := range []bool{false, true} {
		err := f.s.Sequence(ctx, func(tx store.SeqTx) error {
			es := []ent{
				rec("create", "acme/widget", "").by("k1").set(kv("p/acme/widget", `{"v":1}`), kv("o", `"changed"`)).
					with(store.OffLog{Digest: "sha256:note", Kind: "note", Data: []byte("a note")}),
				rec("release", "acme/widget", "1.0.0", "sha256:d1").by("k1").set(kv("r/acme/widget@1.0.0", `{}`)),
				att("https://slsa.dev/provenance/v1", "sha256:p2", []string{"k2"}, []string{"sha256:d1"}),
			}
			var leaves [][]byte
			for _, e := range es {
				e = fill(e, tx.Head().Sequenced)
				if err := tx.Append(e.row, e.kvs, e.off); err != nil {
					return err
				}
				leaves = append(leaves, e.row.Leaf)
			}
			if integrate {
				if err := tx.Integrate(1, f.build(1, leaves, nil, nil)); err != nil {
					return err
				}
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Sequence returned %v, not fn's error", err)
		}
		if h, err := f.s.Head(ctx); err != nil || h.Sequenced != 1 {
			t.Fatalf("Head after a rollback: %+v %v", h, err)
		}
		for i := uint64(1); i < 4; i++ {
			if _, err := f.s.Entry(ctx, i); !isNotFound(err) {
				t.Fatalf("entry %d survived a rollback: %v", i, err)
			}
		}
		if _, err := f.s.Leaves(ctx, 0, 2); !isNotFound(err) {
			t.Fatalf("Leaves after a rollback: %v", err)
		}
		for _, k := range []string{"p/acme/widget", "r/acme/widget@1.0.0"} {
			if v, err := f.s.Get(ctx, k, 1<<63-1); err != nil || v != nil {
				t.Fatalf("state %s survived a rollback: %q %v", k, v, err)
			}
		}
		if v, err := f.s.Get(ctx, "o", 1<<63-1); err != nil || string(v) != `"ops"` {
			t.Fatalf("state o after a rollback: %q %v", v, err)
		}
		if _, err := f.s.OffLog(ctx, "sha256:note"); !isNotFound(err) {
			t.Fatalf("off-log data survived a rollback: %v", err)
		}
		if m, err := f.s.Statements(ctx, 0, 10); err != nil || len(m) != 0 {
			t.Fatalf("statements survived a rollback: %v %v", m, err)
		}
		for _, q := range []store.Query{{}, {Package: "acme/widget"}, {Subject: "sha256:d1"}, {Signer: "k1"}, {Kind: "attestation"}} {
			want := 0
			if q == (store.Query{}) {
				want = 1
			}
			q.Size, q.Limit = 10, 10
			if rows, err := f.s.Query(ctx, &q); err != nil || len(rows) != want {
				t.Fatalf("Query %+v after a rollback: %d rows, %v", q, len(rows), err)
			}
		}
		if cp, err := f.s.LatestCheckpoint(ctx); err != nil || cp.Size != 1 {
			t.Fatalf("LatestCheckpoint after a rollback: %v %v", fmtCheckpoint(cp), err)
		}
		if _, err := f.s.ReadHashes(ctx, []int64{2}); err == nil { // stored hash 2 is the tree of entries 0 and 1
			t.Fatal("a tree hash survived a rollback")
		}
		err = f.s.Sequence(ctx, func(tx store.SeqTx) error {
			if refs, err := tx.Subjects([]string{"sha256:d1"}); err != nil || len(refs) != 0 {
				return fmt.Errorf("Index.Subjects after a rollback: %v %v", refs, err)
			}
			if s, err := tx.Signers(1); err != nil || len(s) != 0 {
				return fmt.Errorf("Index.Signers after a rollback: %v %v", s, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The store goes on from where it was.
	f.seq(rec("create", "acme/widget", ""))
	f.integrate(2)
	f.checkTree()
}

// testLeavesAndEntry checks leaf ranges and the stored index fields.
func testLeavesAndEntry(t *testing.T, open opener) {
	f := newFixture(t, open)
	f.seq(rec("genesis", "", "").by("op1"), rec("create", "acme/widget", "").by("k1"),
		rec("release", "acme/widget", "1.0.0", "sha256:d1").by("k1"))
	f.seq(att("https://slsa.dev/provenance/v1", "sha256:p3", []string{"k1", "k2"}, []string{"sha256:d1", "sha256:d9"}))
	big := ent{row: &store.EntryRow{Kind: "record", Type: "release", Package: "acme/widget", Version: "2.0.0-rc.1+build.5",
		PayloadDigest: "sha256:p4", Leaf: bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff}, 20000)}}
	f.seq(big)
	n := uint64(len(f.rows))
	for from := uint64(0); from <= n; from++ {
		for to := from; to <= n; to++ {
			got, err := f.s.Leaves(ctx, from, to)
			if err != nil {
				t.Fatalf("Leaves(%d, %d): %v", from, to, err)
			}
			if uint64(len(got)) != to-from {
				t.Fatalf("Leaves(%d, %d) returned %d leaves", from, to, len(got))
			}
			for i, l := range got {
				if !bytes.Equal(l, f.rows[from+uint64(i)].Leaf) {
					t.Fatalf("Leaves(%d, %d)[%d] is wrong", from, to, i)
				}
			}
		}
	}
	for _, r := range [][2]uint64{{0, n + 1}, {n - 1, n + 1}, {n, n + 1}, {n + 5, n + 10}, {0, 1 << 40}, {2, 1<<64 - 1}} {
		if _, err := f.s.Leaves(ctx, r[0], r[1]); !isNotFound(err) {
			t.Fatalf("Leaves(%d, %d) beyond the head: %v", r[0], r[1], err)
		}
	}
	for _, want := range f.rows {
		got, err := f.s.Entry(ctx, want.Index)
		if err != nil {
			t.Fatalf("Entry(%d): %v", want.Index, err)
		}
		if got.Index != want.Index || !bytes.Equal(got.Leaf, want.Leaf) || !got.Time.Equal(want.Time) ||
			got.Kind != want.Kind || got.Type != want.Type || got.Package != want.Package || got.Version != want.Version ||
			got.PredicateType != want.PredicateType || got.PayloadDigest != want.PayloadDigest {
			t.Fatalf("Entry(%d) = %+v\nwant %+v", want.Index, brief(got), brief(want))
		}
	}
	for _, idx := range []uint64{n, n + 1, 1 << 40, 1<<63 - 1, 1 << 63} {
		if _, err := f.s.Entry(ctx, idx); !isNotFound(err) {
			t.Fatalf("Entry(%d) beyond the head: %v", idx, err)
		}
	}
}

// brief is an entry's index fields, for messages.
func brief(e *store.EntryRow) string {
	return fmt.Sprintf("{%d %v %s %s %s@%s ptype %q payload %q leaf %d bytes}", e.Index, e.Time, e.Kind, e.Type, e.Package, e.Version,
		e.PredicateType, e.PayloadDigest, len(e.Leaf))
}

// testIntegrate checks Integrate as a compare-and-swap on the latest
// checkpoint's size, and that ReadHashes returns what it stored.
func testIntegrate(t *testing.T, open opener) {
	f := newFixture(t, open)
	// On an empty store, only oldSize 0 is current.
	calls := 0
	if err := f.s.Integrate(ctx, 1, f.build(1, nil, &calls, nil)); !errors.Is(err, store.ErrConflict) || calls != 0 {
		t.Fatalf("Integrate(1) with no checkpoint: %v, build called %d times", err, calls)
	}
	for i := 0; i < 5; i++ {
		f.seq(rec("identity", "", ""))
	}
	f.integrate(3)
	if cp, err := f.s.LatestCheckpoint(ctx); err != nil {
		t.Fatal(err)
	} else {
		checkCheckpoint(t, "LatestCheckpoint", cp, f.cps[0])
	}
	f.checkTree()
	// A stale or unknown old size conflicts, and build is not called.
	for _, old := range []uint64{0, 2, 4, 5} {
		calls := 0
		err := f.s.Integrate(ctx, old, f.build(old, f.leaves(old, 5), &calls, nil))
		if !errors.Is(err, store.ErrConflict) || calls != 0 {
			t.Fatalf("Integrate(%d) with the latest checkpoint at 3: %v, build called %d times", old, err, calls)
		}
	}
	// A checkpoint that does not grow is refused, and nothing is stored.
	for _, size := range []uint64{3, 2} {
		calls := 0
		err := f.s.Integrate(ctx, 3, func() ([]translog.StoredHash, *store.CheckpointRow, error) {
			calls++
			return nil, &store.CheckpointRow{Size: size, Time: base, Note: []byte("x"), Root: f.cps[0].Root}, nil
		})
		if err == nil || errors.Is(err, store.ErrConflict) || calls != 1 {
			t.Fatalf("Integrate(3) to a checkpoint of size %d: %v (build called %d times)", size, err, calls)
		}
	}
	// An error from build is returned, and nothing is stored.
	boom := errors.New("boom")
	var b *built
	err := f.s.Integrate(ctx, 3, func() ([]translog.StoredHash, *store.CheckpointRow, error) {
		f.build(3, f.leaves(3, 5), nil, &b)()
		return b.stored, b.cp, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Integrate with a failing build: %v", err)
	}
	if cp, err := f.s.LatestCheckpoint(ctx); err != nil || cp.Size != 3 {
		t.Fatalf("LatestCheckpoint after failed integrations: %s %v", fmtCheckpoint(cp), err)
	}
	if _, err := f.s.ReadHashes(ctx, []int64{b.stored[0].Index}); err == nil {
		t.Fatal("the hashes of a failed integration are stored")
	}
	f.integrate(5)
	if cp, err := f.s.LatestCheckpoint(ctx); err != nil {
		t.Fatal(err)
	} else {
		checkCheckpoint(t, "LatestCheckpoint", cp, f.cps[1])
	}
	f.checkTree()
	// ReadHashes keeps the order asked for and repeats, and fails for a
	// hash it does not have, alone or among others.
	got, err := f.s.ReadHashes(ctx, []int64{4, 0, 4, 1})
	if err != nil || len(got) != 4 || got[0] != f.hashes[4] || got[1] != f.hashes[0] || got[2] != f.hashes[4] || got[3] != f.hashes[1] {
		t.Fatalf("ReadHashes([4 0 4 1]): %x %v", got, err)
	}
	missing := int64(len(f.hashes))
	if _, ok := f.hashes[missing]; ok {
		t.Fatal("the test's model is wrong")
	}
	for _, idx := range [][]int64{{missing}, {0, missing, 1}, {-1}, {1 << 40}} {
		if _, err := f.s.ReadHashes(ctx, idx); err == nil {
			t.Fatalf("ReadHashes(%v) found hashes that were never stored", idx)
		}
	}
}

// testIntegrateFirstEmpty checks that the first checkpoint may be of size
// 0 (a new log's), and that none after it may.
func testIntegrateFirstEmpty(t *testing.T, open opener) {
	f := newFixture(t, open)
	f.integrate(0)
	if cp, err := f.s.LatestCheckpoint(ctx); err != nil || cp.Size != 0 {
		t.Fatalf("LatestCheckpoint: %s %v", fmtCheckpoint(cp), err)
	}
	calls := 0
	if err := f.s.Integrate(ctx, 0, f.build(0, nil, &calls, nil)); err == nil || errors.Is(err, store.ErrConflict) || calls != 1 {
		t.Fatalf("a second checkpoint of size 0: %v (build called %d times)", err, calls)
	}
	if _, err := f.s.CheckpointCovering(ctx, 0); !isNotFound(err) {
		t.Fatalf("a tree of size 0 covers entry 0: %v", err)
	}
	f.seq(rec("genesis", "", ""), rec("identity", "", ""))
	f.integrate(2)
	if cps, err := f.s.Checkpoints(ctx, 0, 10); err != nil || len(cps) != 2 {
		t.Fatalf("Checkpoints: %d %v", len(cps), err)
	}
	f.checkTree()
}

// testSeqTxIntegrate checks that SeqTx.Integrate stores the hashes and the
// checkpoint of entries appended in the same transaction, atomically with
// them.
func testSeqTxIntegrate(t *testing.T, open opener) {
	f := newFixture(t, open)
	f.integrate(0)
	for round := 0; round < 3; round++ {
		old := f.latestSize()
		var b *built
		var rows []*store.EntryRow
		err := f.s.Sequence(ctx, func(tx store.SeqTx) error {
			var leaves [][]byte
			for i := 0; i <= round; i++ {
				e := fill(rec("identity", "", "").set(kv(fmt.Sprintf("i/k%d-%d", round, i), `{}`)), tx.Head().Sequenced)
				if err := tx.Append(e.row, e.kvs, nil); err != nil {
					return err
				}
				rows = append(rows, e.row)
				leaves = append(leaves, e.row.Leaf)
			}
			return tx.Integrate(old, f.build(old, leaves, nil, &b))
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		f.rows = append(f.rows, rows...)
		f.committed(b)
		h, err := f.s.Head(ctx)
		if err != nil || h.Sequenced != b.cp.Size {
			t.Fatalf("Head %+v %v after integrating to %d", h, err, b.cp.Size)
		}
		cp, err := f.s.LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkCheckpoint(t, "LatestCheckpoint", cp, b.cp)
	}
	f.checkTree()
	// A stale old size conflicts inside the transaction too, without
	// calling build; fn decides what becomes of the entries (here: they
	// are rolled back with the error).
	calls := 0
	err := f.s.Sequence(ctx, func(tx store.SeqTx) error {
		e := fill(rec("identity", "", ""), tx.Head().Sequenced)
		if err := tx.Append(e.row, nil, nil); err != nil {
			return err
		}
		return tx.Integrate(0, f.build(0, nil, &calls, nil))
	})
	if !errors.Is(err, store.ErrConflict) || calls != 0 {
		t.Fatalf("SeqTx.Integrate with a stale size: %v, build called %d times", err, calls)
	}
	if h, err := f.s.Head(ctx); err != nil || h.Sequenced != f.latestSize() {
		t.Fatalf("Head after a conflict: %+v %v", h, err)
	}
	// An integration refused for not growing fails the transaction.
	err = f.s.Sequence(ctx, func(tx store.SeqTx) error {
		return tx.Integrate(f.latestSize(), f.build(f.latestSize(), nil, nil, nil))
	})
	if err == nil || errors.Is(err, store.ErrConflict) {
		t.Fatalf("SeqTx.Integrate to the same size: %v", err)
	}
	// Entries appended without integration are integrated later by
	// Store.Integrate, on top of the hashes SeqTx.Integrate stored.
	f.seq(rec("identity", "", ""), rec("identity", "", ""))
	f.integrate(uint64(len(f.rows)))
	f.checkTree()
}

// testSeqTxIntegrateCAS checks that SeqTx.Integrate excludes a concurrent
// Store.Integrate from the same old size: the latter must wait for the
// sequencing transaction and then conflict, never sign a second checkpoint
// over the same old tree.
func testSeqTxIntegrateCAS(t *testing.T, open opener) {
	f := newFixture(t, open)
	f.seq(rec("genesis", "", ""))
	f.integrate(1)
	type result struct {
		err   error
		calls int
	}
	done := make(chan result, 1)
	calledB := make(chan struct{}, 1)
	var b *built
	err := f.s.Sequence(ctx, func(tx store.SeqTx) error {
		e := fill(rec("identity", "", ""), tx.Head().Sequenced)
		if err := tx.Append(e.row, nil, nil); err != nil {
			return err
		}
		f.rows = append(f.rows, e.row)
		build := f.build(1, [][]byte{e.row.Leaf}, nil, &b)
		return tx.Integrate(1, func() ([]translog.StoredHash, *store.CheckpointRow, error) {
			// While this transaction holds the old size, another integrator
			// tries from the same old size, with a checkpoint of another size.
			go func() {
				calls := 0
				err := f.s.Integrate(ctx, 1, func() ([]translog.StoredHash, *store.CheckpointRow, error) {
					calls++
					calledB <- struct{}{}
					return nil, &store.CheckpointRow{Size: 7, Time: base, Note: []byte("rogue"), Root: f.cps[0].Root}, nil
				})
				done <- result{err, calls}
			}()
			select {
			case <-calledB:
				return nil, nil, errors.New("Store.Integrate built a checkpoint over the tree a sequencing transaction is integrating")
			case <-time.After(150 * time.Millisecond):
			}
			return build()
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	f.committed(b)
	r := <-done
	if !errors.Is(r.err, store.ErrConflict) || r.calls != 0 {
		t.Fatalf("the concurrent Store.Integrate: %v, build called %d times", r.err, r.calls)
	}
	cps, err := f.s.Checkpoints(ctx, 0, 10)
	if err != nil || len(cps) != 2 || cps[1].Size != 2 {
		t.Fatalf("checkpoints: %d %v", len(cps), err)
	}
	f.checkTree()
}

// testCheckpoints checks the reads of stored checkpoints.
func testCheckpoints(t *testing.T, open opener) {
	f := newFixture(t, open)
	f.integrate(0)
	for _, size := range []uint64{2, 5, 9} {
		for uint64(len(f.rows)) < size {
			f.seq(rec("identity", "", ""))
		}
		f.integrate(size)
	}
	f.seq(rec("identity", "", "")) // sequenced, not integrated
	latest, err := f.s.LatestCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkCheckpoint(t, "LatestCheckpoint", latest, f.cps[3])
	for _, c := range []struct {
		from  uint64
		limit int
		want  []uint64
	}{
		{0, 10, []uint64{0, 2, 5, 9}},
		{0, 2, []uint64{0, 2}},
		{1, 10, []uint64{2, 5, 9}},
		{2, 10, []uint64{2, 5, 9}},
		{3, 1, []uint64{5}},
		{9, 10, []uint64{9}},
		{10, 10, nil},
		{1 << 62, 10, nil},
		{1 << 63, 10, nil},
		{1<<64 - 1, 10, nil},
	} {
		cps, err := f.s.Checkpoints(ctx, c.from, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var sizes []uint64
		for _, cp := range cps {
			sizes = append(sizes, cp.Size)
			for _, w := range f.cps {
				if w.Size == cp.Size {
					checkCheckpoint(t, fmt.Sprintf("Checkpoints(%d, %d)", c.from, c.limit), cp, w)
				}
			}
		}
		if fmt.Sprint(sizes) != fmt.Sprint(c.want) {
			t.Fatalf("Checkpoints(%d, %d) = sizes %v, want %v", c.from, c.limit, sizes, c.want)
		}
	}
	for idx, want := range map[uint64]uint64{0: 2, 1: 2, 2: 5, 4: 5, 5: 9, 8: 9} {
		cp, err := f.s.CheckpointCovering(ctx, idx)
		if err != nil || cp.Size != want {
			t.Fatalf("CheckpointCovering(%d) = %s %v, want size %d", idx, fmtCheckpoint(cp), err, want)
		}
	}
	for _, idx := range []uint64{9, 10, 1 << 40, 1 << 63, 1<<64 - 1} {
		if cp, err := f.s.CheckpointCovering(ctx, idx); !isNotFound(err) {
			t.Fatalf("CheckpointCovering(%d) = %s %v", idx, fmtCheckpoint(cp), err)
		}
	}
}

// testWitnessed: the witnessed checkpoint only grows.
func testWitnessed(t *testing.T, open opener) {
	f := newFixture(t, open)
	if _, err := f.s.LatestWitnessed(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestWitnessed of a new store: %v", err)
	}
	for _, c := range []struct{ save, want uint64 }{{3, 3}, {7, 7}, {5, 7}, {7, 7}, {1 << 40, 1 << 40}} {
		note := []byte(fmt.Sprintf("checkpoint %d\n— w1 sig\n", c.save))
		if err := f.s.SaveWitnessed(ctx, &store.CheckpointRow{Size: c.save, Time: time.Unix(int64(c.save%1000), 0), Note: note}); err != nil {
			t.Fatal(err)
		}
		got, err := f.s.LatestWitnessed(ctx)
		if err != nil || got.Size != c.want {
			t.Fatalf("after saving %d: %+v, %v", c.save, got, err)
		}
		if c.save == c.want && string(got.Note) != string(note) {
			t.Fatalf("note %q", got.Note)
		}
	}
}

// testErasures: the record of erasures numbers them in order and lists
// them from any point.
func testErasures(t *testing.T, open opener) {
	f := newFixture(t, open)
	if got, err := f.s.Erasures(ctx, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("erasures of a new store: %v %v", got, err)
	}
	want := []*store.Erasure{
		{Time: time.Unix(100, 0).UTC(), Statements: []uint64{3, 7}},
		{Time: time.Unix(200, 0).UTC(), OffLog: []string{"sha256:a", "sha256:b"}},
		{Time: time.Unix(300, 0).UTC(), Statements: []uint64{9}, OffLog: []string{"sha256:c"}},
	}
	for i, e := range want {
		if err := f.s.RecordErasure(ctx, e); err != nil {
			t.Fatal(err)
		}
		if e.Seq == 0 || i > 0 && e.Seq <= want[i-1].Seq {
			t.Fatalf("erasure %d numbered %d", i, e.Seq)
		}
	}
	got, err := f.s.Erasures(ctx, want[0].Seq, 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("erasures after the first: %v %v", got, err)
	}
	for i, g := range got {
		w := want[i+1]
		if g.Seq != w.Seq || !g.Time.Equal(w.Time) || fmt.Sprint(g.Statements, g.OffLog) != fmt.Sprint(w.Statements, w.OffLog) {
			t.Fatalf("erasure %d: %+v, want %+v", i, g, w)
		}
	}
	if got, _ := f.s.Erasures(ctx, 0, 1); len(got) != 1 || got[0].Seq != want[0].Seq {
		t.Fatalf("limit 1: %v", got)
	}
}
