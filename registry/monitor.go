package registry

import (
	"context"
	"errors"
	"time"

	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// MonitorReport says what one pass of the content monitor did.
type MonitorReport struct {
	Checked    int
	Tombstoned []string
	Purged     int
}

// MonitorLinked is the content monitor: it re-fetches the linked content of
// every published or yanked release and tombstones (reason "integrity") the
// ones whose content is gone or changed; it also removes any bytes of
// banished releases still in the blob store. Transient fetch failures are
// logged and retried on the next pass.
func (r *Registry) MonitorLinked(ctx context.Context) (*MonitorReport, error) {
	rep := &MonitorReport{}
	if r.cfg.Blobs == nil {
		return rep, nil
	}
	after := ""
	for {
		kvs, err := r.st.Scan(ctx, state.ReleasesAll, maxSize, after, 500)
		if err != nil {
			return rep, err
		}
		for _, kv := range kvs {
			rel, err := state.Decode[state.Release](kv.Value)
			if err != nil {
				return rep, err
			}
			p, err := getState[state.Package](ctx, r, state.PackageKey(rel.Package), maxSize)
			if err != nil {
				return rep, err
			}
			switch rel.Effective(p) {
			case state.StatusBanished:
				if _, err := r.blobs().Stat(ctx, rel.Digest); err == nil {
					if err := r.purgeBanished(ctx, rel.Package, rel.Version); err != nil {
						return rep, err
					}
					rep.Purged++
				}
			case state.StatusPublished, state.StatusYanked:
				if rel.URL == "" {
					continue
				}
				rep.Checked++
				err := r.fetchContent(ctx, rel.URL, rel.Digest, rel.Size)
				var fe *fetchError
				if errors.As(err, &fe) && fe.gone {
					if err := r.autoTombstone(ctx, rel, fe.msg); err != nil {
						r.log.Error("content monitor could not tombstone", "release", rel.Package+"@"+rel.Version, "err", err)
						continue
					}
					rep.Tombstoned = append(rep.Tombstoned, rel.Package+"@"+rel.Version)
				} else if err != nil {
					r.log.Warn("content monitor could not check linked content", "release", rel.Package+"@"+rel.Version, "err", err)
				}
			}
		}
		if len(kvs) < 500 {
			return rep, nil
		}
		after = kvs[len(kvs)-1].Key
	}
}

// autoTombstone tombstones a release for an integrity problem, signed with
// the registry's operator key.
func (r *Registry) autoTombstone(ctx context.Context, rel *state.Release, why string) error {
	if r.cfg.Operator == nil {
		return errors.New("no operator key configured")
	}
	r.log.Warn("linked content changed or disappeared: tombstoning", "release", rel.Package+"@"+rel.Version, "why", why)
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

func (r *Registry) monitor(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.MonitorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.Leading() {
			continue // one monitor per registry: the integrator's
		}
		rep, err := r.MonitorLinked(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Error("content monitor pass failed", "err", err)
		} else if rep != nil {
			r.log.Info("content monitor pass", "checked", rep.Checked, "tombstoned", len(rep.Tombstoned), "purged", rep.Purged)
		}
	}
}
