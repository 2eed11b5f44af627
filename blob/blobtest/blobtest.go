// Package blobtest is the conformance suite every blob.Store must pass.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/blob"
)

// Digest returns the sha256 digest of b.
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// Run checks s: streaming puts verified against their digest, nothing stored
// on a mismatch or over the limit, random access reads, stat, delete, and
// refusal of malformed digests.
func Run(t *testing.T, s blob.Store) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("0123456789abcdef"), 600000) // 9.6 MB: past S3's single-PUT size
	d := Digest(content)
	n, err := s.Put(ctx, d, bytes.NewReader(content), 16<<20)
	if err != nil || n != int64(len(content)) {
		t.Fatalf("put: %d %v", n, err)
	}
	if sz, err := s.Stat(ctx, d); err != nil || sz != int64(len(content)) {
		t.Fatalf("stat: %d %v", sz, err)
	}
	b, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if b.Size() != int64(len(content)) || b.ModTime().IsZero() {
		t.Fatalf("open: size %d, mod %v", b.Size(), b.ModTime())
	}
	if _, err := b.Seek(9_000_000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 32)
	if _, err := io.ReadFull(b, part); err != nil || !bytes.Equal(part, content[9_000_000:9_000_032]) {
		t.Fatalf("read after seek: %q %v", part, err)
	}
	b.Close()
	// Putting the same content again is fine.
	if _, err := s.Put(ctx, d, bytes.NewReader(content), 16<<20); err != nil {
		t.Fatal(err)
	}
	// A small blob takes the single-request path.
	small := []byte("a small blob")
	if n, err := s.Put(ctx, Digest(small), bytes.NewReader(small), 100); err != nil || n != int64(len(small)) {
		t.Fatalf("small put: %d %v", n, err)
	}
	if _, err := s.Put(ctx, Digest([]byte("not this")), bytes.NewReader(small), 100); err == nil {
		t.Fatal("a small mismatched blob was stored")
	}
	// A digest mismatch stores nothing.
	other := Digest([]byte("other"))
	var mm *blob.MismatchError
	if _, err := s.Put(ctx, other, bytes.NewReader(content), 16<<20); !errors.As(err, &mm) {
		t.Fatalf("mismatch: %v", err)
	}
	if _, err := s.Stat(ctx, other); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("mismatched content is visible: %v", err)
	}
	// Over the limit stores nothing.
	var tl *blob.TooLargeError
	big := bytes.Repeat([]byte("x"), 5000)
	if _, err := s.Put(ctx, Digest(big), bytes.NewReader(big), 4096); !errors.As(err, &tl) {
		t.Fatalf("too large: %v", err)
	}
	if _, err := s.Put(ctx, Digest(content), bytes.NewReader(content), 9<<20); !errors.As(err, &tl) {
		t.Fatalf("too large: %v", err)
	}
	if _, err := s.Stat(ctx, Digest(big)); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("oversized content is visible: %v", err)
	}
	// A reader that fails midway stores nothing.
	broken := io.MultiReader(bytes.NewReader(content[:1000]), errReader{})
	if _, err := s.Put(ctx, Digest(content[:2000]), broken, 16<<20); err == nil {
		t.Fatal("a failing upload succeeded")
	}
	if _, err := s.Stat(ctx, Digest(content[:2000])); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("a failed upload is visible: %v", err)
	}
	// Malformed digests are refused, never turned into paths or keys.
	for _, bad := range []string{"sha256:../../etc/passwd", "sha256:" + strings.Repeat("A", 64), "md5:00", "", "sha256:" + strings.Repeat("a", 63) + "/"} {
		if _, err := s.Stat(ctx, bad); err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat(%q) = %v", bad, err)
		}
		if _, err := s.Put(ctx, bad, strings.NewReader("x"), 10); err == nil {
			t.Errorf("Put(%q) accepted", bad)
		}
	}
	// Delete, twice.
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("deleted blob: %v", err)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Fatalf("deleting a missing blob: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
