package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the SQLite driver the node uses
)

// seedBatch is how many token families one seeding transaction writes.
const seedBatch = 100_000

// seedTokens writes about n stored tokens into the node's database before
// the node starts (after the CLI created the schema): n/2 token families
// of the code client and the bench user, each with a live access token
// (an hour left) and a live refresh token (90 days left), keyed as the
// node keys its own (secret.TokenKey: the 12-hex stamp of their creation,
// then a random 64-hex hash), and lineages keyed the same way. Rows are generated
// inside the database (a recursive CTE on SQLite, generate_series on
// PostgreSQL) in transactions of seedBatch families, then the tables are
// analysed.
func seedTokens(ctx context.Context, db *database, f *fixture, n int) error {
	if n <= 0 {
		return nil
	}
	families := (n + 1) / 2
	now := time.Now()
	created, access, refresh := now.UnixMilli(), now.Add(time.Hour).UnixMilli(), now.Add(90*24*time.Hour).UnixMilli()
	s, err := openSeeder(ctx, db)
	if err != nil {
		return err
	}
	defer s.close()
	userID, err := s.userID(ctx, f.user)
	if err != nil {
		return err
	}
	start := time.Now()
	for done := 0; done < families; done += seedBatch {
		k := min(seedBatch, families-done)
		if err := s.batch(ctx, k, f.code.ID, userID, created, access, refresh); err != nil {
			return fmt.Errorf("seed tokens: %w", err)
		}
		if (done/seedBatch)%10 == 9 {
			log.Printf("  seeded %d of %d tokens (%s)", 2*(done+k), 2*families, time.Since(start).Round(time.Second))
		}
	}
	stored, err := s.count(ctx, "SELECT COUNT(*) FROM tokens")
	if err != nil {
		return fmt.Errorf("count tokens: %w", err)
	}
	if stored < int64(2*families) {
		return fmt.Errorf("seed tokens: %d tokens stored, want at least %d", stored, 2*families)
	}
	if err := s.exec(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	if s.pg != nil {
		// The seeding's WAL outgrows max_wal_size many times over; a
		// checkpoint now writes out whatever of it is left, so that the
		// run does not start in the middle of that (a store that holds ten
		// million tokens is not in the middle of writing them). It needs
		// the right to checkpoint; without it the run goes on, noted.
		t := time.Now()
		if err := s.exec(ctx, "CHECKPOINT"); err != nil {
			log.Printf("  checkpoint after seeding: %v (the run starts while the server may still write the seeded pages)", err)
		} else {
			log.Printf("  checkpointed the seeded pages in %s", time.Since(t).Round(time.Millisecond))
		}
	}
	log.Printf("  seeded %d tokens in %d families in %s", 2*families, families, time.Since(start).Round(time.Millisecond))
	return nil
}

// seeder writes rows through database/sql (SQLite) or pgx (PostgreSQL).
type seeder struct {
	lite *sql.DB
	pg   *pgx.Conn
}

func openSeeder(ctx context.Context, db *database) (*seeder, error) {
	if db.backend == "postgres" {
		conn, err := pgx.Connect(ctx, db.dsn)
		if err != nil {
			return nil, fmt.Errorf("seed: connect: %w", err)
		}
		return &seeder{pg: conn}, nil
	}
	// No journal and no syncs while seeding: the node is not running, and
	// a crash would only spoil this bench's own database. close puts the
	// journal back to WAL, the node's mode.
	q := url.Values{"_pragma": {"busy_timeout(10000)", "journal_mode(OFF)", "synchronous(OFF)", "foreign_keys(1)", "cache_size(-131072)"}}
	lite, err := sql.Open("sqlite", "file:"+(&url.URL{Path: db.dsn}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("seed: open: %w", err)
	}
	lite.SetMaxOpenConns(1)
	return &seeder{lite: lite}, nil
}

func (s *seeder) close() {
	if s.pg != nil {
		_ = s.pg.Close(context.Background())
	} else {
		_, _ = s.lite.Exec("PRAGMA journal_mode=WAL")
		_ = s.lite.Close()
	}
}

func (s *seeder) exec(ctx context.Context, q string) error {
	if s.pg != nil {
		_, err := s.pg.Exec(ctx, q)
		return err
	}
	_, err := s.lite.ExecContext(ctx, q)
	return err
}

func (s *seeder) count(ctx context.Context, q string) (int64, error) {
	var n int64
	if s.pg != nil {
		return n, s.pg.QueryRow(ctx, q).Scan(&n)
	}
	return n, s.lite.QueryRowContext(ctx, q).Scan(&n)
}

func (s *seeder) userID(ctx context.Context, username string) (int64, error) {
	const q = "SELECT id FROM users WHERE username = "
	var id int64
	var err error
	if s.pg != nil {
		err = s.pg.QueryRow(ctx, q+"$1", username).Scan(&id)
	} else {
		err = s.lite.QueryRowContext(ctx, q+"?", username).Scan(&id)
	}
	if err != nil {
		return 0, fmt.Errorf("seed: the bench user: %w", err)
	}
	return id, nil
}

// The statements of one batch: k families after the largest family id so
// far, then an access and a refresh token for each of them.
const (
	liteFamilies = `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1)
INSERT INTO token_families (client_id, user_id, scopes, generation, auth_time, created_at, last_used_at, lineage)
SELECT ?2, ?3, 'REPO_READ', 1, ?4, ?4, ?4, printf('%012x', ?4) || lower(hex(randomblob(32))) FROM s`
	liteTokens = `INSERT INTO tokens (hash, kind, family_id, generation, scopes, created_at, expires_at)
SELECT printf('%012x', ?2) || lower(hex(randomblob(32))) AS h, ?1, id, 1, 'REPO_READ', ?2, ?3 FROM token_families WHERE id > ?4 ORDER BY h`
	pgFamilies = `INSERT INTO token_families (client_id, user_id, scopes, generation, auth_time, created_at, last_used_at, lineage)
SELECT $2, $3, 'REPO_READ', 1, $4, $4, $4, lpad(to_hex($4::bigint), 12, '0') || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '')
FROM generate_series(1, $1)`
	pgTokens = `INSERT INTO tokens (hash, kind, family_id, generation, scopes, created_at, expires_at)
SELECT lpad(to_hex($2::bigint), 12, '0') || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), $1, id, 1, 'REPO_READ', $2, $3
FROM token_families WHERE id > $4`
	maxFamily = "SELECT COALESCE(MAX(id), 0) FROM token_families"
)

// batch writes k families and their two tokens each in one transaction.
func (s *seeder) batch(ctx context.Context, k int, clientID string, userID, created, access, refresh int64) error {
	if s.pg != nil {
		return pgx.BeginFunc(ctx, s.pg, func(tx pgx.Tx) error {
			var last int64
			if err := tx.QueryRow(ctx, maxFamily).Scan(&last); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, pgFamilies, k, clientID, userID, created); err != nil {
				return fmt.Errorf("families: %w", err)
			}
			for kind, exp := range map[string]int64{"access": access, "refresh": refresh} {
				if _, err := tx.Exec(ctx, pgTokens, kind, created, exp, last); err != nil {
					return fmt.Errorf("%s tokens: %w", kind, err)
				}
			}
			return nil
		})
	}
	tx, err := s.lite.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var last int64
	if err := tx.QueryRowContext(ctx, maxFamily).Scan(&last); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, liteFamilies, k, clientID, userID, created); err != nil {
		return fmt.Errorf("families: %w", err)
	}
	for kind, exp := range map[string]int64{"access": access, "refresh": refresh} {
		if _, err := tx.ExecContext(ctx, liteTokens, kind, created, exp, last); err != nil {
			return fmt.Errorf("%s tokens: %w", kind, err)
		}
	}
	return tx.Commit()
}
