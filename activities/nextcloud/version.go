package nextcloud

import (
	"strconv"
	"strings"
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
