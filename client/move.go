package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// MaxMoves is how many moves Resolve follows before it gives up: a
// package that moved more often than that in a row is more likely a loop
// than a home.
const MaxMoves = 8

// ImportRef returns what another registry needs to import entry index of
// this log: the entry, proven in cp (which must be verified) with a proof
// built from the tiles, and cp itself, which the destination checks with
// this log's key. An entry that is itself an import is returned as the
// import it holds, which proves it in the log it came from: an import
// always names the log that sequenced the entry first.
func (c *Client) ImportRef(ctx context.Context, index uint64, cp *translog.Checkpoint) (*record.ImportRef, error) {
	e, err := c.EntryIn(ctx, index, cp)
	if err != nil {
		return nil, err
	}
	le, err := record.ParseLeaf(e.Leaf)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", index, err)
	}
	if le.Import != nil {
		return le.Import, nil
	}
	proof, err := c.inclusionProof(ctx, index, cp.Size)
	if err != nil {
		return nil, err
	}
	ref := &record.ImportRef{Origin: c.log.Origin(), VKey: c.log.Key(), Checkpoint: cp.Note, Index: index, Leaf: e.Leaf}
	for _, h := range proof {
		ref.Proof = append(ref.Proof, h[:])
	}
	return ref, nil
}

// Import submits an entry of another registry's log (see ImportRef), with
// the statement of an imported attestation (nil for a record, or for an
// attestation the source erased). With wait, the import is proven
// included like any write.
func (c *Client) Import(ctx context.Context, ref *record.ImportRef, statement []byte, wait bool) (*Receipt, error) {
	body, err := json.Marshal(struct {
		Import    *record.ImportRef `json:"import"`
		Statement []byte            `json:"statement,omitempty"`
	}{ref, statement})
	if err != nil {
		return nil, err
	}
	return c.submitBody(ctx, body, nil, wait)
}

// Follow returns a client for the registry a package moved to, trusting
// the log key its owners' move record names. It keeps this client's
// options: the same trust store (checkpoints are kept per log), HTTP
// client and witness policy, so a policy that requires witnesses requires
// them of the new registry's checkpoints too.
func (c *Client) Follow(loc *api.Location) (*Client, error) {
	if loc == nil || loc.URL == "" {
		return nil, errors.New("the move names no URL for the registry the package moved to")
	}
	v, err := translog.NewVerifier(loc.Key)
	if err != nil {
		return nil, fmt.Errorf("the move names an unusable log key: %w", err)
	}
	if v.Origin() != loc.Origin {
		return nil, fmt.Errorf("the move names log %s with a key of log %s", loc.Origin, v.Origin())
	}
	nc, err := New(loc.URL, Options{LogKey: v, Home: ".", HTTPClient: c.hc, UserAgent: c.ua, WitnessPolicy: c.policy})
	if err != nil {
		return nil, err
	}
	nc.trust = c.trust
	return nc, nil
}

// MovedError reports a package that moved to another registry, for reads
// that do not follow moves.
type MovedError struct {
	Name string
	To   api.Location
}

func (e *MovedError) Error() string {
	return fmt.Sprintf("package %s moved to %s (%s)", e.Name, e.To.Origin, e.To.URL)
}

// Resolve finds the registry that holds package name now. It reads the
// package here and, while it has moved, proves that its head record is the
// move its owners signed, naming the registry the answer says it went to,
// and follows the move (at most MaxMoves times). It returns the client for
// the registry that holds the package, the package as that registry
// answers, and the verified checkpoint the answer is for; the client is c
// itself when the package never moved. With complete, each registry's
// answer is proven complete by its verifiable index (see At.Complete).
func (c *Client) Resolve(ctx context.Context, name string, complete bool) (*Client, *api.Package, *translog.Checkpoint, error) {
	cur := c
	seen := map[string]bool{}
	for hop := 0; ; hop++ {
		p, cp, err := cur.Package(ctx, name, At{Complete: complete})
		if err != nil {
			return nil, nil, nil, err
		}
		if p.Status != "moved" {
			return cur, p, cp, nil
		}
		loc, err := cur.provenMove(ctx, p, cp)
		if err != nil {
			return nil, nil, nil, err
		}
		seen[cur.Origin()] = true
		if hop+1 >= MaxMoves || seen[loc.Origin] {
			return nil, nil, nil, fmt.Errorf("package %s: gave up following its moves at %s (moved %d times, or in a loop)", name, loc.Origin, hop+1)
		}
		if cur, err = cur.Follow(loc); err != nil {
			return nil, nil, nil, fmt.Errorf("package %s moved to %s: %w", name, loc.Origin, err)
		}
	}
}

// provenMove checks that the head record of moved package p, proven in cp
// by Package, is a move naming the registry p.Location names, and returns
// where it went, as the owners' record says.
func (c *Client) provenMove(ctx context.Context, p *api.Package, cp *translog.Checkpoint) (*api.Location, error) {
	e, err := c.EntryIn(ctx, p.HeadIndex, cp)
	if err != nil {
		return nil, err
	}
	le, err := record.ParseLeaf(e.Leaf)
	if err != nil {
		return nil, err
	}
	r := le.Unwrap().Record
	if r == nil || r.Type != record.TypeMove || r.Package != p.Name {
		return nil, fmt.Errorf("package %s is shown as moved, but its head record (entry %d) is not a move of it", p.Name, p.HeadIndex)
	}
	loc := &api.Location{Origin: r.To, Key: r.ToKey, URL: r.ToURL}
	if p.Location == nil || *p.Location != *loc {
		return nil, fmt.Errorf("package %s: the registry says it moved to %v, its owners' move record (entry %d) says %s", p.Name, p.Location, p.HeadIndex, r.To)
	}
	return loc, nil
}
