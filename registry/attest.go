package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
)

// resolveSigners finds, for every signature of an attestation envelope, the
// registered key that made it: the key its keyid names if that is a Vouch key
// ID, else the first of the hinted keys whose signature check passes.
func (r *Registry) resolveSigners(ctx context.Context, env *dsse.Envelope, hints []string) ([]string, error) {
	lookup := r.lookupKey(ctx)
	signers := make([]string, len(env.Signatures))
	for i, s := range env.Signatures {
		if keys.ValidID(s.KeyID) {
			if p, err := lookup(s.KeyID); err != nil {
				return nil, &UnavailableError{Err: err}
			} else if p != nil {
				signers[i] = s.KeyID
				continue
			}
		}
		for _, h := range hints {
			p, err := lookup(h)
			if err != nil {
				return nil, &UnavailableError{Err: err}
			}
			if p != nil && record.VerifySignature(env, i, p) == nil {
				signers[i] = h
				break
			}
		}
		if signers[i] == "" {
			return nil, &state.Refusal{Code: state.CodeUnknownKey, Msg: fmt.Sprintf(
				"signature %d (keyid %q) was made by no registered key: register the key, and if the signing tool labels signatures its own way, name the key with signer=<key ID>", i+1, s.KeyID)}
		}
	}
	return signers, nil
}

// appendAttestation resolves an attestation's signers, checks its
// signatures and predicate, and logs the attestation's reference; its
// statement is stored off the log in the same transaction.
func (r *Registry) appendAttestation(ctx context.Context, env *dsse.Envelope, payload []byte, hints []string) (Receipt, error) {
	if len(hints) > record.MaxSignatures {
		return Receipt{}, &state.Refusal{Code: state.CodeMalformed, Msg: "too many signer hints"}
	}
	for _, h := range hints {
		if !keys.ValidID(h) {
			return Receipt{}, &state.Refusal{Code: state.CodeMalformed, Msg: fmt.Sprintf("signer %q is not a key ID", h)}
		}
	}
	signers, err := r.resolveSigners(ctx, env, hints)
	if err != nil {
		return Receipt{}, err
	}
	e, err := record.NewAttestationEntry(env, payload, signers, r.lookupKey(ctx))
	if err != nil {
		if rf, ok := state.AsRefusal(state.RefusalOf(err)); ok {
			return Receipt{}, rf
		}
		return Receipt{}, &UnavailableError{Err: err}
	}
	if predicate.Known(e.Statement.PredicateType) {
		if err := predicate.Validate(e.Statement.PredicateType, e.Statement.Predicate()); err != nil {
			return Receipt{}, &state.Refusal{Code: state.CodeMalformed, Msg: err.Error()}
		}
	}
	// The statement (e.Payload) is kept off the log, in the store's
	// statements table, written in the same transaction as the entry.
	return r.Append(ctx, e, nil)
}

// Statement returns the statement of the attestation at log index idx, or
// erased=true if it was erased. The body is checked against the digest the
// log holds.
func (r *Registry) Statement(ctx context.Context, idx uint64, ref *record.AttestationRef) (body []byte, erased bool, err error) {
	got, err := r.st.StatementsOf(ctx, []uint64{idx})
	if err != nil {
		return nil, false, err
	}
	b, ok := got[idx]
	if !ok {
		return nil, true, nil
	}
	if record.Digest(b) != ref.PayloadDigest {
		return nil, false, fmt.Errorf("stored statement of entry %d is corrupt", idx)
	}
	return b, false, nil
}

// AttestationAt returns the attestation entry at a log index, with its body
// attached unless erased.
func (r *Registry) AttestationAt(ctx context.Context, index uint64) (*record.Entry, bool, error) {
	row, err := r.st.Entry(ctx, index)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, vouch.NotFound("entry %d", index)
	}
	if err != nil {
		return nil, false, err
	}
	e, err := record.ParseLeaf(row.Leaf)
	if err != nil {
		return nil, false, err
	}
	e = e.Unwrap()
	if e.Attestation == nil {
		return nil, false, vouch.Invalid("entry %d is a %s record, not an attestation", index, e.Record.Type)
	}
	body, erased, err := r.Statement(ctx, index, e.Attestation)
	if err != nil || erased {
		return e, erased, err
	}
	if err := e.AttachBody(body); err != nil {
		return nil, false, err
	}
	if e.Attestation.Bundle != nil {
		ks, err := r.st.KeylessOf(ctx, []uint64{index}, true)
		if err != nil {
			return nil, false, err
		}
		k, ok := ks[index]
		if !ok {
			return e, true, nil
		}
		if err := e.AttachBundle(k.Bundle); err != nil {
			return nil, false, fmt.Errorf("stored bundle of entry %d is corrupt: %w", index, err)
		}
	}
	return e, false, nil
}

// Statements returns the statement of every attestation among entries
// [from, from+n) of the latest checkpoint's tree (n at most 256).
func (r *Registry) Statements(ctx context.Context, from uint64, n int) ([]api.StatementBody, error) {
	cp, err := r.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if n < 1 || n > 256 {
		return nil, vouch.Invalid("count must be 1 to 256")
	}
	if from >= cp.Size {
		return nil, vouch.Invalid("from %d is beyond the latest checkpoint (%d)", from, cp.Size)
	}
	to := min(cp.Size, from+uint64(n))
	rows, err := r.st.Query(ctx, &store.Query{Size: to, From: from, Kind: string(record.KindAttestation), Limit: n})
	if err != nil {
		return nil, err
	}
	bodies, err := r.st.Statements(ctx, from, to)
	if err != nil {
		return nil, err
	}
	var keyless []uint64
	for _, row := range rows {
		if record.IsKeylessLeaf(row.Leaf) {
			keyless = append(keyless, row.Index)
		}
	}
	var bundles map[uint64]*store.Keyless
	if len(keyless) > 0 {
		if bundles, err = r.st.KeylessOf(ctx, keyless, true); err != nil {
			return nil, err
		}
	}
	out := make([]api.StatementBody, 0, len(rows))
	for _, row := range rows {
		b, ok := bodies[row.Index]
		sb := api.StatementBody{Index: row.Index, Statement: b, Erased: !ok}
		if k := bundles[row.Index]; k != nil && ok {
			sb.Bundle = k.Bundle
		}
		out = append(out, sb)
	}
	return out, nil
}
