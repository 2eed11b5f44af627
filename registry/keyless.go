package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/sigstore"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
)

// checkCodes are the refusal codes of the checks a keyless bundle fails.
var checkCodes = map[string]state.Code{
	sigstore.CheckChain:     state.CodeBundleChain,
	sigstore.CheckExpired:   state.CodeBundleExpired,
	sigstore.CheckLogProof:  state.CodeBundleLogProof,
	sigstore.CheckTimestamp: state.CodeBundleTimestamp,
	sigstore.CheckSignature: state.CodeBadSignature,
	sigstore.CheckFormat:    state.CodeMalformed,
}

// appendBundle takes a Sigstore bundle or a PEP 740 attestation. One signed
// with a key holds a DSSE envelope, which goes the way of every envelope:
// its key must be registered. One signed with a short-lived certificate
// (keyless) is verified here, against the configured trusted roots, with no
// network; the state machine then checks its subject and replays. The
// bundle and the identity its certificate names are kept off the log, with
// the statement.
func (r *Registry) appendBundle(ctx context.Context, doc []byte, hints []string) (Receipt, error) {
	d, err := sigstore.Parse(doc)
	if err != nil {
		return Receipt{}, &state.Refusal{Code: state.CodeMalformed, Msg: err.Error()}
	}
	if d.Certificate == nil {
		return r.appendKeyBundle(ctx, d, hints)
	}
	stmt := d.Statement()
	if int64(len(stmt)) > r.cfg.MaxAttestationSize {
		return Receipt{}, &state.Refusal{Code: state.CodeTooLarge, Msg: fmt.Sprintf("statement is %d bytes; the limit is %d", len(stmt), r.cfg.MaxAttestationSize)}
	}
	res, err := r.cfg.Sigstore.Verify(d)
	if err != nil {
		var ce *sigstore.CheckError
		if errors.As(err, &ce) {
			return Receipt{}, &state.Refusal{Code: checkCodes[ce.Check], Msg: ce.Error()}
		}
		return Receipt{}, &UnavailableError{Err: err}
	}
	e, err := record.NewKeylessEntry(stmt, doc, d.Ref(res.Root.Digest))
	if err != nil {
		return Receipt{}, refusalOrUnavailable(err)
	}
	if predicate.Known(e.Statement.PredicateType) {
		if err := predicate.Validate(e.Statement.PredicateType, e.Statement.Predicate()); err != nil {
			return Receipt{}, &state.Refusal{Code: state.CodeMalformed, Msg: err.Error()}
		}
	}
	id, err := json.Marshal(res.Identity)
	if err != nil {
		return Receipt{}, err
	}
	return r.append(ctx, &pending{e: e, keyless: &store.Keyless{Bundle: doc, Identity: id, Issuer: res.Identity.Issuer, Subject: res.Identity.Subject}})
}

// appendKeyBundle takes a bundle signed with a key: its DSSE envelope is
// an attestation like any other, signed by a registered key, which the
// bundle's key hint may name (as a Vouch key ID, or the base64 SHA-256 of
// the key that sigstore-go and cosign write).
func (r *Registry) appendKeyBundle(ctx context.Context, d *sigstore.Document, hints []string) (Receipt, error) {
	if d.Content != record.BundleDSSE {
		return Receipt{}, &state.Refusal{Code: state.CodeMalformed, Msg: "a message signature made with a key (not a certificate) cannot be checked against a registered key: " +
			"sign an in-toto statement instead (cosign attest-blob --key, or vouch attest), or sign keyless"}
	}
	if int64(len(d.Payload)) > r.cfg.MaxAttestationSize {
		return Receipt{}, &state.Refusal{Code: state.CodeTooLarge, Msg: fmt.Sprintf("statement is %d bytes; the limit is %d", len(d.Payload), r.cfg.MaxAttestationSize)}
	}
	if id := d.KeyID(); id != "" && !slices.Contains(hints, id) {
		hints = append(hints, id)
	}
	env := &dsse.Envelope{PayloadType: d.PayloadType, Payload: base64.StdEncoding.EncodeToString(d.Payload),
		Signatures: []dsse.Signature{{KeyID: d.SigKeyID, Sig: base64.StdEncoding.EncodeToString(d.Sig)}}}
	env, payload, err := record.CanonicalEnvelope(env)
	if err != nil {
		return Receipt{}, state.RefusalOf(err)
	}
	return r.appendAttestation(ctx, env, payload, hints)
}

func refusalOrUnavailable(err error) error {
	if rf, ok := state.AsRefusal(state.RefusalOf(err)); ok {
		return rf
	}
	return &UnavailableError{Err: err}
}

// identitiesOf returns the signer identities of the keyless attestations
// among rows (by index), in one query; erased ones are absent.
func (r *Registry) identitiesOf(ctx context.Context, rows []*store.EntryRow) (map[uint64][]api.CertIdentity, error) {
	var idxs []uint64
	for _, row := range rows {
		if row.Kind == string(record.KindAttestation) && record.IsKeylessLeaf(row.Leaf) {
			idxs = append(idxs, row.Index)
		}
	}
	if len(idxs) == 0 {
		return nil, nil
	}
	ks, err := r.st.KeylessOf(ctx, idxs, false)
	if err != nil {
		return nil, err
	}
	out := make(map[uint64][]api.CertIdentity, len(ks))
	for idx, k := range ks {
		var id api.CertIdentity
		if err := json.Unmarshal(k.Identity, &id); err != nil {
			return nil, fmt.Errorf("stored identity of entry %d is corrupt: %w", idx, err)
		}
		out[idx] = []api.CertIdentity{id}
	}
	return out, nil
}

// EraseKeyless erases everything off the log about a keyless signer, named
// exactly by the issuer and subject its certificates carry: the bundles,
// identities and statements of every keyless attestation it signed. The
// log is untouched.
func (r *Registry) EraseKeyless(ctx context.Context, issuer, subject string) (*EraseReport, error) {
	if issuer == "" || subject == "" {
		return nil, vouch.Invalid("a keyless identity is named by its issuer and its subject")
	}
	var idxs []uint64
	var after *uint64
	for {
		rows, err := r.st.Query(ctx, &store.Query{Size: maxSize, Identity: &store.IdentityFilter{Issuer: issuer, Subject: subject}, After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			idxs = append(idxs, row.Index)
		}
		if len(rows) < 1000 {
			break
		}
		last := rows[len(rows)-1].Index
		after = &last
	}
	if len(idxs) == 0 {
		return nil, vouch.NotFound("no keyless attestation of that identity is stored")
	}
	// Recorded in the erasure feed by index only, so that mirrors erase
	// the same statements and bundles without learning whose they were.
	if err := r.erase(ctx, idxs, nil); err != nil {
		return nil, err
	}
	// The identity is personal data: it is not logged.
	r.log.Info("erased a keyless identity's off-log data", "statements", len(idxs))
	return &EraseReport{Statements: len(idxs), Bundles: len(idxs)}, nil
}
