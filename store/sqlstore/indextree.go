package sqlstore

// The index tree role: the verifiable index's nodes, versioned by the tree
// size they were written at, and its roots.

import (
	"context"
	"database/sql"
	"errors"

	"github.com/vouchdev/vouch/store"
)

// indexNodes reads node versions by key.
func (db *DB) indexNodes(ctx context.Context, on querier, keys [][]byte) (map[string][]byte, error) {
	out := make(map[string][]byte, len(keys))
	err := db.queryIn(ctx, on, `SELECT key, node FROM index_nodes WHERE key IN (?)`, anys(keys), func(rows *sql.Rows) error {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		out[string(k)] = v
		return nil
	})
	return out, err
}

// IndexNodes implements store.IndexTree.
func (db *DB) IndexNodes(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	return db.indexNodes(ctx, db.r, keys)
}

// IndexRoot implements store.IndexTree.
func (db *DB) IndexRoot(ctx context.Context, size uint64) ([]byte, error) {
	var root []byte
	err := db.r.QueryRowContext(ctx, db.d.q(`SELECT root FROM index_roots WHERE size = ?`), idxArg(size)).Scan(&root)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return root, err
}

// LatestIndexRoot implements store.IndexTree.
func (db *DB) LatestIndexRoot(ctx context.Context, size uint64) (uint64, []byte, error) {
	var at int64
	var root []byte
	err := db.r.QueryRowContext(ctx, db.d.q(`SELECT size, root FROM index_roots WHERE size <= ? ORDER BY size DESC LIMIT 1`), idxArg(size)).Scan(&at, &root)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, store.ErrNotFound
	}
	return uint64(at), root, err
}
