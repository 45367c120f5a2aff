package models

import (
	"cmp"
	"slices"
)

// Percentile returns the p-th percentile of values by nearest rank: the smallest value
// that at least p percent of the values do not exceed. It is always one of the values,
// so that a figure shown to operators is a measure that happened: with two downtimes
// of 5.9 s and 7.2 s, the 95th percentile is 7.2 s. p is clamped to [0, 100]; no
// values give the zero value. values is not changed.
func Percentile[T cmp.Ordered](values []T, p int) T {
	var zero T
	if len(values) == 0 {
		return zero
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	p = min(max(p, 0), 100)
	rank := (len(sorted)*p + 99) / 100 // ceil(n·p/100), 1-based
	return sorted[max(rank, 1)-1]
}
