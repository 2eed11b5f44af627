package sqlstore

// The log role: entries, tree hashes, integration and its leader.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/store"
)

// Head implements store.Store.
func (db *DB) Head(ctx context.Context) (store.Head, error) {
	defer db.since(metrics.TxRead, time.Now())
	return db.readHead(ctx, db.r)
}

// Leaves implements store.Store.
func (db *DB) Leaves(ctx context.Context, from, to uint64) ([][]byte, error) {
	defer db.since(metrics.TxRead, time.Now())
	if to <= from {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, db.d.q(`SELECT idx, leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx`), idxArg(from), idxArg(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// The range may reach far beyond the head (the answer is then
	// ErrNotFound): preallocate for what a page of entries can hold.
	out := make([][]byte, 0, min(to-from, 1024))
	for rows.Next() {
		var idx int64
		var leaf []byte
		if err := rows.Scan(&idx, &leaf); err != nil {
			return nil, err
		}
		if uint64(idx) != from+uint64(len(out)) {
			return nil, fmt.Errorf("sqlstore: entry %d is missing", from+uint64(len(out)))
		}
		out = append(out, leaf)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if uint64(len(out)) != to-from {
		return nil, store.ErrNotFound
	}
	return out, nil
}

// Entry implements store.Store.
func (db *DB) Entry(ctx context.Context, index uint64) (*store.EntryRow, error) {
	defer db.since(metrics.TxRead, time.Now())
	e := &store.EntryRow{Index: index}
	var t int64
	err := db.r.QueryRowContext(ctx, db.d.q(`SELECT leaf, time, kind, type, package, version, ptype, pdigest FROM entries WHERE idx = ?`), idxArg(index)).
		Scan(&e.Leaf, &t, &e.Kind, &e.Type, &e.Package, &e.Version, &e.PredicateType, &e.PayloadDigest)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	e.Time = time.Unix(0, t).UTC()
	return e, nil
}

// ReadHashes implements store.Store.
func (db *DB) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	defer db.since(metrics.TxRead, time.Now())
	out := make([]tlog.Hash, len(indexes))
	pos := make(map[int64][]int, len(indexes))
	uniq := make([]any, 0, len(indexes))
	for i, x := range indexes {
		if pos[x] == nil {
			uniq = append(uniq, x)
		}
		pos[x] = append(pos[x], i)
	}
	found := 0
	err := db.queryIn(ctx, db.r, `SELECT id, hash FROM hashes WHERE id IN (?)`, uniq, func(rows *sql.Rows) error {
		var id int64
		var h []byte
		if err := rows.Scan(&id, &h); err != nil {
			return err
		}
		if len(h) != tlog.HashSize {
			return fmt.Errorf("sqlstore: stored hash %d is %d bytes", id, len(h))
		}
		for _, i := range pos[id] {
			copy(out[i][:], h)
		}
		found++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found != len(uniq) {
		return nil, fmt.Errorf("sqlstore: %d of %d tree hashes are missing", len(uniq)-found, len(uniq))
	}
	return out, nil
}

// Integrate implements store.Store.
func (db *DB) Integrate(ctx context.Context, oldSize uint64, build store.BuildCheckpoint) (err error) {
	defer db.since(metrics.TxIntegrate, time.Now())
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if db.d.lockIntegrate != "" {
		if _, err := tx.ExecContext(ctx, db.d.lockIntegrate); err != nil {
			return err
		}
	}
	if err := db.integrate(ctx, tx, oldSize, build); err != nil {
		return err
	}
	return tx.Commit()
}

// integrate writes hashes and a checkpoint in tx, if the latest checkpoint
// is still of size oldSize (or there is none and oldSize is 0).
func (db *DB) integrate(ctx context.Context, tx *sql.Tx, oldSize uint64, build store.BuildCheckpoint) error {
	var cur sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(size) FROM checkpoints`).Scan(&cur); err != nil {
		return err
	}
	if uint64(cur.Int64) != oldSize {
		return store.ErrConflict
	}
	hashes, cp, err := build()
	if err != nil {
		return err
	}
	if cp.Size < oldSize || cp.Size == oldSize && cur.Valid {
		return fmt.Errorf("sqlstore: a checkpoint of size %d does not extend the latest, of size %d", cp.Size, oldSize)
	}
	args := make([]any, 0, 2*len(hashes))
	for _, h := range hashes {
		args = append(args, h.Index, h.Hash[:])
	}
	if err := insertHashes.exec(ctx, tx, db.d, args); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, db.d.q(`INSERT INTO checkpoints (size, time, root, note) VALUES (?, ?, ?, ?)`),
		int64(cp.Size), cp.Time.UnixNano(), cp.Root[:], cp.Note)
	return err
}

// Exclusive implements store.Store.
func (db *DB) Exclusive() bool { return db.d.exclusive }

// Lease is store.Lease.
type Lease = store.Lease

// LeadIntegration implements store.Store.
func (db *DB) LeadIntegration(ctx context.Context) (store.Lease, bool, error) {
	if db.d.lead == nil {
		return soleLease{}, true, nil
	}
	return db.d.lead(ctx, db)
}

// soleLease is the integrator role of a store with a single writer.
type soleLease struct{}

func (soleLease) Alive(context.Context) bool { return true }

func (soleLease) Release() {}
