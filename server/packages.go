package server

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/registry"
	"github.com/vouchdev/vouch/state"
)

// pointInTime resolves the at= and asof= parameters of a read.
func (s *Server) pointInTime(r *http.Request) (uint64, *CheckpointJSON, error) {
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
	return size, s.checkpointJSON(cp.Size, cp.Root, cp.Time, cp.Note), nil
}

func include(r *http.Request) (state.Include, error) {
	in, err := state.ParseInclude(r.URL.Query().Get("include"))
	if err != nil {
		return in, badRequest(err.Error())
	}
	return in, nil
}

// EventJSON is one step of a history.
type EventJSON struct {
	Index  uint64    `json:"index"`
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Role   string    `json:"role"`
	Signer string    `json:"signer,omitempty"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// ReleaseJSON is a release as the API shows it. Which fields are present
// depends on its state (SPEC §3, "what stays visible").
type ReleaseJSON struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Status  string `json:"status"`
	Digest  string `json:"digest,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Visible for staged, published and yanked releases.
	Size        int64       `json:"size,omitempty"`
	MediaType   string      `json:"mediaType,omitempty"`
	URL         string      `json:"url,omitempty"`
	Index       uint64      `json:"index,omitempty"`
	PublishedAt *time.Time  `json:"publishedAt,omitempty"`
	Unvalidated bool        `json:"unvalidated,omitempty"`
	YankedBy    string      `json:"yankedBy,omitempty"`
	Note        string      `json:"note,omitempty"`
	NoteDigest  string      `json:"noteDigest,omitempty"`
	Content     *ContentRef `json:"content,omitempty"`
	History     []EventJSON `json:"history,omitempty"`
	// For deleted releases: when and by which role.
	RemovedAt *time.Time `json:"removedAt,omitempty"`
	RemovedBy string     `json:"removedBy,omitempty"`
}

// ContentRef says where a release's content is.
type ContentRef struct {
	Href string `json:"href"`
	// Verified: the registry holds the bytes and checked their digest.
	Verified bool `json:"verified"`
}

func (s *Server) releaseJSON(r *http.Request, rel *state.Release, p *state.Package, full bool) ReleaseJSON {
	eff := rel.Effective(p)
	out := ReleaseJSON{Package: rel.Package, Version: rel.Version, Status: eff}
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
	if !rel.PublishedAt.IsZero() {
		t := rel.PublishedAt
		out.PublishedAt = &t
	}
	out.Unvalidated = eff == state.StatusStaged
	if eff == state.StatusYanked {
		out.YankedBy, out.Reason, out.NoteDigest = rel.YankedBy, rel.Reason, rel.Note
		out.Note = s.reg.Note(r.Context(), rel.Note)
	}
	_, err := s.reg.BlobSize(r.Context(), rel.Digest)
	out.Content = &ContentRef{Href: "/api/v1/blobs/" + rel.Digest, Verified: err == nil}
	if full {
		for _, ev := range rel.History {
			out.History = append(out.History, EventJSON(ev))
		}
	}
	return out
}

// PackageJSON is a package as the API shows it.
type PackageJSON struct {
	Name     string              `json:"name"`
	Status   string              `json:"status"`
	Reason   string              `json:"reason,omitempty"`
	Owners   []string            `json:"owners"`
	Grants   map[string][]string `json:"grants,omitempty"`
	Head     string              `json:"head"`
	Created  uint64              `json:"created"`
	Latest   string              `json:"latest,omitempty"`
	Releases []ReleaseJSON       `json:"releases,omitempty"`
	History  []EventJSON         `json:"history,omitempty"`
	// The tree size the answer is for, and the checkpoint it is valid for.
	TreeSize   uint64          `json:"treeSize,omitempty"`
	Checkpoint *CheckpointJSON `json:"checkpoint,omitempty"`
}

func packageJSON(p *state.Package) PackageJSON {
	out := PackageJSON{Name: p.Name, Status: p.Status, Owners: p.Owners, Grants: p.Grants, Head: p.Head, Created: p.Created}
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
		out.History = append(out.History, EventJSON(ev))
	}
	return writeJSON(w, http.StatusOK, out)
}

func atSuffix(r *http.Request, size uint64) string {
	if r.URL.Query().Get("at") != "" || r.URL.Query().Get("asof") != "" {
		return " at tree size " + strconv.FormatUint(size, 10)
	}
	return ""
}

// ReleaseResponse answers GET /api/v1/packages/{name}/versions/{version}.
type ReleaseResponse struct {
	ReleaseJSON
	Error      *ErrorDetail    `json:"error,omitempty"`
	TreeSize   uint64          `json:"treeSize"`
	Checkpoint *CheckpointJSON `json:"checkpoint"`
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request, name, version string, size uint64, cp *CheckpointJSON) error {
	rel, p, err := s.reg.ReleaseAt(r.Context(), name, version, size)
	if err != nil {
		return err
	}
	if rel == nil {
		return errorf(http.StatusNotFound, "unknown_release", name+"@"+version+" does not exist"+atSuffix(r, size))
	}
	out := ReleaseResponse{ReleaseJSON: s.releaseJSON(r, rel, p, true), TreeSize: size, Checkpoint: cp}
	status := http.StatusOK
	switch out.Status {
	case state.StatusDeleted:
		status = http.StatusGone
		out.Error = &ErrorDetail{Code: "deleted", Message: name + "@" + version + " was deleted (" + out.Reason + ")"}
	case state.StatusTombstoned:
		status = http.StatusGone
		if out.Reason == "legal-hold" {
			status = http.StatusUnavailableForLegalReasons
		}
		out.Error = &ErrorDetail{Code: "tombstoned", Message: name + "@" + version + " is tombstoned (" + out.Reason + ")"}
	case state.StatusBanished:
		status = http.StatusUnavailableForLegalReasons
		out.Error = &ErrorDetail{Code: "banished", Message: name + "@" + version + " was banished (" + out.Reason + ")"}
	}
	return writeJSON(w, status, out)
}

// PackageList answers GET /api/v1/packages.
type PackageList struct {
	Packages   []PackageJSON   `json:"packages"`
	Next       string          `json:"next,omitempty"`
	TreeSize   uint64          `json:"treeSize"`
	Checkpoint *CheckpointJSON `json:"checkpoint"`
}

func (s *Server) listPackages(w http.ResponseWriter, r *http.Request) error {
	size, cp, err := s.pointInTime(r)
	if err != nil {
		return err
	}
	limit, given, err := uintParam(r, "limit")
	if err != nil {
		return err
	}
	if !given {
		limit = 100
	}
	if limit < 1 || limit > 1000 {
		return badRequest("limit must be 1 to 1000")
	}
	ps, err := s.reg.PackagesAt(r.Context(), size, r.URL.Query().Get("after"), int(limit))
	if err != nil {
		return err
	}
	out := PackageList{Packages: []PackageJSON{}, TreeSize: size, Checkpoint: cp}
	for _, p := range ps {
		pj := packageJSON(p)
		out.Packages = append(out.Packages, pj)
	}
	if len(ps) == int(limit) {
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

// BlobResponse answers PUT /api/v1/blobs/{digest}.
type BlobResponse struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

func (s *Server) putBlob(w http.ResponseWriter, r *http.Request) error {
	d, err := blobDigest(r)
	if err != nil {
		return err
	}
	n, err := s.reg.PutBlob(r.Context(), d, r.Body)
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
	return writeJSON(w, http.StatusCreated, BlobResponse{Digest: d, Size: n})
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
	case registry.ContentUnknown:
		return errorf(http.StatusNotFound, "not_found", "no release in this registry has content "+d)
	case registry.ContentGone:
		return errorf(http.StatusGone, "gone", st.Reason)
	case registry.ContentBanned:
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
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+d+`"`)
	h.Set("Cache-Control", "no-cache")
	h.Set("Vouch-Content-Verified", "true")
	http.ServeContent(w, r, "", b.ModTime(), b)
	return nil
}
