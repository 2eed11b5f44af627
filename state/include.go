package state

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/mod/semver"
)

// Include says which releases a read shows besides published ones (SPEC §3:
// staged, yanked and removed releases are hidden by default).
type Include struct {
	Staged, Yanked, Deleted, Tombstoned, Banished bool
}

// IncludeAll shows every release.
var IncludeAll = Include{true, true, true, true, true}

// ParseInclude parses a comma-separated include= list: staged, yanked,
// deleted, tombstoned, banished, or all.
func ParseInclude(s string) (Include, error) {
	var in Include
	if s == "" {
		return in, nil
	}
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "all":
			in = IncludeAll
		case StatusStaged:
			in.Staged = true
		case StatusYanked:
			in.Yanked = true
		case StatusDeleted:
			in.Deleted = true
		case StatusTombstoned:
			in.Tombstoned = true
		case StatusBanished:
			in.Banished = true
		case StatusPublished, "":
		default:
			return in, fmt.Errorf("include: unknown state %q (want staged, yanked, deleted, tombstoned, banished or all)", f)
		}
	}
	return in, nil
}

// Shows reports whether a release with the given effective status is shown.
func (in Include) Shows(status string) bool {
	switch status {
	case StatusPublished:
		return true
	case StatusStaged:
		return in.Staged
	case StatusYanked:
		return in.Yanked
	case StatusDeleted:
		return in.Deleted
	case StatusTombstoned:
		return in.Tombstoned
	case StatusBanished:
		return in.Banished
	}
	return false
}

// semverOf returns the canonical semver form of a version, or "".
func semverOf(v string) string {
	if semver.IsValid(v) {
		return v
	}
	if semver.IsValid("v" + v) {
		return "v" + v
	}
	return ""
}

// Latest returns the package's latest release: the highest semantic version
// among its published releases, or, if none of them is a semantic version,
// the most recently published one. Staged, yanked and removed releases never
// are latest. It returns nil if no release qualifies.
func Latest(p *Package, rels []*Release) *Release {
	var best *Release
	bestSemver := ""
	for _, r := range rels {
		if r.Effective(p) != StatusPublished {
			continue
		}
		sv := semverOf(r.Version)
		switch {
		case best == nil:
		case sv != "" && bestSemver == "":
		case sv == "" && bestSemver != "":
			continue
		case sv != "":
			if c := semver.Compare(sv, bestSemver); c < 0 || c == 0 && r.Index < best.Index {
				continue
			}
		default:
			if r.Index < best.Index {
				continue
			}
		}
		best, bestSemver = r, sv
	}
	return best
}

// SortReleases orders releases by publish order (log index).
func SortReleases(rels []*Release) {
	slices.SortFunc(rels, func(a, b *Release) int { return cmp.Compare(a.Index, b.Index) })
}
