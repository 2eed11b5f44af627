package sqlstore

// The checkpoints role.

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/store"
)

type scanner interface{ Scan(...any) error }

func scanCheckpoint(row scanner) (*store.CheckpointRow, error) {
	var c store.CheckpointRow
	var size, t int64
	var root []byte
	if err := row.Scan(&size, &t, &root, &c.Note); err != nil {
		return nil, err
	}
	c.Size, c.Time = uint64(size), time.Unix(0, t).UTC()
	copy(c.Root[:], root)
	return &c, nil
}

func (db *DB) checkpoint(ctx context.Context, q string, args ...any) (*store.CheckpointRow, error) {
	defer db.since(metrics.TxRead, time.Now())
	c, err := scanCheckpoint(db.r.QueryRowContext(ctx, db.d.q(q), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return c, err
}

// Checkpoints implements store.Store.
func (db *DB) Checkpoints(ctx context.Context, from uint64, limit int) ([]*store.CheckpointRow, error) {
	defer db.since(metrics.TxRead, time.Now())
	rows, err := db.r.QueryContext(ctx, db.d.q(`SELECT size, time, root, note FROM checkpoints WHERE size >= ? ORDER BY size LIMIT ?`), idxArg(from), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.CheckpointRow
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// LatestCheckpoint implements store.Store.
func (db *DB) LatestCheckpoint(ctx context.Context) (*store.CheckpointRow, error) {
	return db.checkpoint(ctx, `SELECT size, time, root, note FROM checkpoints ORDER BY size DESC LIMIT 1`)
}

// CheckpointCovering implements store.Store.
func (db *DB) CheckpointCovering(ctx context.Context, index uint64) (*store.CheckpointRow, error) {
	return db.checkpoint(ctx, `SELECT size, time, root, note FROM checkpoints WHERE size > ? ORDER BY size LIMIT 1`, idxArg(index))
}

// SaveWitnessed implements store.Store. Only the newest few witnessed
// checkpoints are kept: the latest is what is served.
func (db *DB) SaveWitnessed(ctx context.Context, cp *store.CheckpointRow) error {
	defer db.since(metrics.TxWitness, time.Now())
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var cur sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(size) FROM witnessed`).Scan(&cur); err != nil {
		return err
	}
	if cur.Valid && uint64(cur.Int64) >= cp.Size {
		return nil
	}
	if _, err := tx.ExecContext(ctx, db.d.q(`INSERT INTO witnessed (size, time, root, note) VALUES (?, ?, ?, ?)`),
		idxArg(cp.Size), unixNanos(cp.Time), cp.Root[:], cp.Note); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, db.d.q(`DELETE FROM witnessed WHERE size < ?`), idxArg(cp.Size)); err != nil {
		return err
	}
	return tx.Commit()
}

// LatestWitnessed implements store.Store.
func (db *DB) LatestWitnessed(ctx context.Context) (*store.CheckpointRow, error) {
	return db.checkpoint(ctx, `SELECT size, time, root, note FROM witnessed ORDER BY size DESC LIMIT 1`)
}
