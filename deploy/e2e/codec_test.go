package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"jardinier/models"
	"jardinier/workflows"
)

// codecCall posts payloads to the API's codec endpoint op (decode or encode).
func (s *system) codecCall(t *testing.T, op, token, origin string, payloads []*commonpb.Payload) (int, http.Header, []*commonpb.Payload) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.api.URL+"/codec/"+op, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", s.cfg.TemporalNamespace)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "same-site")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out commonpb.Payloads
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, protojson.Unmarshal(raw, &out), string(raw))
	}
	return resp.StatusCode, resp.Header, out.Payloads
}

func TestEncryptedHistoryEndToEnd(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	s := startSystem(t, func(c *models.Config) {
		keys, err := models.ParsePayloadKeys("essai:" + key)
		require.NoError(t, err)
		c.PayloadKeys = keys
		c.TemporalUIURL = "http://127.0.0.1:8233"
	})
	ctx := context.Background()
	admin, _, err := models.CreateModerator(ctx, s.db, "dominique", models.RoleAdmin)
	require.NoError(t, err)

	id := s.submit("chiffre", "contact@chiffre.example")
	require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token,
		map[string]any{"reason": "éligible"}, nil))
	s.waitStatus("chiffre", models.StatusActive)
	history := historyText(t, s.temporal, workflows.SpaceWorkflowID("chiffre"))

	t.Run("the exported history holds no payload in clear", func(t *testing.T) {
		for _, clear := range []string{`"AdminUser"`, `"Slug":"chiffre"`, `"Reason":"éligible"`} {
			assert.False(t, strings.Contains(history, clear), "%s is in the history in clear", clear)
		}
		assert.True(t, strings.Contains(history, "binary/encrypted"))
	})

	// The input of the workflow's first event, as the Temporal UI would send it.
	desc, err := s.temporal.DescribeWorkflowExecution(ctx, workflows.SpaceWorkflowID("chiffre"), "")
	require.NoError(t, err)
	it := s.temporal.GetWorkflowHistory(ctx, workflows.SpaceWorkflowID("chiffre"), desc.WorkflowExecutionInfo.FirstRunId, false, 0)
	first, err := it.Next()
	require.NoError(t, err)
	input := first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	require.NotEmpty(t, input)

	t.Run("an admin's token decodes it through /codec", func(t *testing.T) {
		code, _, decoded := s.codecCall(t, "decode", admin, "", input)
		require.Equal(t, http.StatusOK, code)
		require.Len(t, decoded, len(input))
		assert.Equal(t, "json/plain", string(decoded[0].Metadata["encoding"]))
		assert.Contains(t, string(decoded[0].Data), `"Slug":"chiffre"`)
	})

	t.Run("without an admin's token, /codec answers 401 or 403 and decodes nothing", func(t *testing.T) {
		code, _, decoded := s.codecCall(t, "decode", "", "", input)
		assert.Equal(t, http.StatusUnauthorized, code)
		assert.Empty(t, decoded)
		code, _, _ = s.codecCall(t, "decode", s.token, "", input)
		assert.Equal(t, http.StatusForbidden, code, "a moderator's token is not enough")
	})

	t.Run("the Temporal UI's origin may read the answers; another origin may not", func(t *testing.T) {
		code, h, _ := s.codecCall(t, "decode", admin, "http://127.0.0.1:8233", input)
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "http://127.0.0.1:8233", h.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "true", h.Get("Access-Control-Allow-Credentials"))
		_, h, _ = s.codecCall(t, "decode", admin, "https://ailleurs.example", input)
		assert.Empty(t, h.Get("Access-Control-Allow-Origin"))
	})
}
