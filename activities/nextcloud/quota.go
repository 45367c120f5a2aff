package nextcloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// A space's storage quota is shared by all its users (DOMAIN.md), but Nextcloud only
// has quotas per user. So the space's quota is shared out (QuotaShare): each user may
// use what their files use plus what the space has left, and accounts created later
// get what the space has left. A single user can thus fill the space, as if there were
// no per-user quota, and nobody can take it further once it is full. The shares follow
// use because the quota rebalance workflow shares every active space's quota out again
// at a regular interval (QUOTA_REBALANCE_EVERY).

// QuotaUsage is what sharing a space's quota found and did.
type QuotaUsage struct {
	UsedBytes int64 // everything the space holds: files, versions, trash, previews
	Accounts  int   // its accounts, disabled ones included
	Changed   int   // quotas rewritten, the default quota of new accounts included
	// LastActivity is the space's last activity (Driver.LastActivity), read at the same
	// time since the space's database is open anyway; zero if nobody ever used it.
	LastActivity time.Time
}

// QuotaShare returns the quota of each user of a space whose users use usage (login →
// bytes in their files) and which holds total bytes in all (files, versions, trash,
// previews), under a quota of quota bytes: what each uses plus what the space has
// left, so that no upload can take the space over its quota; and the default quota of
// accounts created later.
func QuotaShare(quota, total int64, usage map[string]int64) (perUser map[string]int64, newUsers int64) {
	free := max(quota-total, 0)
	perUser = make(map[string]int64, len(usage))
	for user, used := range usage {
		perUser[user] = max(used, 0) + free
	}
	return perUser, free
}

// quotaString writes bytes as Nextcloud reads a quota. Nextcloud takes 0 B for "no
// limit" in places: a full space gives 1 byte.
func quotaString(bytes int64) string {
	return strconv.FormatInt(max(bytes, 1), 10) + " B"
}

// The queries of ShareQuota. Quotas are written into Nextcloud's tables rather than
// through `occ user:setting`, which takes a PHP start per user: sharing the quotas of
// 10,000 spaces then takes seconds, not hours. Nextcloud reads a user's quota from
// oc_preferences at each request.
const (
	quotaUsersQuery = `SELECT u.uid, coalesce(p.configvalue, '') FROM oc_users u
		LEFT JOIN oc_preferences p ON p.userid = u.uid AND p.appid = 'files' AND p.configkey = 'quota'`
	defaultQuotaQuery = `SELECT coalesce((SELECT configvalue FROM oc_appconfig
		WHERE appid = 'files' AND configkey = 'default_quota'), '')`
	setQuotaStatement = `INSERT INTO oc_preferences (userid, appid, configkey, configvalue)
		VALUES ($1, 'files', 'quota', $2)
		ON CONFLICT (userid, appid, configkey) DO UPDATE SET configvalue = EXCLUDED.configvalue`
	setDefaultQuotaStatement = `INSERT INTO oc_appconfig (appid, configkey, configvalue)
		VALUES ('files', 'default_quota', $1)
		ON CONFLICT (appid, configkey) DO UPDATE SET configvalue = EXCLUDED.configvalue`
)

// ShareQuota implements Driver: it shares the space's quota out (QuotaShare) and
// rewrites the quotas that differ, in one transaction of the space's database. Quotas
// changed by the space's admin are put back.
func (d *Occ) ShareQuota(ctx context.Context, slug string, quota int64) (QuotaUsage, error) {
	if quota <= 0 {
		return QuotaUsage{}, permanent("quota %d is not positive", quota)
	}
	var usage QuotaUsage
	err := d.withSpaceDB(ctx, slug, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			total, files, err := readStorageUsage(ctx, tx)
			if err != nil {
				return err
			}
			current, err := readQuotas(ctx, tx)
			if err != nil {
				return err
			}
			var currentDefault string
			if err := tx.QueryRow(ctx, defaultQuotaQuery).Scan(&currentDefault); err != nil {
				return err
			}
			for user := range current {
				if _, ok := files[user]; !ok {
					files[user] = 0 // an account without files yet gets its share too
				}
			}
			for user := range files {
				if _, ok := current[user]; !ok {
					delete(files, user) // a storage left by a deleted account
				}
			}
			last, err := readLastActivity(ctx, tx)
			if err != nil {
				return fmt.Errorf("last activity: %w", err)
			}
			perUser, newUsers := QuotaShare(quota, total, files)
			usage = QuotaUsage{UsedBytes: total, Accounts: len(current), LastActivity: last}
			for _, user := range slices.Sorted(mapsKeys(perUser)) {
				if want := quotaString(perUser[user]); current[user] != want {
					if _, err := tx.Exec(ctx, setQuotaStatement, user, want); err != nil {
						return fmt.Errorf("quota of %s: %w", user, err)
					}
					usage.Changed++
				}
			}
			if want := quotaString(newUsers); currentDefault != want {
				if _, err := tx.Exec(ctx, setDefaultQuotaStatement, want); err != nil {
					return fmt.Errorf("default quota: %w", err)
				}
				usage.Changed++
			}
			return nil
		})
	})
	if err != nil {
		return QuotaUsage{}, fmt.Errorf("share the quota of %s: %w", slug, err)
	}
	return usage, nil
}

// readQuotas returns every account of a space with its quota as Nextcloud stores it
// ("" if it has none of its own).
func readQuotas(ctx context.Context, tx pgx.Tx) (map[string]string, error) {
	rows, err := tx.Query(ctx, quotaUsersQuery)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	quotas := map[string]string{}
	for rows.Next() {
		var user, quota string
		if err := rows.Scan(&user, &quota); err != nil {
			return nil, err
		}
		quotas[user] = quota
	}
	return quotas, rows.Err()
}

// SpaceQuota is a space whose quota is to be shared out.
type SpaceQuota struct {
	Slug       string
	QuotaBytes int64
}

// ShareQuotasInput asks to share out the quotas of some spaces.
type ShareQuotasInput struct {
	Spaces []SpaceQuota
	// Concurrency bounds the spaces handled at once; 0 means defaultQuotaConcurrency.
	Concurrency int
}

// SpaceQuotaResult is what sharing one space's quota found, or why it failed.
type SpaceQuotaResult struct {
	Slug  string
	Usage QuotaUsage
	// Error says why the space's quota could not be shared; empty on success.
	Error string
}

// ShareQuotasResult has one line per space, in the order asked.
type ShareQuotasResult struct{ Spaces []SpaceQuotaResult }

// defaultQuotaConcurrency is how many spaces' quotas are shared at once: each takes a
// connection to the fleet's PostgreSQL for a few milliseconds.
const defaultQuotaConcurrency = 8

// ShareSpaceQuotas shares out the quota of each space (Driver.ShareQuota). A space
// that fails is reported in its line and does not stop the others: one broken
// instance must not leave the rest of the fleet with stale shares. Sharing is
// idempotent, so a retry after a lost worker simply does it again.
func (a *Activities) ShareSpaceQuotas(ctx context.Context, in ShareQuotasInput) (ShareQuotasResult, error) {
	concurrency := in.Concurrency
	if concurrency <= 0 {
		concurrency = defaultQuotaConcurrency
	}
	res := ShareQuotasResult{Spaces: make([]SpaceQuotaResult, len(in.Spaces))}
	var g errgroup.Group
	g.SetLimit(concurrency)
	// Heartbeats go on while a space is slow to answer: only a lost worker should
	// make Temporal run the page again.
	_ = heartbeating(ctx, func() error {
		for i, sp := range in.Spaces {
			if ctx.Err() != nil {
				break
			}
			g.Go(func() error {
				line := SpaceQuotaResult{Slug: sp.Slug}
				usage, err := a.Driver.ShareQuota(ctx, sp.Slug, sp.QuotaBytes)
				if err != nil {
					line.Error = err.Error()
					logger := a.logger(ctx, sp.Slug)
					if errors.Is(err, ErrNotInstalled) {
						logger.Info("No instance to share the quota of", "error", err)
					} else {
						logger.Warn("Could not share the quota of space", "error", err)
					}
				} else {
					line.Usage = usage
				}
				res.Spaces[i] = line // each goroutine its own line
				return nil
			})
		}
		return g.Wait() // every space's failure is in its line
	})
	if err := ctx.Err(); err != nil {
		return ShareQuotasResult{}, err
	}
	return res, nil
}
