package server

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// pointInTime resolves the at= and asof= parameters of a read.
func (s *Server) pointInTime(r *http.Request) (uint64, *api.Checkpoint, error) {
	at, given, err := uintParam(r, "at")
	if err != nil {
		return 0, nil, err
	}
	if given && at == 0 {
		return 0, nil, badRequest("at must be a tree size of at least 1")
	}
	size, cp, err := s.reg.Resolve(r.Context(), at, r.URL.Query().Get("asof"))
	if err != nil {
		return 0, nil, err
	}
	return size, s.checkpointJSON(cp), nil
}

func include(r *http.Request) (state.Include, error) {
	in, err := state.ParseInclude(r.URL.Query().Get("include"))
	if err != nil {
		return in, badRequest(err.Error())
	}
	return in, nil
}

func (s *Server) releaseJSON(r *http.Request, rel *state.Release, p *state.Package, full bool) api.Release {
	eff := rel.Effective(p)
	out := api.Release{Package: rel.Package, Version: rel.Version, Status: eff}
	switch eff {
	case state.StatusDeleted:
		last := rel.History[len(rel.History)-1]
		out.Digest, out.Reason, out.RemovedAt, out.RemovedBy = rel.Digest, rel.Reason, &last.Time, last.Role
		return out
	case state.StatusTombstoned:
		out.Reason = rel.EffectiveReason(p)
		return out
	case state.StatusBanished:
		out.Digest, out.Reason = rel.Digest, rel.EffectiveReason(p)
		return out
	}
	out.Digest, out.Size, out.MediaType, out.URL, out.Index = rel.Digest, rel.Size, rel.MediaType, rel.URL, rel.Index
	out.Digests = rel.Digests
	if !rel.PublishedAt.IsZero() {
		t := rel.PublishedAt
		out.PublishedAt = &t
	}
	out.Unvalidated = eff == state.StatusStaged
	if eff == state.StatusYanked {
		out.YankedBy, out.Reason, out.NoteDigest = rel.YankedBy, rel.Reason, rel.Note
		out.Note = s.reg.Note(r.Context(), rel.Note)
		out.NoteErased = rel.Note != "" && out.Note == ""
	}
	// Uploaded content was verified before the release was accepted, and
	// leaves the store only with a banish; linked content is verified only
	// once the registry has fetched it.
	verified := true
	if rel.URL != "" {
		_, err := s.reg.BlobSize(r.Context(), rel.Digest)
		verified = err == nil
	}
	out.Content = &api.ContentRef{Href: "/api/v1/blobs/" + rel.Digest, Verified: verified}
	if full {
		for _, ev := range rel.History {
			out.History = append(out.History, api.Event(ev))
		}
	}
	return out
}

func packageJSON(p *state.Package) api.Package {
	out := api.Package{Name: p.Name, Status: p.Status, Owners: p.Owners, Grants: p.Grants, Head: p.Head, HeadIndex: p.HeadIndex, Created: p.Created}
	if p.Status != state.StatusActive {
		out.Reason = p.Reason
	}
	return out
}

// splitPackagePath splits the escaped path after /api/v1/packages/ into a
// package name and, for .../versions/{version}, a version. Clients should
// escape "/" in names as %2F; unescaped slashes work too, except for names
// whose next-to-last segment is "versions".
func splitPackagePath(r *http.Request) (name, version string, hasVersion bool, err error) {
	esc := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v1/packages/")
	if i := strings.LastIndex(esc, "/versions/"); i >= 0 && !strings.Contains(esc[i+len("/versions/"):], "/") {
		v, err := url.PathUnescape(esc[i+len("/versions/"):])
		if err != nil {
			return "", "", false, badRequest("bad version escape")
		}
		esc, version, hasVersion = esc[:i], v, true
	}
	name, err = url.PathUnescape(esc)
	if err != nil {
		return "", "", false, badRequest("bad package name escape")
	}
	name = record.NormalizeName(name)
	if err := record.ValidateName(name); err != nil {
		return "", "", false, badRequest(err.Error())
	}
	if hasVersion {
		if err := record.ValidateVersion(version); err != nil {
			return "", "", false, badRequest(err.Error())
		}
	}
	return name, version, hasVersion, nil
}

func (s *Server) getPackage(w http.ResponseWriter, r *http.Request) error {
	name, version, hasVersion, err := splitPackagePath(r)
	if err != nil {
		return err
	}
	size, cp, err := s.pointInTime(r)
	if err != nil {
		return err
	}
	if hasVersion {
		return s.getRelease(w, r, name, version, size, cp)
	}
	in, err := include(r)
	if err != nil {
		return err
	}
	p, rels, err := s.reg.PackageAt(r.Context(), name, size)
	if err != nil {
		return err
	}
	if p == nil {
		return errorf(http.StatusNotFound, "unknown_package", "package "+name+" does not exist"+atSuffix(r, size))
	}
	out := packageJSON(p)
	out.TreeSize, out.Checkpoint = size, cp
	if l := state.Latest(p, rels); l != nil {
		out.Latest = l.Version
	}
	for _, rel := range rels {
		if in.Shows(rel.Effective(p)) {
			out.Releases = append(out.Releases, s.releaseJSON(r, rel, p, false))
		}
	}
	for _, ev := range p.History {
		out.History = append(out.History, api.Event(ev))
	}
	return writeJSON(w, http.StatusOK, out)
}

func atSuffix(r *http.Request, size uint64) string {
	if r.URL.Query().Get("at") != "" || r.URL.Query().Get("asof") != "" {
		return " at tree size " + strconv.FormatUint(size, 10)
	}
	return ""
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request, name, version string, size uint64, cp *api.Checkpoint) error {
	rel, p, err := s.reg.ReleaseAt(r.Context(), name, version, size)
	if err != nil {
		return err
	}
	if rel == nil {
		return errorf(http.StatusNotFound, "unknown_release", name+"@"+version+" does not exist"+atSuffix(r, size))
	}
	out := api.ReleaseResponse{Release: s.releaseJSON(r, rel, p, true), TreeSize: size, Checkpoint: cp}
	status := http.StatusOK
	switch out.Status {
	case state.StatusDeleted:
		status = http.StatusGone
		out.Error = &api.ErrorDetail{Code: "deleted", Message: name + "@" + version + " was deleted (" + out.Reason + ")"}
	case state.StatusTombstoned:
		status = http.StatusGone
		if out.Reason == "legal-hold" {
			status = http.StatusUnavailableForLegalReasons
		}
		out.Error = &api.ErrorDetail{Code: "tombstoned", Message: name + "@" + version + " is tombstoned (" + out.Reason + ")"}
	case state.StatusBanished:
		status = http.StatusUnavailableForLegalReasons
		out.Error = &api.ErrorDetail{Code: "banished", Message: name + "@" + version + " was banished (" + out.Reason + ")"}
	}
	return writeJSON(w, status, out)
}

func (s *Server) listPackages(w http.ResponseWriter, r *http.Request) error {
	size, cp, err := s.pointInTime(r)
	if err != nil {
		return err
	}
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	ps, err := s.reg.PackagesAt(r.Context(), size, r.URL.Query().Get("after"), limit)
	if err != nil {
		return err
	}
	out := api.PackageList{Packages: []api.Package{}, TreeSize: size, Checkpoint: cp}
	for _, p := range ps {
		pj := packageJSON(p)
		out.Packages = append(out.Packages, pj)
	}
	if len(ps) == limit {
		out.Next = ps[len(ps)-1].Name
	}
	return writeJSON(w, http.StatusOK, out)
}

// ---- content ----

func blobDigest(r *http.Request) (string, error) {
	d := r.PathValue("digest")
	if err := record.ValidateDigest(d); err != nil {
		return "", badRequest(err.Error())
	}
	return d, nil
}

func (s *Server) putBlob(w http.ResponseWriter, r *http.Request) error {
	d, err := blobDigest(r)
	if err != nil {
		return err
	}
	// Content streams to the blob store; an S3 store holds up to 8 MiB of
	// it in memory, which is what the upload is charged.
	held := int64(8 << 20)
	if r.ContentLength >= 0 {
		held = min(r.ContentLength, held)
	}
	release, err := s.admit.reserve(r.Context(), held)
	if err != nil {
		return err
	}
	defer release()
	n, err := s.reg.PutBlob(r.Context(), d, s.bodyReader(w, r, s.reg.MaxBlobSize()))
	var mm *blob.MismatchError
	var tl *blob.TooLargeError
	switch {
	case errors.As(err, &mm):
		return errorf(http.StatusBadRequest, "digest_mismatch", mm.Error())
	case errors.As(err, &tl):
		return errorf(http.StatusRequestEntityTooLarge, "too_large", tl.Error())
	case err != nil:
		return err
	}
	return writeJSON(w, http.StatusCreated, api.BlobResponse{Digest: d, Size: n})
}

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request) error {
	d, err := blobDigest(r)
	if err != nil {
		return err
	}
	st, err := s.reg.ContentStatus(r.Context(), d)
	if err != nil {
		return err
	}
	switch st.State {
	case vouch.ContentUnknown:
		return errorf(http.StatusNotFound, "not_found", "no release in this registry has content "+d)
	case vouch.ContentGone:
		return errorf(http.StatusGone, "gone", st.Reason)
	case vouch.ContentBanned:
		return errorf(http.StatusUnavailableForLegalReasons, "unavailable_for_legal_reasons", st.Reason)
	}
	b, err := s.reg.OpenBlob(r.Context(), d)
	if errors.Is(err, blob.ErrNotFound) {
		if st.URL != "" {
			w.Header().Set("Vouch-Content-Verified", "false")
			http.Redirect(w, r, st.URL, http.StatusTemporaryRedirect)
			return nil
		}
		return errorf(http.StatusNotFound, "not_found", "content "+d+" is not stored here")
	}
	if err != nil {
		return err
	}
	defer b.Close()
	s.setWriteDeadline(w, b.Size())
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+d+`"`)
	h.Set("Cache-Control", "no-cache")
	h.Set("Vouch-Content-Verified", "true")
	http.ServeContent(w, r, "", b.ModTime(), b)
	return nil
}

func (s *Server) getOperators(w http.ResponseWriter, r *http.Request) error {
	size, cp, err := s.pointInTime(r)
	if err != nil {
		return err
	}
	ops, err := s.reg.OperatorsAt(r.Context(), size)
	if err != nil {
		return err
	}
	if ops == nil {
		return errorf(http.StatusNotFound, "no_operator", "the operator chain has not started"+atSuffix(r, size))
	}
	return writeJSON(w, http.StatusOK, api.Operators{Keys: ops.Keys, Head: ops.Head, HeadIndex: ops.HeadIndex,
		DeleteWindow: ops.DeleteWindow, TreeSize: size, Checkpoint: cp})
}

func (s *Server) getIdentity(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("keyId")
	if !keys.ValidID(id) {
		return badRequest("key ID must be sha256:<64 hex digits>")
	}
	size, cp, err := s.pointInTime(r)
	if err != nil {
		return err
	}
	ident, err := s.reg.IdentityState(r.Context(), id, size)
	if err != nil {
		return err
	}
	if ident == nil {
		return errorf(http.StatusNotFound, "unknown_identity", id+" is not registered"+atSuffix(r, size))
	}
	out := api.Identity{KeyID: ident.KeyID, PublicKey: ident.PublicKey, Principal: ident.Principal, Status: ident.Status,
		RotatedTo: ident.RotatedTo, Commitment: ident.Commitment, Since: ident.Since, Until: ident.Until, TreeSize: size, Checkpoint: cp}
	if ident.Commitment != "" {
		prof, erased, err := s.reg.Profile(r.Context(), ident.Commitment)
		if err != nil {
			return err
		}
		out.Profile, out.Erased = prof, erased
	}
	return writeJSON(w, http.StatusOK, out)
}
