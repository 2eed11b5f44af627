package vouch

import (
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/query"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/translog"
)

// Entry is a log entry with an inclusion proof.
type Entry struct {
	Index uint64
	// Leaf is the entry's bytes in the log, and Time its log time.
	Leaf []byte
	Time time.Time
	// Integrated is the first checkpoint that covered it.
	Integrated *translog.Checkpoint
	// TreeSize is the tree the proof is for, and Checkpoint its
	// checkpoint if one was signed at exactly that size.
	TreeSize   uint64
	Proof      tlog.RecordProof
	Checkpoint *translog.Checkpoint
}

// Receipt acknowledges a write: the entry is durably in the log.
type Receipt struct {
	Index    uint64
	LeafHash tlog.Hash
	Time     time.Time
	// Hash is the record hash (the package's next prev), for records.
	Hash string
}

// Filter holds a query's indexed filters; zero fields do not filter.
type Filter struct {
	Package       string
	Version       string
	Subject       string
	Signer        string
	PredicateType string
	Kind          string
	Type          string
	// Since and Until select log times [Since, Until).
	Since, Until time.Time
	// From and To select indexes [From, To) (To = 0: no upper bound).
	From, To uint64
	// Identity selects keyless attestations by their signer (nil: any).
	Identity *IdentityFilter
}

// IdentityFilter selects keyless attestations by the identity their
// certificate names: Issuer exactly (empty: any issuer), Subject exactly,
// or with Pattern, where "*" stands for any run of characters.
type IdentityFilter struct {
	Issuer  string
	Subject string
	Pattern bool
}

// QueryRequest is one page of the query over every entry.
type QueryRequest struct {
	// Size is the tree size the query answers for (resolved by the caller).
	Size   uint64
	Filter Filter
	// State keeps entries about a release in this (effective) state; it
	// shows them whatever Include says.
	State string
	// Include shows entries about staged, yanked and removed releases.
	Include state.Include
	// Where is a compiled CEL filter, or nil; its evaluations over all
	// the entries the request examines share one budget (default
	// query.RequestBudget), and stop when the request's context ends.
	Where  *query.Filter
	Budget *query.Budget
	// Bodies asks for the statements of attestations (predicate, fields).
	Bodies bool
	Desc   bool
	After  *uint64
	Limit  int
}

// NeedsBody reports whether the query needs the statement of an
// attestation with the given predicate type: for its predicate, its typed
// fields, or the where= filter.
func (req *QueryRequest) NeedsBody(predicateType string) bool {
	return req.Bodies || predicate.Known(predicateType) || req.Where != nil && req.Where.UsesBody
}

// ReleaseRef is a release an entry is about, with its state.
type ReleaseRef struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Status  string `json:"status"`
}

// QueryItem is one entry in a query's answer.
type QueryItem struct {
	Index uint64
	Time  time.Time
	// Kind, Type, Package, Version and PredicateType are the entry's
	// index fields.
	Kind, Type, Package, Version, PredicateType string
	// Entry is the parsed leaf.
	Entry    *record.Entry
	Releases []ReleaseRef
	// For attestations: the predicate, its typed fields, and whether the
	// statement was erased.
	Predicate map[string]any
	Fields    map[string]any
	Erased    bool
	// Identities are a keyless attestation's signers (nil once erased).
	Identities []api.CertIdentity
}

// Vars returns the CEL variables of an item (see query.Vars).
func (it *QueryItem) Vars() map[string]any {
	states := make([]string, 0, len(it.Releases))
	for _, rr := range it.Releases {
		states = append(states, rr.Status)
	}
	v := map[string]any{
		"index": int64(it.Index), "time": it.Time, "kind": it.Kind, "type": it.Type,
		"package": it.Package, "version": it.Version, "signers": it.Signers(), "subjects": it.Subjects(),
		"predicateType": it.PredicateType, "states": states, "predicate": map[string]any{}, "fields": map[string]any{},
		"erased": it.Erased, "identities": it.identityVars(),
	}
	if it.Predicate != nil {
		v["predicate"] = it.Predicate
	}
	if it.Fields != nil {
		v["fields"] = it.Fields
	}
	return v
}

// identityVars returns the keyless signers as CEL sees them: a list of
// maps (issuer, subject, and the certificate's extensions).
func (it *QueryItem) identityVars() []map[string]string {
	out := make([]map[string]string, len(it.Identities))
	for i := range it.Identities {
		out[i] = it.Identities[i].Vars()
	}
	return out
}

// Signers returns the key IDs that signed the entry.
func (it *QueryItem) Signers() []string { return it.Entry.KeyIDs() }

// Imported describes an entry imported from another registry (a package
// that moved here), or is nil.
func (it *QueryItem) Imported() *record.ImportRef { return it.Entry.Import }

// Subjects returns the content digests the entry is about.
func (it *QueryItem) Subjects() []string {
	e := it.Entry.Unwrap()
	if a := e.Attestation; a != nil {
		return a.Subjects
	}
	if d := e.Record.Digest; d != "" {
		return []string{d}
	}
	return []string{}
}

// ContentState says whether content may be served.
type ContentState int

// Content states, in order of precedence.
const (
	// ContentUnknown: no release names this digest (404).
	ContentUnknown ContentState = iota
	// ContentGone: every release naming it is deleted or tombstoned (410).
	ContentGone
	// ContentServable: a release naming it is staged, published or yanked.
	ContentServable
	// ContentBanned: a release naming it is banished or under legal hold
	// (451). This wins over everything: the bytes must not be served.
	ContentBanned
)

// ContentStatus is the serving status of a digest at the latest checkpoint.
type ContentStatus struct {
	State ContentState
	// Reason explains a Gone or Banned state.
	Reason string
	// URL is where a servable release links its content, and Size the
	// size it declares.
	URL  string
	Size int64
}
