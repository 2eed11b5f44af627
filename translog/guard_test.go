package translog

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// guardLog is a log for the guard tests: leaves, stored hashes and the
// checkpoints of every size.
type guardLog struct {
	t      *testing.T
	s      note.Signer
	v      *Verifier
	hashes memHashes
	size   int64
	salt   string
}

func newGuardLog(t *testing.T, s note.Signer, v *Verifier, salt string) *guardLog {
	return &guardLog{t: t, s: s, v: v, hashes: memHashes{}, salt: salt}
}

// grow integrates n leaves and returns the new root and the reader that
// sees the grown tree.
func (l *guardLog) grow(n int) (tlog.Hash, tlog.HashReader) {
	var lh []tlog.Hash
	for i := 0; i < n; i++ {
		lh = append(lh, tlog.RecordHash([]byte(l.salt+string(leaf(int(l.size)+i)))))
	}
	stored, root, err := Integrate(l.size, lh, l.hashes)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, h := range stored {
		l.hashes[h.Index] = h.Hash
	}
	l.size += int64(n)
	return root, l.hashes
}

func (l *guardLog) checkpoint(g *Guard, root tlog.Hash) *Checkpoint {
	l.t.Helper()
	b, err := g.Sign(l.s, uint64(l.size), root, l.hashes)
	if err != nil {
		l.t.Fatal(err)
	}
	g.Committed(b)
	cp, err := l.v.Open(b)
	if err != nil {
		l.t.Fatal(err)
	}
	return cp
}

func guardKeys(t *testing.T) (note.Signer, *Verifier) {
	skey, vkey, err := GenerateLogKey("example.com/guarded")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewSigner(skey)
	v, _ := NewVerifier(vkey)
	return s, v
}

func TestGuardRefusesAForkAndAShrink(t *testing.T) {
	s, v := guardKeys(t)
	path := filepath.Join(t.TempDir(), "guard")
	g, err := OpenGuard(path, v.Note())
	if err != nil {
		t.Fatal(err)
	}
	a := newGuardLog(t, s, v, "a")
	root, _ := a.grow(10)
	a.checkpoint(g, root)
	root, _ = a.grow(5)
	a.checkpoint(g, root)

	// Another history under the same key: refused at every size.
	b := newGuardLog(t, s, v, "b")
	for _, n := range []int{3, 12, 10} {
		root, hr := b.grow(n)
		_, err := g.Sign(s, uint64(b.size), root, hr)
		var fe *ForkError
		if !errors.As(err, &fe) {
			t.Fatalf("size %d of another history: Sign = %v", b.size, err)
		}
	}
	// The real log goes on.
	root, _ = a.grow(1)
	a.checkpoint(g, root)

	// A reopened guard remembers, and refuses the other history.
	g2, err := OpenGuard(path, v.Note())
	if err != nil {
		t.Fatal(err)
	}
	if g2.Last() == nil || g2.Last().Size != 16 {
		t.Fatalf("reopened guard holds %+v", g2.Last())
	}
	root, hr := b.grow(20)
	if _, err := g2.Sign(s, uint64(b.size), root, hr); err == nil {
		t.Fatal("a reopened guard signed another history")
	}
}

func TestGuardReconcile(t *testing.T) {
	s, v := guardKeys(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "guard")
	g, _ := OpenGuard(path, v.Note())
	a := newGuardLog(t, s, v, "a")
	root, _ := a.grow(8)
	c8 := a.checkpoint(g, root)
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}

	// A crash after signing 12 but before its commit: the database is at
	// 8; the pending checkpoint was never published and is dropped.
	root, hr := a.grow(4)
	if _, err := g.Sign(s, 12, root, hr); err != nil {
		t.Fatal(err)
	}
	g, _ = OpenGuard(path, v.Note())
	if err := g.Reconcile(c8, a.hashes); err != nil {
		t.Fatalf("database at the confirmed checkpoint: %v", err)
	}
	if g.Last().Size != 8 {
		t.Fatalf("after reconciling: %d", g.Last().Size)
	}

	// A crash after the commit: the database holds the pending one.
	b, err := g.Sign(s, 12, root, hr)
	if err != nil {
		t.Fatal(err)
	}
	c12, _ := v.Open(b)
	g, _ = OpenGuard(path, v.Note())
	if err := g.Reconcile(c12, a.hashes); err != nil {
		t.Fatalf("database at the pending checkpoint: %v", err)
	}
	if g.Last().Size != 12 {
		t.Fatalf("after reconciling: %d", g.Last().Size)
	}

	// Another replica signed further: a consistent extension is adopted.
	root, _ = a.grow(30)
	note42, _ := Sign(s, 42, root)
	c42, _ := v.Open(note42)
	if err := g.Reconcile(c42, a.hashes); err != nil {
		t.Fatalf("database ahead: %v", err)
	}

	// A lost database (empty), one restored from an old backup, and one
	// holding another history are all refused.
	g, _ = OpenGuard(path, v.Note())
	var fe *ForkError
	if err := g.Reconcile(nil, memHashes{}); !errors.As(err, &fe) || !fe.Starting {
		t.Fatalf("empty database: %v", err)
	}
	if err := g.Reconcile(c8, a.hashes); !errors.As(err, &fe) {
		t.Fatalf("database restored to size 8: %v", err)
	}
	other := newGuardLog(t, s, v, "other")
	root, _ = other.grow(50)
	noteO, _ := Sign(s, 50, root)
	cO, _ := v.Open(noteO)
	if err := g.Reconcile(cO, other.hashes); !errors.As(err, &fe) {
		t.Fatalf("database of another history: %v", err)
	}

	// A corrupt guard file is an error, not a fresh start.
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := OpenGuard(path, v.Note()); err == nil {
		t.Fatal("a corrupt guard file was accepted")
	}
}

func TestGuardAbandon(t *testing.T) {
	s, v := guardKeys(t)
	g, _ := OpenGuard(filepath.Join(t.TempDir(), "guard"), v.Note())
	a := newGuardLog(t, s, v, "a")
	root, _ := a.grow(4)
	a.checkpoint(g, root)
	// A commit that failed: its rows are gone, so the next batch is built
	// on size 4 again, with different leaves.
	b := &guardLog{t: t, s: s, v: v, hashes: memHashes{}, salt: "a"}
	for k, h := range a.hashes {
		b.hashes[k] = h
	}
	b.size = 4
	root, hr := a.grow(3)
	n, err := g.Sign(s, 7, root, hr)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Abandon(n); err != nil {
		t.Fatal(err)
	}
	b.salt = "retry"
	root, hr = b.grow(5)
	if _, err := g.Sign(s, 9, root, hr); err != nil {
		t.Fatalf("after an abandoned checkpoint: %v", err)
	}
}
