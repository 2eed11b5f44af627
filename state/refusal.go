package state

import (
	"errors"
	"fmt"

	"github.com/vouchdev/vouch/record"
)

// Code classifies why an entry was refused. Servers map codes to HTTP
// statuses; the auditor reports them.
type Code string

// Refusal codes.
const (
	CodeMalformed         Code = "malformed"
	CodeTooLarge          Code = "too_large"
	CodeBadSignature      Code = "bad_signature"
	CodeUnknownKey        Code = "unknown_key"
	CodeKeyInactive       Code = "key_inactive"
	CodeNotAuthorized     Code = "not_authorized"
	CodeStalePrev         Code = "stale_prev"
	CodeIdentityExists    Code = "identity_exists"
	CodePackageExists     Code = "package_exists"
	CodeVersionExists     Code = "version_exists"
	CodeUnknownPackage    Code = "unknown_package"
	CodeUnknownRelease    Code = "unknown_release"
	CodeUnknownIdentity   Code = "unknown_identity"
	CodeInvalidTransition Code = "invalid_transition"
	CodeWindowClosed      Code = "delete_window_closed"
	CodeNoOperator        Code = "no_operator"
	CodeGenesisExists     Code = "genesis_exists"
	CodeConflict          Code = "conflict"
	// CodeMoved refuses a write to a package that lives in another
	// registry now; the message names it.
	CodeMoved          Code = "moved"
	CodeUnknownSubject Code = "unknown_subject"

	// Codes the registry adds before the state machine runs: the content a
	// release names must be there and match.
	CodeContentMissing  Code = "content_missing"
	CodeContentMismatch Code = "content_mismatch"
	CodeContentBanished Code = "content_banished"

	// Codes the registry adds when it verifies a keyless Sigstore bundle
	// (package sigstore), one per check; a bad signature is
	// CodeBadSignature, a subject that is no release's content
	// CodeUnknownSubject.
	CodeBundleChain     Code = "bundle_chain"
	CodeBundleExpired   Code = "bundle_expired"
	CodeBundleLogProof  Code = "bundle_log_proof"
	CodeBundleTimestamp Code = "bundle_timestamp"
)

// Refusal is the state machine's reason for refusing an entry.
type Refusal struct {
	Code Code
	Msg  string
}

func (r *Refusal) Error() string { return fmt.Sprintf("%s: %s", r.Code, r.Msg) }

func refuse(code Code, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// RefusalOf turns the errors of checking an entry on its own (package
// record: syntax, size, signatures) into the refusals they are; other
// errors (a view that failed) pass through unchanged. It is the one place
// where record's errors get their refusal codes.
func RefusalOf(err error) error {
	var uk *record.UnknownKeyError
	var se *record.SignatureError
	var sx *record.SyntaxError
	var tl *record.TooLargeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tl):
		return refuse(CodeTooLarge, "%v", err)
	case errors.As(err, &uk):
		return refuse(CodeUnknownKey, "%v", err)
	case errors.As(err, &se):
		return refuse(CodeBadSignature, "%v", err)
	case errors.As(err, &sx):
		return refuse(CodeMalformed, "%v", err)
	}
	return err
}

// AsRefusal returns err as a *Refusal, if it is one.
func AsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}
