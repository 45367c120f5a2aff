package database

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"jardinier/models"
)

// Error types of a change of the contact's address that retrying cannot fix.
const (
	// ErrTypeNoApplication: the application of the space is gone (purged).
	ErrTypeNoApplication = "ApplicationMissing"
	// ErrTypeSealed: the sealed address cannot be opened with this worker's key, or is
	// not an address.
	ErrTypeSealed = "SealedAddressInvalid"
)

// ContactEmailInput names the application whose contact address is wanted.
type ContactEmailInput struct{ ApplicationID string }

// ContactEmailResult is the contact's address, sealed: it goes through workflow
// history.
type ContactEmailResult struct{ Email models.Sealed }

// SealContactEmail reads the contact's current address and returns it sealed, so that
// a workflow can still write to it once it is replaced. Run it as a regular activity,
// before ChangeContactEmail: its result, kept in history, survives a crash between the
// two, whereas the row then holds the new address.
func (a *Activities) SealContactEmail(ctx context.Context, in ContactEmailInput) (ContactEmailResult, error) {
	if a.Sealer == nil {
		return ContactEmailResult{}, temporal.NewNonRetryableApplicationError("no key to seal the contact's address", ErrTypeSealed, nil)
	}
	app, err := a.contactOf(ctx, in.ApplicationID)
	if err != nil {
		return ContactEmailResult{}, err
	}
	return ContactEmailResult{Email: a.Sealer.Seal(app.ContactEmail)}, nil
}

// ChangeContactEmailInput replaces the contact's address of an application.
type ChangeContactEmailInput struct {
	ApplicationID string
	Email         models.Sealed // the new address, sealed
}

// ChangeContactEmailResult says whether the row changed (false: it already held the
// address, as after a retry).
type ChangeContactEmailResult struct{ Changed bool }

// ChangeContactEmail writes the new contact address to the application: from then on
// every mail of the space goes there. Idempotent.
func (a *Activities) ChangeContactEmail(ctx context.Context, in ChangeContactEmailInput) (ChangeContactEmailResult, error) {
	if a.Sealer == nil {
		return ChangeContactEmailResult{}, temporal.NewNonRetryableApplicationError("no key to open the new address", ErrTypeSealed, nil)
	}
	email, err := a.Sealer.Open(in.Email)
	if err == nil {
		email = models.NormalizeEmail(email)
		err = models.ValidateEmail("new_email", email)
	}
	if err != nil {
		// Never the address itself in the error: it lands in history.
		return ChangeContactEmailResult{}, temporal.NewNonRetryableApplicationError(
			"the new contact address cannot be opened (sealed with another SECRET_KEY?) or is not an address", ErrTypeSealed, nil)
	}
	if _, err := a.contactOf(ctx, in.ApplicationID); err != nil {
		return ChangeContactEmailResult{}, err
	}
	res := a.DB.WithContext(ctx).Model(&models.Application{}).
		Where("id = ? AND contact_email <> ?", in.ApplicationID, email).Update("contact_email", email)
	if res.Error != nil {
		return ChangeContactEmailResult{}, fmt.Errorf("change the contact address of application %s: %w", in.ApplicationID, res.Error)
	}
	return ChangeContactEmailResult{Changed: res.RowsAffected > 0}, nil
}

// contactOf loads the contact's address of an application, refusing for good one that
// is gone.
func (a *Activities) contactOf(ctx context.Context, id string) (models.Application, error) {
	var app models.Application
	if uuid.Validate(id) != nil {
		return app, temporal.NewNonRetryableApplicationError(fmt.Sprintf("application %q not found", id), ErrTypeNoApplication, nil)
	}
	err := a.DB.WithContext(ctx).Select("id", "contact_email").Where("id = ?", id).Take(&app).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return app, temporal.NewNonRetryableApplicationError(fmt.Sprintf("application %q not found", id), ErrTypeNoApplication, nil)
	} else if err != nil {
		return app, fmt.Errorf("load application %s: %w", id, err)
	}
	return app, nil
}
