package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
)

// EraseReport says what an erasure removed.
type EraseReport struct {
	Profiles   int `json:"profiles"`
	Notes      int `json:"notes"`
	Statements int `json:"statements"`
	// Bundles counts keyless attestations' bundles and identities.
	Bundles int `json:"bundles,omitempty"`
}

// EraseIdentity erases everything off the log that belongs to an identity:
// its profile and salt, the notes of the records it signed, and the
// statements of the attestations it signed. The log itself is untouched, so
// every checkpoint and proof still verifies; reads show the items as erased.
func (r *Registry) EraseIdentity(ctx context.Context, keyID string) (*EraseReport, error) {
	id, err := getState[state.Identity](ctx, r, state.IdentityKey(keyID), maxSize)
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, vouch.NotFound("identity %s", keyID)
	}
	rep := &EraseReport{}
	var digests []string
	// Every key of the identity's rotation chain shares its profile.
	if id.Commitment != "" {
		digests = append(digests, id.Commitment)
		rep.Profiles++
	}
	var statements []uint64
	after := (*uint64)(nil)
	for {
		rows, err := r.st.Query(ctx, &store.Query{Size: maxSize, Signer: keyID, After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			e, err := record.ParseLeaf(row.Leaf)
			if err != nil {
				return nil, err
			}
			e = e.Unwrap()
			if rec := e.Record; rec != nil {
				if rec.Note != "" && !slices.Contains(digests, rec.Note) {
					digests = append(digests, rec.Note)
					rep.Notes++
				}
				if rec.Commitment != "" && !slices.Contains(digests, rec.Commitment) {
					digests = append(digests, rec.Commitment)
					rep.Profiles++
				}
			} else {
				statements = append(statements, row.Index)
			}
		}
		if len(rows) < 1000 {
			break
		}
		last := rows[len(rows)-1].Index
		after = &last
	}
	rep.Statements = len(statements)
	if err := r.erase(ctx, statements, digests); err != nil {
		return nil, err
	}
	r.log.Info("erased an identity's off-log data", "identity", keyID, "profiles", rep.Profiles, "notes", rep.Notes, "statements", rep.Statements)
	return rep, nil
}

// EraseAttestation erases the statement of the attestation at a log index.
func (r *Registry) EraseAttestation(ctx context.Context, index uint64) (*EraseReport, error) {
	row, err := r.st.Entry(ctx, index)
	if errors.Is(err, store.ErrNotFound) {
		return nil, vouch.NotFound("entry %d", index)
	}
	if err != nil {
		return nil, err
	}
	e, err := record.ParseLeaf(row.Leaf)
	if err != nil {
		return nil, err
	}
	if e.Unwrap().Attestation == nil {
		return nil, vouch.Invalid("entry %d is not an attestation", index)
	}
	if err := r.erase(ctx, []uint64{index}, nil); err != nil {
		return nil, err
	}
	r.log.Info("erased an attestation's statement", "index", index)
	return &EraseReport{Statements: 1}, nil
}

// erase removes statements and off-log data for good: it records the
// erasure (what, never the data) so that mirrors erase the same, deletes
// both, and compacts the database so that no copy lingers in its files.
func (r *Registry) erase(ctx context.Context, statements []uint64, digests []string) error {
	if len(statements) == 0 && len(digests) == 0 {
		return nil
	}
	if err := r.st.RecordErasure(ctx, &store.Erasure{Time: r.cfg.Now().UTC(), Statements: statements, OffLog: digests}); err != nil {
		return err
	}
	for _, i := range statements {
		r.statements.Remove(i)
	}
	if err := r.st.DeleteOffLog(ctx, digests); err != nil {
		return err
	}
	if err := r.st.DeleteStatements(ctx, statements); err != nil {
		return err
	}
	if err := r.st.Compact(ctx); err != nil {
		return fmt.Errorf("compacting the database after erasure: %w", err)
	}
	return nil
}

// Erasures lists the erasures recorded after sequence number after (for
// mirrors, which erase the same).
func (r *Registry) Erasures(ctx context.Context, after uint64, limit int) ([]api.Erasure, error) {
	es, err := r.st.Erasures(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]api.Erasure, len(es))
	for i, e := range es {
		out[i] = api.Erasure{Seq: e.Seq, Time: e.Time, Statements: e.Statements, OffLog: e.OffLog}
	}
	return out, nil
}

// ApplyErasure erases here what another registry erased (a mirror
// following its upstream), and records it for this registry's own mirrors.
func (r *Registry) ApplyErasure(ctx context.Context, e *api.Erasure) error {
	return r.erase(ctx, e.Statements, e.OffLog)
}

// OffLogData returns stored off-log data (a note's text, a profile's
// stored form) by digest, after checking it against its digest, or
// ErrNotFound if it was erased or never given.
func (r *Registry) OffLogData(ctx context.Context, digest string) (*api.OffLogData, error) {
	o, err := r.st.OffLog(ctx, digest)
	if errors.Is(err, store.ErrNotFound) {
		return nil, vouch.NotFound("off-log data %s (erased, or never given to this registry)", digest)
	}
	if err != nil {
		return nil, err
	}
	if err := api.CheckOffLog(digest, o.Kind, o.Data); err != nil {
		return nil, fmt.Errorf("stored off-log data %s is corrupt: %w", digest, err)
	}
	return &api.OffLogData{Digest: digest, Kind: o.Kind, Data: o.Data}, nil
}
