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
	// ActionRequestPrefix starts the contact's request for a confirmation link:
	// "request_deactivate", "request_delete".
	ActionRequestPrefix  = "request_"
	ActionUpgradeStarted = "upgrade_started"
	ActionUpgradeFailed  = "upgrade_failed"
	ActionUpgraded       = "upgraded"
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
// or for a new copy of the link that reactivates it.
type ContactRequestInput struct {
	// Action is UpdateDeactivate, UpdateDelete or UpdateReactivate.
	Action string
}

// ContactRequestResult says whether a link was mailed (false: the space cannot take
// that action now, or a link went out moments ago).
type ContactRequestResult struct{ Mailed bool }

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
