package nextcloud

import (
	"strconv"
	"strings"

	"jardinier/models"
)

// version is a Nextcloud release number, major.minor.patch.
type version struct{ major, minor, patch int }

// parseVersion reads "major.minor.patch"; anything else is a permanent error.
func parseVersion(s string) (version, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return version{}, permanent("version %q is not major.minor.patch", s)
	}
	var n [3]int
	for i, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return version{}, permanent("version %q is not major.minor.patch", s)
		}
		v, err := strconv.Atoi(p)
		if err != nil {
			return version{}, permanent("version %q: %v", s, err)
		}
		n[i] = v
	}
	return version{n[0], n[1], n[2]}, nil
}

func (v version) less(w version) bool {
	if v.major != w.major {
		return v.major < w.major
	}
	if v.minor != w.minor {
		return v.minor < w.minor
	}
	return v.patch < w.patch
}

// CheckUpgrade tells whether an instance at version current may move to target:
// within the same major, to the same or a later release; otherwise only to the next
// major, as Nextcloud cannot skip a major nor go back. A refusal wraps ErrPermanent.
func CheckUpgrade(current, target string) error {
	from, err := parseVersion(current)
	if err != nil {
		return err
	}
	to, err := parseVersion(target)
	if err != nil {
		return err
	}
	switch {
	case to.major == from.major && to.less(from):
		return permanent("cannot downgrade from %s to %s", current, target)
	case to.major == from.major, to.major == from.major+1:
		return nil
	case to.major < from.major:
		return permanent("cannot downgrade from %s to %s", current, target)
	default:
		return permanent("cannot skip a major version from %s to %s", current, target)
	}
}

// checkLimits refuses limits no space may have; every driver checks them the same way.
func checkLimits(limits models.Limits) error {
	switch {
	case limits.MaxAccounts < 1 || limits.MaxAccounts > models.MaxGrantedAccounts:
		return permanent("max accounts %d is not between 1 and %d", limits.MaxAccounts, models.MaxGrantedAccounts)
	case limits.QuotaBytes <= 0:
		return permanent("quota %d is not positive", limits.QuotaBytes)
	case limits.MaxVideoBytes <= 0 || limits.MaxVideoBytes > limits.QuotaBytes:
		return permanent("max video size %d is not between 1 and the quota", limits.MaxVideoBytes)
	}
	return nil
}
