package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrustThroughTUF is the README's way in: a client pins the registry's
// TUF root once and needs no log key; the log key is rotated and every
// command follows; an old timestamp served is refused as a rollback.
func TestTrustThroughTUF(t *testing.T) {
	data, home, work := filepath.Join(t.TempDir(), "data"), t.TempDir(), t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	registry := "http://" + addr
	vouch := func(wantOK bool, args ...string) string {
		t.Helper()
		cmd := exec.Command(vouchBin, args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "VOUCH_HOME="+home, "VOUCH_REGISTRY="+registry, "VOUCH_LOG_KEY=", "VOUCH_WITNESS_POLICY=")
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("vouch %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	p := startVouch(t, "serve", "--data", data, "--addr", addr)
	out := vouch(false, "log", "verify")
	if !strings.Contains(out, "vouch trust init") {
		t.Fatalf("without a pinned root or a log key: %s", out)
	}
	vouch(true, "trust", "init", "--root", filepath.Join(data, "tuf", "repository", "1.root.json"))
	vouch(true, "key", "generate", "--out", "alice.key")
	vouch(true, "identity", "register", "--key", "alice.key")
	id := strings.TrimSpace(vouch(true, "key", "id", "alice.key"))
	vouch(true, "package", "create", "acme/widget", "--key", "alice.key", "--owner", id)
	oldTimestamp, err := os.ReadFile(filepath.Join(data, "tuf", "repository", "timestamp.json"))
	if err != nil {
		t.Fatal(err)
	}
	p.stop(t)

	p = startVouch(t, "serve", "--data", data, "--addr", addr, "--rotate-log", "--origin", "e2e.test/vouch-2")
	out = vouch(true, "log", "verify")
	if !strings.Contains(out, "consistent") {
		t.Fatalf("log verify across the rotation: %s", out)
	}
	vouch(true, "show", "acme/widget")
	out = vouch(true, "trust", "show")
	if !strings.Contains(out, "e2e.test/vouch-2 (continues") {
		t.Fatalf("trust show: %s", out)
	}
	// A cache serving an old timestamp is refused.
	if err := os.WriteFile(filepath.Join(data, "tuf", "repository", "timestamp.json"), oldTimestamp, 0o644); err != nil {
		t.Fatal(err)
	}
	out = vouch(false, "log", "verify")
	if !strings.Contains(out, "rollback") {
		t.Fatalf("old timestamp: %s", out)
	}
	p.stop(t)
}
