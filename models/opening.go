package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// MaxOpeningMessageLength bounds the message the form shows while applications are
// closed: a sentence or two, such as the reopening date.
const MaxOpeningMessageLength = 1000

// openingID is the key of the one row of Opening.
const openingID = 1

// Opening says whether the service takes applications: an admin closes them when the
// service is full (it was, for months), with a message the form shows instead, and may
// set a cap on the number of spaces. There is one row; none means open, without a cap.
type Opening struct {
	ID uint `gorm:"primaryKey"`
	// Closed stops every new application; Message says why and until when.
	Closed  bool   `gorm:"not null;default:false"`
	Message string `gorm:"not null;default:''"`
	// MaxSpaces, when above 0, stops new applications once that many applications and
	// spaces are open (every status but rejected and deleted): the service takes no more
	// requests than it can host.
	MaxSpaces int    `gorm:"not null;default:0"`
	UpdatedBy string `gorm:"not null;default:''"`
	UpdatedAt time.Time
}

// Validate checks an admin's settings.
func (o *Opening) Validate() error {
	var errs FieldErrors
	o.Message = strings.TrimSpace(o.Message)
	if !utf8.ValidString(o.Message) {
		errs.Add(errUnreadable("message"))
	} else if utf8.RuneCountInString(o.Message) > MaxOpeningMessageLength {
		errs.Add(FieldError("message", "ne peut dépasser %d caractères", MaxOpeningMessageLength))
	}
	if o.MaxSpaces < 0 || o.MaxSpaces > MaxCountPerField {
		errs.Add(FieldError("max_spaces", "doit être un nombre entre 0 (pas de plafond) et %d", MaxCountPerField))
	}
	return errs.Err()
}

// LoadOpening reads the settings; without a row, applications are open without a cap.
func LoadOpening(ctx context.Context, db *gorm.DB) (Opening, error) {
	var o Opening
	err := db.WithContext(ctx).First(&o, openingID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Opening{ID: openingID}, nil
	} else if err != nil {
		return o, fmt.Errorf("load opening of applications: %w", err)
	}
	return o, nil
}

// SaveOpening writes the settings after checking them.
func SaveOpening(ctx context.Context, db *gorm.DB, o Opening) (Opening, error) {
	if err := o.Validate(); err != nil {
		return o, err
	}
	o.ID = openingID
	if err := db.WithContext(ctx).Save(&o).Error; err != nil {
		return o, fmt.Errorf("save opening of applications: %w", err)
	}
	return o, nil
}

// CountOpenSpaces counts the applications and spaces that hold a slug, the number the
// cap bounds.
func CountOpenSpaces(ctx context.Context, db *gorm.DB) (int64, error) {
	var n int64
	if err := db.WithContext(ctx).Model(&Space{}).Where("status NOT IN ?", []Status{StatusRejected, StatusDeleted}).
		Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count open spaces: %w", err)
	}
	return n, nil
}
