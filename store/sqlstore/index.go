package sqlstore

// The index role: the query over every entry.

import (
	"context"
	"strings"
	"time"

	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/store"
)

// SizeAt implements store.Store. Log times never decrease along the log,
// so the size is found by binary search over the entries, with no index on
// time.
func (db *DB) SizeAt(ctx context.Context, t time.Time) (uint64, error) {
	defer db.since(metrics.TxRead, time.Now())
	head, err := db.Head(ctx)
	if err != nil {
		return 0, err
	}
	want := unixNanos(t)
	lo, hi := uint64(0), head.Sequenced // the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		var et int64
		if err := db.r.QueryRowContext(ctx, db.d.q(`SELECT time FROM entries WHERE idx = ?`), int64(mid)).Scan(&et); err != nil {
			return 0, err
		}
		if et <= want {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// Query implements store.Store.
func (db *DB) Query(ctx context.Context, q *store.Query) ([]*store.EntryRow, error) {
	defer db.since(metrics.TxRead, time.Now())
	var b strings.Builder
	var args []any
	b.WriteString(`SELECT e.idx, e.leaf, e.time, e.kind, e.type, e.package, e.version, e.ptype, e.pdigest FROM entries e`)
	if q.Subject != "" {
		b.WriteString(` JOIN entry_subjects s ON s.idx = e.idx AND s.digest = ?`)
		args = append(args, q.Subject)
	}
	if q.Signer != "" {
		b.WriteString(` JOIN entry_signers g ON g.idx = e.idx AND g.key_id = ?`)
		args = append(args, q.Signer)
	}
	if id := q.Identity; id != nil {
		b.WriteString(` JOIN keyless k ON k.idx = e.idx AND ` + db.d.match("k.subject", id))
		args = append(args, db.d.pattern(id))
		if id.Issuer != "" {
			b.WriteString(` AND k.issuer = ?`)
			args = append(args, id.Issuer)
		}
	}
	b.WriteString(` WHERE e.idx < ?`)
	args = append(args, idxArg(q.Size))
	cond := func(sql string, v any) {
		b.WriteString(" AND " + sql)
		args = append(args, v)
	}
	if q.From > 0 {
		cond("e.idx >= ?", idxArg(q.From))
	}
	if q.To > 0 {
		cond("e.idx < ?", idxArg(q.To))
	}
	if q.After != nil {
		if q.Desc {
			cond("e.idx < ?", idxArg(*q.After))
		} else {
			cond("e.idx > ?", idxArg(*q.After))
		}
	}
	if q.Package != "" {
		// Entries about a package: its records, and the attestations about
		// the content of its releases (both found through indexes). Only
		// attestations: another package's release of the same content is
		// not about this one. Only releases in the tree of size q.Size: an
		// answer as of a size must not change as the log grows.
		own := "package = ?"
		rel := "r.package = ?"
		ownArgs := []any{q.Package}
		relArgs := []any{q.Package}
		if q.Version != "" {
			own += " AND version = ?"
			rel += " AND r.version = ?"
			ownArgs = append(ownArgs, q.Version)
			relArgs = append(relArgs, q.Version)
		}
		relArgs = append(relArgs, idxArg(q.Size))
		b.WriteString(" AND e.idx IN (SELECT idx FROM entries WHERE " + own +
			" UNION SELECT s.idx FROM entry_subjects s " + db.d.forcedJoin + " entries a ON a.idx = s.idx WHERE a.kind = 'attestation'" +
			" AND s.digest IN (SELECT r.digest FROM entries r WHERE " + rel + " AND r.type = 'release' AND r.idx < ?))")
		args = append(args, ownArgs...)
		args = append(args, relArgs...)
	}
	if q.PredicateType != "" {
		cond("e.ptype = ?", q.PredicateType)
	}
	if q.Kind != "" {
		cond("e.kind = ?", q.Kind)
	}
	if q.Type != "" {
		cond("e.type = ?", q.Type)
	}
	// Times become index bounds: log times never decrease along the log.
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return nil, nil
	}
	if !q.Since.IsZero() {
		n, err := db.SizeAt(ctx, q.Since.Add(-1))
		if err != nil {
			return nil, err
		}
		cond("e.idx >= ?", int64(n))
	}
	if !q.Until.IsZero() {
		n, err := db.SizeAt(ctx, q.Until.Add(-1))
		if err != nil {
			return nil, err
		}
		cond("e.idx < ?", int64(n))
	}
	if q.Desc {
		b.WriteString(" ORDER BY e.idx DESC")
	} else {
		b.WriteString(" ORDER BY e.idx")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	b.WriteString(" LIMIT ?")
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, db.d.q(b.String()), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.EntryRow
	for rows.Next() {
		e := &store.EntryRow{}
		var idx, t int64
		if err := rows.Scan(&idx, &e.Leaf, &t, &e.Kind, &e.Type, &e.Package, &e.Version, &e.PredicateType, &e.PayloadDigest); err != nil {
			return nil, err
		}
		e.Index, e.Time = uint64(idx), time.Unix(0, t).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// match is the condition that col matches an identity filter's subject:
// equality, or for a pattern SQLite's GLOB and PostgreSQL's LIKE (both
// case-sensitive), with the filter's "*" as their wildcard and every other
// character literal (see pattern).
func (d *dialect) match(col string, id *store.IdentityFilter) string {
	switch {
	case !id.Pattern:
		return col + " = ?"
	case d.name == "sqlite":
		return col + " GLOB ?"
	default:
		return col + ` LIKE ? ESCAPE '\'`
	}
}

// pattern is the argument of match.
func (d *dialect) pattern(id *store.IdentityFilter) string {
	if !id.Pattern {
		return id.Subject
	}
	var b strings.Builder
	for _, c := range id.Subject {
		switch {
		case c == '*' && d.name == "sqlite":
			b.WriteRune('*')
		case c == '*':
			b.WriteRune('%')
		case d.name == "sqlite" && (c == '?' || c == '['):
			b.WriteString("[" + string(c) + "]")
		case d.name != "sqlite" && (c == '%' || c == '_' || c == '\\'):
			b.WriteString(`\` + string(c))
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}
