package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// buildLatchkey compiles ./cmd/latchkey of the module the bench runs in
// into dir and returns the binary's path.
func buildLatchkey(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "latchkey")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/latchkey")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/latchkey: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of the go.mod of the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("run latchkey-bench inside the latchkey module (go run ./cmd/latchkey-bench)")
	}
	return filepath.Dir(gomod), nil
}

// database is where one node keeps its data.
type database struct {
	backend string // "sqlite" or "postgres"
	dsn     string // --db
	kek     string // the key-encryption key (PostgreSQL), passed in the environment
	// local is whether the database server (PostgreSQL) runs on this
	// machine, where its processes' CPU time can be read.
	local bool
	drop  func(context.Context) error
}

// newDatabase prepares an empty database: a SQLite file in dataDir, or a
// fresh PostgreSQL database on the server of adminDSN, dropped by drop.
func newDatabase(ctx context.Context, backend, dataDir, adminDSN string) (*database, error) {
	if backend == "sqlite" {
		return &database{backend: backend, dsn: filepath.Join(dataDir, "latchkey.db"), drop: func(context.Context) error { return nil }}, nil
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "latchkey_bench_" + hex.EncodeToString(suffix)
	u, err := url.Parse(adminDSN)
	if err != nil {
		return nil, fmt.Errorf("LATCHKEY_TEST_POSTGRES: %w", err)
	}
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	drop := func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, adminDSN)
		if err != nil {
			return fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	host := u.Hostname()
	local := host == "" || host == "localhost" || strings.HasPrefix(host, "/") || net.ParseIP(host).IsLoopback()
	return &database{backend: backend, dsn: u.String(), kek: base64.StdEncoding.EncodeToString(kek), local: local, drop: drop}, nil
}

// node is a running `latchkey serve` process.
type node struct {
	bin       string
	db        *database
	dataDir   string
	base      string // http://127.0.0.1:PORT
	pprofAddr string // "" unless profiling was asked for
	logPath   string
	cmd       *exec.Cmd
	exited    chan error
}

// cli runs one latchkey administration command against the node's
// database and decodes its --json answer into out (when not nil).
func (n *node) cli(ctx context.Context, stdin string, out any, args ...string) error {
	args = append(args, "--db", n.db.dsn, "--data-dir", n.dataDir, "--json")
	cmd := exec.CommandContext(ctx, n.bin, args...)
	cmd.Env = n.env()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("latchkey %s: %w: %s", strings.Join(args[:2], " "), err, strings.TrimSpace(stderr.String()))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("latchkey %s: answer %q: %w", strings.Join(args[:2], " "), stdout.String(), err)
	}
	return nil
}

// env is the environment of the node's processes: ours without any
// LATCHKEY_ setting (which would change what is measured), plus the
// key-encryption key on PostgreSQL.
func (n *node) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCHKEY_") {
			env = append(env, kv)
		}
	}
	if n.db.kek != "" {
		env = append(env, "LATCHKEY_KEY_ENCRYPTION_KEY="+n.db.kek)
	}
	return env
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs `latchkey serve` with rate limits off and log level warn,
// its output going to n.logPath, and waits until /readyz answers.
func (n *node) start(ctx context.Context, maxConns int) error {
	addr, err := freePort()
	if err != nil {
		return err
	}
	n.base = "http://" + addr
	procs := fmt.Sprint(max(maxConns*2, 64))
	args := []string{"serve", "--listen", addr, "--base-url", n.base, "--db", n.db.dsn, "--data-dir", n.dataDir,
		"--rate-limit-per-client", "0", "--rate-limit-per-address", "0", "--log-level", "warn",
		"--no-bootstrap-admin", "--code-ttl", "10m", "--shutdown-timeout", "5s",
		// one bench user makes every git request: the per-caller bound
		// (8 by default) would answer 503 beyond 8 connections.
		"--git-max-processes", procs, "--git-max-processes-per-caller", procs}
	if n.pprofAddr != "" {
		args = append(args, "--pprof-listen", n.pprofAddr)
	}
	logFile, err := os.Create(n.logPath)
	if err != nil {
		return fmt.Errorf("node log: %w", err)
	}
	n.cmd = exec.Command(n.bin, args...)
	n.cmd.Env = n.env()
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	if err := n.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start latchkey serve: %w", err)
	}
	n.exited = make(chan error, 1)
	go func() { n.exited <- n.cmd.Wait(); logFile.Close() }()
	return n.waitReady(ctx)
}

// waitReady polls /readyz until it answers 200, the process exits, or 60 s pass.
func (n *node) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-n.exited:
			n.exited <- err
			return fmt.Errorf("latchkey serve exited at start-up (%v); see %s", err, n.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(n.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("latchkey serve did not become ready in a minute; see %s", n.logPath)
}

// stop sends SIGTERM and waits for the process (killing it after 20 s).
func (n *node) stop() error {
	if n.cmd == nil || n.cmd.Process == nil {
		return nil
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.exited:
		n.exited <- err
		return err
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		return errors.New("latchkey serve did not stop in 20 s; killed")
	}
}

// rss is the node process's resident memory in bytes (VmRSS of
// /proc/PID/status), or 0 where that cannot be read.
func (n *node) rss() int64 { return vmRSS(n.proc("status")) }

// proc is the text of /proc/PID/name of the node process, or "" where
// that cannot be read.
func (n *node) proc(name string) string {
	if n.cmd == nil || n.cmd.Process == nil {
		return ""
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", n.cmd.Process.Pid, name))
	if err != nil {
		return ""
	}
	return string(raw)
}

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture Go builds for).
const userHZ = 100

// cpuTime is the CPU time, user and system, that the node process has
// used so far (/proc/PID/stat), or 0 where that cannot be read.
func (n *node) cpuTime() time.Duration { return statCPU(n.proc("stat")) }

// statCPU reads utime and stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name (field 2) is in parentheses and may hold spaces,
// so the fields are counted from its closing parenthesis.
func statCPU(stat string) time.Duration {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / userHZ
}

// vmRSS reads the VmRSS line ("VmRSS:    123456 kB") of a /proc status text.
func vmRSS(status string) int64 {
	for line := range strings.SplitSeq(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// errorLines counts the lines the node logged at level ERROR.
func errorLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"level":"ERROR"`)) {
			n++
		}
	}
	return n, sc.Err()
}

// serverCPUTime is the CPU time, user and system, that the processes of
// a PostgreSQL server on this machine (named "postgres") have used so
// far. A backend that exits between two readings takes its time with it;
// the node's pool keeps its connections through a point.
func serverCPUTime() time.Duration {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err == nil {
			sum += statCPU(string(stat))
		}
	}
	return sum
}

// cpuUse is the CPU time used during a point's measured window: by the
// node, and by the database server when it is a PostgreSQL server on this
// machine. 0 is unknown.
type cpuUse struct{ node, server time.Duration }

// cpuDuring returns the CPU time used from `from` for d: the measured
// window of a point, whose load runs meanwhile.
func (n *node) cpuDuring(ctx context.Context, from time.Time, d time.Duration) cpuUse {
	if !sleepUntil(ctx, from) {
		return cpuUse{}
	}
	server := n.db.local && n.db.backend == "postgres"
	nodeBefore, serverBefore := n.cpuTime(), time.Duration(0)
	if server {
		serverBefore = serverCPUTime()
	}
	if !sleepUntil(ctx, from.Add(d)) {
		return cpuUse{}
	}
	var use cpuUse
	if nodeBefore > 0 {
		use.node = n.cpuTime() - nodeBefore
	}
	if server && serverBefore > 0 {
		use.server = serverCPUTime() - serverBefore
	}
	return use
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
