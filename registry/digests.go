package registry

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"io"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// Content is named by sha256 everywhere in Vouch, but other ecosystems name
// it by sha384 or sha512 (npm's provenance names a tarball by sha512 only).
// The registry computes those digests of a release's content from the bytes
// it holds and writes them in the release's leaf (record.Entry.
// ContentDigests), so that a statement naming the content by any of them
// is about the release, and an auditor replaying the log reaches the same
// verdict.

// digester hashes content by the algorithms besides sha256.
type digester struct{ h384, h512 hash.Hash }

func newDigester() *digester { return &digester{sha512.New384(), sha512.New()} }

func (d *digester) Write(p []byte) (int, error) {
	d.h384.Write(p)
	d.h512.Write(p)
	return len(p), nil
}

func (d *digester) sums() []string {
	return []string{"sha384:" + hex.EncodeToString(d.h384.Sum(nil)), "sha512:" + hex.EncodeToString(d.h512.Sum(nil))}
}

func newDigestCache() *lru.Cache[string, []string] {
	c, _ := lru.New[string, []string](4096)
	return c
}

// digestingBlobs is the blob store as the registry writes to it: every Put
// (an upload, or linked content fetched) also computes the content's other
// digests, for the release that will name it.
type digestingBlobs struct {
	blob.Store
	cache *lru.Cache[string, []string]
}

func (b digestingBlobs) Put(ctx context.Context, digest string, r io.Reader, maxSize int64) (int64, error) {
	d := newDigester()
	n, err := b.Store.Put(ctx, digest, io.TeeReader(r, d), maxSize)
	if err == nil {
		b.cache.Add(digest, d.sums())
	}
	return n, err
}

// contentDigests returns the sha384 and sha512 digests of stored content
// (sha256 digest d), from the cache filled when it was stored, or by reading
// it (content stored by another server, or before this registry recorded
// them). Content not stored here has none (nil).
func (r *Registry) contentDigests(ctx context.Context, d string) ([]string, error) {
	if r.cfg.Blobs == nil {
		return nil, nil
	}
	if ds, ok := r.digests.Get(d); ok {
		return ds, nil
	}
	b, err := r.cfg.Blobs.Open(ctx, d)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, &UnavailableError{Err: err}
	}
	defer b.Close()
	// Verify checks the bytes still hash to d while it hashes them.
	dg := newDigester()
	if _, err := blob.Verify(ctx, d, b, dg, r.cfg.MaxBlobSize); err != nil {
		return nil, &UnavailableError{Err: err}
	}
	ds := dg.sums()
	r.digests.Add(d, ds)
	return ds, nil
}

// attachDigests gives a release or promote record the digests of the
// release's content, unless the release records them already.
func (r *Registry) attachDigests(ctx context.Context, e *record.Entry) error {
	rec := e.Record
	d := rec.Digest
	if rec.Type == record.TypePromote {
		rel, err := getState[state.Release](ctx, r, state.ReleaseKey(rec.Package, rec.Version), maxSize)
		if err != nil || rel == nil || len(rel.Digests) > 0 {
			return err
		}
		d = rel.Digest
	}
	ds, err := r.contentDigests(ctx, d)
	if err != nil {
		return err
	}
	e.ContentDigests = ds
	return nil
}
