package testkit

import (
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"latchkey/internal/config"
)

// PostgresEnv names the variable holding the test server's DSN.
const PostgresEnv = "LATCHKEY_TEST_POSTGRES"

// FreshPostgres creates a database with a random name on the test server
// named by LATCHKEY_TEST_POSTGRES, drops it when t ends, and returns its
// DSN. Without the variable it skips t, or fails it when CI=true.
func FreshPostgres(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		msg := PostgresEnv + " is not set; set it to a PostgreSQL URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run this test"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL, got %q", PostgresEnv, dsn)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := "lk_test_" + strings.ToLower(rand.Text()[:16])
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		db.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// TestKeyEncryptionKey is the key-encryption key of test nodes on PostgreSQL.
const TestKeyEncryptionKey = "dGVzdC1vbmx5LWtleS1lbmNyeXB0aW9uLWtleS0zMmI="

// OnFreshPostgres runs the node on a FreshPostgres database, with the key-
// encryption key PostgreSQL requires.
func OnFreshPostgres(t testing.TB) Option {
	t.Helper()
	fresh := FreshPostgres(t)
	return func(c *config.Config) {
		c.DB = fresh
		c.KeyEncryptionKey = TestKeyEncryptionKey
	}
}
