package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vouchdev/vouch/internal/testenv"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/store/sqlstore"
	"github.com/vouchdev/vouch/store/storetest"
	"github.com/vouchdev/vouch/vindex"
)

// perTest returns an opener for storetest.Run: a new database for every
// test, and another store on the same database when a test opens a second.
func perTest(newDB func(t *testing.T) string, open func(context.Context, string) (*sqlstore.DB, error)) func(t *testing.T) store.Store {
	var mu sync.Mutex
	dbs := map[*testing.T]string{}
	return func(t *testing.T) store.Store {
		mu.Lock()
		db, ok := dbs[t]
		if !ok {
			db = newDB(t)
			dbs[t] = db
			t.Cleanup(func() {
				mu.Lock()
				delete(dbs, t)
				mu.Unlock()
			})
		}
		mu.Unlock()
		s, err := open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, perTest(func(t *testing.T) string { return filepath.Join(t.TempDir(), "vouch.db") }, sqlstore.OpenSQLite))
}

// postgres returns the URL of a fresh database, or skips the test.
func postgres(t *testing.T) string {
	dsn := testenv.Database(t)
	if dsn == "" {
		testenv.Skip(t, "VOUCH_TEST_POSTGRES is not set")
	}
	return dsn
}

func TestPostgres(t *testing.T) {
	if os.Getenv("VOUCH_TEST_POSTGRES") == "" {
		testenv.Skip(t, "VOUCH_TEST_POSTGRES is not set")
	}
	storetest.Run(t, perTest(postgres, sqlstore.OpenPostgres))
}

// TestPostgresLeaseLost checks that the integrator's lease dies with the
// connection that holds it, and that another store can then lead.
func TestPostgresLeaseLost(t *testing.T) {
	dsn := postgres(t)
	ctx := context.Background()
	open := func() *sqlstore.DB {
		s, err := sqlstore.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	l, ok, err := a.LeadIntegration(ctx)
	if err != nil || !ok {
		t.Fatalf("LeadIntegration: %v %v", ok, err)
	}
	if _, ok, _ := b.LeadIntegration(ctx); ok {
		t.Fatal("two stores lead")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// The leader's advisory lock (key 0x766f7563_00000003): classid holds
	// the key's high 32 bits, objid the low.
	// the key's high 32 bits, objid the low. pg_terminate_backend waits
	// (up to 10 s) for the backend to exit.
	var n int
	err = admin.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND classid = %d AND objid = 3 AND objsubid = 1
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, 0x766f7563)).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminating the leader's connection: %d %v", n, err)
	}
	if l.Alive(ctx) {
		t.Fatal("the lease is alive after its connection died")
	}
	l.Release()
	// The server drops the lock as the backend exits, which may take a
	// moment after it is gone from pg_stat_activity.
	deadline := time.Now().Add(10 * time.Second)
	for {
		lb, ok, err := b.LeadIntegration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			lb.Release()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no other store can lead after the leader's connection died")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testIndexUpgrade writes index nodes as stored before inner nodes held
// their children's hashes, with the schema one step back, and checks that
// opening the store upgrades every node to the bytes the current format
// writes. open opens the store; raw opens the database itself.
func testIndexUpgrade(t *testing.T, open func() (*sqlstore.DB, error), raw func() (*sql.DB, error), q func(string) string) {
	ctx := context.Background()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Two versions of a small tree, a row per node (as written before
	// tiles, and as MemoryNodes keeps them), in the current node format.
	want := rowNodes{}
	mem := vindex.NewMemoryNodes()
	var root2 [32]byte
	for version := uint64(1); version <= 2; version++ {
		u := vindex.NewUpdate(mem, nil, version-1, version == 1)
		for i := range 30 {
			u.Set(vindex.Label(vindex.KindSigner, fmt.Sprint(version, i)), vindex.ListNext(vindex.ListStart, version))
		}
		root, rows, err := u.Apply(ctx, version)
		if err != nil {
			t.Fatal(err)
		}
		root2 = root
		mem.Put(rows)
		for _, r := range rows {
			want[string(r.Key)] = r.Node
		}
	}
	db, err := raw()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := 0
	for k, b := range want {
		if len(b) == 180 {
			b = b[:116]
			old++
		}
		if _, err := db.ExecContext(ctx, q(`INSERT INTO index_nodes (key, node) VALUES (?, ?)`), []byte(k), b); err != nil {
			t.Fatal(err)
		}
	}
	if old < 30 {
		t.Fatalf("only %d inner nodes to upgrade", old)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM schema_version WHERE version = (SELECT MAX(version) FROM schema_version)`); err != nil {
		t.Fatal(err)
	}
	s, err = open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := db.QueryContext(ctx, `SELECT key, node FROM index_nodes`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k, b []byte
		if err := rows.Scan(&k, &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, want[string(k)]) {
			t.Fatalf("node %x was upgraded to %x, want %x", k, b, want[string(k)])
		}
		n++
	}
	if err := rows.Err(); err != nil || n != len(want) {
		t.Fatalf("%d nodes after the upgrade, want %d (%v)", n, len(want), err)
	}
	testTilesOverRows(t, s, mem, root2)
}

// testTilesOverRows writes version 3 of the tree that versions 1 and 2
// wrote a row per node of (as databases written before tiles hold it)
// through the store, in tiles, as the registry does, and checks its root
// against the same update kept a row per node in memory, and proofs
// against both versions' roots.
func testTilesOverRows(t *testing.T, s *sqlstore.DB, mem *vindex.MemoryNodes, root2 [32]byte) {
	ctx := context.Background()
	old := vindex.Label(vindex.KindSigner, fmt.Sprint(2, 7))
	oldProof, err := vindex.Prove(ctx, storeNodes{s}, 2, old)
	if err != nil {
		t.Fatal(err)
	}
	if err := oldProof.Verify(root2, old); err != nil || !oldProof.Present {
		t.Fatalf("version 2, in rows: %v (present %v)", err, oldProof.Present)
	}
	sets := func(u *vindex.Update) {
		for i := range 10 {
			u.Set(vindex.Label(vindex.KindSigner, fmt.Sprint(3, i)), vindex.ListNext(vindex.ListStart, 3))
		}
		u.Set(old, vindex.ListNext(vindex.ListNext(vindex.ListStart, 2), 3))
	}
	ref := vindex.NewUpdate(mem, nil, 2, false)
	sets(ref)
	want, _, err := ref.Apply(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got [32]byte
	err = s.Sequence(ctx, func(tx store.SeqTx) error {
		u := vindex.NewUpdate(txNodes{tx}, nil, 2, false)
		sets(u)
		root, rows, err := u.Apply(ctx, 3)
		if err != nil {
			return err
		}
		nodes := make([]store.IndexNode, len(rows))
		for i, r := range rows {
			if len(r.Key) >= 42 {
				return fmt.Errorf("row %x is not a tile", r.Key)
			}
			nodes[i] = store.IndexNode{Key: r.Key, Node: r.Node}
		}
		got = root
		return tx.PutIndex(3, nodes, root[:])
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("version 3 in tiles over rows has root %x; a row per node gives %x", got, want)
	}
	for _, l := range [][32]byte{old, vindex.Label(vindex.KindSigner, fmt.Sprint(3, 4)), vindex.Label(vindex.KindSigner, fmt.Sprint(1, 4)), vindex.Label(vindex.KindSigner, "absent")} {
		p, err := vindex.Prove(ctx, storeNodes{s}, 3, l)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(got, l); err != nil {
			t.Errorf("a proof of %x at version 3: %v", l, err)
		}
	}
	// Version 2, in rows, still proves what it held.
	if again, err := vindex.Prove(ctx, storeNodes{s}, 2, old); err != nil || again.Verify(root2, old) != nil || again.Value != oldProof.Value {
		t.Errorf("version 2 after version 3: %+v, %v", again, err)
	}
}

// storeNodes reads index nodes from a store.
type storeNodes struct{ s *sqlstore.DB }

func (n storeNodes) Nodes(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	return n.s.IndexNodes(ctx, keys)
}

// txNodes reads index nodes in a sequencing transaction.
type txNodes struct{ tx store.SeqTx }

func (n txNodes) Nodes(_ context.Context, keys [][]byte) (map[string][]byte, error) {
	return n.tx.IndexNodes(keys)
}

func TestSQLiteIndexUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vouch.db")
	testIndexUpgrade(t, func() (*sqlstore.DB, error) { return sqlstore.OpenSQLite(context.Background(), path) },
		func() (*sql.DB, error) { return sql.Open("sqlite3", path) }, func(s string) string { return s })
	// SQLite's || makes text of blobs; the nodes must stay blobs.
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var text int
	if err := db.QueryRow(`SELECT count(*) FROM index_nodes WHERE typeof(node) <> 'blob'`).Scan(&text); err != nil || text != 0 {
		t.Fatalf("%d nodes are not blobs after the upgrade (%v)", text, err)
	}
}

func TestPostgresIndexUpgrade(t *testing.T) {
	dsn := postgres(t)
	testIndexUpgrade(t, func() (*sqlstore.DB, error) { return sqlstore.OpenPostgres(context.Background(), dsn) },
		func() (*sql.DB, error) { return sql.Open("pgx", dsn) }, func(s string) string { return strings.NewReplacer("?, ?", "$1, $2").Replace(s) })
}

// rowNodes is index node rows by key, for vindex.
type rowNodes map[string][]byte

func (r rowNodes) Nodes(_ context.Context, keys [][]byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, k := range keys {
		if b, ok := r[string(k)]; ok {
			out[string(k)] = b
		}
	}
	return out, nil
}
