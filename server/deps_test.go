package server_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServerKnowsNoStore: the HTTP edge depends on the interfaces of
// package vouch only, so web pages, a mirror's read-only front and tests
// can serve any implementation; it never reaches the database.
func TestServerKnowsNoStore(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/vouchdev/vouch/store") || pkg == "github.com/vouchdev/vouch/registry" || pkg == "github.com/vouchdev/vouch/logcore" {
			t.Errorf("package server depends on %s", pkg)
		}
	}
}
