package sqlstore

// The state role: objects as of any tree size.

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/store"
)

// Get implements store.Store.
func (db *DB) Get(ctx context.Context, key string, size uint64) ([]byte, error) {
	defer db.since(metrics.TxRead, time.Now())
	var v []byte
	err := db.r.QueryRowContext(ctx, db.d.q(`SELECT value FROM state WHERE key = ? AND idx < ? ORDER BY idx DESC LIMIT 1`), key, idxArg(size)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

// prefixEnd returns the smallest string greater than every string that
// starts with prefix (keys are ASCII).
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0x7f {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x7f"
}

// Scan implements store.Store.
func (db *DB) Scan(ctx context.Context, prefix string, size uint64, after string, limit int) ([]store.KV, error) {
	defer db.since(metrics.TxRead, time.Now())
	lo, op := prefix, ">="
	if after >= prefix {
		lo, op = after, ">"
	}
	q := `SELECT s.key, s.value FROM state s JOIN (
		SELECT key, MAX(idx) AS m FROM state WHERE key ` + op + ` ? AND key < ? AND idx < ? GROUP BY key ORDER BY key LIMIT ?
	) t ON s.key = t.key AND s.idx = t.m ORDER BY s.key`
	rows, err := db.r.QueryContext(ctx, db.d.q(q), lo, prefixEnd(prefix), idxArg(size), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.KV
	for rows.Next() {
		var kv store.KV
		if err := rows.Scan(&kv.Key, &kv.Value); err != nil {
			return nil, err
		}
		out = append(out, kv)
	}
	return out, rows.Err()
}
