package sqlstore

// The index tree role: the verifiable index's nodes, versioned by the tree
// size they were written at, and its roots.

import (
	"context"
	"database/sql"
	"errors"
	"math"

	"github.com/vouchdev/vouch/store"
)

// maxIdx reads the newest version of everything.
const maxIdx = math.MaxInt64

// indexNodes reads, for each label, the newest node version written at or
// before size.
func (db *DB) indexNodes(ctx context.Context, on querier, labels [][]byte, size uint64) (map[string][]byte, error) {
	out := make(map[string][]byte, len(labels))
	args := make([]any, 0, len(labels)+1)
	args = append(args, idxArg(size))
	for _, l := range labels {
		args = append(args, l)
	}
	// queryIn expands "IN (?)" over the values after the first argument.
	err := db.queryInAfter(ctx, on, `SELECT n.label, n.node FROM index_nodes n JOIN
		(SELECT label, MAX(size) AS m FROM index_nodes WHERE size <= ? AND label IN (?) GROUP BY label) l
		ON n.label = l.label AND n.size = l.m`, args[:1], args[1:], func(rows *sql.Rows) error {
		var l, v []byte
		if err := rows.Scan(&l, &v); err != nil {
			return err
		}
		out[string(l)] = v
		return nil
	})
	return out, err
}

// IndexNodesAt implements store.IndexTree.
func (db *DB) IndexNodesAt(ctx context.Context, labels [][]byte, size uint64) (map[string][]byte, error) {
	return db.indexNodes(ctx, db.r, labels, size)
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
