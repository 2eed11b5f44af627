// Package blob is Vouch's content-addressed blob store for release
// content. Blobs are named by "sha256:<hex>" digests; a Put
// verifies the digest while streaming and stores nothing on mismatch, so a
// blob that exists always has the bytes its name says.
//
// The embedded implementation is a directory (Dir); an S3-compatible one
// lives in blob/s3blob.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrNotFound is returned for a blob that is not stored.
var ErrNotFound = errors.New("blob not found")

// MismatchError reports content whose digest is not the one it was put as.
type MismatchError struct{ Want, Got string }

func (e *MismatchError) Error() string {
	return fmt.Sprintf("content digest is %s, not %s; nothing was stored", e.Got, e.Want)
}

// TooLargeError reports content over the size limit.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("content is larger than the limit of %d bytes; nothing was stored", e.Limit)
}

// Blob is stored content opened for reading, with random access for HTTP
// Range requests.
type Blob interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// Store is a content-addressed blob store.
type Store interface {
	// Put stores the content read from r under digest, reading at most
	// maxSize bytes. It returns *MismatchError or *TooLargeError, storing
	// nothing, if the content does not match. Putting an existing blob is a
	// no-op that still verifies r.
	Put(ctx context.Context, digest string, r io.Reader, maxSize int64) (int64, error)
	// Open opens a blob, or returns ErrNotFound.
	Open(ctx context.Context, digest string) (Blob, error)
	// Stat returns a blob's size, or ErrNotFound.
	Stat(ctx context.Context, digest string) (int64, error)
	// Delete removes a blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, digest string) error
}
