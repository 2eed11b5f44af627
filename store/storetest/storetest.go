// Package storetest is the conformance suite every store.Store must pass:
// sequencing and its rollback, entries and leaves, integration as a
// compare-and-swap on the latest checkpoint, checkpoints, state as of every
// tree size, the query index, the verifiable index's nodes, the erasable
// data, the integrator's lease, and sequencing from many goroutines (and,
// for stores that several processes share, from several stores on one
// database).
//
// Where store/store.go leaves room, the suite reads it so:
//
//   - Inside a sequencing transaction, Get, GetMany, Subjects and Signers
//     need only see what was committed before the transaction began. Whether
//     they also see entries appended earlier in the same transaction is left
//     open (store/sqlstore buffers appended rows until the commit or
//     SeqTx.Integrate, so mostly they do not): the registry keeps its own
//     overlay of a batch's changes (registry/view.go) and never asks.
//   - Query.Size always filters, though "zero fields do not filter": a Size
//     of 0 is the empty tree, and the answer is empty. The registry passes
//     the tree size it answers for, which is 0 for a new log.
//   - Query.Version is tested only with Package; Limit only when positive;
//     the order of SeqTx.Subjects' references is not checked.
//   - Indexes and sizes beyond 1<<63-1 mean "beyond every entry", as for
//     any other index past the head.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
)

// Run checks the implementation open returns. Every subtest calls open with
// its own t for a new, empty store, and the suite closes the stores it
// opens. The subtests run in parallel (as many at once as go test -parallel
// allows), so open must be safe to call concurrently. The tests of stores
// that several processes share call open a second time with the same t:
// open must then return another store on the same database, as another
// process would open it. (They are skipped for an Exclusive store, so open
// is called only once per t for those.)
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open opener)
	}{
		{"Empty", testEmpty},
		{"Sequence", testSequence},
		{"AppendChecks", testAppendChecks},
		{"Rollback", testRollback},
		{"PanicRollsBack", testPanicRollsBack},
		{"LeavesAndEntry", testLeavesAndEntry},
		{"Integrate", testIntegrate},
		{"IntegrateFirstEmpty", testIntegrateFirstEmpty},
		{"SeqTxIntegrate", testSeqTxIntegrate},
		{"SeqTxIntegrateIsCAS", testSeqTxIntegrateCAS},
		{"Checkpoints", testCheckpoints},
		{"Witnessed", testWitnessed},
		{"State", testState},
		{"StateUnchanged", testStateUnchanged},
		{"SeqTxReads", testSeqTxReads},
		{"IndexTree", testIndexTree},
		{"Query", testQuery},
		{"QueryPages", testQueryPages},
		{"SizeAt", testSizeAt},
		{"OffLog", testOffLog},
		{"Statements", testStatements},
		{"Keyless", testKeyless},
		{"UseOnce", testUseOnce},
		{"Erasures", testErasures},
		{"Lease", testLease},
		{"ConcurrentSequence", testConcurrentSequence},
		{"Shared/Lead", testSharedLead},
		{"Shared/Sequence", testSharedSequence},
		{"Shared/Integrate", testSharedIntegrate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open)
		})
	}
}

type opener = func(t *testing.T) store.Store

var ctx = context.Background()

// base is the log time of entry 0; entry i is logged base+i seconds unless
// a test says otherwise.
var base = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// openStore opens a store and closes it when the test ends.
func openStore(t *testing.T, open opener) store.Store {
	t.Helper()
	s := open(t)
	if s == nil {
		t.Fatal("open returned no store")
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// ent is an entry to append, with the state it changes and its off-log
// data. Index, Time and Leaf are filled in when they are zero.
type ent struct {
	row *store.EntryRow
	kvs []store.KV
	off []store.OffLog
}

func rec(typ, pkg, ver string, subjects ...string) ent {
	return ent{row: &store.EntryRow{Kind: "record", Type: typ, Package: pkg, Version: ver, Subjects: subjects}}
}

func att(ptype, payload string, signers, subjects []string) ent {
	return ent{row: &store.EntryRow{Kind: "attestation", Type: "attestation", PredicateType: ptype,
		PayloadDigest: payload, Signers: signers, Subjects: subjects, Statement: []byte(`{"statement":"` + payload + `"}`)}}
}

func (e ent) by(signers ...string) ent { e.row.Signers = signers; return e }

func (e ent) at(t time.Time) ent { e.row.Time = t; return e }

func (e ent) set(kvs ...store.KV) ent { e.kvs = kvs; return e }

func (e ent) with(off ...store.OffLog) ent { e.off = off; return e }

func kv(k, v string) store.KV { return store.KV{Key: k, Value: []byte(v)} }

// fixture is a store and a model of what it should hold.
type fixture struct {
	t      *testing.T
	s      store.Store
	rows   []*store.EntryRow // every committed entry, by index
	kvs    [][]store.KV      // the state changes of every committed entry
	signer note.Signer
	hashes map[int64]tlog.Hash // every stored tree hash
	cps    []*store.CheckpointRow
}

var signerKey = func() string {
	skey, _, err := translog.GenerateLogKey("storetest.example/log")
	if err != nil {
		panic(err)
	}
	return skey
}()

func newFixture(t *testing.T, open opener) *fixture {
	t.Helper()
	signer, err := translog.NewSigner(signerKey)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, s: openStore(t, open), signer: signer, hashes: map[int64]tlog.Hash{}}
}

// fill completes e for index idx.
func fill(e ent, idx uint64) ent {
	r := *e.row
	r.Index = idx
	if r.Time.IsZero() {
		r.Time = base.Add(time.Duration(idx) * time.Second)
	}
	if r.Kind == "record" && r.PayloadDigest == "" {
		r.PayloadDigest = fmt.Sprintf("sha256:r%d", idx)
	}
	if r.Leaf == nil {
		// Binary leaves: every byte value must survive the round trip.
		r.Leaf = fmt.Appendf([]byte{0x00, 0xff, byte(idx)}, "entry %d %s %s@%s\n", idx, r.Type, r.Package, r.Version)
	}
	e.row = &r
	return e
}

// seq appends es in one sequencing transaction, checking Head along the way.
func (f *fixture) seq(es ...ent) []*store.EntryRow {
	f.t.Helper()
	var rows []*store.EntryRow
	var kvs [][]store.KV
	err := f.s.Sequence(ctx, func(tx store.SeqTx) error {
		rows, kvs = nil, nil
		for _, e := range es {
			h := tx.Head()
			e = fill(e, h.Sequenced)
			if err := tx.Append(e.row, e.kvs, e.off); err != nil {
				return fmt.Errorf("append %d: %w", h.Sequenced, err)
			}
			if h2 := tx.Head(); h2.Sequenced != h.Sequenced+1 || !h2.LastTime.Equal(e.row.Time) {
				return fmt.Errorf("tx.Head() after appending %d at %v: %+v", h.Sequenced, e.row.Time, h2)
			}
			rows = append(rows, e.row)
			kvs = append(kvs, e.kvs)
		}
		return nil
	})
	if err != nil {
		f.t.Fatalf("Sequence: %v", err)
	}
	f.rows = append(f.rows, rows...)
	f.kvs = append(f.kvs, kvs...)
	return rows
}

// latestSize is the size of the newest checkpoint the fixture stored.
func (f *fixture) latestSize() uint64 {
	if len(f.cps) == 0 {
		return 0
	}
	return f.cps[len(f.cps)-1].Size
}

func (f *fixture) reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return f.s.ReadHashes(ctx, idx) })
}

// build returns a BuildCheckpoint that integrates leaves after a tree of
// size old, with real tree hashes and a signed note, and notes its calls.
func (f *fixture) build(old uint64, leaves [][]byte, calls *int, out **built) store.BuildCheckpoint {
	return func() ([]translog.StoredHash, *store.CheckpointRow, error) {
		if calls != nil {
			*calls++
		}
		lh := make([]tlog.Hash, len(leaves))
		for i, l := range leaves {
			lh[i] = tlog.RecordHash(l)
		}
		stored, root, err := translog.Integrate(int64(old), lh, f.reader())
		if err != nil {
			return nil, nil, err
		}
		size := old + uint64(len(leaves))
		n, err := translog.Sign(f.signer, size, root)
		if err != nil {
			return nil, nil, err
		}
		cp := &store.CheckpointRow{Size: size, Time: base.Add(time.Duration(size)*time.Second + 500*time.Millisecond), Note: n, Root: root}
		if out != nil {
			*out = &built{stored, cp}
		}
		return stored, cp, nil
	}
}

// built is what a BuildCheckpoint returned.
type built struct {
	stored []translog.StoredHash
	cp     *store.CheckpointRow
}

// committed records a committed integration in the model.
func (f *fixture) committed(b *built) {
	for _, h := range b.stored {
		f.hashes[h.Index] = h.Hash
	}
	f.cps = append(f.cps, b.cp)
}

func (f *fixture) leaves(from, to uint64) [][]byte {
	var out [][]byte
	for _, r := range f.rows[from:to] {
		out = append(out, r.Leaf)
	}
	return out
}

// integrate integrates the committed entries up to size to with
// Store.Integrate.
func (f *fixture) integrate(to uint64) {
	f.t.Helper()
	old := f.latestSize()
	var b *built
	if err := f.s.Integrate(ctx, old, f.build(old, f.leaves(old, to), nil, &b)); err != nil {
		f.t.Fatalf("Integrate(%d → %d): %v", old, to, err)
	}
	f.committed(b)
}

// checkTree checks that the store's hashes are exactly the model's, and
// that they prove every entry in every checkpoint's tree.
func (f *fixture) checkTree() {
	f.t.Helper()
	var idx []int64
	for i := range f.hashes {
		idx = append(idx, i)
	}
	got, err := f.s.ReadHashes(ctx, idx)
	if err != nil {
		f.t.Fatalf("ReadHashes: %v", err)
	}
	if len(got) != len(idx) {
		f.t.Fatalf("ReadHashes returned %d hashes for %d indexes", len(got), len(idx))
	}
	for i, x := range idx {
		if got[i] != f.hashes[x] {
			f.t.Fatalf("stored hash %d is %x, not %x", x, got[i], f.hashes[x])
		}
	}
	r := f.reader()
	for _, cp := range f.cps {
		n := int64(cp.Size)
		th, err := tlog.TreeHash(n, r)
		if err != nil || th != cp.Root {
			f.t.Fatalf("tree hash at %d: %x %v, want %x", n, th, err, cp.Root)
		}
		for i := int64(0); i < n; i++ {
			p, err := tlog.ProveRecord(n, i, r)
			if err != nil {
				f.t.Fatalf("proving %d in %d: %v", i, n, err)
			}
			if err := tlog.CheckRecord(p, n, cp.Root, i, tlog.RecordHash(f.rows[i].Leaf)); err != nil {
				f.t.Fatalf("proof of %d in %d: %v", i, n, err)
			}
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func sameCheckpoint(a, b *store.CheckpointRow) bool {
	return a.Size == b.Size && a.Time.Equal(b.Time) && a.Root == b.Root && string(a.Note) == string(b.Note)
}

func checkCheckpoint(t *testing.T, what string, got, want *store.CheckpointRow) {
	t.Helper()
	if got == nil || !sameCheckpoint(got, want) {
		t.Fatalf("%s: got %s, want %s", what, fmtCheckpoint(got), fmtCheckpoint(want))
	}
}

func fmtCheckpoint(c *store.CheckpointRow) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("{size %d, time %v, root %x, note %q}", c.Size, c.Time, c.Root[:4], c.Note)
}
