package nextcloud

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"jardinier/models"
)

// AdminEmailsInput asks for the addresses of a space's admins.
type AdminEmailsInput struct{ Slug string }

// AdminEmailsResult holds the admins' addresses, each sealed with the worker's key:
// they are personal data and never sit in clear text in workflow history.
type AdminEmailsResult struct{ Addresses []models.Sealed }

// ReadAdminEmails reads the addresses of the space's admins, for the inactivity
// mails; a space without any gives an empty list.
func (a *Activities) ReadAdminEmails(ctx context.Context, in AdminEmailsInput) (AdminEmailsResult, error) {
	logger := a.logger(ctx, in.Slug)
	addrs, err := a.Driver.AdminEmails(ctx, in.Slug)
	if err != nil {
		return AdminEmailsResult{}, a.failure(logger, "read admin addresses of space", in.Slug, err)
	}
	if len(addrs) > 0 && a.Sealer == nil {
		return AdminEmailsResult{}, a.failure(logger, "read admin addresses of space", in.Slug,
			fmt.Errorf("%w: no key to seal the addresses", ErrPermanent))
	}
	res := AdminEmailsResult{Addresses: make([]models.Sealed, 0, len(addrs))}
	for _, addr := range addrs {
		res.Addresses = append(res.Addresses, a.Sealer.Seal(addr))
	}
	logger.Info("Admin addresses read", "count", len(addrs))
	return res, nil
}

// normalizeEmails lowercases, sorts and deduplicates addresses, dropping empty ones.
func normalizeEmails(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if a = strings.ToLower(strings.TrimSpace(a)); a != "" {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// AdminEmails implements Driver: the admin account made by CreateAdmin and the users
// marked admin by SetUserEmail, unless disabled.
func (s *Simulator) AdminEmails(ctx context.Context, slug string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, err := s.enterInstalled(ctx, OpAdminEmails, slug)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for name, u := range sp.Users {
		if (u.Admin || name == sp.AdminUser) && !u.Disabled {
			addrs = append(addrs, u.Email)
		}
	}
	return normalizeEmails(addrs), nil
}

// OpAdminEmails names AdminEmails in InjectFailure and Calls.
const OpAdminEmails = "AdminEmails"

// SetUserEmail gives user of the space an address, creating the user if needed (as
// the user would in their settings), in the admin group if admin is set. It is for
// tests and demonstrations, and does nothing for a space that is not installed.
func (s *Simulator) SetUserEmail(slug, user, email string, admin bool) {
	s.hookChange(slug, func(sp *simSpace) {
		u := sp.user(user)
		u.Email, u.Admin = email, admin || u.Admin
	})
}

// SetUserDisabled disables or enables user of the space, creating the user if needed.
// It is for tests and demonstrations.
func (s *Simulator) SetUserDisabled(slug, user string, disabled bool) {
	s.hookChange(slug, func(sp *simSpace) { sp.user(user).Disabled = disabled })
}

// adminEmailsQuery lists the addresses of the admin group's members that are not
// disabled: Nextcloud keeps a user's address in the preference settings/email (what
// IUser::getSystemEMailAddress reads) and a disabled user's core/enabled as 'false'.
// It reads the database, so that it works in maintenance mode, when occ does not.
const adminEmailsQuery = `SELECT p.configvalue FROM oc_group_user g
	JOIN oc_preferences p ON p.userid = g.uid AND p.appid = 'settings' AND p.configkey = 'email'
	WHERE g.gid = 'admin' AND p.configvalue <> ''
	AND NOT EXISTS (SELECT 1 FROM oc_preferences d WHERE d.userid = g.uid
		AND d.appid = 'core' AND d.configkey = 'enabled' AND d.configvalue = 'false')`

// AdminEmails implements Driver, reading the space's database (adminEmailsQuery).
func (d *Occ) AdminEmails(ctx context.Context, slug string) ([]string, error) {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return nil, err
	}
	var addrs []string
	err := d.withSpaceDB(ctx, slug, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, adminEmailsQuery)
		if err != nil {
			return err
		}
		addrs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("admin addresses of %s: %w", slug, err)
	}
	return normalizeEmails(addrs), nil
}
