package server_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/server"
)

// TestPagesBesideTheAPI: with Config.Pages, every path outside /api/,
// /log/ and /healthz goes to the pages, under the bounds of an API read: a
// deadline, and a body of at most MaxPageBody bytes.
func TestPagesBesideTheAPI(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Deadline(); !ok {
			http.Error(w, "no deadline", 500)
			return
		}
		b, err := io.ReadAll(r.Body)
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		io.WriteString(w, "page "+r.Method+" "+r.URL.Path+" "+strconv.Itoa(len(b)))
	})
	srv := httptest.NewServer(server.New(server.Config{Registry: env.Reg, Pages: pages}))
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		body         []byte
		status       int
		want         string
	}{
		{"GET", "/", nil, 200, "page GET / 0"},
		{"GET", "/packages/acme%2Fwidget", nil, 200, "page GET /packages/acme/widget 0"},
		{"POST", "/verify", []byte("policy=x"), 200, "page POST /verify 8"},
		{"POST", "/verify", bytes.Repeat([]byte("x"), server.MaxPageBody+1), 413, "body too large"},
		{"GET", "/api/v1/nope", nil, 404, `"not_found"`},
		{"GET", "/log/nope", nil, 404, `"not_found"`},
		{"GET", "/log", nil, 200, "page GET /log 0"},
		{"POST", "/log/checkpoint", nil, 405, `"method_not_allowed"`},
		{"GET", "/api/v1/checkpoint", nil, 200, `"rootHash"`},
		{"GET", "/healthz", nil, 200, "ok"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, bytes.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, resp.StatusCode, b, c.status, c.want)
		}
	}
}
