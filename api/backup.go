package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"jardinier/activities/backup"
	"jardinier/models"
	"jardinier/workflows"
)

// restoreUpdateTimeout bounds how long the API waits for a restore: a dump, a
// pg_restore and the objects of a large space take minutes.
const restoreUpdateTimeout = 2 * time.Hour

// restoreRequest is the body of POST /api/v1/spaces/{slug}/restore.
type restoreRequest struct {
	Reason string `json:"reason"`
	// At is the time to go back to, RFC 3339 (2026-11-30T18:00:00+01:00).
	At     string `json:"at"`
	DryRun bool   `json:"dry_run"`
}

// restoreResponse says what the restore did, or would do.
type restoreResponse struct {
	Slug            string          `json:"slug"`
	DryRun          bool            `json:"dry_run"`
	At              time.Time       `json:"at"`
	Backup          string          `json:"backup"`
	BackupTakenAt   time.Time       `json:"backup_taken_at"`
	Snapshot        string          `json:"snapshot,omitempty"`
	FilesRestored   int             `json:"files_restored"`
	FilesRemoved    int             `json:"files_removed"`
	FilesUnchanged  int             `json:"files_unchanged"`
	Changes         []restoreChange `json:"changes"`
	FileCacheErrors string          `json:"file_cache_errors,omitempty"`
}

type restoreChange struct {
	Key    string `json:"key"`
	Action string `json:"action"`
}

// restoreSpaceAPI handles POST /api/v1/spaces/{slug}/restore (admins).
func (s *Server) restoreSpaceAPI(c *gin.Context) {
	var req restoreRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	res, err := s.RestoreSpace(c.Request.Context(), currentModerator(c).Name, c.Param("slug"), req.At, req.Reason, req.DryRun)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// RestoreSpace asks the space's workflow to put the space back as it was at at (RFC
// 3339), or with dryRun to say what would change. The API and the command line call it.
func (s *Server) RestoreSpace(ctx context.Context, actor, slug, at, reason string, dryRun bool) (restoreResponse, error) {
	in, err := ParseRestore(actor, at, reason, dryRun)
	if err != nil {
		return restoreResponse{}, err
	}
	res, err := SendRestore(ctx, s.temporal, slug, in)
	if err != nil {
		return restoreResponse{}, err
	}
	s.logger.Info("Space restore answered", "slug", slug, "actor", actor, "at", in.At, "dry_run", dryRun,
		"backup", res.BackupKey, "files_restored", res.FilesRestored, "files_removed", res.FilesRemoved)
	out := restoreResponse{Slug: slug, DryRun: res.DryRun, At: in.At, Backup: res.BackupKey, BackupTakenAt: res.BackupTakenAt,
		Snapshot: res.Snapshot, FilesRestored: res.FilesRestored, FilesRemoved: res.FilesRemoved, FilesUnchanged: res.FilesUnchanged,
		Changes: []restoreChange{}, FileCacheErrors: res.FileCacheErrors}
	for _, ch := range res.Changes {
		out.Changes = append(out.Changes, restoreChange{Key: ch.Key, Action: ch.Action})
	}
	return out, nil
}

// ParseRestore checks a restore's fields, each refusal naming its field.
func ParseRestore(actor, at, reason string, dryRun bool) (workflows.RestoreInput, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return workflows.RestoreInput{}, models.FieldError("reason", "est obligatoire : l'historique de l'espace dit pourquoi chaque action a eu lieu")
	} else if utf8.RuneCountInString(reason) > models.MaxReasonLength {
		return workflows.RestoreInput{}, models.FieldError("reason", "ne peut dépasser %d caractères", models.MaxReasonLength)
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(at))
	if err != nil {
		return workflows.RestoreInput{}, models.FieldError("at", "doit être une date RFC 3339, comme 2026-11-30T18:00:00+01:00")
	}
	return workflows.RestoreInput{Actor: actor, Reason: reason, At: t, DryRun: dryRun}, nil
}

// SendRestore sends the restore update to the space's workflow and waits for its
// answer, for as long as a restore takes; a time before any backup kept is a
// conflict naming the field at. The API and `jardinier space restore` call it.
func SendRestore(ctx context.Context, c client.Client, slug string, in workflows.RestoreInput) (workflows.RestoreResult, error) {
	ctx, cancel := context.WithTimeout(ctx, restoreUpdateTimeout)
	defer cancel()
	var res workflows.RestoreResult
	handle, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.SpaceWorkflowID(slug),
		UpdateName:   workflows.UpdateRestore,
		Args:         []any{in},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, &res)
	}
	var appErr *temporal.ApplicationError
	if err != nil && errors.As(err, &appErr) && appErr.Type() == backup.ErrTypeNoBackup {
		return res, &models.Error{Code: models.ECONFLICT, Field: "at", Message: appErr.Message()}
	}
	if err != nil {
		return res, updateError(err, noSpace)
	}
	return res, nil
}

// staleBackupsAPI handles GET /api/v1/backups/stale: the spaces in service without a
// good backup for models.BackupStaleAfter.
func (s *Server) staleBackupsAPI(c *gin.Context) {
	rows, err := models.SpacesWithoutRecentBackup(s.db.WithContext(c.Request.Context()), time.Now())
	if err != nil {
		s.writeError(c, err)
		return
	}
	if rows == nil {
		rows = []models.StaleBackup{}
	}
	c.JSON(http.StatusOK, gin.H{"spaces": rows, "stale_after_hours": int(models.BackupStaleAfter / time.Hour)})
}

// backupsPageData is what the console's list of late backups shows.
type backupsPageData struct {
	Hours  int
	Spaces []models.StaleBackup
}

// backupsPage lists, for moderators, the spaces without a good backup for 48 h: the
// same list as GET /api/v1/backups/stale.
func (s *Server) backupsPage(c *gin.Context) {
	v := s.newView(c, "sauvegardes", nil)
	rows, err := models.SpacesWithoutRecentBackup(s.db.WithContext(c.Request.Context()), time.Now())
	v.Page = &backupsPageData{Hours: int(models.BackupStaleAfter / time.Hour), Spaces: rows}
	if err != nil {
		s.formFailed(c, err, consoleBackups, v)
		return
	}
	s.renderConsole(c, http.StatusOK, consoleBackups, v)
}
