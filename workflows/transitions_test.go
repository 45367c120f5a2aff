package workflows

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
)

// readmeTransitions reads the action table of the README's "Statuses" section: each
// action (a cell may name several, "exempt / unexempt") with its source statuses.
func readmeTransitions(t *testing.T) map[string][]models.Status {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## Statuses\n")
	require.True(t, ok, "README.md has a Statuses section")
	section, _, _ = strings.Cut(section, "\n## ")
	_, table, ok := strings.Cut(section, "| moderator action | allowed from |\n")
	require.True(t, ok, "the Statuses section has the action table")
	got := map[string][]models.Status{}
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "| "), "|")
		require.Len(t, cells, 2, line)
		if strings.HasPrefix(strings.TrimSpace(cells[0]), "---") {
			continue
		}
		var from []models.Status
		for _, st := range strings.Split(cells[1], ",") {
			from = append(from, models.Status(strings.TrimSpace(st)))
		}
		for _, action := range strings.Split(cells[0], "/") {
			got[strings.TrimSpace(action)] = from
		}
	}
	return got
}

func TestTransitions(t *testing.T) {
	t.Run("the README's action table says what the validators allow, row for row", func(t *testing.T) {
		readme := readmeTransitions(t)
		require.NotEmpty(t, readme)
		for update, tr := range transitions {
			from, ok := readme[update]
			if assert.True(t, ok, "the README has no row for %q", update) {
				assert.ElementsMatch(t, tr.from, from, "statuses of %q", update)
			}
		}
		for action := range readme {
			_, ok := transitions[action]
			assert.True(t, ok, "the README lists %q, which the table does not", action)
		}
	})

	t.Run("every source status is a status, and Allowed reads the table", func(t *testing.T) {
		for update, tr := range transitions {
			for _, st := range tr.from {
				assert.Contains(t, models.Statuses, st, update)
				assert.True(t, Allowed(update, st))
			}
			for _, st := range models.Statuses {
				assert.Equal(t, slices.Contains(tr.from, st), Allowed(update, st), "%s from %s", update, st)
			}
		}
		assert.False(t, Allowed("archive", models.StatusActive), "an unknown update is never allowed")
	})

	t.Run("validators refuse with a named type and the field at fault", func(t *testing.T) {
		h := newHarness(t)
		var hold, holdAgain, noName, longReason, busy decisionAnswer
		h.decide(time.Hour, UpdateHold, DecisionInput{Moderator: "camille"}, &hold)
		h.decide(2*time.Hour, UpdateHold, DecisionInput{Moderator: "camille"}, &holdAgain)
		h.decide(3*time.Hour, UpdateAccept, DecisionInput{}, &noName)
		h.decide(4*time.Hour, UpdateAccept, DecisionInput{Moderator: "camille", Reason: strings.Repeat("é", models.MaxReasonLength+1)}, &longReason)
		var noReason, early decisionAnswer
		h.decide(5*time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &decisionAnswer{})
		h.send(6*time.Hour, UpdateDelete, ActionInput{Actor: "camille"}, &noReason)
		h.send(7*time.Hour, UpdateReactivate, ActionInput{Actor: "camille", Reason: "r"}, &early)
		h.send(8*time.Hour, UpdateContactRequest, ContactRequestInput{Action: UpdateDelete}, &decisionAnswer{})
		h.send(8*time.Hour+time.Minute, UpdateContactRequest, ContactRequestInput{Action: UpdateDelete}, &busy)
		h.run(9 * time.Hour)

		require.NoError(t, hold.rejected)
		for _, c := range []struct {
			name    string
			err     error
			errType string
			field   string
		}{
			{"hold twice", holdAgain.rejected, ErrTypeNotAllowed, ""},
			{"no moderator", noName.rejected, ErrTypeInvalidInput, "moderator"},
			{"reason too long", longReason.rejected, ErrTypeInvalidInput, "reason"},
			{"no reason", noReason.rejected, ErrTypeInvalidInput, "reason"},
			{"reactivate an active space", early.rejected, ErrTypeNotAllowed, ""},
			{"a second link at once", busy.rejected, ErrTypeTooSoon, ""},
		} {
			t.Run(c.name, func(t *testing.T) { assertRefused(t, c.err, c.errType, c.field) })
		}
	})
}

// assertRefused checks a validator's refusal: its type, and the field at fault ("" for
// none).
func assertRefused(t *testing.T, err error, errType, field string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "a refusal, not %v", err)
	assert.Equal(t, errType, appErr.Type())
	var r Refusal
	require.NoError(t, appErr.Details(&r))
	assert.Equal(t, field, r.Field)
	assert.NotEmpty(t, appErr.Message())
}
