package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// row is one measured point: a scenario (or the ceiling) at a connection
// count on a backend, with the ceiling's figures at the same count.
type row struct {
	Backend     string
	Scenario    string
	Connections int
	RPS         float64
	P50, P99    time.Duration
	CeilingRPS  float64
	CeilingP99  time.Duration
	Successes   int64
	Non2xx      int64
	Errors      int64 // transport errors
	NodeErrors  int   // ERROR lines the node logged during the point
	NodeRSS     int64 // the node's resident memory after the point, bytes (0: unknown)
	// NodeCPU is the CPU time (user and system) the node process used
	// during the measured window (0: unknown). Divided by the successes it
	// is the node's cost of one request, which moves less with other
	// load on a shared machine than requests/s do.
	NodeCPU time.Duration
	// ServerCPU is the CPU time the PostgreSQL server's processes used
	// during the measured window, when the server runs on this machine
	// (0: unknown, or SQLite, which runs inside the node).
	ServerCPU time.Duration
	Note      string
}

// ratio is a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// columns are the table's and the CSV's headings, in order.
var columns = []string{"backend", "scenario", "connections", "requests/s", "× ceiling", "p50 ms", "p99 ms",
	"p99 × ceiling", "non-2xx", "errors", "node ERROR lines", "node RSS MB", "node CPU µs/req", "server CPU µs/req", "note"}

// cells formats r in the order of columns.
func (r row) cells() []string {
	return []string{
		r.Backend, r.Scenario, strconv.Itoa(r.Connections),
		strconv.FormatFloat(r.RPS, 'f', 0, 64),
		fmt.Sprintf("%.3f", ratio(r.RPS, r.CeilingRPS)),
		ms(r.P50), ms(r.P99),
		fmt.Sprintf("%.1f", ratio(float64(r.P99), float64(r.CeilingP99))),
		strconv.FormatInt(r.Non2xx, 10), strconv.FormatInt(r.Errors, 10), strconv.Itoa(r.NodeErrors),
		mb(r.NodeRSS), perRequest(r.NodeCPU, r.Successes), perRequest(r.ServerCPU, r.Successes), r.Note,
	}
}

// perRequest formats cpu divided by n in microseconds, or "" when either
// is unknown.
func perRequest(cpu time.Duration, n int64) string {
	if cpu <= 0 || n <= 0 {
		return ""
	}
	return strconv.FormatInt(int64(cpu/time.Microsecond)/n, 10)
}

// ms formats a duration in milliseconds with two decimals.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

// mb formats a byte count in MiB, or "" when unknown.
func mb(b int64) string {
	if b <= 0 {
		return ""
	}
	return strconv.FormatInt(b>>20, 10)
}

// machine describes where the figures come from.
type machine struct {
	CPUs      int
	CPUModel  string
	GoVersion string
	Date      time.Time
}

// thisMachine reads the CPU count and model (/proc/cpuinfo) and the Go version.
func thisMachine(now time.Time) machine {
	m := machine{CPUs: runtime.NumCPU(), CPUModel: "unknown", GoVersion: runtime.Version(), Date: now.UTC()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(string(raw))
	}
	return m
}

// cpuModel is the first "model name" of a /proc/cpuinfo text, or "unknown".
func cpuModel(cpuinfo string) string {
	for line := range strings.SplitSeq(cpuinfo, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

// writeMarkdown writes the machine line and the table.
func writeMarkdown(w io.Writer, m machine, settings string, rows []row) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s, %s; %s.\n\n", m.CPUs, m.CPUModel, m.GoVersion, m.Date.Format("2006-01-02 15:04 MST"), settings)
	b.WriteString("| " + strings.Join(columns, " | ") + " |\n")
	b.WriteString("|---|---|")
	b.WriteString(strings.Repeat("---:|", len(columns)-3))
	b.WriteString("---|\n")
	for _, r := range rows {
		cells := r.cells()
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeCSV writes the same columns as the table, with a heading row.
func writeCSV(w io.Writer, rows []row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(columns); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write(r.cells()); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// smokeFailures lists what makes a smoke run fail: a scenario with no
// success, any non-2xx answer or transport error.
func smokeFailures(rows []row) []string {
	var out []string
	for _, r := range rows {
		where := fmt.Sprintf("%s %s at %d connections", r.Backend, r.Scenario, r.Connections)
		if r.Successes == 0 {
			out = append(out, where+": no successful request")
		}
		if r.Non2xx > 0 || r.Errors > 0 {
			out = append(out, fmt.Sprintf("%s: %d non-2xx answers, %d transport errors", where, r.Non2xx, r.Errors))
		}
	}
	return out
}
