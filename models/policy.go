package models

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Step is one step of the inactivity policy.
type Step string

// The steps of the inactivity policy, in order (DOMAIN.md, "The inactivity policy").
const (
	StepFirstWarning   Step = "warn1"      // first warning mail
	StepSecondWarning  Step = "warn2"      // second warning mail
	StepDeactivation   Step = "deactivate" // space out of service, reactivation link mailed
	StepDeletionNotice Step = "notice"     // mail announcing the deletion
	StepDeletion       Step = "delete"     // the space and all its data are deleted
)

// Steps lists the policy's steps in order.
var Steps = []Step{StepFirstWarning, StepSecondWarning, StepDeactivation, StepDeletionNotice, StepDeletion}

// InactivityPolicy is how long after the last activity each step is due.
type InactivityPolicy struct {
	Offsets [5]time.Duration // indexed like Steps
}

// DefaultInactivityPolicy is the service's published policy: warnings at 60 and 75
// days of inactivity, deactivation at 90, deletion notice at 105, deletion at 120.
func DefaultInactivityPolicy() InactivityPolicy {
	const day = 24 * time.Hour
	return InactivityPolicy{Offsets: [5]time.Duration{60 * day, 75 * day, 90 * day, 105 * day, 120 * day}}
}

// Offset is how long after the last activity a step is due.
func (p InactivityPolicy) Offset(s Step) time.Duration { return p.Offsets[StepIndex(s)] }

// StepIndex is the position of a step in Steps, -1 if unknown.
func StepIndex(s Step) int {
	for i, st := range Steps {
		if st == s {
			return i
		}
	}
	return -1
}

// Validate checks that every offset is positive and each step comes strictly after the
// one before.
func (p InactivityPolicy) Validate() error {
	for i, d := range p.Offsets {
		if d <= 0 {
			return fmt.Errorf("%s must be positive", Steps[i])
		}
		if i > 0 && d <= p.Offsets[i-1] {
			return fmt.Errorf("%s (%s) must come strictly after %s (%s)", Steps[i], FormatPolicyDuration(d),
				Steps[i-1], FormatPolicyDuration(p.Offsets[i-1]))
		}
	}
	return nil
}

// String formats the policy as INACTIVITY_POLICY reads it.
func (p InactivityPolicy) String() string {
	parts := make([]string, len(Steps))
	for i, s := range Steps {
		parts[i] = string(s) + "=" + FormatPolicyDuration(p.Offsets[i])
	}
	return strings.Join(parts, ",")
}

// ParseInactivityPolicy reads "warn1=60d,warn2=75d,deactivate=90d,notice=105d,delete=120d"
// (units s, m, h, d). Every step must be given once.
func ParseInactivityPolicy(s string) (InactivityPolicy, error) {
	var p InactivityPolicy
	seen := map[Step]bool{}
	for _, part := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		step := Step(strings.TrimSpace(name))
		i := StepIndex(step)
		if !ok || i < 0 {
			return p, fmt.Errorf("%q: want step=duration with step one of warn1, warn2, deactivate, notice, delete", part)
		}
		if seen[step] {
			return p, fmt.Errorf("%s is given twice", step)
		}
		d, err := parsePolicyDuration(strings.TrimSpace(value))
		if err != nil {
			return p, fmt.Errorf("%s: %w", step, err)
		}
		seen[step], p.Offsets[i] = true, d
	}
	for _, st := range Steps {
		if !seen[st] {
			return p, fmt.Errorf("%s is missing", st)
		}
	}
	return p, p.Validate()
}

func parsePolicyDuration(v string) (time.Duration, error) {
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}
	if len(v) < 2 {
		return 0, fmt.Errorf("%q: want a whole number and a unit (s, m, h or d), such as 60d", v)
	}
	unit, ok := units[v[len(v)-1]]
	n, err := strconv.Atoi(v[:len(v)-1])
	if !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: want a positive whole number and a unit (s, m, h or d), such as 60d", v)
	}
	return time.Duration(n) * unit, nil
}

// FormatPolicyDuration writes a duration in the largest unit of INACTIVITY_POLICY that
// divides it.
func FormatPolicyDuration(d time.Duration) string {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}} {
		if d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
