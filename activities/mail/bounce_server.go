package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"gorm.io/gorm"

	"jardinier/models"
)

// maxBounceBytes bounds a bounce: a DSN returns at most the original message, and
// ours are a few kilobytes of text.
const maxBounceBytes = 4 << 20

// Bounces reads the relay's bounces: it parses each delivery status notification
// (RFC 3464), finds the mail it returns by its VERP return path or its Message-ID,
// and marks a hard bounce on the delivery and the address.
type Bounces struct {
	DB *gorm.DB
	// ReturnPath is MAIL_RETURN_PATH (see Activities.ReturnPath); empty: mails are
	// found by Message-ID only.
	ReturnPath string
	Log        *slog.Logger
}

// BounceReport says what one bounce changed.
type BounceReport struct {
	Hard    int // recipients that failed for good, marked
	Matched int // of which the mail was found
	Other   int // recipients delayed, delivered or failed for a while: nothing marked
}

// Record reads one bounce, sent to the envelope recipients rcpts, and marks its hard
// bounces. A message that is not a DSN (an out-of-office reply...) is ignored.
func (b *Bounces) Record(ctx context.Context, rcpts []string, data []byte) (BounceReport, error) {
	var rep BounceReport
	dsn, err := ParseDSN(data)
	if errors.Is(err, ErrNotDSN) {
		b.Log.InfoContext(ctx, "Mail to the bounce address that is no delivery report: ignored")
		return rep, nil
	} else if err != nil {
		return rep, err
	}
	ref := dsn.MessageID
	for _, rcpt := range rcpts {
		if token, ok := VERPToken(b.ReturnPath, rcpt); ok {
			ref = token // names the mail whatever the report kept of it
			break
		}
	}
	now := time.Now().UTC()
	for _, r := range dsn.Recipients {
		if !r.Hard() {
			rep.Other++
			continue
		}
		rep.Hard++
		hash := ""
		if r.FinalRecipient != "" {
			hash = models.AddressHash(r.FinalRecipient)
		}
		diagnostic := redactAddresses(r.Diagnostic)
		found, err := models.RecordBounce(ctx, b.DB, ref, hash, r.Status, diagnostic, now)
		if err != nil {
			return rep, err
		}
		if found {
			rep.Matched++
		}
		b.Log.InfoContext(ctx, "Hard bounce recorded", "mail", ref, "found", found, "status", r.Status, "diagnostic", diagnostic)
	}
	return rep, nil
}

// BounceServer is the SMTP server the relay sends its bounces to (BOUNCE_ADDR): the
// relay is set to deliver mail for MAIL_RETURN_PATH's domain to it.
type BounceServer struct {
	bounces *Bounces
	smtp    *smtp.Server
}

// NewBounceServer returns a server recording bounces through b; domain is the name it
// greets with.
func NewBounceServer(b *Bounces, domain string) *BounceServer {
	s := &BounceServer{bounces: b}
	s.smtp = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &bounceSession{server: s}, nil
	}))
	s.smtp.Domain = domain
	s.smtp.ReadTimeout = time.Minute
	s.smtp.WriteTimeout = time.Minute
	s.smtp.MaxMessageBytes = maxBounceBytes
	s.smtp.MaxRecipients = 10
	return s
}

// Serve accepts connections on l until Close.
func (s *BounceServer) Serve(l net.Listener) error {
	if err := s.smtp.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("bounce server: %w", err)
	}
	return nil
}

// Close stops the server.
func (s *BounceServer) Close() error { return s.smtp.Close() }

// bounceSession is one SMTP transaction of the relay.
type bounceSession struct {
	server *BounceServer
	rcpts  []string
}

func (c *bounceSession) Mail(string, *smtp.MailOptions) error { return nil }

// Rcpt accepts the return paths only, when MAIL_RETURN_PATH is set: the server is no
// relay for anything else.
func (c *bounceSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	rp := c.server.bounces.ReturnPath
	if _, domain, ok := strings.Cut(rp, "@"); ok {
		if _, d, _ := strings.Cut(to, "@"); !strings.EqualFold(d, domain) {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "not a return path of this service"}
		}
	}
	c.rcpts = append(c.rcpts, to)
	return nil
}

func (c *bounceSession) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.server.bounces.Record(ctx, c.rcpts, buf.Bytes()); err != nil {
		c.server.bounces.Log.Error("Bounce not recorded; the relay will send it again", "error", err)
		// A temporary failure: the relay keeps the bounce and tries again.
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "bounce not recorded, try again later"}
	}
	return nil
}

func (c *bounceSession) Reset()        { c.rcpts = nil }
func (c *bounceSession) Logout() error { return nil }
