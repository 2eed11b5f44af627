package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeShowsPages: the embedded default, vouch serve with no flag,
// shows the web pages at / beside the API.
func TestServeShowsPages(t *testing.T) {
	p := startServe(t, filepath.Join(t.TempDir(), "data"))
	for path, want := range map[string]string{"/": "Latest: tree size", "/entries": "genesis"} {
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			resp.Header.Get("Content-Security-Policy") == "" || !strings.Contains(string(b), want) {
			t.Fatalf("GET %s: %d %s\n%.1000s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
}
