package nextcloud

import (
	"slices"

	"jardinier/models"
)

// The apps of the two office suites.
const (
	AppCollabora  = "richdocuments"
	AppOnlyOffice = "onlyoffice"
)

// officeApps returns the app of the office suite office ("" for none) and the apps of
// the others, which must be disabled: two office suites on one space would both claim
// the same documents. An unknown suite is refused as permanent.
func officeApps(office models.OfficeSuite) (app string, others []string, err error) {
	switch office {
	case models.OfficeCollabora:
		return AppCollabora, []string{AppOnlyOffice}, nil
	case models.OfficeOnlyOffice:
		return AppOnlyOffice, []string{AppCollabora}, nil
	case models.OfficeNone:
		return "", []string{AppCollabora, AppOnlyOffice}, nil
	}
	return "", nil, permanent("unknown office suite %q", office)
}

// checkApps is what every driver checks before EnableApps changes anything: the office
// suite is known, every app is operator-approved (approved) or the app of that
// office suite, and none is the app of another suite. It returns the office suite's
// app and the apps to disable.
func checkApps(office models.OfficeSuite, apps, approved []string) (officeApp string, disable []string, err error) {
	officeApp, disable, err = officeApps(office)
	if err != nil {
		return "", nil, err
	}
	for _, app := range apps {
		switch {
		case slices.Contains(disable, app):
			return "", nil, permanent("app %q does not belong to office suite %q", app, office)
		case app != officeApp && !slices.Contains(approved, app):
			return "", nil, permanent("app %q is not approved", app)
		}
	}
	return officeApp, disable, nil
}
