package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"jardinier/models"
	"jardinier/workflows"
)

// pageSize is the number of rows of a list screen page.
const pageSize = 50

// applicationRequest is the public application form. Pointers tell a missing answer
// from a zero.
type applicationRequest struct {
	OrganizationName string   `json:"organization_name"`
	OrganizationType string   `json:"organization_type"`
	Sectors          []string `json:"sectors"`
	FoundedYear      *int     `json:"founded_year"`
	Employees        *int     `json:"employees"`
	Members          *int     `json:"members"`
	Beneficiaries    *int     `json:"beneficiaries"`
	AnnualBudgetEUR  *int64   `json:"annual_budget_eur"`
	Mission          string   `json:"mission"`
	Actions          string   `json:"actions"`
	Needs            string   `json:"needs"`
	Slug             string   `json:"slug"`
	AccountsNeeded   *int     `json:"accounts_needed"`
	OfficeSuite      string   `json:"office_suite"`
	ContactEmail     string   `json:"contact_email"`
	WorksInFrench    *bool    `json:"works_in_french"`
	StorageNeededGB  *int     `json:"storage_needed_gb"`
	TermsAccepted    *bool    `json:"terms_accepted"`
}

// submissionResponse answers a submission.
type submissionResponse struct {
	ID     string        `json:"id"`
	Slug   string        `json:"slug"`
	Status models.Status `json:"status"`
}

// decodeJSON reads a request body strictly: unknown fields, trailing data, wrong types
// and oversized bodies are refused with an error naming the field when there is one.
func decodeJSON(r *http.Request, dst any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	var (
		typeErr *json.UnmarshalTypeError
		maxErr  *http.MaxBytesError
		synErr  *json.SyntaxError
	)
	switch {
	case err == nil:
		if dec.More() {
			return models.Errorf(models.EINVALID, "le corps de la requête doit contenir un seul objet JSON")
		}
		return nil
	case errors.As(err, &maxErr):
		return &models.Error{Code: models.EINVALID, Message: fmt.Sprintf("corps de requête trop grand (au plus %d octets)", maxBodyBytes)}
	case errors.As(err, &typeErr):
		return models.FieldError(typeErr.Field, "type incorrect, attendu %s", typeErr.Type.String())
	case errors.As(err, &synErr), errors.Is(err, io.ErrUnexpectedEOF):
		return models.Errorf(models.EINVALID, "JSON invalide : %v", err)
	case errors.Is(err, io.EOF):
		return models.Errorf(models.EINVALID, "corps de requête vide, un objet JSON est attendu")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return models.FieldError(field, "champ inconnu")
	}
	return models.Errorf(models.EINVALID, "JSON invalide : %v", err)
}

// toApplication checks every answer and builds the model. errs holds the answers that
// could not even be read (a form's "douze" for a number); every other error is added to
// them, at most one per field, in the order of the form.
func (req *applicationRequest) toApplication(now time.Time, errs models.FieldErrors) (*models.Application, error) {
	for _, f := range []struct {
		name  string
		value *int
	}{{"founded_year", req.FoundedYear}, {"employees", req.Employees}, {"members", req.Members},
		{"beneficiaries", req.Beneficiaries}, {"storage_needed_gb", req.StorageNeededGB},
		{"accounts_needed", req.AccountsNeeded}} {
		if f.value == nil {
			errs.Add(models.FieldError(f.name, "est obligatoire"))
		}
	}
	if req.WorksInFrench == nil {
		errs.Add(models.FieldError("works_in_french", "est obligatoire"))
	}
	office := models.OfficeSuite(req.OfficeSuite)
	if office == "" {
		office = models.OfficeCollabora // the service's default suite
	}
	app := &models.Application{
		ID:               uuid.NewString(),
		Slug:             req.Slug,
		OrganizationName: strings.TrimSpace(req.OrganizationName),
		OrganizationType: models.OrganizationType(req.OrganizationType),
		Sectors:          req.Sectors,
		FoundedYear:      deref(req.FoundedYear),
		Employees:        deref(req.Employees),
		Members:          deref(req.Members),
		Beneficiaries:    deref(req.Beneficiaries),
		AnnualBudgetEUR:  req.AnnualBudgetEUR,
		Mission:          req.Mission,
		Actions:          req.Actions,
		Needs:            req.Needs,
		WorksInFrench:    deref(req.WorksInFrench),
		StorageNeededGB:  deref(req.StorageNeededGB),
		AccountsNeeded:   deref(req.AccountsNeeded),
		OfficeSuite:      office,
		ContactEmail:     strings.TrimSpace(req.ContactEmail),
		TermsAcceptedAt:  now,
	}
	if req.TermsAccepted == nil || !*req.TermsAccepted {
		errs.Add(models.FieldError("terms_accepted", "les conditions d'utilisation doivent être acceptées"))
	}
	app.ValidateInto(&errs, now)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	app.ContactEmail = models.NormalizeEmail(app.ContactEmail)
	return app, nil
}

// deref is the value behind p, its zero when p is nil (an answer already reported as
// missing).
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// submitApplication is the public form: it records the application, reserves its slug
// and starts the space's workflow, which mails the receipt.
func (s *Server) submitApplication(c *gin.Context) {
	var req applicationRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	app, err := s.submit(c.Request.Context(), &req, nil)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, submissionResponse{ID: app.ID, Slug: app.Slug, Status: models.StatusSubmitted})
}

// submit is one submission, from the JSON API or the HTML form: it checks every answer,
// records the application, reserves its slug and starts the space's workflow, which
// mails the receipt. A refusal writes nothing and lists every field at fault.
func (s *Server) submit(ctx context.Context, req *applicationRequest, decodeErrs models.FieldErrors) (*models.Application, error) {
	if err := s.applicationsOpen(ctx); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	app, err := req.toApplication(now, decodeErrs)
	if err != nil {
		// The person fixes everything at once: tell them now if the slug is taken too.
		errs := models.FieldErrorsOf(err)
		if !errs.Has("slug") && models.ValidateSlug(req.Slug) == nil {
			if terr := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				return slugTaken(tx, req.Slug, now)
			}); models.ErrorCode(terr) == models.ECONFLICT {
				errs.Add(terr)
				errs.Sort(models.ApplicationFields)
			}
		}
		return nil, errs.Err()
	}
	if err := s.insertApplication(ctx, app, now); err != nil {
		return nil, err
	}
	if err := s.startSpaceWorkflow(ctx, app); err != nil {
		// Without its workflow the application would wait forever: take it back.
		if derr := s.deleteApplication(context.WithoutCancel(ctx), app); derr != nil {
			s.logger.Error("Undo of a submission failed", "slug", app.Slug, "error", derr)
		}
		s.logger.Error("Start space workflow", "slug", app.Slug, "error", err)
		return nil, models.Errorf(models.EUNAVAILABLE, "le service est momentanément indisponible, réessayez plus tard")
	}
	s.logger.Info("Application submitted", "slug", app.Slug, "application_id", app.ID)
	return app, nil
}

// slugTaken says whether a slug is held by an application or space still open, or by a
// space deleted less than SlugReservationDays ago.
func slugTaken(tx *gorm.DB, slug string, now time.Time) error {
	var taken int64
	if err := tx.Model(&models.Space{}).Where("slug = ? AND (status NOT IN ? OR (status = ? AND deleted_at > ?))",
		slug, models.ClosedStatuses, models.StatusDeleted, now.AddDate(0, 0, -models.SlugReservationDays)).
		Count(&taken).Error; err != nil {
		return fmt.Errorf("is slug %q taken: %w", slug, err)
	}
	if taken > 0 {
		return errSlugTaken
	}
	return nil
}

// errSlugTaken is the answer for a slug in use or reserved.
var errSlugTaken = &models.Error{Code: models.ECONFLICT, Field: "slug", Message: "ce nom d'espace est déjà pris ou réservé"}

// insertApplication writes the application and its space row in one transaction, after
// checking that the slug is free and the contact has room for one more.
func (s *Server) insertApplication(ctx context.Context, app *models.Application, now time.Time) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Serialise submissions for one contact and for one slug, so that two at once
		// cannot both pass the checks below.
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?)), pg_advisory_xact_lock(hashtext(?))",
			"contact:"+app.ContactEmail, "slug:"+app.Slug).Error; err != nil {
			return err
		}
		if err := slugTaken(tx, app.Slug, now); err != nil {
			return err
		}
		var open int64
		if err := tx.Model(&models.Application{}).Joins("JOIN spaces ON spaces.application_id = applications.id").
			Where("applications.contact_email = ? AND spaces.status NOT IN ?", app.ContactEmail,
				models.ClosedStatuses).Count(&open).Error; err != nil {
			return err
		}
		if open >= models.MaxOpenPerContact {
			return &models.Error{Code: models.ECONFLICT, Field: "contact_email", Message: fmt.Sprintf(
				"cette adresse a déjà %d demandes ou espaces en cours : le service ne crée pas d'espaces en nombre pour une même personne ou organisation", open)}
		}
		if err := tx.Create(app).Error; err != nil {
			return err
		}
		if err := models.CreateStatsRecord(tx, app, now); err != nil {
			return err
		}
		limits := models.DefaultLimits()
		return tx.Create(&models.Space{Slug: app.Slug, ApplicationID: &app.ID, Status: models.StatusSubmitted,
			OfficeSuite: app.OfficeSuite, MaxAccounts: limits.MaxAccounts, QuotaBytes: limits.QuotaBytes,
			MaxVideoBytes: limits.MaxVideoBytes, BucketName: models.BucketName(s.cfg.BucketPrefix, app.Slug),
			SubmittedAt: now}).Error
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique violation: the slug was taken meanwhile
		return errSlugTaken
	}
	return err
}

func (s *Server) deleteApplication(ctx context.Context, app *models.Application) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("application_id = ?", app.ID).Delete(&models.Space{}).Error; err != nil {
			return err
		}
		if err := models.DeleteStatsRecord(tx, app.ID); err != nil {
			return err
		}
		return tx.Delete(app).Error
	})
}

func (s *Server) startSpaceWorkflow(ctx context.Context, app *models.Application) error {
	_, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.SpaceWorkflowID(app.Slug),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		StaticSummary:            workflows.SpaceStaticSummary(app.Slug, app.OrganizationType),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchAttrSlug.ValueSet(app.Slug),
			workflows.SearchAttrStatus.ValueSet(string(models.StatusSubmitted))),
	}, workflows.SpaceWorkflowType, workflows.SpaceInput{
		ApplicationID:    app.ID,
		Slug:             app.Slug,
		OfficeSuite:      app.OfficeSuite,
		Bucket:           models.BucketName(s.cfg.BucketPrefix, app.Slug),
		Domain:           app.Slug + "." + s.cfg.BaseDomain,
		NextcloudVersion: s.cfg.NextcloudVersion,
	})
	return err
}

// applicationSummary is one row of the moderators' list.
type applicationSummary struct {
	ID               string                  `json:"id"`
	Slug             string                  `json:"slug"`
	OrganizationName string                  `json:"organization_name"`
	OrganizationType models.OrganizationType `json:"organization_type"`
	Status           models.Status           `json:"status"`
	ContactEmail     string                  `json:"contact_email"`
	SubmittedAt      time.Time               `json:"submitted_at"`
}

// listResponse is a page of a list screen.
type listResponse[T any] struct {
	Items []T   `json:"items"`
	Page  int   `json:"page"`
	Total int64 `json:"total"`
	// TotalCapped: the lists that stop counting at listCountCap have more rows than Total.
	TotalCapped bool `json:"total_capped,omitempty"`
	// NextCursor opens the next page of the lists read by keyset; "" on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
	// PrevCursor opens the previous page the same way; "" on the first page.
	PrevCursor string `json:"prev_cursor,omitempty"`
}

// pageParam reads ?page= (from 1).
func pageParam(c *gin.Context) (int, error) {
	v := c.DefaultQuery("page", "1")
	page, err := strconv.Atoi(v)
	if err != nil || page < 1 || page > maxPage {
		return 0, models.FieldError("page", "doit être un nombre entier à partir de 1")
	}
	return page, nil
}

// statusParam reads ?status=; "" means any.
func statusParam(c *gin.Context) (models.Status, error) {
	st := models.Status(c.Query("status"))
	if st == "" {
		return "", nil
	}
	for _, known := range models.Statuses {
		if st == known {
			return st, nil
		}
	}
	return "", models.FieldError("status", "état inconnu %q", st)
}

// applicationQuery is what a list of applications is filtered by.
type applicationQuery struct {
	listPage
	Status models.Status // "" for any
	Search string        // in the organisation name, slug and contact address
}

// applicationQueryOf reads an applicationQuery from the request's URL parameters, for
// the API and the console.
func applicationQueryOf(c *gin.Context) (applicationQuery, error) {
	q := applicationQuery{Search: strings.TrimSpace(c.Query("q"))}
	var err error
	if q.listPage, err = listPageParam(c, func(key string) bool { return uuid.Validate(key) == nil }); err != nil {
		return q, err
	}
	q.Status, err = statusParam(c)
	return q, err
}

// listApplications lists applications, newest first, filtered by status and by a
// search in the organisation name, slug and contact address.
func (s *Server) listApplications(c *gin.Context) {
	aq, err := applicationQueryOf(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.findApplications(c.Request.Context(), aq)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// findApplications is the list of applications of the API and the console: its total
// counted up to listCountCap, its pages read by keyset from a cursor, or with OFFSET
// from a page number.
func (s *Server) findApplications(ctx context.Context, aq applicationQuery) (listResponse[applicationSummary], error) {
	var resp listResponse[applicationSummary]
	db := s.db.WithContext(ctx)
	q := db.Table("applications").Joins("JOIN spaces ON spaces.application_id = applications.id")
	if aq.Status != "" {
		q = q.Where("spaces.status = ?", aq.Status)
	}
	if search := strings.TrimSpace(aq.Search); search != "" {
		if len(search) > 200 {
			return resp, models.FieldError("q", "recherche trop longue")
		}
		q = q.Where("applications.organization_name ILIKE ? OR applications.slug ILIKE ? OR applications.contact_email ILIKE ?", likePattern(search), likePattern(search), likePattern(search))
	}
	q = q.Session(&gorm.Session{}) // the count and the page each build on it
	var err error
	if resp.Total, resp.TotalCapped, err = countUpTo(db, q, countCap(strings.TrimSpace(aq.Search))); err != nil {
		return resp, err
	}
	resp.Page, resp.Items = max(aq.Page, 1), []applicationSummary{}
	resp.NextCursor, resp.PrevCursor, err = readPage(q.Select("applications.id, applications.slug, applications.organization_name, "+
		"applications.organization_type, spaces.status, applications.contact_email, applications.created_at AS submitted_at"),
		aq.listPage, keyset[applicationSummary]{
			order: "applications.created_at DESC, applications.id", reverse: "applications.created_at, applications.id DESC",
			// The order mixes directions: the bound on created_at is what the index reads.
			after: func(q *gorm.DB, c *listCursor) *gorm.DB {
				return q.Where("applications.created_at <= ? AND (applications.created_at < ? OR applications.id > ?)", c.At, c.At, c.Key)
			},
			before: func(q *gorm.DB, c *listCursor) *gorm.DB {
				return q.Where("applications.created_at >= ? AND (applications.created_at > ? OR applications.id < ?)", c.At, c.At, c.Key)
			},
			keyOf: func(a *applicationSummary) (time.Time, string) { return a.SubmittedAt, a.ID },
		}, &resp.Items)
	return resp, err
}

// likePattern matches a search anywhere in a text, its wildcards taken literally.
func likePattern(search string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(search) + "%"
}

// applicationDetail is everything a moderator needs to decide.
type applicationDetail struct {
	ID               string                  `json:"id"`
	Slug             string                  `json:"slug"`
	Status           models.Status           `json:"status"`
	OrganizationName string                  `json:"organization_name"`
	OrganizationType models.OrganizationType `json:"organization_type"`
	Sectors          []string                `json:"sectors"`
	FoundedYear      int                     `json:"founded_year"`
	Employees        int                     `json:"employees"`
	Members          int                     `json:"members"`
	Beneficiaries    int                     `json:"beneficiaries"`
	AnnualBudgetEUR  *int64                  `json:"annual_budget_eur"`
	Mission          string                  `json:"mission"`
	Actions          string                  `json:"actions"`
	Needs            string                  `json:"needs"`
	AccountsNeeded   int                     `json:"accounts_needed"`
	OfficeSuite      models.OfficeSuite      `json:"office_suite"`
	ContactEmail     string                  `json:"contact_email"`
	SubmittedAt      time.Time               `json:"submitted_at"`
	// OtherOpen counts the contact's other open applications and spaces: a sign of
	// mass creation.
	OtherOpen int64        `json:"other_open_by_contact"`
	History   []auditEntry `json:"history"`
}

// auditEntry is one recorded action.
type auditEntry struct {
	Action string    `json:"action"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

func (s *Server) loadApplication(ctx context.Context, id string) (*models.Application, *models.Space, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, nil, models.FieldError("id", "identifiant de demande invalide")
	}
	db := s.db.WithContext(ctx)
	var app models.Application
	if err := db.First(&app, "id = ?", id).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, models.Errorf(models.ENOTFOUND, "demande %s introuvable", id)
	} else if err != nil {
		return nil, nil, err
	}
	var sp models.Space
	if err := db.First(&sp, "application_id = ?", id).Error; err != nil {
		return nil, nil, fmt.Errorf("space of application %s: %w", id, err)
	}
	return &app, &sp, nil
}

func (s *Server) getApplication(c *gin.Context) {
	d, err := s.applicationDetailOf(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

// applicationDetailOf is an application as the API and the console show it.
func (s *Server) applicationDetailOf(ctx context.Context, id string) (*applicationDetail, error) {
	app, sp, err := s.loadApplication(ctx, id)
	if err != nil {
		return nil, err
	}
	db := s.db.WithContext(ctx)
	d := applicationDetail{ID: app.ID, Slug: app.Slug, Status: sp.Status, OrganizationName: app.OrganizationName,
		OrganizationType: app.OrganizationType, Sectors: app.Sectors, FoundedYear: app.FoundedYear,
		Employees: app.Employees, Members: app.Members, Beneficiaries: app.Beneficiaries,
		AnnualBudgetEUR: app.AnnualBudgetEUR, Mission: app.Mission, Actions: app.Actions, Needs: app.Needs,
		AccountsNeeded: app.AccountsNeeded, OfficeSuite: app.OfficeSuite, ContactEmail: app.ContactEmail,
		SubmittedAt: app.CreatedAt, History: []auditEntry{}}
	if err := db.Model(&models.Application{}).Joins("JOIN spaces ON spaces.application_id = applications.id").
		Where("applications.contact_email = ? AND applications.id <> ? AND spaces.status NOT IN ?", app.ContactEmail, app.ID,
			models.ClosedStatuses).Count(&d.OtherOpen).Error; err != nil {
		return nil, err
	}
	if err := db.Model(&models.AuditEvent{}).Where("application_id = ?", app.ID).Order("at, id").
		Select("action, actor, reason, at").Scan(&d.History).Error; err != nil {
		return nil, err
	}
	return &d, nil
}

// decisionRequest is the optional body of a decision.
type decisionRequest struct {
	Reason string `json:"reason"`
}

// decisionUpdates maps the decision in the URL to the workflow update.
var decisionUpdates = map[string]string{
	"accept": workflows.UpdateAccept,
	"hold":   workflows.UpdateHold,
	"reject": workflows.UpdateReject,
}

// decideApplication sends a moderator's decision to the space's workflow, which checks
// it against the current status and records it, and answers the new status.
func (s *Server) decideApplication(c *gin.Context) {
	var req decisionRequest
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c.Request, &req); err != nil {
			s.writeError(c, err)
			return
		}
	}
	app, status, err := s.decide(c.Request.Context(), currentModerator(c), c.Param("id"), c.Param("decision"), req.Reason)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": app.ID, "slug": app.Slug, "status": status})
}

// decide sends a moderator's decision on an application to its space's workflow, for
// the API and the console, and returns the new status.
func (s *Server) decide(ctx context.Context, mod *models.Moderator, id, decision, reason string) (*models.Application, models.Status, error) {
	update, ok := decisionUpdates[decision]
	if !ok {
		return nil, "", models.Errorf(models.ENOTFOUND, "décision inconnue %q : accept, hold ou reject", decision)
	}
	app, _, err := s.loadApplication(ctx, id)
	if err != nil {
		return nil, "", err
	}
	result, err := updateWorkflow[workflows.DecisionResult](ctx, s.temporal,
		workflows.SpaceWorkflowID(app.Slug), update, workflows.DecisionInput{Moderator: mod.Name, Reason: strings.TrimSpace(reason)})
	if err != nil {
		return nil, "", updateError(err, noSpace)
	}
	s.logger.Info("Decision recorded", "slug", app.Slug, "decision", update, "moderator", mod.Name, "status", result.Status)
	return app, result.Status, nil
}
