package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"runtime"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver
)

// OpenSQLite opens (creating if needed) the SQLite database at path. The
// database runs in WAL mode with synchronous=FULL, so a committed
// transaction survives a crash of the process or the machine. Only one
// process may write to it; callers should hold a lock on its directory.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_busy_timeout=10000&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=0&cache=private"
	w, err := sql.Open("sqlite3", base+"&_txlock=immediate&_secure_delete=1")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite3", base+"&_query_only=1")
	if err != nil {
		w.Close()
		return nil, err
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxLifetime(0)
	db := &DB{d: dialect{name: "sqlite", compact: compactSQLite}, w: w, r: r}
	if err := w.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return db, nil
}

// compactSQLite rebuilds the database file and empties the WAL, so that
// erased data survives in neither (secure_delete already zeroes freed pages).
func compactSQLite(ctx context.Context, db *DB) error {
	for _, q := range []string{`PRAGMA wal_checkpoint(TRUNCATE)`, `VACUUM`, `PRAGMA wal_checkpoint(TRUNCATE)`} {
		if _, err := db.w.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
