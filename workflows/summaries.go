package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// What the Temporal UI shows of a space's workflow, so that its event history reads as
// the space's story for the operator: a static summary set at start (SpaceStaticSummary),
// current details kept up to date with the projection (spaceDetails), and a summary on
// every activity (SummaryInterceptor) and on the policy's timers (stepTimerSummary).
// The operator reads French, as the moderators do; these words are for the UI only,
// never for a mail.

// statusWords names each status in the UI.
var statusWords = map[models.Status]string{
	models.StatusSubmitted: "demande reçue", models.StatusOnHold: "demande en attente de place",
	models.StatusRejected: "demande refusée", models.StatusProvisioning: "en création",
	models.StatusProvisioningFailed: "création échouée", models.StatusActive: "en service",
	models.StatusDeactivated: "désactivé", models.StatusDeleted: "supprimé",
}

// stepWords names each step of the inactivity policy.
var stepWords = map[models.Step]string{
	models.StepFirstWarning: "1er avertissement", models.StepSecondWarning: "2e avertissement",
	models.StepDeactivation: "désactivation", models.StepDeletionNotice: "annonce de la suppression",
	models.StepDeletion: "suppression",
}

// orgTypeWords names the organisation types.
var orgTypeWords = map[models.OrganizationType]string{
	models.OrgAssociation1901: "association loi 1901", models.OrgAssociation1907: "association de droit local",
	models.OrgInformalCollective: "collectif informel", models.OrgUnion: "syndicat",
	models.OrgFoundation: "fondation", models.OrgOther: "autre forme",
}

// activityWords summarises each activity of a space's life.
var activityWords = map[string]string{
	"CreateBucket": "création du stockage (S3)", "DeleteBucket": "suppression du stockage (S3)",
	"CreateSpaceDatabase": "création de la base de données", "InstallSpace": "installation de Nextcloud",
	"CreateSpaceAdmin": "création du compte d'administration", "ApplySpaceLimits": "application des limites",
	"EnableSpaceApps": "activation des applications", "ReadLastActivity": "lecture de la dernière activité",
	"SetSpaceDeactivated": "mise hors service ou remise en service", "RemoveSpace": "suppression de l'instance",
	"RecordTransition": "mise à jour du tableau des espaces", "PurgeApplication": "effacement des données personnelles",
	"CurrentPolicy": "lecture de la politique d'inactivité", "ShareSpaceQuotas": "répartition du quota",
	"RecordSpaceUsage": "relevé de l'usage", "SendModeratorMail": "courriel aux modérateurs",
	"SendDigest": "récapitulatif aux modérateurs", "RecordUpgradeSpaces": "liste de la mise à niveau",
	"ConfigureSpaceOffice": "réglages de la suite bureautique", "ReadAdminEmails": "lecture des adresses des administrateurs",
	"ChangeContactEmail": "changement de l'adresse de contact", "SealContactEmail": "lecture de l'adresse de contact",
	"CurrentLimits": "lecture des limites par défaut", "CountLimitsSpaces": "décompte des espaces",
	"MissedUpgrade": "recherche d'une mise à niveau manquée", "PrepareSharedApps": "préparation des applications partagées",
	"ListCodeBases": "liste des versions de Nextcloud présentes", "EnableFileHistory": "historique des fichiers (S3)",
	"DumpSpace": "sauvegarde de la base", "ListBackupSpaces": "liste des espaces à sauvegarder",
	"ExpireBackups": "expiration des sauvegardes", "EnsureBucket": "création du stockage des sauvegardes",
	"RestoreDatabase": "restauration de la base", "RestoreObjects": "restauration des fichiers",
	"ScanSpaceFiles": "vérification du cache de fichiers", "PrepareAnnouncement": "destinataires de l'annonce",
	"CollectAnnouncementAdmins": "lecture des administrateurs des espaces", "SendAnnouncement": "courriel d'annonce",
	"RecordAnnouncement": "avancement de l'annonce", "ListPolicySpaces": "liste des espaces",
	"ListQuotaSpaces": "liste des espaces", "ListSpaces": "liste des espaces",
}

// upgradeStepWords summarises each step of an upgrade.
var upgradeStepWords = map[string]string{
	nextcloud.UpgradeStepSnapshot: "sauvegarde de la base", nextcloud.UpgradeStepRestore: "restauration de la sauvegarde",
	nextcloud.UpgradeStepDropSnap: "effacement de la sauvegarde", nextcloud.UpgradeStepSwitchCode: "bascule du code",
	nextcloud.UpgradeStepUpgrade: "occ upgrade", nextcloud.UpgradeStepHealth: "vérification de l'instance",
	nextcloud.UpgradeStepPost: "étapes après mise à niveau", nextcloud.UpgradeStepWeb: "vérification par le web",
}

// mailWords names the kinds of mail.
var mailWords = map[mail.Kind]string{
	mail.KindReceipt: "accusé de réception", mail.KindOnHold: "demande en attente", mail.KindRejected: "refus",
	mail.KindAccepted: "espace prêt, identifiants", mail.KindProvisioningFailed: "création échouée (modérateurs)",
	mail.KindFirstWarning: "1er avertissement", mail.KindSecondWarning: "2e avertissement",
	mail.KindDeactivated: "désactivation", mail.KindDeletionNotice: "annonce de la suppression",
	mail.KindDeleted: "suppression", mail.KindDeletedModerators: "suppression (modérateurs)",
	mail.KindReactivated: "remise en service", mail.KindConfirmDeactivation: "lien de confirmation de désactivation",
	mail.KindConfirmDeletion: "lien de confirmation de suppression", mail.KindWithdrawn: "demande retirée",
	mail.KindReactivationLink: "nouveau lien de réactivation",
}

// SpaceStaticSummary is the one line the Temporal UI shows for a space's workflow
// from its start: nothing personal, the slug and the kind of organisation.
func SpaceStaticSummary(slug string, orgType models.OrganizationType) string {
	return fmt.Sprintf("Espace %s · %s", slug, words(orgTypeWords, orgType))
}

// details is what the UI shows of the space now: which space, its status, its next step.
func (s *space) details() string { return spaceDetails(s.in.Slug, s.in.Domain, s.st.Status, s.shown) }

func spaceDetails(slug, domain string, status models.Status, sc *database.Schedule) string {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**Espace** : %s (%s)\n\n**État** : %s", slug, domain, words(statusWords, status)))
	inPolicy := status == models.StatusActive || status == models.StatusDeactivated
	if inPolicy && sc != nil && sc.NextStep != "" && !sc.NextStepAt.IsZero() {
		b.WriteString(fmt.Sprintf("\n\n**Prochaine étape** : %s, le %s (UTC)", words(stepWords, sc.NextStep),
			sc.NextStepAt.UTC().Format("2006-01-02 15:04")))
	}
	return b.String()
}

// waitAnswers is how a fleet workflow waits, at most tick, for the answers of its
// spaces: the UI's line for that timer says whose.
func waitAnswers(tick time.Duration, whose string) workflow.AwaitOptions {
	return workflow.AwaitOptions{Timeout: tick, TimerOptions: workflow.TimerOptions{Summary: "attente : réponses " + whose}}
}

// stepTimerSummary is the UI's line for the timer that waits for the policy's next
// step: "attente : 1er avertissement le 5 mars 2026 à 10 h 00", in Paris time as the
// mails say it.
func stepTimerSummary(sc *database.Schedule) string {
	s := "attente : " + words(stepWords, sc.NextStep)
	if at, err := models.FrenchDateTime(sc.NextStepAt); err == nil {
		s += " le " + at
	}
	return s
}

// activitySummary is the UI's line for one activity of type name called with args.
func activitySummary(name string, args []any) string {
	if len(args) > 0 {
		switch in := args[0].(type) {
		case mail.SendInput:
			return "courriel : " + words(mailWords, in.Kind)
		case nextcloud.UpgradeStepInput:
			s := "mise à niveau : " + words(upgradeStepWords, in.Step)
			switch in.Step {
			case nextcloud.UpgradeStepMaintenance:
				s = "mise à niveau : maintenance " + onOff(in.On)
			case nextcloud.UpgradeStepCron:
				s = "mise à niveau : tâches de fond " + onOff(in.On)
			}
			return s
		}
	}
	return activityWords[name]
}

func onOff(on bool) string {
	if on {
		return "activée"
	}
	return "désactivée"
}

func words[K comparable](m map[K]string, k K) string {
	if w, ok := m[k]; ok {
		return w
	}
	return fmt.Sprint(k)
}

// SummaryInterceptor gives every activity a workflow starts a summary for the UI
// (activitySummary), unless the call set one. Summaries are metadata of the commands:
// replaying a history recorded without them is unchanged.
type SummaryInterceptor struct {
	interceptor.WorkerInterceptorBase
}

// InterceptWorkflow wraps the workflow's outbound calls.
func (*SummaryInterceptor) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &summaryInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

type summaryInbound struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (i *summaryInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&summaryOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}})
}

type summaryOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
}

func (o *summaryOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	if opts := workflow.GetActivityOptions(ctx); opts.Summary == "" {
		if s := activitySummary(activityType, args); s != "" {
			opts.Summary = s
			ctx = workflow.WithActivityOptions(ctx, opts)
		}
	}
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}
