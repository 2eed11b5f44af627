package datadir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d, err := Open(dir, Options{Origin: "example.com/vouch"})
	if err != nil {
		t.Fatal(err)
	}
	if d.LogSigner.Name() != "example.com/vouch" || !strings.HasPrefix(d.LogVKey, "example.com/vouch+") {
		t.Fatalf("keys: %s %s", d.LogSigner.Name(), d.LogVKey)
	}
	for name, mode := range map[string]os.FileMode{LogKeyFile: 0o600, OperatorKeyFile: 0o600, LogVKeyFile: 0o644} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: %v %v", name, st, err)
		}
	}
	// A second process cannot open it while it is locked.
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
	op := d.OperatorKey.ID()
	d.Close()
	// Reopening keeps the keys and the origin; another origin is refused.
	d2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d2.OperatorKey.ID() != op || d2.Config.Origin != "example.com/vouch" {
		t.Fatal("keys or origin changed on reopen")
	}
	d2.Close()
	if _, err := Open(dir, Options{Origin: "other.example/vouch"}); err == nil || !strings.Contains(err.Error(), "cannot change") {
		t.Fatalf("origin change: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "x"), Options{Origin: "bad origin"}); err == nil {
		t.Fatal("origin with a space accepted")
	}
}
