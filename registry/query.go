package registry

import (
	"context"
	"slices"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/query"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
)

// maxScan bounds the rows one query page examines; a page may hold fewer
// than Limit items and still have a next cursor.
const maxScan = 5000

// Query runs one page of the query over every entry: the indexed filters in
// the store, then the state, include and where= filters here. It returns the
// items and, if there may be more, the cursor to continue after.
func (r *Registry) Query(ctx context.Context, req *vouch.QueryRequest) ([]*vouch.QueryItem, *uint64, error) {
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	f := req.Filter
	q := store.Query{Package: f.Package, Version: f.Version, Subject: f.Subject, Signer: f.Signer, PredicateType: f.PredicateType,
		Kind: f.Kind, Type: f.Type, Since: f.Since, Until: f.Until, From: f.From, To: f.To}
	if id := f.Identity; id != nil {
		q.Identity = &store.IdentityFilter{Issuer: id.Issuer, Subject: id.Subject, Pattern: id.Pattern}
	}
	q.Size, q.Desc, q.After = req.Size, req.Desc, req.After
	if req.Where != nil && req.Budget == nil {
		req.Budget = query.NewBudget(query.RequestBudget)
	}
	if q.Subject != "" && !strings.HasPrefix(q.Subject, "sha256:") {
		// Content named by sha384 or sha512: the entries about it are
		// indexed under its sha256 digest.
		if d, err := r.contentOf(ctx, q.Subject, req.Size); err != nil {
			return nil, nil, err
		} else if d != "" {
			q.Subject = d
		}
	}
	qc := &queryCtx{r: r, size: req.Size, rels: map[string][]vouch.ReleaseRef{}}
	var out []*vouch.QueryItem
	scanned := 0
	for {
		q.Limit = min(2*limit+16, maxScan-scanned)
		rows, err := r.st.Query(ctx, &q)
		if err != nil {
			return nil, nil, err
		}
		if err := qc.loadStatements(ctx, rows, req); err != nil {
			return nil, nil, err
		}
		if qc.identities, err = r.identitiesOf(ctx, rows); err != nil {
			return nil, nil, err
		}
		for _, row := range rows {
			scanned++
			last := row.Index
			q.After = &last
			it, ok, err := qc.item(ctx, row, req)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				out = append(out, it)
				if len(out) == limit {
					return out, &last, nil
				}
			}
		}
		if len(rows) < q.Limit {
			return out, nil, nil // the index has no more rows
		}
		if scanned >= maxScan {
			return out, q.After, nil
		}
	}
}

// queryCtx caches what one query looks up repeatedly.
type queryCtx struct {
	r    *Registry
	size uint64
	rels map[string][]vouch.ReleaseRef // "pkg@ver" or a content digest -> releases
	// identities are the signers of the keyless attestations of the page
	// being examined.
	identities map[uint64][]api.CertIdentity
}

// loadStatements reads, in one query, the statements of the attestations
// among rows that the query will need and the cache does not hold.
func (qc *queryCtx) loadStatements(ctx context.Context, rows []*store.EntryRow, req *vouch.QueryRequest) error {
	var need []uint64
	for _, row := range rows {
		if row.Kind != string(record.KindAttestation) || !req.NeedsBody(row.PredicateType) {
			continue
		}
		if _, ok := qc.r.statements.Get(row.Index); !ok {
			need = append(need, row.Index)
		}
	}
	if len(need) == 0 {
		return nil
	}
	bodies, err := qc.r.st.StatementsOf(ctx, need)
	if err != nil {
		return err
	}
	digest := map[uint64]string{}
	for _, row := range rows {
		digest[row.Index] = row.PayloadDigest
	}
	for idx, b := range bodies {
		if record.Digest(b) != digest[idx] || len(b) > maxCachedStatement {
			continue // corrupt ones are reported when the item is built
		}
		st, err := record.ParseStatement(b)
		if err != nil {
			return err
		}
		qc.r.statements.Add(idx, st)
	}
	return nil
}

// maxCachedStatement is the largest statement kept parsed in the cache:
// the cache holds thousands, so large ones are parsed again when needed.
const maxCachedStatement = 64 << 10

// release returns the effective state of one release at the query's size.
func (qc *queryCtx) release(ctx context.Context, pkg, ver string) ([]vouch.ReleaseRef, error) {
	k := pkg + "@" + ver
	if v, ok := qc.rels[k]; ok {
		return v, nil
	}
	rel, p, err := qc.r.ReleaseAt(ctx, pkg, ver, qc.size)
	if err != nil {
		return nil, err
	}
	var out []vouch.ReleaseRef
	if rel != nil {
		out = []vouch.ReleaseRef{{Package: pkg, Version: ver, Status: rel.Effective(p)}}
	}
	qc.rels[k] = out
	return out, nil
}

// content returns the releases whose content is digest (by any algorithm),
// at the query's size.
func (qc *queryCtx) content(ctx context.Context, digest string) ([]vouch.ReleaseRef, error) {
	if v, ok := qc.rels[digest]; ok {
		return v, nil
	}
	d := digest
	if !strings.HasPrefix(d, "sha256:") {
		var err error
		if d, err = qc.r.contentOf(ctx, digest, qc.size); err != nil || d == "" {
			qc.rels[digest] = nil
			return nil, err
		}
	}
	rows, err := qc.r.st.Query(ctx, &store.Query{Size: qc.size, Subject: d, Type: record.TypeRelease, Limit: 100})
	if err != nil {
		return nil, err
	}
	var out []vouch.ReleaseRef
	for _, row := range rows {
		rs, err := qc.release(ctx, row.Package, row.Version)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	qc.rels[digest] = out
	return out, nil
}

func (qc *queryCtx) item(ctx context.Context, row *store.EntryRow, req *vouch.QueryRequest) (*vouch.QueryItem, bool, error) {
	e, err := record.ParseLeaf(row.Leaf)
	if err != nil {
		return nil, false, err
	}
	it := &vouch.QueryItem{Index: row.Index, Time: row.Time, Kind: row.Kind, Type: row.Type, Package: row.Package,
		Version: row.Version, PredicateType: row.PredicateType, Entry: e}
	e = e.Unwrap()
	switch {
	case e.Attestation != nil:
		for _, d := range e.Attestation.Subjects {
			rs, err := qc.content(ctx, d)
			if err != nil {
				return nil, false, err
			}
			for _, rr := range rs {
				if !slices.Contains(it.Releases, rr) {
					it.Releases = append(it.Releases, rr)
				}
			}
		}
	case row.Version != "":
		if it.Releases, err = qc.release(ctx, row.Package, row.Version); err != nil {
			return nil, false, err
		}
	}
	if req.State != "" {
		if !slices.ContainsFunc(it.Releases, func(rr vouch.ReleaseRef) bool { return rr.Status == req.State }) {
			return nil, false, nil
		}
	} else if len(it.Releases) > 0 && !slices.ContainsFunc(it.Releases, func(rr vouch.ReleaseRef) bool { return req.Include.Shows(rr.Status) }) {
		return nil, false, nil
	}
	if e.Attestation != nil && e.Attestation.Bundle != nil {
		it.Identities = qc.identities[row.Index]
		it.Erased = it.Identities == nil
	}
	if e.Attestation != nil && req.NeedsBody(e.Attestation.PredicateType) {
		st, erased, err := qc.r.statement(ctx, row.Index, e.Attestation)
		if err != nil {
			return nil, false, err
		}
		it.Erased = erased
		if st != nil {
			it.Predicate = st.Predicate()
			it.Fields = predicate.Fields(st.PredicateType, it.Predicate)
		}
	}
	if req.Where != nil {
		ok, err := req.Where.Match(ctx, req.Budget, it.Vars())
		if err != nil || !ok {
			return nil, false, err
		}
	}
	return it, true, nil
}

// contentOf returns the sha256 digest of the content whose sha384 or sha512
// digest a release recorded, as of a tree size, or "".
func (r *Registry) contentOf(ctx context.Context, alias string, size uint64) (string, error) {
	d, err := getState[string](ctx, r, state.ContentAliasKey(alias), size)
	if err != nil || d == nil {
		return "", err
	}
	return *d, nil
}

// statement loads and parses an attestation's statement through a cache.
func (r *Registry) statement(ctx context.Context, idx uint64, ref *record.AttestationRef) (*record.Statement, bool, error) {
	if st, ok := r.statements.Get(idx); ok {
		return st, false, nil
	}
	body, erased, err := r.Statement(ctx, idx, ref)
	if err != nil || erased {
		return nil, erased, err
	}
	st, err := record.ParseStatement(body)
	if err != nil {
		return nil, false, err
	}
	if len(body) <= maxCachedStatement {
		r.statements.Add(idx, st)
	}
	return st, false, nil
}

func newStatementCache() *lru.Cache[uint64, *record.Statement] {
	c, _ := lru.New[uint64, *record.Statement](4096)
	return c
}
