// Package mailtest runs a real SMTP server in the test process, so that tests send
// mails over the wire and read what arrived.
package mailtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Received is one mail the server accepted.
type Received struct {
	From      string   // envelope sender (MAIL FROM)
	To        []string // envelope recipients (RCPT TO)
	Data      []byte   // the message as transmitted
	Subject   string   // decoded
	Body      string   // decoded text
	MessageID string   // without angle brackets
	// At is when the server accepted it; zero for a message read by Decode.
	At time.Time
}

// Server is an SMTP server on 127.0.0.1 that accepts every mail, without
// authentication or TLS, and keeps them in memory.
type Server struct {
	smtp    *smtp.Server
	addr    string
	arrived chan struct{} // signalled after each accepted mail

	mu         sync.Mutex
	messages   []Received
	rejectNext int
	bounceNext int // refused for good (550)
}

// Start starts a server on a free port; it is closed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s := &Server{addr: l.Addr().String(), arrived: make(chan struct{}, 1)}
	s.smtp = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{server: s}, nil
	}))
	s.smtp.Domain = "localhost"
	s.smtp.ReadTimeout = 10 * time.Second
	s.smtp.WriteTimeout = 10 * time.Second
	s.smtp.MaxMessageBytes = 1 << 20
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.smtp.Serve(l) // returns when closed
	}()
	t.Cleanup(func() {
		_ = s.smtp.Close()
		<-done
	})
	return s
}

// URL is the server's address for mail.NewSMTPSender: smtp://127.0.0.1:<port>?tls=none.
func (s *Server) URL() string { return "smtp://" + s.addr + "?tls=none" }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Messages returns the mails accepted so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.messages...)
}

// RejectNext makes the server refuse the next n recipients with a temporary failure
// (451), as a greylisting server does; their mails are not kept.
func (s *Server) RejectNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectNext = n
}

// BounceNext makes the server refuse the next n recipients for good (550 no such user),
// as a server does for an address that does not exist.
func (s *Server) BounceNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bounceNext = n
}

// bounce reports whether the server was told to refuse the next recipient for good.
func (s *Server) bounce() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bounceNext > 0 {
		s.bounceNext--
		return true
	}
	return false
}

// WaitFor waits until at least n mails have arrived and returns them; the test fails if
// they have not within timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if msgs := s.Messages(); len(msgs) >= n {
			return msgs
		}
		select {
		case <-s.arrived:
		case <-deadline.C:
			t.Fatalf("mailtest: %d mail(s) arrived within %s, want %d", len(s.Messages()), timeout, n)
			return nil
		}
	}
}

// refuse reports whether the server was told to refuse the next recipient.
func (s *Server) refuse() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rejectNext > 0 {
		s.rejectNext--
		return true
	}
	return false
}

// accept keeps a mail.
func (s *Server) accept(r Received) {
	s.mu.Lock()
	r.At = time.Now()
	s.messages = append(s.messages, r)
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default: // a signal is already pending
	}
}

// session is one SMTP transaction in progress.
type session struct {
	server *Server
	from   string
	to     []string
}

func (c *session) Mail(from string, _ *smtp.MailOptions) error {
	c.from = from
	return nil
}

func (c *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if c.server.bounce() {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "<" + to + ">: no such user"}
	}
	if c.server.refuse() {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
			Message: "<" + to + ">: greylisted, try again later"}
	}
	c.to = append(c.to, to)
	return nil
}

func (c *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	// A mail that cannot be decoded is still kept: the test will see it is wrong.
	received, _ := Decode(data)
	received.From, received.To = c.from, c.to
	c.server.accept(received)
	return nil
}

func (c *session) Reset() {
	c.from, c.to = "", nil
}

func (c *session) Logout() error { return nil }

// Decode reads a raw RFC 5322 message (as received, or an .eml file): its subject, its
// Message-ID and its single text part, decoded. From and To, the envelope, stay empty.
func Decode(data []byte) (Received, error) {
	r := Received{Data: data}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return r, fmt.Errorf("mailtest: parse message: %w", err)
	}
	r.Subject = decodeHeader(msg.Header.Get("Subject"))
	r.MessageID = strings.Trim(msg.Header.Get("Message-Id"), "<> ")
	r.Body, err = decodeBody(msg)
	return r, err
}

func decodeHeader(v string) string {
	decoded, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		return v
	}
	return decoded
}

// decodeBody returns the text of a single-part message, undoing its transfer encoding.
func decodeBody(msg *mail.Message) (string, error) {
	var r io.Reader = msg.Body
	switch strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("mailtest: decode body: %w", err)
	}
	// Bodies travel with CRLF line ends; tests compare with Go strings.
	return strings.ReplaceAll(string(b), "\r\n", "\n"), nil
}
