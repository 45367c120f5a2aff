package nextcloud_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud"
)

func TestSimulatorScanFiles(t *testing.T) {
	ctx := context.Background()
	sim := nextcloud.NewSimulator(slog.New(slog.DiscardHandler))

	t.Run("a space not installed has no file cache to check", func(t *testing.T) {
		_, err := sim.ScanFiles(ctx, "nulle-part")
		assert.True(t, errors.Is(err, nextcloud.ErrNotInstalled), "error = %v", err)
	})

	t.Run("an installed space's scan answers, as often as asked", func(t *testing.T) {
		require.NoError(t, sim.CreateDatabase(ctx, "scan"))
		require.NoError(t, sim.Install(ctx, nextcloud.InstallSpec{Slug: "scan", Domain: "scan.example.org", Version: "31.0.9",
			Bucket: "space-scan", AdminUser: "admin"}))
		for range 2 {
			out, err := sim.ScanFiles(ctx, "scan")
			require.NoError(t, err)
			assert.NotEmpty(t, out)
		}
	})

}
