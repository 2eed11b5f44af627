package storetest

// The index role: Query and SizeAt, checked against a model.

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/vouchdev/vouch/store"
)

const (
	slsa  = "https://slsa.dev/provenance/v1"
	vulns = "https://in-toto.io/attestation/vulns/v0.1"
)

func at(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }

// queryLog sequences a log with packages, releases, attestations about
// their content, and one content released by two packages.
func queryLog(t *testing.T, open opener) *fixture {
	f := newFixture(t, open)
	f.seq(rec("genesis", "", "").by("op1"),
		rec("identity", "", "").by("k1"),
		rec("create", "acme/widget", "").by("k1"))
	f.seq(rec("release", "acme/widget", "1.0.0", "sha256:d1").by("k1"),
		rec("release", "acme/widget", "2.0.0", "sha256:d2").by("k1").at(at(3)), // the same log time as entry 3
		att(slsa, "sha256:p5", []string{"k2"}, []string{"sha256:d1"}),
		rec("create", "acme/gadget", "").by("k3"),
		rec("release", "acme/gadget", "1.0.0", "sha256:d3").by("k3"),
		att(vulns, "sha256:p8", []string{"k1", "k2"}, []string{"sha256:d2", "sha256:d3"}),
		rec("yank", "acme/widget", "1.0.0").by("k1"),
		att(slsa, "sha256:p10", []string{"k2"}, []string{"sha256:dx"}))
	f.seq(rec("release", "acme/gadget", "2.0.0", "sha256:d1").by("k3"), // widget 1.0.0's content, released again
		rec("release", "acme/widget-extra", "1.0.0", "sha256:d4").by("k4"),
		att(slsa, "sha256:p13", []string{"k1"}, []string{"sha256:d4", "sha256:d1"}))
	return f
}

// want is the model's answer to q.
func (f *fixture) want(q store.Query) []*store.EntryRow {
	var out []*store.EntryRow
	for _, e := range f.rows {
		i := e.Index
		switch {
		case i >= q.Size,
			q.From > 0 && i < q.From,
			q.To > 0 && i >= q.To,
			q.After != nil && q.Desc && i >= *q.After,
			q.After != nil && !q.Desc && i <= *q.After,
			q.Package != "" && !f.about(e, q.Package, q.Version, q.Size),
			q.Subject != "" && !slices.Contains(e.Subjects, q.Subject),
			q.Signer != "" && !slices.Contains(e.Signers, q.Signer),
			q.PredicateType != "" && e.PredicateType != q.PredicateType,
			q.Kind != "" && e.Kind != q.Kind,
			q.Type != "" && e.Type != q.Type,
			!q.Since.IsZero() && e.Time.Before(q.Since),
			!q.Until.IsZero() && !e.Time.Before(q.Until):
			continue
		}
		out = append(out, e)
	}
	if q.Desc {
		slices.Reverse(out)
	}
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// about reports whether e is about the package (and version): one of its
// records, or an attestation whose subject is the content of one of its
// releases in the log as of size (docs/api.md). Another package's release
// of the same content is not about this one. A release logged after size
// does not count: the answer as of a tree size depends only on that tree.
func (f *fixture) about(e *store.EntryRow, pkg, ver string, size uint64) bool {
	if e.Package == pkg && (ver == "" || e.Version == ver) {
		return true
	}
	if e.Kind != "attestation" {
		return false
	}
	for _, r := range f.rows {
		if r.Index < size && r.Type == "release" && r.Package == pkg && (ver == "" || r.Version == ver) &&
			len(r.Subjects) == 1 && slices.Contains(e.Subjects, r.Subjects[0]) {
			return true
		}
	}
	return false
}

func (f *fixture) checkQuery(q store.Query) {
	f.t.Helper()
	got, err := f.s.Query(ctx, &q)
	if err != nil {
		f.t.Fatalf("Query(%s): %v", fmtQuery(q), err)
	}
	want := f.want(q)
	if fmtIdx(got) != fmtIdx(want) {
		f.t.Fatalf("Query(%s) = %s, want %s", fmtQuery(q), fmtIdx(got), fmtIdx(want))
	}
	for i, g := range got {
		w := want[i]
		if string(g.Leaf) != string(w.Leaf) || !g.Time.Equal(w.Time) || g.Kind != w.Kind || g.Type != w.Type ||
			g.Package != w.Package || g.Version != w.Version || g.PredicateType != w.PredicateType || g.PayloadDigest != w.PayloadDigest {
			f.t.Fatalf("Query(%s): row %s, want %s", fmtQuery(q), brief(g), brief(w))
		}
	}
}

func fmtIdx(rows []*store.EntryRow) string {
	idx := []uint64{}
	for _, r := range rows {
		idx = append(idx, r.Index)
	}
	return fmt.Sprint(idx)
}

func fmtQuery(q store.Query) string {
	s := fmt.Sprintf("%+v", q)
	if q.After != nil {
		s += fmt.Sprintf(" after %d", *q.After)
	}
	return s
}

func u64(x uint64) *uint64 { return &x }

// testQuery checks every filter of store.Query, alone and combined, at
// several tree sizes, both ways.
func testQuery(t *testing.T, open opener) {
	f := queryLog(t, open)
	n := uint64(len(f.rows))
	year := func(y int) time.Time { return time.Date(y, 6, 1, 0, 0, 0, 0, time.UTC) }
	filters := []store.Query{
		{},
		{Package: "acme/widget"},
		{Package: "acme/widget", Version: "1.0.0"},
		{Package: "acme/widget", Version: "2.0.0"},
		{Package: "acme/widget", Version: "3.0.0"},
		{Package: "acme/gadget"},
		{Package: "acme/gadget", Version: "2.0.0"},
		{Package: "acme/widget-extra"},
		{Package: "acme"},
		{Subject: "sha256:d1"},
		{Subject: "sha256:d3"},
		{Subject: "sha256:none"},
		{Signer: "k1"},
		{Signer: "k2"},
		{PredicateType: slsa},
		{PredicateType: vulns},
		{Kind: "attestation"},
		{Kind: "record"},
		{Type: "release"},
		{Type: "attestation"},
		{Package: "acme/widget", Kind: "attestation"},
		{Package: "acme/gadget", Signer: "k3", Type: "release"},
		{Signer: "k2", Subject: "sha256:d1"},
		{Subject: "sha256:d1", PredicateType: slsa, Signer: "k1"},
		{From: 3, To: 8},
		{From: 5},
		{To: 4},
		{From: 8, To: 3},
		{From: math.MaxUint64},
		{To: math.MaxUint64},
		{Package: "acme/widget", From: 4, To: 13},
		{Since: at(3)},
		{Since: at(3).Add(time.Nanosecond)},
		{Since: at(3).Add(-time.Nanosecond)},
		{Until: at(3)},
		{Until: at(3).Add(time.Nanosecond)},
		{Until: at(6).Add(500 * time.Millisecond)},
		{Since: at(2), Until: at(7)},
		{Since: at(5), Until: at(5)},
		{Since: at(7), Until: at(2)},
		{Since: year(1000)},
		{Since: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)},
		{Since: year(1677), Until: year(2263)},
		{Until: year(3000)},
		{Since: year(3000)},
		{Until: year(1000)},
		{Since: time.Unix(1<<62, 0)},
		{Until: time.Unix(1<<62, 0)},
		{Package: "acme/widget", Since: at(4), Until: at(12)},
		{Kind: "attestation", Since: at(8)},
	}
	for _, fq := range filters {
		for _, desc := range []bool{false, true} {
			// As of tree sizes: before and after the second release of
			// sha256:d1 (entry 11), and beyond the head.
			for _, size := range []uint64{0, 5, 11, 12, n, math.MaxUint64} {
				for _, limit := range []int{2, 100} {
					q := fq
					q.Size, q.Desc, q.Limit = size, desc, limit
					f.checkQuery(q)
				}
			}
			for _, after := range []uint64{0, 4, n, math.MaxUint64} {
				q := fq
				q.Size, q.After, q.Desc, q.Limit = n, u64(after), desc, 100
				f.checkQuery(q)
			}
		}
	}
}

// testQueryPages checks cursor pagination: pages of After and Limit, both
// ways, add up to the whole answer.
func testQueryPages(t *testing.T, open opener) {
	f := queryLog(t, open)
	n := uint64(len(f.rows))
	for _, fq := range []store.Query{{}, {Package: "acme/widget"}, {Signer: "k2"}, {Subject: "sha256:d1"}, {Since: at(3), Until: at(12)}} {
		for _, desc := range []bool{false, true} {
			for _, limit := range []int{1, 2, 3} {
				q := fq
				q.Size, q.Desc, q.Limit = n, desc, limit
				var all []*store.EntryRow
				for pages := 0; ; pages++ {
					if pages > int(n)+1 {
						t.Fatalf("Query(%s) pages do not end", fmtQuery(q))
					}
					page, err := f.s.Query(ctx, &q)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > limit {
						t.Fatalf("Query(%s) returned %d rows", fmtQuery(q), len(page))
					}
					all = append(all, page...)
					if len(page) < limit {
						break
					}
					q.After = u64(page[len(page)-1].Index)
				}
				q.After, q.Limit = nil, 1000
				if want := f.want(q); fmtIdx(all) != fmtIdx(want) {
					t.Fatalf("pages of %d of Query(%s) = %s, want %s", limit, fmtQuery(q), fmtIdx(all), fmtIdx(want))
				}
			}
		}
	}
}

// testSizeAt checks SizeAt at, between, before and after the entries' log
// times, including times an int64 of nanoseconds cannot hold.
func testSizeAt(t *testing.T, open opener) {
	f := queryLog(t, open)
	count := func(tm time.Time) uint64 {
		var n uint64
		for _, r := range f.rows {
			if !r.Time.After(tm) {
				n++
			}
		}
		return n
	}
	times := []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1677, 9, 21, 0, 0, 0, 0, time.UTC),
		time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, 0),
		time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC),
		time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Unix(1<<62, 0),
		time.Unix(-1<<62, 0),
	}
	for _, r := range f.rows {
		times = append(times, r.Time, r.Time.Add(-time.Nanosecond), r.Time.Add(time.Nanosecond), r.Time.Add(500*time.Millisecond))
	}
	// The same instant in another time zone.
	times = append(times, at(5).In(time.FixedZone("X", -7*3600)))
	for _, tm := range times {
		got, err := f.s.SizeAt(ctx, tm)
		if err != nil {
			t.Fatalf("SizeAt(%v): %v", tm, err)
		}
		if want := count(tm); got != want {
			t.Fatalf("SizeAt(%v) = %d, want %d", tm, got, want)
		}
	}
}
