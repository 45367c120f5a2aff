package api

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"jardinier/models"
)

// The form's answers that are numbers: the HTML form sends them as text, the JSON API
// as numbers.
var (
	formIntFields = []string{"founded_year", "employees", "members", "beneficiaries", "storage_needed_gb", "accounts_needed"}
	formBoolTrue  = []string{"true", "on", "oui"}
	formBoolFalse = []string{"false", "non"}
)

// decodeApplicationForm reads the HTML application form, whose fields carry the JSON
// API's names, into the request the JSON API decodes. An answer that cannot be read (a
// word where a number goes) is an error of its field, listed with the others.
func decodeApplicationForm(form url.Values) (*applicationRequest, models.FieldErrors) {
	var errs models.FieldErrors
	text := func(name string) string { return strings.TrimSpace(form.Get(name)) }
	req := &applicationRequest{
		OrganizationName: text("organization_name"),
		OrganizationType: text("organization_type"),
		Sectors:          form["sectors"],
		Mission:          text("mission"),
		Actions:          text("actions"),
		Needs:            text("needs"),
		Slug:             text("slug"),
		OfficeSuite:      text("office_suite"),
		ContactEmail:     text("contact_email"),
	}
	ints := map[string]**int{"founded_year": &req.FoundedYear, "employees": &req.Employees,
		"members": &req.Members, "beneficiaries": &req.Beneficiaries,
		"storage_needed_gb": &req.StorageNeededGB, "accounts_needed": &req.AccountsNeeded}
	for _, name := range formIntFields {
		n, ok, err := formNumber(form.Get(name))
		if err != nil {
			errs.Add(models.FieldError(name, "doit être un nombre entier, en chiffres"))
		} else if ok {
			v := int(n)
			*ints[name] = &v
		}
	}
	if n, ok, err := formNumber(form.Get("annual_budget_eur")); err != nil {
		errs.Add(models.FieldError("annual_budget_eur", "doit être un nombre entier d'euros, en chiffres, ou rester vide"))
	} else if ok {
		req.AnnualBudgetEUR = &n
	}
	var err error
	if req.WorksInFrench, err = formBool(form.Get("works_in_french")); err != nil {
		errs.Add(models.FieldError("works_in_french", "répondez par oui ou par non"))
	}
	if req.TermsAccepted, err = formBool(form.Get("terms_accepted")); err != nil {
		errs.Add(models.FieldError("terms_accepted", "cochez la case pour accepter les conditions d'utilisation"))
	}
	return req, errs
}

// formNumber reads a whole number typed by a person: "1 200" and "1200" alike. ok is
// false for an empty answer.
func formNumber(v string) (n int64, ok bool, err error) {
	v = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\u00a0' || r == '\u202f' || r == '.' {
			return -1 // thousands separators
		}
		return r
	}, v)
	if v == "" {
		return 0, false, nil
	}
	n, err = strconv.ParseInt(v, 10, 32)
	return n, err == nil, err
}

// formBool reads a yes-or-no answer; nil when there is none.
func formBool(v string) (*bool, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	switch {
	case v == "":
		return nil, nil
	case slices.Contains(formBoolTrue, v):
		b := true
		return &b, nil
	case slices.Contains(formBoolFalse, v):
		b := false
		return &b, nil
	}
	return nil, models.FieldError("", "ni oui ni non")
}

// formState is a form as the person left it: every value typed, and the errors of a
// refused submission, for the template to show beside each field and in the summary.
type formState struct {
	values url.Values
	Errors models.FieldErrors
}

// Value is what was typed in a field.
func (f formState) Value(name string) string { return f.values.Get(name) }

// Checked tells whether a checkbox or radio button of a field was chosen.
func (f formState) Checked(name, value string) bool { return slices.Contains(f.values[name], value) }

// Error is the error of a field, "" if none.
func (f formState) Error(name string) string {
	for _, e := range f.Errors {
		if e.Field == name {
			return e.Message
		}
	}
	return ""
}

// Describedby is the aria-describedby of a field: its help text, and its error if any.
func (f formState) Describedby(name string, hint bool) string {
	var ids []string
	if hint {
		ids = append(ids, name+"-hint")
	}
	if f.Error(name) != "" {
		ids = append(ids, name+"-error")
	}
	return strings.Join(ids, " ")
}
