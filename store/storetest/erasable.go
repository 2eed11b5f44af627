package storetest

// The erasable role: off-log data, statements, used requests.

import (
	"bytes"
	"maps"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/vouchdev/vouch/store"
)

// testOffLog checks off-log data stored by Append, read back, and erased.
func testOffLog(t *testing.T, open opener) {
	f := newFixture(t, open)
	profile := bytes.Repeat([]byte{0, 0xff, '{', '}'}, 5000)
	note := store.OffLog{Digest: "sha256:n1", Kind: "note", Data: []byte("a note")}
	f.seq(rec("create", "acme/widget", "").with(note, store.OffLog{Digest: "sha256:pr1", Kind: "profile", Data: profile}))
	// The same data again (a note repeated), in later transactions and
	// twice in one, is no error.
	note2 := store.OffLog{Digest: "sha256:n2", Kind: "note", Data: []byte("another note")}
	f.seq(rec("grant", "acme/widget", "").with(note))
	f.seq(rec("grant", "acme/widget", "").with(note2), rec("revoke", "acme/widget", "").with(note2, note))
	check := func(d, kind string, data []byte) {
		t.Helper()
		o, err := f.s.OffLog(ctx, d)
		if err != nil || o.Digest != d || o.Kind != kind || !bytes.Equal(o.Data, data) {
			t.Fatalf("OffLog(%s) = %+v %v", d, o, err)
		}
	}
	check("sha256:n1", "note", []byte("a note"))
	check("sha256:n2", "note", []byte("another note"))
	check("sha256:pr1", "profile", profile)
	if _, err := f.s.OffLog(ctx, "sha256:nope"); !isNotFound(err) {
		t.Fatalf("OffLog of a digest never stored: %v", err)
	}
	for _, ds := range [][]string{nil, {}, {"sha256:n1", "sha256:nope"}, {"sha256:n1"}} {
		if err := f.s.DeleteOffLog(ctx, ds); err != nil {
			t.Fatalf("DeleteOffLog(%v): %v", ds, err)
		}
	}
	if _, err := f.s.OffLog(ctx, "sha256:n1"); !isNotFound(err) {
		t.Fatalf("OffLog of erased data: %v", err)
	}
	if err := f.s.Compact(ctx); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	check("sha256:n2", "note", []byte("another note"))
	check("sha256:pr1", "profile", profile)
	if _, err := f.s.OffLog(ctx, "sha256:n1"); !isNotFound(err) {
		t.Fatalf("OffLog of erased data after Compact: %v", err)
	}
	// Erasing off-log data leaves the log alone.
	if l, err := f.s.Leaves(ctx, 0, 4); err != nil || len(l) != 4 {
		t.Fatalf("Leaves after erasing: %d %v", len(l), err)
	}
}

// testStatements checks the statements Append stores, their reads, and
// their erasure.
func testStatements(t *testing.T, open opener) {
	f := newFixture(t, open)
	big := att(vulns, "sha256:p4", []string{"k1"}, []string{"sha256:d1"})
	big.row.Statement = bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	f.seq(rec("release", "acme/widget", "1.0.0", "sha256:d1"),
		att(slsa, "sha256:p1", []string{"k1"}, []string{"sha256:d1"}),
		att(slsa, "sha256:p2", []string{"k2"}, []string{"sha256:d1"}))
	f.seq(rec("yank", "acme/widget", "1.0.0"), big)
	want := func(idxs ...uint64) map[uint64][]byte {
		m := map[uint64][]byte{}
		for _, i := range idxs {
			m[i] = f.rows[i].Statement
		}
		return m
	}
	same := func(a, b map[uint64][]byte) bool { return maps.EqualFunc(a, b, bytes.Equal) }
	for _, c := range []struct {
		from, to uint64
		want     map[uint64][]byte
	}{
		{0, 5, want(1, 2, 4)}, {2, 4, want(2)}, {1, 2, want(1)}, {3, 3, want()}, {5, 10, want()}, {0, math.MaxUint64, want(1, 2, 4)},
	} {
		if got, err := f.s.Statements(ctx, c.from, c.to); err != nil || !same(got, c.want) {
			t.Fatalf("Statements(%d, %d): %d statements, %v; want %d", c.from, c.to, len(got), err, len(c.want))
		}
	}
	many := []uint64{0, 1, 4, 99}
	for i := uint64(1000); i < 1700; i++ {
		many = append(many, i)
	}
	for _, c := range []struct {
		idxs []uint64
		want map[uint64][]byte
	}{
		{nil, want()}, {[]uint64{0, 3}, want()}, {[]uint64{4, 1, 4}, want(1, 4)}, {many, want(1, 4)},
	} {
		if got, err := f.s.StatementsOf(ctx, c.idxs); err != nil || !same(got, c.want) {
			t.Fatalf("StatementsOf(%d indexes): %d statements, %v; want %d", len(c.idxs), len(got), err, len(c.want))
		}
	}
	for _, idxs := range [][]uint64{nil, {1, 3, 99}} {
		if err := f.s.DeleteStatements(ctx, idxs); err != nil {
			t.Fatalf("DeleteStatements(%v): %v", idxs, err)
		}
	}
	if err := f.s.Compact(ctx); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if got, err := f.s.Statements(ctx, 0, 5); err != nil || !same(got, want(2, 4)) {
		t.Fatalf("Statements after erasing 1: %d %v", len(got), err)
	}
	if got, err := f.s.StatementsOf(ctx, []uint64{1, 2}); err != nil || !same(got, want(2)) {
		t.Fatalf("StatementsOf after erasing 1: %d %v", len(got), err)
	}
	// The entry and its index rows stay.
	if e, err := f.s.Entry(ctx, 1); err != nil || !bytes.Equal(e.Leaf, f.rows[1].Leaf) {
		t.Fatalf("Entry(1) after erasing its statement: %v", err)
	}
	if rows, err := f.s.Query(ctx, &store.Query{Size: 5, Signer: "k1", Kind: "attestation", Limit: 10}); err != nil || fmtIdx(rows) != "[1 4]" {
		t.Fatalf("Query after erasing a statement: %s %v", fmtIdx(rows), err)
	}
}

// testUseOnce checks the record of used requests.
func testUseOnce(t *testing.T, open opener) {
	s := openStore(t, open)
	t0 := base
	for i, c := range []struct {
		digest string
		t      time.Time
		want   bool
	}{
		{"sha256:a", t0, true},
		{"sha256:a", t0, false},
		{"sha256:a", t0.Add(time.Minute), false},
		{"sha256:b", t0.Add(time.Minute), true},
		{"sha256:a", t0.Add(59 * time.Minute), false},
		// An hour on, a is forgotten, b (a minute younger) is not.
		{"sha256:a", t0.Add(time.Hour + time.Second), true},
		{"sha256:b", t0.Add(time.Hour + time.Second), false},
		{"sha256:a", t0.Add(time.Hour + 2*time.Second), false},
		{"sha256:b", t0.Add(3 * time.Hour), true},
		// Times an int64 of nanoseconds cannot hold.
		{"sha256:c", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"sha256:c", time.Date(3000, 1, 1, 0, 0, 1, 0, time.UTC), false},
	} {
		got, err := s.UseOnce(ctx, c.digest, c.t, time.Hour)
		if err != nil || got != c.want {
			t.Fatalf("step %d: UseOnce(%s, %v) = %v %v, want %v", i, c.digest, c.t, got, err, c.want)
		}
	}
	// At once, from many goroutines: exactly one is first.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firsts []int
	var errs []error
	for i := range 8 {
		wg.Go(func() {
			ok, err := s.UseOnce(ctx, "sha256:race", t0.Add(4*time.Hour), time.Hour)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				firsts = append(firsts, i)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 || len(firsts) != 1 {
		t.Fatalf("UseOnce at once: first for %v, errors %v", firsts, errs)
	}
}
