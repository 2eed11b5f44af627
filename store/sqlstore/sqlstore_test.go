package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vouchdev/vouch/internal/testenv"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/store/sqlstore"
	"github.com/vouchdev/vouch/store/storetest"
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
