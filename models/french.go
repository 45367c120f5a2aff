package models

import (
	"errors"
	"fmt"
	"time"

	// Images may ship without a zoneinfo database; dates shown to users must still be
	// those of Paris.
	_ "time/tzdata"
)

// Paris is the service's time zone: its users and moderators live in French-speaking
// countries, most of them in France.
var Paris = mustLoadLocation("Europe/Paris")

// ErrNoDate: a page or mail formats a date it was not given.
var ErrNoDate = errors.New("no date given")

var frenchMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin",
	"juillet", "août", "septembre", "octobre", "novembre", "décembre"}

// FrenchDate formats t as a French date in Paris time: "23 novembre 2026", and
// "1er décembre 2026" for the first day of a month.
func FrenchDate(t time.Time) string {
	t = t.In(Paris)
	day := fmt.Sprint(t.Day())
	if t.Day() == 1 {
		day = "1er"
	}
	return fmt.Sprintf("%s %s %d", day, frenchMonths[t.Month()-1], t.Year())
}

// FrenchDateTime formats t as a French date and time in Paris time: "22 janvier 2027 à
// 14 h 05". The time matters as much as the day: a policy shortened for tests runs its
// steps minutes apart. A zero time is an error, so that a text showing a date it was
// not given fails instead of printing the year 1.
func FrenchDateTime(t time.Time) (string, error) {
	if t.IsZero() {
		return "", ErrNoDate
	}
	local := t.In(Paris)
	return fmt.Sprintf("%s à %d h %02d", FrenchDate(t), local.Hour(), local.Minute()), nil
}

func mustLoadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		// Cannot happen with time/tzdata linked in.
		panic(fmt.Sprintf("load time zone %s: %v", name, err))
	}
	return loc
}

// FrenchDuration writes a duration of the inactivity policy in words, in the largest
// unit that divides it: "60 jours", "1 heure", "90 minutes". The tests shorten the
// policy to minutes; the pages must say what the system really does.
func FrenchDuration(d time.Duration) string {
	for _, u := range []struct {
		one, many string
		unit      time.Duration
	}{{"jour", "jours", 24 * time.Hour}, {"heure", "heures", time.Hour}, {"minute", "minutes", time.Minute}} {
		if d >= u.unit && d%u.unit == 0 {
			n := int64(d / u.unit)
			if n == 1 {
				return "1 " + u.one
			}
			return fmt.Sprintf("%d %s", n, u.many)
		}
	}
	n := int64(d / time.Second)
	if n == 1 {
		return "1 seconde"
	}
	return fmt.Sprintf("%d secondes", n)
}
