package models

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Application error codes. Each is mapped to an HTTP status in one place (api/errors.go).
const (
	EINVALID      = "invalid"      // the input is malformed or breaks a rule
	ECONFLICT     = "conflict"     // the request conflicts with the current state
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	EUNAUTHORIZED = "unauthorized" // no valid credentials
	EFORBIDDEN    = "forbidden"    // valid credentials, wrong role
	ELIMIT        = "limit"        // a quota or rate limit was reached
	EUNAVAILABLE  = "unavailable"  // a dependency is down; retry later
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is an error meant for the user: a code, the field at fault if any, and a
// message that is safe to show.
type Error struct {
	Code    string
	Field   string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf builds an Error with a code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError builds an EINVALID Error naming the field at fault.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an application error, EINTERNAL for any other error
// and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// FieldErrors is every field error of one request, at most one per field, so that a
// person sees all their mistakes at once. errors.As finds the first one: a caller that
// knows only *Error answers as before.
type FieldErrors []*Error

// Add appends err unless it is nil or its field already has an error; a FieldErrors is
// added error by error, and any other error is kept as it is.
func (e *FieldErrors) Add(err error) {
	if err == nil {
		return
	}
	var list FieldErrors
	if errors.As(err, &list) {
		for _, fe := range list {
			e.Add(fe)
		}
		return
	}
	var fe *Error
	if !errors.As(err, &fe) {
		fe = &Error{Code: EINTERNAL, Message: err.Error()}
	}
	if fe.Field != "" && e.Has(fe.Field) {
		return
	}
	*e = append(*e, fe)
}

// Has tells whether field already has an error.
func (e FieldErrors) Has(field string) bool {
	return slices.ContainsFunc(e, func(fe *Error) bool { return fe.Field == field })
}

// Sort puts the errors in the order of the fields named; others go last.
func (e FieldErrors) Sort(fields []string) {
	rank := func(fe *Error) int {
		if i := slices.Index(fields, fe.Field); i >= 0 {
			return i
		}
		return len(fields)
	}
	slices.SortStableFunc(e, func(a, b *Error) int { return rank(a) - rank(b) })
}

// Err returns the list as an error, nil when it is empty.
func (e FieldErrors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Error implements the error interface with every error, in order.
func (e FieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, fe := range e {
		parts[i] = fe.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap gives errors.Is and errors.As every error of the list.
func (e FieldErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, fe := range e {
		errs[i] = fe
	}
	return errs
}

// FieldErrorsOf returns every application error err holds: the list of a FieldErrors,
// or the one *Error; nil for any other error.
func FieldErrorsOf(err error) FieldErrors {
	var list FieldErrors
	if errors.As(err, &list) {
		return list
	}
	var fe *Error
	if errors.As(err, &fe) {
		return FieldErrors{fe}
	}
	return nil
}
