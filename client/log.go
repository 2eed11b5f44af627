package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/translog"
)

// Checkpoint fetches the log's latest checkpoint, verifies its signature and
// its consistency with the held checkpoint, and makes it the held one. It
// returns the new checkpoint and the one held before (nil the first time).
func (c *Client) Checkpoint(ctx context.Context) (cp, prev *translog.Checkpoint, err error) {
	b, _, err := c.do(ctx, http.MethodGet, "/log/checkpoint", nil, nil, "")
	if err != nil {
		return nil, nil, err
	}
	cp, err = c.open(b)
	if err != nil {
		return nil, nil, err
	}
	prev, err = c.adopt(ctx, cp)
	return cp, prev, err
}

// open verifies a checkpoint's signature with the trusted log key, and
// says, when it fails, whether the registry serves another log or is not
// a Vouch registry at all.
func (c *Client) open(note []byte) (*translog.Checkpoint, error) {
	cp, err := c.log.Open(note)
	if err == nil {
		return cp, nil
	}
	first, _, _ := strings.Cut(string(note), "\n")
	switch {
	case !translog.LooksLikeCheckpoint(note):
		return nil, fmt.Errorf("%s does not serve a signed checkpoint at /log/checkpoint (it answered %q): it is not a Vouch registry, or not at this URL; check --registry (VOUCH_REGISTRY)",
			c.base, clip(first, 60))
	case first != c.log.Origin():
		return nil, fmt.Errorf("the registry at %s serves the log %q, but the trusted log key is for the log %q: use the log key of the registry you mean (its log.vkey), or the registry the key belongs to",
			c.base, first, c.log.Origin())
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
	return c.trust.Advance(ctx, c.log, cp, c.consistencyRaw)
}

func (c *Client) consistencyRaw(ctx context.Context, from, to uint64) ([]byte, error) {
	b, _, err := c.do(ctx, http.MethodGet, "/api/v1/proof/consistency",
		url.Values{"from": {strconv.FormatUint(from, 10)}, "to": {strconv.FormatUint(to, 10)}}, nil, "")
	return b, err
}

func decodeProofJSON(raw []byte) (tlog.TreeProof, error) {
	var cj api.ConsistencyResponse
	if err := json.Unmarshal(raw, &cj); err != nil {
		return nil, fmt.Errorf("malformed consistency proof: %w", err)
	}
	return decodeHashes(cj.Proof)
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
	Index      uint64
	Leaf       []byte
	Time       time.Time
	Integrated time.Time
	// Checkpoint is the verified checkpoint the entry was proven in.
	Checkpoint *translog.Checkpoint
}

// Entry fetches entry index and proves it included in the latest verified
// checkpoint (fetched first).
func (c *Client) Entry(ctx context.Context, index uint64) (*Entry, error) {
	cp, _, err := c.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	return c.EntryIn(ctx, index, cp)
}

// EntryIn fetches entry index and proves it included in the verified
// checkpoint cp.
func (c *Client) EntryIn(ctx context.Context, index uint64, cp *translog.Checkpoint) (*Entry, error) {
	if index >= cp.Size {
		return nil, fmt.Errorf("entry %d is not in the log yet (the verified checkpoint has %d entries)", index, cp.Size)
	}
	var ej api.EntryResponse
	if err := c.getJSON(ctx, "/api/v1/entries/"+strconv.FormatUint(index, 10),
		url.Values{"size": {strconv.FormatUint(cp.Size, 10)}}, &ej); err != nil {
		return nil, err
	}
	leaf, err := base64.StdEncoding.DecodeString(ej.Leaf)
	if err != nil {
		return nil, errors.New("malformed entry: leaf is not base64")
	}
	if ej.Index != index || ej.TreeSize != cp.Size {
		return nil, fmt.Errorf("asked for entry %d in tree %d, got entry %d in tree %d", index, cp.Size, ej.Index, ej.TreeSize)
	}
	proof, err := decodeHashes(ej.InclusionProof)
	if err != nil {
		return nil, err
	}
	if err := translog.VerifyInclusion(cp, index, leaf, proof); err != nil {
		return nil, err
	}
	e := &Entry{Index: index, Leaf: leaf, Time: ej.Time, Checkpoint: cp}
	if ej.IntegratedTime != nil {
		e.Integrated = *ej.IntegratedTime
	}
	return e, nil
}

// ProveIncluded checks that leaf is entry index of the log, by an inclusion
// proof against cp (which must be verified).
func (c *Client) ProveIncluded(ctx context.Context, index uint64, leaf []byte, cp *translog.Checkpoint) error {
	return c.proveLeafHash(ctx, index, tlog.RecordHash(leaf), cp)
}

// ConsistencyProof fetches a proof that the tree of size to extends the tree
// of size from. The caller verifies it against checkpoints it trusts (see
// translog.VerifyConsistency).
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64) (tlog.TreeProof, error) {
	raw, err := c.consistencyRaw(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return decodeProofJSON(raw)
}

// ProveLeafHash checks that the entry with the given leaf hash is entry index
// of the log, by an inclusion proof against cp (which must be verified).
func (c *Client) ProveLeafHash(ctx context.Context, index uint64, leafHash tlog.Hash, cp *translog.Checkpoint) error {
	return c.proveLeafHash(ctx, index, leafHash, cp)
}
