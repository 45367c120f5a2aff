package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// PolicyVersion is one version of the inactivity policy, as an admin set it. The
// latest is in force; INACTIVITY_POLICY only seeds the first. Every space workflow is
// told of a new version and plans its next step again at once.
type PolicyVersion struct {
	Version   int       `gorm:"primaryKey;autoIncrement:false"`
	Policy    string    `gorm:"not null"` // the five offsets, in the syntax of INACTIVITY_POLICY
	Actor     string    `gorm:"not null"`
	Reason    string    `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null"`
}

// Offsets reads the policy of this version.
func (v PolicyVersion) Offsets() (InactivityPolicy, error) {
	p, err := ParseInactivityPolicy(v.Policy)
	if err != nil {
		return p, fmt.Errorf("inactivity policy version %d: %w", v.Version, err)
	}
	return p, nil
}

// PlannedStep is a step of the inactivity policy still ahead of a space, on the date
// its workflow will take it if nothing happens meanwhile.
type PlannedStep struct {
	Step Step      `json:"step"`
	At   time.Time `json:"at"`
}

// CurrentPolicy returns the version of the inactivity policy in force. When none was
// ever recorded, it records seed (INACTIVITY_POLICY) as version 1 first.
func CurrentPolicy(ctx context.Context, db *gorm.DB, seed InactivityPolicy) (PolicyVersion, error) {
	return currentVersion(ctx, db, "the inactivity policy", func() (PolicyVersion, error) {
		if err := seed.Validate(); err != nil {
			return PolicyVersion{}, fmt.Errorf("INACTIVITY_POLICY: %w", err)
		}
		return PolicyVersion{Version: 1, Policy: seed.String(), Actor: ActorSystem, Reason: "INACTIVITY_POLICY",
			CreatedAt: time.Now().UTC()}, nil
	})
}

// currentVersion returns the newest row of a versioned table (the policy, the default
// limits). When the table is empty it records first(), version 1, before: two
// processes may seed at once, the first one wins and the other reads it. what names
// the table in errors.
func currentVersion[V any](ctx context.Context, db *gorm.DB, what string, first func() (V, error)) (V, error) {
	var v V
	err := db.WithContext(ctx).Order("version DESC").Take(&v).Error
	if err == nil {
		return v, nil
	} else if !errors.Is(err, gorm.ErrRecordNotFound) {
		return v, fmt.Errorf("read %s: %w", what, err)
	}
	seed, err := first()
	if err != nil {
		return v, err
	}
	if err := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&seed).Error; err != nil {
		return v, fmt.Errorf("seed %s: %w", what, err)
	}
	if err := db.WithContext(ctx).Order("version DESC").Take(&v).Error; err != nil {
		return v, fmt.Errorf("read %s: %w", what, err)
	}
	return v, nil
}

// PolicyChange is an admin's new inactivity policy.
type PolicyChange struct {
	Policy string // the five offsets, in the syntax of INACTIVITY_POLICY
	Reason string
	Actor  string
}

// ChangePolicy records a new version of the inactivity policy and returns it, with
// changed false when the policy given is the one in force (nothing is recorded then).
// A bad policy or reason is refused with the field at fault, and changes nothing.
func ChangePolicy(ctx context.Context, db *gorm.DB, seed InactivityPolicy, ch PolicyChange) (v PolicyVersion, changed bool, err error) {
	p, perr := ParseInactivityPolicy(strings.TrimSpace(ch.Policy))
	reason := strings.TrimSpace(ch.Reason)
	if perr != nil {
		return v, false, FieldError("policy", "doit donner les cinq étapes dans l'ordre, en durées strictement croissantes "+
			"(unités s, m, h ou d), par exemple warn1=60d,warn2=75d,deactivate=90d,notice=105d,delete=120d (%v)", perr)
	} else if err := checkChangeReason(reason, "l'historique de la règle dit pourquoi elle a changé"); err != nil {
		return v, false, err
	} else if ch.Actor == "" {
		return v, false, FieldError("actor", "l'auteur du changement est obligatoire")
	}
	cur, err := CurrentPolicy(ctx, db, seed)
	if err != nil {
		return v, false, err
	}
	if cur.Policy == p.String() {
		return cur, false, nil
	}
	v = PolicyVersion{Version: cur.Version + 1, Policy: p.String(), Actor: ch.Actor, Reason: reason, CreatedAt: time.Now().UTC()}
	err = db.WithContext(ctx).Create(&v).Error
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return PolicyVersion{}, false, Errorf(ECONFLICT, "la règle vient d'être changée par ailleurs (version %d) : relisez-la avant de la changer", cur.Version+1)
	} else if err != nil {
		return PolicyVersion{}, false, fmt.Errorf("record inactivity policy version %d: %w", v.Version, err)
	}
	return v, true, nil
}
