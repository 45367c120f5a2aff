package mail

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLanes(t *testing.T) {
	t.Run("every kind has its lane in the table", func(t *testing.T) {
		for _, kind := range Kinds {
			_, ok := lanes[kind]
			assert.True(t, ok, "kind %s has no lane", kind)
		}
	})
	t.Run("a person waiting goes before the bulk", func(t *testing.T) {
		for _, kind := range []Kind{KindReceipt, KindAccepted, KindConfirmDeletion, KindModeratorReset} {
			assert.Equal(t, LaneUrgent, LaneOf(kind), kind)
		}
		for _, kind := range []Kind{KindFirstWarning, KindSecondWarning, KindModeratorDigest} {
			assert.Equal(t, LaneBulk, LaneOf(kind), kind)
		}
	})
	t.Run("a kind missing from the table makes nobody wait", func(t *testing.T) {
		assert.Equal(t, LaneUrgent, LaneOf(Kind("unknown")))
	})
}
