package main

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two of
// nanoseconds is split into 2^subBits buckets, so a recorded latency is
// off by less than 1/64 (1.6%) of its value.
const subBits = 6

// histBuckets covers every non-negative int64 nanosecond count.
const histBuckets = (63-subBits)<<subBits + 1<<subBits

// Histogram counts latencies in log-linear buckets (like HdrHistogram):
// exact below 64 ns, then 64 buckets per power of two. The zero value is
// empty and ready to use; it is not safe for concurrent use (each load
// generator connection keeps its own and they are merged).
type Histogram struct {
	counts [histBuckets]uint64
	total  uint64
}

// bucketOf returns the bucket of a latency of ns nanoseconds (negative
// counts as 0).
func bucketOf(ns int64) int {
	if ns < 1<<subBits {
		return int(max(ns, 0))
	}
	shift := bits.Len64(uint64(ns)) - subBits - 1
	return shift<<subBits + int(ns>>shift)
}

// bucketBounds returns the smallest latency of bucket i and the bucket's width.
func bucketBounds(i int) (lower, width int64) {
	if i < 1<<subBits {
		return int64(i), 1
	}
	shift := i>>subBits - 1
	m := int64(i - shift<<subBits)
	return m << shift, 1 << shift
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(int64(d))]++
	h.total++
}

// Count is the number of recorded latencies.
func (h *Histogram) Count() uint64 { return h.total }

// Merge adds every latency of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// Quantile returns the latency at quantile q (0 < q ≤ 1): the middle of
// the bucket that holds the ceil(q·n)-th smallest latency. An empty
// histogram gives 0; q is clamped to (0, 1].
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(min(max(q, 0), 1) * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lower, width := bucketBounds(i)
			return time.Duration(lower + width/2)
		}
	}
	return 0 // not reached: the counts add up to total
}
