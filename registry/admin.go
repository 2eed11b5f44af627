package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// adminWindow is how far an admin request's time may be from the
// registry's clock.
const adminWindow = 10 * time.Minute

// Admin carries out an operator's signed request (a DSSE envelope of type
// api.AdminPayloadType, signed by a current operator key, made within ten
// minutes of the registry's clock). Admin requests change nothing in the
// log: erasure only removes off-log data.
func (r *Registry) Admin(ctx context.Context, body []byte) (any, error) {
	env, payload, err := record.ParseEnvelope(body)
	if err != nil {
		return nil, state.RefusalOf(err)
	}
	if env.PayloadType != api.AdminPayloadType {
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "an admin request's payloadType is " + api.AdminPayloadType}
	}
	var req api.AdminRequest
	d := json.NewDecoder(bytes.NewReader(payload))
	d.DisallowUnknownFields()
	if err := d.Decode(&req); err != nil {
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "admin request: " + err.Error()}
	}
	t, err := time.Parse(time.RFC3339Nano, req.Time)
	if err != nil {
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "admin request: time must be RFC 3339"}
	}
	if skew := r.cfg.Now().Sub(t); skew > adminWindow || skew < -adminWindow {
		return nil, &state.Refusal{Code: state.CodeNotAuthorized, Msg: fmt.Sprintf("admin request made at %s is too far from the registry's clock", req.Time)}
	}
	ops, err := r.Operators(ctx)
	if err != nil {
		return nil, err
	}
	lookup := r.lookupKey(ctx)
	operator := false
	for i, s := range env.Signatures {
		if !keys.ValidID(s.KeyID) {
			return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "admin request signatures must be labelled with Vouch key IDs"}
		}
		p, err := lookup(s.KeyID)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, &state.Refusal{Code: state.CodeUnknownKey, Msg: "admin request signed by unknown key " + s.KeyID}
		}
		if err := record.VerifySignature(env, i, p); err != nil {
			return nil, &state.Refusal{Code: state.CodeBadSignature, Msg: err.Error()}
		}
		id, err := getState[state.Identity](ctx, r, state.IdentityKey(s.KeyID), maxSize)
		if err != nil {
			return nil, err
		}
		if ops != nil && id != nil && id.Status == state.IdentityActive && slices.Contains(ops.Keys, id.Principal) {
			operator = true
		}
	}
	if !operator {
		return nil, &state.Refusal{Code: state.CodeNotAuthorized, Msg: "admin requests must be signed by an operator key"}
	}
	// A signed request is carried out once. Requests older than the clock
	// window are refused above, so their records can be forgotten then.
	fresh, err := r.st.UseOnce(ctx, record.Digest(payload), r.cfg.Now(), 2*adminWindow)
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, &state.Refusal{Code: state.CodeConflict, Msg: "this signed admin request was already carried out; a replay is refused (sign a new request)"}
	}
	switch {
	case req.Action == "erase" && req.Keyless != nil && req.Identity == "" && req.Attestation == nil:
		rep, err := r.EraseKeyless(ctx, req.Keyless.Issuer, req.Keyless.Subject)
		if err != nil {
			return nil, err
		}
		return api.EraseResponse(*rep), nil
	case req.Action == "erase" && req.Identity != "" && req.Attestation == nil && req.Keyless == nil:
		rep, err := r.EraseIdentity(ctx, req.Identity)
		if err != nil {
			return nil, err
		}
		return api.EraseResponse(*rep), nil
	case req.Action == "erase" && req.Attestation != nil && req.Identity == "" && req.Keyless == nil:
		rep, err := r.EraseAttestation(ctx, *req.Attestation)
		if err != nil {
			return nil, err
		}
		return api.EraseResponse(*rep), nil
	}
	return nil, &state.Refusal{Code: state.CodeMalformed, Msg: `admin request: action must be "erase" with exactly one of identity, attestation and keyless`}
}
