package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	tclient "github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/singleflight"

	"github.com/vouchdev/vouch/translog"
)

// Every proof the client checks is built from the log's hash tiles and entry
// bundles (c2sp.org/tlog-tiles) under <LogURL>/log/, the way any tlog-tiles
// client does: the tiles need not come from the registry, since the proof
// built from them is checked against a checkpoint signed by the trusted log
// key.

const (
	// maxTiles hash tiles are kept per client: at most 8 MiB of full tiles,
	// far more than the few tiles each proof's path crosses.
	maxTiles = 1024
	// maxBundles entry bundles are kept per client (a bundle holds up to
	// 256 leaves).
	maxBundles = 32
	// maxBundleBytes bounds one entry bundle's download: 256 leaves of at
	// most 64 KiB each, with their length prefixes.
	maxBundleBytes = layout.EntryBundleWidth * (2 + 1<<16)
)

// tileKey names a hash tile or an entry bundle; width 0 is a full one.
type tileKey struct {
	bundle       bool
	level, index uint64
	width        uint8
}

func (k tileKey) path() string {
	if k.bundle {
		return layout.EntriesPath(k.index, k.width)
	}
	return layout.TilePath(k.level, k.index, k.width)
}

func (k tileKey) full() tileKey { k.width = 0; return k }

// tileCache keeps the tiles and bundles a client fetched. A full tile never
// changes. A partial tile of width W holds the first W hashes of its row, the
// same for every tree size that ends the row there, so it too is keyed by
// its path; and a full tile answers for any of its partial ones. What is
// cached is only a hint: every proof built from it is checked against a
// signed checkpoint, and a proof that fails empties the cache so that a
// corrupt tile does not stay.
type tileCache struct {
	tiles   *lru.Cache[tileKey, []byte]
	bundles *lru.Cache[tileKey, []byte]
	flight  singleflight.Group
}

func newTileCache() *tileCache {
	t, _ := lru.New[tileKey, []byte](maxTiles)
	b, _ := lru.New[tileKey, []byte](maxBundles)
	return &tileCache{tiles: t, bundles: b}
}

func (tc *tileCache) lru(k tileKey) *lru.Cache[tileKey, []byte] {
	if k.bundle {
		return tc.bundles
	}
	return tc.tiles
}

func (tc *tileCache) get(k tileKey) ([]byte, bool) {
	if b, ok := tc.lru(k).Get(k); ok {
		return b, true
	}
	if k.width != 0 {
		return tc.lru(k).Get(k.full())
	}
	return nil, false
}

func (tc *tileCache) purge() {
	tc.tiles.Purge()
	tc.bundles.Purge()
}

// readTile is a tessera client.TileFetcherFunc over the cache and LogURL.
func (c *Client) readTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return c.readLog(ctx, tileKey{level: level, index: index, width: p})
}

// readBundle is a tessera client.EntryBundleFetcherFunc over the cache and
// LogURL.
func (c *Client) readBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	return c.readLog(ctx, tileKey{bundle: true, index: index, width: p})
}

// readLog returns a tile or bundle from the cache, or fetches it. A partial
// one that is not served is read from the full one, as tlog-tiles allows a
// log to drop partial tiles once the full one exists.
func (c *Client) readLog(ctx context.Context, k tileKey) ([]byte, error) {
	if b, ok := c.tiles.get(k); ok {
		return b, nil
	}
	b, err := c.fetchLog(ctx, k)
	if k.width != 0 && errors.Is(err, fs.ErrNotExist) {
		if fb, ferr := c.fetchLog(ctx, k.full()); ferr == nil {
			return fb, nil
		}
	}
	return b, err
}

// fetchLog downloads a tile or bundle once, however many callers want it at
// the same time, checks its shape and caches it.
func (c *Client) fetchLog(ctx context.Context, k tileKey) ([]byte, error) {
	v, err, _ := c.tiles.flight.Do(k.path(), func() (any, error) {
		limit := int64(layout.TileWidth * tlog.HashSize)
		if k.bundle {
			limit = maxBundleBytes
		}
		b, err := c.getLog(ctx, k.path(), limit)
		if err != nil {
			return nil, err
		}
		if err := checkShape(k, b); err != nil {
			return nil, fmt.Errorf("%s from %s: %w", k.path(), c.logBase, err)
		}
		c.tiles.lru(k).Add(k, b)
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// checkShape checks that a tile holds as many hashes, or a bundle as many
// entries, as its path says.
func checkShape(k tileKey, b []byte) error {
	want := int(k.width)
	if want == 0 {
		want = layout.TileWidth
	}
	if !k.bundle {
		if len(b) != want*tlog.HashSize {
			return fmt.Errorf("a tile of %d bytes, want %d hashes of %d bytes", len(b), want, tlog.HashSize)
		}
		return nil
	}
	var eb api.EntryBundle
	if err := eb.UnmarshalText(b); err != nil {
		return fmt.Errorf("malformed entry bundle: %w", err)
	}
	if len(eb.Entries) != want {
		return fmt.Errorf("an entry bundle of %d entries, want %d", len(eb.Entries), want)
	}
	return nil
}

// getLog fetches <LogURL>/log/<p>, reading at most limit bytes. A 404 is
// reported as fs.ErrNotExist, as tessera's fetchers do.
func (c *Client) getLog(ctx context.Context, p string, limit int64) ([]byte, error) {
	u := c.logURL("/log/" + p)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%s answered %s: %w", u, resp.Status, fs.ErrNotExist)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s answered %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", u, limit)
	}
	return b, nil
}

// readError is a failure to read the log's tiles or bundles, as opposed to
// tiles that were read and did not prove what they should.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// hashes converts the hashes of a proof built by tessera.
func hashes(p [][]byte) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(p))
	for i, h := range p {
		if len(h) != tlog.HashSize {
			return nil, fmt.Errorf("a proof hash of %d bytes", len(h))
		}
		copy(out[i][:], h)
	}
	return out, nil
}

// inclusionProof builds the proof of entry index in the tree of size size
// from the log's tiles. The caller checks it.
func (c *Client) inclusionProof(ctx context.Context, index, size uint64) (tlog.RecordProof, error) {
	pb, err := tclient.NewProofBuilder(ctx, size, c.readTile)
	if err != nil {
		return nil, err
	}
	p, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("building the inclusion proof of entry %d in the tree of size %d from the tiles at %s/log/: %v", index, size, c.logBase, err)
	}
	return hashes(p)
}

// leaf reads entry index from its entry bundle, as the tree of size size
// holds it. The caller proves it.
func (c *Client) leaf(ctx context.Context, index, size uint64) ([]byte, error) {
	bi := index / layout.EntryBundleWidth
	eb, err := tclient.GetEntryBundle(ctx, c.readBundle, bi, size)
	if err != nil {
		return nil, fmt.Errorf("reading entry %d from the entry bundles at %s/log/: %v", index, c.logBase, err)
	}
	off := index % layout.EntryBundleWidth
	if off >= uint64(len(eb.Entries)) {
		return nil, fmt.Errorf("entry bundle %s at %s/log/ holds %d entries, not entry %d",
			layout.EntriesPath(bi, layout.PartialTileSize(0, bi, size)), c.logBase, len(eb.Entries), index)
	}
	// The bundle is cached: hand out a copy.
	return bytes.Clone(eb.Entries[off]), nil
}

// tilesFailed reports a proof built from the tiles that did not verify. It
// empties the cache, so that a tile corrupted on the way is fetched again
// next time, and says, when it can, whether the tiles or the entry bundle
// are at fault: leaf is the entry read from its bundle, or nil.
func (c *Client) tilesFailed(ctx context.Context, index uint64, leaf []byte, cp *translog.Checkpoint, proof tlog.RecordProof, err error) error {
	defer c.tiles.purge()
	if leaf != nil {
		th, ferr := tclient.FetchLeafHashes(ctx, c.readTile, index, 1, cp.Size)
		if ferr == nil && len(th) == 1 && len(th[0]) == tlog.HashSize {
			var lh tlog.Hash
			copy(lh[:], th[0])
			if tlog.CheckRecord(proof, int64(cp.Size), cp.Hash, int64(index), lh) == nil {
				bi := index / layout.EntryBundleWidth
				return fmt.Errorf("entry %d: the entry bundle %s at %s/log/ does not hold the entry the signed checkpoint of size %d commits to (the bundle is corrupt, or from another log)",
					index, layout.EntriesPath(bi, layout.PartialTileSize(0, bi, cp.Size)), c.logBase, cp.Size)
			}
		}
	}
	return fmt.Errorf("entry %d: the hash tiles at %s/log/ do not prove it is in the signed checkpoint of size %d: %v (a tile is corrupt, or from another tree)",
		index, c.logBase, cp.Size, err)
}

// tilesMatch checks that the log's tiles hash to the root of cp.
func (c *Client) tilesMatch(ctx context.Context, cp *translog.Checkpoint) error {
	if cp.Size == 0 {
		return nil
	}
	nodes, err := tclient.FetchRangeNodes(ctx, cp.Size, c.readTile)
	if err != nil {
		return err
	}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r, err := rf.NewRange(0, cp.Size, nodes)
	if err != nil {
		return err
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return err
	}
	if !bytes.Equal(root, cp.Hash[:]) {
		return fmt.Errorf("the hash tiles at %s/log/ do not hash to the root of the signed checkpoint of size %d (a tile is corrupt, or from another tree)", c.logBase, cp.Size)
	}
	return nil
}
