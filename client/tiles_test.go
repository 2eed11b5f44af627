package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// counter counts the requests a handler receives, by path.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[r.Method+" "+r.URL.Path]++
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (c *counter) reset() {
	c.mu.Lock()
	c.n = nil
	c.mu.Unlock()
}

// with returns the requests whose method and path start with prefix.
func (c *counter) with(prefix string) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// tileLog is a registry holding a release with attestations over more than
// one tile's worth of entries, a counting front for its API, and a copy of
// its /log/ as static files.
type tileLog struct {
	env      *testreg.Env
	api      *counter
	apiURL   string
	static   string // the directory copied from the registry's /log/
	old      *translog.Checkpoint
	final    *translog.Checkpoint
	attested []uint64 // entry indexes of the attestations
	pkg      string
}

const (
	tileTestAttestations = 20
	tileTestFiller       = 280 // identities between attestations: the log spans two bundles
)

func newTileLog(t *testing.T) *tileLog {
	t.Helper()
	ctx := context.Background()
	env := testreg.Start(t, testreg.Options{})
	l := &tileLog{env: env, api: &counter{}, pkg: "acme/widget"}
	u, _ := url.Parse(env.URL)
	front := httptest.NewServer(l.api.wrap(httputil.NewSingleHostReverseProxy(u)))
	t.Cleanup(front.Close)
	l.apiURL = front.URL

	c := env.Client()
	owner := env.Key(keys.Ed25519)
	env.Must(&record.Record{Type: record.TypeCreate, Package: l.pkg, Owners: []string{owner.ID()}}, owner)
	content := []byte("widget 1.0.0")
	digest := record.Digest(content)
	if err := c.UploadBlob(ctx, digest, bytes.NewReader(content), int64(len(content)), nil); err != nil {
		t.Fatal(err)
	}
	p, _, err := c.Package(ctx, l.pkg, client.At{})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(content))
	env.Must(&record.Record{Type: record.TypeRelease, Package: l.pkg, Version: "1.0.0", Digest: digest, Size: &n,
		MediaType: "application/octet-stream", Channel: "published", Prev: p.Head}, owner)
	attesters := []*keys.PrivateKey{env.Key(keys.Ed25519), env.Key(keys.ECDSAP256)}

	last := uint64(0)
	for i := 0; i < tileTestAttestations; i++ {
		stmt, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1",
			"subject":       []any{map[string]any{"name": "widget", "digest": map[string]string{"sha256": strings.TrimPrefix(digest, "sha256:")}}},
			"predicateType": predicate.Approval,
			"predicate":     map[string]any{"decision": "approved", "scope": fmt.Sprintf("check-%d", i)}})
		envl, err := record.Sign(record.InTotoPayloadType, stmt, attesters[i%2])
		if err != nil {
			t.Fatal(err)
		}
		rc, err := c.Submit(ctx, &client.Submission{Envelope: envl}, false)
		if err != nil {
			t.Fatalf("attestation %d: %v", i, err)
		}
		l.attested = append(l.attested, rc.Index)
		for j := 0; j < tileTestFiller/tileTestAttestations; j++ {
			k, _ := keys.Generate(keys.Ed25519)
			envl, err := record.SignRecord(&record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64(), Time: time.Now().UTC().Format(time.RFC3339)}, k)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := c.Submit(ctx, &client.Submission{Envelope: envl}, false)
			if err != nil {
				t.Fatal(err)
			}
			last = rc.Index
		}
		if i == tileTestAttestations/2 {
			// What a client verified before the rest was written.
			l.old = waitSize(t, env, last+1)
		}
	}
	l.final = waitSize(t, env, last+1)
	if l.final.Size <= layout.TileWidth {
		t.Fatalf("the log has %d entries; the test wants more than a tile", l.final.Size)
	}
	l.static = copyLog(t, env.URL, l.final)
	return l
}

// waitSize waits for the registry to sign a checkpoint of at least size
// entries and returns it.
func waitSize(t *testing.T, env *testreg.Env, size uint64) *translog.Checkpoint {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b := get(t, env.URL+"/log/checkpoint")
		cp, err := env.Verifier.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size >= size {
			return cp
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log stays at %d entries, want %d", cp.Size, size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", u, resp.Status, err)
	}
	return b
}

// tilePaths returns the path of every hash tile and entry bundle of a tree
// of the given size, under log/.
func tilePaths(size uint64) []string {
	var out []string
	for level := uint64(0); size>>(level*layout.TileHeight) > 0; level++ {
		n := size >> (level * layout.TileHeight)
		for i := uint64(0); i*layout.TileWidth < n; i++ {
			w := layout.PartialTileSize(level, i, size)
			out = append(out, "log/"+layout.TilePath(level, i, w))
			if level == 0 {
				out = append(out, "log/"+layout.EntriesPath(i, w))
			}
		}
	}
	return out
}

// copyLog copies the registry's checkpoint and every tile and entry bundle
// of cp's tree into a new directory, as a mirror would.
func copyLog(t *testing.T, base string, cp *translog.Checkpoint) string {
	t.Helper()
	dir := t.TempDir()
	write := func(p string, b []byte) {
		f := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("log/checkpoint", cp.Note)
	for _, p := range tilePaths(cp.Size) {
		write(p, get(t, base+"/"+p))
	}
	return dir
}

// cloneDir copies a static log directory, to tamper with the copy.
func cloneDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// serveStatic serves dir with a plain file server, counting requests.
func serveStatic(t *testing.T, dir string) (string, *counter) {
	t.Helper()
	cnt := &counter{}
	srv := httptest.NewServer(cnt.wrap(http.FileServer(http.Dir(dir))))
	t.Cleanup(srv.Close)
	return srv.URL, cnt
}

// client returns a client of the registry (through the counting front)
// that reads the log from logURL, keeping its checkpoints under home.
func (l *tileLog) client(t *testing.T, logURL, home string) *client.Client {
	t.Helper()
	c, err := client.New(l.apiURL, client.Options{LogKey: l.env.Verifier, Home: home, LogURL: logURL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// holding returns a trust store home that holds cp.
func (l *tileLog) holding(t *testing.T, cp *translog.Checkpoint) string {
	t.Helper()
	home := t.TempDir()
	if _, err := client.NewTrustStore(home).Advance(context.Background(), l.env.Verifier, cp, nil); err != nil {
		t.Fatal(err)
	}
	return home
}

// TestVerifyFromStaticTiles verifies a release's evidence from a copy of the
// log served as static files: the registry answers the JSON reads, but no
// proof and no entry comes from it, and no tile is fetched twice.
func TestVerifyFromStaticTiles(t *testing.T) {
	l := newTileLog(t)
	ctx := context.Background()
	staticURL, files := serveStatic(t, l.static)

	// The client verified an older checkpoint before: the release's is
	// proven consistent with it from the static tiles.
	home := l.holding(t, l.old)
	c := l.client(t, staticURL, home)
	l.api.reset()
	ev, err := c.Gather(ctx, l.pkg, "1.0.0", client.At{})
	if err != nil {
		t.Fatalf("Gather from static tiles: %v", err)
	}
	if ev.Checkpoint.Size != l.final.Size || len(ev.Records) == 0 || len(ev.Attestations) != tileTestAttestations {
		t.Fatalf("evidence at size %d with %d records and %d attestations", ev.Checkpoint.Size, len(ev.Records), len(ev.Attestations))
	}
	for i, a := range ev.Attestations {
		if !a.Verified || a.Index != l.attested[i] {
			t.Fatalf("attestation %d: %+v", i, a)
		}
	}
	if held, err := c.Held(); err != nil || held.Size != l.final.Size {
		t.Fatalf("held %v, %v", held, err)
	}
	for _, p := range []string{"GET /api/v1/proof/", "GET /api/v1/entries/", "GET /log/"} {
		if n := l.api.with(p); len(n) != 0 {
			t.Errorf("the registry received %v during verification", n)
		}
	}
	if len(l.api.with("GET /api/v1/")) == 0 {
		t.Error("the registry received no JSON reads: the test does not test what it says")
	}
	fetched := files.with("GET /log/tile/")
	if len(fetched) == 0 {
		t.Fatal("no tile was read from the static server")
	}
	for p, n := range fetched {
		if n > 1 {
			t.Errorf("%s fetched %d times", p, n)
		}
	}
	var bundles int
	for p := range fetched {
		if strings.HasPrefix(p, "GET /log/tile/entries/") {
			bundles++
		}
	}
	t.Logf("%d tiles and bundles (%d bundles) read for %d records and %d attestations over %d entries",
		len(fetched), bundles, len(ev.Records), len(ev.Attestations), l.final.Size)

	// The CLI's log commands read only /log/ too.
	files.reset()
	l.api.reset()
	if _, _, err := c.VerifyLog(ctx); err != nil {
		t.Fatal(err)
	}
	e, err := c.Entry(ctx, l.attested[3])
	if err != nil {
		t.Fatal(err)
	}
	if le, _ := record.ParseLeaf(e.Leaf); le == nil || le.Attestation == nil || e.Time.IsZero() || !e.Time.Equal(le.Time) {
		t.Fatalf("entry %d: %+v", e.Index, e)
	}
	if n := l.api.with(""); len(n) != 0 {
		t.Errorf("reading the log from the static server, the registry received %v", n)
	}
}

// TestStaticTilesTampered: a copy of the log with one entry bundle's byte
// flipped, one hash tile's byte flipped, or a checkpoint of another tree
// signed by the same key is refused, with an error that says what is wrong.
func TestStaticTilesTampered(t *testing.T) {
	l := newTileLog(t)
	ctx := context.Background()
	target := l.attested[len(l.attested)-1]
	bundle, off := target/layout.EntryBundleWidth, target%layout.EntryBundleWidth
	bundlePath := "log/" + layout.EntriesPath(bundle, layout.PartialTileSize(0, bundle, l.final.Size))
	tilePath := "log/" + layout.TilePath(0, bundle, layout.PartialTileSize(0, bundle, l.final.Size))

	flip := func(t *testing.T, dir, p string, at int) {
		t.Helper()
		f := filepath.Join(dir, filepath.FromSlash(p))
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b[at] ^= 0x01
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("entry bundle", func(t *testing.T) {
		dir := cloneDir(t, l.static)
		// A byte in the middle of the last attestation's leaf.
		at := leafOffset(t, filepath.Join(dir, filepath.FromSlash(bundlePath)), int(off))
		flip(t, dir, bundlePath, at)
		staticURL, _ := serveStatic(t, dir)
		_, err := l.client(t, staticURL, t.TempDir()).Gather(ctx, l.pkg, "1.0.0", client.At{})
		want := fmt.Sprintf("entry %d: the entry bundle %s at %s/log/ does not hold the entry the signed checkpoint of size %d commits to",
			target, strings.TrimPrefix(bundlePath, "log/"), staticURL, l.final.Size)
		t.Logf("refused: %v", err)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v\nwant it to say %q", err, want)
		}
	})

	t.Run("hash tile", func(t *testing.T) {
		dir := cloneDir(t, l.static)
		// The hash of the last attestation's neighbour, on its proof's path.
		flip(t, dir, tilePath, int(off^1)*tlog.HashSize+7)
		staticURL, _ := serveStatic(t, dir)
		_, err := l.client(t, staticURL, t.TempDir()).Gather(ctx, l.pkg, "1.0.0", client.At{})
		want := fmt.Sprintf("the hash tiles at %s/log/ do not prove it is in the signed checkpoint of size %d", staticURL, l.final.Size)
		t.Logf("refused: %v", err)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v\nwant it to say %q", err, want)
		}
		// A client that holds an older checkpoint needs the same tile to
		// prove the new one consistent with it: the tiles are blamed, not
		// the log.
		_, err = l.client(t, staticURL, l.holding(t, l.old)).Gather(ctx, l.pkg, "1.0.0", client.At{})
		var fe *client.ForkError
		want = fmt.Sprintf("the hash tiles at %s/log/ do not hash to the root of the signed checkpoint of size %d", staticURL, l.final.Size)
		t.Logf("refused: %v", err)
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
			t.Fatalf("consistency: got %v\nwant a ForkError saying %q", err, want)
		}
	})

	t.Run("forked checkpoint", func(t *testing.T) {
		// The same log key signs two other trees: one of the same size as
		// the client's, one that shares all but the last entry with it and
		// then goes on. Each is served with its own, self-consistent tiles.
		skey, err := os.ReadFile(filepath.Join(l.env.Dir, datadir.LogKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		signer, err := translog.NewSigner(strings.TrimSpace(string(skey)))
		if err != nil {
			t.Fatal(err)
		}
		leaves := readLeaves(t, l.static, l.final.Size)
		forked := append(leaves[:len(leaves)-1:len(leaves)-1], []byte("another last entry"))
		for _, tc := range []struct {
			name   string
			leaves [][]byte
			want   string
		}{
			{"same size", forked, "same size, different root hash"},
			{"larger", append(forked, []byte("and"), []byte("more")), fmt.Sprintf("tree %d is not consistent with tree %d", len(forked)+2, l.final.Size)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				staticURL, _ := serveStatic(t, writeTree(t, signer, tc.leaves))
				home := t.TempDir()
				if _, _, err := l.client(t, l.env.URL, home).Checkpoint(ctx); err != nil {
					t.Fatal(err)
				}
				c := l.client(t, staticURL, home)
				_, _, err := c.VerifyLog(ctx)
				var fe *client.ForkError
				t.Logf("refused: %v", err)
				if !errors.As(err, &fe) || fe.Held != l.final.Size || fe.Got != uint64(len(tc.leaves)) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v\nwant a ForkError saying %q", err, tc.want)
				}
				if held, err := c.Held(); err != nil || held.Hash != l.final.Hash {
					t.Fatalf("the held checkpoint changed: %v %v", held, err)
				}
			})
		}
	})
}

// leafOffset returns the offset of a byte in the middle of entry i of the
// bundle file f.
func leafOffset(t *testing.T, f string, i int) int {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	at := 0
	for ; i > 0; i-- {
		at += 2 + int(binary.BigEndian.Uint16(b[at:]))
	}
	return at + 2 + int(binary.BigEndian.Uint16(b[at:]))/2
}

// readLeaves reads the leaves of a tree of the given size from a static
// copy of its log.
func readLeaves(t *testing.T, dir string, size uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for i := uint64(0); i*layout.EntryBundleWidth < size; i++ {
		b, err := os.ReadFile(filepath.Join(dir, "log", filepath.FromSlash(layout.EntriesPath(i, layout.PartialTileSize(0, i, size)))))
		if err != nil {
			t.Fatal(err)
		}
		var eb api.EntryBundle
		if err := eb.UnmarshalText(b); err != nil {
			t.Fatal(err)
		}
		out = append(out, eb.Entries...)
	}
	return out
}

// hashMap is a tlog.HashReader over stored hashes in memory.
type hashMap map[int64]tlog.Hash

func (m hashMap) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		h, ok := m[x]
		if !ok {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = h
	}
	return out, nil
}

// writeTree writes the log of a tree of the given leaves, its checkpoint
// signed by signer, as static files in a new directory.
func writeTree(t *testing.T, signer note.Signer, leaves [][]byte) string {
	t.Helper()
	hm := hashMap{}
	for i, leaf := range leaves {
		hs, err := tlog.StoredHashes(int64(i), leaf, hm)
		if err != nil {
			t.Fatal(err)
		}
		for j, h := range hs {
			hm[tlog.StoredHashIndex(0, int64(i))+int64(j)] = h
		}
	}
	size := uint64(len(leaves))
	root, err := tlog.TreeHash(int64(size), hm)
	if err != nil {
		t.Fatal(err)
	}
	note, err := translog.Sign(signer, size, root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(p string, b []byte) {
		f := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("log/checkpoint", note)
	for _, p := range tilePaths(size) {
		rest := strings.TrimPrefix(p, "log/tile/")
		level, idx, _ := strings.Cut(rest, "/")
		if level == "entries" {
			i, w, err := layout.ParseTileIndexPartial(idx)
			if err != nil {
				t.Fatal(err)
			}
			b, err := translog.EncodeBundle(leaves[i*layout.EntryBundleWidth : i*layout.EntryBundleWidth+uint64(bundleLen(w))])
			if err != nil {
				t.Fatal(err)
			}
			write(p, b)
			continue
		}
		l, i, w, err := layout.ParseTileLevelIndexPartial(level, idx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := translog.TileData(l, i, int(w), size, hm)
		if err != nil {
			t.Fatal(err)
		}
		write(p, b)
	}
	return dir
}

func bundleLen(w uint8) int {
	if w == 0 {
		return layout.EntryBundleWidth
	}
	return int(w)
}
