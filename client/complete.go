package client

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"filippo.io/torchwood/prefix"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/vindex"
)

// IncompleteError is an answer that leaves out, or changes, something the
// registry's verifiable index commits to: the registry (or something
// between it and the client) hid part of the truth.
type IncompleteError struct {
	// What the answer was about, and what is wrong with it.
	What, Reason string
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("the answer about %s is not complete: %s", e.What, e.Reason)
}

// checkProof verifies a completeness proof against the verified
// checkpoint cp: it is about the key asked, for cp's tree, and proves the
// value it carries (or the key's absence) against the index root cp
// commits to.
func checkProof(cp *translog.Checkpoint, kind, key string, c *api.Completeness) error {
	what := kind + " " + key
	if c == nil {
		return &IncompleteError{What: what, Reason: "the registry sent no proof of completeness"}
	}
	if cp.Index == nil {
		return &IncompleteError{What: what, Reason: fmt.Sprintf("the checkpoint of size %d commits to no index", cp.Size)}
	}
	if c.Kind != kind || c.Key != key || c.TreeSize != cp.Size {
		return &IncompleteError{What: what, Reason: fmt.Sprintf("the proof is about %s %s at tree size %d, not this answer's (size %d)", c.Kind, c.Key, c.TreeSize, cp.Size)}
	}
	if len(c.Proof) > vindex.MaxProof {
		return &IncompleteError{What: what, Reason: "the proof is longer than any index proof can be"}
	}
	p := &vindex.Proof{Present: c.Present}
	for _, n := range c.Proof {
		l, err := vindex.ParseLabel(n.Label)
		if err != nil || len(n.Hash) != 32 {
			return &IncompleteError{What: what, Reason: "the proof holds a malformed node"}
		}
		p.Nodes = append(p.Nodes, proofNode(l, n.Hash))
	}
	if c.Present {
		switch kind {
		case vindex.KindPackage:
			p.Value = vindex.ValueHash(c.Value)
		default:
			if !slices.IsSorted(c.Indexes) {
				return &IncompleteError{What: what, Reason: "the listed log indexes are not in order"}
			}
			if len(c.Indexes) > 0 && c.Indexes[len(c.Indexes)-1] >= cp.Size {
				return &IncompleteError{What: what, Reason: "the list names entries beyond the checkpoint"}
			}
			p.Value = vindex.ListHash(c.Indexes)
		}
	} else if len(c.Value) > 0 || len(c.Indexes) > 0 {
		return &IncompleteError{What: what, Reason: "the proof says the key is absent, yet carries a value"}
	}
	if err := p.Verify([32]byte(cp.Index), vindex.Label(kind, key)); err != nil {
		return &IncompleteError{What: what, Reason: err.Error() + " against the index root the checkpoint commits to"}
	}
	return nil
}

// provenPackage returns the package and releases a verified package proof
// holds (nil if it proves the package absent).
func provenPackage(name string, c *api.Completeness) (*state.Package, []*state.Release, error) {
	if !c.Present {
		return nil, nil, nil
	}
	p, rels, err := vindex.ParsePackageValue(c.Value)
	if err != nil || p.Name != name || len(rels) != len(p.Versions) {
		return nil, nil, &IncompleteError{What: "package " + name, Reason: "the proven value is not this package's state"}
	}
	return p, rels, nil
}

// checkPackage checks a package answer against the package the index
// proves: its status, owners, head and history, and every release the
// include filter shows, with its status and digest, and no other.
func checkPackage(p *api.Package, include string, c *api.Completeness) error {
	what := "package " + p.Name
	want, rels, err := provenPackage(p.Name, c)
	if err != nil {
		return err
	}
	if want == nil {
		return &IncompleteError{What: what, Reason: "the index proves the package absent, but the answer shows it"}
	}
	bad := func(format string, args ...any) error {
		return &IncompleteError{What: what, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case p.Status != want.Status:
		return bad("its status is %s, not %s", want.Status, p.Status)
	case p.Head != want.Head || p.HeadIndex != want.HeadIndex:
		return bad("its head record is entry %d, not %d", want.HeadIndex, p.HeadIndex)
	case !slices.Equal(p.Owners, want.Owners):
		return bad("its owners are %v, not %v", want.Owners, p.Owners)
	case len(p.History) != len(want.History):
		return bad("it has %d events in its history; the answer shows %d", len(want.History), len(p.History))
	}
	for i, ev := range want.History {
		if p.History[i].Index != ev.Index || p.History[i].Action != ev.Action {
			return bad("event %d of its history is the %s at entry %d", i, ev.Action, ev.Index)
		}
	}
	in, err := state.ParseInclude(include)
	if err != nil {
		return err
	}
	shown := map[string]api.Release{}
	for _, r := range p.Releases {
		shown[r.Version] = r
	}
	for _, r := range rels {
		eff := r.Effective(want)
		got, ok := shown[r.Version]
		switch {
		case !in.Shows(eff) && ok:
			return bad("it shows %s@%s, which is %s", p.Name, r.Version, eff)
		case !in.Shows(eff):
			continue
		case !ok:
			return bad("it leaves out %s@%s, which is %s", p.Name, r.Version, eff)
		}
		if err := checkRelease(&got, r, eff); err != nil {
			return err
		}
		delete(shown, r.Version)
	}
	for v := range shown {
		return bad("it shows %s@%s, which the package does not have", p.Name, v)
	}
	latest := ""
	if l := state.Latest(want, rels); l != nil {
		latest = l.Version
	}
	if p.Latest != latest {
		return bad("its latest release is %q, not %q", latest, p.Latest)
	}
	return nil
}

// checkRelease checks one release of an answer against the proven state.
func checkRelease(got *api.Release, want *state.Release, eff string) error {
	what := want.Package + "@" + want.Version
	bad := func(format string, args ...any) error {
		return &IncompleteError{What: what, Reason: fmt.Sprintf(format, args...)}
	}
	if got.Status != eff {
		return bad("it is %s, not %s", eff, got.Status)
	}
	if got.Digest != "" && got.Digest != want.Digest {
		return bad("its content is %s, not %s", want.Digest, got.Digest)
	}
	if got.History != nil {
		if len(got.History) != len(want.History) {
			return bad("it has %d events in its history; the answer shows %d", len(want.History), len(got.History))
		}
		for i, ev := range want.History {
			if got.History[i].Index != ev.Index || got.History[i].Action != ev.Action {
				return bad("event %d of its history is the %s at entry %d", i, ev.Action, ev.Index)
			}
		}
	}
	return nil
}

// checkReleaseAnswer checks a release answer against its package's proof.
func checkReleaseAnswer(name, version string, rr *api.ReleaseResponse) error {
	want, rels, err := provenPackage(name, rr.Complete)
	if err != nil {
		return err
	}
	for _, r := range rels {
		if r.Version == version {
			return checkRelease(&rr.Release, r, r.Effective(want))
		}
	}
	return &IncompleteError{What: name + "@" + version, Reason: "the index proves no such release, but the answer shows one"}
}

// checkPage checks one page of a query answer against the proven list of
// every entry it asks for: the page's items are the list's entries that
// follow the cursor (in the page's order), none left out, and a next
// cursor is given while any remain.
func checkPage(qr *api.QueryResponse, p *QueryParams, c *api.Completeness) error {
	what := c.Kind + " " + c.Key
	list := slices.Clone(c.Indexes)
	desc := p.Order == "" || p.Order == "desc" || p.Order == "newest"
	if desc {
		slices.Reverse(list)
	}
	if p.Cursor != "" {
		after, err := cursorAfter(p.Cursor)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list, func(x uint64) bool { return desc && x < after || !desc && x > after })
		if i < 0 {
			i = len(list)
		}
		list = list[i:]
	}
	if len(qr.Items) > len(list) {
		return &IncompleteError{What: what, Reason: fmt.Sprintf("the page shows %d entries; only %d remain", len(qr.Items), len(list))}
	}
	for i, it := range qr.Items {
		if it.Index != list[i] {
			return &IncompleteError{What: what, Reason: fmt.Sprintf("the page shows entry %d where the index lists entry %d", it.Index, list[i])}
		}
	}
	if len(qr.Items) < len(list) && qr.Next == "" {
		return &IncompleteError{What: what, Reason: fmt.Sprintf("the answer ends after %d entries; the index lists %d more", len(qr.Items), len(list)-len(qr.Items))}
	}
	if len(qr.Items) == 0 && len(list) > 0 {
		return &IncompleteError{What: what, Reason: "the page is empty, but entries remain"}
	}
	return nil
}

// cursorAfter reads the last index a query cursor continues after (the
// registry's "v1:SIZE:AFTER" cursors).
func cursorAfter(cursor string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	var size, after uint64
	if err == nil {
		_, err = fmt.Sscanf(string(b), "v1:%d:%d", &size, &after)
	}
	if err != nil || !strings.HasPrefix(string(b), "v1:") {
		return 0, fmt.Errorf("the query cursor %q is not one a Vouch registry makes", cursor)
	}
	return after, nil
}

func proofNode(l prefix.Label, hash []byte) prefix.ProofNode {
	return prefix.ProofNode{Label: l, Hash: [32]byte(hash)}
}
