// Command latchkey-bench is Latchkey's load benchmark. It builds
// ./cmd/latchkey, starts a node in its own process (SQLite, and a fresh
// PostgreSQL database when LATCHKEY_TEST_POSTGRES is set) and a trivial
// net/http handler (the ceiling) in another, sets the node up through its
// CLI and HTTP, and drives each scenario closed-loop at each connection
// count. It prints a Markdown table (and writes it with a CSV into -out):
// requests per second, p50 and p99, each also as a ratio to the ceiling
// measured in the same run. See docs/performance.md.
//
//	go run ./cmd/latchkey-bench                  # 8, 32, 64 connections, 10 s each
//	go run ./cmd/latchkey-bench -smoke -out DIR  # a few seconds; fails on any error
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	connections []int
	duration    time.Duration
	warmup      time.Duration
	scenarios   []scenario
	backends    []string
	out         string
	smoke       bool
	profile     string // the scenario to CPU-profile, or ""
	pgDSN       string
	seedTokens  int // tokens written into the database before the node starts
	// nodeErrors is, per backend, how many ERROR lines the node logged
	// from start to stop (set up and shutdown included).
	nodeErrors map[string]int
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ceiling" {
		if err := runCeiling(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	log.SetFlags(0)
	log.SetPrefix("latchkey-bench: ")
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		log.Print(err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, os.Stdout); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// parseFlags reads the flags; -smoke overrides connections, duration and warm-up.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("latchkey-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conns := fs.String("connections", "8,32,64", "comma-separated connection counts")
	duration := fs.Duration("duration", 10*time.Second, "timed run of each point")
	warmup := fs.Duration("warmup", 2*time.Second, "untimed run before each point")
	names := fs.String("scenarios", "all", "all, or a comma-separated list of: "+scenarioNames())
	pg := os.Getenv("LATCHKEY_TEST_POSTGRES")
	defBackend := "sqlite"
	if pg != "" {
		defBackend = "both"
	}
	backend := fs.String("backend", defBackend, "sqlite, postgres (the server of LATCHKEY_TEST_POSTGRES) or both")
	out := fs.String("out", "", "directory for results.md, results.csv, node logs and profiles (default: a new temporary directory)")
	smoke := fs.Bool("smoke", false, "a few-second check: 1 s per scenario at 8 connections; fails on any non-2xx answer or a scenario without success")
	seed := fs.Int("seed-tokens", 0, "write about this many stored tokens (half access, half refresh, one family per pair) into the database before the node starts")
	profile := fs.String("cpuprofile-scenario", "", "fetch a CPU profile of the node (through --pprof-listen) while this scenario's timed run goes")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := &options{duration: *duration, warmup: *warmup, out: *out, smoke: *smoke, profile: *profile, pgDSN: pg,
		seedTokens: *seed, nodeErrors: map[string]int{}}
	var err error
	if o.connections, err = parseConnections(*conns); err != nil {
		return nil, err
	}
	if o.scenarios, err = pickScenarios(*names); err != nil {
		return nil, err
	}
	if o.profile != "" && !slices.ContainsFunc(o.scenarios, func(s scenario) bool { return s.name == o.profile }) {
		return nil, fmt.Errorf("-cpuprofile-scenario %q is not among the scenarios run", o.profile)
	}
	switch *backend {
	case "sqlite":
		o.backends = []string{"sqlite"}
	case "postgres", "both":
		if pg == "" {
			return nil, errors.New("-backend " + *backend + " needs LATCHKEY_TEST_POSTGRES (a postgres:// DSN of a server where databases may be created)")
		}
		o.backends = []string{"postgres"}
		if *backend == "both" {
			o.backends = []string{"sqlite", "postgres"}
		}
	default:
		return nil, fmt.Errorf("-backend %q: sqlite, postgres or both", *backend)
	}
	if o.smoke {
		o.connections, o.duration, o.warmup = []int{8}, time.Second, 250*time.Millisecond
	}
	if o.duration <= 0 || o.warmup < 0 {
		return nil, errors.New("-duration must be positive and -warmup not negative")
	}
	return o, nil
}

func parseConnections(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4096 {
			return nil, fmt.Errorf("-connections: %q is not a count between 1 and 4096", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func scenarioNames() string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return strings.Join(names, ",")
}

// pickScenarios resolves -scenarios, keeping the bench's order.
func pickScenarios(list string) ([]scenario, error) {
	if list == "all" {
		return scenarios, nil
	}
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if !strings.Contains(","+scenarioNames()+",", ","+name+",") {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (known: %s)", name, scenarioNames())
		}
		want[name] = true
	}
	var out []scenario
	for _, s := range scenarios {
		if want[s.name] {
			out = append(out, s)
		}
	}
	return out, nil
}

// run is the whole benchmark.
func run(ctx context.Context, o *options, stdout io.Writer) error {
	if err := o.checkGit(); err != nil {
		return err
	}
	if o.out == "" {
		dir, err := os.MkdirTemp("", "latchkey-bench-")
		if err != nil {
			return err
		}
		o.out = dir
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	work, err := os.MkdirTemp("", "latchkey-bench-work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	log.Print("building ./cmd/latchkey")
	bin, err := buildLatchkey(ctx, work)
	if err != nil {
		return err
	}
	ceiling, err := startCeiling()
	if err != nil {
		return err
	}
	defer ceiling.stop()
	started := time.Now()
	var rows []row
	for _, backend := range o.backends {
		r, err := o.runBackend(ctx, bin, filepath.Join(work, backend), backend, ceiling.base)
		rows = append(rows, r...)
		if err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
	}
	return o.report(stdout, thisMachine(started), rows)
}

// checkGit drops git_info_refs when git is missing, unless CI=true.
func (o *options) checkGit() error {
	if _, err := exec.LookPath("git"); err == nil {
		return nil
	}
	if os.Getenv("CI") == "true" {
		return errors.New("git is not installed; the git_info_refs scenario needs it (CI=true: not skipped)")
	}
	log.Print("git is not installed: skipping the git_info_refs scenario")
	o.scenarios = slices.DeleteFunc(o.scenarios, func(s scenario) bool { return s.name == "git_info_refs" })
	return nil
}

// runBackend starts a node on backend, sets it up and measures every
// point; the ceiling is measured at each connection count before the
// scenarios.
func (o *options) runBackend(ctx context.Context, bin, dataDir, backend, ceilingBase string) (rows []row, err error) {
	db, err := newDatabase(ctx, backend, dataDir, o.pgDSN)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, db.drop(context.WithoutCancel(ctx))) }()
	n := &node{bin: bin, db: db, dataDir: dataDir, logPath: filepath.Join(o.out, "node-"+backend+".log")}
	if o.profile != "" {
		if n.pprofAddr, err = freePort(); err != nil {
			return nil, err
		}
	}
	f, err := setup(ctx, n)
	if err != nil {
		return nil, err
	}
	if err := seedTokens(ctx, db, f, o.seedTokens); err != nil {
		return nil, err
	}
	defer func() { // also after a failed start: the process may be running
		if n.cmd == nil {
			return
		}
		err = errors.Join(err, n.stop())
		count, cerr := errorLines(n.logPath)
		o.nodeErrors[backend] = count
		err = errors.Join(err, cerr)
	}()
	if err := n.start(ctx, slices.Max(o.connections)); err != nil {
		return nil, err
	}
	if n.pprofAddr != "" {
		if err := checkNoPublicPprof(ctx, n.base); err != nil {
			return nil, err
		}
	}
	if err := f.connect(ctx, n.base); err != nil {
		return nil, err
	}
	return o.measureAll(ctx, n, f, ceilingBase)
}

// measureAll measures, at each connection count, the ceiling and then
// every scenario against the running node.
func (o *options) measureAll(ctx context.Context, n *node, f *fixture, ceilingBase string) (rows []row, err error) {
	backend := n.db.backend
	for _, conns := range o.connections {
		p := point{conns: conns, warmup: o.warmup, duration: o.duration}
		log.Printf("%s, %d connections: ceiling", backend, conns)
		ceil := runLoad(ctx, conns, p.warmup, p.duration, ceilingWorkers(ceilingBase))
		base := row{Backend: backend, Scenario: "ceiling", Connections: conns, CeilingRPS: ceil.RPS(), CeilingP99: ceil.Latency.Quantile(0.99)}
		rows = append(rows, measured(base, ceil))
		for _, s := range o.scenarios {
			log.Printf("%s, %d connections: %s", backend, conns, s.name)
			r, err := o.measure(ctx, n, f, s, p, base)
			if err != nil {
				return rows, fmt.Errorf("%s at %d connections: %w", s.name, conns, err)
			}
			rows = append(rows, r)
		}
	}
	return rows, ctx.Err()
}

// measure prepares and runs one scenario point, with a CPU profile when asked.
func (o *options) measure(ctx context.Context, n *node, f *fixture, s scenario, p point, base row) (row, error) {
	mk, err := s.prepare(ctx, f, p)
	if err != nil {
		return row{}, err
	}
	errorsBefore, _ := errorLines(n.logPath)
	var profiled chan error
	if s.name == o.profile {
		profiled = make(chan error, 1)
		path := filepath.Join(o.out, fmt.Sprintf("cpu-%s-%s-%d.pprof", n.db.backend, s.name, p.conns))
		go func() { profiled <- fetchProfile(ctx, n.pprofAddr, p.warmup, p.duration, path) }()
	}
	cpu := make(chan cpuUse, 1)
	go func() { cpu <- n.cpuDuring(ctx, time.Now().Add(p.warmup), p.duration) }()
	res := runLoad(ctx, p.conns, p.warmup, p.duration, mk)
	if profiled != nil {
		if err := <-profiled; err != nil {
			return row{}, err
		}
	}
	errorsAfter, err := errorLines(n.logPath)
	if err != nil {
		return row{}, fmt.Errorf("read the node's log: %w", err)
	}
	base.Scenario = s.name
	r := measured(base, res)
	r.NodeErrors = errorsAfter - errorsBefore
	r.NodeRSS = n.rss()
	use := <-cpu
	r.NodeCPU, r.ServerCPU = use.node, use.server
	if res.FirstErr != nil {
		log.Printf("  first transport error: %v", res.FirstErr)
	}
	return r, nil
}

// measured fills a row from a load result.
func measured(base row, res *loadResult) row {
	base.RPS, base.Successes, base.Non2xx, base.Errors = res.RPS(), res.Successes, res.Non2xx, res.Errors
	base.P50, base.P99 = res.Latency.Quantile(0.5), res.Latency.Quantile(0.99)
	if res.Exhausted > 0 {
		base.Note = fmt.Sprintf("%d connections ran out of work: measured over the %.1f s all were busy", res.Exhausted, res.Duration.Seconds())
	}
	return base
}

// checkNoPublicPprof makes sure the profiles are not served on the
// node's public listener when --pprof-listen is on.
func checkNoPublicPprof(ctx context.Context, base string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/pprof/", nil)
	status, err := send(http.DefaultClient, req, nil)
	if err != nil {
		return err
	}
	if status == http.StatusOK {
		return errors.New("the node serves /debug/pprof/ on its public listener")
	}
	return nil
}

// fetchProfile waits out the warm-up, then saves the node's CPU profile
// over the timed run into path.
func fetchProfile(ctx context.Context, addr string, warmup, duration time.Duration, path string) error {
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	secs := max(int(duration.Seconds()), 1)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	var body []byte
	status, err := send(&http.Client{Timeout: duration + time.Minute}, req, &body)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("CPU profile: status %d: %v", status, err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	log.Printf("  CPU profile: %s (go tool pprof -top %s)", path, path)
	return nil
}

// report prints the table, writes results.md and results.csv, and in a
// smoke run fails on any failed scenario.
func (o *options) report(stdout io.Writer, m machine, rows []row) error {
	settings := fmt.Sprintf("%s timed after %s warm-up per point", o.duration, o.warmup)
	if o.seedTokens > 0 {
		settings += fmt.Sprintf("; %d tokens seeded", o.seedTokens)
	}
	for _, b := range o.backends {
		settings += fmt.Sprintf("; %s node: %d ERROR lines in its log from start to stop", b, o.nodeErrors[b])
	}
	var md strings.Builder
	if err := writeMarkdown(&md, m, settings, rows); err != nil {
		return err
	}
	if _, err := io.WriteString(stdout, md.String()); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(o.out, "results.csv"))
	if err != nil {
		return err
	}
	if err := errors.Join(writeCSV(f, rows), f.Close()); err != nil {
		return fmt.Errorf("results.csv: %w", err)
	}
	log.Printf("results, node logs and profiles in %s", o.out)
	if o.smoke {
		if fails := smokeFailures(rows); len(fails) > 0 {
			return errors.New("smoke run failed:\n  " + strings.Join(fails, "\n  "))
		}
	}
	return nil
}
