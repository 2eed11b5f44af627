package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestDir(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("hello, blob")
	n, err := d.Put(ctx, digest(content), bytes.NewReader(content), 100)
	if err != nil || n != int64(len(content)) {
		t.Fatalf("put: %d %v", n, err)
	}
	b, err := d.Open(ctx, digest(content))
	if err != nil {
		t.Fatal(err)
	}
	b.Seek(7, io.SeekStart)
	rest, _ := io.ReadAll(b)
	b.Close()
	if string(rest) != "blob" || b.Size() != int64(len(content)) {
		t.Fatalf("read %q", rest)
	}
	// Mismatch and oversize store nothing.
	var mm *MismatchError
	if _, err := d.Put(ctx, digest([]byte("other")), bytes.NewReader(content), 100); !errors.As(err, &mm) {
		t.Fatalf("mismatch: %v", err)
	}
	var tl *TooLargeError
	if _, err := d.Put(ctx, digest(content), bytes.NewReader(content), 5); !errors.As(err, &tl) {
		t.Fatalf("too large: %v", err)
	}
	if _, err := d.Stat(ctx, digest([]byte("other"))); err != ErrNotFound {
		t.Fatalf("mismatched content stored: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Fatal("temporary files left")
	}
	// Path tricks in digests are refused.
	for _, bad := range []string{"sha256:../../etc/passwd", "sha256:" + strings.Repeat("A", 64), "md5:abc", ""} {
		if _, err := d.Open(ctx, bad); err == nil || err == ErrNotFound {
			t.Errorf("Open(%q) = %v", bad, err)
		}
	}
	if err := d.Delete(ctx, digest(content)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, digest(content)); err != ErrNotFound {
		t.Fatal("deleted blob still there")
	}
	if err := d.Delete(ctx, digest(content)); err != nil {
		t.Fatal("deleting a missing blob is an error")
	}
}
