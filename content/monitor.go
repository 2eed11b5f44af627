package content

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/vouchdev/vouch/metrics"
)

// Release is a release whose content the monitor looks after.
type Release struct {
	Package, Version string
	Digest           string
	Size             int64
	// URL is where linked content lives ("" for uploaded content).
	URL string
	// Banished says the release is banished: its bytes must not stay.
	Banished bool
}

// Name returns "package@version".
func (r Release) Name() string { return r.Package + "@" + r.Version }

// Target is what the monitor watches over and acts on: the registry.
type Target interface {
	// Releases calls fn for every release that is published or yanked
	// (whose linked content must stay available) or banished (whose bytes
	// must go), at the tip of the log.
	Releases(ctx context.Context, fn func(Release) error) error
	// Tombstone tombstones a release whose linked content is lost, giving
	// why.
	Tombstone(ctx context.Context, r Release, why string) error
	// Purge removes a banished release's bytes and off-log data.
	Purge(ctx context.Context, r Release) error
}

// Monitor re-fetches linked content and purges what banishment left.
type Monitor struct {
	Fetcher *Fetcher
	Target  Target
	Logger  *slog.Logger
	// Metrics, if set, counts the result of every check and purge.
	Metrics *metrics.Metrics
}

// Report says what one pass of the monitor did.
type Report struct {
	Checked    int
	Tombstoned []string
	Purged     int
}

// Pass re-fetches the linked content of every published or yanked release
// and tombstones (reason "integrity") the ones whose content is gone or
// changed; it also removes any bytes of banished releases still in the
// blob store. Transient fetch failures are logged and retried on the next
// pass.
func (m *Monitor) Pass(ctx context.Context) (*Report, error) {
	rep := &Report{}
	err := m.Target.Releases(ctx, func(rel Release) error {
		if rel.Banished {
			if _, err := m.Fetcher.Blobs.Stat(ctx, rel.Digest); err == nil {
				if err := m.Target.Purge(ctx, rel); err != nil {
					return err
				}
				rep.Purged++
				m.Metrics.Content(metrics.ContentPurged)
			}
			return nil
		}
		if rel.URL == "" {
			return nil
		}
		rep.Checked++
		err := m.Fetcher.Fetch(ctx, rel.URL, rel.Digest, rel.Size)
		var fe *FetchError
		switch {
		case err == nil:
			m.Metrics.Content(metrics.ContentOK)
		case errors.As(err, &fe) && fe.Gone:
			if fe.Changed {
				m.Metrics.Content(metrics.ContentChanged)
			} else {
				m.Metrics.Content(metrics.ContentGone)
			}
			m.Logger.Warn("linked content changed or disappeared: tombstoning", "release", rel.Name(), "why", fe.Msg)
			if err := m.Target.Tombstone(ctx, rel, fe.Msg); err != nil {
				m.Logger.Error("content monitor could not tombstone", "release", rel.Name(), "err", err)
				return nil
			}
			rep.Tombstoned = append(rep.Tombstoned, rel.Name())
		default:
			m.Metrics.Content(metrics.ContentError)
			m.Logger.Warn("content monitor could not check linked content", "release", rel.Name(), "err", err)
		}
		return nil
	})
	return rep, err
}

// Run makes a pass every interval while active reports true (only one
// replica of a registry should watch), until ctx ends.
func (m *Monitor) Run(ctx context.Context, interval time.Duration, active func() bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !active() {
			continue
		}
		rep, err := m.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			m.Logger.Error("content monitor pass failed", "err", err)
		} else if rep != nil {
			m.Logger.Info("content monitor pass", "checked", rep.Checked, "tombstoned", len(rep.Tombstoned), "purged", rep.Purged)
		}
	}
}
