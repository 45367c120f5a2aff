package mail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
)

// DSN is what a delivery status notification (RFC 3464) says of the mail it returns.
type DSN struct {
	// MessageID is the returned mail's Message-ID, without angle brackets, read from
	// its headers in the report's third part; "" if the report did not include them.
	MessageID  string
	Recipients []DSNRecipient
}

// DSNRecipient is the per-recipient part of a DSN.
type DSNRecipient struct {
	FinalRecipient string // the address, without its "rfc822;" type
	Action         string // failed, delayed, delivered, relayed or expanded (lowercase)
	Status         string // the enhanced status code, such as 5.1.1
	Diagnostic     string // Diagnostic-Code without its type, such as "550 5.1.1 user unknown"
}

// Hard reports whether the recipient's mail failed for good: action failed with a
// permanent (5.x.x) status.
func (r DSNRecipient) Hard() bool {
	return r.Action == "failed" && strings.HasPrefix(r.Status, "5.")
}

// ErrNotDSN marks a message that is not a delivery status notification: no
// multipart/report with a message/delivery-status part.
var ErrNotDSN = errors.New("not a delivery status notification")

// ParseDSN reads a delivery status notification (RFC 3464): a multipart/report whose
// parts are a text for people, the message/delivery-status fields, and the returned
// message or its headers (message/rfc822 or text/rfc822-headers).
func ParseDSN(data []byte) (DSN, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return DSN{}, fmt.Errorf("read bounce: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/report" || params["boundary"] == "" {
		return DSN{}, ErrNotDSN
	}
	var dsn DSN
	found := false
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := parts.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return DSN{}, fmt.Errorf("read bounce: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(part, 1<<20))
		if err != nil {
			return DSN{}, fmt.Errorf("read bounce: %w", err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "message/delivery-status", "message/global-delivery-status":
			if dsn.Recipients, err = parseDeliveryStatus(body); err != nil {
				return DSN{}, err
			}
			found = true
		case "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers":
			dsn.MessageID = returnedMessageID(body)
		}
	}
	if !found {
		return DSN{}, ErrNotDSN
	}
	return dsn, nil
}

// parseDeliveryStatus reads the fields of a message/delivery-status part: a group of
// per-message fields, then one group per recipient, separated by blank lines.
func parseDeliveryStatus(body []byte) ([]DSNRecipient, error) {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(body)))
	var out []DSNRecipient
	for first := true; ; first = false {
		h, err := r.ReadMIMEHeader()
		if len(h) > 0 && !first {
			out = append(out, DSNRecipient{
				FinalRecipient: typedValue(h.Get("Final-Recipient")),
				Action:         strings.ToLower(strings.TrimSpace(h.Get("Action"))),
				Status:         statusCode(h.Get("Status")),
				Diagnostic:     typedValue(h.Get("Diagnostic-Code")),
			})
		}
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("read delivery status: %w", err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read delivery status: no recipient")
	}
	return out, nil
}

// typedValue drops the type of a DSN field ("rfc822; someone@example.org", "smtp;
// 550 ..."), keeping its value.
func typedValue(v string) string {
	if _, value, ok := strings.Cut(v, ";"); ok {
		return strings.TrimSpace(value)
	}
	return strings.TrimSpace(v)
}

// statusCode keeps the code of a Status field, which may carry a comment: "5.1.1
// (user unknown)".
func statusCode(v string) string {
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}

// returnedMessageID reads the Message-ID of the returned message or headers.
func returnedMessageID(body []byte) string {
	if !bytes.Contains(body, []byte("\n\n")) && !bytes.Contains(body, []byte("\r\n\r\n")) {
		body = append(body, "\r\n\r\n"...) // headers alone: end them
	}
	msg, err := mail.ReadMessage(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	return strings.Trim(msg.Header.Get("Message-Id"), "<> \t")
}

// addressPattern finds e-mail addresses in a diagnostic, which often repeats the
// recipient's: it is personal data, kept out of the database and the logs.
var addressPattern = regexp.MustCompile(`[^\s<>()\[\]"';:,]+@[^\s<>()\[\]"';:,]+`)

// redactAddresses replaces every address in s.
func redactAddresses(s string) string {
	return addressPattern.ReplaceAllString(s, "[adresse]")
}
