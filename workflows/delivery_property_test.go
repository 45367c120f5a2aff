package workflows

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"jardinier/activities/mail"
	"jardinier/models"
)

// propertyCases is how many random cases TestPolicyNeverActsTooSoon runs, unless
// POLICY_PROPERTY_CASES says otherwise (a larger count for a longer search).
const propertyCases = 200

// propertyHorizon is how long each case runs: long enough for two full countdowns.
const propertyHorizon = 400 * day

// policyCase is one random life of a space: when it is used, how the policy changes,
// whose mails bounce and what the moderators do.
type policyCase struct {
	seed       uint64
	activities []time.Duration // uses of the space, from the start of the test
	policies   []policyChange
	contactBad bool
	admins     []adminAddress
	actions    []moderatorAction
}

type policyChange struct {
	at     time.Duration
	policy models.InactivityPolicy
}

type adminAddress struct {
	at   time.Duration // when the admin gives their address
	addr string
	bad  bool // their mails bounce
}

type moderatorAction struct {
	at     time.Duration
	update string
}

// randomPolicy is a valid policy with steps between a few days and a few months.
func randomPolicy(r *rand.Rand) models.InactivityPolicy {
	var p models.InactivityPolicy
	at := time.Duration(10+r.IntN(80)) * day
	for i := range p.Offsets {
		p.Offsets[i] = at
		at += time.Duration(1+r.IntN(30)) * day
	}
	return p
}

func newPolicyCase(seed uint64) policyCase {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := policyCase{seed: seed, contactBad: r.IntN(2) == 0}
	some := func(n int) int { return r.IntN(n + 1) }
	when := func() time.Duration { return 2*time.Hour + time.Duration(r.Int64N(int64(propertyHorizon-day))) }
	for range some(4) {
		c.activities = append(c.activities, when())
	}
	slices.Sort(c.activities)
	for range some(2) {
		c.policies = append(c.policies, policyChange{at: when(), policy: randomPolicy(r)})
	}
	slices.SortFunc(c.policies, func(a, b policyChange) int { return int(a.at - b.at) })
	for i := range some(2) {
		c.admins = append(c.admins, adminAddress{at: when() / 2, addr: fmt.Sprintf("admin%d@asso.example", i), bad: r.IntN(2) == 0})
	}
	updates := []string{UpdateDeactivate, UpdateReactivate, UpdateExempt, UpdateUnexempt, UpdateDelete}
	for range some(3) {
		u := updates[r.IntN(len(updates))]
		if u == UpdateDelete && r.IntN(3) > 0 {
			u = UpdateExempt // a deletion by hand ends the case: rarer
		}
		c.actions = append(c.actions, moderatorAction{at: when(), update: u})
	}
	return c
}

// lastUse is the space's last use at now, as its instance reports it.
func (c policyCase) lastUse(start, now time.Time) time.Time {
	var last time.Time
	for _, a := range c.activities {
		if at := start.Add(a); !at.After(now) {
			last = at
		}
	}
	return last
}

// run plays the case on the harness.
func (c policyCase) run(t *testing.T) *harness {
	h, _ := activeSpace(t)
	h.lastActivity = func(now time.Time) time.Time { return c.lastUse(testStart, now) }
	for i, p := range c.policies {
		h.changePolicy(p.at, i+1, p.policy)
	}
	if c.contactBad {
		h.bounce(contactRecipient)
	}
	for i, a := range c.admins {
		if a.bad {
			h.bounce(a.addr)
		}
		h.setAdminEmail(a.at, fmt.Sprintf("admin%d", i), a.addr)
	}
	for _, a := range c.actions {
		h.send(a.at, a.update, ActionInput{Actor: "camille", Reason: "décision de test"}, &decisionAnswer{})
	}
	h.run(propertyHorizon)
	return h
}

// policiesAround are the policies that may be in force at a time: the last one
// changed before it, and one changed the same minute.
func (c policyCase) policiesAround(at time.Time) []models.InactivityPolicy {
	in := []models.InactivityPolicy{models.DefaultInactivityPolicy()}
	for _, p := range c.policies {
		switch changed := testStart.Add(p.at); {
		case changed.Before(at.Add(-time.Minute)):
			in = []models.InactivityPolicy{p.policy}
		case !changed.After(at):
			in = append(in, p.policy) // changed the same minute: either may be in force
		}
	}
	return in
}

// check returns what the case's run broke of the policy's promises, for each step the
// policy took itself: activity inside the policy's window, a date a mail gave not
// reached yet, or no warning of the countdown delivered to anyone.
func (c policyCase) check(h *harness) []string {
	var broken []string
	countdownStart := testStart
	deactivatedAt := time.Time{}
	for _, tr := range h.transitions {
		switch tr.Action {
		case ActionActivitySeen, UpdateReactivate, UpdateUnexempt, ActionProvisioned:
			countdownStart, deactivatedAt = tr.At, time.Time{}
			if tr.Action == UpdateUnexempt && tr.Status == models.StatusDeactivated {
				deactivatedAt = time.Time{}
			}
			continue
		case UpdateDeactivate:
			deactivatedAt = tr.At
		}
		if tr.Actor != models.ActorSystem || (tr.Action != UpdateDeactivate && tr.Action != UpdateDelete) {
			continue
		}
		step, i := models.StepDeactivation, models.StepIndex(models.StepDeactivation)
		if tr.Action == UpdateDelete {
			step, i = models.StepDeletion, models.StepIndex(models.StepDeletion)
		}
		// Inside the window of every policy that may be in force.
		last := c.lastUse(testStart, tr.At)
		for _, p := range c.policiesAround(tr.At) {
			if !last.IsZero() && tr.At.Sub(last) < p.Offsets[i] {
				broken = append(broken, fmt.Sprintf("%s at %s, %s after a use: within the policy's %s",
					step, tr.At, tr.At.Sub(last), p.Offsets[i]))
			}
		}
		delivered := false
		for j, m := range h.mails {
			sent := h.mailTimes[j]
			inCountdown := !sent.Before(countdownStart) && sent.Before(tr.At)
			ofDeactivation := m.Kind == mail.KindDeactivated && !deactivatedAt.IsZero() && !sent.Before(deactivatedAt)
			if !inCountdown && !ofDeactivation {
				continue
			}
			warns := m.Kind == mail.KindFirstWarning || m.Kind == mail.KindSecondWarning ||
				(step == models.StepDeletion && (m.Kind == mail.KindDeactivated || m.Kind == mail.KindDeletionNotice))
			if warns && h.delivered(m) {
				delivered = true
			}
			// The dates the mail gave for this step.
			promised := time.Time{}
			switch {
			case step == models.StepDeletion:
				promised = m.DeletionAt
			case m.Kind == mail.KindSecondWarning:
				promised = m.NextStepAt
			}
			if tr.At.Before(promised.Add(-time.Second)) {
				broken = append(broken, fmt.Sprintf("%s at %s, before %s that the %s mail of %s gave", step, tr.At, promised, m.Kind, sent))
			}
		}
		if !delivered {
			broken = append(broken, fmt.Sprintf("%s at %s without a delivered warning since %s", step, tr.At, countdownStart))
		}
	}
	return broken
}

func TestPolicyNeverActsTooSoon(t *testing.T) {
	n := propertyCases
	if v := os.Getenv("POLICY_PROPERTY_CASES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("POLICY_PROPERTY_CASES: want a number of cases, got %q", v)
		}
	}
	var deactivated, deleted, held int
	for seed := range uint64(n) {
		c := newPolicyCase(seed)
		var h *harness
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			h = c.run(t)
			if h.err != nil && !temporal.IsCanceledError(h.err) {
				t.Fatalf("the workflow failed: %v (case %+v)", h.err, c)
			}
			for _, b := range c.check(h) {
				t.Errorf("%s (case %+v)", b, c)
			}
		})
		if h == nil {
			continue
		}
		for _, tr := range h.transitions {
			switch {
			case tr.Actor == models.ActorSystem && tr.Action == UpdateDeactivate:
				deactivated++
			case tr.Actor == models.ActorSystem && tr.Action == UpdateDelete:
				deleted++
			case tr.Action == ActionPolicyHeld:
				held++
			}
		}
	}
	t.Logf("%d cases: %d deactivations and %d deletions by the policy, %d steps held", n, deactivated, deleted, held)
	if n >= 50 && (deactivated == 0 || deleted == 0 || held == 0) {
		t.Errorf("the cases never made the policy deactivate (%d), delete (%d) or hold (%d): they test nothing", deactivated, deleted, held)
	}
}
