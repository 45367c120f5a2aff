package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one plain-text mail ready to go.
type Message struct {
	From      string // "Name <address>" or a bare address
	To        string
	Subject   string
	Body      string
	MessageID string // "<id>@<domain>", without angle brackets
	Date      time.Time
	// ReturnPath is the envelope sender bounces go back to (VERP, see
	// Activities.ReturnPath); empty: From.
	ReturnPath string
}

// Sender hands a message over for delivery. A nil error means the message was accepted
// (by the mail server, or written to disk); retrying a failed Send is safe.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// smtpTimeout bounds each phase of an SMTP session: connecting, then greeting, TLS and
// authentication, then the message (it is the connection's deadline, renewed between
// phases). Three phases stay under a one-minute start-to-close timeout, so a stalled
// server fails the attempt before Temporal starts another one beside it.
const smtpTimeout = 15 * time.Second

// SMTPSender sends mails to an SMTP server, one session per message.
type SMTPSender struct {
	client *gomail.Client
}

// NewSMTPSender returns a Sender for an SMTP server given as a URL:
//
//	smtp://[user:password@]host[:port]            STARTTLS when offered (port 25 by default)
//	smtp://host:port?tls=required                 STARTTLS or fail
//	smtp://host:port?tls=none                     plain text, for local relays and tests
//	smtps://[user:password@]host[:port]           implicit TLS (port 465 by default)
//
// Credentials, when present, are used with the strongest mechanism the server offers.
func NewSMTPSender(rawURL string) (*SMTPSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// The URL may hold a password: never repeat it in the error.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("SMTP URL: %w", err)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("SMTP URL: no host")
	}
	opts := []gomail.Option{gomail.WithTimeout(smtpTimeout)}
	port := gomail.DefaultPort
	tlsMode := u.Query().Get("tls")
	switch u.Scheme {
	case "smtp":
		switch tlsMode {
		case "", "opportunistic":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
		case "required":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		case "none":
			opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		default:
			return nil, fmt.Errorf("SMTP URL: tls=%q: want opportunistic, required or none", tlsMode)
		}
	case "smtps":
		if tlsMode != "" {
			return nil, fmt.Errorf("SMTP URL: smtps:// always uses TLS, remove tls=%q", tlsMode)
		}
		port = gomail.DefaultPortSSL
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("SMTP URL: scheme %q: want smtp or smtps", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("SMTP URL: port %q: not a number", p)
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if u.User != nil && u.User.Username() != "" {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	client, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP URL: %w", err)
	}
	return &SMTPSender{client: client}, nil
}

// Send delivers m in its own SMTP session. The client is shared: each call dials its own
// connection, so concurrent activities do not wait for one another.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg, err := buildMessage(m)
	if err != nil {
		return err
	}
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		var sendErr *gomail.SendError
		if errors.As(err, &sendErr) && !sendErr.IsTemp() && sendErr.ErrorCode() >= 500 {
			return fmt.Errorf("smtp %s: %w: %w", s.client.ServerAddr(), ErrRefused, redactedError{err: err, secret: m.To})
		}
		return fmt.Errorf("smtp %s: %w", s.client.ServerAddr(), redactedError{err: err, secret: m.To})
	}
	return nil
}

// ErrRefused marks a mail the server refused for good (a 5xx reply, such as an
// address that does not exist): sending it again would fail the same way.
var ErrRefused = errors.New("refused by the mail server")

// redactedError hides the recipient's address, personal data, from a server's reply
// ("550 <someone@example.org>: no such user") before it reaches logs and workflow
// history. It has no Unwrap on purpose: Temporal records every error of a chain as a
// cause in the history, and the original error names the recipient.
type redactedError struct {
	err    error
	secret string
}

func (e redactedError) Error() string {
	if e.secret == "" {
		return e.err.Error()
	}
	return strings.ReplaceAll(e.err.Error(), e.secret, "[redacted]")
}

// DirSender writes each mail as an RFC 5322 .eml file in a directory, for development
// machines that have no mail server: open the files with any mail client.
type DirSender struct {
	dir string
}

// NewDirSender returns a Sender writing to dir, created if missing.
func NewDirSender(dir string) (*DirSender, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail directory: %w", err)
	}
	return &DirSender{dir: dir}, nil
}

// Send writes m to <dir>/<UTC time>-<message id>.eml. The file appears whole or not at
// all: it is written under a temporary name, then renamed.
func (d *DirSender) Send(_ context.Context, m Message) error {
	if m.Date.IsZero() {
		m.Date = time.Now()
	}
	msg, err := buildMessage(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return fmt.Errorf("write mail %s: %w", m.MessageID, err)
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return fmt.Errorf("mail directory: %w", err)
	}
	// Mails may hold passwords: the file is readable by its owner only (CreateTemp: 0600).
	tmp, err := os.CreateTemp(d.dir, ".tmp-*.eml")
	if err != nil {
		return fmt.Errorf("write mail %s: %w", m.MessageID, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write mail %s: %w", m.MessageID, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write mail %s: %w", m.MessageID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write mail %s: %w", m.MessageID, err)
	}
	name := m.Date.UTC().Format("20060102T150405.000000000Z") + "-" + fileSafe(m.MessageID) + ".eml"
	if err := os.Rename(tmp.Name(), filepath.Join(d.dir, name)); err != nil {
		return fmt.Errorf("write mail %s: %w", m.MessageID, err)
	}
	return nil
}

// buildMessage turns m into a UTF-8, quoted-printable, text/plain MIME message.
func buildMessage(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP),
		gomail.WithNoDefaultUserAgent())
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("mail sender address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		// The address is personal data: the error says which mail, not which address.
		return nil, fmt.Errorf("mail %s: invalid recipient address", m.MessageID)
	}
	if m.ReturnPath != "" {
		if err := msg.EnvelopeFrom(m.ReturnPath); err != nil {
			return nil, fmt.Errorf("mail %s: return path: %w", m.MessageID, err)
		}
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(strings.Trim(m.MessageID, "<>"))
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	msg.SetDateWithValue(date)
	// RFC 3834: out-of-office replies and other robots must not answer.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	return msg, nil
}

// fileSafe keeps the characters of s that are safe in a file name on any system.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_', r == '@':
			return r
		}
		return '_'
	}, strings.Trim(s, "<>"))
}
