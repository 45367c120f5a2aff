package workflows

import (
	"strconv"
	"time"

	"jardinier/models"
)

// This file holds the contracts of the workflows over the whole fleet: fleet upgrades
// and the quota rebalance.

// upgradeWorkflowIDPrefix starts the ID of every fleet upgrade workflow.
const upgradeWorkflowIDPrefix = "upgrade/"

// UpgradeWorkflowID is the ID of the workflow of one fleet upgrade.
func UpgradeWorkflowID(id string) string { return upgradeWorkflowIDPrefix + id }

// FleetUpgradeWorkflowType is the name FleetUpgradeWorkflow is registered under, for
// visibility queries (`WorkflowType = '...'`).
const FleetUpgradeWorkflowType = "FleetUpgradeWorkflow"

// Controls of a fleet upgrade (Temporal Updates with a validator), its progress query,
// and the signals it exchanges with the space workflows.
const (
	UpdateUpgradePause   = "pause"    // UpgradeControlInput; no new space starts
	UpdateUpgradeResume  = "resume"   // UpgradeControlInput; after a pause or an automatic pause
	UpdateUpgradeAbort   = "abort"    // UpgradeControlInput; spaces under way finish, no new one starts
	QueryUpgradeProgress = "progress" // UpgradeProgress

	// SignalUpgradeSpace asks a space workflow to upgrade (UpgradeSpaceRequest). The
	// space upgrades inside its own workflow, so its history shows every step.
	SignalUpgradeSpace = "upgrade-space"
	// SignalSpaceUpgraded answers the fleet upgrade (SpaceUpgradeReport).
	SignalSpaceUpgraded = "space-upgraded"
)

// Status of a fleet upgrade.
const (
	UpgradeRunning = "running"
	UpgradePaused  = "paused"  // by an admin, or automatically (canary failure, threshold)
	UpgradeAborted = "aborted" // stopped by an admin; spaces under way finished
	UpgradeDone    = "done"
	// UpgradeFailed: stopped before any space was touched, as the apps of the target
	// could not be prepared (an approved app without a release for it); PauseReason
	// says why.
	UpgradeFailed = "failed"
)

// FleetUpgradeInput starts a fleet upgrade.
type FleetUpgradeInput struct {
	ID     string
	Target string // a full version, e.g. 32.0.3
	// Canary is how many spaces upgrade first, one at a time; CanarySlugs names them
	// instead. Any canary failure pauses the rollout.
	Canary      int
	CanarySlugs []string
	// Concurrency bounds the spaces upgrading at once in the waves after the canary.
	Concurrency int
	// MaxFailureRatio pauses the rollout once failed/finished passes it (after at least
	// MinFinished spaces), e.g. 0.05.
	MaxFailureRatio float64
	Requester       string
	// State carries the upgrade over Continue-As-New; nil at the start.
	State *FleetUpgradeState
}

// FleetUpgradeState is what a fleet upgrade carries from one run to the next.
type FleetUpgradeState struct {
	Status      string
	PauseReason string
	Pending     []string // slugs not started yet, in order
	Running     map[string]time.Time
	Canaries    []string
	Upgraded    int
	Failed      int
	Skipped     int
	Refused     []RefusedSpace
	Downtimes   []time.Duration // of every upgraded space, for percentiles
	StartedAt   time.Time
	// Through holds, for a space more than one major behind the target, the releases
	// it goes through first, in order (one code base per major in between).
	Through map[string][]string `json:",omitempty"`
}

// RefusedSpace is a space the upgrade leaves out because it is too far behind.
type RefusedSpace struct {
	Slug    string
	Version string
	Steps   []string // the versions it must go through first, in order
	// Missing are the majors in between whose code base is not present, so that the
	// space cannot go through them: the releases to install before it can move.
	Missing []string `json:",omitempty"`
}

// UpgradeControlInput pauses, resumes or aborts a fleet upgrade.
type UpgradeControlInput struct {
	Actor  string
	Reason string
}

// UpgradeControlResult is the upgrade's status after the control.
type UpgradeControlResult struct{ Status string }

// UpgradeProgress answers QueryUpgradeProgress.
type UpgradeProgress struct {
	ID           string
	Target       string
	Status       string
	PauseReason  string
	Total        int // spaces included (refused ones are not)
	Upgraded     int
	Failed       int
	Skipped      int // deactivated or being deleted when their turn came
	Running      int
	Remaining    int // not started yet
	Refused      []RefusedSpace
	StartedAt    time.Time
	EstimatedEnd time.Time // zero until a space has finished
	DowntimeP50  time.Duration
	DowntimeP95  time.Duration
}

// UpgradeSpaceRequest asks a space to upgrade to Target and to report to UpgradeID.
type UpgradeSpaceRequest struct {
	UpgradeID string // the fleet upgrade's workflow ID
	Target    string
	// Through are the releases to upgrade to first, in order, each with its snapshot
	// and rollback: a space more than one major behind goes through each major.
	Through []string `json:",omitempty"`
}

// Outcomes of one space's upgrade; they are also its status in the upgrade's list.
const (
	SpaceUpgraded      = models.UpgradeSpaceUpgraded
	SpaceUpgradeFailed = models.UpgradeSpaceFailed  // rolled back: database restored, old code, out of maintenance
	SpaceSkipped       = models.UpgradeSpaceSkipped // deactivated, deleted, or not on a version that can go to the target
)

// SpaceUpgradeReport is a space's answer to UpgradeSpaceRequest.
type SpaceUpgradeReport struct {
	Slug     string
	Outcome  string
	From     string
	To       string
	Downtime time.Duration // maintenance on to off
	Error    string
	Status   models.Status // the space's status when it answered
}

// QuotaScheduleID names the Temporal schedule that starts QuotaRebalanceWorkflow at a
// regular interval (QUOTA_REBALANCE_EVERY); ops find it under Schedules in the
// Temporal UI, with the result of each run.
const QuotaScheduleID = "quota-rebalance"

// QuotaRebalanceWorkflowType is the name QuotaRebalanceWorkflow is registered under.
const QuotaRebalanceWorkflowType = "QuotaRebalanceWorkflow"

// QuotaRebalanceInput starts a rebalance; the zero value is what the schedule sends.
type QuotaRebalanceInput struct {
	PageSize int // 0: quotaPageSize
}

// QuotaRebalanceResult is what a rebalance did, shown by the Temporal UI.
type QuotaRebalanceResult struct {
	Spaces  int      // spaces whose quota was shared out
	Changed int      // quotas rewritten
	Full    []string // spaces holding their whole quota or more: nothing more can be written
	Failed  []string // spaces whose quota could not be shared (reasons in the activity's logs)
	// FullCount and FailedCount count them all; the lists stop at maxListedSlugs.
	FullCount   int
	FailedCount int
}

// PolicyRolloutWorkflowType is the name PolicyRolloutWorkflow is registered under.
const PolicyRolloutWorkflowType = "PolicyRolloutWorkflow"

// policyRolloutIDPrefix starts the ID of every policy rollout workflow.
const policyRolloutIDPrefix = "policy/"

// PolicyRolloutWorkflowID is the ID of the workflow that tells every space of one
// version of the inactivity policy: one rollout per version.
func PolicyRolloutWorkflowID(version int) string {
	return policyRolloutIDPrefix + strconv.Itoa(version)
}

// PolicyRolloutInput starts the rollout of a policy version to every space in service.
type PolicyRolloutInput struct {
	Change PolicyChanged
	// Window bounds the signals in flight at once (0: policyWindow); PageSize the
	// spaces read at a time (0: policyPageSize).
	Window   int
	PageSize int
	// After and Done carry the rollout over Continue-As-New: the last slug signalled,
	// and the counts so far.
	After string
	Done  PolicyRolloutResult
}

// PolicyRolloutResult counts the space workflows told of the new version.
type PolicyRolloutResult struct {
	Signalled int
	Gone      int // their workflow had ended meanwhile (deleted)
}

// LimitsRolloutWorkflowType is the name LimitsRolloutWorkflow is registered under.
const LimitsRolloutWorkflowType = "LimitsRolloutWorkflow"

// limitsRolloutIDPrefix starts the ID of every rollout of the fleet's default limits.
const limitsRolloutIDPrefix = "limits/"

// LimitsRolloutWorkflowID is the ID of the workflow that applies one version of the
// fleet's default limits to every space in service: one rollout per version.
func LimitsRolloutWorkflowID(version int) string {
	return limitsRolloutIDPrefix + strconv.Itoa(version)
}

// Controls of a limits rollout (Temporal Updates with a validator), its progress
// query, and the signals it exchanges with the space workflows.
const (
	UpdateLimitsPause   = "pause"    // LimitsControlInput; no new space is told
	UpdateLimitsResume  = "resume"   // LimitsControlInput; after a pause or an automatic pause
	UpdateLimitsAbort   = "abort"    // LimitsControlInput; spaces under way finish, no new one is told
	QueryLimitsProgress = "progress" // LimitsProgress

	// SignalApplyLimits asks a space workflow to apply the fleet's default limits
	// (ApplyLimitsRequest); a space with limits of its own keeps them.
	SignalApplyLimits = "apply-limits"
	// SignalLimitsApplied answers the rollout (LimitsReport).
	SignalLimitsApplied = "limits-applied"
)

// Status of a limits rollout.
const (
	LimitsRunning = "running"
	LimitsPaused  = "paused"  // by an admin, or automatically (failures past the threshold)
	LimitsAborted = "aborted" // stopped by an admin; spaces under way finished
	LimitsDone    = "done"
)

// LimitsRolloutInput starts the rollout of a version of the fleet's default limits.
type LimitsRolloutInput struct {
	Version int
	Limits  models.Limits
	Actor   string // the admin who changed the defaults
	Reason  string
	// Concurrency bounds the spaces applying the limits at once (0: limitsWindow);
	// PageSize the spaces read at a time (0: policyPageSize).
	Concurrency int
	PageSize    int
	// MaxFailureRatio pauses the rollout once failed/finished passes it (after at least
	// minFinishedForRatio spaces); 0 never pauses.
	MaxFailureRatio float64
	// State carries the rollout over Continue-As-New; nil at the start.
	State *LimitsRolloutState
}

// LimitsRolloutState is what a limits rollout carries from one run to the next.
type LimitsRolloutState struct {
	Status      string
	PauseReason string
	After       string   // the last slug read
	Pending     []string // read, not told yet, in order
	ListDone    bool     // every page was read
	Running     map[string]time.Time
	Total       int // spaces in service when the rollout started
	Counts      LimitsCounts
	Failures    []LimitsFailure // the first maxListedSlugs
	StartedAt   time.Time
}

// LimitsCounts counts the spaces' answers by outcome.
type LimitsCounts struct {
	Applied  int
	Kept     int // limits of their own, left alone
	Deferred int // deactivated: applied at their reactivation
	Skipped  int // gone, or told of a newer version already
	Failed   int
}

// LimitsFailure is a space whose limits could not be applied.
type LimitsFailure struct {
	Slug  string
	Error string
}

// LimitsControlInput pauses, resumes or aborts a limits rollout.
type LimitsControlInput struct {
	Actor  string
	Reason string
}

// LimitsControlResult is the rollout's status after the control.
type LimitsControlResult struct{ Status string }

// LimitsProgress answers QueryLimitsProgress.
type LimitsProgress struct {
	Version     int
	Limits      models.Limits
	Status      string
	PauseReason string
	Total       int
	LimitsCounts
	Running      int
	Remaining    int // not told yet
	Failures     []LimitsFailure
	StartedAt    time.Time
	EstimatedEnd time.Time // zero until a space has answered
}

// ApplyLimitsRequest asks a space to apply a version of the fleet's default limits
// and to report to RolloutID.
type ApplyLimitsRequest struct {
	RolloutID string // the rollout's workflow ID
	Version   int
	Limits    models.Limits
	Actor     string
	Reason    string
}

// Outcomes of one space in a limits rollout.
const (
	LimitsOutcomeApplied  = "applied"
	LimitsOutcomeKept     = "kept"     // the space has limits of its own
	LimitsOutcomeDeferred = "deferred" // deactivated: applied when it is reactivated
	LimitsOutcomeSkipped  = "skipped"  // gone, ending, or told of a newer version already
	LimitsOutcomeFailed   = "failed"   // the old limits stay
)

// LimitsReport is a space's answer to ApplyLimitsRequest.
type LimitsReport struct {
	Slug    string
	Version int
	Outcome string
	Error   string
}

// AnnouncementWorkflowType is the name AnnouncementWorkflow is registered under.
const AnnouncementWorkflowType = "AnnouncementWorkflow"

// announcementWorkflowIDPrefix starts the ID of every announcement's workflow.
const announcementWorkflowIDPrefix = "announcement/"

// AnnouncementWorkflowID is the ID of the workflow that sends one announcement: one
// per announcement, so that it is never sent twice.
func AnnouncementWorkflowID(id string) string { return announcementWorkflowIDPrefix + id }

// Controls of an announcement (Temporal Updates with a validator) and its progress
// query.
const (
	UpdateAnnouncementPause   = "pause"    // AnnouncementControlInput; no new mail leaves
	UpdateAnnouncementResume  = "resume"   // AnnouncementControlInput
	UpdateAnnouncementCancel  = "cancel"   // AnnouncementControlInput; mails under way finish, no other leaves
	QueryAnnouncementProgress = "progress" // AnnouncementProgress
)

// AnnouncementInput starts the sending of an announcement. It carries the
// announcement's ID only: the text is read by the mail activity, the addresses never
// leave the database.
type AnnouncementInput struct {
	ID        string
	Requester string
	// Window bounds the mails scheduled at once (0: announcementWindow).
	Window int
	// State carries the sending over Continue-As-New; nil at the start.
	State *AnnouncementState
}

// AnnouncementState is what an announcement's workflow carries from one run to the next.
type AnnouncementState struct {
	Status      models.AnnouncementStatus
	Total       int // recipients, numbered 1..Total
	Next        int // the next recipient to send to
	Sent        int
	AlreadySent int // found sent by an earlier attempt (a crash between send and answer)
	Failed      int // refused for good by the mail server
	// Requeued are recipients whose mail was taken back from the queue by a pause
	// before any worker took it: they go first on resume.
	Requeued  []int
	StartedAt time.Time
	// UnreadSpaces: spaces whose admins could not be read (admins' audience).
	UnreadSpaces int
}

// AnnouncementControlInput pauses, resumes or cancels an announcement.
type AnnouncementControlInput struct {
	Actor  string
	Reason string
}

// AnnouncementControlResult is the announcement's status after the control.
type AnnouncementControlResult struct{ Status models.AnnouncementStatus }

// AnnouncementProgress answers QueryAnnouncementProgress, and is the workflow's result.
type AnnouncementProgress struct {
	ID           string
	Status       models.AnnouncementStatus
	Total        int
	Sent         int // AlreadySent included
	Failed       int
	InFlight     int // scheduled, no answer yet
	Remaining    int // not scheduled yet
	StartedAt    time.Time
	EstimatedEnd time.Time // zero until a mail has gone, and while paused
	UnreadSpaces int       // admins' audience: spaces whose instance could not be read, whose admins it does not reach
}

// BackupScheduleID names the Temporal schedule that starts BackupFleetWorkflow every
// night at BackupHour (Paris time).
const BackupScheduleID = "database-backups"

// BackupFleetWorkflowType is the name BackupFleetWorkflow is registered under.
const BackupFleetWorkflowType = "BackupFleetWorkflow"

// BackupHour is when the nightly backups start, Paris time: the spaces' quietest hours.
const BackupHour = 1

// BackupFleetInput starts a night of backups; the zero value is what the schedule
// sends. Concurrency and Window come from BACKUP_CONCURRENCY and BACKUP_WINDOW.
type BackupFleetInput struct {
	Concurrency int
	Window      time.Duration
	PageSize    int // 0: backupPageSize
	// State carries the night over Continue-As-New; nil at the start.
	State *BackupFleetState
}

// BackupFleetState is what a night of backups carries from one run to the next.
type BackupFleetState struct {
	Night     time.Time // names the night's dumps (models.BackupKey)
	StartedAt time.Time
	Total     int    // spaces to back up, counted at the start
	After     string // the last slug handed out
	Result    BackupFleetResult
}

// BackupFleetResult is what a night of backups did, shown by the Temporal UI.
type BackupFleetResult struct {
	Spaces      int // dumped this night
	Reused      int // found dumped by an earlier attempt, not dumped again
	Bytes       int64
	Failed      []string // at most maxListedSlugs
	FailedCount int
	Expired     int // dumps deleted by the expiry pass
}

// FileHistoryWorkflowID is the ID of the one-time pass that turns the file history on
// in the buckets of spaces created before it was set at provisioning.
const FileHistoryWorkflowID = "file-history/1"

// FileHistoryWorkflowType is the name FileHistoryWorkflow is registered under.
const FileHistoryWorkflowType = "FileHistoryWorkflow"

// FileHistoryInput starts the pass; After carries it over Continue-As-New.
type FileHistoryInput struct {
	After  string
	Result FileHistoryResult
}

// FileHistoryResult counts the buckets set up.
type FileHistoryResult struct {
	Buckets     int
	Changed     int // whose versioning or lifecycle this pass changed
	Failed      []string
	FailedCount int
}
