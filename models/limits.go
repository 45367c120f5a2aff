package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Bounds of any space's limits, the fleet's defaults as a space's own. They are well
// above the service's published limits (DOMAIN.md: 50 accounts, 50 GB), so that a
// moderator can grant one space more, yet keep one space from taking a share of the
// shared storage and database servers that would starve the others.
const (
	MaxGrantedAccounts  = 500
	MaxGrantedStorageGB = 1000
)

// The units of the limits as people write them (SPACE_LIMITS, the API, the forms):
// storage in whole gigabytes, video files in whole megabytes.
const (
	bytesPerGB = 1 << 30
	bytesPerMB = 1 << 20
)

// The fields of limits, as SPACE_LIMITS, the API and the forms name them.
const (
	LimitsFieldAccounts = "max_accounts"
	LimitsFieldQuotaGB  = "quota_gb"
	LimitsFieldVideoMB  = "max_video_mb"
)

// LimitsFields lists the fields of limits in the order the forms show them.
var LimitsFields = []string{LimitsFieldAccounts, LimitsFieldQuotaGB, LimitsFieldVideoMB}

// LimitsOf builds limits from the units people write.
func LimitsOf(accounts int, quotaGB, videoMB int64) Limits {
	return Limits{MaxAccounts: accounts, QuotaBytes: quotaGB * bytesPerGB, MaxVideoBytes: videoMB * bytesPerMB}
}

// QuotaGB is the storage quota in whole gigabytes, as people write it.
func (l Limits) QuotaGB() int64 { return l.QuotaBytes / bytesPerGB }

// MaxVideoMB is the video size limit in whole megabytes, as people write it.
func (l Limits) MaxVideoMB() int64 { return l.MaxVideoBytes / bytesPerMB }

// Validate checks limits a space may have, with every field at fault at once: at
// least one account and at most MaxGrantedAccounts, a storage quota of whole
// gigabytes up to MaxGrantedStorageGB, a video limit of whole megabytes within it.
// The drivers refuse the same limits.
func (l Limits) Validate() error {
	var errs FieldErrors
	if l.MaxAccounts < 1 || l.MaxAccounts > MaxGrantedAccounts {
		errs.Add(FieldError(LimitsFieldAccounts, "doit être entre 1 et %d comptes", MaxGrantedAccounts))
	}
	quotaOK := l.QuotaBytes%bytesPerGB == 0 && l.QuotaGB() >= 1 && l.QuotaGB() <= MaxGrantedStorageGB
	if !quotaOK {
		errs.Add(FieldError(LimitsFieldQuotaGB, "doit être un nombre entier de Go entre 1 et %d", MaxGrantedStorageGB))
	}
	switch {
	case l.MaxVideoBytes%bytesPerMB != 0 || l.MaxVideoMB() < 1:
		errs.Add(FieldError(LimitsFieldVideoMB, "doit être un nombre entier de Mo, au moins 1"))
	case quotaOK && l.MaxVideoBytes > l.QuotaBytes:
		errs.Add(FieldError(LimitsFieldVideoMB, "ne peut dépasser le stockage de l'espace (%d Mo)", l.QuotaBytes/bytesPerMB))
	}
	return errs.Err()
}

// String formats limits as SPACE_LIMITS reads them.
func (l Limits) String() string {
	return fmt.Sprintf("%s=%d,%s=%d,%s=%d", LimitsFieldAccounts, l.MaxAccounts, LimitsFieldQuotaGB, l.QuotaGB(),
		LimitsFieldVideoMB, l.MaxVideoMB())
}

// ParseLimits reads "max_accounts=50,quota_gb=50,max_video_mb=500"; each field must be
// given once, and the limits must pass Validate.
func ParseLimits(s string) (Limits, error) {
	values := map[string]int64{}
	for _, part := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		name = strings.TrimSpace(name)
		if !ok {
			return Limits{}, fmt.Errorf("%q: want name=number", part)
		}
		if !isLimitsField(name) {
			return Limits{}, fmt.Errorf("%q: unknown, want %s", name, strings.Join(LimitsFields, ", "))
		} else if _, dup := values[name]; dup {
			return Limits{}, fmt.Errorf("%s is given twice", name)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil || n > 1<<40 {
			return Limits{}, fmt.Errorf("%s: %q is not a whole number", name, value)
		}
		values[name] = n
	}
	for _, f := range LimitsFields {
		if _, ok := values[f]; !ok {
			return Limits{}, fmt.Errorf("%s is missing", f)
		}
	}
	l := LimitsOf(int(values[LimitsFieldAccounts]), values[LimitsFieldQuotaGB], values[LimitsFieldVideoMB])
	if err := l.Validate(); err != nil {
		return Limits{}, err
	}
	return l, nil
}

func isLimitsField(name string) bool {
	for _, f := range LimitsFields {
		if f == name {
			return true
		}
	}
	return false
}

// LimitsVersion is one version of the fleet's default limits, as an admin set them:
// the latest is in force, SPACE_LIMITS only seeds the first. A rollout applies each
// new version to every space in service that has no limits of its own.
type LimitsVersion struct {
	Version       int       `gorm:"primaryKey;autoIncrement:false"`
	MaxAccounts   int       `gorm:"not null"`
	QuotaBytes    int64     `gorm:"not null"`
	MaxVideoBytes int64     `gorm:"not null"`
	Actor         string    `gorm:"not null"`
	Reason        string    `gorm:"not null"`
	CreatedAt     time.Time `gorm:"not null"`
}

// Limits are the limits of this version.
func (v LimitsVersion) Limits() Limits {
	return Limits{MaxAccounts: v.MaxAccounts, QuotaBytes: v.QuotaBytes, MaxVideoBytes: v.MaxVideoBytes}
}

// CurrentLimits returns the version of the default limits in force. When none was ever
// recorded, it records seed (SPACE_LIMITS) as version 1 first.
func CurrentLimits(ctx context.Context, db *gorm.DB, seed Limits) (LimitsVersion, error) {
	return currentVersion(ctx, db, "the default limits", func() (LimitsVersion, error) {
		if err := seed.Validate(); err != nil {
			return LimitsVersion{}, fmt.Errorf("SPACE_LIMITS: %w", err)
		}
		return LimitsVersion{Version: 1, MaxAccounts: seed.MaxAccounts, QuotaBytes: seed.QuotaBytes,
			MaxVideoBytes: seed.MaxVideoBytes, Actor: ActorSystem, Reason: "SPACE_LIMITS", CreatedAt: time.Now().UTC()}, nil
	})
}

// LimitsChange is new limits with who asks and why: an admin's new defaults, or a
// moderator's limits for one space.
type LimitsChange struct {
	Limits Limits
	Reason string
	Actor  string
}

// Validate checks the limits, the reason and the actor, with every field at fault.
func (ch LimitsChange) Validate() error {
	var errs FieldErrors
	errs.Add(ch.Limits.Validate())
	errs.Add(checkChangeReason(ch.Reason, "l'historique dit pourquoi les limites ont changé"))
	if ch.Actor == "" {
		errs.Add(FieldError("actor", "l'auteur du changement est obligatoire"))
	}
	return errs.Err()
}

// checkChangeReason requires the reason of a change of the fleet's rules (the limits,
// the inactivity policy): a text of at most MaxReasonLength characters, which why says
// the history keeps.
func checkChangeReason(reason, why string) error {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return FieldError("reason", "est obligatoire : %s", why)
	case !utf8.ValidString(reason):
		return errUnreadable("reason")
	case utf8.RuneCountInString(reason) > MaxReasonLength:
		return FieldError("reason", "ne peut dépasser %d caractères", MaxReasonLength)
	}
	return nil
}

// ChangeLimits records a new version of the default limits and returns it, with
// changed false when the limits given are those in force (nothing is recorded then).
// Bad limits or reason are refused with the fields at fault, and change nothing.
func ChangeLimits(ctx context.Context, db *gorm.DB, seed Limits, ch LimitsChange) (v LimitsVersion, changed bool, err error) {
	ch.Reason = strings.TrimSpace(ch.Reason)
	if err := ch.Validate(); err != nil {
		return v, false, err
	}
	cur, err := CurrentLimits(ctx, db, seed)
	if err != nil {
		return v, false, err
	}
	if cur.Limits() == ch.Limits {
		return cur, false, nil
	}
	v = LimitsVersion{Version: cur.Version + 1, MaxAccounts: ch.Limits.MaxAccounts, QuotaBytes: ch.Limits.QuotaBytes,
		MaxVideoBytes: ch.Limits.MaxVideoBytes, Actor: ch.Actor, Reason: ch.Reason, CreatedAt: time.Now().UTC()}
	err = db.WithContext(ctx).Create(&v).Error
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return LimitsVersion{}, false, Errorf(ECONFLICT, "les limites viennent d'être changées par ailleurs (version %d) : relisez-les avant de les changer", cur.Version+1)
	} else if err != nil {
		return LimitsVersion{}, false, fmt.Errorf("record default limits version %d: %w", v.Version, err)
	}
	return v, true, nil
}
