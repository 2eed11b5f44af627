package registry

import (
	"context"
	"errors"
	"time"

	"github.com/vouchdev/vouch/content"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// MonitorLinked makes one pass of the content monitor (see
// content.Monitor.Pass) over this registry.
func (r *Registry) MonitorLinked(ctx context.Context) (*content.Report, error) {
	if r.cfg.Blobs == nil {
		return &content.Report{}, nil
	}
	return r.monitorer().Pass(ctx)
}

func (r *Registry) monitorer() *content.Monitor {
	return &content.Monitor{Fetcher: r.fetcher, Target: (*monitorTarget)(r), Logger: r.log, Metrics: r.cfg.Metrics}
}

// monitorTarget is the registry as the content monitor sees it.
type monitorTarget Registry

// Releases implements content.Target.
func (t *monitorTarget) Releases(ctx context.Context, fn func(content.Release) error) error {
	r := (*Registry)(t)
	after := ""
	for {
		kvs, err := r.st.Scan(ctx, state.ReleasesAll, maxSize, after, 500)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			rel, err := state.Decode[state.Release](kv.Value)
			if err != nil {
				return err
			}
			p, err := getState[state.Package](ctx, r, state.PackageKey(rel.Package), maxSize)
			if err != nil {
				return err
			}
			cr := content.Release{Package: rel.Package, Version: rel.Version, Digest: rel.Digest, Size: rel.Size, URL: rel.URL}
			switch rel.Effective(p) {
			case state.StatusBanished:
				cr.Banished = true
			case state.StatusPublished, state.StatusYanked:
			default:
				continue
			}
			if err := fn(cr); err != nil {
				return err
			}
		}
		if len(kvs) < 500 {
			return nil
		}
		after = kvs[len(kvs)-1].Key
	}
}

// Purge implements content.Target.
func (t *monitorTarget) Purge(ctx context.Context, rel content.Release) error {
	return (*Registry)(t).purgeBanished(ctx, rel.Package, rel.Version)
}

// Tombstone implements content.Target: it tombstones a release for an
// integrity problem, signed with the registry's operator key.
func (t *monitorTarget) Tombstone(ctx context.Context, rel content.Release, why string) error {
	r := (*Registry)(t)
	if r.cfg.Operator == nil {
		return errors.New("no operator key configured")
	}
	var err error
	for try := 0; try < 3; try++ {
		ops, oerr := r.Operators(ctx)
		if oerr != nil {
			return oerr
		}
		if ops == nil {
			return errors.New("no operator chain")
		}
		rec := &record.Record{Type: record.TypeTombstone, Prev: ops.Head, Package: rel.Package, Version: rel.Version,
			Reason: "integrity", Time: r.cfg.Now().UTC().Format(time.RFC3339)}
		_, err = r.appendSigned(ctx, rec, r.cfg.Operator)
		if rf, ok := state.AsRefusal(err); ok && rf.Code == state.CodeStalePrev {
			continue
		}
		return err
	}
	return err
}

// ServableContent calls fn with the content digest of every release that
// is staged, published or yanked at the tip of the log (a mirror copies
// them).
func (r *Registry) ServableContent(ctx context.Context, fn func(digest string) error) error {
	after := ""
	for {
		kvs, err := r.st.Scan(ctx, state.ReleasesAll, maxSize, after, 500)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			rel, err := state.Decode[state.Release](kv.Value)
			if err != nil {
				return err
			}
			p, err := getState[state.Package](ctx, r, state.PackageKey(rel.Package), maxSize)
			if err != nil {
				return err
			}
			switch rel.Effective(p) {
			case state.StatusStaged, state.StatusPublished, state.StatusYanked:
				if err := fn(rel.Digest); err != nil {
					return err
				}
			}
		}
		if len(kvs) < 500 {
			return nil
		}
		after = kvs[len(kvs)-1].Key
	}
}
