package nextcloud_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSimulatorSharedDirectory runs two Simulators on one Persist directory, as the
// workers of a cluster and the cron service do: each sees at once what the other
// changed, and changes made at the same time by both are all kept.
func TestSimulatorSharedDirectory(t *testing.T) {
	dir := t.TempDir()
	f := setup(t)
	require.NoError(t, f.sim.Persist(dir))
	other := setup(t)
	require.NoError(t, other.sim.Persist(dir))
	f.install(t, testSlug)

	t.Run("a change by one is what the other reads next, though it had read the space before", func(t *testing.T) {
		_, ok := other.sim.Instance(testSlug)
		require.True(t, ok, "the space installed by the first one")
		require.NoError(t, f.sim.SetDeactivated(f.ctx, testSlug, true))
		in, _ := other.sim.Instance(testSlug)
		assert.True(t, in.Deactivated)
		require.NoError(t, other.sim.SetDeactivated(other.ctx, testSlug, false))
		in, _ = f.sim.Instance(testSlug)
		assert.False(t, in.Deactivated)
	})

	t.Run("changes made at the same time by both are all kept", func(t *testing.T) {
		const each = 20
		var wg sync.WaitGroup
		for i, sim := range []*fixture{f, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range each {
					user := []string{"alix", "camille"}[i] + string(rune('a'+n))
					assert.NoError(t, sim.sim.CreateAdmin(sim.ctx, testSlug, user, "mot-de-passe-assez-long"))
				}
			}()
		}
		wg.Wait()
		in, _ := f.sim.Instance(testSlug)
		assert.Len(t, in.Users, 2*each, "no account lost to the other process's write")
	})

	t.Run("a removal by one is seen by the other", func(t *testing.T) {
		require.NoError(t, other.sim.Remove(other.ctx, testSlug))
		_, ok := f.sim.Instance(testSlug)
		assert.False(t, ok)
	})
}
