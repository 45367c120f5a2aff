package nextcloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"

	"jardinier/models"
)

// The settings of the office suites' apps that ConfigureOffice writes, as each app
// names them in its own configuration (occ config:app:get <app> <key>).
const (
	// richdocuments (Collabora Online): where Nextcloud reaches the Collabora server,
	// whose WOPI discovery also gives the browsers' address.
	settingCollaboraURL = "wopi_url"
	// onlyoffice: the document server's address, and the secret that signs the JSON
	// Web Tokens both sides exchange (JWT is on by default since OnlyOffice Docs 7.2).
	settingOnlyOfficeURL    = "DocumentServerUrl"
	settingOnlyOfficeSecret = "jwt_secret"
)

// OfficeSettings are the operator's office servers (COLLABORA_URL, ONLYOFFICE_URL,
// ONLYOFFICE_JWT_SECRET): what ConfigureOffice writes into the app of a space's office
// suite. They never travel in an activity's input, so the secret never reaches workflow
// history: the activity reads them from the worker's configuration.
type OfficeSettings struct {
	CollaboraURL        string
	OnlyOfficeURL       string
	OnlyOfficeJWTSecret string
}

// appSettings are the settings of the app of suite, key by key; nil for no suite.
// Empty values are written as they are: a server taken out of the configuration
// leaves no space pointing at it.
func (o OfficeSettings) appSettings(suite models.OfficeSuite) (app string, settings map[string]string) {
	switch suite {
	case models.OfficeCollabora:
		return AppCollabora, map[string]string{settingCollaboraURL: o.CollaboraURL}
	case models.OfficeOnlyOffice:
		return AppOnlyOffice, map[string]string{settingOnlyOfficeURL: o.OnlyOfficeURL,
			settingOnlyOfficeSecret: o.OnlyOfficeJWTSecret}
	}
	return "", nil
}

// checkOffice is what every driver checks before ConfigureOffice changes anything: the
// office suite is known and the address of its server, if any, an http(s) URL.
func checkOffice(suite models.OfficeSuite, settings OfficeSettings) error {
	if _, _, err := officeApps(suite); err != nil {
		return err
	}
	_, values := settings.appSettings(suite)
	for _, key := range []string{settingCollaboraURL, settingOnlyOfficeURL} {
		if v := values[key]; v != "" {
			if err := CheckOfficeURL(v); err != nil {
				return permanent("office suite %q: %s: %v", suite, key, err)
			}
		}
	}
	return nil
}

// CheckOfficeURL checks the address of an office server: an absolute http or https URL
// without user, query or fragment.
func CheckOfficeURL(v string) error {
	u, err := url.Parse(v)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https":
		return permanent("want an http or https URL, got %q", v)
	case u.Host == "":
		return permanent("want a URL with a host, got %q", v)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return permanent("want a URL without user, query or fragment, got %q", v)
	}
	return nil
}

// OfficeFingerprint names the settings a space of suite gets from settings, keyed
// with key (SECRET_KEY) so that it tells nothing of the secret: a space whose recorded
// fingerprint differs from the configuration's has settings to rewrite. Only the
// settings of the suite count: a new OnlyOffice server changes nothing for a space on
// Collabora. A space without office suite has the empty fingerprint.
func OfficeFingerprint(suite models.OfficeSuite, settings OfficeSettings, key []byte) string {
	app, values := settings.appSettings(suite)
	if app == "" {
		return ""
	}
	mac := hmac.New(sha256.New, append([]byte("jardinier office settings\x00"), key...))
	mac.Write([]byte(app))
	for _, k := range sortedKeys(values) {
		mac.Write([]byte("\x00" + k + "=" + strings.ReplaceAll(values[k], "\x00", "")))
	}
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// ConfigureOfficeInput asks to write the settings of a space's office suite.
type ConfigureOfficeInput struct {
	Slug        string
	OfficeSuite models.OfficeSuite
}

// ConfigureOfficeResult names the settings written (OfficeFingerprint), for the
// projection.
type ConfigureOfficeResult struct{ Fingerprint string }
