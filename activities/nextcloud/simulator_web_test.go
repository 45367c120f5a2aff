package nextcloud_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud"
)

func TestSimulatorCheckWeb(t *testing.T) {
	ctx := t.Context()
	sim := nextcloud.NewSimulator(nil)
	require.NoError(t, sim.CreateDatabase(ctx, "amis"))
	require.NoError(t, sim.Install(ctx, nextcloud.InstallSpec{Slug: "amis", Domain: "amis.example.org",
		Version: "31.0.9", Bucket: "space-amis"}))

	t.Run("a space in service answers for its version", func(t *testing.T) {
		assert.NoError(t, sim.CheckWeb(ctx, "amis", "31.0.9"))
		assert.ErrorContains(t, sim.CheckWeb(ctx, "amis", "32.0.0"), "serves 31.0.9")
	})
	t.Run("a space in maintenance does not", func(t *testing.T) {
		require.NoError(t, sim.SetMaintenance(ctx, "amis", true))
		assert.ErrorContains(t, sim.CheckWeb(ctx, "amis", "31.0.9"), "in maintenance")
		require.NoError(t, sim.SetMaintenance(ctx, "amis", false))
	})
	t.Run("an injected failure stands for a web server serving it wrong", func(t *testing.T) {
		sim.InjectFailure("amis", nextcloud.OpCheckWeb, nextcloud.Failure{Err: errors.New("HTTP 500"), Times: 1})
		assert.ErrorContains(t, sim.CheckWeb(ctx, "amis", "31.0.9"), "HTTP 500")
		assert.NoError(t, sim.CheckWeb(ctx, "amis", "31.0.9"), "once only")
		assert.Equal(t, 5, sim.Calls("amis", nextcloud.OpCheckWeb))
	})
	t.Run("a space not installed is not either", func(t *testing.T) {
		assert.ErrorIs(t, sim.CheckWeb(ctx, "nobody", "31.0.9"), nextcloud.ErrNotInstalled)
	})
}
