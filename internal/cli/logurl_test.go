package cli

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
)

// TestLogURL: with --log-url, the log's checkpoint, tiles and bundles are
// read from there (here, a proxy of the registry's /log/), not from the
// registry.
func TestLogURL(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	env.Key(keys.Ed25519)
	env.Key(keys.Ed25519)
	u, _ := url.Parse(env.URL)
	var mu sync.Mutex
	var paths []string
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, "/log/") {
			http.NotFound(w, r)
			return
		}
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	t.Cleanup(mirror.Close)
	out := mustRun(t, env, t.TempDir(), "--log-url", mirror.URL, "log", "entry", "0")
	if !strings.Contains(out, "entry 0, logged") {
		t.Fatalf("vouch log entry 0: %s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	var tiles, bundles bool
	for _, p := range paths {
		tiles = tiles || strings.HasPrefix(p, "/log/tile/0/")
		bundles = bundles || strings.HasPrefix(p, "/log/tile/entries/")
		if !strings.HasPrefix(p, "/log/") {
			t.Errorf("the log URL was asked for %s", p)
		}
	}
	if !tiles || !bundles {
		t.Fatalf("the log URL served %v: want the checkpoint, a tile and a bundle", paths)
	}
}
