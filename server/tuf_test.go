package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// TestTUFServesOnlyRepositoryFiles: versioned metadata, the timestamp and
// hashed targets are served; nothing else in the directory is.
func TestTUFServesOnlyRepositoryFiles(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	fsys := fstest.MapFS{
		"1.root.json":                    {Data: []byte(`{"root":1}`)},
		"timestamp.json":                 {Data: []byte(`{"ts":1}`)},
		"targets/" + hash + ".logs.json": {Data: []byte(`{"logs":[]}`)},
		"online.key":                     {Data: []byte("SECRET")},
		"keys/online.key":                {Data: []byte("SECRET")},
	}
	s := New(Config{TUF: fsys})
	for path, want := range map[string]int{
		"/tuf/1.root.json": 200, "/tuf/timestamp.json": 200, "/tuf/targets/" + hash + ".logs.json": 200,
		"/tuf/2.root.json": 404, "/tuf/online.key": 404, "/tuf/keys/online.key": 404, "/tuf/../online.key": 404,
		"/tuf/targets/online.key": 404, "/tuf/01.root.json": 404,
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want && !(want == 404 && rec.Code/100 == 3) {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
		if strings.Contains(rec.Body.String(), "SECRET") {
			t.Errorf("GET %s served a key", path)
		}
	}
	rec := httptest.NewRecorder()
	New(Config{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/tuf/timestamp.json", nil))
	if rec.Code != 404 {
		t.Errorf("without a repository: %d", rec.Code)
	}
}
