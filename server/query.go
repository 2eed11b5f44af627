package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/query"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/sigstore"
	"github.com/vouchdev/vouch/state"
)

// cursor is an opaque page position: the tree size the query answers for
// (so every page sees the same log) and the last index returned.
func encodeCursor(size, after uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("v1:%d:%d", size, after)))
}

func decodeCursor(s string) (size, after uint64, err error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		var n int
		n, err = fmt.Sscanf(string(b), "v1:%d:%d", &size, &after)
		if n != 2 && err == nil {
			err = errors.New("short")
		}
	}
	if err != nil {
		return 0, 0, badRequest("cursor is not one this registry returned")
	}
	return size, after, nil
}

func timeParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest(name + " must be an RFC 3339 time")
	}
	return t, nil
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "package", "version", "subject", "signer", "predicateType", "kind", "type", "state", "since", "until",
			"from", "to", "where", "at", "asof", "include", "order", "cursor", "limit", "predicate", "proof", "identity":
		default:
			return badRequest("unknown query parameter " + strconv.Quote(k))
		}
	}
	req := &vouch.QueryRequest{}
	f := &req.Filter
	var err error
	f.Package, f.Version, f.Subject, f.Signer = record.NormalizeName(q.Get("package")), q.Get("version"), q.Get("subject"), q.Get("signer")
	f.PredicateType, f.Kind, f.Type = q.Get("predicateType"), q.Get("kind"), q.Get("type")
	if f.Package != "" {
		if err := record.ValidateName(f.Package); err != nil {
			return badRequest(err.Error())
		}
	}
	if f.Version != "" && f.Package == "" {
		return badRequest("version needs package")
	}
	if f.Subject != "" {
		if err := record.ValidateSubjectDigest(f.Subject); err != nil {
			return badRequest("subject: " + err.Error())
		}
	}
	if f.Signer != "" && !keys.ValidID(f.Signer) {
		return badRequest("signer must be a key ID")
	}
	if v := q.Get("identity"); v != "" {
		if f.Identity, err = ParseIdentity(v); err != nil {
			return badRequest(err.Error())
		}
	}
	if f.Kind != "" && f.Kind != string(record.KindRecord) && f.Kind != string(record.KindAttestation) {
		return badRequest("kind must be record or attestation")
	}
	req.State = q.Get("state")
	if req.State != "" {
		if _, err := state.ParseInclude(req.State); err != nil || strings.Contains(req.State, ",") || req.State == "all" {
			return badRequest("state must be one of staged, published, yanked, deleted, tombstoned, banished")
		}
	}
	if f.Since, err = timeParam(r, "since"); err != nil {
		return err
	}
	if f.Until, err = timeParam(r, "until"); err != nil {
		return err
	}
	if f.From, _, err = uintParam(r, "from"); err != nil {
		return err
	}
	if f.To, _, err = uintParam(r, "to"); err != nil {
		return err
	}
	if req.Include, err = include(r); err != nil {
		return err
	}
	if q.Get("include") == "" && (f.Type != "" || f.Version != "") {
		// A filter the user asked for is not hidden by the default: the
		// yanks of a package, or everything about one version, are shown
		// whatever state their releases are in now.
		req.Include = state.IncludeAll
	}
	switch q.Get("order") {
	case "", "desc", "newest":
		req.Desc = true
	case "asc", "oldest":
	default:
		return badRequest("order must be desc (newest first) or asc (oldest first)")
	}
	if req.Limit, err = limitParam(r); err != nil {
		return err
	}
	if p := q.Get("predicate"); p != "" {
		if req.Bodies, err = strconv.ParseBool(p); err != nil {
			return badRequest("predicate must be true or false")
		}
	}
	if expr := q.Get("where"); expr != "" {
		if req.Where, err = query.Compile(expr); err != nil {
			var ce *query.CompileError
			if errors.As(err, &ce) {
				return errorf(http.StatusBadRequest, "bad_where", ce.Msg)
			}
			return err
		}
	}
	complete, err := completeParam(r)
	if err != nil {
		return err
	}
	var kind, key string
	if complete {
		// The index proves two lists whole: the attestations about a
		// subject and the entries by a signer. Other filters would leave
		// out entries the client could not tell apart.
		switch {
		case f.Subject != "" && f.Signer == "" && (f.Kind == "" || f.Kind == string(record.KindAttestation)):
			kind, key = "subject", f.Subject
			f.Kind = string(record.KindAttestation)
		case f.Signer != "" && f.Subject == "" && f.Kind == "":
			kind, key = "signer", f.Signer
		default:
			return badRequest("proof=complete answers subject= (its attestations) or signer= (every entry it signed), alone")
		}
		if f.Package != "" || f.PredicateType != "" || f.Type != "" || req.State != "" || !f.Since.IsZero() || !f.Until.IsZero() ||
			f.From != 0 || f.To != 0 || q.Get("where") != "" || q.Get("include") != "" && q.Get("include") != "all" {
			return badRequest("proof=complete answers subject= or signer= with no other filter (order=, limit=, cursor=, at= and asof= may be given)")
		}
		req.Include = state.IncludeAll
	}
	var cp *api.Checkpoint
	if c := q.Get("cursor"); c != "" {
		size, after, err := decodeCursor(c)
		if err != nil {
			return err
		}
		if at, _, _ := uintParam(r, "at"); at != 0 && at != size || q.Get("asof") != "" {
			return badRequest("a cursor already fixes the tree size; drop at= and asof=")
		}
		if req.Size, cp, err = s.pointInTimeSize(r, size); err != nil {
			return err
		}
		req.After = &after
	} else if req.Size, cp, err = s.pointInTime(r); err != nil {
		return err
	}
	var proof *api.Completeness
	if complete {
		req.Size = completeAt(req.Size, cp)
		if proof, err = s.reg.Complete(r.Context(), kind, key, req.Size); err != nil {
			return err
		}
	}
	items, next, err := s.reg.Query(r.Context(), req)
	if err != nil {
		return err
	}
	out := api.QueryResponse{Items: make([]api.QueryItem, 0, len(items)), TreeSize: req.Size, Checkpoint: cp, Complete: proof}
	for _, it := range items {
		out.Items = append(out.Items, queryItem(it, req.Bodies))
	}
	if next != nil {
		out.Next = encodeCursor(req.Size, *next)
	}
	return writeJSON(w, http.StatusOK, out)
}

// pointInTimeSize resolves an explicit tree size (from a cursor).
func (s *Server) pointInTimeSize(r *http.Request, size uint64) (uint64, *api.Checkpoint, error) {
	size, cp, err := s.reg.Resolve(r.Context(), size, "")
	if err != nil {
		return 0, nil, err
	}
	return size, s.checkpointJSON(cp), nil
}

func queryItem(it *vouch.QueryItem, withPredicate bool) api.QueryItem {
	out := api.QueryItem{Index: it.Index, Time: it.Time, Kind: it.Kind, Type: it.Type, Package: it.Package, Version: it.Version,
		Signers: it.Signers(), Subjects: it.Subjects(), PredicateType: it.PredicateType, Fields: it.Fields, Erased: it.Erased}
	for _, rr := range it.Releases {
		out.Releases = append(out.Releases, api.ReleaseState(rr))
	}
	e := it.Entry.Unwrap()
	if e.Attestation != nil {
		out.PayloadDigest = e.Attestation.PayloadDigest
		out.Keyless, out.Identities = e.Attestation.Bundle != nil, it.Identities
		if withPredicate {
			out.Predicate = it.Predicate
		}
	} else {
		out.Record = e.Payload
	}
	if ref := it.Imported(); ref != nil {
		out.ImportedFrom = &api.ImportedFrom{Origin: ref.Origin, Index: ref.Index}
	}
	return out
}

func (s *Server) getAttestation(w http.ResponseWriter, r *http.Request) error {
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 63)
	if err != nil {
		return badRequest("index must be a non-negative integer")
	}
	if cp, err := s.reg.Checkpoint(r.Context()); err != nil {
		return err
	} else if idx >= cp.Size {
		return errorf(http.StatusNotFound, "not_found", "entry "+strconv.FormatUint(idx, 10)+" is not in the log yet")
	}
	e, erased, err := s.reg.AttestationAt(r.Context(), idx)
	if err != nil {
		return err
	}
	a := e.Attestation
	out := api.Attestation{Index: idx, Time: e.Time, PayloadDigest: a.PayloadDigest, PredicateType: a.PredicateType,
		Subjects: a.Subjects, Signers: a.Signers(), Erased: erased}
	if a.Bundle != nil {
		out.BundleRef, _ = json.Marshal(a.Bundle)
	}
	switch {
	case erased:
	case a.Bundle != nil:
		out.Statement, out.Bundle = e.Payload, e.Bundle
		d, err := sigstore.Parse(e.Bundle)
		if err != nil {
			return err
		}
		id, err := d.Identity()
		if err != nil {
			return err
		}
		out.Identities = []api.CertIdentity{*id}
	default:
		out.Statement = e.Payload
		if out.Envelope, err = e.EnvelopeJSON(); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// ParseIdentity parses the identity= query parameter: "SUBJECT", or
// "ISSUER SUBJECT" (one space between; neither can hold one), where a "*"
// in the subject stands for any run of characters.
func ParseIdentity(v string) (*vouch.IdentityFilter, error) {
	issuer, subject, two := strings.Cut(v, " ")
	if !two {
		issuer, subject = "", v
	}
	if subject == "" || strings.ContainsAny(subject, " \t\n") || two && issuer == "" || len(v) > 2048 {
		return nil, errors.New(`identity must be "SUBJECT" or "ISSUER SUBJECT" (a "*" in the subject matches any run of characters)`)
	}
	return &vouch.IdentityFilter{Issuer: issuer, Subject: subject, Pattern: strings.Contains(subject, "*")}, nil
}

func (s *Server) postAdmin(w http.ResponseWriter, r *http.Request) error {
	body, release, err := s.readBody(w, r, 64<<10)
	if err != nil {
		return err
	}
	defer release()
	out, err := s.reg.Admin(r.Context(), body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getStatements(w http.ResponseWriter, r *http.Request) error {
	from, ok, err := uintParam(r, "from")
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("from is required")
	}
	n, ok, err := uintParam(r, "count")
	if err != nil {
		return err
	}
	if !ok {
		n = 256
	}
	// The registry refuses counts outside 1..256; min keeps a huge one
	// from overflowing int on the way.
	out, err := s.reg.Statements(r.Context(), from, int(min(n, 257)))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.Statements{Statements: out})
}

func (s *Server) getOffLog(w http.ResponseWriter, r *http.Request) error {
	d, err := blobDigest(r)
	if err != nil {
		return err
	}
	o, err := s.reg.OffLogData(r.Context(), d)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, o)
}

func (s *Server) getErasures(w http.ResponseWriter, r *http.Request) error {
	after, _, err := uintParam(r, "after")
	if err != nil {
		return err
	}
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	es, err := s.reg.Erasures(r.Context(), after, limit)
	if err != nil {
		return err
	}
	if es == nil {
		es = []api.Erasure{}
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, api.Erasures{Erasures: es})
}
