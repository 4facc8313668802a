package checker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
)

// Task judges a task with a check: its goal check passes and every fault
// it clears is cleared where the fault is (or worked around in a way the
// scenario accepts). The goal and the faults are observed together, in
// the same settle window. An answer task is not judged here.
func (c *Checker) Task(ctx context.Context, t *scenarios.Task) Outcome {
	if t.Check == nil {
		return Outcome{Observed: "task " + t.ID + " is judged by an answer, not on the lab"}
	}
	clears := Clears(c.Scenario, t)
	if len(clears) == 0 {
		return c.Check(ctx, t.Check)
	}
	final, attempt := false, 0
	return c.retryUntil(ctx, t.Check.Within, func() bool { return final }, func() (judgement, error) {
		attempt++
		var still []string
		var j judgement
		var err error
		if attempt == 1 {
			// The goal and the faults are observed side by side: each may
			// wait for a probe's timeout.
			done := make(chan []string)
			go func() { done <- c.stillThere(ctx, clears) }()
			j, err = c.observe(ctx, t.Check)
			still = <-done
		} else {
			j, err = c.observe(ctx, t.Check)
			if err == nil && j.pass {
				still = c.stillThere(ctx, clears)
			}
		}
		// The settle window is for a fix that is taking effect: while the
		// cause is still there, waiting cannot make the task pass, and the
		// first attempt's judgement is final. That holds for a task's own
		// window too: it is for what the fault leaves behind to age out
		// once the cause is gone (half-open connections), while a cleared
		// judgement looks at the cause itself, which a fix removes at
		// once. It holds whether or not the goal passed on that attempt:
		// a goal that passes now and then (half-open connections that
		// come and go with the flood) does not make waiting useful.
		final = attempt == 1 && len(still) > 0
		if err != nil || !j.pass {
			return j, err
		}
		if len(still) > 0 {
			return judgement{false, j.observed + causeMark + ": " + strings.Join(still, "; ")}, nil
		}
		return j, nil
	})
}

// stillThere judges the faults a task clears: what is still wrong, one
// observation per fault not cleared.
func (c *Checker) stillThere(ctx context.Context, clears []int) []string {
	var still []string
	for _, i := range clears {
		if err := c.cleared(ctx, i); err != nil {
			still = append(still, err.Error())
		}
	}
	return still
}

// Clears returns the indexes of the faults a task must clear: those its
// clears names, or every fault of the scenario for a check task that
// names none. An answer task clears nothing.
func Clears(s *scenarios.Scenario, t *scenarios.Task) []int {
	if t.Check == nil {
		return nil
	}
	var out []int
	for i, f := range s.Faults {
		if t.Clears == nil || contains(t.Clears, faultName(f)) {
			out = append(out, i)
		}
	}
	return out
}

func faultName(f scenarios.Fault) string {
	if f.Name != "" {
		return f.Name
	}
	return f.Kind
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Faults judges the faults of the scenario a checker's lab runs: the
// checker declares what it asks, and the lab package (lab.Faults)
// answers, so that the checker never names a fault kind.
type Faults interface {
	// Cleared returns nil when fault i of the scenario is gone where it
	// is; an error says what is still wrong there, never the fix.
	Cleared(ctx context.Context, i int) error
}

// cleared judges one fault of the scenario: nil when its root cause is
// gone where it is, or when a workaround the scenario accepts (a check)
// passes. The error says what is still wrong, never the fix.
func (c *Checker) cleared(ctx context.Context, i int) error {
	if c.Faults == nil {
		return fmt.Errorf("fault %q cannot be judged: the checker was given no faults to judge", faultName(c.Scenario.Faults[i]))
	}
	err := c.Faults.Cleared(ctx, i)
	if err == nil {
		return nil
	}
	for _, w := range c.Scenario.Faults[i].Accepts {
		if w.Check == nil {
			continue
		}
		once := *c
		once.Once = true
		if o := once.Check(ctx, w.Check); o.Pass {
			return nil
		}
	}
	return err
}

// retry observes until the judgement passes or the settle window (within,
// DefaultWithin when empty) is over.
func (c *Checker) retry(ctx context.Context, within string, observe func() (judgement, error)) Outcome {
	return c.retryUntil(ctx, within, func() bool { return false }, observe)
}

// retryUntil is retry that also stops once final says the last failing
// observation cannot change within the window.
func (c *Checker) retryUntil(ctx context.Context, within string, final func() bool, observe func() (judgement, error)) Outcome {
	w := DefaultWithin
	if within != "" {
		if d, err := time.ParseDuration(within); err == nil {
			w = d
		}
	}
	if c.MaxWithin > 0 && w > c.MaxWithin {
		w = c.MaxWithin
	}
	start := time.Now()
	var out Outcome
	probe.PollFor(ctx, retryInterval, w, func(context.Context) error {
		out.Attempts++
		j, err := observe()
		if err != nil {
			j = judgement{observed: "could not observe: " + err.Error()}
		}
		out.Pass, out.Observed = j.pass, j.observed
		if out.Pass || c.Once || final() {
			return nil
		}
		return errNotYet
	})
	out.Elapsed = time.Since(start)
	return out
}

// errNotYet tells the poll of a settle window to observe again.
var errNotYet = errors.New("not yet")

// retryInterval is the pause between two observations of a check.
const retryInterval = 250 * time.Millisecond
