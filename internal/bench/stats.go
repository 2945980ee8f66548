package bench

import (
	"slices"
	"time"
)

// Latency summarizes a set of latencies.
type Latency struct {
	N                       int
	Min, P50, P90, P99, Max time.Duration
	P999                    time.Duration
	Mean                    time.Duration
}

// Summarize computes nearest-rank percentiles of lat (which it sorts).
func Summarize(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return Latency{
		N: len(lat), Min: lat[0], Max: lat[len(lat)-1],
		P50: Percentile(lat, 50), P90: Percentile(lat, 90), P99: Percentile(lat, 99), P999: Percentile(lat, 99.9),
		Mean: sum / time.Duration(len(lat)),
	}
}

// Percentile is the nearest-rank p-th percentile of sorted.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// median of a few values (durations, rates), 0 for none.
func median[T ~int64 | ~float64](vs []T) T {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
