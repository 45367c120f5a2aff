package mail

import (
	"errors"
	"fmt"
	"time"

	// Worker images may ship without a zoneinfo database; dates in mails must still be
	// those of Paris.
	_ "time/tzdata"
)

// paris is the service's time zone: its users and moderators live in French-speaking
// countries, most of them in France.
var paris = mustLoadLocation("Europe/Paris")

// errNoDate: a template formats a date its mail was not given.
var errNoDate = errors.New("no date given")

var frenchMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin",
	"juillet", "août", "septembre", "octobre", "novembre", "décembre"}

// frenchDate formats t as a French date in Paris time: "23 novembre 2026", and
// "1er décembre 2026" for the first day of a month.
func frenchDate(t time.Time) string {
	t = t.In(paris)
	day := fmt.Sprint(t.Day())
	if t.Day() == 1 {
		day = "1er"
	}
	return fmt.Sprintf("%s %s %d", day, frenchMonths[t.Month()-1], t.Year())
}

// frenchDateTime formats t as a French date and time in Paris time: "22 janvier 2027 à
// 14 h 05". The time matters as much as the day: a policy shortened for tests runs its
// steps minutes apart. A zero time is an error, so that a template showing a date its
// mail was not given fails instead of printing the year 1.
func frenchDateTime(t time.Time) (string, error) {
	if t.IsZero() {
		return "", errNoDate
	}
	local := t.In(paris)
	return fmt.Sprintf("%s à %d h %02d", frenchDate(t), local.Hour(), local.Minute()), nil
}

func mustLoadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		// Cannot happen with time/tzdata linked in.
		panic(fmt.Sprintf("load time zone %s: %v", name, err))
	}
	return loc
}
