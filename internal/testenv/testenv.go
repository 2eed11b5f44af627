// Package testenv gives tests the real servers the test script starts: a
// fresh PostgreSQL database on $VOUCH_TEST_POSTGRES and a fresh bucket on the
// S3-compatible server of $VOUCH_TEST_S3.
package testenv

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL
)

// Database returns the URL of a fresh PostgreSQL database on the server
// named by $VOUCH_TEST_POSTGRES (dropped when the test ends), or "" when the
// variable is not set.
func Database(t testing.TB) string {
	base := os.Getenv("VOUCH_TEST_POSTGRES")
	if base == "" {
		return ""
	}
	name := "vt_" + randomName()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatalf("creating a test database: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Bucket returns an s3:// URL for a fresh bucket on the server named by
// $VOUCH_TEST_S3, or "" when the variable is not set.
func Bucket(t testing.TB) string {
	base := os.Getenv("VOUCH_TEST_S3")
	if base == "" {
		return ""
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "vt-" + strings.ReplaceAll(randomName(), "_", "-")
	return u.String()
}

func randomName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Skip skips a test that needs a backend the environment does not provide,
// unless $VOUCH_TEST_REQUIRE_BACKENDS is set (as in scripts/test.sh), when
// it fails instead: the test must not silently stop running.
func Skip(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("VOUCH_TEST_REQUIRE_BACKENDS") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
