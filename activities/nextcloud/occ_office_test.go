package nextcloud

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

// officeTestSettings are servers as an operator configures them.
var officeTestSettings = OfficeSettings{CollaboraURL: "https://collabora.jardinier.example",
	OnlyOfficeURL: "https://onlyoffice.jardinier.example/", OnlyOfficeJWTSecret: "secret-jwt-de-l-operateur"}

// imported returns what the config:import commands run read on their input.
func (r *fakeRunner) imported(t *testing.T) []map[string]map[string]map[string]string {
	t.Helper()
	var out []map[string]map[string]map[string]string
	for _, c := range r.commands {
		if slices.Contains(c.Args, "config:import") {
			var v map[string]map[string]map[string]string
			require.NoError(t, json.Unmarshal(c.Stdin, &v), string(c.Stdin))
			out = append(out, v)
		}
	}
	return out
}

func TestOccConfigureOffice(t *testing.T) {
	t.Run("Collabora's server goes into richdocuments, then the app checks it", func(t *testing.T) {
		d, run := newTestOcc(t)
		require.NoError(t, d.ConfigureOffice(t.Context(), "amis-du-jardin", models.OfficeCollabora, officeTestSettings))
		assert.Equal(t, []string{"config:import", "richdocuments:activate-config"}, run.occArgs())
		assert.Equal(t, []map[string]map[string]map[string]string{
			{"apps": {"richdocuments": {"wopi_url": "https://collabora.jardinier.example"}}},
		}, run.imported(t))
	})
	t.Run("OnlyOffice's server and JWT secret go into onlyoffice, the secret on standard input only", func(t *testing.T) {
		d, run := newTestOcc(t)
		require.NoError(t, d.ConfigureOffice(t.Context(), "amis-du-jardin", models.OfficeOnlyOffice, officeTestSettings))
		assert.Equal(t, []string{"config:import"}, run.occArgs())
		assert.Equal(t, []map[string]map[string]map[string]string{
			{"apps": {"onlyoffice": {"DocumentServerUrl": "https://onlyoffice.jardinier.example/",
				"jwt_secret": "secret-jwt-de-l-operateur"}}},
		}, run.imported(t))
		for _, c := range run.commands {
			assert.NotContains(t, strings.Join(c.Args, " "), "secret-jwt", "the secret on a command line")
			for _, v := range c.Env {
				assert.NotContains(t, v, "secret-jwt", "the secret in the environment")
			}
		}
	})
	t.Run("no office suite writes nothing", func(t *testing.T) {
		d, run := newTestOcc(t)
		require.NoError(t, d.ConfigureOffice(t.Context(), "amis-du-jardin", models.OfficeNone, officeTestSettings))
		assert.Empty(t, run.occArgs())
	})
	t.Run("a Collabora server that does not answer its check leaves the settings written", func(t *testing.T) {
		d, run := newTestOcc(t)
		reply := run.reply
		run.reply = func(c Command) ([]byte, error) {
			if slices.Contains(c.Args, "richdocuments:activate-config") {
				return nil, &ExitError{Command: "occ", ExitCode: 1, Output: "Failed to fetch discovery endpoint"}
			}
			return reply(c)
		}
		require.NoError(t, d.ConfigureOffice(t.Context(), "amis-du-jardin", models.OfficeCollabora, officeTestSettings))
		assert.Len(t, run.imported(t), 1)
	})
	t.Run("a refusal of config:import is permanent", func(t *testing.T) {
		d, run := newTestOcc(t)
		reply := run.reply
		run.reply = func(c Command) ([]byte, error) {
			if slices.Contains(c.Args, "config:import") {
				return nil, &ExitError{Command: "occ", ExitCode: 1, Output: "Invalid JSON"}
			}
			return reply(c)
		}
		assert.ErrorIs(t, d.ConfigureOffice(t.Context(), "amis-du-jardin", models.OfficeOnlyOffice, officeTestSettings), ErrPermanent)
	})
	t.Run("an unknown suite or a server that is not a URL never reaches a command", func(t *testing.T) {
		d, run := newTestOcc(t)
		bad := officeTestSettings
		bad.OnlyOfficeURL = "onlyoffice.jardinier.example"
		assert.ErrorIs(t, d.ConfigureOffice(t.Context(), "amis-du-jardin", models.OfficeOnlyOffice, bad), ErrPermanent)
		assert.ErrorIs(t, d.ConfigureOffice(t.Context(), "amis-du-jardin", "libreoffice", officeTestSettings), ErrPermanent)
		assert.Empty(t, run.commands)
	})
}

func TestOfficeFingerprint(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	fp := func(suite models.OfficeSuite, s OfficeSettings) string { return OfficeFingerprint(suite, s, key) }
	t.Run("only the settings of the space's suite count", func(t *testing.T) {
		other := officeTestSettings
		other.OnlyOfficeURL = "https://autre.jardinier.example"
		assert.Equal(t, fp(models.OfficeCollabora, officeTestSettings), fp(models.OfficeCollabora, other))
		assert.NotEqual(t, fp(models.OfficeOnlyOffice, officeTestSettings), fp(models.OfficeOnlyOffice, other))
	})
	t.Run("a new secret is a new fingerprint, which does not hold the secret", func(t *testing.T) {
		other := officeTestSettings
		other.OnlyOfficeJWTSecret = "un-autre-secret"
		a, b := fp(models.OfficeOnlyOffice, officeTestSettings), fp(models.OfficeOnlyOffice, other)
		assert.NotEqual(t, a, b)
		assert.Len(t, a, 32)
		assert.NotEqual(t, a, OfficeFingerprint(models.OfficeOnlyOffice, officeTestSettings, []byte("une autre clé")))
	})
	t.Run("the suites differ, and no suite has none", func(t *testing.T) {
		assert.NotEqual(t, fp(models.OfficeCollabora, officeTestSettings), fp(models.OfficeOnlyOffice, officeTestSettings))
		assert.Empty(t, fp(models.OfficeNone, officeTestSettings))
	})
}
