package models_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"jardinier/models"
)

func TestPercentile(t *testing.T) {
	t.Run("one value is every percentile", func(t *testing.T) {
		one := []time.Duration{7 * time.Second}
		for _, p := range []int{0, 1, 50, 95, 100} {
			assert.Equal(t, 7*time.Second, models.Percentile(one, p), "p%d", p)
		}
	})

	t.Run("of two values the median is the lower and the 95th the higher", func(t *testing.T) {
		two := []time.Duration{7200 * time.Millisecond, 5900 * time.Millisecond}
		assert.Equal(t, 5900*time.Millisecond, models.Percentile(two, 50))
		assert.Equal(t, 7200*time.Millisecond, models.Percentile(two, 95), "not the minimum")
		assert.Equal(t, 7200*time.Millisecond, models.Percentile(two, 51))
	})

	t.Run("of 20 values the 95th is the 19th, the median the 10th", func(t *testing.T) {
		var twenty []int
		for i := 20; i >= 1; i-- {
			twenty = append(twenty, i)
		}
		assert.Equal(t, 10, models.Percentile(twenty, 50))
		assert.Equal(t, 19, models.Percentile(twenty, 95))
		assert.Equal(t, 20, models.Percentile(twenty, 96))
		assert.Equal(t, 20, models.Percentile(twenty, 100))
		assert.Equal(t, 1, models.Percentile(twenty, 0))
		assert.Equal(t, 20, twenty[0], "the values are left in their order")
	})

	t.Run("of 10,000 values each percentile is its exact rank", func(t *testing.T) {
		values := make([]int, 10_000)
		for i := range values {
			values[i] = (i*7919)%10_000 + 1 // 1 to 10,000, shuffled
		}
		assert.Equal(t, 100, models.Percentile(values, 1))
		assert.Equal(t, 5000, models.Percentile(values, 50))
		assert.Equal(t, 9500, models.Percentile(values, 95))
		assert.Equal(t, 9900, models.Percentile(values, 99))
		assert.Equal(t, 10_000, models.Percentile(values, 100))
	})

	t.Run("no values give zero, and a percentile out of range is clamped", func(t *testing.T) {
		assert.Zero(t, models.Percentile([]time.Duration(nil), 95))
		assert.Equal(t, 3, models.Percentile([]int{3, 1, 2}, 250))
		assert.Equal(t, 1, models.Percentile([]int{3, 1, 2}, -5))
	})
}
