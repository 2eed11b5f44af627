package vouch

import (
	"context"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/state"
)

// ReleaseReads are the reads ReleaseView makes besides the state: the
// off-log note of a yanked release, and whether linked content is stored.
type ReleaseReads interface {
	Note(ctx context.Context, digest string) string
	BlobSize(ctx context.Context, digest string) (int64, error)
}

// ReleaseView returns a release as every front end shows it (the JSON API
// and the web pages alike): what stays visible of a release depends on its
// effective state (docs/lifecycle.md, "What each state shows"). With full,
// the history is included.
func ReleaseView(ctx context.Context, r ReleaseReads, rel *state.Release, p *state.Package, full bool) api.Release {
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
		out.Note = r.Note(ctx, rel.Note)
		out.NoteErased = rel.Note != "" && out.Note == ""
	}
	// Uploaded content was verified before the release was accepted, and
	// leaves the store only with a banish; linked content is verified only
	// once the registry has fetched it.
	verified := true
	if rel.URL != "" {
		_, err := r.BlobSize(ctx, rel.Digest)
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

// PackageView returns a package as every front end shows it, without its
// releases and history.
func PackageView(p *state.Package) api.Package {
	out := api.Package{Name: p.Name, Status: p.Status, Owners: p.Owners, Grants: p.Grants, Head: p.Head, HeadIndex: p.HeadIndex, Created: p.Created}
	if l := p.Location; l != nil {
		out.Location = &api.Location{Origin: l.Origin, Key: l.Key, URL: l.URL}
	}
	if p.Status != state.StatusActive {
		out.Reason = p.Reason
	}
	return out
}
