package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/mail"
	"jardinier/api/browsertest"
	"jardinier/models"
	"jardinier/worker"
	"jardinier/workflows"
)

// The variables under which the test binary runs as a worker process
// (TestAnnouncementWorkerProcess) for TestAnnouncementWorkerCrash.
const (
	announceWorkerEnv = "JARDINIER_E2E_ANNOUNCE_WORKER"     // its name; empty: not a worker process
	announceConfigEnv = "JARDINIER_E2E_ANNOUNCE_CONFIG"     // its models.Config, in JSON
	announceHoldEnv   = "JARDINIER_E2E_ANNOUNCE_HOLD_AFTER" // after this many mails, it never finishes sending one
)

// audienceOf writes n spaces in service, each with its own contact
// <prefix>-<i>@audience.example, and returns the addresses.
func (s *system) audienceOf(prefix string, n int) []string {
	s.t.Helper()
	now := time.Now().UTC()
	var addrs []string
	for i := range n {
		slug, id := fmt.Sprintf("%s-%04d", prefix, i), uuid.NewString()
		addr := slug + "@audience.example"
		require.NoError(s.t, s.db.Create(&models.Application{ID: id, Slug: slug, OrganizationName: "Association " + slug,
			OrganizationType: models.OrgAssociation1901, Sectors: []string{"culture"}, FoundedYear: 2010, Mission: "m",
			Actions: "a", Needs: "n", AccountsNeeded: 2, OfficeSuite: models.OfficeCollabora, ContactEmail: addr,
			TermsAcceptedAt: now}).Error)
		require.NoError(s.t, s.db.Create(&models.Space{Slug: slug, ApplicationID: &id, Status: models.StatusActive,
			NextcloudVersion: "31.0.9", OfficeSuite: models.OfficeCollabora, SubmittedAt: now}).Error)
		addrs = append(addrs, addr)
	}
	return addrs
}

// TestAnnouncementWorkerCrash kills the worker (SIGKILL) in the middle of an
// announcement, while mails are on their way to the relay, starts another, and checks
// that the announcement ends with every person reached exactly once, and that no
// address reached the workflow's history.
func TestAnnouncementWorkerCrash(t *testing.T) {
	const people, hold = 120, 50
	s := startSystem(t, func(c *models.Config) { c.MailRate = 20 })
	s.stopWorker()
	addrs := s.audienceOf("crash", people)
	admin, _, err := models.CreateModerator(context.Background(), s.db, "dominique", models.RoleAdmin)
	require.NoError(t, err)

	// This worker sends hold mails, then hangs in every later send before the relay,
	// as a worker that dies with mails under way.
	lost := startAnnouncementWorker(t, "lost", s.cfg, hold)
	var created struct{ ID string }
	require.Equal(t, http.StatusCreated, s.call("POST", "/api/v1/announcements", admin, map[string]any{
		"subject": "Maintenance du 12", "body": "Le service sera coupé une heure.", "audience": "contacts"}, &created))
	require.Equal(t, http.StatusAccepted, s.call("POST", "/api/v1/announcements/"+created.ID+"/send", admin, nil, nil))
	s.smtp.WaitFor(t, hold, 2*time.Minute)
	time.Sleep(2 * time.Second) // the next mails reach the hang
	require.NoError(t, lost.Process.Kill())
	_ = lost.Wait()
	before := len(s.smtp.Messages())
	restartedAt := time.Now()
	startAnnouncementWorker(t, "restarted", s.cfg, 0)

	var v struct {
		Status           string
		Recipients, Sent int
	}
	require.Eventually(t, func() bool {
		return s.call("GET", "/api/v1/announcements/"+created.ID, admin, nil, &v) == http.StatusOK && v.Status == "done"
	}, 4*time.Minute, time.Second, "the announcement did not end: %+v", v)
	t.Logf("%d mails before the crash, the rest within %.0f s of the restart", before, time.Since(restartedAt).Seconds())

	t.Run("every person got the announcement exactly once", func(t *testing.T) {
		time.Sleep(2 * time.Second) // a duplicate would come from a late retry
		got := map[string]int{}
		for _, m := range s.smtp.Messages() {
			got[m.To[0]]++
		}
		assert.Len(t, got, people)
		for _, a := range addrs {
			assert.Equal(t, 1, got[a], "%s", a)
		}
		assert.Equal(t, people, v.Recipients)
		assert.Equal(t, people, v.Sent)
		assert.Equal(t, hold, before, "the lost worker's mails under way never reached the relay")
	})
	t.Run("no address reached the workflow's history, and none stays in the database", func(t *testing.T) {
		history := historyText(t, s.temporal, workflows.AnnouncementWorkflowID(created.ID))
		for _, a := range addrs {
			if strings.Contains(history, a) {
				t.Fatalf("%s is in the history", a)
			}
		}
		var left int64
		require.NoError(t, s.db.Model(&models.AnnouncementRecipient{}).Count(&left).Error)
		assert.Zero(t, left)
	})
}

// startAnnouncementWorker runs the test binary as a worker process
// (TestAnnouncementWorkerProcess) that hangs before the relay after hold mails (0:
// never); it is killed at the end of the test, and its log shown if the test fails.
func startAnnouncementWorker(t *testing.T, name string, cfg models.Config, hold int) *exec.Cmd {
	t.Helper()
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestAnnouncementWorkerProcess$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), announceWorkerEnv+"="+name, announceConfigEnv+"="+string(raw),
		announceHoldEnv+"="+strconv.Itoa(hold))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("log of worker %s:\n%s", name, out)
		}
	})
	return cmd
}

// TestAnnouncementWorkerProcess is the worker process of TestAnnouncementWorkerCrash;
// it is skipped otherwise. It runs the worker until it is killed.
func TestAnnouncementWorkerProcess(t *testing.T) {
	if os.Getenv(announceWorkerEnv) == "" {
		t.Skip("the worker process of TestAnnouncementWorkerCrash")
	}
	var cfg models.Config
	require.NoError(t, json.Unmarshal([]byte(os.Getenv(announceConfigEnv)), &cfg))
	hold, err := strconv.Atoi(os.Getenv(announceHoldEnv))
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()
	db, err := models.OpenDB(ctx, cfg.DatabaseURL, logger)
	require.NoError(t, err)
	c, err := workflows.Dial(ctx, cfg, logger)
	require.NoError(t, err)
	driver, err := worker.NewNextcloudDriver(cfg, logger)
	require.NoError(t, err)
	smtp, err := mail.NewSMTPSender(cfg.SMTPURL)
	require.NoError(t, err)
	w, err := worker.New(worker.Options{Config: cfg, DB: db, Client: c, Logger: logger, Nextcloud: driver,
		Sender: &holdingSender{Sender: smtp, hold: int64(hold)}})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	select {} // until killed
}

// holdingSender sends hold mails, then never finishes another: a crash then finds
// mails reserved but not handed to the relay, the case a retry must send once. (A
// crash between the relay's acceptance and the record that follows it, a few
// milliseconds, would send that mail twice with the same Message-ID: see mail.Send.)
type holdingSender struct {
	mail.Sender
	hold int64
	sent atomic.Int64
}

func (s *holdingSender) Send(ctx context.Context, m mail.Message) error {
	if s.hold > 0 && s.sent.Add(1) > s.hold {
		select {}
	}
	return s.Sender.Send(ctx, m)
}

// TestAnnouncementConsole is an admin's visit of the announcement screens: write one,
// count whom it reaches, save it, send it, pause and resume it, and see it done.
func TestAnnouncementConsole(t *testing.T) {
	// At MAIL_RATE=2, 20 s of sending: time to pause it and to check the pages.
	const people = 40
	admin := browsertest.Start(t).NewTab(t)
	s := startSystem(t, func(c *models.Config) { c.MailRate = 2 })
	c := startConsole(t, s)
	secret := c.admin(t, "Alix", "alix@jardinier.example")
	s.audienceOf("visite", people)

	c.signIn(t, admin, "alix@jardinier.example", adminPassword, secret)
	t.Run("un administrateur écrit une annonce et compte ses destinataires", func(t *testing.T) {
		admin.Open(t, c.url+"/moderation/annonces")
		assert.Equal(t, "Annonces", textOf(t, admin, "main h1"))
		admin.Check(t, "console-annonces", consoleWidths...)
		admin.Run(t, chromedp.Click(`button[value=save]`), chromedp.WaitVisible(`.error-summary`))
		assert.Contains(t, textOf(t, admin, ".error-summary"), "Objet")
		admin.Check(t, "console-annonces-erreur", consoleWidths...)
		admin.Run(t, chromedp.SendKeys(`#subject`, "Mise à niveau vers Nextcloud 32"),
			chromedp.SendKeys(`#body`, "Votre espace passera en version 32 la semaine prochaine.\nIl sera coupé deux minutes."),
			chromedp.Click(`input[name=audience][value=filter]`), chromedp.Click(`#status`),
			chromedp.Click(`button[value=preview]`), chromedp.WaitVisible(`#preview-count`))
		assert.Contains(t, textOf(t, admin, "#preview-count"), strconv.Itoa(people)+" personne(s)")
		assert.Equal(t, "Mise à niveau vers Nextcloud 32", value(t, admin, "#subject"), "the form keeps what was typed")
		admin.Check(t, "console-annonces-apercu", consoleWidths...)
		admin.Run(t, chromedp.Click(`button[value=save]`), chromedp.WaitVisible(`#recipients`))
		assert.Contains(t, textOf(t, admin, ".notice"), "L'annonce est enregistrée")
		assert.Equal(t, strconv.Itoa(people), textOf(t, admin, "#recipients"))
		admin.Check(t, "console-annonce-brouillon", consoleWidths...)
	})
	t.Run("il l'envoie, la met en pause, la reprend, et la voit envoyée", func(t *testing.T) {
		admin.Run(t, chromedp.Click(`button[value=send]`), chromedp.WaitVisible(`#announcement-status`))
		assert.Contains(t, textOf(t, admin, ".notice"), "L'envoi de l'annonce a commencé")
		sent := func() int {
			for range 50 {
				if n, err := strconv.Atoi(strings.TrimSpace(admin.TextNow(t, "#sent"))); err == nil {
					return n
				}
				time.Sleep(100 * time.Millisecond)
			}
			return -1
		}
		// The page's script refreshes the progress in place.
		require.Eventually(t, func() bool { return sent() >= 1 }, time.Minute, 200*time.Millisecond)
		admin.Run(t, chromedp.Click(`button[value=pause]`), chromedp.WaitVisible(`button[value=resume]`))
		assert.Equal(t, "en pause", strings.TrimSpace(admin.TextNow(t, "#announcement-status")))
		time.Sleep(3 * time.Second) // the mails under way finish
		admin.Open(t, admin.URL(t))
		paused := sent()
		time.Sleep(3 * time.Second)
		admin.Open(t, admin.URL(t))
		assert.Equal(t, paused, sent(), "nothing leaves while paused")
		assert.Less(t, paused, people)
		admin.Check(t, "console-annonce-pause", consoleWidths...)
		admin.Run(t, chromedp.Click(`button[value=resume]`), chromedp.WaitVisible(`button[value=pause]`))
		admin.Check(t, "console-annonce-envoi", consoleWidths...)
		require.Eventually(t, func() bool {
			admin.Open(t, admin.URL(t))
			return strings.TrimSpace(admin.TextNow(t, "#announcement-status")) == "envoyée"
		}, 2*time.Minute, time.Second)
		assert.Equal(t, people, sent())
		admin.Check(t, "console-annonce-envoyee", consoleWidths...)
		admin.Open(t, c.url+"/moderation/annonces")
		assert.Contains(t, textOf(t, admin, "table"), fmt.Sprintf("%d sur %d", people, people))
		assert.Len(t, s.smtp.Messages(), people, "each person once")
	})
}
