package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/policy"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// Page sizes: entries on a timeline page, and packages on a listing.
const (
	timelineLimit = 50
	recentLimit   = 20
	packagesLimit = 100
	statementsMax = 200
)

// apiURL returns an API path with the page's point in time.
func (rq *request) apiURL(p string, q url.Values) string {
	if q == nil {
		q = url.Values{}
	}
	if rq.pinned {
		q.Set("at", strconv.FormatUint(rq.size, 10))
	}
	if len(q) == 0 {
		return p
	}
	return p + "?" + q.Encode()
}

// query runs one page of the query as of the page's tree size, showing
// entries about releases in every state.
func (rq *request) query(f vouch.Filter, limit int, after *uint64, desc, bodies bool) ([]*vouch.QueryItem, *uint64, error) {
	return rq.queryIn(f, state.IncludeAll, limit, after, desc, bodies)
}

func (rq *request) queryIn(f vouch.Filter, in state.Include, limit int, after *uint64, desc, bodies bool) ([]*vouch.QueryItem, *uint64, error) {
	if rq.size == 0 {
		return nil, nil, nil
	}
	return rq.p.reg.Query(rq.ctx(), &vouch.QueryRequest{Size: rq.size, Filter: f, Include: in, Desc: desc,
		Limit: limit, After: after, Bodies: bodies})
}

// uintParam reads an optional non-negative integer parameter.
func (rq *request) uintParam(name string) (*uint64, error) {
	s := rq.r.URL.Query().Get(name)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return nil, badRequest("%s= must be a non-negative integer, not %q.", name, s)
	}
	return &n, nil
}

// needEntries refuses pages about state before the log has any.
func (rq *request) needEntries() error {
	if rq.size == 0 {
		return notFound("The log has no entries yet.")
	}
	return nil
}

// olderURL links to the next page of a newest-first timeline.
func (rq *request) olderURL(next *uint64) string {
	if next == nil {
		return ""
	}
	q := rq.r.URL.Query()
	q.Del("asof")
	q.Set("before", strconv.FormatUint(*next, 10))
	if rq.pinned {
		q.Set("at", strconv.FormatUint(rq.size, 10))
	}
	return rq.r.URL.Path + "?" + q.Encode()
}

// ---- home ----

type homeData struct {
	base
	Checkpoint checkpointView
	Latest     bool
	Recent     []row
	Packages   []api.Package
	MorePkgs   bool
}

func (p *Pages) home(rq *request) error {
	d := &homeData{base: rq.base("Vouch", "home"), Checkpoint: viewCheckpoint(rq.cp), Latest: !rq.pinned}
	d.API = []link{{"checkpoint", "/api/v1/checkpoint"}, {"recent activity", rq.apiURL("/api/v1/query", url.Values{"include": {"all"}, "limit": {strconv.Itoa(recentLimit)}})},
		{"packages", rq.apiURL("/api/v1/packages", url.Values{"limit": {"20"}})}, {"raw checkpoint", "/log/checkpoint"}}
	items, _, err := rq.query(vouch.Filter{}, recentLimit, nil, true, false)
	if err != nil {
		return err
	}
	d.Recent = rq.rows(items, nil)
	if rq.size > 0 {
		ps, err := p.reg.PackagesAt(rq.ctx(), rq.size, "", 21)
		if err != nil {
			return err
		}
		for i, pk := range ps {
			if i == 20 {
				d.MorePkgs = true
				break
			}
			d.Packages = append(d.Packages, vouch.PackageView(pk))
		}
	}
	rq.render(http.StatusOK, "home", d)
	return nil
}

// ---- search ----

type searchData struct {
	base
	Query    string
	Packages []api.Package
	Releases []vouch.ReleaseRef
	Identity *signer
	// Keyless is a keyless signer the query names, when it signed
	// something.
	Keyless *api.CertIdentity
	Content bool
	Digest  string
	Hint    string
}

// search finds packages by name or name prefix, a release by
// name@version, an identity by key ID and content by digest. One match
// goes straight to its page.
func (p *Pages) search(rq *request) error {
	q := strings.TrimSpace(rq.r.URL.Query().Get("q"))
	if q == "" {
		http.Redirect(rq.w, rq.r, rq.base("", "").U("/"), http.StatusSeeOther)
		return nil
	}
	if len(q) > 512 {
		return badRequest("The search is longer than 512 characters.")
	}
	d := &searchData{base: rq.base("Search: "+q, ""), Query: q}
	d.Search = q
	if err := rq.needEntries(); err != nil {
		return err
	}
	var hits []string
	hex := strings.ToLower(q)
	if len(hex) == 64 && strings.Trim(hex, "0123456789abcdef") == "" {
		hex = "sha256:" + hex
	}
	if record.ValidateDigest(hex) == nil {
		d.Digest = hex
		if keys.ValidID(hex) {
			ident, err := p.reg.IdentityState(rq.ctx(), hex, rq.size)
			if err != nil {
				return err
			}
			if ident != nil {
				s := rq.ids.get(hex)
				d.Identity = &s
				hits = append(hits, "/identities/"+hex)
			}
		}
		items, _, err := rq.query(vouch.Filter{Subject: hex}, 1, nil, true, false)
		if err != nil {
			return err
		}
		if len(items) > 0 {
			d.Content = true
			hits = append(hits, "/content/"+hex)
		}
		d.API = []link{{"entries about this digest", rq.apiURL("/api/v1/query", url.Values{"subject": {hex}, "include": {"all"}})},
			{"identity", rq.apiURL("/api/v1/identities/"+hex, nil)}}
	} else {
		name, version, hasVersion := strings.Cut(q, "@")
		name = record.NormalizeName(name)
		if record.ValidateName(name) == nil {
			if hasVersion {
				rel, pk, err := p.reg.ReleaseAt(rq.ctx(), name, version, rq.size)
				if err != nil && !isInvalid(err) {
					return err
				}
				if rel != nil {
					d.Releases = append(d.Releases, vouch.ReleaseRef{Package: name, Version: version, Status: rel.Effective(pk)})
					hits = append(hits, relURL(name, version))
				}
			}
			pk, _, err := p.reg.PackageAt(rq.ctx(), name, rq.size)
			if err != nil {
				return err
			}
			if pk != nil {
				d.Packages = append(d.Packages, vouch.PackageView(pk))
				if !hasVersion {
					hits = append(hits, pkgURL(name))
				}
			}
		}
		if !hasVersion {
			// Packages whose names start with the query.
			ps, err := p.reg.PackagesAt(rq.ctx(), rq.size, name, 20)
			if err != nil {
				return err
			}
			for _, pk := range ps {
				if strings.HasPrefix(pk.Name, name) && pk.Name != name {
					d.Packages = append(d.Packages, vouch.PackageView(pk))
					hits = append(hits, pkgURL(pk.Name))
				}
			}
		}
		d.API = []link{{"packages", rq.apiURL("/api/v1/packages", url.Values{"after": {name}, "limit": {"20"}})}}
	}
	if d.Digest == "" && !strings.ContainsAny(q, " \t") {
		// A keyless signer, by the subject its certificates name (an
		// email address, a workflow's URI...).
		items, _, err := rq.query(vouch.Filter{Identity: &vouch.IdentityFilter{Subject: q}}, 1, nil, true, false)
		if err != nil {
			return err
		}
		if len(items) > 0 {
			d.Keyless = &api.CertIdentity{Subject: q}
			hits = append(hits, "/keyless?"+url.Values{"subject": {q}}.Encode())
			d.API = append(d.API, link{"statements by this keyless signer", rq.apiURL("/api/v1/query", url.Values{"identity": {q}, "include": {"all"}})})
		}
	}
	if len(hits) == 1 {
		http.Redirect(rq.w, rq.r, d.U(hits[0]), http.StatusSeeOther)
		return nil
	}
	if len(hits) == 0 {
		d.Hint = "Search finds a package by its name or the start of it, a release as name@version, an identity by its key ID (sha256:…), a keyless signer by the subject its certificate names (an email address or a workflow URI), and content by its digest (sha256:…)."
	}
	rq.render(http.StatusOK, "search", d)
	return nil
}

func isInvalid(err error) bool {
	var inv *vouch.InvalidError
	return errors.As(err, &inv)
}

// ---- packages ----

type packagesData struct {
	base
	Packages []api.Package
	Next     string
}

func (p *Pages) packages(rq *request) error {
	d := &packagesData{base: rq.base("Packages", "packages")}
	after := rq.r.URL.Query().Get("after")
	d.API = []link{{"packages", rq.apiURL("/api/v1/packages", url.Values{"after": {after}, "limit": {strconv.Itoa(packagesLimit)}})}}
	if rq.size > 0 {
		ps, err := p.reg.PackagesAt(rq.ctx(), rq.size, after, packagesLimit)
		if err != nil {
			return err
		}
		for _, pk := range ps {
			d.Packages = append(d.Packages, vouch.PackageView(pk))
		}
		if len(ps) == packagesLimit {
			d.Next = d.U("/packages?after=" + url.QueryEscape(ps[len(ps)-1].Name))
		}
	}
	rq.render(http.StatusOK, "packages", d)
	return nil
}

// splitPackagePath splits the escaped path after /packages/ into a package
// name and, for .../versions/{version}, a version, as the API does.
func splitPackagePath(r *http.Request) (name, version string, hasVersion bool, err error) {
	esc := strings.TrimPrefix(r.URL.EscapedPath(), "/packages/")
	if i := strings.LastIndex(esc, "/versions/"); i >= 0 && !strings.Contains(esc[i+len("/versions/"):], "/") {
		v, err := url.PathUnescape(esc[i+len("/versions/"):])
		if err != nil {
			return "", "", false, badRequest("The version in the address is badly escaped.")
		}
		esc, version, hasVersion = esc[:i], v, true
	}
	name, err = url.PathUnescape(esc)
	if err != nil {
		return "", "", false, badRequest("The package name in the address is badly escaped.")
	}
	name = record.NormalizeName(name)
	if err := record.ValidateName(name); err != nil {
		return "", "", false, badRequest("%s", err.Error())
	}
	if hasVersion {
		if err := record.ValidateVersion(version); err != nil {
			return "", "", false, badRequest("%s", err.Error())
		}
	}
	return name, version, hasVersion, nil
}

func (p *Pages) packageOrRelease(rq *request) error {
	name, version, hasVersion, err := splitPackagePath(rq.r)
	if err != nil {
		return err
	}
	if err := rq.needEntries(); err != nil {
		return err
	}
	if hasVersion {
		return p.release(rq, name, version)
	}
	return p.pkg(rq, name)
}

// ---- a package ----

type releaseGroup struct {
	Status   string
	Releases []api.Release
}

type packageData struct {
	base
	Pkg          api.Package
	Owners       []signer
	Grants       []grantView
	Latest       string
	Groups       []releaseGroup
	HiddenStaged int
	ShowStaged   string
	Timeline     []row
	Older        string
}

type grantView struct {
	Signer      signer
	Permissions string
}

// groupOrder is the order of the release groups on a package page.
var groupOrder = []string{state.StatusPublished, state.StatusStaged, state.StatusYanked, state.StatusDeleted, state.StatusTombstoned, state.StatusBanished}

func (p *Pages) pkg(rq *request, name string) error {
	pk, rels, err := p.reg.PackageAt(rq.ctx(), name, rq.size)
	if err != nil {
		return err
	}
	if pk == nil {
		return notFound("There is no package %s at tree size %d.", name, rq.size)
	}
	in, err := state.ParseInclude(rq.r.URL.Query().Get("include"))
	if err != nil {
		return badRequest("%s", err.Error())
	}
	d := &packageData{base: rq.base(name, "packages"), Pkg: vouch.PackageView(pk), Owners: rq.ids.list(pk.Owners)}
	apiInclude := "yanked,deleted,tombstoned,banished"
	if in.Staged {
		apiInclude = "all"
	}
	d.API = []link{{"package", rq.apiURL("/api/v1/packages/"+url.PathEscape(name), url.Values{"include": {apiInclude}})},
		{"timeline", rq.apiURL("/api/v1/query", url.Values{"package": {name}, "include": {apiInclude}, "limit": {strconv.Itoa(timelineLimit)}})}}
	for k, perms := range pk.Grants {
		d.Grants = append(d.Grants, grantView{Signer: rq.ids.get(k), Permissions: strings.Join(perms, ", ")})
	}
	slices.SortFunc(d.Grants, func(a, b grantView) int { return strings.Compare(a.Signer.KeyID, b.Signer.KeyID) })
	if l := state.Latest(pk, rels); l != nil {
		d.Latest = l.Version
	}
	byStatus := map[string][]api.Release{}
	events := map[uint64]state.Event{}
	for _, ev := range pk.History {
		events[ev.Index] = ev
	}
	state.SortReleases(rels)
	for i := len(rels) - 1; i >= 0; i-- { // newest first
		rel := rels[i]
		for _, ev := range rel.History {
			events[ev.Index] = ev
		}
		st := rel.Effective(pk)
		if st == state.StatusStaged && !in.Staged {
			d.HiddenStaged++
			continue
		}
		byStatus[st] = append(byStatus[st], vouch.ReleaseView(rq.ctx(), p.reg, rel, pk, false))
	}
	for _, st := range groupOrder {
		if len(byStatus[st]) > 0 {
			d.Groups = append(d.Groups, releaseGroup{Status: st, Releases: byStatus[st]})
		}
	}
	if d.HiddenStaged > 0 {
		d.ShowStaged = d.U(pkgURL(name) + "?include=staged")
	}
	before, err := rq.uintParam("before")
	if err != nil {
		return err
	}
	// Like the releases, the timeline leaves out staged releases unless
	// asked.
	tin := state.IncludeAll
	tin.Staged = in.Staged
	items, next, err := rq.queryIn(vouch.Filter{Package: name}, tin, timelineLimit, before, true, false)
	if err != nil {
		return err
	}
	d.Timeline, d.Older = rq.rows(items, events), rq.olderURL(next)
	rq.render(http.StatusOK, "package", d)
	return nil
}

// ---- a release ----

type eventView struct {
	api.Event
	Who signer
}

type statementView struct {
	Index         uint64
	Time          time.Time
	PredicateType string
	Signers       []signer
	Keyless       []api.CertIdentity
	Fields        []kv
	Erased        bool
	Predicate     string
}

type releaseData struct {
	base
	R            api.Release
	PkgStatus    string
	Latest       bool
	Download     string
	History      []eventView
	Statements   []statementView
	More         string
	VerifyAction string
	Policy       string
}

func (p *Pages) release(rq *request, name, version string) error {
	rel, pk, err := p.reg.ReleaseAt(rq.ctx(), name, version, rq.size)
	if err != nil {
		return err
	}
	if rel == nil {
		return notFound("There is no release %s@%s at tree size %d.", name, version, rq.size)
	}
	d := &releaseData{base: rq.base(name+"@"+version, "packages"), R: vouch.ReleaseView(rq.ctx(), p.reg, rel, pk, true), PkgStatus: pk.Status}
	d.API = []link{{"release", rq.apiURL(strings.Replace(relURL(name, version), "/packages/", "/api/v1/packages/", 1), nil)}}
	_, rels, err := p.reg.PackageAt(rq.ctx(), name, rq.size)
	if err != nil {
		return err
	}
	if l := state.Latest(pk, rels); l != nil && l.Version == version {
		d.Latest = true
	}
	if d.R.Content != nil {
		d.Download = d.R.Content.Href
	}
	for _, ev := range d.R.History {
		d.History = append(d.History, eventView{Event: ev, Who: rq.ids.get(ev.Signer)})
	}
	if d.R.Digest != "" {
		d.API = append(d.API, link{"statements", rq.apiURL("/api/v1/query", url.Values{"subject": {d.R.Digest}, "kind": {"attestation"},
			"include": {"all"}, "order": {"asc"}, "predicate": {"true"}})})
		d.Statements, d.More, err = rq.statements(d.R.Digest)
		if err != nil {
			return err
		}
	}
	d.VerifyAction = d.U("/verify?" + url.Values{"package": {name}, "version": {version}}.Encode())
	d.Policy = strings.TrimLeft(policy.Default, "\n")
	rq.render(http.StatusOK, "release", d)
	return nil
}

// statements returns the attestations about a digest, oldest first, and a
// link to the rest when there are more than a page shows.
func (rq *request) statements(digest string) ([]statementView, string, error) {
	var out []statementView
	var after *uint64
	for len(out) < statementsMax {
		items, next, err := rq.query(vouch.Filter{Subject: digest, Kind: string(record.KindAttestation)}, statementsMax-len(out), after, false, true)
		if err != nil {
			return nil, "", err
		}
		for _, it := range items {
			sv := statementView{Index: it.Index, Time: it.Time, PredicateType: it.PredicateType, Signers: rq.ids.list(it.Signers()),
				Keyless: it.Identities, Fields: fields(it.Fields), Erased: it.Erased}
			if it.Predicate != nil {
				b, _ := json.MarshalIndent(it.Predicate, "", "  ")
				sv.Predicate = string(b)
			}
			out = append(out, sv)
		}
		if next == nil {
			return out, "", nil
		}
		after = next
	}
	return out, rq.base("", "").U("/content/" + digest), nil
}

// ---- a keyless signer ----

type keylessData struct {
	base
	Subject, Issuer string
	Pattern         bool
	Entries         []row
	Older           string
}

// keyless shows the statements a keyless signer made: those whose
// certificate names the subject (and the issuer, if given). Nothing about
// the signer is logged; once its bundles are erased, nothing is found.
func (p *Pages) keyless(rq *request) error {
	q := rq.r.URL.Query()
	subject, issuer := strings.TrimSpace(q.Get("subject")), strings.TrimSpace(q.Get("issuer"))
	if subject == "" {
		return badRequest("Name a keyless signer by the subject its certificate names: /keyless?subject=…[&issuer=…].")
	}
	if len(subject) > 512 || len(issuer) > 512 {
		return badRequest("A subject or an issuer is at most 512 characters.")
	}
	if err := rq.needEntries(); err != nil {
		return err
	}
	before, err := rq.uintParam("before")
	if err != nil {
		return err
	}
	f := &vouch.IdentityFilter{Issuer: issuer, Subject: subject, Pattern: strings.Contains(subject, "*")}
	items, next, err := rq.query(vouch.Filter{Identity: f}, timelineLimit, before, true, false)
	if err != nil {
		return err
	}
	if len(items) == 0 && before == nil {
		return notFound("No keyless attestation at tree size %d names %s: none was made, or its signer's data was erased.", rq.size, subject)
	}
	d := &keylessData{base: rq.base("Keyless signer "+subject, ""), Subject: subject, Issuer: issuer, Pattern: f.Pattern,
		Entries: rq.rows(items, nil), Older: rq.olderURL(next)}
	id := subject
	if issuer != "" {
		id = issuer + " " + subject
	}
	d.API = []link{{"statements by this signer", rq.apiURL("/api/v1/query", url.Values{"identity": {id}, "include": {"all"}})}}
	rq.render(http.StatusOK, "keyless", d)
	return nil
}

// ---- an identity ----

type identityData struct {
	base
	Ident     *state.Identity
	Who       signer
	Profile   *api.Profile
	Erased    bool
	Principal *signer
	RotatedTo *signer
	Made      []row
	Older     string
}

func (p *Pages) identity(rq *request) error {
	id := rq.r.PathValue("keyId")
	if !keys.ValidID(id) {
		return badRequest("A key ID is sha256: and 64 hexadecimal digits.")
	}
	if err := rq.needEntries(); err != nil {
		return err
	}
	ident, err := p.reg.IdentityState(rq.ctx(), id, rq.size)
	if err != nil {
		return err
	}
	if ident == nil {
		return notFound("No identity %s is registered at tree size %d.", id, rq.size)
	}
	d := &identityData{base: rq.base("Identity "+id, ""), Ident: ident, Who: rq.ids.get(id)}
	d.API = []link{{"identity", rq.apiURL("/api/v1/identities/"+id, nil)},
		{"statements made", rq.apiURL("/api/v1/query", url.Values{"signer": {id}, "include": {"all"}, "limit": {strconv.Itoa(timelineLimit)}})}}
	if ident.Commitment != "" {
		if d.Profile, d.Erased, err = p.reg.Profile(rq.ctx(), ident.Commitment); err != nil {
			return err
		}
	}
	if ident.Principal != "" && ident.Principal != id {
		s := rq.ids.get(ident.Principal)
		d.Principal = &s
	}
	if ident.RotatedTo != "" {
		s := rq.ids.get(ident.RotatedTo)
		d.RotatedTo = &s
	}
	before, err := rq.uintParam("before")
	if err != nil {
		return err
	}
	items, next, err := rq.query(vouch.Filter{Signer: id}, timelineLimit, before, true, false)
	if err != nil {
		return err
	}
	d.Made, d.Older = rq.rows(items, nil), rq.olderURL(next)
	rq.render(http.StatusOK, "identity", d)
	return nil
}

// ---- the log ----

type entriesData struct {
	base
	Checkpoint checkpointView
	Entries    []row
	Older      string
}

func (p *Pages) entries(rq *request) error {
	if idx := rq.r.URL.Query().Get("index"); idx != "" {
		n, err := strconv.ParseUint(idx, 10, 63)
		if err != nil {
			return badRequest("An entry's index is a non-negative integer, not %q.", idx)
		}
		http.Redirect(rq.w, rq.r, rq.base("", "").U("/entries/"+strconv.FormatUint(n, 10)), http.StatusSeeOther)
		return nil
	}
	d := &entriesData{base: rq.base("The log", "log"), Checkpoint: viewCheckpoint(rq.cp)}
	before, err := rq.uintParam("before")
	if err != nil {
		return err
	}
	d.API = []link{{"checkpoint", "/api/v1/checkpoint"}, {"entries", rq.apiURL("/api/v1/query", url.Values{"include": {"all"}, "limit": {strconv.Itoa(timelineLimit)}})},
		{"tiles (C2SP tlog-tiles)", "/log/checkpoint"}}
	items, next, err := rq.query(vouch.Filter{}, timelineLimit, before, true, false)
	if err != nil {
		return err
	}
	d.Entries, d.Older = rq.rows(items, nil), rq.olderURL(next)
	rq.render(http.StatusOK, "entries", d)
	return nil
}

type entryData struct {
	base
	Index      uint64
	Time       time.Time
	Integrated time.Time
	Row        row
	Record     string
	Leaf       string
	LeafHash   string
	ProofSize  uint64
	Proof      []string
	Root       string
	Verified   bool
	ProofErr   string
	Subjects   []string
	Payload    string
	Statement  string
	Erased     bool
	Prev, Next string
}

func (p *Pages) entry(rq *request) error {
	idx, err := strconv.ParseUint(rq.r.PathValue("index"), 10, 63)
	if err != nil {
		return badRequest("An entry's index is a non-negative integer.")
	}
	if idx >= rq.size {
		return notFound("Entry %d is not in the log at tree size %d.", idx, rq.size)
	}
	// The proof is in the tree of the checkpoint the page is valid for,
	// so that it can be checked against that checkpoint's signed root.
	e, err := p.reg.Entry(rq.ctx(), idx, rq.cp.Size)
	if err != nil {
		return err
	}
	d := &entryData{base: rq.base("Entry "+strconv.FormatUint(idx, 10), "log"), Index: idx, Time: e.Time, ProofSize: e.TreeSize}
	if e.Integrated != nil {
		d.Integrated = e.Integrated.Time
	}
	lh := tlog.RecordHash(e.Leaf)
	d.LeafHash = base64.StdEncoding.EncodeToString(lh[:])
	for _, h := range e.Proof {
		d.Proof = append(d.Proof, base64.StdEncoding.EncodeToString(h[:]))
	}
	d.Root = base64.StdEncoding.EncodeToString(rq.cp.Hash[:])
	if e.TreeSize == rq.cp.Size {
		if err := tlog.CheckRecord(e.Proof, int64(e.TreeSize), rq.cp.Hash, int64(idx), lh); err != nil {
			d.ProofErr = err.Error()
		} else {
			d.Verified = true
		}
	}
	d.Leaf = string(e.Leaf)
	sz := strconv.FormatUint(e.TreeSize, 10)
	d.API = []link{{"entry and proof", "/api/v1/entries/" + strconv.FormatUint(idx, 10) + "?size=" + sz},
		{"inclusion proof", "/api/v1/proof/inclusion?index=" + strconv.FormatUint(idx, 10) + "&size=" + sz}}
	le, err := record.ParseLeaf(e.Leaf)
	if err != nil {
		return err
	}
	item := &vouch.QueryItem{Index: idx, Time: e.Time, Entry: le}
	if le.Record != nil {
		item.Kind, item.Type, item.Package, item.Version = string(record.KindRecord), le.Record.Type, le.Record.Package, le.Record.Version
		d.Record = indentJSON(le.Payload)
	} else {
		a := le.Attestation
		item.Kind, item.Type, item.PredicateType = string(record.KindAttestation), "attestation", a.PredicateType
		d.Subjects = a.Subjects
		d.API = append(d.API, link{"attestation", "/api/v1/attestations/" + strconv.FormatUint(idx, 10)})
		ae, erased, err := p.reg.AttestationAt(rq.ctx(), idx)
		if err != nil {
			return err
		}
		d.Erased = erased
		if !erased && ae.Payload != nil {
			d.Statement = indentJSON(ae.Payload)
		}
	}
	var events map[uint64]state.Event
	if item.Package != "" && item.Version != "" {
		if rel, _, err := p.reg.ReleaseAt(rq.ctx(), item.Package, item.Version, rq.size); err == nil && rel != nil {
			events = map[uint64]state.Event{}
			for _, ev := range rel.History {
				events[ev.Index] = ev
			}
		}
	}
	d.Row = rq.rows([]*vouch.QueryItem{item}, events)[0]
	if idx > 0 {
		d.Prev = d.U("/entries/" + strconv.FormatUint(idx-1, 10))
	}
	if idx+1 < rq.size {
		d.Next = d.U("/entries/" + strconv.FormatUint(idx+1, 10))
	}
	rq.render(http.StatusOK, "entry", d)
	return nil
}

// indentJSON pretty-prints JSON for reading, or returns it as it is.
func indentJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return string(b)
	}
	return string(out)
}

// ---- content ----

type contentData struct {
	base
	Digest   string
	Releases []vouch.ReleaseRef
	Entries  []row
	Older    string
	Status   string
}

func (p *Pages) content(rq *request) error {
	digest := rq.r.PathValue("digest")
	if err := record.ValidateDigest(digest); err != nil {
		return badRequest("A content digest is sha256: and 64 hexadecimal digits.")
	}
	if err := rq.needEntries(); err != nil {
		return err
	}
	before, err := rq.uintParam("before")
	if err != nil {
		return err
	}
	items, next, err := rq.query(vouch.Filter{Subject: digest}, timelineLimit, before, true, false)
	if err != nil {
		return err
	}
	if len(items) == 0 && before == nil {
		return notFound("No entry names content %s at tree size %d.", digest, rq.size)
	}
	d := &contentData{base: rq.base("Content "+digest, ""), Digest: digest, Entries: rq.rows(items, nil), Older: rq.olderURL(next)}
	d.API = []link{{"entries about this content", rq.apiURL("/api/v1/query", url.Values{"subject": {digest}, "include": {"all"}})}}
	seen := map[string]bool{}
	for _, it := range items {
		for _, r := range it.Releases {
			if k := r.Package + "@" + r.Version; !seen[k] {
				seen[k] = true
				d.Releases = append(d.Releases, r)
			}
		}
	}
	if !rq.pinned {
		// Whether the bytes may be downloaded is decided by the latest
		// state only.
		st, err := p.reg.ContentStatus(rq.ctx(), digest)
		if err != nil {
			return err
		}
		switch st.State {
		case vouch.ContentServable:
			d.Status = "The content can be downloaded."
			d.API = append(d.API, link{"download", "/api/v1/blobs/" + digest})
		case vouch.ContentGone:
			d.Status = "The content is gone (" + st.Reason + ")."
		case vouch.ContentBanned:
			d.Status = "The content is unavailable for legal reasons."
		}
	}
	rq.render(http.StatusOK, "content", d)
	return nil
}
