// Package mail sends the service's mails, in French, from templates, exactly once per
// space and kind.
package mail

import (
	"time"

	"jardinier/models"
)

// Kind names a mail; each has a template under templates/fr/.
type Kind string

// The mails of the application review and provisioning.
const (
	KindReceipt            Kind = "receipt"             // to the contact: application received
	KindOnHold             Kind = "on_hold"             // to the contact: eligible, waiting for room
	KindRejected           Kind = "rejected"            // to the contact: application refused
	KindAccepted           Kind = "accepted"            // to the contact: space ready, admin credentials
	KindProvisioningFailed Kind = "provisioning_failed" // to the moderators: creation failed and was undone

	// The mails of the inactivity policy and of the actions on a space in service.
	KindFirstWarning        Kind = "first_warning"        // to the contact: 60 days without activity
	KindSecondWarning       Kind = "second_warning"       // to the contact: 75 days without activity
	KindDeactivated         Kind = "deactivated"          // to the contact: space out of service, reactivation link
	KindDeletionNotice      Kind = "deletion_notice"      // to the contact: deletion is coming, reactivation link
	KindDeleted             Kind = "deleted"              // to the contact: the space and its data are gone
	KindDeletedModerators   Kind = "deleted_moderators"   // to the moderators: a space was deleted
	KindReactivated         Kind = "reactivated"          // to the contact: the space is back in service
	KindConfirmDeactivation Kind = "confirm_deactivation" // to the contact: link to confirm deactivating
	KindConfirmDeletion     Kind = "confirm_deletion"     // to the contact: link to confirm deleting
	KindConfirmOffice       Kind = "confirm_office"       // to the contact: link to confirm switching office suite
	KindRestored            Kind = "restored"             // to the contact: the space was restored to an earlier time

	// The mails of the public site.
	KindWithdrawn        Kind = "withdrawn"         // to the contact: the application is withdrawn and its data deleted
	KindReactivationLink Kind = "reactivation_link" // to the contact: a new copy of the reactivation link

	// The mails of a change of the contact's address, which needs both addresses'
	// confirmation.
	KindContactChangeCurrent   Kind = "contact_change_current"   // to the current address: link to confirm the change
	KindContactChangeNew       Kind = "contact_change_new"       // to the new address (SendInput.To): link to confirm it
	KindContactChanged         Kind = "contact_changed"          // to the new address, now the contact's: done
	KindContactChangedPrevious Kind = "contact_changed_previous" // to the former address (SendInput.To): done
)

// Kinds lists every kind; each language's templates must define all of them.
var Kinds = []Kind{KindReceipt, KindOnHold, KindRejected, KindAccepted, KindProvisioningFailed,
	KindFirstWarning, KindSecondWarning, KindDeactivated, KindDeletionNotice, KindDeleted,
	KindDeletedModerators, KindReactivated, KindConfirmDeactivation, KindConfirmDeletion,
	KindModeratorInvitation, KindModeratorReset, KindModeratorDigest, KindWithdrawn, KindReactivationLink,
	KindContactChangeCurrent, KindContactChangeNew, KindContactChanged, KindContactChangedPrevious,
	KindConfirmOffice, KindAnnouncement, KindRestored}

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
	// Suite is the office suite the contact asked for (confirm_office).
	Suite models.OfficeSuite `json:",omitempty"`

	// Dates the inactivity mails state. Zero when they do not apply.
	LastActivityAt time.Time // the last activity seen on the space
	NextStepAt     time.Time // when the next step happens if nothing is done
	DeletionAt     time.Time // when the space will be deleted if nothing is done
	Actor          string    // who acted: a moderator's name, "contact" or "system"

	// The signed link of deactivated, deletion_notice and confirm_* mails: built by the
	// activity, so that it never sits in workflow history. TokenSeq ties it to this
	// deactivation or request; it expires at TokenExpires.
	TokenSeq     int
	TokenExpires time.Time

	// The addresses of a change of the contact's, sealed like Password: To is where the
	// mail goes instead of the contact's address (the new address before the change,
	// the former one after it), NewContact the new address the mail shows.
	To         models.Sealed `json:",omitempty"`
	NewContact models.Sealed `json:",omitempty"`
	// AdminTo, when set, sends the mail to one of the space's Nextcloud admins rather
	// than to its contact: sealed, as an address is personal data. Once per address
	// and key; the contact's own address is skipped (the contact's mail is the one).
	AdminTo models.Sealed `json:",omitempty"`
}

// SendResult says what happened.
type SendResult struct {
	MessageID   string
	AlreadySent bool // an earlier attempt had sent it; nothing was sent again
	// Skipped: AdminTo was the contact's own address, which gets the contact's mail.
	Skipped bool
}
