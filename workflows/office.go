package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// changeOfficeSettings is the change ID (workflow.GetVersion) of the provisioning that
// writes the settings of the office suite's app once the apps are enabled.
const changeOfficeSettings = "office-settings"

// ErrTypeOfficeFailed is the error type of an office suite switch that could not be
// done; it was undone and the space keeps its suite.
const ErrTypeOfficeFailed = "OfficeSwitchFailed"

// officeAttempts bounds the tries of one step of a switch: someone waits for the
// answer, and a switch that fails is undone rather than left half-way.
const officeAttempts = 5

// officeSuite is the office suite the space offers.
func (s *space) officeSuite() models.OfficeSuite {
	if s.st.OfficeSuite != "" {
		return s.st.OfficeSuite
	}
	return s.in.OfficeSuite
}

func (s *space) registerOfficeHandler(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateOffice,
		func(ctx workflow.Context, in OfficeInput) (OfficeResult, error) {
			a := &action{update: UpdateOffice, office: in}
			err := s.enqueue(ctx, a)
			if err == nil {
				err = a.err
			}
			return OfficeResult{Status: s.st.Status, OfficeSuite: s.officeSuite()}, err
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in OfficeInput) error {
			return s.validateOffice(in)
		}})
	if err != nil {
		return fmt.Errorf("register %s update: %w", UpdateOffice, err)
	}
	return nil
}

// validateOffice refuses a switch to an unknown suite or to the suite in use, one the
// space's status does not allow, and a contact's link that is not the current one. The
// system only writes the settings of the suite in use again.
func (s *space) validateOffice(in OfficeInput) error {
	switch {
	case in.Actor == "":
		return refuseField("actor", "l'auteur de l'action est obligatoire")
	case !slices.Contains(models.OfficeSuites, in.Suite):
		return refuseField("suite", "suite bureautique inconnue %q : collabora, onlyoffice ou none", in.Suite)
	case in.Actor != models.ActorContact && in.Actor != models.ActorSystem && in.Reason == "":
		return refuseField("reason", "la raison est obligatoire")
	case s.busy():
		return refuse(ErrTypeBusy, "une autre action est en cours sur cet espace, réessayez dans un instant")
	}
	if err := checkReason(in.Reason); err != nil {
		return err
	} else if err := checkTransition(UpdateOffice, s.in.Slug, s.st.Status); err != nil {
		return err
	}
	switch in.Actor {
	case models.ActorSystem:
		if in.Suite != s.officeSuite() {
			return refuseField("suite", "l'espace %q utilise %s : seuls ses réglages sont réécrits", s.in.Slug, s.officeSuite())
		}
		return nil
	case models.ActorContact:
		r := s.st.Lifecycle.Request
		if r.Action != UpdateOffice || r.Seq != in.TokenSeq || r.Used || r.Suite != in.Suite {
			return refuse(ErrTypeStaleLink, "ce lien de confirmation n'est plus valable : il a déjà servi ou une demande plus récente l'a remplacé")
		}
	}
	if in.Suite == s.officeSuite() {
		return refuse(ErrTypeNotAllowed, "l'espace %q offre déjà cette suite bureautique", s.in.Slug)
	}
	return nil
}

// validateOfficeRequest refuses a contact's request for a switch to an unknown suite
// or to the suite in use; it lets the other requests through.
func (s *space) validateOfficeRequest(in ContactRequestInput) error {
	switch {
	case in.Action != UpdateOffice:
		return nil
	case !slices.Contains(models.OfficeSuites, in.Suite):
		return refuseField("suite", "suite bureautique inconnue %q : collabora, onlyoffice ou none", in.Suite)
	case in.Suite == s.officeSuite():
		return refuse(ErrTypeNotAllowed, "l'espace %q offre déjà cette suite bureautique", s.in.Slug)
	}
	return nil
}

// officeOptions run the steps of a switch: each enables apps (which may download one)
// or writes settings, with a few tries.
func officeOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute, // app:enable may download the suite's app
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: time.Minute, MaximumAttempts: officeAttempts,
			NonRetryableErrorTypes: []string{nextcloud.ErrTypePermanent, nextcloud.ErrTypeNotInstalled}},
	})
}

// switchOffice gives the space the office suite in.Suite: the other suite's app
// disabled, this one's enabled and its settings written, then the projection and the
// timeline. Sent by the system with the suite in use, it only writes the settings
// again. A switch that fails puts the old suite back, best effort, and returns why.
func (s *space) switchOffice(ctx workflow.Context, in OfficeInput) error {
	logger := workflow.GetLogger(ctx)
	old, refresh := s.officeSuite(), in.Actor == models.ActorSystem
	fp, err := s.applyOffice(ctx, in.Suite, !refresh)
	if err != nil {
		logger.Error("Office suite not changed", "slug", s.in.Slug, "from", old, "to", in.Suite, "error", err)
		if !refresh {
			uctx, _ := workflow.NewDisconnectedContext(ctx)
			if _, uerr := s.applyOffice(uctx, old, true); uerr != nil {
				logger.Error("Office suite not put back", "slug", s.in.Slug, "suite", old, "error", uerr)
			}
		}
		return temporal.NewApplicationError(fmt.Sprintf("la suite bureautique de l'espace %q n'a pas pu être changée : %s",
			s.in.Slug, failureMessage(err)), ErrTypeOfficeFailed)
	}
	s.st.OfficeSuite, s.st.OfficeFingerprint = in.Suite, fp
	if in.Actor == models.ActorContact {
		s.st.Lifecycle.Request.Used = true
	}
	action := ActionOfficePrefix + string(in.Suite)
	if refresh {
		action = ActionOfficeRefreshed
	}
	logger.Info("Office suite set", "slug", s.in.Slug, "from", old, "to", in.Suite, "actor", in.Actor)
	return s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: in.Actor, Action: action,
		Reason: in.Reason, OfficeSuite: in.Suite, OfficeFingerprint: fp})
}

// applyOffice enables the apps of suite (when enable is set: the other suite's app is
// disabled) and writes its settings; it returns their fingerprint.
func (s *space) applyOffice(ctx workflow.Context, suite models.OfficeSuite, enable bool) (string, error) {
	var na *nextcloud.Activities
	actx := officeOptions(ctx)
	if enable {
		// No list of apps: the worker's approved apps, which stay enabled.
		if err := workflow.ExecuteActivity(actx, na.EnableSpaceApps, nextcloud.EnableAppsInput{Slug: s.in.Slug,
			OfficeSuite: suite}).Get(ctx, nil); err != nil {
			return "", err
		}
	}
	var res nextcloud.ConfigureOfficeResult
	err := workflow.ExecuteActivity(actx, na.ConfigureSpaceOffice, nextcloud.ConfigureOfficeInput{Slug: s.in.Slug,
		OfficeSuite: suite}).Get(ctx, &res)
	return res.Fingerprint, err
}
