// Package move carries a package from one registry to another.
//
// A package's owners hand it over with a move record in the source log
// (see record.TypeMove); Carry then imports into the destination what the
// package's history there needs, one import entry per source entry, each
// with its inclusion proof in a checkpoint of the source log: the
// package's records from its create (or from where the destination's copy
// ends) to the move, the identity records of every key they and the
// attestations name, and the attestations about its releases. The
// destination replays each through the same state machine the source ran;
// the package takes writes there once the move record is imported.
//
// Carry can be run again after a failure, or to move a package back: it
// reads what the destination holds and imports only the rest.
package move

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// Progress reports how far a Carry is: done of total imports submitted.
type Progress func(done, total int)

// Result says what Carry did.
type Result struct {
	// Records, Identities and Attestations count the entries imported.
	Records, Identities, Attestations int
	// Skipped counts entries the destination already held.
	Skipped int
	// Erased counts attestations whose statements the source erased: they
	// are not carried, since the destination could not check them.
	Erased int
	// Content counts the release contents copied.
	Content int
	// Checkpoint is the source checkpoint every import is proven in.
	Checkpoint *translog.Checkpoint
}

// item is a source entry to import.
type item struct {
	index uint64
	ref   *record.ImportRef
	entry *record.Entry // the source entry, unwrapped
	kind  int
}

const (
	kindRecord = iota
	kindIdentity
	kindAttestation
)

// Carry imports package name from src into dst (see the package comment).
// The package must have moved to dst's log in src: its owners' move record
// names it. tmp is a directory for content on its way (empty: the system's).
func Carry(ctx context.Context, src, dst *client.Client, name, tmp string, progress Progress) (*Result, error) {
	p, cp, err := src.Package(ctx, name, client.At{Include: "all"})
	if err != nil {
		return nil, fmt.Errorf("reading %s at the source: %w", name, err)
	}
	if p.Status != "moved" || p.Location == nil || p.Location.Origin != dst.Origin() {
		return nil, fmt.Errorf("package %s is %s at %s, not moved to %s: sign its move first", name, p.Status, src.Origin(), dst.Origin())
	}
	res := &Result{Checkpoint: cp}

	// The package's records, proven, and checked to be its whole chain.
	chain, err := records(ctx, src, name, cp)
	if err != nil {
		return nil, err
	}
	// Where the destination's copy ends, if it has one.
	from := 0
	held, _, err := dst.Package(ctx, name, client.At{})
	switch {
	case client.IsCode(err, "unknown_package"):
	case err != nil:
		return nil, fmt.Errorf("reading %s at the destination: %w", name, err)
	case held.Status == "active":
		return res, nil // carried already
	default:
		i := slices.IndexFunc(chain, func(it *item) bool { return it.entry.Hash() == held.Head })
		if i < 0 {
			return nil, fmt.Errorf("%s holds a history of %s (head %s) that the source's does not contain", dst.Origin(), name, held.Head)
		}
		res.Skipped += i + 1
		from = i + 1
	}
	todo := chain[from:]

	atts, err := attestations(ctx, src, dst, name, cp, res)
	if err != nil {
		return nil, err
	}
	todo = append(todo, atts...)
	ids, err := identities(ctx, src, dst, todo, cp, res)
	if err != nil {
		return nil, err
	}
	todo = append(todo, ids...)
	slices.SortFunc(todo, func(a, b *item) int { return compare(a.index, b.index) })

	n, err := copyContent(ctx, src, dst, p, tmp)
	if err != nil {
		return nil, err
	}
	res.Content = n

	for i, it := range todo {
		var statement []byte
		if it.kind == kindAttestation {
			statement = it.entry.Payload
		}
		last := i == len(todo)-1
		_, err := dst.Import(ctx, it.ref, statement, last)
		if it.kind != kindRecord && client.IsCode(err, "conflict") {
			res.Skipped++ // held already: an earlier, interrupted run
			continue
		}
		if err != nil {
			return res, fmt.Errorf("importing %s: %w", it.ref, err)
		}
		switch it.kind {
		case kindRecord:
			res.Records++
		case kindIdentity:
			res.Identities++
		case kindAttestation:
			res.Attestations++
		}
		if progress != nil {
			progress(i+1, len(todo))
		}
	}
	return res, nil
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// query runs a query over the source log at cp to its last page.
func query(ctx context.Context, c *client.Client, q client.QueryParams, cp *translog.Checkpoint) ([]api.QueryItem, error) {
	q.At = client.At{Size: cp.Size, Include: "all"}
	q.Order = "asc"
	q.Limit = 1000
	var out []api.QueryItem
	for {
		r, _, err := c.Query(ctx, &q)
		if err != nil {
			return nil, err
		}
		out = append(out, r.Items...)
		if r.Next == "" {
			return out, nil
		}
		q.Cursor = r.Next
	}
}

// fetch reads entry index of src, proven in cp, as an import.
func fetch(ctx context.Context, src *client.Client, index uint64, cp *translog.Checkpoint, kind int) (*item, error) {
	ref, err := src.ImportRef(ctx, index, cp)
	if err != nil {
		return nil, err
	}
	e, err := record.ParseLeaf(ref.Leaf)
	if err != nil {
		return nil, fmt.Errorf("entry %d of %s: %w", index, src.Origin(), err)
	}
	return &item{index: index, ref: ref, entry: e.Unwrap(), kind: kind}, nil
}

// records returns the package's chain of records in the source, from its
// create record to its head, each proven in cp, and checks that each
// record's prev is the one before it.
func records(ctx context.Context, src *client.Client, name string, cp *translog.Checkpoint) ([]*item, error) {
	rows, err := query(ctx, src, client.QueryParams{Package: name, Kind: "record"}, cp)
	if err != nil {
		return nil, fmt.Errorf("listing the records of %s: %w", name, err)
	}
	var chain []*item
	for _, row := range rows {
		it, err := fetch(ctx, src, row.Index, cp, kindRecord)
		if err != nil {
			return nil, err
		}
		r := it.entry.Record
		if r == nil || r.Chain() != record.ChainPackage || r.Package != name {
			continue // an operator record: those stay at the source
		}
		chain = append(chain, it)
	}
	for i, it := range chain {
		r := it.entry.Record
		switch {
		case i == 0 && r.Type != record.TypeCreate:
			return nil, fmt.Errorf("the source's history of %s starts with a %s record (entry %d), not its create", name, r.Type, it.index)
		case i > 0 && r.Prev != chain[i-1].entry.Hash():
			return nil, fmt.Errorf("the source's history of %s is not one chain: entry %d does not follow entry %d", name, it.index, chain[i-1].index)
		}
	}
	if len(chain) == 0 || chain[len(chain)-1].entry.Record.Type != record.TypeMove {
		return nil, fmt.Errorf("the source's history of %s does not end with its move", name)
	}
	return chain, nil
}

// attestations returns the attestations about the package's releases,
// with their statements, proven in cp.
func attestations(ctx context.Context, src, dst *client.Client, name string, cp *translog.Checkpoint, res *Result) ([]*item, error) {
	rows, err := query(ctx, src, client.QueryParams{Package: name, Kind: "attestation"}, cp)
	if err != nil {
		return nil, fmt.Errorf("listing the attestations about %s: %w", name, err)
	}
	ids := src.NewIdentityCache()
	var out []*item
	for _, row := range rows {
		a, err := src.Attestation(ctx, row.Index, cp, ids)
		if err != nil {
			return nil, err
		}
		if a.Erased {
			res.Erased++
			continue
		}
		it, err := fetch(ctx, src, row.Index, cp, kindAttestation)
		if err != nil {
			return nil, err
		}
		if it.ref.Origin == dst.Origin() {
			res.Skipped++ // the destination's own entry, imported here before
			continue
		}
		if err := it.entry.AttachBody(a.Statement); err != nil {
			return nil, fmt.Errorf("attestation %d: %w", row.Index, err)
		}
		out = append(out, it)
	}
	return out, nil
}

// identities returns the identity records the items need that the
// destination does not hold: for every key that signed or is named by an
// item, the record that registered it and the one that rotated or revoked
// it, and the same for every key such a record names.
func identities(ctx context.Context, src, dst *client.Client, items []*item, cp *translog.Checkpoint, res *Result) ([]*item, error) {
	var queue []string
	seen := map[string]bool{}
	need := func(ids ...string) {
		for _, id := range ids {
			if id != "" && !seen[id] {
				seen[id] = true
				queue = append(queue, id)
			}
		}
	}
	for _, it := range items {
		e := it.entry
		need(e.KeyIDs()...)
		if r := e.Record; r != nil {
			need(r.Owners...)
			need(r.KeyID)
		}
	}
	picked := map[uint64]bool{}
	var out []*item
	pick := func(index uint64) error {
		if index == 0 || index >= cp.Size || picked[index] {
			return nil
		}
		picked[index] = true
		it, err := fetch(ctx, src, index, cp, kindIdentity)
		if err != nil {
			return err
		}
		out = append(out, it)
		if r := it.entry.Record; r != nil {
			need(r.KeyID) // a rotation or revocation names the older key
		}
		return nil
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		have, err := src.Identity(ctx, id, client.At{Size: cp.Size})
		if client.IsCode(err, "unknown_identity") {
			continue // not a key of this log: the replay will say so
		}
		if err != nil {
			return nil, fmt.Errorf("reading identity %s at the source: %w", id, err)
		}
		there, err := dst.Identity(ctx, id, client.At{})
		switch {
		case client.IsCode(err, "unknown_identity"):
			there = nil
		case err != nil:
			return nil, fmt.Errorf("reading identity %s at the destination: %w", id, err)
		}
		if there == nil {
			if err := pick(have.Since); err != nil {
				return nil, err
			}
		} else {
			res.Skipped++
		}
		if have.Until != 0 && (there == nil || there.Until == 0) {
			if err := pick(have.Until); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// copyContent copies the uploaded content of the package's releases that
// the source still serves to the destination, and returns how many it
// copied. Content linked by URL stays where it is.
func copyContent(ctx context.Context, src, dst *client.Client, p *api.Package, tmp string) (int, error) {
	dir, err := os.MkdirTemp(tmp, "vouch-move-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	n := 0
	done := map[string]bool{}
	for _, rel := range p.Releases {
		if rel.Content == nil || rel.URL != "" || rel.Digest == "" || done[rel.Digest] {
			continue
		}
		done[rel.Digest] = true
		if ok, err := dst.HasBlob(ctx, rel.Digest); err != nil {
			return n, err
		} else if ok {
			continue
		}
		path := filepath.Join(dir, "content")
		err := src.Fetch(ctx, rel.Digest, rel.Size, path, nil)
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Status == 404 {
			continue // gone from the source; the release shows it so at the destination too
		}
		if err != nil {
			return n, fmt.Errorf("fetching %s@%s from the source: %w", rel.Package, rel.Version, err)
		}
		f, err := os.Open(path)
		if err != nil {
			return n, err
		}
		err = dst.UploadBlob(ctx, rel.Digest, f, rel.Size, nil)
		f.Close()
		if err != nil {
			return n, fmt.Errorf("uploading %s@%s to the destination: %w", rel.Package, rel.Version, err)
		}
		n++
	}
	return n, nil
}
