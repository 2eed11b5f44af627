package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	if err := Write(p, []byte("first version, long"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("second"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "second" {
		t.Fatalf("read %q, %v", b, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", fi.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

func TestCreateRefusesToOverwrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key")
	if err := Create(p, []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Create(p, []byte("b"), 0o600); err == nil {
		t.Fatal("Create overwrote an existing file")
	}
	if b, _ := os.ReadFile(p); string(b) != "a" {
		t.Fatalf("content changed to %q", b)
	}
}

func TestWriteIntoMissingDirectoryFails(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "no", "such"), []byte("x"), 0o600); err == nil {
		t.Fatal("wrote into a directory that does not exist")
	}
}
