// Package workflows holds Jardinier's durable workflows and every name that other
// processes use to talk to them. This file holds the contract of the space workflow:
// task queue, workflow type and IDs, updates, queries, signals, search attributes,
// audit actions, and the types they carry; contracts_fleet.go holds those of the
// workflows over the whole fleet.
package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"jardinier/models"
)

// TaskQueue is the task queue of every Jardinier workflow and activity.
const TaskQueue = "jardinier-spaces"

// MailTaskQueue is the task queue of the mail activities (mail.Activities), the mail
// lane: its workers set Temporal's rate limit of the queue to MAIL_RATE, which the
// server then holds for every worker together, and mails leave its backlog by priority
// (MailPriority).
const MailTaskQueue = "jardinier-mails"

// SpaceWorkflowType is the name SpaceWorkflow is registered under (worker/worker.go);
// recorded histories carry it, so it never changes.
const SpaceWorkflowType = "SpaceWorkflow"

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

// Moderator decisions on an application, sent as Temporal Updates with a validator
// (DecisionInput, DecisionResult). Where each is allowed: transitions.go.
const (
	UpdateAccept = "accept"
	UpdateHold   = "hold"
	UpdateReject = "reject"
	// UpdateWithdraw is the applicant's own, through the link of the receipt mail: the
	// application ends and is purged like a rejected one (DecisionInput with Moderator
	// models.ActorApplicant).
	UpdateWithdraw = "withdraw"
)

// Actions on a space in service, sent as Temporal Updates with a validator. Moderators
// send them with their name and a reason; the contact's come from signed links. Where
// each is allowed: transitions.go.
const (
	UpdateDeactivate     = "deactivate"      // ActionInput
	UpdateReactivate     = "reactivate"      // ActionInput
	UpdateDelete         = "delete"          // ActionInput
	UpdateExempt         = "exempt"          // ActionInput; never warned nor deactivated for inactivity
	UpdateUnexempt       = "unexempt"        // ActionInput; the countdown starts again
	UpdateContactRequest = "contact-request" // ContactRequestInput; mails the contact a confirmation link
	// UpdateOffice switches the space's office suite (OfficeInput): the app of the old
	// suite disabled, the new one's enabled and configured. Sent by the system with the
	// suite in use, it writes that suite's settings again (the operator changed them).
	UpdateOffice = "office"
	// UpdateSetLimits gives the space limits of its own, which the fleet's defaults
	// leave alone, or takes it back to the defaults (SetLimitsInput).
	UpdateSetLimits = "set-limits"
)

// QueryStatus answers the current SpaceStatus of a space workflow.
const QueryStatus = "status"

// SignalPolicyChanged tells a space workflow of a new version of the inactivity policy
// (PolicyChanged); it plans its next step again at once.
const SignalPolicyChanged = "policy-changed"

// PolicyChanged is a new version of the inactivity policy. A workflow keeps the
// highest version it was told of, whatever the order signals arrive in.
type PolicyChanged struct {
	Version int
	Policy  models.InactivityPolicy
}

// Search attributes that let ops filter spaces in the Temporal UI. They are registered
// on the server (temporal-dev.yaml for the dev server).
var (
	SearchAttrSlug             = temporal.NewSearchAttributeKeyKeyword("JardinierSlug")
	SearchAttrStatus           = temporal.NewSearchAttributeKeyKeyword("JardinierStatus")
	SearchAttrNextcloudVersion = temporal.NewSearchAttributeKeyKeyword("JardinierNextcloudVersion")
)

// Actions recorded in the audit trail (models.AuditEvent.Action) that `/timeline`
// shows, besides the updates' names (UpdateAccept... UpdateUnexempt) and the steps of
// the inactivity policy (models.Step).
const (
	ActionSubmit             = "submit"
	ActionProvisioned        = "provisioned"
	ActionProvisioningFailed = "provisioning_failed"
	ActionActivitySeen       = "activity_seen" // the space was used: a new countdown starts
	// ActionPolicyHeld: the deactivation or deletion is due, but no warning of the
	// countdown reached anyone; it waits for the moderators.
	ActionPolicyHeld = "policy_held"
	// ActionRequestPrefix starts the contact's request for a confirmation link:
	// "request_deactivate", "request_delete".
	ActionRequestPrefix  = "request_"
	ActionUpgradeStarted = "upgrade_started"
	ActionUpgradeFailed  = "upgrade_failed"
	ActionUpgraded       = "upgraded"
	// ActionOfficePrefix starts the action of a switch of office suite, which ends with
	// the new suite: "office_collabora", "office_onlyoffice", "office_none".
	ActionOfficePrefix = "office_"
	// ActionOfficeRefreshed: the settings of the space's office suite were written
	// again, as the configuration changed (UpdateOffice sent by the system).
	ActionOfficeRefreshed = "office_refreshed"
	// ActionLimitsApplied: a version of the fleet's default limits applied to the space.
	ActionLimitsApplied = "limits_applied"
)

// SpaceInput starts the workflow of one space, on submission of its application. It
// carries no personal data: activities read the application by ID.
type SpaceInput struct {
	ApplicationID    string
	Slug             string
	OfficeSuite      models.OfficeSuite
	Bucket           string // the space's S3 bucket
	Domain           string // <slug>.<base domain>
	NextcloudVersion string // the version new spaces are installed with
	// State carries the space over Continue-As-New; nil when the application is new.
	State *SpaceState
}

// SpaceState is what a space workflow carries from one run to the next: the workflow
// holds it whole and passes it whole to Continue-As-New, so a field added here crosses
// runs by itself. Its JSON is in recorded histories: add fields, never rename them.
type SpaceState struct {
	Status           models.Status
	NextcloudVersion string
	Reason           string // of the last transition
	LastError        string // of the last failed provisioning
	Steps            []Step // the most recent, at most maxSteps
	Seq              int    // transitions recorded, for idempotent audit keys
	Holds            int    // on_hold mails sent
	Failures         int    // failed provisionings
	Lifecycle        Lifecycle
	// ContactChange is the change of the contact's address under way; nil if none.
	ContactChange *ContactChange `json:",omitempty"`
	// OfficeSuite is the suite the space offers since it last switched (UpdateOffice);
	// "" until then: the application's (SpaceInput.OfficeSuite). OfficeFingerprint
	// names the settings last written into it (nextcloud.OfficeFingerprint).
	OfficeSuite       models.OfficeSuite `json:",omitempty"`
	OfficeFingerprint string             `json:",omitempty"`
	Limits            SpaceLimits
}

// SpaceLimits are the limits a space holds and where they come from.
type SpaceLimits struct {
	// Applied are the limits the instance enforces; zero for a space provisioned before
	// the defaults were versioned, which holds the limits of then.
	Applied models.Limits
	// Own is set for limits a moderator gave the space: the fleet's defaults leave them.
	Own bool
	// Version is the version of the fleet's defaults the space was last told of.
	Version int
	// Waiting is the newest request of a rollout not applied yet (the space was busy or
	// deactivated); Answered once the rollout has its answer.
	Waiting *WaitingLimits
}

// WaitingLimits is a rollout's request waiting for the space to be active.
type WaitingLimits struct {
	Request  ApplyLimitsRequest
	Answered bool
}

// SetLimitsInput is a moderator's limits for one space. Limits nil takes the space back
// to the fleet's defaults in force.
type SetLimitsInput struct {
	Actor  string
	Reason string
	Limits *models.Limits
}

// SetLimitsResult is what the space holds once the limits are applied.
type SetLimitsResult struct {
	Limits models.Limits
	Own    bool
}

// SpaceResult is how a space's workflow ended.
type SpaceResult struct{ Status models.Status }

// DecisionInput is a moderator's decision on an application.
type DecisionInput struct {
	Moderator string
	Reason    string
}

// DecisionResult is the status of the space right after the decision was recorded.
type DecisionResult struct{ Status models.Status }

// Step is one transition in a space's life, as the status query reports it.
type Step struct {
	Status models.Status
	Actor  string
	Reason string
	At     time.Time
}

// SpaceStatus answers QueryStatus.
type SpaceStatus struct {
	Slug             string
	Status           models.Status
	NextcloudVersion string
	Reason           string // of the last transition
	LastError        string // of the last failed provisioning
	Steps            []Step
	Exempt           bool
	LastActivity     time.Time   // the last activity seen on the space
	NextStep         models.Step // the next step of the inactivity policy, "" if none
	NextStepAt       time.Time
	DeletionAt       time.Time
	// Plan is every step ahead, NextStep first, on the dates the workflow will take
	// them if nothing happens; PolicyVersion the version of the policy it follows.
	Plan          []models.PlannedStep
	PolicyVersion int
	// OfficeSuite is the office suite the space offers.
	OfficeSuite models.OfficeSuite
	// Limits are what the space holds (zero: the defaults of before they were
	// versioned), OwnLimits whether a moderator gave them, LimitsVersion the version of
	// the fleet's defaults it was last told of.
	Limits        models.Limits
	OwnLimits     bool
	LimitsVersion int
}

// ActionInput is an action on a space in service. TokenSeq is set when the contact acts
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
// or for a new copy of the link that reactivates it, or starts a change of the
// contact's address (RequestChangeContact).
type ContactRequestInput struct {
	// Action is UpdateDeactivate, UpdateDelete, UpdateReactivate, RequestChangeContact
	// or UpdateOffice.
	Action string
	// NewEmail is the new contact address of RequestChangeContact, sealed with
	// SECRET_KEY: it sits in history, never in clear.
	NewEmail models.Sealed `json:",omitempty"`
	// Suite is the office suite asked for, with UpdateOffice.
	Suite models.OfficeSuite `json:",omitempty"`
}

// OfficeInput switches a space's office suite to Suite, for a moderator (Actor their
// name, with a reason), the contact through a signed link (TokenSeq, the suite of their
// request), or the system writing the settings of the suite in use again.
type OfficeInput struct {
	Actor    string
	Reason   string
	Suite    models.OfficeSuite
	TokenSeq int
}

// OfficeResult is the space's status and office suite once the switch is recorded.
type OfficeResult struct {
	Status      models.Status
	OfficeSuite models.OfficeSuite
}

// ContactRequestResult says whether a link was mailed (false: the space cannot take
// that action now, or a link went out moments ago).
type ContactRequestResult struct{ Mailed bool }

// The change of the contact's address (contact.go): the contact request
// RequestChangeContact mails a link to the current address; UpdateConfirmContact takes
// that link, which mails one to the new address, then that one, which makes the change.
const (
	RequestChangeContact = "change_contact"  // ContactRequestInput.Action, with NewEmail
	UpdateConfirmContact = "confirm-contact" // ConfirmContactInput
	// ActionContactChanged is recorded in the audit trail when the change is made.
	ActionContactChanged = "contact_changed"
)

// The two links of a change of address, in the order they are confirmed.
const (
	ContactStepCurrent = "current" // mailed to the current address
	ContactStepNew     = "new"     // mailed to the new address once the current one confirmed
)

// ConfirmContactInput is the contact's click on one of the two links of a change of
// address: Step says which, TokenSeq is the request the link belongs to.
type ConfirmContactInput struct {
	Step     string
	TokenSeq int
}

// ConfirmContactResult says whether the change is made (false: the link of the
// current address was confirmed, the new address's link is mailed).
type ConfirmContactResult struct{ Changed bool }

// UpdateRestore puts a space back as it was at a time of the last 30 days (RestoreInput,
// RestoreResult): database and files, inside the space's workflow.
const UpdateRestore = "restore"

// Audit actions of a restore.
const (
	ActionRestored      = "restored"
	ActionRestoreFailed = "restore_failed"
)

// RestoreInput asks for a space as it was at At. DryRun only says what would change.
type RestoreInput struct {
	Actor  string
	Reason string
	At     time.Time
	DryRun bool
}

// RestoreResult says what the restore did, or would do.
type RestoreResult struct {
	DryRun bool
	// The database backup restored: the newest taken at or before At.
	BackupKey     string
	BackupTakenAt time.Time
	// Snapshot is the dump of the database taken just before, to undo the restore.
	Snapshot        string
	FilesRestored   int
	FilesRemoved    int
	FilesUnchanged  int
	Changes         []RestoreChange // the first 100
	FileCacheErrors string          // what Nextcloud's file scan reported, if anything
}

// RestoreChange is one file a restore puts back or removes.
type RestoreChange struct {
	Key    string
	Action string // restored, removed
}
