package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
)

func (r *Registry) blobs() blob.Store { return r.cfg.Blobs }

// checkContent runs before a release or promote record is sequenced: the
// content a release names must be in the blob store and match its declared
// size, and content linked by URL must be fetched and verified before the
// release is published. Content at hand gets its other digests recorded in
// the leaf (see attachDigests).
func (r *Registry) checkContent(ctx context.Context, e *record.Entry) error {
	rec := e.Record
	if rec == nil || r.cfg.Blobs == nil || rec.Type != record.TypeRelease && rec.Type != record.TypePromote {
		return nil
	}
	if err := r.verifyContent(ctx, e); err != nil {
		return err
	}
	return r.attachDigests(ctx, e)
}

func (r *Registry) verifyContent(ctx context.Context, e *record.Entry) error {
	rec := e.Record
	switch rec.Type {
	case record.TypeRelease:
		// Content named by earlier releases may have been banished.
		st, err := r.ContentStatus(ctx, rec.Digest)
		if err != nil {
			return err
		}
		if st.State == vouch.ContentBanned {
			return &state.Refusal{Code: state.CodeContentBanished, Msg: rec.Digest + " was banished from this registry"}
		}
		if rec.URL != "" {
			if rec.Channel != record.ChannelPublished {
				return nil // a staged release may stay unverified
			}
			return r.verifyLinked(ctx, rec.URL, rec.Digest, *rec.Size)
		}
		size, err := r.blobs().Stat(ctx, rec.Digest)
		if errors.Is(err, blob.ErrNotFound) {
			return &state.Refusal{Code: state.CodeContentMissing, Msg: fmt.Sprintf("content %s is not uploaded; PUT it to /api/v1/blobs/%s first", rec.Digest, rec.Digest)}
		}
		if err != nil {
			return &UnavailableError{Err: err}
		}
		if size != *rec.Size {
			return &state.Refusal{Code: state.CodeContentMismatch, Msg: fmt.Sprintf("content %s is %d bytes; the release declares %d", rec.Digest, size, *rec.Size)}
		}
	case record.TypePromote:
		rel, err := getState[state.Release](ctx, r, state.ReleaseKey(rec.Package, rec.Version), maxSize)
		if err != nil || rel == nil || rel.URL == "" {
			return err
		}
		return r.verifyLinked(ctx, rel.URL, rel.Digest, rel.Size)
	}
	return nil
}

// verifyLinked makes sure linked content is in the blob store, fetching and
// verifying it if needed.
func (r *Registry) verifyLinked(ctx context.Context, url, digest string, size int64) error {
	if err := r.fetcher.Ensure(ctx, url, digest, size); err != nil {
		return &state.Refusal{Code: state.CodeContentMismatch, Msg: "linked content could not be verified: " + err.Error()}
	}
	return nil
}

// ContentStatus decides whether the content with the given digest may be
// served, from the states of the releases that name it.
func (r *Registry) ContentStatus(ctx context.Context, digest string) (*vouch.ContentStatus, error) {
	cp, err := r.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := r.st.Query(ctx, &store.Query{Size: maxSize, Subject: digest, Type: record.TypeRelease, Limit: 1000})
	if err != nil {
		return nil, err
	}
	out := &vouch.ContentStatus{}
	for _, row := range rows {
		size := cp.Size
		if row.Index >= size {
			size = maxSize // sequenced, not yet checkpointed: its own state decides
		}
		rel, err := getState[state.Release](ctx, r, state.ReleaseKey(row.Package, row.Version), size)
		if err != nil {
			return nil, err
		}
		p, err := getState[state.Package](ctx, r, state.PackageKey(row.Package), size)
		if err != nil {
			return nil, err
		}
		if rel == nil || rel.Digest != digest {
			continue
		}
		st, reason := vouch.ContentUnknown, ""
		switch eff := rel.Effective(p); eff {
		case state.StatusStaged, state.StatusPublished, state.StatusYanked:
			st = vouch.ContentServable
		case state.StatusBanished:
			st, reason = vouch.ContentBanned, fmt.Sprintf("%s@%s was banished (%s)", rel.Package, rel.Version, rel.EffectiveReason(p))
		case state.StatusTombstoned:
			st, reason = vouch.ContentGone, fmt.Sprintf("%s@%s is tombstoned (%s)", rel.Package, rel.Version, rel.EffectiveReason(p))
			if rel.EffectiveReason(p) == "legal-hold" {
				st = vouch.ContentBanned
			}
		case state.StatusDeleted:
			st, reason = vouch.ContentGone, fmt.Sprintf("%s@%s was deleted (%s)", rel.Package, rel.Version, rel.Reason)
		}
		if st > out.State {
			out.State, out.Reason = st, reason
			if st == vouch.ContentServable {
				out.URL, out.Size = rel.URL, rel.Size
			}
		}
	}
	return out, nil
}

// PutBlob stores uploaded content after checking it is not banished.
func (r *Registry) PutBlob(ctx context.Context, digest string, body io.Reader) (int64, error) {
	if r.cfg.Blobs == nil {
		return 0, &UnavailableError{Err: errors.New("this registry has no blob store")}
	}
	st, err := r.ContentStatus(ctx, digest)
	if err != nil {
		return 0, err
	}
	if st.State == vouch.ContentBanned {
		return 0, &state.Refusal{Code: state.CodeContentBanished, Msg: st.Reason + "; its content cannot be uploaded again"}
	}
	return digestingBlobs{r.blobs(), r.digests}.Put(ctx, digest, body, r.cfg.MaxBlobSize)
}

// OpenBlob opens content for serving. Callers check ContentStatus first.
func (r *Registry) OpenBlob(ctx context.Context, digest string) (blob.Blob, error) {
	if r.cfg.Blobs == nil {
		return nil, blob.ErrNotFound
	}
	return r.blobs().Open(ctx, digest)
}

// purgeBanished removes the bytes and off-log notes of banished releases.
// It runs after a banish is committed, and again from the monitor, so a
// crash in between cannot leave banished bytes behind for long.
func (r *Registry) purgeBanished(ctx context.Context, pkg, version string) error {
	var rels []*state.Release
	var notes []string
	if version != "" {
		rel, err := getState[state.Release](ctx, r, state.ReleaseKey(pkg, version), maxSize)
		if err != nil || rel == nil {
			return err
		}
		rels = append(rels, rel)
	} else {
		all, err := r.releasesAt(ctx, pkg, maxSize)
		if err != nil {
			return err
		}
		rels = all
		if p, err := getState[state.Package](ctx, r, state.PackageKey(pkg), maxSize); err == nil && p != nil {
			notes = append(notes, noteDigests(p.History)...)
		}
	}
	for _, rel := range rels {
		if r.cfg.Blobs != nil {
			if err := r.blobs().Delete(ctx, rel.Digest); err != nil {
				return err
			}
		}
		notes = append(notes, noteDigests(rel.History)...)
	}
	// Only what is still here: a retried purge records nothing new.
	var present []string
	for _, d := range notes {
		if _, err := r.st.OffLog(ctx, d); err == nil && !slices.Contains(present, d) {
			present = append(present, d)
		}
	}
	return r.erase(ctx, nil, present)
}

// noteDigests lists the off-log notes a history refers to, once each.
func noteDigests(history []state.Event) []string {
	var notes []string
	for _, ev := range history {
		if ev.Note != "" && !slices.Contains(notes, ev.Note) {
			notes = append(notes, ev.Note)
		}
	}
	return notes
}

// afterCommit runs the side effects of accepted entries: purging banished
// content.
func (r *Registry) afterCommit(entries []*record.Entry) {
	for _, e := range entries {
		if e.Record != nil && e.Record.Type == record.TypeBanish {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := r.purgeBanished(ctx, e.Record.Package, e.Record.Version); err != nil {
				r.log.Error("purging banished content failed; the monitor will retry", "package", e.Record.Package, "version", e.Record.Version, "err", err)
			}
			cancel()
		}
	}
}

// BlobSize returns the stored size of content, or blob.ErrNotFound.
func (r *Registry) BlobSize(ctx context.Context, digest string) (int64, error) {
	if r.cfg.Blobs == nil {
		return 0, blob.ErrNotFound
	}
	return r.blobs().Stat(ctx, digest)
}
