// Package mail sends the service's mails, in French, from templates, exactly once per
// space and kind.
package mail

import "jardinier/models"

// Kind names a mail; each has a template under templates/fr/.
type Kind string

// The mails of the application review and provisioning.
const (
	KindReceipt            Kind = "receipt"             // to the contact: application received
	KindOnHold             Kind = "on_hold"             // to the contact: eligible, waiting for room
	KindRejected           Kind = "rejected"            // to the contact: application refused
	KindAccepted           Kind = "accepted"            // to the contact: space ready, admin credentials
	KindProvisioningFailed Kind = "provisioning_failed" // to the moderators: creation failed and was undone
)

// Kinds lists every kind; each language's templates must define all of them.
var Kinds = []Kind{KindReceipt, KindOnHold, KindRejected, KindAccepted, KindProvisioningFailed}

// SendInput asks for one mail about one space. The recipient and organisation name are
// read from the database by ApplicationID, so no personal data sits in workflow history.
type SendInput struct {
	Slug          string
	ApplicationID string
	Kind          Kind
	// Seq tells apart mails of one kind that may legitimately be sent again for the same
	// space (a second hold...); 0 for the first.
	Seq       int
	Reason    string        // the moderator's reason, if any
	AdminUser string        // accepted: the admin's login
	Password  models.Sealed // accepted: the admin's first password, sealed
	Detail    string        // provisioning_failed: what went wrong
}

// SendResult says what happened.
type SendResult struct {
	MessageID   string
	AlreadySent bool // an earlier attempt had sent it; nothing was sent again
}
