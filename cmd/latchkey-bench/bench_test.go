package main

import (
	"context"
	"encoding/csv"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHistogramBucketsAreContiguousAndTight: every bucket starts where
// the one before ends, and a latency falls into the bucket whose range
// holds it, with a width under 1/64 of the value (exact below 64 ns).
func TestHistogramBucketsAreContiguousAndTight(t *testing.T) {
	var next int64
	for i := range histBuckets {
		lower, width := bucketBounds(i)
		if lower != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lower, next)
		}
		if lower >= 64 && width*64 > lower {
			t.Fatalf("bucket %d [%d, +%d) is wider than 1/64 of its start", i, lower, width)
		}
		next = lower + width
		if next < 0 { // past the largest int64: the last bucket
			break
		}
	}
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 999_999, 123_456_789, 1 << 40, 1<<62 + 12345, 1<<63 - 1} {
		lower, width := bucketBounds(bucketOf(v))
		if v < lower || v-lower >= width {
			t.Errorf("%d is in bucket [%d, +%d)", v, lower, width)
		}
	}
}

// TestQuantilesMatchASortedSlice: on random latencies spread over five
// decades, p50, p90, p99 and p100 agree with the exact order statistic
// of a sorted copy to within the histogram's 1/64 precision.
func TestQuantilesMatchASortedSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var all []time.Duration
	for range 20_000 {
		d := time.Duration(float64(10*time.Microsecond) * float64(int64(1)<<rng.IntN(17)) * (1 + rng.Float64()))
		h.Record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 1} {
		exact := all[int(q*float64(len(all)))-1]
		got := h.Quantile(q)
		if diff := got - exact; diff < -exact/64 || diff > exact/64 {
			t.Errorf("p%g = %v, the sorted slice says %v", q*100, got, exact)
		}
	}
	if h.Count() != uint64(len(all)) {
		t.Errorf("count %d, want %d", h.Count(), len(all))
	}
}

// TestQuantileEdges: an empty histogram answers 0; one value is every
// quantile; merging adds counts.
func TestQuantileEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 {
		t.Errorf("empty histogram p99 = %v", h.Quantile(0.99))
	}
	h.Record(5 * time.Millisecond)
	for _, q := range []float64{-1, 0, 0.5, 1, 2} {
		if got := h.Quantile(q); got < 4900*time.Microsecond || got > 5100*time.Microsecond {
			t.Errorf("q %g of one 5 ms value = %v", q, got)
		}
	}
	var o Histogram
	for range 99 {
		o.Record(time.Millisecond)
	}
	h.Merge(&o)
	if h.Count() != 100 {
		t.Fatalf("merged count %d", h.Count())
	}
	if p50, p100 := h.Quantile(0.5), h.Quantile(1); p50 > 1100*time.Microsecond || p100 < 4900*time.Microsecond {
		t.Errorf("merged p50 %v, p100 %v", p50, p100)
	}
}

var testRows = []row{
	{Backend: "sqlite", Scenario: "ceiling", Connections: 32, RPS: 20000, CeilingRPS: 20000,
		P50: 1500 * time.Microsecond, P99: 4 * time.Millisecond, CeilingP99: 4 * time.Millisecond, Successes: 200000},
	{Backend: "sqlite", Scenario: "refresh", Connections: 32, RPS: 1000.4, CeilingRPS: 20000,
		P50: 30 * time.Millisecond, P99: 120 * time.Millisecond, CeilingP99: 4 * time.Millisecond,
		Successes: 10004, Non2xx: 3, NodeErrors: 2, NodeRSS: 48<<20 + 1000, NodeCPU: 2500 * time.Millisecond, Note: "1 connections ran out | early"},
	{Backend: "postgres", Scenario: "refresh", Connections: 32, RPS: 800, CeilingRPS: 20000,
		P50: 40 * time.Millisecond, P99: 80 * time.Millisecond, CeilingP99: 4 * time.Millisecond,
		Successes: 8000, NodeCPU: 3200 * time.Millisecond, ServerCPU: 2400 * time.Millisecond},
}

// TestMarkdownTable: the machine line, the heading, and one row per point
// with the ratios to the ceiling computed and a | in a note escaped.
func TestMarkdownTable(t *testing.T) {
	var b strings.Builder
	m := machine{CPUs: 2, CPUModel: "AMD EPYC", GoVersion: "go1.26.8", Date: time.Date(2026, 12, 7, 7, 5, 0, 0, time.UTC)}
	if err := writeMarkdown(&b, m, "10s timed after 2s warm-up per point", testRows); err != nil {
		t.Fatal(err)
	}
	want := "Machine: 2 CPUs (AMD EPYC), go1.26.8, 2026-12-07 07:05 UTC; 10s timed after 2s warm-up per point.\n\n" +
		"| backend | scenario | connections | requests/s | × ceiling | p50 ms | p99 ms | p99 × ceiling | non-2xx | errors | node ERROR lines | node RSS MB | node CPU µs/req | server CPU µs/req | note |\n" +
		"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n" +
		"| sqlite | ceiling | 32 | 20000 | 1.000 | 1.50 | 4.00 | 1.0 | 0 | 0 | 0 |  |  |  |  |\n" +
		"| sqlite | refresh | 32 | 1000 | 0.050 | 30.00 | 120.00 | 30.0 | 3 | 0 | 2 | 48 | 249 |  | 1 connections ran out \\| early |\n" +
		"| postgres | refresh | 32 | 800 | 0.040 | 40.00 | 80.00 | 20.0 | 0 | 0 | 0 |  | 400 | 300 |  |\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestCSVHasTheTableColumns: the CSV has the table's heading and the same
// cells, quoted where needed.
func TestCSVHasTheTableColumns(t *testing.T) {
	var b strings.Builder
	if err := writeCSV(&b, testRows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, b.String())
	}
	if len(recs) != 4 || !slices.Equal(recs[0], columns) {
		t.Fatalf("CSV records %q", recs)
	}
	if !slices.Equal(recs[2], testRows[1].cells()) || recs[2][4] != "0.050" || recs[2][7] != "30.0" {
		t.Errorf("CSV row %q", recs[2])
	}
}

// TestSmokeFailures: a point without success, with a non-2xx answer or a
// transport error fails the smoke run; a clean point does not.
func TestSmokeFailures(t *testing.T) {
	rows := []row{
		{Backend: "sqlite", Scenario: "ceiling", Connections: 8, Successes: 10},
		{Backend: "sqlite", Scenario: "refresh", Connections: 8, Successes: 10, Non2xx: 1},
		{Backend: "postgres", Scenario: "bearer_api", Connections: 8},
		{Backend: "postgres", Scenario: "introspection", Connections: 8, Successes: 5, Errors: 2},
	}
	got := smokeFailures(rows)
	want := []string{
		"sqlite refresh at 8 connections: 1 non-2xx answers, 0 transport errors",
		"postgres bearer_api at 8 connections: no successful request",
		"postgres introspection at 8 connections: 0 non-2xx answers, 2 transport errors",
	}
	if !slices.Equal(got, want) {
		t.Errorf("failures %q, want %q", got, want)
	}
}

// TestStatCPU reads utime and stime of a /proc/PID/stat line whose
// command name holds a space and a parenthesis.
func TestStatCPU(t *testing.T) {
	stat := "4242 (late key) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 31 0 0 20 0 9 0 100 1000000 5000\n"
	if got := statCPU(stat); got != 2810*time.Millisecond {
		t.Errorf("statCPU = %v, want 2.81s", got)
	}
	for _, bad := range []string{"", "4242 (latchkey S 1", "4242 (latchkey) S 1 2 3", "1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 31"} {
		if got := statCPU(bad); got != 0 {
			t.Errorf("statCPU(%q) = %v, want 0", bad, got)
		}
	}
}

// TestVmRSS reads the resident memory of a /proc/PID/status text.
func TestVmRSS(t *testing.T) {
	if got := vmRSS("Name:\tlatchkey\nVmPeak:\t  900000 kB\nVmRSS:\t   51200 kB\nRssAnon:\t 1 kB\n"); got != 50<<20 {
		t.Errorf("vmRSS = %d, want %d", got, 50<<20)
	}
	if got := vmRSS("Name:\tlatchkey\n"); got != 0 {
		t.Errorf("vmRSS without the line = %d", got)
	}
}

// TestCPUModel reads the model name of /proc/cpuinfo's first processor.
func TestCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: other\n"
	if got := cpuModel(info); got != "AMD EPYC 7B13" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel("processor : 0\n"); got != "unknown" {
		t.Errorf("cpuModel without a model name = %q", got)
	}
}

// The first connection to run out of work closes the measured window for
// all: the rate is that of every connection busy. Connection 0 has 20
// requests to send, each taking 5 ms; the others never run out.
func TestWindowClosesWhenAConnectionRunsOut(t *testing.T) {
	var left atomic.Int64
	left.Store(20)
	mk := func(c int) worker {
		return func(ctx context.Context, _ *http.Client) (int, error) {
			if c == 0 && left.Add(-1) < 0 {
				return 0, errExhausted
			}
			time.Sleep(5 * time.Millisecond)
			return http.StatusOK, nil
		}
	}
	res := runLoad(t.Context(), 4, 0, 5*time.Second, mk)
	if res.Exhausted != 1 {
		t.Errorf("%d connections ran out, want 1", res.Exhausted)
	}
	// 20 requests of 5 ms: the window closed after about 100 ms, long
	// before its planned 5 s, and the rate is that of 4 busy connections
	// (at most 800/s), not of 3 over 5 s.
	if res.Duration <= 0 || res.Duration > 2*time.Second {
		t.Errorf("measured window %v, want it closed when connection 0 ran out", res.Duration)
	}
	if rps := res.RPS(); rps < 300 || rps > 900 {
		t.Errorf("%.0f requests/s over %v (%d successes), want about 800", rps, res.Duration, res.Successes)
	}
}
