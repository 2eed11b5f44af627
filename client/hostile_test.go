package client

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// newTestClient returns a client of a registry served by h on loopback.
func newTestClient(t *testing.T, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, vkey, err := translog.GenerateLogKey("example.test/log")
	if err != nil {
		t.Fatal(err)
	}
	v, err := translog.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(srv.URL, Options{LogKey: v, Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFetchRefusesWrongContent serves content that is not what the release
// names: Fetch must fail and leave no file behind.
func TestFetchRefusesWrongContent(t *testing.T) {
	good := []byte("the release's content")
	digest := record.Digest(good)
	cases := []struct {
		name string
		body func(w io.Writer)
		size int64
		want func(error) bool
	}{
		{"other bytes", func(w io.Writer) { io.WriteString(w, "the release's CONTENT") }, int64(len(good)), isMismatch},
		// A server that streams without end is cut off at the declared size.
		{"endless", func(w io.Writer) { io.Copy(w, rand.Reader) }, int64(len(good)), isTooLarge},
		{"short", func(w io.Writer) { w.Write(good[:5]) }, -1, isMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.body(w) }))
			out := filepath.Join(t.TempDir(), "out")
			err := c.Fetch(context.Background(), digest, tc.size, out, nil)
			if err == nil {
				t.Fatal("Fetch accepted content that does not match the digest")
			}
			if !tc.want(err) {
				t.Fatalf("Fetch: %v", err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
				t.Fatalf("Fetch left %d files behind", len(entries))
			}
		})
	}
	t.Run("right content", func(t *testing.T) {
		c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(good) }))
		out := filepath.Join(t.TempDir(), "out")
		if err := c.Fetch(context.Background(), digest, int64(len(good)), out, nil); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(out); string(b) != string(good) {
			t.Fatalf("wrote %q", b)
		}
	})
}

func isMismatch(err error) bool {
	var e *blob.MismatchError
	return errors.As(err, &e)
}

func isTooLarge(err error) bool {
	var e *blob.TooLargeError
	return errors.As(err, &e)
}

// TestAnswerWithoutCheckpoint: a registry that answers a read without the
// checkpoint it is valid for is refused, for every read.
func TestAnswerWithoutCheckpoint(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	}))
	ctx := context.Background()
	reads := map[string]func() error{
		"package":   func() error { _, _, err := c.Package(ctx, "acme/widget", At{}); return err },
		"release":   func() error { _, _, err := c.Release(ctx, "acme/widget", "1.0.0", At{}); return err },
		"packages":  func() error { _, err := c.Packages(ctx, At{}, "", 0); return err },
		"operators": func() error { _, err := c.Operators(ctx); return err },
		"identity":  func() error { _, err := c.Identity(ctx, "sha256:"+strings.Repeat("ab", 32), At{}); return err },
		"query":     func() error { _, _, err := c.Query(ctx, &QueryParams{}); return err },
	}
	for name, read := range reads {
		if err := read(); err == nil || !strings.Contains(err.Error(), "no checkpoint") {
			t.Errorf("%s: an answer without a checkpoint: got %v", name, err)
		}
	}
}

// TestWrongRegistryMessages: a log key for another registry, and a server
// that is not a registry at all, each get an error that says so.
func TestWrongRegistryMessages(t *testing.T) {
	skey, _, _ := translog.GenerateLogKey("example.test/other-log")
	s, _ := translog.NewSigner(skey)
	other, _ := translog.Sign(s, 0, [32]byte{})
	cases := map[string]struct {
		h    http.HandlerFunc
		want string
	}{
		"another log": {func(w http.ResponseWriter, r *http.Request) { w.Write(other) },
			`serves the log "example.test/other-log", but the trusted log key is for the log "example.test/log"`},
		"a web site": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<!DOCTYPE html><html><body>Welcome</body></html>")
		}, "it is not a Vouch registry"},
		"a web site's 404": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(404)
			io.WriteString(w, "<!DOCTYPE html><html><body>"+strings.Repeat("Not here. ", 100)+"</body></html>")
		}, "answered 404 Not Found with an HTML page: it is not a Vouch registry"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := newTestClient(t, tc.h)
			_, _, err := c.Checkpoint(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "Not here. Not here.") {
				t.Fatalf("the page was dumped into the error: %v", err)
			}
		})
	}
}
