package content

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/record"
)

func TestFetch(t *testing.T) {
	good := []byte("linked content")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/good":
			w.Write(good)
		case "/other":
			w.Write([]byte("other content!"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	blobs, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := record.Digest(good)
	f := &Fetcher{Client: NewClient(true), Blobs: blobs, MaxSize: 1 << 20}
	if err := f.Fetch(ctx, srv.URL+"/good", d, int64(len(good))); err != nil {
		t.Fatal(err)
	}
	if n, err := blobs.Stat(ctx, d); err != nil || n != int64(len(good)) {
		t.Fatalf("stored %d, %v", n, err)
	}
	for path, gone := range map[string]bool{"/other": true, "/missing": true} {
		err := f.Fetch(ctx, srv.URL+path, record.Digest([]byte("x")), 14)
		var fe *FetchError
		if !errors.As(err, &fe) || fe.Gone != gone {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if err := f.Fetch(ctx, srv.URL+"/good", d, 2<<20); err == nil || !strings.Contains(err.Error(), "over the blob limit") {
		t.Fatalf("oversized: %v", err)
	}
	// The default client never reaches loopback: a release's URL cannot
	// make the registry probe its own network.
	public := &Fetcher{Client: NewClient(false), Blobs: blobs, MaxSize: 1 << 20}
	err = public.Fetch(ctx, srv.URL+"/good", d, int64(len(good)))
	if err == nil || !strings.Contains(err.Error(), "non-public address") {
		t.Fatalf("fetch from loopback: %v", err)
	}
}
