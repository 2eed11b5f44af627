package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vouchdev/vouch/internal/atomicfile"
)

// Dir stores blobs as files: <root>/sha256/<first two hex digits>/<hex>.
// Uploads are written to <root>/tmp, fsynced and renamed into place.
type Dir struct {
	root string
}

// OpenDir opens (creating) a directory blob store.
func OpenDir(root string) (*Dir, error) {
	for _, d := range []string{filepath.Join(root, "sha256"), filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// Leftovers of uploads interrupted by a crash are garbage.
	if ents, err := os.ReadDir(filepath.Join(root, "tmp")); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(root, "tmp", e.Name()))
		}
	}
	return &Dir{root: root}, nil
}

// hexOf validates a digest and returns its hex part.
func hexOf(digest string) (string, error) {
	h, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(h) != 64 {
		return "", fmt.Errorf("blob digest %q must be sha256:<64 hex digits>", digest)
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("blob digest %q must be lower-case hex", digest)
		}
	}
	return h, nil
}

func (d *Dir) path(digest string) (string, error) {
	h, err := hexOf(digest)
	if err != nil {
		return "", err
	}
	return filepath.Join(d.root, "sha256", h[:2], h), nil
}

// Put implements Store.
func (d *Dir) Put(ctx context.Context, digest string, r io.Reader, maxSize int64) (int64, error) {
	final, err := d.path(digest)
	if err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Join(d.root, "tmp"), "upload-")
	if err != nil {
		return 0, err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := Verify(ctx, digest, r, tmp, maxSize)
	if err != nil {
		return n, err
	}
	if err := tmp.Sync(); err != nil {
		return n, err
	}
	if err := tmp.Close(); err != nil {
		return n, err
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return n, err
	}
	if err := atomicfile.Rename(tmp.Name(), final); err != nil {
		return n, err
	}
	ok = true
	return n, nil
}

// Verify copies r to w, at most maxSize bytes, and checks that the content
// hashes to digest.
func Verify(ctx context.Context, digest string, r io.Reader, w io.Writer, maxSize int64) (int64, error) {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), &ctxReader{ctx: ctx, r: io.LimitReader(r, maxSize+1)})
	if err != nil {
		return n, err
	}
	if n > maxSize {
		return n, &TooLargeError{Limit: maxSize}
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return n, &MismatchError{Want: digest, Got: got}
	}
	return n, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type fileBlob struct {
	*os.File
	size int64
	mod  time.Time
}

func (f *fileBlob) Size() int64        { return f.size }
func (f *fileBlob) ModTime() time.Time { return f.mod }

// Open implements Store.
func (d *Dir) Open(_ context.Context, digest string) (Blob, error) {
	p, err := d.path(digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileBlob{File: f, size: st.Size(), mod: st.ModTime()}, nil
}

// Stat implements Store.
func (d *Dir) Stat(_ context.Context, digest string) (int64, error) {
	p, err := d.path(digest)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Delete implements Store.
func (d *Dir) Delete(_ context.Context, digest string) error {
	p, err := d.path(digest)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

var _ Store = (*Dir)(nil)
