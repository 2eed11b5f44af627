package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/translog"
)

func hashBytes(b []byte) []byte { h := sha256.Sum256(b); return h[:8] }

// base is what every page shows: its title, the JSON API calls behind it,
// the search box and the time-travel control.
type base struct {
	Title  string
	Nav    string
	Search string
	// API lists the JSON API calls the page is built from.
	API    []link
	Travel *travel
	// atQ is "at=N" when the visitor pinned a point in time: links between
	// pages keep it.
	atQ string
}

type link struct{ Label, Href string }

// U returns a link to a page that keeps the page's point in time.
func (b base) U(p string) string {
	if b.atQ == "" {
		return p
	}
	if strings.Contains(p, "?") {
		return p + "&" + b.atQ
	}
	return p + "?" + b.atQ
}

// AtQ returns "at=N" when the page is pinned to a point in time, else "".
func (b base) AtQ() string { return b.atQ }

// travel is the time-travel control and the banner saying which checkpoint
// the page is valid for.
type travel struct {
	Action string
	Keep   []kv
	Size   uint64
	Latest uint64
	Pinned bool
	CP     checkpointView
	// Links to the first entry, one entry back and forth, and the latest.
	First, Prev, Next, LatestURL string
	AsOf                         string
}

type kv struct{ Key, Value string }

type checkpointView struct {
	Origin    string
	Size      uint64
	Root      string
	Time      time.Time
	Note      string
	Witnesses []string
}

func viewCheckpoint(cp *translog.Checkpoint) checkpointView {
	if cp == nil {
		return checkpointView{}
	}
	return checkpointView{Origin: cp.Origin, Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Hash[:]), Time: cp.Time,
		Note: string(cp.Note), Witnesses: witnesses(cp.Note, cp.Origin)}
}

// witnesses returns the names of a checkpoint note's signatures other than
// the log's own (C2SP signed-note: "— <name> <signature>" lines after the
// blank line), which are witnesses' cosignatures. The pages do not verify
// them: they hold no witness keys.
func witnesses(note []byte, origin string) []string {
	_, sigs, ok := strings.Cut(string(note), "\n\n")
	if !ok {
		return nil
	}
	var out []string
	for _, line := range strings.Split(sigs, "\n") {
		rest, ok := strings.CutPrefix(line, "\u2014 ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, " ")
		if name != origin && name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// base builds what every page shows.
func (rq *request) base(title, nav string) base {
	b := base{Title: title, Nav: nav}
	if rq.latest == nil || rq.cp == nil {
		return b // the point in time could not be resolved
	}
	if rq.pinned {
		b.atQ = "at=" + strconv.FormatUint(rq.size, 10)
	}
	t := &travel{Action: rq.r.URL.Path, Size: rq.size, Latest: rq.latest.Size, Pinned: rq.pinned, CP: viewCheckpoint(rq.cp)}
	q := rq.r.URL.Query()
	var keep url.Values = url.Values{}
	for k, vs := range q {
		if k == "at" || k == "asof" || k == "before" {
			continue
		}
		for _, v := range vs {
			t.Keep = append(t.Keep, kv{k, v})
			keep.Add(k, v)
		}
	}
	slices.SortFunc(t.Keep, func(a, b kv) int { return strings.Compare(a.Key+"="+a.Value, b.Key+"="+b.Value) })
	at := func(n uint64) string {
		v := url.Values{}
		for k, vs := range keep {
			v[k] = vs
		}
		if n != 0 {
			v.Set("at", strconv.FormatUint(n, 10))
		}
		if len(v) == 0 {
			return rq.r.URL.Path
		}
		return rq.r.URL.Path + "?" + v.Encode()
	}
	if rq.size > 1 {
		t.First, t.Prev = at(1), at(rq.size-1)
	}
	if rq.size < rq.latest.Size {
		t.Next = at(rq.size + 1)
	}
	t.LatestURL = at(0)
	if v := q.Get("asof"); v != "" {
		t.AsOf = v
	}
	b.Travel = t
	return b
}

// signer is a key as the pages show it: its ID, and the name in its
// profile unless erased.
type signer struct {
	KeyID   string
	Name    string
	Erased  bool
	Unknown bool
}

// identities looks up the signers a page shows, once each.
type identities struct {
	rq *request
	m  map[string]signer
}

func (ids *identities) get(keyID string) signer {
	if s, ok := ids.m[keyID]; ok {
		return s
	}
	s := signer{KeyID: keyID}
	ctx := ids.rq.ctx()
	ident, err := ids.rq.p.reg.IdentityState(ctx, keyID, ids.rq.size)
	switch {
	case err != nil:
	case ident == nil:
		s.Unknown = true
	case ident.Commitment != "":
		prof, erased, err := ids.rq.p.reg.Profile(ctx, ident.Commitment)
		if err == nil {
			s.Erased = erased
			if prof != nil {
				s.Name = firstOf(prof.Name, prof.Org, prof.Email)
			}
		}
	}
	ids.m[keyID] = s
	return s
}

func (ids *identities) list(keyIDs []string) []signer {
	out := make([]signer, 0, len(keyIDs))
	for _, k := range keyIDs {
		out = append(out, ids.get(k))
	}
	return out
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// row is one entry of a timeline.
type row struct {
	Index uint64
	Time  time.Time
	Kind  string
	// What says what happened: a record type, or "attestation".
	What             string
	Package, Version string
	// Identity is the key an identity record is about.
	Identity string
	Operator bool
	Signers  []signer
	// Keyless are a keyless attestation's signers, as their
	// certificates name them (nil once erased).
	Keyless []api.CertIdentity
	Role    string
	Reason  string
	// For attestations.
	PredicateType string
	Fields        []kv
	Releases      []vouch.ReleaseRef
	Erased        bool
}

// rows turns query items into timeline rows; events gives the role of the
// records whose history events the page knows.
func (rq *request) rows(items []*vouch.QueryItem, events map[uint64]state.Event) []row {
	out := make([]row, 0, len(items))
	for _, it := range items {
		r := row{Index: it.Index, Time: it.Time, Kind: it.Kind, What: it.Type, Package: it.Package, Version: it.Version,
			Signers: rq.ids.list(it.Signers()), Keyless: it.Identities, PredicateType: it.PredicateType, Releases: it.Releases, Erased: it.Erased}
		if rec := it.Entry.Record; rec != nil {
			r.Reason = rec.Reason
			r.Operator = rec.Chain() == record.ChainOperator
			if ev, ok := events[it.Index]; ok {
				r.Role = ev.Role
			} else if r.Operator {
				r.Role = state.RoleOperator
			}
			switch rec.Type {
			case record.TypeIdentity:
				if ks := rec.EmbeddedKeys(); len(ks) > 0 {
					r.Identity = ks[0].ID()
				}
			case record.TypeIdentityRotate, record.TypeIdentityRevoke, record.TypeGrantOperator, record.TypeRevokeOperator,
				record.TypeGrant, record.TypeRevoke:
				r.Identity = rec.KeyID
			}
		} else {
			r.What = "attestation"
			r.Fields = fields(it.Fields)
		}
		out = append(out, r)
	}
	return out
}

// fields returns typed predicate fields in name order, as text.
func fields(m map[string]any) []kv {
	var out []kv
	for k, v := range m {
		s := text(v)
		if s == "" || s == "[]" {
			continue
		}
		out = append(out, kv{k, s})
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// text shows a JSON value: strings as they are, the rest as JSON.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	case []string:
		return strings.Join(v, ", ")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// predicateNames are short names of the predicate types Vouch knows.
var predicateNames = map[string]string{
	predicate.SLSAProvenanceV1:   "SLSA provenance",
	predicate.Approval:           "approval",
	predicate.Certification:      "certification",
	predicate.DistributionRights: "distribution rights",
}

func pkgURL(name string) string { return "/packages/" + url.PathEscape(name) }

func relURL(name, version string) string {
	return pkgURL(name) + "/versions/" + url.PathEscape(version)
}

// statusText says what a release state means to someone looking at it.
var statusText = map[string]string{
	state.StatusStaged:     "staged: a test channel; never latest, fetchable by exact version only",
	state.StatusPublished:  "listed, and eligible as the package's latest release",
	state.StatusYanked:     "yanked: still fetchable by exact version, but never latest and left out of listings",
	state.StatusDeleted:    "deleted: its content is gone; name@version is never reused",
	state.StatusTombstoned: "tombstoned by the registry operator: its content is withheld",
	state.StatusBanished:   "banished by the registry operator: a legal take-down; the bytes are purged for good",
}

var funcs = template.FuncMap{
	"pkgURL": pkgURL,
	"relURL": relURL,
	"idURL":  func(id string) string { return "/identities/" + url.PathEscape(id) },
	"keylessURL": func(id api.CertIdentity) string {
		return "/keyless?" + url.Values{"issuer": {id.Issuer}, "subject": {id.Subject}}.Encode()
	},
	"entryURL": func(i uint64) string {
		return "/entries/" + strconv.FormatUint(i, 10)
	},
	"contentURL": func(d string) string { return "/content/" + url.PathEscape(d) },
	"short": func(id string) string {
		if h, ok := strings.CutPrefix(id, "sha256:"); ok && len(h) > 12 {
			return "sha256:" + h[:12] + "…"
		}
		return id
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"bytes":   humanBytes,
	"ptype": func(u string) string {
		if n, ok := predicateNames[u]; ok {
			return n
		}
		return u
	},
	"statusText": func(s string) string { return statusText[s] },
	"join":       strings.Join,
	"deref": func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	},
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB (%d bytes)", float64(n)/float64(div), "KMGTPE"[exp], n)
}

// B returns the base of a page, for the templates shared by pages.
func (b base) B() base { return b }

// sigCtx and tlCtx carry a page's base into the shared templates "signer"
// and "timeline".
type sigCtx struct {
	B base
	S signer
}

func (c sigCtx) U(p string) string { return c.B.U(p) }

// klCtx carries a page's base into the shared template "keylessSigner".
type klCtx struct {
	B base
	I api.CertIdentity
}

func (c klCtx) U(p string) string { return c.B.U(p) }

type tlCtx struct {
	B    base
	Rows []row
}

func init() {
	funcs["sig"] = func(b base, s signer) sigCtx { return sigCtx{b, s} }
	funcs["kl"] = func(b base, id api.CertIdentity) klCtx { return klCtx{b, id} }
	funcs["tl"] = func(b base, rows []row) tlCtx { return tlCtx{b, rows} }
}

func init() {
	funcs["rowsOf"] = func(r row) []row { return []row{r} }
}
