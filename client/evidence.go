package client

import (
	"context"
	"fmt"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// Evidence is everything the log says about one release, verified: the
// release as of a verified checkpoint, each record of its history proven
// included and its signatures checked, and each attestation about its
// content proven included with its statement's signatures checked.
type Evidence struct {
	Checkpoint   *translog.Checkpoint
	Release      *api.ReleaseResponse
	Owners       []string
	Records      []EvidenceRecord
	Attestations []*Attestation
}

// EvidenceRecord is one verified record of a release's history.
type EvidenceRecord struct {
	Index   uint64
	Type    string
	Role    string
	Signers []string
}

// Gather collects and verifies the evidence about name@version as of at.
// Any verification failure is an error: evidence is all verified or none.
// With at.Complete, the verifiable index proves the release's state and
// history and the list of every attestation about its content: an answer
// that hides a yank, a tombstone or one attestation is an *IncompleteError.
func (c *Client) Gather(ctx context.Context, name, version string, at At) (*Evidence, error) {
	rr, cp, err := c.Release(ctx, name, version, at)
	if err != nil {
		return nil, err
	}
	ev := &Evidence{Checkpoint: cp, Release: rr}
	if p, _, err := c.Package(ctx, name, At{Size: cp.Size, Complete: at.Complete}); err == nil {
		ev.Owners = p.Owners
	}
	ids := c.NewIdentityCache()
	for _, h := range rr.History {
		le, err := c.EntryIn(ctx, h.Index, cp)
		if err != nil {
			return nil, fmt.Errorf("history entry %d: %w", h.Index, err)
		}
		outer, err := record.ParseLeaf(le.Leaf)
		if err != nil || outer.Unwrap().Record == nil {
			return nil, fmt.Errorf("history entry %d is not a record", h.Index)
		}
		e := outer.Unwrap()
		if e.Record.Package != name || e.Record.Version != version || e.Record.Type != h.Action {
			return nil, fmt.Errorf("history entry %d is a %s of %s@%s, not a %s of %s@%s",
				h.Index, e.Record.Type, e.Record.Package, e.Record.Version, h.Action, name, version)
		}
		if err := outer.Verify(ids.Lookup(ctx)); err != nil {
			return nil, fmt.Errorf("history entry %d: %w", h.Index, err)
		}
		ev.Records = append(ev.Records, EvidenceRecord{Index: h.Index, Type: h.Action, Role: h.Role, Signers: outer.Signers()})
	}
	if rr.Digest == "" {
		return ev, nil
	}
	p := &QueryParams{Subject: rr.Digest, Kind: string(record.KindAttestation), Order: "asc", Limit: 1000,
		At: At{Size: cp.Size, Include: "all", Complete: at.Complete}}
	for {
		qr, _, err := c.Query(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, it := range qr.Items {
			a, err := c.Attestation(ctx, it.Index, cp, ids)
			if err != nil {
				return nil, err
			}
			ev.Attestations = append(ev.Attestations, a)
		}
		if qr.Next == "" {
			break
		}
		p.Cursor = qr.Next
	}
	return ev, nil
}

// Fields returns the typed fields of an attestation's predicate (see package
// predicate), or nil.
func (a *Attestation) Fields() map[string]any {
	if a.Predicate == nil {
		return nil
	}
	return predicate.Fields(a.PredicateType, a.Predicate)
}
