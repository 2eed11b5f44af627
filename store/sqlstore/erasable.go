package sqlstore

// The erasable role: off-log data, statements, used requests.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/store"
)

// OffLog implements store.Store.
func (db *DB) OffLog(ctx context.Context, digest string) (*store.OffLog, error) {
	defer db.since(metrics.TxRead, time.Now())
	o := &store.OffLog{Digest: digest}
	err := db.r.QueryRowContext(ctx, db.d.q(`SELECT kind, data FROM offlog WHERE digest = ?`), digest).Scan(&o.Kind, &o.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return o, err
}

// DeleteOffLog implements store.Store.
func (db *DB) DeleteOffLog(ctx context.Context, digests []string) error {
	return db.execEach(ctx, `DELETE FROM offlog WHERE digest = ?`, anys(digests))
}

// Statements implements store.Store.
func (db *DB) Statements(ctx context.Context, from, to uint64) (map[uint64][]byte, error) {
	defer db.since(metrics.TxRead, time.Now())
	rows, err := db.r.QueryContext(ctx, db.d.q(`SELECT idx, data FROM statements WHERE idx >= ? AND idx < ?`), idxArg(from), idxArg(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uint64][]byte{}
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return nil, err
		}
		out[uint64(idx)] = b
	}
	return out, rows.Err()
}

// StatementsOf implements store.Store.
func (db *DB) StatementsOf(ctx context.Context, idxs []uint64) (map[uint64][]byte, error) {
	defer db.since(metrics.TxRead, time.Now())
	out := map[uint64][]byte{}
	err := db.queryIn(ctx, db.r, `SELECT idx, data FROM statements WHERE idx IN (?)`, indexArgs(idxs), func(rows *sql.Rows) error {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return err
		}
		out[uint64(idx)] = b
		return nil
	})
	return out, err
}

// KeylessOf implements store.Store.
func (db *DB) KeylessOf(ctx context.Context, idxs []uint64, bundles bool) (map[uint64]*store.Keyless, error) {
	out := map[uint64]*store.Keyless{}
	cols := `idx, identity, issuer, subject, NULL`
	if bundles {
		cols = `idx, identity, issuer, subject, bundle`
	}
	err := db.queryIn(ctx, db.r, `SELECT `+cols+` FROM keyless WHERE idx IN (?)`, indexArgs(idxs), func(rows *sql.Rows) error {
		var idx int64
		k := &store.Keyless{}
		if err := rows.Scan(&idx, &k.Identity, &k.Issuer, &k.Subject, &k.Bundle); err != nil {
			return err
		}
		out[uint64(idx)] = k
		return nil
	})
	return out, err
}

// DeleteStatements implements store.Store: statements and keyless data.
func (db *DB) DeleteStatements(ctx context.Context, idxs []uint64) error {
	if err := db.execEach(ctx, `DELETE FROM statements WHERE idx = ?`, indexArgs(idxs)); err != nil {
		return err
	}
	return db.execEach(ctx, `DELETE FROM keyless WHERE idx = ?`, indexArgs(idxs))
}

// UseOnce implements store.Store.
func (db *DB) UseOnce(ctx context.Context, digest string, t time.Time, forget time.Duration) (bool, error) {
	defer db.since(metrics.TxAdmin, time.Now())
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, db.d.q(`DELETE FROM used_requests WHERE time < ?`), unixNanos(t.Add(-forget))); err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, db.d.q(`INSERT INTO used_requests (digest, time) VALUES (?, ?) ON CONFLICT DO NOTHING`), digest, unixNanos(t))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, tx.Commit()
}

// Compact implements store.Store.
func (db *DB) Compact(ctx context.Context) error {
	defer db.since(metrics.TxErase, time.Now())
	if db.d.compact == nil {
		return nil
	}
	return db.d.compact(ctx, db)
}

// erasureWhat is how an erasure's lists are stored.
type erasureWhat struct {
	Statements []uint64 `json:"statements,omitempty"`
	OffLog     []string `json:"offLog,omitempty"`
}

// RecordErasure implements store.Store.
func (db *DB) RecordErasure(ctx context.Context, e *store.Erasure) error {
	defer db.since(metrics.TxErase, time.Now())
	what, err := json.Marshal(erasureWhat{Statements: e.Statements, OffLog: e.OffLog})
	if err != nil {
		return err
	}
	return db.w.QueryRowContext(ctx, db.d.q(`INSERT INTO erasures (time, what) VALUES (?, ?) RETURNING seq`), unixNanos(e.Time), string(what)).Scan(&e.Seq)
}

// Erasures implements store.Store.
func (db *DB) Erasures(ctx context.Context, after uint64, limit int) ([]*store.Erasure, error) {
	defer db.since(metrics.TxRead, time.Now())
	rows, err := db.r.QueryContext(ctx, db.d.q(`SELECT seq, time, what FROM erasures WHERE seq > ? ORDER BY seq LIMIT ?`), idxArg(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Erasure
	for rows.Next() {
		var e store.Erasure
		var t int64
		var what string
		if err := rows.Scan(&e.Seq, &t, &what); err != nil {
			return nil, err
		}
		var w erasureWhat
		if err := json.Unmarshal([]byte(what), &w); err != nil {
			return nil, fmt.Errorf("sqlstore: erasure %d: %w", e.Seq, err)
		}
		e.Time, e.Statements, e.OffLog = time.Unix(0, t).UTC(), w.Statements, w.OffLog
		out = append(out, &e)
	}
	return out, rows.Err()
}
