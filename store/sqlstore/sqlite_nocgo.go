//go:build !cgo

package sqlstore

import (
	"context"
	"errors"
)

// OpenSQLite fails in a build without cgo: the SQLite driver is C. Such a
// build (the cross-compiled CLI, for one) still works as a client and runs
// a registry on PostgreSQL.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	return nil, errors.New("this vouch was built without cgo (CGO_ENABLED=0), so it has no SQLite: build it with cgo, or give --db a postgres:// URL")
}
