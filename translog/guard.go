package translog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/internal/atomicfile"
)

// Guard keeps a log signer from ever forking its log. It remembers, in a
// file of its own outside the database, the newest checkpoint the signer
// signed, and signs a new one only if a consistency proof shows that it
// extends that one. A database that is lost, replaced or restored from an
// old backup therefore cannot make the signer sign a second history under
// the same key and origin: starting over takes a new origin.
//
// The file is written (and flushed to disk) before a new checkpoint can be
// published, as pending; once the caller reports the commit, the pending
// checkpoint becomes the confirmed one. After a crash between the two, the
// database tells which happened: if it holds the pending checkpoint, it was
// published; if it is still at the confirmed one, the commit never happened
// and the pending checkpoint was never seen by anyone.
//
// Guard is the same idea as Sunlight's checkpoint lock, kept beside the
// signing key.
type Guard struct {
	path string
	v    note.Verifier

	mu        sync.Mutex
	confirmed *Checkpoint // published
	pending   *Checkpoint // signed; whether it was published is not known yet
	dirty     bool        // confirmed is newer than the file
}

// guardFile is the file format: the signed notes, verbatim.
type guardFile struct {
	Confirmed string `json:"confirmed,omitempty"`
	Pending   string `json:"pending,omitempty"`
}

// ForkError is a refusal to sign (or to start signing) a checkpoint that
// does not extend the newest one the signer signed.
type ForkError struct {
	Path     string
	Last     uint64
	Got      uint64
	Reason   string
	Starting bool
}

func (e *ForkError) Error() string {
	if e.Starting {
		return fmt.Sprintf("refusing to sign: the database holds a log of size %d that does not extend the newest checkpoint this signer signed (size %d, kept in %s): %s. "+
			"The database was lost, replaced or restored from an older backup, and signing would fork the log. "+
			"Restore the database that holds that checkpoint, or start a new log under a new origin (vouch serve --new-log --origin NEW-ORIGIN)",
			e.Got, e.Last, e.Path, e.Reason)
	}
	return fmt.Sprintf("refusing to sign a checkpoint of size %d: it does not extend the newest checkpoint this signer signed (size %d, kept in %s): %s",
		e.Got, e.Last, e.Path, e.Reason)
}

// OpenGuard loads the guard file at path (absent: nothing signed yet),
// verifying the checkpoints in it with v.
func OpenGuard(path string, v note.Verifier) (*Guard, error) {
	g := &Guard{path: path, v: v}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return nil, err
	}
	var f guardFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", path, err)
	}
	verifier := &Verifier{v: v}
	for _, x := range []struct {
		s  string
		to **Checkpoint
	}{{f.Confirmed, &g.confirmed}, {f.Pending, &g.pending}} {
		if x.s == "" {
			continue
		}
		cp, err := verifier.Open([]byte(x.s))
		if err != nil {
			return nil, fmt.Errorf("%s holds a checkpoint this log key does not verify: %w", path, err)
		}
		*x.to = cp
	}
	return g, nil
}

// Last returns the newest checkpoint signed (pending or confirmed), or nil.
func (g *Guard) Last() *Checkpoint {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last()
}

func (g *Guard) last() *Checkpoint {
	if g.pending != nil {
		return g.pending
	}
	return g.confirmed
}

// Reconcile is called when the signer starts, with the newest checkpoint in
// the database (nil for an empty one) and the database's tree hashes. It
// settles a pending checkpoint left by a crash and checks that the database
// extends what the signer signed; otherwise it returns a *ForkError and
// the signer must not sign.
func (g *Guard) Reconcile(db *Checkpoint, hr tlog.HashReader) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.pending; p != nil {
		if db != nil && db.Size == p.Size && db.Hash == p.Hash {
			g.confirmed = p // the commit happened before the crash
		}
		g.pending = nil // else it never did: nobody saw it
	}
	last := g.confirmed
	switch {
	case last == nil && db == nil:
		return nil
	case last == nil:
		g.confirmed = db // the first start with a guard: trust the database once
		return g.write()
	case db == nil:
		if last.Size == 0 {
			return nil
		}
		return &ForkError{Path: g.path, Last: last.Size, Got: 0, Reason: "the database holds no checkpoint", Starting: true}
	}
	if err := consistent(last, db.Size, db.Hash, hr); err != nil {
		return &ForkError{Path: g.path, Last: last.Size, Got: db.Size, Reason: err.Error(), Starting: true}
	}
	g.confirmed = db
	return g.write()
}

// consistent checks that the tree of the given size and root extends cp,
// with a consistency proof built from hr.
func consistent(cp *Checkpoint, size uint64, root tlog.Hash, hr tlog.HashReader) error {
	switch {
	case size < cp.Size:
		return fmt.Errorf("it is smaller")
	case size == cp.Size:
		if root != cp.Hash {
			return fmt.Errorf("same size, different root hash")
		}
		return nil
	case cp.Size == 0:
		return nil
	}
	proof, err := tlog.ProveTree(int64(size), int64(cp.Size), hr)
	if err != nil {
		return fmt.Errorf("no consistency proof: %v", err)
	}
	if err := tlog.CheckTree(proof, int64(size), root, int64(cp.Size), cp.Hash); err != nil {
		return fmt.Errorf("the consistency proof fails: %v", err)
	}
	return nil
}

// Sign signs the checkpoint of a tree of the given size and root with s,
// provided it extends the newest checkpoint signed, as proven from hr (which
// must see the new tree's hashes). The new checkpoint is recorded as
// pending, durably, before Sign returns: the caller publishes it, then calls
// Committed, or Abandon if the publication failed.
func (g *Guard) Sign(s note.Signer, size uint64, root tlog.Hash, hr tlog.HashReader, ext ...string) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if last := g.last(); last != nil {
		if err := consistent(last, size, root, hr); err != nil {
			return nil, &ForkError{Path: g.path, Last: last.Size, Got: size, Reason: err.Error()}
		}
	}
	b, err := Sign(s, size, root, ext...)
	if err != nil {
		return nil, err
	}
	if g.pending != nil {
		// The previous checkpoint's publication was never reported: it
		// can only have been published, or the caller would have
		// abandoned it.
		g.confirmed = g.pending
	}
	g.pending = &Checkpoint{Origin: s.Name(), Size: size, Hash: root, Note: b}
	if err := g.write(); err != nil {
		g.pending = nil
		return nil, fmt.Errorf("recording the signed checkpoint in %s: %w", g.path, err)
	}
	return b, nil
}

// Committed reports that the checkpoint signed as note was published. The
// guard file catches up lazily (see Flush): until then, a crash leaves the
// checkpoint pending, which Reconcile settles from the database.
func (g *Guard) Committed(note []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending != nil && string(g.pending.Note) == string(note) {
		g.confirmed, g.pending, g.dirty = g.pending, nil, true
	}
}

// Abandon reports that the checkpoint signed as note was not published
// (its commit failed), so the next checkpoint need not extend it.
func (g *Guard) Abandon(note []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending == nil || string(g.pending.Note) != string(note) {
		return nil
	}
	g.pending = nil
	return g.write()
}

// Flush writes a confirmed checkpoint that only memory knows about yet.
func (g *Guard) Flush() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.dirty {
		return nil
	}
	return g.write()
}

func (g *Guard) write() error {
	var f guardFile
	if g.confirmed != nil {
		f.Confirmed = string(g.confirmed.Note)
	}
	if g.pending != nil {
		f.Pending = string(g.pending.Note)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(g.path, append(b, '\n'), 0o600); err != nil {
		return err
	}
	g.dirty = false
	return nil
}
