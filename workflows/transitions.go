package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"

	"jardinier/models"
)

// transitions is the one table of which update a space takes in which status: the
// validators of the decisions and of the actions read it, the contact's requests for a
// confirmation link read the row of the action they ask for, and a test holds the
// README's table ("Statuses") to it.
var transitions = map[string]transition{
	UpdateAccept: {from: []models.Status{models.StatusSubmitted, models.StatusOnHold, models.StatusProvisioningFailed},
		refusal: "seule une demande soumise, en attente ou dont la création a échoué peut être acceptée"},
	UpdateHold: {from: []models.Status{models.StatusSubmitted},
		refusal: "seule une demande soumise peut être mise en attente"},
	UpdateReject: {from: []models.Status{models.StatusSubmitted, models.StatusOnHold, models.StatusProvisioningFailed},
		refusal: "seule une demande soumise, en attente ou dont la création a échoué peut être refusée"},
	UpdateWithdraw: {from: []models.Status{models.StatusSubmitted, models.StatusOnHold},
		refusal: "seule une demande soumise ou en attente peut être retirée"},
	UpdateDeactivate: {from: []models.Status{models.StatusActive},
		refusal: "seul un espace actif peut être désactivé"},
	UpdateReactivate: {from: []models.Status{models.StatusDeactivated},
		refusal: "seul un espace désactivé peut être réactivé"},
	UpdateDelete: {from: []models.Status{models.StatusActive, models.StatusDeactivated},
		refusal: "seul un espace actif ou désactivé peut être supprimé"},
	UpdateExempt: {from: []models.Status{models.StatusActive, models.StatusDeactivated},
		refusal: "l'exemption ne concerne que les espaces actifs ou désactivés"},
	UpdateUnexempt: {from: []models.Status{models.StatusActive, models.StatusDeactivated},
		refusal: "l'exemption ne concerne que les espaces actifs ou désactivés"},
	RequestChangeContact: {from: []models.Status{models.StatusActive, models.StatusDeactivated},
		refusal: "seul un espace actif ou désactivé peut changer d'adresse de contact"},
	UpdateOffice: {from: []models.Status{models.StatusActive},
		refusal: "seul un espace actif peut changer de suite bureautique"},
	UpdateSetLimits: {from: []models.Status{models.StatusActive},
		refusal: "seul un espace actif reçoit de nouvelles limites"},
}

// transition is one row of the table: the statuses an update may be sent in, and what
// a refusal says otherwise.
type transition struct {
	from    []models.Status
	refusal string
}

// Allowed reports whether a space in this status takes the update: what a screen needs
// to offer only the actions that can succeed. The workflow's validator still decides.
func Allowed(update string, status models.Status) bool {
	return slices.Contains(transitions[update].from, status)
}

// checkTransition refuses, with ErrTypeNotAllowed, an update the space's status does
// not allow.
func checkTransition(update, slug string, status models.Status) error {
	t, ok := transitions[update]
	if !ok {
		return refuse(ErrTypeNotAllowed, "l'action %q n'existe pas", update)
	} else if !slices.Contains(t.from, status) {
		return refuse(ErrTypeNotAllowed, "l'espace %q est à l'état %s : %s", slug, status, t.refusal)
	}
	return nil
}

// Error types of the refusals of update validators. The API maps each to an HTTP
// status in one place (api/errors.go); a refused update leaves no trace in history.
const (
	// ErrTypeInvalidInput: a field of the input is missing or wrong; Refusal.Field
	// names it.
	ErrTypeInvalidInput = "InvalidInput"
	// ErrTypeNotAllowed: the current status does not allow the update.
	ErrTypeNotAllowed = "NotAllowed"
	// ErrTypeBusy: another decision or action is being applied; try again in a moment.
	ErrTypeBusy = "Busy"
	// ErrTypeStaleLink: the contact's signed link has served or was replaced.
	ErrTypeStaleLink = "StaleLink"
	// ErrTypeTooSoon: a confirmation link went out moments ago.
	ErrTypeTooSoon = "TooSoon"
	// ErrTypeNotApplied: the space could not apply the change (its instance did not
	// answer); nothing was recorded, try again later.
	ErrTypeNotApplied = "NotApplied"
)

// Refusal is the detail of a validator's refusal: the field at fault, if any.
type Refusal struct{ Field string }

// refuse builds a validator's refusal of a type, with a message for the user.
func refuse(errType, format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), errType, Refusal{})
}

// refuseField refuses an input whose field is missing or wrong.
func refuseField(field, format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), ErrTypeInvalidInput, Refusal{Field: field})
}

// checkReason refuses a reason longer than models.MaxReasonLength.
func checkReason(reason string) error {
	if n := len([]rune(reason)); n > models.MaxReasonLength {
		return refuseField("reason", "ne peut dépasser %d caractères (%d donnés)", models.MaxReasonLength, n)
	}
	return nil
}
