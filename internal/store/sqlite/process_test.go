package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"latchkey/internal/store"
	"latchkey/internal/store/sqlite"
)

// helperEnv tells the test binary, run again as a second process, which
// database file TestHelperWriter should write to.
const helperEnv = "LATCHKEY_SQLITE_HELPER_DB"

const (
	writers          = 64 // goroutines per process
	writesPerWriter  = 10 // users each goroutine creates and updates
	helperUserPrefix = "cli"
)

// TestSecondProcessWritesSameFile runs 64 writing goroutines in this process
// while a second process (like the CLI next to a server) does the same on
// the same file. Neither may see "database is locked".
func TestSecondProcessWritesSameFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var out strings.Builder
	cmd.Stderr = &out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && lines.Text() != "ready" {
		out.WriteString(lines.Text() + "\n")
	}
	done := make(chan struct{})
	go func() {
		for lines.Scan() {
			out.WriteString(lines.Text() + "\n")
		}
		close(done)
	}()

	for _, err := range writeMany(t.Context(), s, "srv") {
		t.Error(err)
	}
	<-done
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v\n%s", err, out.String())
	}
	n, err := s.CountUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * writers * writesPerWriter; n != want {
		t.Errorf("count users = %d, want %d", n, want)
	}
}

// TestHelperWriter is the second process of TestSecondProcessWritesSameFile.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process of TestSecondProcessWritesSameFile")
	}
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fmt.Println("ready")
	for _, err := range writeMany(t.Context(), s, helperUserPrefix) {
		t.Error(err)
	}
}

// writeMany creates and updates users on many goroutines and returns every error.
func writeMany(ctx context.Context, s store.Store, prefix string) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range writesPerWriter {
				if err := writeOne(ctx, s, fmt.Sprintf("%s-%d-%d", prefix, g, i)); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errs
}

func writeOne(ctx context.Context, s store.Store, name string) error {
	u, err := s.CreateUser(ctx, store.User{Username: name})
	if err != nil {
		return err
	}
	_, err = s.UpdateUser(ctx, u.ID, func(u store.User) (store.User, error) {
		u.Email = u.Username + "@example.com"
		return u, nil
	})
	if err != nil {
		return err
	}
	_, err = s.EnsureSecret(ctx, "shared", []byte(name))
	return err
}

// TestConcurrentOpen opens one new file from several stores at once, as
// two processes starting together do: creation, WAL mode and migrations
// must not collide.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "latchkey.db")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := sqlite.Open(t.Context(), path)
			if err == nil {
				_, err = s.CreateUser(t.Context(), store.User{Username: fmt.Sprintf("u%d", i)})
				err = errors.Join(err, s.Close())
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
		}
	}
}
