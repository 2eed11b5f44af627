package registry

import (
	"context"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/translog"
)

// releasesAt returns every release of a package at a tree size, in publish
// order.
func (r *Registry) releasesAt(ctx context.Context, name string, size uint64) ([]*state.Release, error) {
	var out []*state.Release
	after := ""
	for {
		kvs, err := r.st.Scan(ctx, state.ReleasesPrefix(name), size, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			rel, err := state.Decode[state.Release](kv.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, rel)
		}
		if len(kvs) < 1000 {
			break
		}
		after = kvs[len(kvs)-1].Key
	}
	state.SortReleases(out)
	return out, nil
}

// PackageAt returns a package and all its releases as of tree size size
// (resolved by the caller), or a nil package if it did not exist then.
func (r *Registry) PackageAt(ctx context.Context, name string, size uint64) (*state.Package, []*state.Release, error) {
	p, err := getState[state.Package](ctx, r, state.PackageKey(name), size)
	if err != nil || p == nil {
		return nil, nil, err
	}
	rels, err := r.releasesAt(ctx, name, size)
	return p, rels, err
}

// ReleaseAt returns a release and its package as of tree size size, or a
// nil release if it did not exist then.
func (r *Registry) ReleaseAt(ctx context.Context, name, version string, size uint64) (*state.Release, *state.Package, error) {
	rel, err := getState[state.Release](ctx, r, state.ReleaseKey(name, version), size)
	if err != nil || rel == nil {
		return nil, nil, err
	}
	p, err := getState[state.Package](ctx, r, state.PackageKey(name), size)
	return rel, p, err
}

// PackagesAt lists packages as of tree size size, in name order, after the
// given name, at most limit.
func (r *Registry) PackagesAt(ctx context.Context, size uint64, after string, limit int) ([]*state.Package, error) {
	if after != "" {
		after = state.PackageKey(after)
	}
	kvs, err := r.st.Scan(ctx, state.PackagesPrefix, size, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*state.Package, 0, len(kvs))
	for _, kv := range kvs {
		p, err := state.Decode[state.Package](kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Resolve turns the at= / asof= parameters of a read into a tree size (0 and
// zero time: the latest checkpoint), and returns the checkpoint the answer is
// valid for.
func (r *Registry) Resolve(ctx context.Context, at uint64, asof string) (uint64, *translog.Checkpoint, error) {
	if asof != "" {
		if at != 0 {
			return 0, nil, vouch.Invalid("give at= or asof=, not both")
		}
		t, err := parseTime(asof)
		if err != nil {
			return 0, nil, err
		}
		n, err := r.SizeAt(ctx, t)
		if err != nil {
			return 0, nil, err
		}
		if n == 0 {
			return 0, nil, vouch.Invalid("the log has no entries at or before %s", asof)
		}
		at = n
	}
	size, cp, err := r.resolveSize(ctx, at)
	if err != nil {
		return 0, nil, err
	}
	return size, cp, nil
}

// Note returns the text of an off-log note, or "" if it was erased or never
// stored.
func (r *Registry) Note(ctx context.Context, digest string) string {
	if digest == "" {
		return ""
	}
	o, err := r.st.OffLog(ctx, digest)
	if err != nil || o.Kind != "note" {
		return ""
	}
	return string(o.Data)
}
