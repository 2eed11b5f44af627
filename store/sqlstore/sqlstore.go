// Package sqlstore implements store.Store on SQL databases: SQLite (the
// embedded default, through mattn/go-sqlite3) and PostgreSQL (through
// jackc/pgx). Both share the same queries; a dialect holds the differences.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

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

type seqTx struct {
	ctx  context.Context
	db   *DB
	tx   *sql.Tx
	head store.Head
	get  *sql.Stmt
	// rows buffers the rows appended in this transaction, per table, to be
	// written with multi-row INSERTs at the end (see flush).
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
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
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
	if err := st.flush(); err != nil {
		return err
	}
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

// insertSQL is a multi-row INSERT: its head, its number of columns, and
// its tail.
type insertSQL struct {
	head string
	cols int
	tail string
}

// exec inserts the rows whose values are args (cols per row), a few hundred
// values per statement.
func (ins insertSQL) exec(ctx context.Context, tx *sql.Tx, d dialect, args []any) error {
	per := 400 / ins.cols * ins.cols
	tuple := "(?" + strings.Repeat(", ?", ins.cols-1) + ")"
	for len(args) > 0 {
		n := min(len(args), per)
		q := ins.head + tuple + strings.Repeat(", "+tuple, n/ins.cols-1) + ins.tail
		if _, err := tx.ExecContext(ctx, d.q(q), args[:n]...); err != nil {
			return err
		}
		args = args[n:]
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
}

// flush writes the buffered rows.
func (t *seqTx) flush() error {
	for i, ins := range inserts {
		args := t.rows[i]
		t.rows[i] = nil
		if err := ins.exec(t.ctx, t.tx, t.db.d, args); err != nil {
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
		t.add(3, c.Key, idx, c.Value)
	}
	for _, o := range off {
		t.add(4, o.Digest, o.Kind, o.Data)
	}
	if e.Statement != nil {
		t.add(5, idx, e.Statement)
	}
	t.head.Sequenced++
	t.head.LastTime = e.Time
	return nil
}

// Head implements store.Store.
func (db *DB) Head(ctx context.Context) (store.Head, error) { return db.readHead(ctx, db.r) }

// Leaves implements store.Store.
func (db *DB) Leaves(ctx context.Context, from, to uint64) ([][]byte, error) {
	if to <= from {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, db.d.q(`SELECT idx, leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx`), int64(from), int64(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([][]byte, 0, to-from)
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
	e := &store.EntryRow{Index: index}
	var t int64
	err := db.r.QueryRowContext(ctx, db.d.q(`SELECT leaf, time, kind, type, package, version, ptype, pdigest FROM entries WHERE idx = ?`), int64(index)).
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

// Integrate implements store.SeqTx.
func (t *seqTx) Integrate(oldSize uint64, build store.BuildCheckpoint) error {
	if err := t.flush(); err != nil {
		return err
	}
	return t.db.integrate(t.ctx, t.tx, oldSize, build)
}

// Exclusive implements store.Store.
func (db *DB) Exclusive() bool { return db.d.exclusive }

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
	c, err := scanCheckpoint(db.r.QueryRowContext(ctx, db.d.q(q), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return c, err
}

// Checkpoints implements store.Store.
func (db *DB) Checkpoints(ctx context.Context, from uint64, limit int) ([]*store.CheckpointRow, error) {
	rows, err := db.r.QueryContext(ctx, db.d.q(`SELECT size, time, root, note FROM checkpoints WHERE size >= ? ORDER BY size LIMIT ?`), int64(from), limit)
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
	return db.checkpoint(ctx, `SELECT size, time, root, note FROM checkpoints WHERE size > ? ORDER BY size LIMIT 1`, int64(index))
}

// Get implements store.Store.
func (db *DB) Get(ctx context.Context, key string, size uint64) ([]byte, error) {
	var v []byte
	err := db.r.QueryRowContext(ctx, db.d.q(`SELECT value FROM state WHERE key = ? AND idx < ? ORDER BY idx DESC LIMIT 1`), key, int64(size)).Scan(&v)
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
	lo, op := prefix, ">="
	if after >= prefix {
		lo, op = after, ">"
	}
	q := `SELECT s.key, s.value FROM state s JOIN (
		SELECT key, MAX(idx) AS m FROM state WHERE key ` + op + ` ? AND key < ? AND idx < ? GROUP BY key ORDER BY key LIMIT ?
	) t ON s.key = t.key AND s.idx = t.m ORDER BY s.key`
	rows, err := db.r.QueryContext(ctx, db.d.q(q), lo, prefixEnd(prefix), int64(size), limit)
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

// SizeAt implements store.Store. Log times never decrease along the log,
// so the size is found by binary search over the entries, with no index on
// time.
func (db *DB) SizeAt(ctx context.Context, t time.Time) (uint64, error) {
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

// OffLog implements store.Store.
func (db *DB) OffLog(ctx context.Context, digest string) (*store.OffLog, error) {
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

// Statement implements store.Store.
func (db *DB) Statement(ctx context.Context, idx uint64) ([]byte, error) {
	var b []byte
	err := db.r.QueryRowContext(ctx, db.d.q(`SELECT data FROM statements WHERE idx = ?`), int64(idx)).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return b, err
}

// Statements implements store.Store.
func (db *DB) Statements(ctx context.Context, from, to uint64) (map[uint64][]byte, error) {
	rows, err := db.r.QueryContext(ctx, db.d.q(`SELECT idx, data FROM statements WHERE idx >= ? AND idx < ?`), int64(from), int64(to))
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

// DeleteStatements implements store.Store.
func (db *DB) DeleteStatements(ctx context.Context, idxs []uint64) error {
	return db.execEach(ctx, `DELETE FROM statements WHERE idx = ?`, indexArgs(idxs))
}

// UseOnce implements store.Store.
func (db *DB) UseOnce(ctx context.Context, digest string, t time.Time, forget time.Duration) (bool, error) {
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
	if db.d.compact == nil {
		return nil
	}
	return db.d.compact(ctx, db)
}

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
func (soleLease) Release()                   {}

var _ store.Store = (*DB)(nil)

// Query implements store.Store.
func (db *DB) Query(ctx context.Context, q *store.Query) ([]*store.EntryRow, error) {
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
	b.WriteString(` WHERE e.idx < ?`)
	args = append(args, int64(min(q.Size, 1<<63-1)))
	cond := func(sql string, v any) {
		b.WriteString(" AND " + sql)
		args = append(args, v)
	}
	if q.From > 0 {
		cond("e.idx >= ?", int64(q.From))
	}
	if q.To > 0 {
		cond("e.idx < ?", int64(q.To))
	}
	if q.After != nil {
		if q.Desc {
			cond("e.idx < ?", int64(*q.After))
		} else {
			cond("e.idx > ?", int64(*q.After))
		}
	}
	if q.Package != "" {
		// Entries about a package: its records, and the attestations about
		// the content of its releases (both found through indexes).
		rel := "r.package = ?"
		args2 := []any{q.Package}
		own := "package = ?"
		if q.Version != "" {
			rel += " AND r.version = ?"
			own += " AND version = ?"
			args2 = append(args2, q.Version)
		}
		b.WriteString(" AND e.idx IN (SELECT idx FROM entries WHERE " + own +
			" UNION SELECT s.idx FROM entry_subjects s WHERE s.digest IN (SELECT r.digest FROM entries r WHERE " +
			rel + " AND r.type = 'release'))")
		args = append(args, args2...)
		args = append(args, args2...)
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

// querier runs queries: a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// queryIn runs q, whose one "IN (?)" is expanded for vals, in chunks of 500
// values, calling scan for every row.
func (db *DB) queryIn(ctx context.Context, on querier, q string, vals []any, scan func(*sql.Rows) error) error {
	for len(vals) > 0 {
		n := min(len(vals), 500)
		chunk := strings.Replace(q, "IN (?)", "IN (?"+strings.Repeat(",?", n-1)+")", 1)
		rows, err := on.QueryContext(ctx, db.d.q(chunk), vals[:n]...)
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
