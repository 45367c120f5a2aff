package models

import (
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lib/pq"
	"golang.org/x/text/unicode/norm"
)

// OrganizationType is the legal form an applicant declares.
type OrganizationType string

// The organisation types of the application form.
const (
	OrgAssociation1901    OrganizationType = "association_1901"
	OrgAssociation1907    OrganizationType = "association_1907"
	OrgInformalCollective OrganizationType = "informal_collective"
	OrgUnion              OrganizationType = "union"
	OrgFoundation         OrganizationType = "foundation"
	OrgOther              OrganizationType = "other"
)

// OrganizationTypes lists every accepted organisation type.
var OrganizationTypes = []OrganizationType{OrgAssociation1901, OrgAssociation1907,
	OrgInformalCollective, OrgUnion, OrgFoundation, OrgOther}

// Sectors lists the activity sectors an applicant may tick (several allowed).
var Sectors = []string{"education", "environment", "culture", "social", "mutual_aid",
	"leisure", "fundamental_rights", "political", "economy", "sport", "health",
	"research", "justice", "spiritual", "tourism"}

// OfficeSuite is the online office suite a space offers.
type OfficeSuite string

// The office suites a space can use; Collabora is the default.
const (
	OfficeCollabora  OfficeSuite = "collabora"
	OfficeOnlyOffice OfficeSuite = "onlyoffice"
	OfficeNone       OfficeSuite = "none"
)

// OfficeSuites lists every accepted office suite.
var OfficeSuites = []OfficeSuite{OfficeCollabora, OfficeOnlyOffice, OfficeNone}

// Application is an organisation's request for a space: the answers of the form.
// Everything here but the statistics fields is purged when the application is rejected
// or the space deleted; ContactEmail is the only personal data.
type Application struct {
	ID               string           `gorm:"primaryKey;type:uuid"`
	Slug             string           `gorm:"index;not null"`
	OrganizationName string           `gorm:"not null"`
	OrganizationType OrganizationType `gorm:"not null"`
	Sectors          pq.StringArray   `gorm:"type:text[];not null"`
	FoundedYear      int              `gorm:"not null"`
	Employees        int              `gorm:"not null"`
	Members          int              `gorm:"not null"`
	Beneficiaries    int              `gorm:"not null"`
	AnnualBudgetEUR  *int64
	Mission          string      `gorm:"not null"`
	Actions          string      `gorm:"not null"`
	Needs            string      `gorm:"not null"`
	AccountsNeeded   int         `gorm:"not null"`
	OfficeSuite      OfficeSuite `gorm:"not null"`
	ContactEmail     string      `gorm:"index;not null"`
	// WorksInFrench and StorageNeededGB are the applicant's answers to the two
	// eligibility questions the moderators need: the service is for French-speaking
	// organisations, and a space holds at most MaxSpaceStorageGB.
	WorksInFrench   bool      `gorm:"not null;default:false"`
	StorageNeededGB int       `gorm:"not null;default:0"`
	TermsAcceptedAt time.Time `gorm:"not null"`
	CreatedAt       time.Time `gorm:"not null"`
	UpdatedAt       time.Time
}

// Form limits. Text fields are bounded so that a single application cannot fill the
// database; the numbers are generous for the organisations the service hosts.
const (
	MaxNameLength     = 200
	MaxTextLength     = 5000
	MaxEmailLength    = 254
	MinSlugLength     = 3
	MaxSlugLength     = 40
	MinFoundedYear    = 1800
	MaxOpenPerContact = 3 // mass creation is an abuse: at most 3 open applications or spaces per contact
	MaxSpaceAccounts  = 50
	MaxSpaceStorageGB = 50
	MaxVideoFileMB    = 500
	MaxCountPerField  = 10_000_000
)

var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

// ReservedSlugs are names that would clash with the service's own hosts.
var ReservedSlugs = []string{"www", "api", "admin", "mail", "smtp", "imap", "webmail",
	"static", "assets", "cdn", "status", "support", "help", "docs", "blog", "app",
	"apps", "cloud", "nextcloud", "collabora", "onlyoffice", "office", "temporal",
	"jardinier", "moderation", "root", "test", "demo", "dev", "staging", "ns1", "ns2"}

// ValidateSlug checks a wished slug: lowercase letters, digits and inner hyphens, from
// 3 to 40 characters, not a reserved name.
func ValidateSlug(slug string) error {
	switch {
	case slug == "":
		return FieldError("slug", "est obligatoire")
	case len(slug) < MinSlugLength || len(slug) > MaxSlugLength:
		return FieldError("slug", "doit compter de %d à %d caractères", MinSlugLength, MaxSlugLength)
	case !slugPattern.MatchString(slug) || strings.Contains(slug, "--"):
		return FieldError("slug", "ne peut contenir que des minuscules sans accent, des chiffres et des tirets isolés, sans tiret au début ni à la fin")
	case slices.Contains(ReservedSlugs, slug):
		return &Error{Code: ECONFLICT, Field: "slug", Message: "ce nom est réservé"}
	}
	return nil
}

// ApplicationFields are the names of the form's answers, in the order of the form: the
// JSON API's names, the HTML form's names, and the order in which errors are listed.
var ApplicationFields = []string{"organization_name", "organization_type", "sectors", "founded_year",
	"employees", "members", "beneficiaries", "annual_budget_eur", "mission", "actions", "needs",
	"works_in_french", "storage_needed_gb", "slug", "accounts_needed", "office_suite",
	"contact_email", "terms_accepted"}

// SlugFromName proposes a slug from an organisation's name: lowercase letters without
// accents, digits and single hyphens, cut at MaxSlugLength; "" when the name has none
// of them. "Les Amis du Jardin Partagé" gives "les-amis-du-jardin-partage".
func SlugFromName(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range norm.NFD.String(strings.ToLower(name)) {
		switch {
		case unicode.Is(unicode.Mn, r): // the accent of a letter just written
		case r == 'œ':
			b.WriteString("oe")
			hyphen = false
		case r == 'æ':
			b.WriteString("ae")
			hyphen = false
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
			hyphen = false
		case !hyphen && b.Len() > 0:
			b.WriteByte('-')
			hyphen = true
		}
	}
	slug := strings.Trim(b.String(), "-")
	if len(slug) > MaxSlugLength {
		slug = strings.TrimRight(slug[:MaxSlugLength], "-")
	}
	return slug
}

// Validate checks every field of the application and returns every error found, at
// most one per field, as FieldErrors in the order of the form; nil if all is well. now
// is the submission time (for the founding year).
func (a *Application) Validate(now time.Time) error {
	var errs FieldErrors
	a.validate(&errs, now)
	return errs.Err()
}

// ValidateInto adds the application's errors to errs, skipping the fields that already
// have one (an answer that could not even be read).
func (a *Application) ValidateInto(errs *FieldErrors, now time.Time) {
	a.validate(errs, now)
	errs.Sort(ApplicationFields)
}

func (a *Application) validate(errs *FieldErrors, now time.Time) {
	errs.Add(validateText("organization_name", a.OrganizationName, MaxNameLength))
	if a.OrganizationType == "" {
		errs.Add(FieldError("organization_type", "choisissez le type de l'organisation"))
	} else if !slices.Contains(OrganizationTypes, a.OrganizationType) {
		errs.Add(FieldError("organization_type", "doit être l'un de %s", join(OrganizationTypes)))
	}
	errs.Add(validateSectors(a.Sectors))
	if a.FoundedYear < MinFoundedYear || a.FoundedYear > now.Year() {
		errs.Add(FieldError("founded_year", "doit être une année entre %d et %d", MinFoundedYear, now.Year()))
	}
	for _, f := range []struct {
		name  string
		value int
	}{{"employees", a.Employees}, {"members", a.Members}, {"beneficiaries", a.Beneficiaries}} {
		if f.value < 0 || f.value > MaxCountPerField {
			errs.Add(FieldError(f.name, "doit être un nombre entre 0 et %d", MaxCountPerField))
		}
	}
	if a.AnnualBudgetEUR != nil && *a.AnnualBudgetEUR < 0 {
		errs.Add(FieldError("annual_budget_eur", "ne peut pas être négatif"))
	}
	for _, f := range []struct{ name, value string }{
		{"mission", a.Mission}, {"actions", a.Actions}, {"needs", a.Needs}} {
		errs.Add(validateText(f.name, f.value, MaxTextLength))
	}
	if !a.WorksInFrench {
		errs.Add(FieldError("works_in_french", "le service est réservé aux organisations qui travaillent en français"))
	}
	if a.StorageNeededGB < 1 || a.StorageNeededGB > MaxSpaceStorageGB {
		errs.Add(FieldError("storage_needed_gb", "doit être entre 1 et %d Go (un espace offre au plus %d Go en tout)", MaxSpaceStorageGB, MaxSpaceStorageGB))
	}
	errs.Add(ValidateSlug(a.Slug))
	if a.AccountsNeeded < 1 || a.AccountsNeeded > MaxSpaceAccounts {
		errs.Add(FieldError("accounts_needed", "doit être entre 1 et %d (un espace compte au plus %d comptes)", MaxSpaceAccounts, MaxSpaceAccounts))
	}
	if !slices.Contains(OfficeSuites, a.OfficeSuite) {
		errs.Add(FieldError("office_suite", "doit être l'un de %s", join(OfficeSuites)))
	}
	errs.Add(ValidateEmail("contact_email", a.ContactEmail))
}

func validateSectors(sectors []string) error {
	if len(sectors) == 0 {
		return FieldError("sectors", "cochez au moins un secteur d'activité")
	}
	seen := map[string]bool{}
	for _, s := range sectors {
		if !slices.Contains(Sectors, s) {
			return FieldError("sectors", "secteur inconnu %q, attendu l'un de %s", s, strings.Join(Sectors, ", "))
		} else if seen[s] {
			return FieldError("sectors", "le secteur %q est en double", s)
		}
		seen[s] = true
	}
	return nil
}

// ValidateEmail checks that value is one plain e-mail address.
func ValidateEmail(field, value string) error {
	if value == "" {
		return FieldError(field, "est obligatoire")
	} else if !utf8.ValidString(value) {
		return errUnreadable(field)
	} else if len(value) > MaxEmailLength {
		return FieldError(field, "ne peut dépasser %d caractères", MaxEmailLength)
	}
	addr, err := mail.ParseAddress(value)
	if err != nil || addr.Address != value || !strings.Contains(value[strings.LastIndex(value, "@"):], ".") {
		return FieldError(field, "n'est pas une adresse électronique valide")
	}
	return nil
}

// NormalizeEmail lowercases and trims an address so that one contact is counted once.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validateText(field, value string, max int) error {
	if !utf8.ValidString(value) {
		return errUnreadable(field)
	} else if strings.TrimSpace(value) == "" {
		return FieldError(field, "est obligatoire")
	} else if len([]rune(value)) > max {
		return FieldError(field, "ne peut dépasser %d caractères", max)
	}
	return nil
}

// errUnreadable refuses a text that is not UTF-8, as a browser set to another
// encoding may send: the database would refuse it.
func errUnreadable(field string) error {
	return FieldError(field, "contient des caractères illisibles : retapez-le sans copier-coller")
}

func join[T ~string](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
