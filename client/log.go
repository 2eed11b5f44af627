package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	tclient "github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// Checkpoint fetches the log's latest checkpoint (from LogURL), verifies its
// signature and its consistency with the held checkpoint, and makes it the
// held one. It returns the new checkpoint and the one held before (nil the
// first time).
func (c *Client) Checkpoint(ctx context.Context) (cp, prev *translog.Checkpoint, err error) {
	b, _, err := c.doAt(ctx, c.logBase, http.MethodGet, "/log/checkpoint", nil, nil, "")
	if err != nil {
		return nil, nil, err
	}
	cp, err = c.open(b, c.logBase)
	if err != nil {
		return nil, nil, err
	}
	prev, err = c.adopt(ctx, cp)
	return cp, prev, err
}

// open verifies a checkpoint's signature with the trusted log key, and
// says, when it fails, whether src (the URL it came from) serves another
// log or is not a Vouch registry at all.
func (c *Client) open(note []byte, src *url.URL) (*translog.Checkpoint, error) {
	cp, err := c.log.Open(note)
	if err == nil {
		return cp, nil
	}
	first, _, _ := strings.Cut(string(note), "\n")
	if first != c.log.Origin() {
		if cp, err := c.openOlder(note, first); cp != nil || err != nil {
			return cp, err
		}
	}
	switch {
	case !translog.LooksLikeCheckpoint(note):
		return nil, fmt.Errorf("%s does not serve a signed checkpoint at /log/checkpoint (it answered %q): it is not a Vouch registry, or not at this URL; %s",
			src, clip(first, 60), c.checkURL(src))
	case first != c.log.Origin():
		return nil, fmt.Errorf("the registry at %s serves the log %q, but the trusted log key is for the log %q: use the log key of the registry you mean (its log.vkey), or the registry the key belongs to",
			src, first, c.log.Origin())
	}
	return nil, fmt.Errorf("the checkpoint of %s is not signed by the trusted log key %s: %w (the registry, or something in between, is not the one this key trusts)",
		c.log.Origin(), c.log.Key(), err)
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// adopt verifies cp against the held checkpoint and makes it the held one.
func (c *Client) adopt(ctx context.Context, cp *translog.Checkpoint) (*translog.Checkpoint, error) {
	if cp.Origin != c.log.Origin() {
		return c.adoptOlder(ctx, cp)
	}
	var continued *translog.Checkpoint
	if len(c.links) > 1 {
		held, err := c.trust.Load(c.log)
		if err != nil {
			return nil, err
		}
		if held == nil {
			if continued, err = c.crossOver(ctx, cp); err != nil {
				return nil, err
			}
		}
	}
	if c.policy != nil {
		// A checkpoint that would move the client forward must carry the
		// policy's quorum; one at or below the held size is checked
		// against the held one instead, which carried it.
		held, err := c.trust.Load(c.log)
		if err != nil {
			return nil, err
		}
		if held == nil || cp.Size > held.Size {
			if err := c.policy.Check(cp.Note, cp.Size); err != nil {
				return held, err
			}
		}
	}
	held, err := c.trust.Advance(ctx, c.log, cp, c.ConsistencyProof)
	if held == nil && err == nil && continued != nil {
		// The first checkpoint of a log that continues another: what the
		// client held before is the other log's last checkpoint.
		return continued, nil
	}
	var fe *ForkError
	if !errors.As(err, &fe) || fe.Held == fe.Got {
		return held, err
	}
	var re *readError
	if errors.As(fe.Err, &re) {
		// Nothing was proven either way: the tiles could not be read.
		return held, fmt.Errorf("cannot check the checkpoint of size %d against the one of size %d this client holds: %w", fe.Got, fe.Held, re)
	}
	return held, c.blameTiles(ctx, fe, cp)
}

// blameTiles is called when the tiles did not prove one checkpoint extends
// another, and were read at the size of the larger, newer. Either the log
// forked, or the tiles are not the log's: fe says which. It also empties the
// cache, so that a tile corrupted on the way does not stay.
func (c *Client) blameTiles(ctx context.Context, fe *ForkError, newer *translog.Checkpoint) *ForkError {
	defer c.tiles.purge()
	if err := c.tilesMatch(ctx, newer); err != nil {
		return &ForkError{Held: fe.Held, Got: fe.Got, Err: fmt.Errorf("%w; %v", fe.Err, err)}
	}
	return fe
}

// Held returns the checkpoint this client holds for the log, or nil.
func (c *Client) Held() (*translog.Checkpoint, error) { return c.trust.Load(c.log) }

// VerifyLog fetches the newest checkpoint and checks that the log grew
// append-only since the held one. It returns both.
func (c *Client) VerifyLog(ctx context.Context) (held, latest *translog.Checkpoint, err error) {
	latest, held, err = c.Checkpoint(ctx)
	return held, latest, err
}

// Entry is a log entry whose inclusion in a verified checkpoint has been
// checked.
type Entry struct {
	Index uint64
	Leaf  []byte
	// Time is the log time the entry carries (zero if it does not parse).
	Time time.Time
	// Checkpoint is the verified checkpoint the entry was proven in.
	Checkpoint *translog.Checkpoint
}

// Entry reads entry index and proves it included in the latest verified
// checkpoint (fetched first).
func (c *Client) Entry(ctx context.Context, index uint64) (*Entry, error) {
	cp, _, err := c.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	return c.EntryIn(ctx, index, cp)
}

// EntryIn reads entry index from the log's entry bundles and proves it
// included in the verified checkpoint cp with a proof built from the log's
// tiles.
func (c *Client) EntryIn(ctx context.Context, index uint64, cp *translog.Checkpoint) (*Entry, error) {
	if index >= cp.Size {
		return nil, fmt.Errorf("entry %d is not in the log yet (the verified checkpoint has %d entries)", index, cp.Size)
	}
	leaf, err := c.leaf(ctx, index, cp.Size)
	if err != nil {
		return nil, err
	}
	if err := c.proveLeaf(ctx, index, tlog.RecordHash(leaf), leaf, cp); err != nil {
		return nil, err
	}
	e := &Entry{Index: index, Leaf: leaf, Checkpoint: cp}
	if le, err := record.ParseLeaf(leaf); err == nil {
		e.Time = le.Time
	}
	return e, nil
}

// ProveIncluded checks that leaf is entry index of the log, by an inclusion
// proof against cp (which must be verified).
func (c *Client) ProveIncluded(ctx context.Context, index uint64, leaf []byte, cp *translog.Checkpoint) error {
	return c.proveLeaf(ctx, index, tlog.RecordHash(leaf), nil, cp)
}

// ConsistencyProver returns a proof that the tree of size to extends the
// tree of size from (see Client.ConsistencyProof), for TrustStore.Advance.
type ConsistencyProver = func(ctx context.Context, from, to uint64) (tlog.TreeProof, error)

// ConsistencyProof builds, from the log's tiles, a proof that the tree of
// size to extends the tree of size from. The caller verifies it against
// checkpoints it trusts (see translog.VerifyConsistency).
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64) (tlog.TreeProof, error) {
	switch {
	case from > to:
		return nil, fmt.Errorf("no consistency proof from the tree of size %d to the smaller tree of size %d", from, to)
	case from == 0 || from == to:
		return tlog.TreeProof{}, nil
	}
	pb, err := tclient.NewProofBuilder(ctx, to, c.readTile)
	if err != nil {
		return nil, err
	}
	p, err := pb.ConsistencyProof(ctx, from, to)
	if err != nil {
		return nil, &readError{fmt.Errorf("building the consistency proof from the tree of size %d to %d from the tiles at %s/log/: %v", from, to, c.logBase, err)}
	}
	return hashes(p)
}

// ProveLeafHash checks that the entry with the given leaf hash is entry index
// of the log, by an inclusion proof against cp (which must be verified).
func (c *Client) ProveLeafHash(ctx context.Context, index uint64, leafHash tlog.Hash, cp *translog.Checkpoint) error {
	return c.proveLeaf(ctx, index, leafHash, nil, cp)
}

// proveLeaf checks that leafHash is entry index of the tree of cp, by an
// inclusion proof built from the log's tiles. leaf, if not nil, is the
// entry as read from its bundle, to blame the bundle rather than the tiles
// when it is the one at fault.
func (c *Client) proveLeaf(ctx context.Context, index uint64, leafHash tlog.Hash, leaf []byte, cp *translog.Checkpoint) error {
	if index >= cp.Size {
		return fmt.Errorf("entry %d is not in a tree of size %d", index, cp.Size)
	}
	proof, err := c.inclusionProof(ctx, index, cp.Size)
	if err != nil {
		return err
	}
	if err := tlog.CheckRecord(proof, int64(cp.Size), cp.Hash, int64(index), leafHash); err != nil {
		if leaf == nil {
			c.tiles.purge()
			return fmt.Errorf("inclusion proof of entry %d in tree %d, built from the tiles at %s/log/: %w", index, cp.Size, c.logBase, err)
		}
		return c.tilesFailed(ctx, index, leaf, cp, proof, err)
	}
	return nil
}

// Checkpoints lists the registry's stored checkpoints of size at least
// from, oldest first, at most limit, each verified with the log key;
// checkpoints of another log (one this log continues after a key
// rotation) are left out. They are not adopted (see VerifyCheckpoint).
func (c *Client) Checkpoints(ctx context.Context, from uint64, limit int) ([]*translog.Checkpoint, error) {
	var cl api.CheckpointList
	q := url.Values{}
	q.Set("from", strconv.FormatUint(from, 10))
	q.Set("limit", strconv.Itoa(limit))
	if err := c.getJSON(ctx, "/api/v1/checkpoints", q, &cl); err != nil {
		return nil, err
	}
	out := make([]*translog.Checkpoint, 0, len(cl.Checkpoints))
	last := uint64(0)
	for _, a := range cl.Checkpoints {
		if a == nil || a.Origin != c.log.Origin() {
			continue
		}
		cp, err := c.log.Open([]byte(a.Note))
		if err != nil {
			return nil, fmt.Errorf("checkpoint of size %d: %w", a.Size, err)
		}
		if cp.Size < from || cp.Size < last {
			return nil, fmt.Errorf("the registry listed checkpoints out of order (%d after %d)", cp.Size, last)
		}
		last = cp.Size
		out = append(out, cp)
	}
	return out, nil
}
