package storetest

// The state role, and the reads of a sequencing transaction.

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/store"
)

// stateAt is the model's value of key as of tree size size: the newest
// change to it by an entry before size, or nil.
func (f *fixture) stateAt(key string, size uint64) []byte {
	var v []byte
	for i, kvs := range f.kvs {
		if uint64(i) >= size {
			break
		}
		for _, c := range kvs {
			if c.Key == key && c.Value != nil {
				v = c.Value
			}
		}
	}
	return v
}

// scanAt is the model's Scan.
func (f *fixture) scanAt(prefix string, size uint64, after string, limit int) []store.KV {
	keys := map[string]bool{}
	for _, kvs := range f.kvs {
		for _, c := range kvs {
			keys[c.Key] = true
		}
	}
	var out []store.KV
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	}) {
		if !strings.HasPrefix(k, prefix) || k <= after || len(out) >= limit {
			continue
		}
		if v := f.stateAt(k, size); v != nil {
			out = append(out, store.KV{Key: k, Value: v})
		}
	}
	return out
}

// testState checks Get and Scan as of every tree size.
func testState(t *testing.T, open opener) {
	f := newFixture(t, open)
	f.seq(rec("genesis", "", "").set(kv("q/x", `"x0"`), kv("p", `"no slash"`), kv("p0", `"after the slash"`)))
	f.seq(rec("create", "a", "").set(kv("p/a", `"a1"`)),
		rec("create", "b", "").set(kv("p/b", `"b1"`)))
	f.seq(rec("release", "a", "1").set(kv("r/a@1", `"ra1"`), kv("r/ab@1", `"rab1"`), kv("p/", `"the prefix itself"`)),
		rec("release", "a", "2").set(kv("p/a", `"a2"`), kv("r/a@2", `"ra2"`)),
		rec("identity", "", ""), // changes nothing
		rec("create", "c", "").set(kv("p/c", `"c1"`)),
		rec("promote", "c", "").set(kv("p/c", `"c2"`), kv("p/a", `"a3"`)))
	n := uint64(len(f.rows))
	keys := []string{"q/x", "p", "p0", "p/", "p/a", "p/b", "p/c", "r/a@1", "r/a@2", "r/ab@1", "p/d", "", "zzz"}
	sizes := []uint64{}
	for s := uint64(0); s <= n+1; s++ {
		sizes = append(sizes, s)
	}
	sizes = append(sizes, 1<<63-1, 1<<63, 1<<64-1)
	for _, size := range sizes {
		for _, k := range keys {
			got, err := f.s.Get(ctx, k, size)
			if err != nil {
				t.Fatalf("Get(%q, %d): %v", k, size, err)
			}
			if want := f.stateAt(k, size); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("Get(%q, %d) = %q, want %q", k, size, got, want)
			}
		}
		for _, prefix := range []string{"", "p", "p/", "p/a", "r/a@", "r/", "q/", "z/", "r/a@1"} {
			for _, after := range []string{"", "a", "zzz", "p", "p/", "p/a", "p/b", "r/a@1", "r/ab@1"} {
				for _, limit := range []int{2, 100} {
					got, err := f.s.Scan(ctx, prefix, size, after, limit)
					if err != nil {
						t.Fatalf("Scan(%q, %d, %q, %d): %v", prefix, size, after, limit, err)
					}
					if want := f.scanAt(prefix, size, after, limit); fmtKVs(got) != fmtKVs(want) {
						t.Fatalf("Scan(%q, %d, %q, %d) = %s\nwant %s", prefix, size, after, limit, fmtKVs(got), fmtKVs(want))
					}
				}
			}
		}
	}
	// Paging with after reads every release of a package once.
	var all []store.KV
	after := ""
	for {
		page, err := f.s.Scan(ctx, "r/a@", n, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Key
	}
	if fmtKVs(all) != `[r/a@1="ra1" r/a@2="ra2"]` {
		t.Fatalf("paging r/a@: %s", fmtKVs(all))
	}
}

func fmtKVs(kvs []store.KV) string {
	var b strings.Builder
	b.WriteString("[")
	for i, c := range kvs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%s", c.Key, c.Value)
	}
	b.WriteString("]")
	return b.String()
}

// testStateUnchanged checks that a change with a nil value leaves the
// object as it was (store.KV: state is never deleted, only superseded).
func testStateUnchanged(t *testing.T, open opener) {
	f := newFixture(t, open)
	f.seq(rec("create", "a", "").set(kv("p/a", `"a1"`)))
	f.seq(rec("grant", "a", "").set(store.KV{Key: "p/a"}, kv("p/b", `"b1"`), store.KV{Key: "p/c"}))
	for _, size := range []uint64{1, 2, 1<<63 - 1} {
		if v, err := f.s.Get(ctx, "p/a", size); err != nil || string(v) != `"a1"` {
			t.Fatalf("Get(p/a, %d) after a nil change: %q %v", size, v, err)
		}
		if v, err := f.s.Get(ctx, "p/c", size); err != nil || v != nil {
			t.Fatalf("Get(p/c, %d), only ever changed to nil: %q %v", size, v, err)
		}
	}
	if kvs, err := f.s.Scan(ctx, "p/", 2, "", 10); err != nil || fmtKVs(kvs) != `[p/a="a1" p/b="b1"]` {
		t.Fatalf("Scan after a nil change: %s %v", fmtKVs(kvs), err)
	}
	err := f.s.Sequence(ctx, func(tx store.SeqTx) error {
		if v, err := tx.Get("p/a"); err != nil || string(v) != `"a1"` {
			return fmt.Errorf("SeqTx.Get(p/a) after a nil change: %q %v", v, err)
		}
		m, err := tx.GetMany([]string{"p/a", "p/c"})
		if err != nil || len(m) != 1 || string(m["p/a"]) != `"a1"` {
			return fmt.Errorf("SeqTx.GetMany after a nil change: %q %v", m, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testSeqTxReads checks what a sequencing transaction reads: the latest
// committed state, and the subject and signer index. (See the package
// comment for what it need not see.)
func testSeqTxReads(t *testing.T, open opener) {
	f := newFixture(t, open)
	f.seq(rec("genesis", "", "").set(kv("k1", `"v1"`)))
	f.seq(rec("identity", "", "").set(kv("k1", `"v2"`), kv("k2", `"w"`)))
	var bulk []store.KV
	for i := 0; i < 1200; i++ {
		bulk = append(bulk, kv(fmt.Sprintf("i/bulk%04d", i), fmt.Sprintf(`%d`, i)))
	}
	f.seq(rec("identity", "", "").set(bulk...))
	f.seq(ent{row: &store.EntryRow{Kind: "record", Type: "release", Package: "acme/widget", Version: "1.0.0",
		PayloadDigest: "sha256:p3", Subjects: []string{"sha256:d1"}, Signers: []string{"k1"}}},
		att("https://slsa.dev/provenance/v1", "sha256:p4", []string{"k2", "k1"}, []string{"sha256:d1", "sha256:d2"}),
		ent{row: &store.EntryRow{Kind: "record", Type: "release", Package: "acme/gadget", Version: "1.0.0",
			PayloadDigest: "sha256:p5", Subjects: []string{"sha256:d2"}, Signers: []string{"k3"}}})
	err := f.s.Sequence(ctx, func(tx store.SeqTx) error {
		for k, want := range map[string]string{"k1": `"v2"`, "k2": `"w"`, "i/bulk0777": "777", "k3": ""} {
			v, err := tx.Get(k)
			if err != nil || string(v) != want || (want == "") != (v == nil) {
				return fmt.Errorf("SeqTx.Get(%s) = %q %v, want %q", k, v, err, want)
			}
		}
		m, err := tx.GetMany([]string{"k1", "k2", "k3"})
		if err != nil || len(m) != 2 || string(m["k1"]) != `"v2"` || string(m["k2"]) != `"w"` {
			return fmt.Errorf("SeqTx.GetMany: %q %v", m, err)
		}
		if _, ok := m["k3"]; ok {
			return fmt.Errorf("SeqTx.GetMany has an absent object")
		}
		if m, err := tx.GetMany(nil); err != nil || len(m) != 0 {
			return fmt.Errorf("SeqTx.GetMany(nil): %q %v", m, err)
		}
		// Many keys at once (past any limit on query parameters).
		var ks []string
		for _, c := range bulk {
			ks = append(ks, c.Key)
		}
		ks = append(ks, "k1", "nope")
		m, err = tx.GetMany(ks)
		if err != nil || len(m) != len(bulk)+1 || string(m["i/bulk1199"]) != "1199" || string(m["k1"]) != `"v2"` {
			return fmt.Errorf("SeqTx.GetMany of %d keys: %d found, %v", len(ks), len(m), err)
		}
		subj, err := tx.Subjects([]string{"sha256:d1", "sha256:d2", "sha256:d3"})
		if err != nil {
			return err
		}
		for _, refs := range subj {
			slices.SortFunc(refs, func(a, b store.SubjectRef) int { return int(a.Index) - int(b.Index) })
		}
		want := map[string][]store.SubjectRef{
			"sha256:d1": {{Index: 3, Type: "release", PayloadDigest: "sha256:p3"}, {Index: 4, Type: "attestation", PayloadDigest: "sha256:p4"}},
			"sha256:d2": {{Index: 4, Type: "attestation", PayloadDigest: "sha256:p4"}, {Index: 5, Type: "release", PayloadDigest: "sha256:p5"}},
		}
		if fmt.Sprint(subj) != fmt.Sprint(want) || len(subj["sha256:d3"]) != 0 {
			return fmt.Errorf("SeqTx.Subjects = %v, want %v", subj, want)
		}
		if subj, err := tx.Subjects(nil); err != nil || len(subj) != 0 {
			return fmt.Errorf("SeqTx.Subjects(nil): %v %v", subj, err)
		}
		for idx, want := range map[uint64][]string{4: {"k1", "k2"}, 3: {"k1"}, 5: {"k3"}, 0: nil, 99: nil} {
			got, err := tx.Signers(idx)
			slices.Sort(got)
			if err != nil || !slices.Equal(got, want) {
				return fmt.Errorf("SeqTx.Signers(%d) = %v %v, want %v", idx, got, err, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
