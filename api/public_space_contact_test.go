package api

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/workflows"
)

// spaceWithContact records a space in service and its application, whose contact is
// slug@asso.example.
func (f *fixture) spaceWithContact(slug string, status models.Status) {
	f.t.Helper()
	app := modeltest.CreateApplication(f.t, f.db, slug, time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC))
	f.space(slug, status, func(sp *models.Space) { sp.ApplicationID = &app.ID })
}

// expectContactConfirm makes the next workflow update answer a click on a link of a
// change of address with result, or fail with err, and returns where its options go.
func (f *fixture) expectContactConfirm(result workflows.ConfirmContactResult, err error) *client.UpdateWorkflowOptions {
	f.t.Helper()
	got := &client.UpdateWorkflowOptions{}
	handle := &mocks.WorkflowUpdateHandle{}
	handle.On("Get", mock.Anything, mock.Anything).Return(err).Run(func(args mock.Arguments) {
		*args.Get(1).(*workflows.ConfirmContactResult) = result
	}).Once()
	f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil).Run(func(args mock.Arguments) {
		*got = args.Get(1).(client.UpdateWorkflowOptions)
	}).Once()
	return got
}

// openedNewEmail is the new address a contact request carries, opened.
func openedNewEmail(t *testing.T, sent client.UpdateWorkflowOptions) string {
	t.Helper()
	require.Len(t, sent.Args, 1)
	in := sent.Args[0].(workflows.ContactRequestInput)
	assert.Equal(t, workflows.RequestChangeContact, in.Action)
	sealer, err := models.NewSealer(modeltest.SecretKey)
	require.NoError(t, err)
	email, err := sealer.Open(in.NewEmail)
	require.NoError(t, err, "sealed with SECRET_KEY")
	return email
}

func TestContactChangeRequest(t *testing.T) {
	form := func(slug, email string) url.Values {
		return url.Values{"slug": {slug}, "request": {requestContactChange}, "new_email": {email}}
	}

	t.Run("the page offers the change with a field for the new address", func(t *testing.T) {
		f := newFixture(t)
		w := f.do(http.MethodGet, "/espace", "", nil)
		assertPage(t, w, http.StatusOK, `value="contact_change"`, `id="new_email"`, `type="email"`, `aria-describedby="new_email-hint"`)
		assert.NotContains(t, w.Body.String(), "écrivez aux modérateurs", "the page does it now")
	})

	t.Run("the same words for an existing and an unknown space; only the existing one is asked, with the address sealed", func(t *testing.T) {
		f := newFixture(t)
		f.spaceWithContact("jardin", models.StatusActive)
		f.space("sans-contact", models.StatusDeleted, nil)
		sent := f.recordUpdates(workflows.ContactRequestResult{Mailed: true})
		existing := f.postForm("/espace", form("jardin", " Nouveau.Bureau@Asso.Example "))
		assertPage(t, existing, http.StatusAccepted, "Si l'espace", "adresse de contact actuelle", "second courriel part vers la nouvelle adresse")
		for _, slug := range []string{"inconnu", "sans-contact"} {
			w := f.postForm("/espace", form(slug, " Nouveau.Bureau@Asso.Example "))
			assert.Equal(t, existing.Code, w.Code, slug)
			assert.Equal(t, len(existing.Body.String())-len("jardin"), len(w.Body.String())-len(slug), "same page but the name")
		}
		assert.Eventually(t, func() bool { return len(sent()) == 1 }, 5*time.Second, 10*time.Millisecond)
		f.server.background.Wait()
		got := sent()
		require.Len(t, got, 1)
		assert.Equal(t, workflows.SpaceWorkflowID("jardin"), got[0].WorkflowID)
		assert.Equal(t, workflows.UpdateContactRequest, got[0].UpdateName)
		assert.Equal(t, "nouveau.bureau@asso.example", openedNewEmail(t, got[0]), "normalised as at submission")
		assert.NotContains(t, string(got[0].Args[0].(workflows.ContactRequestInput).NewEmail), "asso.example", "never in clear")
	})

	t.Run("a space whose contact the address already is is not asked", func(t *testing.T) {
		f := newFixture(t)
		f.spaceWithContact("jardin", models.StatusDeactivated)
		sent := f.recordUpdates(workflows.ContactRequestResult{Mailed: true})
		assertPage(t, f.postForm("/espace", form("jardin", "jardin@asso.example")), http.StatusAccepted, "Si l'espace")
		f.server.background.Wait()
		assert.Empty(t, sent())
	})

	t.Run("a wrong name and a wrong address are shown at once, with what was typed, and nothing is asked", func(t *testing.T) {
		f := newFixture(t)
		for _, email := range []string{"", "pas-une-adresse"} {
			w := f.postForm("/espace", form("Pas Un Nom", email))
			assertPage(t, w, http.StatusBadRequest, `<a href="#slug">`, `<a href="#new_email">`, `id="new_email-error"`,
				`value="Pas Un Nom"`, `value="`+email+`"`, `aria-describedby="new_email-hint new_email-error"`)
		}
		f.server.background.Wait()
		assert.Zero(t, f.updates())
	})

	t.Run("the JSON API asks the same way, and names the bad field", func(t *testing.T) {
		f := newFixture(t)
		f.spaceWithContact("jardin", models.StatusActive)
		sent := f.recordUpdates(workflows.ContactRequestResult{Mailed: true})
		w := f.do(http.MethodPost, "/api/v1/spaces/jardin/request-contact-change", "", map[string]any{"new_email": "nouveau@asso.example"})
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
		unknown := f.do(http.MethodPost, "/api/v1/spaces/inconnu/request-contact-change", "", map[string]any{"new_email": "nouveau@asso.example"})
		assert.Equal(t, w.Body.String(), unknown.Body.String())
		assert.JSONEq(t, `{"message":"Si cet espace existe, un lien de confirmation a été envoyé à son adresse de contact."}`, w.Body.String())
		f.server.background.Wait()
		require.Len(t, sent(), 1)
		assert.Equal(t, "nouveau@asso.example", openedNewEmail(t, sent()[0]))

		bad := f.do(http.MethodPost, "/api/v1/spaces/jardin/request-contact-change", "", map[string]any{"new_email": "x@"})
		require.Equal(t, http.StatusBadRequest, bad.Code, bad.Body.String())
		assert.Equal(t, "new_email", errorOf(t, bad).Field)
		unknownField := f.do(http.MethodPost, "/api/v1/spaces/jardin/request-contact-change", "", map[string]any{"email": "x@asso.example"})
		require.Equal(t, http.StatusBadRequest, unknownField.Code)
		f.server.background.Wait()
		assert.Len(t, sent(), 1)
	})

	t.Run("without SECRET_KEY the service says it is unavailable and asks nothing", func(t *testing.T) {
		f := newFixture(t, func(c *models.Config) { c.SecretKey = nil })
		assertPage(t, f.postForm("/espace", form("jardin", "nouveau@asso.example")), http.StatusServiceUnavailable)
		w := f.do(http.MethodPost, "/api/v1/spaces/jardin/request-contact-change", "", map[string]any{"new_email": "nouveau@asso.example"})
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		f.server.background.Wait()
		assert.Zero(t, f.updates())
	})
}

func TestContactChangeLinks(t *testing.T) {
	future := time.Now().Add(2 * day)
	path := func(token string) string { return "/espace/contact?token=" + url.QueryEscape(token) }

	for _, tc := range []struct {
		purpose models.TokenPurpose
		step    string
		changed bool
		page    []string
		done    string
	}{
		{models.PurposeContactCurrent, workflows.ContactStepCurrent, false,
			[]string{"Changer l'adresse de contact de l'espace", "Confirmer le changement d'adresse</button>", "second lien"},
			"Votre confirmation est enregistrée"},
		{models.PurposeContactNew, workflows.ContactStepNew, true,
			[]string{"Confirmer votre adresse de contact", "Devenir le contact de l'espace</button>"},
			"est changée"},
	} {
		t.Run(string(tc.purpose)+": the page says what will happen and changes nothing until the button", func(t *testing.T) {
			f := newFixture(t)
			token := f.link("jardin", tc.purpose, 4, future)
			assertPage(t, f.do(http.MethodGet, path(token), "", nil), http.StatusOK, append(tc.page, `method="post"`)...)
			f.temporal.AssertNotCalled(t, "UpdateWorkflow", mock.Anything, mock.Anything)

			got := f.expectContactConfirm(workflows.ConfirmContactResult{Changed: tc.changed}, nil)
			assertPage(t, f.do(http.MethodPost, path(token), "", nil), http.StatusOK, tc.done)
			assert.Equal(t, workflows.SpaceWorkflowID("jardin"), got.WorkflowID)
			assert.Equal(t, workflows.UpdateConfirmContact, got.UpdateName)
			assert.Equal(t, []any{workflows.ConfirmContactInput{Step: tc.step, TokenSeq: 4}}, got.Args)
		})
	}

	t.Run("another link's token is invalid, an expired one is gone, a used one is a conflict, a deleted space gone", func(t *testing.T) {
		f := newFixture(t)
		assertPage(t, f.do(http.MethodPost, path(f.link("jardin", models.PurposeConfirmDeletion, 4, future)), "", nil), http.StatusBadRequest, "Lien invalide")
		assertPage(t, f.do(http.MethodGet, path("abc.def"), "", nil), http.StatusBadRequest, "Lien invalide")
		expired := f.link("jardin", models.PurposeContactNew, 4, time.Now().Add(-time.Second))
		assertPage(t, f.do(http.MethodPost, path(expired), "", nil), http.StatusGone, "Lien expiré")
		assert.Zero(t, f.updates())
		f.expectContactConfirm(workflows.ConfirmContactResult{}, temporal.NewApplicationError("remplacé", workflows.ErrTypeStaleLink))
		assertPage(t, f.do(http.MethodPost, path(f.link("jardin", models.PurposeContactCurrent, 3, future)), "", nil),
			http.StatusConflict, "Ce lien a déjà servi ou n'est plus valable")
		f.expectContactConfirm(workflows.ConfirmContactResult{}, serviceerror.NewNotFound("workflow gone"))
		assertPage(t, f.do(http.MethodPost, path(f.link("jardin", models.PurposeContactCurrent, 3, future)), "", nil), http.StatusGone)
	})

	t.Run("the JSON API confirms with the token, through the same code", func(t *testing.T) {
		f := newFixture(t)
		got := f.expectContactConfirm(workflows.ConfirmContactResult{Changed: true}, nil)
		w := f.do(http.MethodPost, "/api/v1/contact-change/confirm", "", map[string]any{"token": f.link("jardin", models.PurposeContactNew, 4, future)})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.JSONEq(t, `{"slug":"jardin","step":"new","changed":true}`, w.Body.String())
		assert.Equal(t, []any{workflows.ConfirmContactInput{Step: workflows.ContactStepNew, TokenSeq: 4}}, got.Args)

		for token, want := range map[string]int{
			f.link("jardin", models.PurposeReactivate, 4, future): http.StatusBadRequest,
			"": http.StatusBadRequest,
			f.link("jardin", models.PurposeContactCurrent, 4, time.Now().Add(-day)): http.StatusNotFound,
		} {
			w := f.do(http.MethodPost, "/api/v1/contact-change/confirm", "", map[string]any{"token": token})
			assert.Equal(t, want, w.Code, w.Body.String())
		}
		f.expectContactConfirm(workflows.ConfirmContactResult{}, temporal.NewApplicationError("remplacé", workflows.ErrTypeStaleLink))
		w = f.do(http.MethodPost, "/api/v1/contact-change/confirm", "", map[string]any{"token": f.link("jardin", models.PurposeContactCurrent, 2, future)})
		assert.Equal(t, http.StatusConflict, w.Code, w.Body.String())
	})
}
