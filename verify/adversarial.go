package verify

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/scenarios"
)

// PhaseAdversarial starts the name of the phase of each catalogue entry.
const PhaseAdversarial = "adversarial"

// adversarialSettle is how long a check may take to pass after a
// catalogue entry was applied: a pause, then each check's own settle
// window capped at adversarialWithin. The entry was applied with the
// commands' own waits (a restarted service is ready when its step ends).
const (
	adversarialSettle = 300 * time.Millisecond
	adversarialWithin = time.Second
)

// adversarialJobs returns a job per catalogue entry that applies to the
// scenario; each reports one phase.
func (v *verifier) adversarialJobs(ctx context.Context) []func(out *[]PhaseResult) {
	lab := false
	for _, t := range v.s.Tasks {
		lab = lab || t.Check != nil
	}
	if !lab {
		return []func(out *[]PhaseResult){func(out *[]PhaseResult) {
			RunPhase(out, PhaseAdversarial, func(p *PhaseResult) {
				p.Details = append(p.Details, "no task is judged on the lab: there is nothing to work around")
			})
		}}
	}
	accepted := checker.Accepted(v.s)
	var jobs []func(out *[]PhaseResult)
	for _, w := range checker.Catalogue() {
		variants := w.Variants(v.s)
		if len(variants) == 0 {
			continue
		}
		jobs = append(jobs, func(out *[]PhaseResult) { v.tryWorkaround(ctx, w, variants, accepted[w.Name], out) })
	}
	for name := range accepted {
		if checker.CatalogueEntry(name) == nil && !checker.AcceptedByCheck(v.s, name) {
			jobs = append(jobs, func(out *[]PhaseResult) {
				RunPhase(out, PhaseAdversarial, func(p *PhaseResult) {
					p.Problems = append(p.Problems, fmt.Sprintf("a fault accepts %q, which is neither an entry of the adversarial catalogue nor given a check", name))
				})
			})
		}
	}
	return jobs
}

// tryWorkaround applies each variant of a catalogue entry to its own fresh
// broken lab and judges every lab task and invariant. The entry passes
// the scenario when one variant leaves nothing failing.
func (v *verifier) tryWorkaround(ctx context.Context, w checker.Workaround, variants [][]scenarios.Step, accepted bool, out *[]PhaseResult) {
	RunPhase(out, PhaseAdversarial+" "+w.Name, func(p *PhaseResult) {
		for n, steps := range variants {
			passes, detail := v.tryVariant(ctx, steps)
			p.Details = append(p.Details, fmt.Sprintf("variant %d: %s", n+1, detail))
			if !passes {
				continue
			}
			if accepted {
				p.Details = append(p.Details, "the scenario accepts this workaround")
				return
			}
			p.Problems = append(p.Problems, fmt.Sprintf("the catalogue's %s (%s) passes every task and invariant on the broken lab; make a task clear the fault it works around, add an invariant or a goal it cannot satisfy, or accept it on the fault (accepts: [{name: %s}])", w.Name, strings.TrimSuffix(w.Does, "."), w.Name))
			return
		}
	})
}

func (v *verifier) tryVariant(ctx context.Context, steps []scenarios.Step) (bool, string) {
	c, stop, err := v.start(ctx, true)
	if err != nil {
		return false, "starting the lab with its faults: " + err.Error()
	}
	defer stop()
	v.waitSymptoms(ctx, c)
	runByHost(ctx, c, steps)
	select {
	case <-ctx.Done():
	case <-time.After(adversarialSettle):
	}
	c.MaxWithin = adversarialWithin
	if what, failing := v.firstFailure(ctx, c); failing {
		return false, "rejected: " + what
	}
	return true, "passes every task and invariant"
}

// stepsAtOnce bounds the hosts a catalogue entry acts on at once.
const stepsAtOnce = 16

// runByHost runs a variant's steps, each host's in order and the hosts
// side by side (an entry that acts on every host of a 200-host LAN would
// otherwise spend most of its time starting commands one after another).
func runByHost(ctx context.Context, c *testLab, steps []scenarios.Step) {
	var order []string
	byHost := map[string][]scenarios.Step{}
	for _, st := range steps {
		if _, ok := byHost[st.Host]; !ok {
			order = append(order, st.Host)
		}
		byHost[st.Host] = append(byHost[st.Host], st)
	}
	sem := make(chan struct{}, stepsAtOnce)
	var wg sync.WaitGroup
	for _, h := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for _, st := range byHost[h] {
				lab.RunStep(ctx, c.Lab, st)
			}
		}()
	}
	wg.Wait()
}

// waitSymptoms observes every fault's symptom, so that a workaround is
// tried on a lab that is really broken (a flood needs a moment).
func (v *verifier) waitSymptoms(ctx context.Context, c *testLab) {
	for i := range v.s.Faults {
		c.faults.Observe(ctx, i)
	}
}

// firstFailure judges the lab's tasks with a check, then the invariants,
// and stops at the first that fails: what it observed, and true.
func (v *verifier) firstFailure(ctx context.Context, c *testLab) (string, bool) {
	for _, t := range v.s.Tasks {
		if t.Check == nil {
			continue
		}
		if o := c.Task(ctx, &t); !o.Pass {
			return fmt.Sprintf("task %s still fails: %s", t.ID, o.Observed), true
		}
	}
	for _, inv := range v.s.Invariants {
		if o := c.Check(ctx, &inv.Check); !o.Pass {
			return fmt.Sprintf("invariant %q is broken: %s", inv.Name, o.Observed), true
		}
	}
	return "", false
}
