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

// OnFreshPostgres runs the node on a new database of the test server,
// dropped when t ends, with a key-encryption key as PostgreSQL requires.
// Without LATCHKEY_TEST_POSTGRES it skips t, or fails it when CI=true.
func OnFreshPostgres(t testing.TB) Option {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		msg := PostgresEnv + " is not set: skipping the PostgreSQL variant"
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
	fresh := u.String()
	return func(c *config.Config) {
		c.DB = fresh
		c.KeyEncryptionKey = "dGVzdC1vbmx5LWtleS1lbmNyeXB0aW9uLWtleS0zMmI="
	}
}
