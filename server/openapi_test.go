package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestOpenAPIDescribesEveryRoute checks that the served OpenAPI document is
// valid JSON and documents every route the server registers.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`route\("([A-Z]+)", "([^"]+)"`)
	routes := re.FindAllStringSubmatch(string(src), -1)
	if len(routes) < 15 {
		t.Fatalf("found only %d routes in server.go", len(routes))
	}
	for _, r := range routes {
		method, path := strings.ToLower(r[1]), r[2]
		path = strings.Replace(path, "{path...}", "", 1)
		found := false
		for p, ops := range doc.Paths {
			if (p == path || strings.HasSuffix(path, "/") && strings.HasPrefix(p, path)) && ops[method] != nil {
				found = true
			}
		}
		if !found {
			t.Errorf("%s %s is not in openapi.json", r[1], r[2])
		}
	}
	s := New(Config{})
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	if rec.Code != 200 || !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("GET /api/v1/openapi.json: %d", rec.Code)
	}
}
