package audit

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/translog"
)

// compare asks the server about every package, as of the audited
// checkpoint, and lists every difference from the replayed state.
func (a *auditor) compare(ctx context.Context, cp *translog.Checkpoint) ([]string, error) {
	rels := map[string][]*state.Release{}
	for _, r := range a.mem.Releases {
		rels[r.Package] = append(rels[r.Package], r)
	}
	names := make([]string, 0, len(a.mem.Packages))
	for n := range a.mem.Packages {
		names = append(names, n)
	}
	sort.Strings(names)
	var mu sync.Mutex
	var out []string
	add := func(format string, args ...any) {
		mu.Lock()
		out = append(out, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				sp, _, err := a.o.Client.Package(ctx, name, client.At{Size: cp.Size, Include: "all"})
				if err != nil {
					add("%s: the server cannot show it: %v", name, err)
					continue
				}
				comparePackage(add, a.mem.Packages[name], rels[name], sp)
			}
		}()
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	// The server must not know packages the log does not create.
	after := ""
	for {
		pl, err := a.o.Client.Packages(ctx, client.At{Size: cp.Size}, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, p := range pl.Packages {
			if a.mem.Packages[p.Name] == nil {
				add("%s: the server lists it, but no entry of the log creates it", p.Name)
			}
		}
		if pl.Next == "" {
			break
		}
		after = pl.Next
	}
	sort.Strings(out)
	return out, nil
}

func comparePackage(add func(string, ...any), mine *state.Package, rels []*state.Release, theirs *api.Package) {
	n := mine.Name
	if theirs.Status != mine.Status {
		add("%s: status %s, the log says %s", n, theirs.Status, mine.Status)
	}
	if theirs.Head != mine.Head {
		add("%s: head %s, the log says %s", n, theirs.Head, mine.Head)
	}
	a, b := slices.Clone(theirs.Owners), slices.Clone(mine.Owners)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		add("%s: owners %s, the log says %s", n, strings.Join(a, ","), strings.Join(b, ","))
	}
	latest := ""
	if l := state.Latest(mine, rels); l != nil {
		latest = l.Version
	}
	if theirs.Latest != latest {
		add("%s: latest %q, the log says %q", n, theirs.Latest, latest)
	}
	got := map[string]api.Release{}
	for _, r := range theirs.Releases {
		got[r.Version] = r
	}
	for _, r := range rels {
		sr, ok := got[r.Version]
		if !ok {
			add("%s@%s: missing from the server's answer", n, r.Version)
			continue
		}
		delete(got, r.Version)
		if eff := r.Effective(mine); sr.Status != eff {
			add("%s@%s: state %s, the log says %s", n, r.Version, sr.Status, eff)
		}
		if sr.Digest != "" && sr.Digest != r.Digest {
			add("%s@%s: digest %s, the log says %s", n, r.Version, sr.Digest, r.Digest)
		}
	}
	for v := range got {
		add("%s@%s: the server shows it, but no entry of the log publishes it", n, v)
	}
}
