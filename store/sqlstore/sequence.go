package sqlstore

// The sequencing transaction: new entries, the state they change and
// their off-log data, buffered and written with multi-row INSERTs.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/store"
)

type seqTx struct {
	ctx  context.Context
	db   *DB
	tx   *sql.Tx
	head store.Head
	get  *sql.Stmt
	// conn lets one statement at a time use the transaction's connection,
	// reading its rows to the end before the next: IndexNodes may run
	// beside the other reads and Flush, from another goroutine, and a
	// PostgreSQL connection cannot start a statement while another's rows
	// are still being read.
	conn sync.Mutex
	// rows buffers the rows appended in this transaction, per table, to be
	// written with multi-row INSERTs at the end (see Flush).
	rows [len(inserts)][]any
}

func (db *DB) readHead(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (store.Head, error) {
	var idx, t sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT idx, time FROM entries ORDER BY idx DESC LIMIT 1`).Scan(&idx, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Head{}, nil
	}
	if err != nil {
		return store.Head{}, err
	}
	return store.Head{Sequenced: uint64(idx.Int64) + 1, LastTime: time.Unix(0, t.Int64).UTC()}, nil
}

// Sequence implements store.Store.
func (db *DB) Sequence(ctx context.Context, fn func(store.SeqTx) error) (err error) {
	defer db.since(metrics.TxSequence, time.Now())
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		// Also when fn panics: the transaction holds the only writer
		// connection on SQLite, and must not outlive the call.
		if !committed {
			tx.Rollback()
		}
	}()
	if db.d.lockSequence != "" {
		if _, err := tx.ExecContext(ctx, db.d.lockSequence); err != nil {
			return err
		}
	}
	head, err := db.readHead(ctx, tx)
	if err != nil {
		return err
	}
	st := &seqTx{ctx: ctx, db: db, tx: tx, head: head}
	defer st.close()
	if err := fn(st); err != nil {
		return err
	}
	if err := st.Flush(); err != nil {
		return err
	}
	committed = true
	return tx.Commit()
}

func (t *seqTx) close() {
	if t.get != nil {
		t.get.Close()
	}
}

func (t *seqTx) Head() store.Head { return t.head }

// Subjects implements store.SeqTx.
func (t *seqTx) Subjects(digests []string) (map[string][]store.SubjectRef, error) {
	t.conn.Lock()
	defer t.conn.Unlock()
	out := map[string][]store.SubjectRef{}
	err := t.db.queryIn(t.ctx, t.tx, `SELECT s.digest, e.idx, e.type, e.pdigest FROM entry_subjects s JOIN entries e ON e.idx = s.idx WHERE s.digest IN (?)`,
		anys(digests), func(rows *sql.Rows) error {
			var d string
			var r store.SubjectRef
			var idx int64
			if err := rows.Scan(&d, &idx, &r.Type, &r.PayloadDigest); err != nil {
				return err
			}
			r.Index = uint64(idx)
			out[d] = append(out[d], r)
			return nil
		})
	return out, err
}

// GetMany implements store.SeqTx.
func (t *seqTx) GetMany(keys []string) (map[string][]byte, error) {
	t.conn.Lock()
	defer t.conn.Unlock()
	out := map[string][]byte{}
	err := t.db.queryIn(t.ctx, t.tx, `SELECT s.key, s.value FROM state s JOIN (SELECT key, MAX(idx) AS m FROM state WHERE key IN (?) GROUP BY key) l ON s.key = l.key AND s.idx = l.m`,
		anys(keys), func(rows *sql.Rows) error {
			var k string
			var v []byte
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			out[k] = v
			return nil
		})
	return out, err
}

// Signers implements store.SeqTx.
func (t *seqTx) Signers(idx uint64) ([]string, error) {
	t.conn.Lock()
	defer t.conn.Unlock()
	rows, err := t.tx.QueryContext(t.ctx, t.db.d.q(`SELECT key_id FROM entry_signers WHERE idx = ?`), int64(idx))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (t *seqTx) Get(key string) ([]byte, error) {
	t.conn.Lock()
	defer t.conn.Unlock()
	if t.get == nil {
		s, err := t.tx.PrepareContext(t.ctx, t.db.d.q(`SELECT value FROM state WHERE key = ? ORDER BY idx DESC LIMIT 1`))
		if err != nil {
			return nil, err
		}
		t.get = s
	}
	var v []byte
	err := t.get.QueryRowContext(t.ctx, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

// IndexNodes implements store.SeqTx.
func (t *seqTx) IndexNodes(keys [][]byte) (map[string][]byte, error) {
	t.conn.Lock()
	defer t.conn.Unlock()
	return t.db.indexNodes(t.ctx, t.tx, keys)
}

// IndexHead implements store.SeqTx.
func (t *seqTx) IndexHead() (uint64, bool, error) {
	t.conn.Lock()
	defer t.conn.Unlock()
	var size sql.NullInt64
	if err := t.tx.QueryRowContext(t.ctx, `SELECT MAX(size) FROM index_roots`).Scan(&size); err != nil {
		return 0, false, err
	}
	return uint64(size.Int64), size.Valid, nil
}

// PutIndex implements store.SeqTx.
func (t *seqTx) PutIndex(size uint64, nodes []store.IndexNode, root []byte) error {
	for _, n := range nodes {
		t.add(6, n.Key, n.Node)
	}
	t.add(7, int64(size), root)
	return nil
}

// insertSQL is a multi-row INSERT: its head, its number of columns, and
// its tail.
type insertSQL struct {
	head string
	cols int
	tail string
}

// exec inserts the rows whose values are args (cols per row), a few hundred
// values per statement. Statements hold the most rows that fit, then 64,
// 16, 4 or 1, so that a table is written with at most five distinct
// statements, which the driver's statement cache keeps prepared.
func (ins insertSQL) exec(ctx context.Context, tx *sql.Tx, d dialect, args []any) error {
	most := 400 / ins.cols
	tuple := "(?" + strings.Repeat(", ?", ins.cols-1) + ")"
	for len(args) > 0 {
		rows := len(args) / ins.cols
		n := most
		for _, size := range [...]int{64, 16, 4, 1} {
			if rows >= n {
				break
			}
			n = min(size, most)
		}
		q := ins.head + tuple + strings.Repeat(", "+tuple, n-1) + ins.tail
		if _, err := tx.ExecContext(ctx, d.q(q), args[:n*ins.cols]...); err != nil {
			return err
		}
		args = args[n*ins.cols:]
	}
	return nil
}

var insertHashes = insertSQL{`INSERT INTO hashes (id, hash) VALUES `, 2, ``}

// inserts are the tables an appended entry writes to.
var inserts = [...]insertSQL{
	{`INSERT INTO entries (idx, leaf, time, kind, type, package, version, ptype, pdigest, digest) VALUES `, 10, ``},
	{`INSERT INTO entry_signers (key_id, idx) VALUES `, 2, ` ON CONFLICT DO NOTHING`},
	{`INSERT INTO entry_subjects (digest, idx) VALUES `, 2, ` ON CONFLICT DO NOTHING`},
	{`INSERT INTO state (key, idx, value) VALUES `, 3, ``},
	{`INSERT INTO offlog (digest, kind, data) VALUES `, 3, ` ON CONFLICT DO NOTHING`},
	{`INSERT INTO statements (idx, data) VALUES `, 2, ``},
	{`INSERT INTO index_nodes (key, node) VALUES `, 2, ``},
	{`INSERT INTO index_roots (size, root) VALUES `, 2, ``},
	{`INSERT INTO keyless (idx, bundle, identity, issuer, subject) VALUES `, 5, ``},
}

// Flush implements store.SeqTx: it writes the buffered rows. The reads it
// allows beside it take turns with its statements (see conn).
func (t *seqTx) Flush() error {
	for i, ins := range inserts {
		args := t.rows[i]
		t.rows[i] = nil
		t.conn.Lock()
		err := ins.exec(t.ctx, t.tx, t.db.d, args)
		t.conn.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *seqTx) add(table int, args ...any) { t.rows[table] = append(t.rows[table], args...) }

func (t *seqTx) Append(e *store.EntryRow, changes []store.KV, off []store.OffLog) error {
	if e.Index != t.head.Sequenced {
		return fmt.Errorf("sqlstore: append at %d, but the log has %d entries", e.Index, t.head.Sequenced)
	}
	if e.Time.Before(t.head.LastTime) {
		return fmt.Errorf("sqlstore: log time would go backwards")
	}
	idx := int64(e.Index)
	digest := ""
	if e.Type == "release" && len(e.Subjects) == 1 {
		digest = e.Subjects[0]
	}
	t.add(0, idx, e.Leaf, e.Time.UnixNano(), e.Kind, e.Type, e.Package, e.Version, e.PredicateType, e.PayloadDigest, digest)
	for _, k := range e.Signers {
		t.add(1, k, idx)
	}
	for _, d := range e.Subjects {
		t.add(2, d, idx)
	}
	for _, c := range changes {
		if c.Value == nil {
			continue // unchanged (store.KV)
		}
		t.add(3, c.Key, idx, c.Value)
	}
	for _, o := range off {
		t.add(4, o.Digest, o.Kind, o.Data)
	}
	if e.Statement != nil {
		t.add(5, idx, e.Statement)
	}
	if k := e.Keyless; k != nil {
		t.add(8, idx, k.Bundle, k.Identity, k.Issuer, k.Subject)
	}
	t.head.Sequenced++
	t.head.LastTime = e.Time
	return nil
}

// Integrate implements store.SeqTx. It takes the integration lock as
// Store.Integrate does: without it, an integrator in another transaction
// would still read the old latest checkpoint, and sign a second one over
// the same old size.
func (t *seqTx) Integrate(oldSize uint64, build store.BuildCheckpoint) error {
	if err := t.Flush(); err != nil {
		return err
	}
	if t.db.d.lockIntegrate != "" {
		if _, err := t.tx.ExecContext(t.ctx, t.db.d.lockIntegrate); err != nil {
			return err
		}
	}
	return t.db.integrate(t.ctx, t.tx, oldSize, build)
}
