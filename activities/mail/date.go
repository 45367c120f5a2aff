package mail

import (
	"fmt"
	"time"

	// Worker images may ship without a zoneinfo database; dates in mails must still be
	// those of Paris.
	_ "time/tzdata"
)

// paris is the service's time zone: its users and moderators live in French-speaking
// countries, most of them in France.
var paris = mustLoadLocation("Europe/Paris")

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

func mustLoadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		// Cannot happen with time/tzdata linked in.
		panic(fmt.Sprintf("load time zone %s: %v", name, err))
	}
	return loc
}
