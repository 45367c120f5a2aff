package models

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// TokenPurpose says what a signed link may do.
type TokenPurpose string

// The purposes of the links mailed to a space's contact.
const (
	PurposeReactivate          TokenPurpose = "reactivate"           // reactivate a deactivated space
	PurposeConfirmDeactivation TokenPurpose = "confirm-deactivation" // the contact confirms deactivating
	PurposeConfirmDeletion     TokenPurpose = "confirm-deletion"     // the contact confirms deleting
	PurposeConfirmOffice       TokenPurpose = "confirm-office"       // the contact confirms switching office suite
	PurposeFollow              TokenPurpose = "follow"               // the applicant follows or withdraws the application
	PurposeContactCurrent      TokenPurpose = "contact-current"      // the current address confirms a change of contact address
	PurposeContactNew          TokenPurpose = "contact-new"          // the new address confirms it
)

// FollowLinkValidity is how long the link of the receipt mail works: an application may
// wait on hold for months.
const FollowLinkValidity = 365 * 24 * time.Hour

// LinkToken is what a signed link carries. Seq ties it to one deactivation or one
// request: the space workflow accepts it once, while that one is current.
type LinkToken struct {
	Slug    string       `json:"s"`
	Purpose TokenPurpose `json:"p"`
	Seq     int          `json:"n"`
	Expires time.Time    `json:"e"`
	// App is the application a follow link is for: a slug freed by a rejection may be
	// asked for again, and the link must not show someone else's application.
	App string `json:"a,omitempty"`
}

// Errors of link verification, for a clear message to the person who clicked.
var (
	ErrTokenInvalid = errors.New("lien invalide")
	ErrTokenExpired = errors.New("lien expiré")
)

// Signer signs and checks links with an HMAC-SHA256 key derived from SECRET_KEY.
type Signer struct{ key []byte }

// NewSigner derives the link-signing key from the secret key, so that the key that
// seals secrets is never used for anything else.
func NewSigner(secretKey []byte) *Signer {
	mac := hmac.New(sha256.New, secretKey)
	mac.Write([]byte("jardinier signed links v1"))
	return &Signer{key: mac.Sum(nil)}
}

// Sign returns the token's text: its JSON and its MAC, both base64url.
func (s *Signer) Sign(t LinkToken) string {
	t.Expires = t.Expires.UTC().Truncate(time.Second)
	payload, _ := json.Marshal(t)
	body := base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(s.mac(body))
}

// Verify checks a token's signature, purpose and expiry at now.
func (s *Signer) Verify(raw string, purpose TokenPurpose, now time.Time) (LinkToken, error) {
	var t LinkToken
	body, sig, ok := strings.Cut(raw, ".")
	if !ok {
		return t, ErrTokenInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(body)) {
		return t, ErrTokenInvalid
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || json.Unmarshal(payload, &t) != nil || t.Purpose != purpose || t.Slug == "" {
		return LinkToken{}, ErrTokenInvalid
	}
	if !now.Before(t.Expires) {
		return t, ErrTokenExpired
	}
	return t, nil
}

func (s *Signer) mac(body string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return m.Sum(nil)
}
