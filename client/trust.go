package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"

	"github.com/vouchdev/vouch/internal/atomicfile"
	"github.com/vouchdev/vouch/translog"
)

// TrustStore keeps the latest verified checkpoint of each log, one file per
// origin under <home>/checkpoints/.
type TrustStore struct {
	dir string
}

// NewTrustStore returns the trust store under home.
func NewTrustStore(home string) *TrustStore {
	return &TrustStore{dir: filepath.Join(home, "checkpoints")}
}

func (t *TrustStore) path(origin string) string {
	return filepath.Join(t.dir, url.PathEscape(origin))
}

// Load returns the held checkpoint of the log v verifies, re-verifying its
// signature, or nil if none is held.
func (t *TrustStore) Load(v *translog.Verifier) (*translog.Checkpoint, error) {
	b, err := os.ReadFile(t.path(v.Origin()))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cp, err := v.Open(b)
	if err != nil {
		return nil, fmt.Errorf("the checkpoint held in %s does not verify: %w", t.path(v.Origin()), err)
	}
	return cp, nil
}

// RollbackError reports a checkpoint older than the one the client holds.
type RollbackError struct{ Held, Got uint64 }

func (e *RollbackError) Error() string {
	return fmt.Sprintf("refusing a checkpoint of size %d: this client already verified one of size %d (the log, or a cache in front of it, is serving an older state)", e.Got, e.Held)
}

// ForkError reports a checkpoint inconsistent with the one the client holds.
type ForkError struct {
	Held, Got uint64
	Err       error
}

func (e *ForkError) Error() string {
	return fmt.Sprintf("refusing checkpoint of size %d: it is not consistent with the verified checkpoint of size %d this client holds: %v (the log has forked, or is lying)", e.Got, e.Held, e.Err)
}

func (e *ForkError) Unwrap() error { return e.Err }

// lock takes an exclusive lock on the origin's file, so that concurrent
// clients update it one at a time.
func (t *TrustStore) lock(origin string) (func(), error) {
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return nil, err
	}
	l := flock.New(t.path(origin) + ".lock")
	if err := l.Lock(); err != nil {
		return nil, err
	}
	return func() { l.Unlock() }, nil
}

// Advance makes cp the held checkpoint, provided it is not older than the
// held one and is consistent with it; prove returns a consistency proof from
// the held size to cp's. It returns the checkpoint held before.
func (t *TrustStore) Advance(ctx context.Context, v *translog.Verifier, cp *translog.Checkpoint,
	prove ConsistencyProver) (*translog.Checkpoint, error) {
	unlock, err := t.lock(v.Origin())
	if err != nil {
		return nil, err
	}
	defer unlock()
	held, err := t.Load(v)
	if err != nil {
		return nil, err
	}
	if held != nil {
		if cp.Size < held.Size {
			return held, &RollbackError{Held: held.Size, Got: cp.Size}
		}
		if cp.Size == held.Size {
			if cp.Hash != held.Hash {
				return held, &ForkError{Held: held.Size, Got: cp.Size, Err: errors.New("same size, different root hash")}
			}
			return held, nil
		}
		if err := verifyConsistency(ctx, held, cp, prove); err != nil {
			return held, &ForkError{Held: held.Size, Got: cp.Size, Err: err}
		}
	}
	if err := atomicfile.Write(t.path(v.Origin()), cp.Note, 0o600); err != nil {
		return held, err
	}
	return held, nil
}

func verifyConsistency(ctx context.Context, older, newer *translog.Checkpoint,
	prove ConsistencyProver) error {
	if older.Size == 0 {
		return nil
	}
	p, err := prove(ctx, older.Size, newer.Size)
	if err != nil {
		return fmt.Errorf("fetching a consistency proof: %w", err)
	}
	return translog.VerifyConsistency(older, newer, p)
}
