package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/api/browsertest"
	"jardinier/deploy/devstack/devstacktest"
	"jardinier/models"
	"jardinier/workflows"
)

// useCodec sets, on the Temporal UI's origin open in tab, the codec settings an admin
// sets in the UI's "Codec Server" dialog: the console's /codec, the UI's own
// configuration overridden, and "include cross-origin credentials" ticked, so that
// the console's session cookie goes with each request. The UI keeps them in its
// localStorage, each value in JSON, under these keys.
func useCodec(t *testing.T, tab *browsertest.Tab, endpoint string) {
	t.Helper()
	quoted, err := json.Marshal(endpoint)
	require.NoError(t, err)
	tab.Run(t, chromedp.Evaluate(`localStorage.setItem("endpoint", JSON.stringify(`+string(quoted)+`));
		localStorage.setItem("overrideRemoteCodecConfiguration", "true");
		localStorage.setItem("includeCredentials", "true");
		localStorage.setItem("passAccessToken", "false");`, nil))
}

// TestTemporalUIEndToEnd is an admin's look at a space's workflow in the Temporal UI,
// its payloads encrypted in the history: signed in to the console, the UI decodes
// them through the console's /codec, and the policy's wait reads as its step.
func TestTemporalUIEndToEnd(t *testing.T) {
	browser := browsertest.Start(t)
	tmp := devstacktest.StartTemporalUI(t)
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	s := startSystemOn(t, tmp, func(c *models.Config) {
		keys, err := models.ParsePayloadKeys("essai:" + key)
		require.NoError(t, err)
		c.PayloadKeys = keys
		c.TemporalUIURL = tmp.UIURL
	})
	c := startConsole(t, s)
	secret := c.admin(t, "Alix", "alix@jardinier.example")

	id := s.submit("jardin-visible", "contact@jardin-visible.example")
	require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token,
		map[string]any{"reason": "éligible"}, nil))
	s.waitStatus("jardin-visible", models.StatusActive)
	wid := workflows.SpaceWorkflowID("jardin-visible")
	// The run in service waits for the first warning; its input carries the slug.
	var runID string
	require.Eventually(t, func() bool {
		desc, err := s.temporal.DescribeWorkflowExecution(context.Background(), wid, "")
		if err != nil {
			return false
		}
		runID = desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		return runID != desc.GetWorkflowExecutionInfo().GetFirstRunId()
	}, 30*time.Second, 200*time.Millisecond, "the space's workflow continued as new once in service")
	history := historyText(t, s.temporal, wid)
	require.False(t, strings.Contains(history, `"Slug":"jardin-visible"`), "the slug is in the history in clear")

	admin := browser.NewTab(t)
	c.signIn(t, admin, "alix@jardinier.example", adminPassword, secret)
	admin.Open(t, tmp.UIURL+"/namespaces/"+url.PathEscape(s.cfg.TemporalNamespace)+"/workflows")
	useCodec(t, admin, c.url+"/codec")

	page := tmp.UIURL + "/namespaces/" + url.PathEscape(s.cfg.TemporalNamespace) + "/workflows/" +
		url.PathEscape(wid) + "/" + url.PathEscape(runID) + "/history"
	admin.Open(t, page)
	var text string
	shown := func(want string) func() bool {
		return func() bool {
			text = admin.TextNow(t, "body")
			return strings.Contains(text, want)
		}
	}
	t.Run("un administrateur connecté à la console lit l'entrée de l'espace en clair", func(t *testing.T) {
		if !assert.Eventually(t, shown(`"Slug": "jardin-visible"`), 60*time.Second, 500*time.Millisecond,
			"the run's input, decoded, shows its fields") {
			t.Logf("the page reads:\n%s", text)
		}
		// The encoding's name, as a payload not decoded shows it (base64 of binary/encrypted).
		assert.NotContains(t, text, "YmluYXJ5L2VuY3J5cHRlZA", "a payload is shown as stored")
	})
	t.Run("l'attente de la politique d'inactivité se lit comme son étape", func(t *testing.T) {
		if !assert.Eventually(t, shown("attente : 1er avertissement le "), 30*time.Second, 500*time.Millisecond,
			"the timer shows its summary") {
			t.Logf("the page reads:\n%s", text)
		}
	})
	admin.Screenshot(t, "temporal-ui-espace")
}
