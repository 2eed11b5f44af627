package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/query"
	"github.com/vouchdev/vouch/state"
)

// statusOf maps refusal codes to HTTP statuses.
var statusOf = map[state.Code]int{
	state.CodeMalformed:         http.StatusBadRequest,
	state.CodeTooLarge:          http.StatusRequestEntityTooLarge,
	state.CodeBadSignature:      http.StatusBadRequest,
	state.CodeUnknownKey:        http.StatusForbidden,
	state.CodeKeyInactive:       http.StatusForbidden,
	state.CodeNotAuthorized:     http.StatusForbidden,
	state.CodeWindowClosed:      http.StatusForbidden,
	state.CodeStalePrev:         http.StatusConflict,
	state.CodeIdentityExists:    http.StatusConflict,
	state.CodePackageExists:     http.StatusConflict,
	state.CodeVersionExists:     http.StatusConflict,
	state.CodeInvalidTransition: http.StatusConflict,
	state.CodeGenesisExists:     http.StatusConflict,
	state.CodeNoOperator:        http.StatusConflict,
	state.CodeConflict:          http.StatusConflict,
	state.CodeMoved:             http.StatusConflict,
	state.CodeUnknownPackage:    http.StatusNotFound,
	state.CodeUnknownRelease:    http.StatusNotFound,
	state.CodeUnknownIdentity:   http.StatusUnprocessableEntity,
	state.CodeUnknownSubject:    http.StatusUnprocessableEntity,
	state.CodeContentMissing:    http.StatusUnprocessableEntity,
	state.CodeContentMismatch:   http.StatusUnprocessableEntity,
	state.CodeContentBanished:   http.StatusUnavailableForLegalReasons,
	state.CodeBundleChain:       http.StatusUnprocessableEntity,
	state.CodeBundleExpired:     http.StatusUnprocessableEntity,
	state.CodeBundleLogProof:    http.StatusUnprocessableEntity,
	state.CodeBundleTimestamp:   http.StatusUnprocessableEntity,
}

// httpError is an error with its HTTP status and code decided.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, code, msg string) error {
	return &httpError{status: status, code: code, msg: msg}
}

func badRequest(msg string) error { return errorf(http.StatusBadRequest, "bad_request", msg) }

// classify decides the status, code and message of an error.
func classify(err error) (int, string, string) {
	var he *httpError
	var rf *state.Refusal
	var inv *vouch.InvalidError
	var un *vouch.UnavailableError
	var mb *http.MaxBytesError
	var be *query.BudgetError
	var ro *vouch.ReadOnlyError
	var pt *vouch.ProofTooLargeError
	switch {
	case errors.As(err, &pt):
		return http.StatusUnprocessableEntity, "proof_too_large", pt.Error()
	case errors.As(err, &ro):
		return http.StatusForbidden, "read_only", ro.Error()
	case errors.As(err, &he):
		return he.status, he.code, he.msg
	case errors.As(err, &rf):
		st, ok := statusOf[rf.Code]
		if !ok {
			st = http.StatusBadRequest
		}
		return st, string(rf.Code), rf.Msg
	case errors.As(err, &inv):
		return http.StatusBadRequest, "bad_request", inv.Msg
	case errors.Is(err, vouch.ErrNotFound):
		return http.StatusNotFound, "not_found", err.Error()
	case errors.As(err, &mb):
		return http.StatusRequestEntityTooLarge, "too_large", "request body is larger than the limit of " + itoa(mb.Limit) + " bytes"
	case errors.As(err, &be):
		return http.StatusUnprocessableEntity, "where_too_expensive", be.Error()
	case errors.As(err, &un):
		return http.StatusServiceUnavailable, "unavailable", un.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "timeout", "the request took longer than the registry allows; narrow it, or retry"
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "timeout", "the request was cancelled"
	}
	return http.StatusInternalServerError, "internal", "internal error"
}

// statusClientGone is logged for requests whose client left before the
// answer (nginx's convention); it is never sent.
const statusClientGone = 499

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if errors.Is(err, errClientGone) || !errors.As(err, &he) && r.Context().Err() == context.Canceled {
		// Nobody is there to read an answer: log it as the client's
		// doing, and drop the connection rather than answer.
		s.log.Info("client went away", "method", r.Method, "path", r.URL.Path, "status", statusClientGone)
		panic(http.ErrAbortHandler)
	}
	st, code, msg := classify(err)
	switch {
	case st == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", retryAfter)
		s.log.Warn("request not served", "method", r.Method, "path", r.URL.Path, "status", st, "err", err)
	case st >= 500:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", st, "err", err)
	}
	if st == http.StatusRequestTimeout || st == http.StatusRequestEntityTooLarge {
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: msg}})
}
