package state

import (
	"errors"

	"github.com/vouchdev/vouch/record"
)

// applyAttestation checks an attestation entry: every signature verifies
// (when the statement is at hand: it is at submission, and for auditors
// whenever it has not been erased), every signer is a registered key that is
// active at this point of the log, the same statement with the same signers
// is not logged twice, and at least one subject is the content of a release
// in this registry.
func applyAttestation(v View, e *record.Entry, env Env) (*Changes, error) {
	a := e.Attestation
	if err := e.Verify(LookupKey(v, env.Keys)); err != nil && !errors.Is(err, record.ErrNoBody) {
		return nil, RefusalOf(err)
	}
	for _, s := range a.Signatures {
		id, err := v.Identity(s.Signer)
		if err != nil {
			return nil, err
		}
		if id == nil {
			return nil, refuse(CodeUnknownKey, "signer %s is not a registered identity", s.Signer)
		}
		if id.Status != IdentityActive {
			return nil, refuse(CodeKeyInactive, "signer %s is %s and can no longer sign", s.Signer, id.Status)
		}
	}
	dup, err := v.Attestation(a)
	if err != nil {
		return nil, err
	}
	if dup {
		return nil, refuse(CodeConflict, "this statement, signed by these keys, is already in the log")
	}
	for _, d := range a.Subjects {
		ok, err := v.Content(d)
		if err != nil {
			return nil, err
		}
		if ok {
			return &Changes{Attestations: []string{a.DedupKey()}}, nil
		}
	}
	return nil, refuse(CodeUnknownSubject, "no subject of the statement is the content of a release in this registry (subjects %v)", a.Subjects)
}
