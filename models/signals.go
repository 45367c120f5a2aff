package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// maxSimilarNameDistance is how many letters may differ between an application's name
// and an existing space's for them to look alike ("amis-jardin" and "amis-jardins").
const maxSimilarNameDistance = 2

// sharedMailDomains are the mail providers of the public: many unrelated organisations
// share them, so a shared domain of theirs says nothing.
var sharedMailDomains = []string{"gmail.com", "googlemail.com", "yahoo.fr", "yahoo.com", "hotmail.fr", "hotmail.com",
	"outlook.fr", "outlook.com", "live.fr", "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr",
	"protonmail.com", "proton.me", "icloud.com", "gmx.fr", "riseup.net", "aliceadsl.fr", "neuf.fr", "bbox.fr"}

// RelatedApplication is another application that a moderator should see beside one.
type RelatedApplication struct {
	ID               string
	Slug             string
	OrganizationName string
	ContactEmail     string
	Status           Status
	SubmittedAt      time.Time
}

// MassCreationSignals are the signs that an application is one of many from one person
// or organisation: the service refuses mass creation.
type MassCreationSignals struct {
	SameContact []RelatedApplication // the contact's other applications, any status
	SameDomain  []RelatedApplication // other open applications from the contact's mail domain
	Domain      string               // that domain; "" when it is a public provider's
	SimilarName []string             // open spaces whose name is close to this one's
}

// Any reports whether there is anything to look at.
func (s MassCreationSignals) Any() bool {
	return len(s.SameContact)+len(s.SameDomain)+len(s.SimilarName) > 0
}

// FindMassCreationSignals gathers the signals of an application.
func FindMassCreationSignals(ctx context.Context, db *gorm.DB, app *Application) (MassCreationSignals, error) {
	var sig MassCreationSignals
	base := func() *gorm.DB {
		return db.WithContext(ctx).Table("applications").Joins("JOIN spaces ON spaces.application_id = applications.id").
			Select("applications.id, applications.slug, applications.organization_name, applications.contact_email, spaces.status, spaces.submitted_at").
			Where("applications.id <> ?", app.ID).Order("spaces.submitted_at DESC").Limit(50)
	}
	if err := base().Where("applications.contact_email = ?", app.ContactEmail).Scan(&sig.SameContact).Error; err != nil {
		return sig, fmt.Errorf("applications of the same contact: %w", err)
	}
	if at := strings.LastIndex(app.ContactEmail, "@"); at >= 0 {
		domain := app.ContactEmail[at+1:]
		if !slices.Contains(sharedMailDomains, domain) {
			sig.Domain = domain
			if err := base().Where("applications.contact_email LIKE ? AND applications.contact_email <> ? AND spaces.status NOT IN ?",
				"%@"+strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(domain), app.ContactEmail,
				[]Status{StatusRejected, StatusDeleted}).Scan(&sig.SameDomain).Error; err != nil {
				return sig, fmt.Errorf("applications of the same domain: %w", err)
			}
		}
	}
	var slugs []string
	if err := db.WithContext(ctx).Model(&Space{}).Where("status NOT IN ? AND (application_id IS NULL OR application_id <> ?)",
		[]Status{StatusRejected, StatusDeleted}, app.ID).Pluck("slug", &slugs).Error; err != nil {
		return sig, fmt.Errorf("names of open spaces: %w", err)
	}
	for _, slug := range slugs {
		if levenshtein(slug, app.Slug) <= maxSimilarNameDistance || similarWords(slug, app.Slug) {
			sig.SimilarName = append(sig.SimilarName, slug)
		}
	}
	slices.Sort(sig.SimilarName)
	return sig, nil
}

// similarWords reports whether one name is the other with a few letters or words more,
// as "jardin-partage" and "jardin-partage-2".
func similarWords(a, b string) bool {
	short, long := a, b
	if len(short) > len(long) {
		short, long = long, short
	}
	return len(short) >= MinSlugLength+2 && strings.HasPrefix(long, short) && len(long)-len(short) <= 3
}

// levenshtein is the edit distance between two short names.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
