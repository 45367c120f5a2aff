package models

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CronConfig is how the cron service (`jardinier cron`) runs every space's background
// jobs (Nextcloud's cron.php).
type CronConfig struct {
	Every       time.Duration // CRON_EVERY: each space's jobs run once per interval
	Concurrency int           // CRON_CONCURRENCY: runs at once, per cron process
	Timeout     time.Duration // CRON_TIMEOUT: a run still going after that is stopped
}

// DefaultCronConfig is what Nextcloud asks of a system cron: every 5 minutes. A run
// takes seconds; one still running after 4 minutes is stuck, and stopping it leaves
// the next interval to a fresh run.
func DefaultCronConfig() CronConfig {
	return CronConfig{Every: 5 * time.Minute, Concurrency: 16, Timeout: 4 * time.Minute}
}

func (c CronConfig) validate() error {
	if c.Concurrency < 1 {
		return errors.New("CRON_CONCURRENCY: must be at least 1")
	}
	if c.Every <= 0 || c.Timeout <= 0 {
		return errors.New("CRON_EVERY, CRON_TIMEOUT: must be positive durations")
	}
	return nil
}

// CronLateIntervals is how many intervals without a successful run make a space's
// background jobs late for the moderators: one missed run is a busy runner, three
// are a broken space or no cron service at all.
const CronLateIntervals = 3

// The outcomes of a cron run, as CronRun.LastOutcome records them.
const (
	CronOK      = "ok"      // cron.php ran and exited 0
	CronFailed  = "failed"  // it ran and failed, or could not be run
	CronTimeout = "timeout" // stopped after CRON_TIMEOUT
	CronSkipped = "skipped" // paused for an upgrade or in maintenance: nothing ran
)

// CronRun is the cron service's row of one space in service: when its jobs are due
// next, which cron process holds it (the lease) and until when, and what its last run
// did. Cron processes claim due rows with FOR UPDATE SKIP LOCKED, so that two of them
// never run a space at once; a lease that expires (its process died) frees the space
// for another.
type CronRun struct {
	SpaceID uint      `gorm:"primaryKey;autoIncrement:false"`
	Slug    string    `gorm:"not null"`
	DueAt   time.Time `gorm:"not null;index"`
	// LeaseOwner is the cron process running the space now; "" when none.
	LeaseOwner string `gorm:"not null;default:''"`
	LeaseUntil *time.Time

	LastStartedAt  *time.Time
	LastDurationMS int64 `gorm:"not null;default:0"`
	LastExitCode   *int  // cron.php's exit code; nil when it did not exit by itself
	LastOutcome    string
	LastError      string
	LastOKAt       *time.Time // start of the latest run that succeeded
	CreatedAt      time.Time
}

// CronDueAfter is the first due time of the space slug strictly after t: spaces are
// spread over the interval by a hash of their slug, so that 10,000 spaces do not all
// start at the top of the interval, and each keeps its place from one run to the next
// and across cron processes.
func CronDueAfter(slug string, t time.Time, every time.Duration) time.Time {
	h := fnv.New64a()
	h.Write([]byte(slug))
	period := int64(every)
	offset := int64(h.Sum64() % uint64(period))
	n := t.UnixNano()
	due := (n-offset)/period*period + offset
	for due <= n {
		due += period
	}
	return time.Unix(0, due).UTC()
}

// SyncCronRuns gives every space in service that has no cron row one, due at its place
// in the interval after now, and returns how many were added. Rows of spaces no longer
// in service stay, with their last run; they are not claimed.
func SyncCronRuns(ctx context.Context, db *gorm.DB, now time.Time, every time.Duration) (int, error) {
	var missing []Space
	err := db.WithContext(ctx).Select("id", "slug").
		Where("status = ? AND NOT EXISTS (SELECT 1 FROM cron_runs c WHERE c.space_id = spaces.id)", StatusActive).
		Find(&missing).Error
	if err != nil {
		return 0, fmt.Errorf("find spaces without cron: %w", err)
	}
	if len(missing) == 0 {
		return 0, nil
	}
	rows := make([]CronRun, len(missing))
	for i, sp := range missing {
		rows[i] = CronRun{SpaceID: sp.ID, Slug: sp.Slug, DueAt: CronDueAfter(sp.Slug, now, every)}
	}
	res := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 1000)
	if res.Error != nil {
		return 0, fmt.Errorf("add cron rows: %w", res.Error)
	}
	return int(res.RowsAffected), nil
}

// CronClaim is a space a cron process holds the lease of, to run it once.
type CronClaim struct {
	SpaceID uint
	Slug    string
	DueAt   time.Time
	// LeaseUntil is when the lease ends (RecordAndClaimCronRuns sets it): a run must
	// be over by then, less the time to record it, or another process may start one.
	LeaseUntil time.Time `gorm:"-"`
}

// ClaimCronRuns leases to owner, until now + lease, at most limit spaces in service
// whose jobs are due and that nobody holds (or whose holder's lease expired), the most
// overdue first. Rows another process is claiming at the same moment are skipped, not
// waited for.
func ClaimCronRuns(ctx context.Context, db *gorm.DB, owner string, now time.Time, lease time.Duration, limit int) ([]CronClaim, error) {
	var claims []CronClaim
	err := db.WithContext(ctx).Raw(`UPDATE cron_runs c SET lease_owner = ?, lease_until = ?
		FROM (SELECT c2.space_id FROM cron_runs c2 JOIN spaces s ON s.id = c2.space_id
			WHERE s.status = ? AND c2.due_at <= ? AND (c2.lease_until IS NULL OR c2.lease_until < ?)
			ORDER BY c2.due_at LIMIT ? FOR UPDATE OF c2 SKIP LOCKED) due
		WHERE c.space_id = due.space_id
		RETURNING c.space_id, c.slug, c.due_at`,
		owner, now.Add(lease), StatusActive, now, now, limit).Scan(&claims).Error
	if err != nil {
		return nil, fmt.Errorf("claim due cron runs: %w", err)
	}
	return claims, nil
}

// CronResult is what one run did.
type CronResult struct {
	StartedAt time.Time
	Duration  time.Duration
	Outcome   string // one of the Cron* outcomes
	ExitCode  *int
	Error     string
}

// FinishCronRun records the run of a claimed space, frees its lease and makes it due
// one interval after the due time it ran for: a space run late (its process died)
// catches up on the next interval at once. Only a space more than a whole interval
// behind (no cron process for a while) skips to its next place in the interval. It reports false when owner no longer held the lease
// (it expired and another process took the space over): nothing is written.
func FinishCronRun(ctx context.Context, db *gorm.DB, owner string, c CronClaim, r CronResult, now time.Time, every time.Duration) (bool, error) {
	next := c.DueAt.Add(every)
	if next.Before(now.Add(-every)) {
		next = CronDueAfter(c.Slug, now, every)
	}
	updates := map[string]any{
		"lease_owner": "", "lease_until": nil, "due_at": next,
		"last_started_at": r.StartedAt, "last_duration_ms": r.Duration.Milliseconds(),
		"last_exit_code": r.ExitCode, "last_outcome": r.Outcome, "last_error": truncate(r.Error, maxCronError),
	}
	if r.Outcome == CronOK {
		updates["last_ok_at"] = r.StartedAt
	}
	res := db.WithContext(ctx).Model(&CronRun{}).Where("space_id = ? AND lease_owner = ?", c.SpaceID, owner).Updates(updates)
	if res.Error != nil {
		return false, fmt.Errorf("record cron run of %s: %w", c.Slug, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// CronFinished is a run that ended, to record: the claim it ran for and what it did.
type CronFinished struct {
	Claim  CronClaim
	Result CronResult
}

// CronBatch is what one RecordAndClaimCronRuns did: the spaces whose runs it recorded
// (those whose lease owner still held) and the spaces it leased to run next.
type CronBatch struct {
	Recorded map[uint]bool
	Claims   []CronClaim
}

// RecordAndClaimCronRuns records the finished runs of owner as FinishCronRun does and
// claims at most limit due spaces as ClaimCronRuns does, in one statement: one round
// trip and one commit however many runs ended, where a cron process at 10,000 spaces
// ends about 30 a second. A space just recorded is not claimed again by the same
// statement (it is due one interval later anyway).
func RecordAndClaimCronRuns(ctx context.Context, db *gorm.DB, owner string, finished []CronFinished, now time.Time,
	lease, every time.Duration, limit int) (CronBatch, error) {
	batch := CronBatch{Recorded: map[uint]bool{}}
	if len(finished) == 0 && limit <= 0 {
		return batch, nil
	}
	var sql strings.Builder
	var args []any
	sql.WriteString("WITH fin(space_id, due_at, started_at, duration_ms, exit_code, outcome, err) AS (VALUES ")
	if len(finished) == 0 {
		// No run to record: an empty list of the right types.
		sql.WriteString("(NULL::bigint, NULL::timestamptz, NULL::timestamptz, NULL::bigint, NULL::int, NULL::text, NULL::text)")
	}
	for i, f := range finished {
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteString("(?::bigint, ?::timestamptz, ?::timestamptz, ?::bigint, ?::int, ?::text, ?::text)")
		next := f.Claim.DueAt.Add(every)
		if next.Before(now.Add(-every)) {
			next = CronDueAfter(f.Claim.Slug, now, every)
		}
		r := f.Result
		args = append(args, f.Claim.SpaceID, next.UTC(), r.StartedAt.UTC(), r.Duration.Milliseconds(), r.ExitCode, r.Outcome,
			truncate(r.Error, maxCronError))
	}
	sql.WriteString(`),
	rec AS (UPDATE cron_runs c SET lease_owner = '', lease_until = NULL, due_at = fin.due_at,
			last_started_at = fin.started_at, last_duration_ms = fin.duration_ms, last_exit_code = fin.exit_code,
			last_outcome = fin.outcome, last_error = fin.err,
			last_ok_at = CASE WHEN fin.outcome = ? THEN fin.started_at ELSE c.last_ok_at END
		FROM fin WHERE c.space_id = fin.space_id AND c.lease_owner = ?
		RETURNING c.space_id),
	claim AS (UPDATE cron_runs c SET lease_owner = ?, lease_until = ?
		FROM (SELECT c2.space_id FROM cron_runs c2 JOIN spaces s ON s.id = c2.space_id
			WHERE s.status = ? AND c2.due_at <= ? AND (c2.lease_until IS NULL OR c2.lease_until < ?)
				AND c2.space_id NOT IN (SELECT space_id FROM fin WHERE space_id IS NOT NULL)
			ORDER BY c2.due_at LIMIT ? FOR UPDATE OF c2 SKIP LOCKED) due
		WHERE c.space_id = due.space_id
		RETURNING c.space_id, c.slug, c.due_at)
	SELECT true AS recorded, space_id, '' AS slug, NULL::timestamptz AS due_at FROM rec
	UNION ALL SELECT false, space_id, slug, due_at FROM claim`)
	args = append(args, CronOK, owner, owner, now.Add(lease), StatusActive, now, now, max(limit, 0))
	var rows []struct {
		Recorded bool
		SpaceID  uint
		Slug     string
		DueAt    *time.Time
	}
	if err := db.WithContext(ctx).Raw(sql.String(), args...).Scan(&rows).Error; err != nil {
		return CronBatch{}, fmt.Errorf("record and claim cron runs: %w", err)
	}
	for _, r := range rows {
		if r.Recorded {
			batch.Recorded[r.SpaceID] = true
		} else if r.DueAt != nil {
			batch.Claims = append(batch.Claims, CronClaim{SpaceID: r.SpaceID, Slug: r.Slug, DueAt: r.DueAt.UTC(),
				LeaseUntil: now.Add(lease)})
		}
	}
	return batch, nil
}

// maxCronError bounds the error kept of a run: cron.php may print a stack trace.
const maxCronError = 2000

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// CronLateSince is the start of the window in which a space in service must have had a
// successful run not to be late.
func CronLateSince(now time.Time, every time.Duration) time.Time {
	return now.Add(-CronLateIntervals * every)
}

// CronLateCondition is the SQL condition on spaces of the spaces in service whose
// background jobs are late for the moderators: the last run failed or timed out, or
// no run succeeded since since (CronLateSince) although the space was in service
// before. Its two arguments are since, twice.
const CronLateCondition = `spaces.status = 'active' AND (
	EXISTS (SELECT 1 FROM cron_runs c WHERE c.space_id = spaces.id AND c.last_outcome IN ('failed', 'timeout'))
	OR (COALESCE(spaces.provisioned_at, spaces.submitted_at) < ?
		AND NOT EXISTS (SELECT 1 FROM cron_runs c WHERE c.space_id = spaces.id AND c.last_ok_at >= ?)))`

// Late reports whether the run recorded in r makes its space late (CronLateCondition),
// for a space in service since provisioned.
func (r *CronRun) Late(provisioned, now time.Time, every time.Duration) bool {
	since := CronLateSince(now, every)
	if r == nil {
		return provisioned.Before(since)
	}
	if r.LastOutcome == CronFailed || r.LastOutcome == CronTimeout {
		return true
	}
	return provisioned.Before(since) && (r.LastOKAt == nil || r.LastOKAt.Before(since))
}

// SMTPRelay is an SMTP server given as a URL, as SMTP_URL and NEXTCLOUD_SMTP_URL are:
// smtp://[user:password@]host[:port][?tls=opportunistic|required|none] or
// smtps://[user:password@]host[:port].
type SMTPRelay struct {
	Host      string
	Port      int
	Implicit  bool // smtps: TLS from the first byte
	User      string
	Password  string
	TLSPolicy string // smtp only: opportunistic (default), required or none
}

// ParseSMTPURL reads an SMTP URL. Its errors never repeat the URL, which may hold a
// password.
func ParseSMTPURL(raw string) (SMTPRelay, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPRelay{}, errors.New("want smtp://[user:password@]host:port or smtps://...")
	}
	r := SMTPRelay{Host: u.Hostname(), TLSPolicy: u.Query().Get("tls")}
	switch u.Scheme {
	case "smtp":
		r.Port = 25
		switch r.TLSPolicy {
		case "":
			r.TLSPolicy = "opportunistic"
		case "opportunistic", "required", "none":
		default:
			return SMTPRelay{}, fmt.Errorf("tls=%q: want opportunistic, required or none", r.TLSPolicy)
		}
	case "smtps":
		if r.TLSPolicy != "" {
			return SMTPRelay{}, fmt.Errorf("smtps:// always uses TLS, remove tls=%q", r.TLSPolicy)
		}
		r.Port, r.Implicit = 465, true
	default:
		return SMTPRelay{}, errors.New("want smtp://[user:password@]host:port or smtps://...")
	}
	if r.Host == "" {
		return SMTPRelay{}, errors.New("no host")
	}
	if p := u.Port(); p != "" {
		if r.Port, err = strconv.Atoi(p); err != nil || r.Port < 1 || r.Port > 65535 {
			return SMTPRelay{}, fmt.Errorf("port %q: not a port number", p)
		}
	}
	if u.User != nil {
		r.User = u.User.Username()
		r.Password, _ = u.User.Password()
	}
	return r, nil
}
