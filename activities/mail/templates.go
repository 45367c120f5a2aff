package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"

	"jardinier/models"
)

//go:embed templates
var templateFS embed.FS

// DefaultLanguage is the language of every mail: the service and its support are French
// only.
const DefaultLanguage = "fr"

// ErrUnknownKind is returned by Render for a kind the templates do not define.
var ErrUnknownKind = errors.New("unknown mail kind")

// Data is what a template may show. Templates format dates with {{date .Date}}, and
// dates with their time with {{datetime .DeletionDate}}, in their own language and in
// the service's time zone; datetime fails on a zero time, so optional ones are shown
// under {{if not .X.IsZero}}.
type Data struct {
	ServiceName      string    // "Jardinier"
	OrganizationName string    // from the application
	Slug             string    // the space's name
	SpaceURL         string    // https://<slug>.<base domain>
	AdminUser        string    // accepted: the admin's login
	Password         string    // accepted: the admin's first password, in clear
	Reason           string    // the moderator's reason; may be empty
	Detail           string    // provisioning_failed: what went wrong
	OfficeSuite      string    // confirm_office: the suite asked for (collabora, onlyoffice, none)
	Date             time.Time // when the application was submitted
	PublicURL        string    // the service's public address, for links
	MaxAccounts      int       // accepted: accounts per space
	StorageGB        int       // accepted: storage per space, shared by all accounts
	MaxVideoMB       int       // accepted: largest video file

	// The mails of a space in service.
	LastActivityDate time.Time // the last activity seen on the space; may be zero
	NextStepDate     time.Time // when the next step of the inactivity policy is due; may be zero
	DeletionDate     time.Time // when the space will be (or was) deleted; may be zero
	Actor            string    // the moderator who acted; empty if the contact or the service did
	ByContact        bool      // the contact asked for it, through a confirmation link
	Link             string    // the signed link of the mail, if its kind has one
	LinkExpiryDate   time.Time // when Link stops working
	DeactivatedURL   string    // the page every address of a deactivated space shows
	ReservedDays     int       // how long a deleted space's name stays reserved
	NewContact       string    // contact_change_current, contact_changed_previous: the new contact address
	BackupsGoneDate  time.Time // deleted: when the space's last database backups are deleted, at the latest
	// ToAdmin: the mail goes to one of the space's Nextcloud admins (AdminTo), not
	// its contact; a text that speaks of the contact's own request says so.
	ToAdmin bool

	// The mails to moderators.
	ConsoleURL    string // the console screen the mail is about
	ModeratorName string // moderator_invitation, moderator_reset: whom it is for
	Role          string // moderator_invitation: moderator or admin
	Digest        Digest // moderator_digest: what waits
	LongWaitDays  int    // moderator_digest: after how many days an application is overdue

	// announcement: the operator's message, as an admin wrote it.
	AnnouncementSubject string
	AnnouncementText    string
	// AnnouncementToAdmins: the announcement goes to the spaces' Nextcloud admins, not
	// their contacts; the mail says why they get it.
	AnnouncementToAdmins bool
}

// Templates are the parsed mail templates of one language.
type Templates struct {
	lang   string
	byKind map[Kind]*template.Template
}

// language holds what differs between languages besides the template files.
type language struct {
	formatDate     func(time.Time) string
	formatDateTime func(time.Time) (string, error)
}

var languages = map[string]language{
	"fr": {formatDate: models.FrenchDate, formatDateTime: models.FrenchDateTime},
}

// LoadTemplates parses the embedded templates of a language, templates/<lang>/<kind>.tmpl.
// Each file defines a "subject" and a "body" template. It fails if a kind of Kinds has
// no template, so that a worker with an incomplete set does not start.
func LoadTemplates(lang string) (*Templates, error) {
	l, ok := languages[lang]
	if !ok {
		return nil, fmt.Errorf("mail templates: no language %q", lang)
	}
	funcs := template.FuncMap{"date": l.formatDate, "datetime": l.formatDateTime}
	t := &Templates{lang: lang, byKind: make(map[Kind]*template.Template, len(Kinds))}
	for _, kind := range Kinds {
		name := "templates/" + lang + "/" + string(kind) + ".tmpl"
		src, err := fs.ReadFile(templateFS, name)
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		// Each kind gets its own set: every file defines "subject" and "body".
		tmpl, err := template.New(string(kind)).Funcs(funcs).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		for _, part := range []string{"subject", "body"} {
			if tmpl.Lookup(part) == nil {
				return nil, fmt.Errorf("mail templates: %s defines no %q", name, part)
			}
		}
		t.byKind[kind] = tmpl
	}
	return t, nil
}

// Language is the language of the templates.
func (t *Templates) Language() string { return t.lang }

// Has reports whether there is a template for the kind.
// Kinds lists the kinds of mail the templates can write, in order.
func (t *Templates) Kinds() []Kind {
	return slices.Sorted(maps.Keys(t.byKind))
}

// Has reports whether the templates can write a mail of kind.
func (t *Templates) Has(kind Kind) bool {
	_, ok := t.byKind[kind]
	return ok
}

// Render returns the subject (one line) and the plain-text body of a mail.
func (t *Templates) Render(kind Kind, data Data) (subject, body string, err error) {
	tmpl, ok := t.byKind[kind]
	if !ok {
		return "", "", fmt.Errorf("render %q: %w", kind, ErrUnknownKind)
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "subject", data); err != nil {
		return "", "", fmt.Errorf("render %q subject: %w", kind, err)
	}
	// A subject is one header line, whatever the data held.
	subject = strings.Join(strings.Fields(buf.String()), " ")
	buf.Reset()
	if err := tmpl.ExecuteTemplate(&buf, "body", data); err != nil {
		return "", "", fmt.Errorf("render %q body: %w", kind, err)
	}
	return subject, strings.TrimSpace(buf.String()) + "\n", nil
}
