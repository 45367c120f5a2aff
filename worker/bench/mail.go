package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"jardinier/models"
	"jardinier/workflows"
)

// MailOptions configure a run of the mail lane under an announcement.
type MailOptions struct {
	Config models.Config
	Mails  int     // people the announcement reaches, one mail each
	Rate   float64 // MAIL_RATE
	// Urgent is how many confirmation links contacts ask for during the announcement.
	Urgent int
	Output io.Writer
	Logger *slog.Logger
}

// MailReport is what a mail run measured.
type MailReport struct {
	Mails      int
	Rate       float64
	Wall       time.Duration // from the announcement's send to its last mail received
	Duplicates int           // announcement mails received by an address beyond its first
	Urgent     int
	UrgentP95  time.Duration // from a contact's request to its confirmation link received
	UrgentMax  time.Duration
	Floor      Floor // events per space: the announcement's, over its recipients
}

// Ideal is the wall time at exactly MAIL_RATE: N/R.
func (r MailReport) Ideal() time.Duration {
	return time.Duration(float64(r.Mails) / r.Rate * float64(time.Second))
}

// String is the report's one line.
func (r MailReport) String() string {
	return fmt.Sprintf("mail: mails=%d rate=%g wall=%.1fs ideal=%.1fs ratio=%.2f duplicates=%d urgent_p95=%.2fs urgent=%d urgent_max=%.2fs %s",
		r.Mails, r.Rate, r.Wall.Seconds(), r.Ideal().Seconds(), r.Wall.Seconds()/r.Ideal().Seconds(), r.Duplicates,
		r.UrgentP95.Seconds(), r.Urgent, r.UrgentMax.Seconds(), r.Floor)
}

// benchSubject is the announcement's subject, which tells its mails from the others.
const benchSubject = "Enquete annuelle du service"

// Mail starts the stack with MAIL_RATE=o.Rate and an SMTP server in this process,
// sends an announcement to o.Mails people through the API, and while it goes out asks
// for o.Urgent confirmation links as contacts do; it reports the announcement's wall
// time against N/R, the addresses that got it twice, and how long the links took.
func Mail(ctx context.Context, o MailOptions) (MailReport, error) {
	if o.Urgent > o.Mails {
		o.Urgent = o.Mails
	}
	inbox, err := startInbox()
	if err != nil {
		return MailReport{}, err
	}
	defer inbox.close()
	cfg := o.Config
	// About 10 history events a mail: the store stays in memory.
	stack, cleanup, err := startStack(ctx, cfg, "mail", false, o.Logger,
		"SMTP_URL="+inbox.url(), fmt.Sprintf("MAIL_RATE=%g", o.Rate))
	if err != nil {
		return MailReport{}, err
	}
	defer cleanup()
	cfg = stack.Config
	db, c, err := workflows.Connect(ctx, cfg, o.Logger)
	if err != nil {
		return MailReport{}, err
	}
	defer c.Close()
	floor, err := MeasureFloor(ctx, c)
	if err != nil {
		return MailReport{}, err
	}

	// The spaces whose contacts will ask for a link run their workflows; the others
	// are only rows: an announcement reads addresses, not workflows.
	if err := watchSpaces(ctx, db, c, cfg, o.Urgent, 8, o.Output, nil); err != nil {
		return MailReport{}, err
	}
	if err := insertAudience(ctx, db, o.Mails-o.Urgent); err != nil {
		return MailReport{}, err
	}
	token, _, err := models.CreateModerator(ctx, db, "bench", models.RoleAdmin)
	if err != nil {
		return MailReport{}, err
	}
	base := "http://" + cfg.APIAddr + "/api/v1"
	httpc := &http.Client{Timeout: time.Minute}
	var created struct {
		ID         string
		Recipients int
	}
	if err := post(ctx, httpc, base+"/announcements", token, map[string]any{"subject": benchSubject,
		"body": "Bonjour, dites-nous ce qui vous manque.", "audience": "contacts"}, http.StatusCreated, &created); err != nil {
		return MailReport{}, fmt.Errorf("write announcement: %w", err)
	}
	if created.Recipients != o.Mails {
		return MailReport{}, fmt.Errorf("the announcement reaches %d people, want %d", created.Recipients, o.Mails)
	}
	fmt.Fprintf(o.Output, "bench: sending an announcement to %d people at MAIL_RATE=%g, %d confirmation links asked for meanwhile\n",
		o.Mails, o.Rate, o.Urgent)
	start := time.Now()
	if err := post(ctx, httpc, base+"/announcements/"+created.ID+"/send", token, nil, http.StatusAccepted, nil); err != nil {
		return MailReport{}, fmt.Errorf("send announcement: %w", err)
	}

	// The links are asked for once the backlog is there, spread over the middle of the
	// announcement.
	ideal := time.Duration(float64(o.Mails) / o.Rate * float64(time.Second))
	asked := make(map[string]time.Time, o.Urgent)
	for i := range o.Urgent {
		at := start.Add(ideal/10 + time.Duration(i)*(ideal*7/10)/time.Duration(max(o.Urgent, 1)))
		select {
		case <-ctx.Done():
			return MailReport{}, ctx.Err()
		case <-time.After(time.Until(at)):
		}
		slug := fmt.Sprintf("idle-%05d", i)
		asked[slug+"@example.org"] = time.Now()
		if err := post(ctx, httpc, base+"/spaces/"+slug+"/request-deactivation", "", nil, http.StatusAccepted, nil); err != nil {
			return MailReport{}, fmt.Errorf("ask for a confirmation link: %w", err)
		}
	}

	deadline := time.Now().Add(3*ideal + 5*time.Minute)
	for {
		announced, urgent := inbox.counts()
		if announced >= o.Mails && urgent >= o.Urgent {
			break
		}
		if time.Now().After(deadline) {
			return MailReport{}, fmt.Errorf("after %s: %d of %d announcement mails, %d of %d links", time.Since(start).Round(time.Second),
				announced, o.Mails, urgent, o.Urgent)
		}
		select {
		case <-ctx.Done():
			return MailReport{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	// A duplicate would come late, from a retry: give it a moment.
	time.Sleep(2 * time.Second)
	r := MailReport{Mails: o.Mails, Rate: o.Rate, Urgent: o.Urgent, Floor: floor}
	last, dup, links := inbox.results()
	r.Wall, r.Duplicates = last.Sub(start), dup
	var delays []time.Duration
	for to, at := range links {
		if t0, ok := asked[to]; ok {
			delays = append(delays, at.Sub(t0))
		}
	}
	r.UrgentP95, r.UrgentMax = models.Percentile(delays, 95), models.Percentile(delays, 100)
	r.Floor.EventsPerSpace, err = EventsPerSpace(ctx, c, nil, []string{workflows.AnnouncementWorkflowID(created.ID)}, o.Mails)
	return r, err
}

// insertAudience writes n more spaces in service, each with its own contact, without
// workflows.
func insertAudience(ctx context.Context, db *gorm.DB, n int) error {
	const batch = 1000
	now := time.Now().UTC()
	for from := 0; from < n; from += batch {
		var apps []models.Application
		var spaces []models.Space
		for i := from; i < min(n, from+batch); i++ {
			slug, id := fmt.Sprintf("audience-%05d", i), uuid.NewString()
			apps = append(apps, models.Application{ID: id, Slug: slug, OrganizationName: "Association " + slug,
				OrganizationType: models.OrgAssociation1901, Sectors: []string{"culture"}, FoundedYear: 2010, Mission: "m",
				Actions: "a", Needs: "n", AccountsNeeded: 2, OfficeSuite: models.OfficeCollabora,
				ContactEmail: slug + "@example.org", TermsAcceptedAt: now})
			spaces = append(spaces, models.Space{Slug: slug, ApplicationID: &id, Status: models.StatusActive,
				NextcloudVersion: "31.0.9", OfficeSuite: models.OfficeCollabora, SubmittedAt: now})
		}
		if err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&apps).Error; err != nil {
				return err
			}
			return tx.Create(&spaces).Error
		}); err != nil {
			return fmt.Errorf("write audience: %w", err)
		}
	}
	return nil
}

// inbox is an SMTP server in the bench's process that accepts every mail and keeps,
// per address, when the announcement and the other mails arrived.
type inbox struct {
	srv  *smtp.Server
	addr string
	done chan struct{}

	mu        sync.Mutex
	announced map[string]int
	last      time.Time
	links     map[string]time.Time // the first other mail of each address
}

func startInbox() (*inbox, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("SMTP server: %w", err)
	}
	in := &inbox{addr: l.Addr().String(), done: make(chan struct{}), announced: map[string]int{}, links: map[string]time.Time{}}
	in.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &inboxSession{in: in}, nil }))
	in.srv.Domain = "localhost"
	in.srv.ReadTimeout, in.srv.WriteTimeout = 30*time.Second, 30*time.Second
	in.srv.MaxMessageBytes = 1 << 20
	go func() {
		defer close(in.done)
		_ = in.srv.Serve(l)
	}()
	return in, nil
}

func (in *inbox) url() string { return "smtp://" + in.addr + "?tls=none" }

func (in *inbox) close() {
	_ = in.srv.Close()
	<-in.done
}

func (in *inbox) accept(to []string, data []byte) {
	subject := ""
	if msg, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			subject = msg.Header.Get("Subject")
		}
	}
	now := time.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, addr := range to {
		addr = strings.ToLower(addr)
		if strings.Contains(subject, benchSubject) {
			in.announced[addr]++
			in.last = now
		} else if _, ok := in.links[addr]; !ok {
			in.links[addr] = now
		}
	}
}

// counts is how many addresses got the announcement, and how many another mail.
func (in *inbox) counts() (announced, others int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.announced), len(in.links)
}

func (in *inbox) results() (last time.Time, duplicates int, links map[string]time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, n := range in.announced {
		duplicates += n - 1
	}
	links = make(map[string]time.Time, len(in.links))
	for k, v := range in.links {
		links[k] = v
	}
	return in.last, duplicates, links
}

type inboxSession struct {
	in *inbox
	to []string
}

func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *inboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *inboxSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.in.accept(s.to, data)
	return nil
}

func (s *inboxSession) Reset()        { s.to = nil }
func (s *inboxSession) Logout() error { return nil }
