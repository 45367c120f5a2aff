package database

import (
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"jardinier/models"
)

// recordHold keeps the policy hold of a space with its schedule: a schedule with a
// held step writes it, any other clears it; no schedule leaves it as it is.
func recordHold(tx *gorm.DB, slug string, sc *Schedule) error {
	if sc == nil {
		return nil
	}
	if sc.HeldStep == "" {
		if err := tx.Where("slug = ?", slug).Delete(&models.PolicyHold{}).Error; err != nil {
			return fmt.Errorf("clear policy hold of %q: %w", slug, err)
		}
		return nil
	}
	hold := models.PolicyHold{Slug: slug, Step: sc.HeldStep, Since: sc.HeldSince.UTC()}
	if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "slug"}},
		DoUpdates: clause.AssignmentColumns([]string{"step", "since"})}).Create(&hold).Error; err != nil {
		return fmt.Errorf("record policy hold of %q: %w", slug, err)
	}
	return nil
}
