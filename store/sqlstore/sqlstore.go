// Package sqlstore implements store.Store on SQL databases: SQLite (the
// embedded default, through mattn/go-sqlite3) and PostgreSQL (through
// jackc/pgx). Both share the same queries; a dialect holds the differences.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/store"
)

// DB is a store.Store backed by SQL.
type DB struct {
	d dialect
	// w is used for writes; r for reads. For SQLite, w is a single
	// connection (SQLite has one writer) and r a pool of read-only ones.
	w, r *sql.DB
	// closeFn releases what Open acquired beyond the pools.
	closeFn func() error
	// timer times transactions (SetMetrics); nil records nothing.
	timer atomic.Pointer[metrics.DBTimer]
}

type dialect struct {
	name string
	// numbered says whether placeholders are $1, $2 (PostgreSQL) rather than ?.
	numbered bool
	// lockSequence, if set, runs at the start of every sequencing
	// transaction to serialize sequencers across processes.
	lockSequence string
	// lockIntegrate likewise for integration transactions.
	lockIntegrate string
	// lead implements store.Store.LeadIntegration.
	lead func(ctx context.Context, db *DB) (Lease, bool, error)
	// compact implements store.Store.Compact.
	compact func(ctx context.Context, db *DB) error
	// exclusive says one process writes the database.
	exclusive bool
	// forcedJoin is a join that keeps its tables in the order written
	// (SQLite's planner needs CROSS JOIN to start from the indexed side).
	forcedJoin string
}

// q rewrites ? placeholders for the dialect.
func (d *dialect) q(s string) string {
	if !d.numbered {
		return s
	}
	var b strings.Builder
	n := 0
	for _, c := range s {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("creating schema_version: %w", err)
	}
	start := -1 // the version found: 0 for a new database
	for {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if db.d.lockIntegrate != "" {
			if _, err := tx.ExecContext(ctx, db.d.lockIntegrate); err != nil {
				tx.Rollback()
				return err
			}
		}
		var v sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil {
			tx.Rollback()
			return err
		}
		cur := int(v.Int64)
		if cur > len(migrations) {
			tx.Rollback()
			return fmt.Errorf("the database schema is version %d, newer than this vouch understands (%d); upgrade vouch", cur, len(migrations))
		}
		if cur == len(migrations) {
			return tx.Commit()
		}
		if start < 0 {
			start = cur
		}
		if n := migrations[cur].note; n != "" && start > 0 {
			slog.Info(n, "step", cur+1)
		}
		stmts := migrations[cur].sqlite
		if db.d.name == "postgres" {
			stmts = migrations[cur].postgres
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				tx.Rollback()
				return fmt.Errorf("schema migration %d: %w", cur+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, db.d.q(`INSERT INTO schema_version (version) VALUES (?)`), cur+1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
}

// Close implements store.Store.
func (db *DB) Close() error {
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	if db.closeFn != nil {
		err = errors.Join(err, db.closeFn())
	}
	return err
}

// unixNanos is t in nanoseconds since 1970, the form times are stored in,
// clamped to what an int64 holds (years 1678 to 2262): before all entries
// or after all of them, which is what a time outside that range means for
// a log.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

var _ store.Store = (*DB)(nil)

// querier runs queries: a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// queryIn runs q, whose one "IN (?)" is expanded for vals, in chunks of 500
// values, calling scan for every row.
func (db *DB) queryIn(ctx context.Context, on querier, q string, vals []any, scan func(*sql.Rows) error) error {
	return db.queryInAfter(ctx, on, q, nil, vals, scan)
}

// queryInAfter is queryIn for a query whose arguments before "IN (?)" are
// first.
func (db *DB) queryInAfter(ctx context.Context, on querier, q string, first, vals []any, scan func(*sql.Rows) error) error {
	for len(vals) > 0 {
		n := min(len(vals), 500)
		chunk := strings.Replace(q, "IN (?)", "IN (?"+strings.Repeat(",?", n-1)+")", 1)
		rows, err := on.QueryContext(ctx, db.d.q(chunk), append(append([]any{}, first...), vals[:n]...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		vals = vals[n:]
	}
	return nil
}

// execEach runs the one-argument statement q for every value, in one
// transaction.
func (db *DB) execEach(ctx context.Context, q string, vals []any) error {
	defer db.since(metrics.TxErase, time.Now())
	if len(vals) == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, v := range vals {
		if _, err := tx.ExecContext(ctx, db.d.q(q), v); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// idxArg converts a log index or tree size to a query argument. The
// columns are signed; no entry is ever at or beyond 1<<63-1, so larger values
// mean the same as that one (rather than wrapping around to negative ones).
func idxArg(x uint64) int64 { return int64(min(x, math.MaxInt64)) }

// indexArgs converts log indexes to query arguments (the columns are signed).
func indexArgs(idxs []uint64) []any {
	out := make([]any, len(idxs))
	for i, x := range idxs {
		out[i] = int64(x)
	}
	return out
}

func anys[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}
