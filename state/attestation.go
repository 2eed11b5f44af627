package state

import (
	"errors"
	"slices"
	"strings"

	"github.com/vouchdev/vouch/record"
)

// applyAttestation checks an attestation entry: every signature verifies
// (when the statement is at hand: it is at submission, and for auditors
// whenever it has not been erased), every signer is a registered key that is
// active at this point of the log, the same statement with the same signers
// is not logged twice, and at least one subject is the content of a release
// in this registry, named by its sha256 digest or by a sha384 or sha512
// digest recorded with a release.
//
// A keyless attestation (a Sigstore bundle signed with a short-lived
// certificate) has no registered signers: its bundle is verified against a
// Sigstore trusted root by the registry before it is sequenced, and by
// auditors that hold the root (package sigstore), not here. The same
// statement with the same signature is logged once.
func applyAttestation(v View, e *record.Entry, env Env) (*Changes, error) {
	a := e.Attestation
	if err := e.Verify(LookupKey(v, env.Keys)); err != nil && !errors.Is(err, record.ErrNoBody) && !errors.Is(err, record.ErrKeyless) {
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
	out := &Changes{Attestations: []string{a.DedupKey()}}
	if a.Bundle != nil {
		out.Keyless = a.DedupKey()
	}
	found := false
	for _, d := range a.Subjects {
		if strings.HasPrefix(d, "sha256:") {
			ok, err := v.Content(d)
			if err != nil {
				return nil, err
			}
			found = found || ok
			continue
		}
		c, err := v.ContentOf(d)
		if err != nil {
			return nil, err
		}
		if c != "" && !slices.Contains(a.Subjects, c) && !slices.Contains(out.Resolved, c) {
			out.Resolved = append(out.Resolved, c)
		}
		found = found || c != ""
	}
	if found {
		return out, nil
	}
	return nil, refuse(CodeUnknownSubject, "no subject of the statement is the content of a release in this registry (subjects %v)", a.Subjects)
}
