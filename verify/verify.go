// Package verify proves scenarios sound on fresh labs: it starts labs
// through the lab package (healthy, broken, after the reference solution,
// after each wrong fix and each adversarial workaround), has the checker
// judge them, and reports each phase (text, JSON, JUnit).
//
// It starts no lab and judges no task itself: labs are started, stepped
// and stopped by lab, tasks and invariants judged by checker. It runs a
// scenario's own steps as root, and never touches a lab it did not start.
package verify

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// Phase names of a verification.
const (
	PhaseHealthy  = "healthy"
	PhaseBroken   = "broken"
	PhaseSolution = "solution"
	PhaseWrongFix = "wrong-fix"
	PhaseTeardown = "teardown"
)

// PhaseResult is one phase of a verification.
type PhaseResult struct {
	Name     string        `json:"name"`
	Pass     bool          `json:"pass"`
	Details  []string      `json:"details,omitempty"` // what was observed, each line a check
	Problems []string      `json:"problems,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Report is the verification of one scenario.
type Report struct {
	Scenario string        `json:"scenario"`
	File     string        `json:"file"`
	Seed     uint64        `json:"seed"`
	Pass     bool          `json:"pass"`
	Phases   []PhaseResult `json:"phases"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Options tune Scenario.
type Options struct {
	Store sandbox.Store
	// LabPrefix starts the names of the labs Scenario makes.
	LabPrefix string
	// Adversarial also tries every entry of the adversarial catalogue on
	// the scenario's broken lab.
	Adversarial bool
	// Jobs is how many labs of the scenario run at once (DefaultJobs when
	// 0).
	Jobs int
}

// Scenario proves a scenario sound on fresh labs: without its faults every
// state check passes (the checks measure the network, not the wiring);
// with them every task judged by state fails and every fault's symptom is
// observed; the reference solution makes every task pass with the
// invariants holding; each wrong fix leaves a task failing or an invariant
// broken; and nothing is left behind.
func Scenario(ctx context.Context, s *scenarios.Scenario, opts Options) *Report {
	start := time.Now()
	r := &Report{Scenario: s.Name, File: s.File, Seed: s.Seed}
	v := &verifier{s: s, opts: opts, r: r, ctx: ctx}
	// Each phase has labs of its own, and labs are cheap: the phases run
	// side by side (most of a phase is waiting for a settle window or a
	// probe's timeout), and their results are reported in order.
	jobs := []func(out *[]PhaseResult){v.healthy, v.brokenAndSolved}
	for i := range s.WrongFixes {
		jobs = append(jobs, func(out *[]PhaseResult) { v.wrongFix(ctx, i, out) })
	}
	if opts.Adversarial {
		jobs = append(jobs, v.adversarialJobs(ctx)...)
	}
	results := make([][]PhaseResult, len(jobs))
	jobsAtOnce := opts.Jobs
	if jobsAtOnce < 1 {
		jobsAtOnce = DefaultJobs
	}
	sem := make(chan struct{}, jobsAtOnce)
	var wg sync.WaitGroup
	for i, job := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			job(&results[i])
		}()
	}
	wg.Wait()
	for _, rs := range results {
		r.Phases = append(r.Phases, rs...)
	}
	var td []PhaseResult
	v.teardown(&td)
	r.Phases = append(r.Phases, td...)
	r.Pass = true
	for _, p := range r.Phases {
		r.Pass = r.Pass && p.Pass
	}
	r.Elapsed = time.Since(start)
	return r
}

type verifier struct {
	s    *scenarios.Scenario
	opts Options
	r    *Report
	ctx  context.Context

	mu       sync.Mutex
	labs     []string
	n        int
	stopErrs []string
}

// DefaultJobs is how many labs one scenario's verification runs at once.
const DefaultJobs = 6

// RunPhase runs one phase of a verification and appends its result to
// out: it passes when fn records no problem.
func RunPhase(out *[]PhaseResult, name string, fn func(p *PhaseResult)) {
	p := PhaseResult{Name: name}
	t0 := time.Now()
	fn(&p)
	p.Pass = len(p.Problems) == 0
	p.Elapsed = time.Since(t0)
	*out = append(*out, p)
}

// testLab is a fresh lab of the scenario: the checker that judges it, and
// its faults.
type testLab struct {
	*checker.Checker
	faults *lab.Faults
}

// start starts a fresh lab and returns it with its stop.
func (v *verifier) start(ctx context.Context, withFaults bool) (*testLab, func(), error) {
	v.mu.Lock()
	v.n++
	name := fmt.Sprintf("%s%d", v.opts.LabPrefix, v.n)
	v.labs = append(v.labs, name)
	v.mu.Unlock()
	l, err := lab.Start(ctx, v.s, sandbox.Options{Name: name, Store: v.opts.Store, Source: v.s.File}, withFaults)
	if err != nil {
		return nil, nil, err
	}
	stop := func() {
		l.Close()
		if err := lab.Stop(v.opts.Store, name); err != nil {
			v.mu.Lock()
			v.stopErrs = append(v.stopErrs, err.Error())
			v.mu.Unlock()
		}
	}
	fs := lab.NewFaults(l, v.s)
	return &testLab{Checker: &checker.Checker{Lab: l, Scenario: v.s, Faults: fs}, faults: fs}, stop, nil
}

func (v *verifier) healthy(out *[]PhaseResult) {
	ctx := v.ctx
	RunPhase(out, PhaseHealthy, func(p *PhaseResult) {
		c, stop, err := v.start(ctx, false)
		if err != nil {
			p.Problems = append(p.Problems, "starting the lab without faults: "+err.Error())
			return
		}
		defer stop()
		for _, t := range v.s.Tasks {
			if t.Check == nil {
				continue
			}
			o := c.Task(ctx, &t)
			p.Details = append(p.Details, fmt.Sprintf("task %s: %s", t.ID, o.Observed))
			if !o.Pass {
				p.Problems = append(p.Problems, fmt.Sprintf("task %s fails even without the faults, so its check does not measure the fault: %s", t.ID, o.Observed))
			}
		}
		v.invariants(ctx, c, p, "without the faults")
	})
}

func (v *verifier) brokenAndSolved(out *[]PhaseResult) {
	ctx := v.ctx
	c, stop, err := v.start(ctx, true)
	if err != nil {
		RunPhase(out, PhaseBroken, func(p *PhaseResult) {
			p.Problems = append(p.Problems, "starting the lab with its faults: "+err.Error())
		})
		return
	}
	defer stop()
	RunPhase(out, PhaseBroken, func(p *PhaseResult) {
		v.symptoms(ctx, c, p, true)
		once := *c.Checker
		once.Once = true
		for _, t := range v.s.Tasks {
			if t.Check == nil {
				continue
			}
			o := once.Task(ctx, &t)
			p.Details = append(p.Details, fmt.Sprintf("task %s: %s", t.ID, o.Observed))
			if o.Pass {
				p.Problems = append(p.Problems, fmt.Sprintf("task %s passes while the lab is broken, so a learner would pass it without doing anything: %s", t.ID, o.Observed))
			}
		}
	})
	RunPhase(out, PhaseSolution, func(p *PhaseResult) {
		// Steps run in order, as a learner plays them: an answer is judged
		// when it is given, on the lab as it is then (a computed value such
		// as the leaking process is read before the fix removes it).
		answered := map[string]checker.Outcome{}
		for i, st := range v.s.Solution {
			if st.Task != "" {
				t := v.task(st.Task)
				if t == nil || t.Answer == nil {
					p.Problems = append(p.Problems, fmt.Sprintf("solution step %d answers %s, which is not an answer task", i+1, st.Task))
					continue
				}
				given, err := resolveAnswer(ctx, c.Checker, t.Answer, []string{st.Answer})
				if err != nil {
					p.Problems = append(p.Problems, fmt.Sprintf("task %s: %v", t.ID, err))
					continue
				}
				answered[t.ID] = c.Answer(ctx, t.Answer, given)
				continue
			}
			if out, err := lab.RunStep(ctx, c.Lab, st); err != nil {
				p.Problems = append(p.Problems, fmt.Sprintf("solution step %d (%s: %s) failed: %v: %s", i+1, st.Host, st.Run, err, strings.TrimSpace(out)))
				return
			}
		}
		v.allPass(ctx, c, p, answered)
	})
}

// symptoms observes every fault's documented symptom in a broken lab.
// With judgeCleared, each fault must also be judged not cleared.
func (v *verifier) symptoms(ctx context.Context, c *testLab, p *PhaseResult, judgeCleared bool) {
	for i := range v.s.Faults {
		name, err := c.faults.Name(i)
		if err != nil {
			p.Problems = append(p.Problems, err.Error())
			continue
		}
		if err := c.faults.Observe(ctx, i); err != nil {
			p.Problems = append(p.Problems, fmt.Sprintf("fault %s: its symptom is not observed: %v", name, err))
		} else {
			p.Details = append(p.Details, fmt.Sprintf("fault %s: symptom observed", name))
		}
		if !judgeCleared {
			continue
		}
		if err := c.faults.Cleared(ctx, i); err == nil {
			p.Problems = append(p.Problems, fmt.Sprintf("fault %s is judged cleared while it is injected, so no task can require it cleared", name))
		} else {
			p.Details = append(p.Details, fmt.Sprintf("fault %s: not cleared: %v", name, err))
		}
	}
}

// allPass judges every task and invariant, which must all pass; answer
// tasks were judged when the solution answered them.
func (v *verifier) allPass(ctx context.Context, c *testLab, p *PhaseResult, answered map[string]checker.Outcome) {
	for _, t := range v.s.Tasks {
		var o checker.Outcome
		switch {
		case t.Check != nil:
			o = c.Task(ctx, &t)
		default:
			var ok bool
			if o, ok = answered[t.ID]; !ok {
				p.Problems = append(p.Problems, fmt.Sprintf("task %s is not answered by the solution", t.ID))
				continue
			}
		}
		p.Details = append(p.Details, fmt.Sprintf("task %s: %s", t.ID, o.Observed))
		if !o.Pass {
			p.Problems = append(p.Problems, fmt.Sprintf("task %s still fails after the solution: %s", t.ID, o.Observed))
		}
	}
	v.invariants(ctx, c, p, "after the solution")
}

func (v *verifier) task(id string) *scenarios.Task {
	for i := range v.s.Tasks {
		if v.s.Tasks[i].ID == id {
			return &v.s.Tasks[i]
		}
	}
	return nil
}

// resolveAnswer replaces ${computed} in a solution's answer with the live
// computed value.
func resolveAnswer(ctx context.Context, c *checker.Checker, a *scenarios.Answer, given []string) ([]string, error) {
	var out []string
	for _, g := range given {
		if strings.Contains(g, "${computed}") {
			want, _, err := c.Computed(ctx, a)
			if err != nil {
				return nil, err
			}
			g = strings.ReplaceAll(g, "${computed}", want)
		}
		out = append(out, g)
	}
	return out, nil
}

func (v *verifier) invariants(ctx context.Context, c *testLab, p *PhaseResult, when string) {
	for _, inv := range v.s.Invariants {
		o := c.Check(ctx, &inv.Check)
		p.Details = append(p.Details, fmt.Sprintf("invariant %q: %s", inv.Name, o.Observed))
		if !o.Pass {
			p.Problems = append(p.Problems, fmt.Sprintf("invariant %q does not hold %s: %s", inv.Name, when, o.Observed))
		}
	}
}

func (v *verifier) wrongFix(ctx context.Context, i int, out *[]PhaseResult) {
	w := v.s.WrongFixes[i]
	RunPhase(out, PhaseWrongFix+" "+w.Name, func(p *PhaseResult) {
		c, stop, err := v.start(ctx, true)
		if err != nil {
			p.Problems = append(p.Problems, "starting the lab with its faults: "+err.Error())
			return
		}
		defer stop()
		// The wrong fix is tried on a lab that is really broken: every
		// fault's symptom is there first (a symptom that needs traffic, such
		// as a flood's half-open connections, takes a moment after start).
		v.symptoms(ctx, c, p, false)
		for _, st := range w.Steps {
			if st.Run == "" && st.Service == "" {
				continue
			}
			out, err := lab.RunStep(ctx, c.Lab, st)
			what := st.Run
			if st.Service != "" {
				what = "service " + st.Service + " " + st.Action
			}
			p.Details = append(p.Details, fmt.Sprintf("ran in %s: %s (%v) %s", st.Host, what, errOr(err), strings.TrimSpace(out)))
		}
		failing := 0
		if what, ok := v.firstFailure(ctx, c); ok {
			failing++
			p.Details = append(p.Details, what)
		}
		if failing == 0 {
			p.Problems = append(p.Problems, fmt.Sprintf("the wrong fix %q passes every task and invariant; add an invariant it breaks or a check it cannot satisfy", w.Name))
		}
	})
}

func (v *verifier) teardown(out *[]PhaseResult) {
	RunPhase(out, PhaseTeardown, func(p *PhaseResult) {
		p.Problems = append(p.Problems, v.stopErrs...)
		for _, name := range v.labs {
			for _, left := range sandbox.Leftovers(v.opts.Store, name) {
				p.Problems = append(p.Problems, fmt.Sprintf("lab %s left %s", name, left))
			}
		}
	})
}

func errOr(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

// All verifies scenarios with up to parallel at a time, in order.
func All(ctx context.Context, ss []*scenarios.Scenario, parallel int, opts func(i int) Options) []*Report {
	if parallel < 1 {
		parallel = 1
	}
	reports := make([]*Report, len(ss))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			reports[i] = Scenario(ctx, s, opts(i))
		}()
	}
	wg.Wait()
	return reports
}

// JUnit writes reports as JUnit XML: a test suite per scenario, a test
// case per phase.
func JUnit(w io.Writer, reports []*Report) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type testsuite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Time     string     `xml:"time,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	type testsuites struct {
		XMLName  xml.Name    `xml:"testsuites"`
		Name     string      `xml:"name,attr"`
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Suites   []testsuite `xml:"testsuite"`
	}
	all := testsuites{Name: "netdojo verify"}
	for _, r := range reports {
		s := testsuite{Name: r.Scenario, Time: secs(r.Elapsed)}
		for _, p := range r.Phases {
			tc := testcase{Name: p.Name, Classname: "netdojo.verify." + r.Scenario, Time: secs(p.Elapsed), SystemOut: strings.Join(p.Details, "\n")}
			if !p.Pass {
				tc.Failure = &failure{Message: p.Problems[0], Text: strings.Join(p.Problems, "\n")}
				s.Failures++
			}
			s.Cases = append(s.Cases, tc)
			s.Tests++
		}
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Suites = append(all.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
