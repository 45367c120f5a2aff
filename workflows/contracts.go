// Package workflows holds Jardinier's durable workflows and every name that other
// processes use to talk to them: task queue, workflow IDs, updates, queries and search
// attributes.
package workflows

import (
	"strings"

	"go.temporal.io/sdk/temporal"

	"jardinier/models"
)

// TaskQueue is the task queue of the space workflows and their activities.
const TaskQueue = "jardinier-spaces"

// spaceWorkflowIDPrefix starts the ID of every space workflow.
const spaceWorkflowIDPrefix = "space/"

// SpaceWorkflowID is the ID of the workflow that carries a space through its life.
func SpaceWorkflowID(slug string) string { return spaceWorkflowIDPrefix + slug }

// SlugFromWorkflowID is the inverse of SpaceWorkflowID; "" for another workflow.
func SlugFromWorkflowID(id string) string {
	if slug, ok := strings.CutPrefix(id, spaceWorkflowIDPrefix); ok {
		return slug
	}
	return ""
}

// Moderator decisions on an application, sent as Temporal Updates with a validator.
const (
	UpdateAccept = "accept"
	UpdateHold   = "hold"
	UpdateReject = "reject"
	// UpdateWithdraw is the applicant's own: through the link of the receipt mail, the
	// application is withdrawn and purged like a rejected one (DecisionInput with
	// Moderator ActorApplicant).
	UpdateWithdraw = "withdraw"
)

// Actions on a space in service, sent as Temporal Updates with a validator. Moderators
// send them with their name and a reason; the contact's come from signed links.
const (
	UpdateDeactivate     = "deactivate"      // ActionInput; from active
	UpdateReactivate     = "reactivate"      // ActionInput; from deactivated
	UpdateDelete         = "delete"          // ActionInput; from active or deactivated
	UpdateExempt         = "exempt"          // ActionInput; never warned nor deactivated for inactivity
	UpdateUnexempt       = "unexempt"        // ActionInput; the countdown starts again
	UpdateContactRequest = "contact-request" // ContactRequestInput; mails the contact a confirmation link
)

// QueryStatus answers the current SpaceStatus of a space workflow.
const QueryStatus = "status"

// Search attributes that let ops filter spaces in the Temporal UI. They are registered
// on the server (temporal-dev.yaml for the dev server).
var (
	SearchAttrSlug             = temporal.NewSearchAttributeKeyKeyword("JardinierSlug")
	SearchAttrStatus           = temporal.NewSearchAttributeKeyKeyword("JardinierStatus")
	SearchAttrNextcloudVersion = temporal.NewSearchAttributeKeyKeyword("JardinierNextcloudVersion")
)

// Actors recorded in the audit trail besides moderators' names.
const (
	ActorApplicant = "applicant"
	ActorSystem    = "system"
	ActorContact   = "contact" // the space's contact, through a signed link
)

// ActionInput is an action on a space in service. Token is set when the contact acts
// through a signed link: it must be the one the workflow sent last for this action.
type ActionInput struct {
	Actor  string
	Reason string
	// TokenSeq is the sequence number of the contact's signed link; 0 for moderators.
	TokenSeq int
}

// ActionResult is the space's status once the action is recorded.
type ActionResult struct{ Status models.Status }

// ContactRequestInput asks for a confirmation link to deactivate or delete the space,
// or for a new copy of the link that reactivates it.
type ContactRequestInput struct {
	// Action is UpdateDeactivate, UpdateDelete or UpdateReactivate.
	Action string
}

// ContactRequestResult says whether a link was mailed (false: the space cannot take
// that action now, or a link went out moments ago).
type ContactRequestResult struct{ Mailed bool }
