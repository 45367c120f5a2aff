package models_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

func TestCronDueAfter(t *testing.T) {
	every := 5 * time.Minute
	now := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	t.Run("each space keeps its place in the interval", func(t *testing.T) {
		due := models.CronDueAfter("amis-du-jardin", now, every)
		assert.True(t, due.After(now) && !due.After(now.Add(every)), due)
		assert.Equal(t, due.Add(every), models.CronDueAfter("amis-du-jardin", due, every))
		assert.Equal(t, due, models.CronDueAfter("amis-du-jardin", due.Add(-time.Nanosecond), every))
	})
	t.Run("spaces are spread over the interval", func(t *testing.T) {
		var perMinute [5]int
		for i := range 1000 {
			due := models.CronDueAfter(fmt.Sprintf("asso-%04d", i), now, every)
			perMinute[int(due.Sub(now)/time.Minute)%5]++
		}
		for minute, n := range perMinute {
			assert.InDelta(t, 200, n, 60, "minute %d", minute)
		}
	})
}

func TestCronConfigFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	c, err := models.ConfigFromEnv(env("CRON_EVERY", "1m", "CRON_CONCURRENCY", "64", "CRON_TIMEOUT", "50s",
		"NEXTCLOUD_SMTP_URL", "smtp://relay.internal:25", "NEXTCLOUD_MAIL_FROM", "espaces@jardinier.example"))
	require.NoError(t, err)
	assert.Equal(t, models.CronConfig{Every: time.Minute, Concurrency: 64, Timeout: 50 * time.Second}, c.Cron)
	assert.Equal(t, models.DefaultCronConfig(), models.DefaultConfig().Cron)
	for variable, value := range map[string]string{"CRON_EVERY": "0s", "CRON_CONCURRENCY": "0", "CRON_TIMEOUT": "soon",
		"NEXTCLOUD_SMTP_URL": "http://relay.internal", "NEXTCLOUD_MAIL_FROM": "personne"} {
		_, err := models.ConfigFromEnv(env(variable, value))
		assert.ErrorContains(t, err, variable, value)
	}
	t.Run("the relay's password never shows in an error", func(t *testing.T) {
		_, err := models.ConfigFromEnv(env("NEXTCLOUD_SMTP_URL", "smtp://u:hunter2@relay.internal:x"))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "hunter2")
	})
}
