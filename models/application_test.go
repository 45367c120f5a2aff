package models_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

// submittedAt is the submission time the validation tests use.
var submittedAt = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

// validApplication returns an application that passes every rule, for tests to break
// one field at a time.
func validApplication(t *testing.T) models.Application {
	t.Helper()
	budget := int64(12_000)
	return models.Application{
		Slug:             "amis-du-jardin",
		OrganizationName: "Les Amis du Jardin partagé",
		OrganizationType: models.OrgAssociation1901,
		Sectors:          pq.StringArray{"environment", "social"},
		FoundedYear:      2012,
		Employees:        1,
		Members:          40,
		Beneficiaries:    300,
		AnnualBudgetEUR:  &budget,
		Mission:          "Cultiver ensemble un jardin ouvert à tout le quartier.",
		Actions:          "Ateliers de jardinage, troc de graines, repas partagés.",
		Needs:            "Partager des fichiers et des agendas entre bénévoles.",
		AccountsNeeded:   5,
		OfficeSuite:      models.OfficeCollabora,
		ContactEmail:     "contact@amis-du-jardin.example",
		WorksInFrench:    true,
		StorageNeededGB:  10,
		TermsAcceptedAt:  submittedAt,
	}
}

// requireFieldError checks that err is an application error with this code and field.
func requireFieldError(t *testing.T, err error, code, field string) {
	t.Helper()
	require.Error(t, err)
	var e *models.Error
	require.True(t, errors.As(err, &e), "want a *models.Error, got %T: %v", err, err)
	assert.Equal(t, code, e.Code, "code of %v", err)
	assert.Equal(t, field, e.Field, "field of %v", err)
	assert.NotEmpty(t, e.Message, "the user needs a message")
}

func TestApplicationValidate(t *testing.T) {
	t.Run("a complete application is accepted", func(t *testing.T) {
		app := validApplication(t)
		assert.NoError(t, app.Validate(submittedAt))
	})

	t.Run("limits that are reached but not exceeded are accepted", func(t *testing.T) {
		app := validApplication(t)
		app.AnnualBudgetEUR = nil
		app.OrganizationName = strings.Repeat("é", models.MaxNameLength)
		app.Mission = strings.Repeat("é", models.MaxTextLength)
		app.Actions = strings.Repeat("à", models.MaxTextLength)
		app.Needs = strings.Repeat("ç", models.MaxTextLength)
		app.FoundedYear = submittedAt.Year()
		app.Employees, app.Members, app.Beneficiaries = 0, 0, 0
		app.Slug = strings.Repeat("a", models.MaxSlugLength)
		app.AccountsNeeded = models.MaxSpaceAccounts
		app.Sectors = pq.StringArray(models.Sectors)
		assert.NoError(t, app.Validate(submittedAt))

		app.Slug, app.FoundedYear, app.AccountsNeeded = "abc", models.MinFoundedYear, 1
		assert.NoError(t, app.Validate(submittedAt))
	})

	t.Run("every organisation type and office suite of the form is accepted", func(t *testing.T) {
		for _, typ := range models.OrganizationTypes {
			app := validApplication(t)
			app.OrganizationType = typ
			assert.NoError(t, app.Validate(submittedAt), typ)
		}
		for _, suite := range models.OfficeSuites {
			app := validApplication(t)
			app.OfficeSuite = suite
			assert.NoError(t, app.Validate(submittedAt), suite)
		}
	})

	negative := int64(-1)
	tooLong := strings.Repeat("é", models.MaxTextLength+1)
	for _, tc := range []struct {
		name    string
		field   string
		code    string
		breakIt func(*models.Application)
	}{
		{"a blank organisation name is refused", "organization_name", models.EINVALID,
			func(a *models.Application) { a.OrganizationName = "  \t " }},
		{"an organisation name over 200 characters is refused", "organization_name", models.EINVALID,
			func(a *models.Application) { a.OrganizationName = strings.Repeat("é", models.MaxNameLength+1) }},
		{"an unknown organisation type is refused", "organization_type", models.EINVALID,
			func(a *models.Application) { a.OrganizationType = "company" }},
		{"an application without a sector is refused", "sectors", models.EINVALID,
			func(a *models.Application) { a.Sectors = nil }},
		{"an unknown sector is refused", "sectors", models.EINVALID,
			func(a *models.Application) { a.Sectors = pq.StringArray{"environment", "finance"} }},
		{"a sector ticked twice is refused", "sectors", models.EINVALID,
			func(a *models.Application) { a.Sectors = pq.StringArray{"social", "culture", "social"} }},
		{"a founding year before 1800 is refused", "founded_year", models.EINVALID,
			func(a *models.Application) { a.FoundedYear = models.MinFoundedYear - 1 }},
		{"a founding year in the future is refused", "founded_year", models.EINVALID,
			func(a *models.Application) { a.FoundedYear = submittedAt.Year() + 1 }},
		{"a missing founding year is refused", "founded_year", models.EINVALID,
			func(a *models.Application) { a.FoundedYear = 0 }},
		{"a negative number of employees is refused", "employees", models.EINVALID,
			func(a *models.Application) { a.Employees = -1 }},
		{"a negative number of members is refused", "members", models.EINVALID,
			func(a *models.Application) { a.Members = -1 }},
		{"a negative number of beneficiaries is refused", "beneficiaries", models.EINVALID,
			func(a *models.Application) { a.Beneficiaries = -1 }},
		{"an absurdly large count is refused", "beneficiaries", models.EINVALID,
			func(a *models.Application) { a.Beneficiaries = models.MaxCountPerField + 1 }},
		{"a negative annual budget is refused", "annual_budget_eur", models.EINVALID,
			func(a *models.Application) { a.AnnualBudgetEUR = &negative }},
		{"a mission that is not UTF-8 (a browser in another encoding) is refused", "mission", models.EINVALID,
			func(a *models.Application) { a.Mission = "\xbbFaire vivre un jardin" }},
		{"an organisation name that is not UTF-8 is refused", "organization_name", models.EINVALID,
			func(a *models.Application) { a.OrganizationName = "Les Amis du Jardin Partag\xe9" }},
		{"a contact address that is not UTF-8 is refused", "contact_email", models.EINVALID,
			func(a *models.Application) { a.ContactEmail = "contact@amis\xff.example" }},
		{"a blank mission is refused", "mission", models.EINVALID,
			func(a *models.Application) { a.Mission = "\n\n" }},
		{"a mission over 5000 characters is refused", "mission", models.EINVALID,
			func(a *models.Application) { a.Mission = tooLong }},
		{"blank actions are refused", "actions", models.EINVALID,
			func(a *models.Application) { a.Actions = "" }},
		{"actions over 5000 characters are refused", "actions", models.EINVALID,
			func(a *models.Application) { a.Actions = tooLong }},
		{"blank needs are refused", "needs", models.EINVALID,
			func(a *models.Application) { a.Needs = " " }},
		{"needs over 5000 characters are refused", "needs", models.EINVALID,
			func(a *models.Application) { a.Needs = tooLong }},
		{"a missing slug is refused", "slug", models.EINVALID,
			func(a *models.Application) { a.Slug = "" }},
		{"a slug with capitals is refused", "slug", models.EINVALID,
			func(a *models.Application) { a.Slug = "Amis-du-jardin" }},
		{"a slug with a reserved name is refused as a conflict", "slug", models.ECONFLICT,
			func(a *models.Application) { a.Slug = "admin" }},
		{"asking for no account is refused", "accounts_needed", models.EINVALID,
			func(a *models.Application) { a.AccountsNeeded = 0 }},
		{"asking for more accounts than a space holds is refused", "accounts_needed", models.EINVALID,
			func(a *models.Application) { a.AccountsNeeded = models.MaxSpaceAccounts + 1 }},
		{"an unknown office suite is refused", "office_suite", models.EINVALID,
			func(a *models.Application) { a.OfficeSuite = "libreoffice" }},
		{"a missing contact address is refused", "contact_email", models.EINVALID,
			func(a *models.Application) { a.ContactEmail = "" }},
		{"a contact address without a domain is refused", "contact_email", models.EINVALID,
			func(a *models.Application) { a.ContactEmail = "contact@localhost" }},
		{"a contact address without an at sign is refused", "contact_email", models.EINVALID,
			func(a *models.Application) { a.ContactEmail = "contact.example.org" }},
		{"a contact address with a display name is refused", "contact_email", models.EINVALID,
			func(a *models.Application) { a.ContactEmail = "Jeanne <jeanne@amis.example>" }},
		{"several contact addresses are refused", "contact_email", models.EINVALID,
			func(a *models.Application) { a.ContactEmail = "a@amis.example, b@amis.example" }},
		{"a contact address over 254 characters is refused", "contact_email", models.EINVALID,
			func(a *models.Application) { a.ContactEmail = strings.Repeat("a", 250) + "@amis.example" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := validApplication(t)
			tc.breakIt(&app)
			requireFieldError(t, app.Validate(submittedAt), tc.code, tc.field)
		})
	}
}

func TestValidateSlug(t *testing.T) {
	for _, slug := range []string{"abc", "amis-du-jardin", "asso-1901", "404", "a1b",
		strings.Repeat("z", models.MaxSlugLength)} {
		t.Run("accepts "+slug, func(t *testing.T) {
			assert.NoError(t, models.ValidateSlug(slug))
		})
	}

	for _, tc := range []struct {
		name string
		slug string
	}{
		{"refuses capitals", "Jardin"},
		{"refuses spaces", "les amis"},
		{"refuses accents", "théâtre"},
		{"refuses underscores and dots", "les_amis.org"},
		{"refuses a leading hyphen", "-jardin"},
		{"refuses a trailing hyphen", "jardin-"},
		{"refuses a double hyphen", "les--amis"},
		{"refuses fewer than 3 characters", "ab"},
		{"refuses more than 40 characters", strings.Repeat("z", models.MaxSlugLength+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireFieldError(t, models.ValidateSlug(tc.slug), models.EINVALID, "slug")
		})
	}

	t.Run("refuses every reserved name as a conflict", func(t *testing.T) {
		for _, slug := range models.ReservedSlugs {
			requireFieldError(t, models.ValidateSlug(slug), models.ECONFLICT, "slug")
		}
	})
}

func TestNormalizeEmail(t *testing.T) {
	t.Run("one contact written differently is counted once", func(t *testing.T) {
		for _, in := range []string{"jeanne@amis.example", "Jeanne@Amis.EXAMPLE", "  jeanne@amis.example\n"} {
			assert.Equal(t, "jeanne@amis.example", models.NormalizeEmail(in), "%q", in)
		}
	})
	t.Run("different contacts stay different", func(t *testing.T) {
		assert.NotEqual(t, models.NormalizeEmail("jeanne@amis.example"), models.NormalizeEmail("jean@amis.example"))
	})
}

func TestApplicationValidateEveryError(t *testing.T) {
	t.Run("every field at fault is reported once, in the order of the form", func(t *testing.T) {
		app := validApplication(t)
		app.OrganizationName, app.Sectors, app.StorageNeededGB, app.WorksInFrench = "", nil, 80, false
		app.ContactEmail = "non"
		err := app.Validate(submittedAt)
		requireFieldError(t, err, models.EINVALID, "organization_name") // errors.As finds the first
		var fields []string
		for _, fe := range models.FieldErrorsOf(err) {
			fields = append(fields, fe.Field)
		}
		assert.Equal(t, []string{"organization_name", "sectors", "works_in_french", "storage_needed_gb", "contact_email"}, fields)
	})

	t.Run("an answer already refused keeps its first error", func(t *testing.T) {
		app := validApplication(t)
		app.FoundedYear = 0
		errs := models.FieldErrors{models.FieldError("founded_year", "doit être un nombre entier")}
		app.ValidateInto(&errs, submittedAt)
		require.Len(t, errs, 1)
		assert.Equal(t, "doit être un nombre entier", errs[0].Message)
	})
}

func TestSlugFromName(t *testing.T) {
	for name, want := range map[string]string{
		"Les Amis du Jardin Partagé":    "les-amis-du-jardin-partage",
		"  Cœur & Âme — 2024 !":         "coeur-ame-2024",
		"L'Échappée belle":              "l-echappee-belle",
		"!!!":                           "",
		strings.Repeat("abcdefghi ", 6): "abcdefghi-abcdefghi-abcdefghi-abcdefghi",
	} {
		got := models.SlugFromName(name)
		assert.Equal(t, want, got, name)
		if got != "" {
			assert.NoError(t, models.ValidateSlug(got), name)
		}
	}
}
