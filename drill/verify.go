package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netdojo/netdojo/checker"
	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/verify"
)

// Verify phases.
const (
	PhaseReference  = "reference-response"
	PhaseMitigation = "mitigation-only"
)

// Reference is the participant name the reference response plays as.
const Reference = "reference"

// VerifyOptions tune Verify.
type VerifyOptions struct {
	Store     sandbox.Store
	LabPrefix string // starts the names of the labs Verify makes
	// Scale is drill seconds per real second; 0 picks one that runs the
	// service probe about every 250 ms of real time (20 for every: 5s).
	Scale float64
	Log   io.Writer
}

// AutoScale is the time scale verify uses for a drill.
func AutoScale(d *scenarios.Drill) float64 {
	s := d.Service.Every.Seconds() / 0.25
	return min(max(s, 1), 60)
}

// Verify proves a drill solvable on fresh labs with an accelerated clock:
//
//   - reference-response: the reference response (each landed fault's
//     declaration and fix, after letting the escalations that wait for a
//     red service land) brings the whole timeline to green within the
//     limit; every inject lands (those triggered by a broken invariant are
//     landed by the game master at the end, as one would); the service
//     level goes red and back to green; and every measure is recorded.
//   - mitigation-only: a response that only mitigates (a fault's
//     mitigation where it has one, its fix where it has none, so that the
//     timeline goes on) never scores as resolved.
//
// and nothing of the labs is left behind.
func Verify(ctx context.Context, d *scenarios.Drill, opts VerifyOptions) *verify.Report {
	start := time.Now()
	if opts.Scale <= 0 {
		opts.Scale = AutoScale(d)
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	r := &verify.Report{Scenario: d.Name, File: d.File, Seed: d.Seed}
	v := &verifier{d: d, opts: opts, r: r}
	var ref *Record
	v.phase(PhaseReference, func(p *verify.PhaseResult) { ref = v.reference(ctx, p) })
	v.phase(PhaseMitigation, func(p *verify.PhaseResult) { v.mitigationOnly(ctx, p, ref) })
	v.phase(verify.PhaseTeardown, func(p *verify.PhaseResult) {
		for _, name := range v.labs {
			for _, l := range sandbox.Leftovers(opts.Store, name) {
				p.Problems = append(p.Problems, fmt.Sprintf("lab %s left %s", name, l))
			}
		}
	})
	r.Pass = true
	for _, p := range r.Phases {
		r.Pass = r.Pass && p.Pass
	}
	r.Elapsed = time.Since(start)
	return r
}

type verifier struct {
	d    *scenarios.Drill
	opts VerifyOptions
	r    *verify.Report
	labs []string
}

func (v *verifier) phase(name string, fn func(p *verify.PhaseResult)) {
	verify.RunPhase(&v.r.Phases, name, fn)
}

// run is a drill running in this process: its lab, engine and directory.
type run struct {
	v    *verifier
	lab  *sandbox.Lab
	dir  string
	done chan struct{}
	rec  *Record
	err  error
	// answered and fixed are the injects the response has answered, and
	// answered with their fix.
	answered, fixed map[string]bool
}

func (v *verifier) start(ctx context.Context) (*run, error) {
	name := fmt.Sprintf("%s%d", v.opts.LabPrefix, len(v.labs)+1)
	v.labs = append(v.labs, name)
	lab, err := labpkg.Start(ctx, v.d.Lab, sandbox.Options{Name: name, Store: v.opts.Store, Source: v.d.File}, true)
	if err != nil {
		return nil, err
	}
	dir := Dir(v.opts.Store, name)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		lab.Close()
		labpkg.Stop(v.opts.Store, name)
		return nil, err
	}
	meta := Meta{Drill: v.d.Name, Source: v.d.File, Team: "verify", Lab: name, Seed: v.d.Seed, Scale: v.opts.Scale, Started: time.Now()}
	e := NewEngine(Options{Dir: dir, Drill: v.d, Lab: lab, Meta: meta, Clock: NewClock(meta.Started, meta.Scale), Log: v.opts.Log})
	r := &run{v: v, lab: lab, dir: dir, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.rec, r.err = e.Run(ctx)
	}()
	for !r.ended() {
		if _, err := ReadRecord(dir); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r, nil
}

// stop ends the drill (if it runs), waits for its last record and removes
// the lab and the drill's directory: verify leaves nothing behind.
func (r *run) stop() {
	Send(r.dir, Event{Op: OpEnd, Who: Reference})
	<-r.done
	r.lab.Close()
	labpkg.Stop(r.v.opts.Store, r.lab.Name)
	os.RemoveAll(r.dir)
	// The drills directory and the store's own, when this left them
	// empty (os.Remove removes only an empty directory).
	os.Remove(filepath.Dir(r.dir))
	os.Remove(r.v.opts.Store.Dir)
}

// record is the latest record the engine wrote.
func (r *run) record() *Record {
	rec, err := ReadRecord(r.dir)
	if err != nil {
		return &Record{}
	}
	return rec
}

func (r *run) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// waitFor polls the record until cond holds, the drill ends, or a real
// timeout passes.
func (r *run) waitFor(timeout time.Duration, cond func(*Record) bool) bool {
	probe.PollFor(context.Background(), 50*time.Millisecond, timeout, func(context.Context) error {
		if r.ended() || cond(r.record()) {
			return nil
		}
		return errNotYet
	})
	return cond(r.record())
}

// errNotYet tells a poll to look again.
var errNotYet = errors.New("not yet")

// realLimit is the drill's limit in real time, with a margin.
func (v *verifier) realLimit() time.Duration {
	return time.Duration(float64(v.d.Limit)/v.opts.Scale) + 10*time.Second
}

// respond plays a response: each fault inject, once landed and once the
// service is red (or a while has passed), is answered by steps(fault) and
// optionally a declaration. It returns when every fault inject that can
// land by its trigger has been answered, or the drill ends.
func (r *run) respond(ctx context.Context, p *verify.PhaseResult, declare bool, steps func(*scenarios.DrillFault) ([]scenarios.Step, bool), waitEscalations bool) {
	if r.answered == nil {
		r.answered, r.fixed = map[string]bool{}, map[string]bool{}
	}
	answered, fixed := r.answered, r.fixed
	deadline := time.Now().Add(r.v.realLimit())
	for time.Now().Before(deadline) && !r.ended() && ctx.Err() == nil {
		rec := r.record()
		var next *scenarios.DrillStep
		for i, in := range rec.Injects {
			s := r.v.d.Timeline[i]
			if in.Landed && len(s.Faults) > 0 && !answered[s.ID] {
				next = s
				break
			}
		}
		if next == nil {
			if r.allAnswerable(rec, answered, fixed) {
				return
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		landedAt := injectT(rec, next.ID)
		r.waitFor(r.v.realDrill(2*time.Minute), func(rec *Record) bool { return redAfter(rec, landedAt) })
		if waitEscalations {
			r.waitFor(r.v.realDrill(r.v.maxAfterRed()+30*time.Second), func(rec *Record) bool { return r.v.escalationsLanded(rec) })
		}
		fixes := true
		for _, f := range next.Faults {
			if declare {
				Send(r.dir, Event{Op: OpDeclare, Who: Reference, Text: f.Declare})
			}
			do, fix := steps(f)
			fixes = fixes && fix
			for _, st := range do {
				what := st.Run
				if st.Service != "" {
					what = "netdojo service " + r.lab.Name + " " + st.Host + " " + st.Service + " " + st.Action
				}
				AppendCommand(r.dir, time.Now(), Reference, st.Host, what)
				if out, err := r.step(ctx, st); err != nil {
					p.Problems = append(p.Problems, fmt.Sprintf("inject %s: step in %s (%s) failed: %v: %s", next.ID, st.Host, what, err, strings.TrimSpace(out)))
				}
			}
		}
		answered[next.ID], fixed[next.ID] = true, fixes
		p.Details = append(p.Details, fmt.Sprintf("answered inject %s at drill time %.0fs", next.ID, r.record().Elapsed))
	}
}

// step runs a response step on the lab as its state is now (the drill's
// faults restart services: a stale state would act on old processes).
func (r *run) step(ctx context.Context, st scenarios.Step) (string, error) {
	lab, err := sandbox.Open(r.v.opts.Store, r.lab.Name)
	if err != nil {
		return "", err
	}
	defer lab.Close()
	lab.Scenario = r.v.d.Lab
	return labpkg.RunStep(ctx, lab, st)
}

// allAnswerable is true when no fault inject that its own trigger can
// still land is waiting: those after a cleared inject land once it is.
func (r *run) allAnswerable(rec *Record, answered, fixed map[string]bool) bool {
	for i, in := range rec.Injects {
		s := r.v.d.Timeline[i]
		if len(s.Faults) == 0 || answered[s.ID] {
			continue
		}
		switch s.Trigger {
		case scenarios.TriggerAt:
			return false
		case scenarios.TriggerAfterCleared:
			if prev := r.v.d.Step(s.Cleared); prev != nil && fixed[prev.ID] && !in.Landed {
				return false // the previous one is fixed: this one will land
			}
		}
	}
	return true
}

func injectT(rec *Record, id string) float64 {
	for _, in := range rec.Injects {
		if in.ID == id {
			return in.T
		}
	}
	return 0
}

func redAfter(rec *Record, t float64) bool {
	for _, s := range rec.SLI {
		if s.T >= t && !s.OK {
			return true
		}
	}
	return false
}

// realDrill is the real time a drill duration takes.
func (v *verifier) realDrill(d time.Duration) time.Duration {
	return time.Duration(float64(d) / v.opts.Scale)
}

func (v *verifier) maxAfterRed() time.Duration {
	var m time.Duration
	for _, s := range v.d.Timeline {
		if s.Trigger == scenarios.TriggerAfterRed {
			m = max(m, s.After)
		}
	}
	return m
}

func (v *verifier) escalationsLanded(rec *Record) bool {
	for i, in := range rec.Injects {
		if v.d.Timeline[i].Trigger == scenarios.TriggerAfterRed && !in.Landed {
			return false
		}
	}
	return true
}

func (v *verifier) reference(ctx context.Context, p *verify.PhaseResult) *Record {
	r, err := v.start(ctx)
	if err != nil {
		p.Problems = append(p.Problems, "starting the drill's lab: "+err.Error())
		return nil
	}
	defer r.stop()
	fix := func(f *scenarios.DrillFault) ([]scenarios.Step, bool) { return f.Fix, true }
	r.respond(ctx, p, true, fix, true)
	// Injects no trigger landed (a broken invariant's) are landed by hand,
	// as a game master would, and answered.
	for i, in := range r.record().Injects {
		if !in.Landed && v.d.Timeline[i].Trigger == scenarios.TriggerInvariantBroken {
			Send(r.dir, Event{Op: OpInject, Who: "verify", Text: v.d.Timeline[i].ID})
		}
	}
	r.respond(ctx, p, true, fix, false)
	ok := r.waitFor(v.realLimit(), func(rec *Record) bool {
		return rec.Measures.Resolve > 0 && lastGreen(rec) && allLanded(rec)
	})
	if !ok {
		p.Problems = append(p.Problems, "the reference response did not bring the drill to green with every fault cleared within its limit")
	}
	// The engine counts an invariant as damage only once it has been seen
	// holding; one that never holds (a wrong process name, a port nothing
	// serves) would never count at all. After the reference response every
	// invariant must hold.
	ck := &checker.Checker{Lab: r.lab, Scenario: v.d.Lab}
	for _, inv := range v.d.Lab.Invariants {
		if o := ck.Check(ctx, &inv.Check); !o.Pass {
			p.Problems = append(p.Problems, fmt.Sprintf("invariant %q does not hold after the reference response: %s", inv.Name, o.Observed))
		}
	}
	Send(r.dir, Event{Op: OpEnd, Who: "verify"})
	<-r.done
	rec := r.rec
	if rec == nil {
		p.Problems = append(p.Problems, fmt.Sprintf("the engine failed: %v", r.err))
		return nil
	}
	for _, in := range rec.Injects {
		switch {
		case !in.Landed:
			p.Problems = append(p.Problems, fmt.Sprintf("inject %s never landed (%s)", in.ID, in.When))
		case in.Kind == "fault" && in.Cleared == 0:
			p.Problems = append(p.Problems, fmt.Sprintf("inject %s: its faults were never judged cleared after the fix", in.ID))
		default:
			p.Details = append(p.Details, fmt.Sprintf("inject %s landed at %.0fs%s%s", in.ID, in.T, clearedNote(in), revealedNote(in)))
		}
	}
	m := rec.Measures
	for _, c := range []struct {
		name string
		v    float64
	}{{"time to detect", m.Detect}, {"time to mitigate", m.Mitigate}, {"time to resolve", m.Resolve}} {
		if c.v == 0 {
			p.Problems = append(p.Problems, c.name+" was not recorded")
		}
	}
	if m.CommandsBy[Reference] == 0 {
		p.Problems = append(p.Problems, "the reference response's commands were not recorded")
	}
	if rec.Elapsed > v.d.Limit.Seconds() {
		p.Problems = append(p.Problems, fmt.Sprintf("the drill took %.0fs of its %s limit", rec.Elapsed, v.d.Limit))
	}
	if len(rec.Collateral) > 0 {
		p.Problems = append(p.Problems, fmt.Sprintf("the reference response broke an invariant: %s", rec.Collateral[0].Invariant))
	}
	p.Details = append(p.Details, fmt.Sprintf("detect %.0fs, mitigate %.0fs, resolve %.0fs, score %d, %d samples", m.Detect, m.Mitigate, m.Resolve, m.Score, len(rec.SLI)))
	return rec
}

func (v *verifier) mitigationOnly(ctx context.Context, p *verify.PhaseResult, ref *Record) {
	mitigated := false
	for _, s := range v.d.Timeline {
		for _, f := range s.Faults {
			mitigated = mitigated || len(f.Mitigation) > 0
		}
	}
	r, err := v.start(ctx)
	if err != nil {
		p.Problems = append(p.Problems, "starting the drill's lab: "+err.Error())
		return
	}
	defer r.stop()
	r.respond(ctx, p, false, func(f *scenarios.DrillFault) ([]scenarios.Step, bool) {
		if len(f.Mitigation) > 0 {
			return f.Mitigation, false
		}
		if mitigated {
			return f.Fix, true // so that the timeline reaches the fault that has one
		}
		return nil, false
	}, false)
	// Give the cleared judgement time to (wrongly) call it resolved.
	r.waitFor(v.realDrill(time.Minute), func(rec *Record) bool { return rec.Measures.Resolve > 0 })
	Send(r.dir, Event{Op: OpEnd, Who: "verify"})
	<-r.done
	rec := r.rec
	if rec == nil {
		p.Problems = append(p.Problems, fmt.Sprintf("the engine failed: %v", r.err))
		return
	}
	m := rec.Measures
	if m.Resolve != 0 {
		p.Problems = append(p.Problems, fmt.Sprintf("a response that only mitigates scored as resolved after %.0fs: a fault's cleared judgement follows the symptom, not the root cause", m.Resolve))
	}
	if ref != nil && m.Score >= ref.Measures.Score {
		p.Problems = append(p.Problems, fmt.Sprintf("mitigation alone scored %d, not less than the reference response's %d", m.Score, ref.Measures.Score))
	}
	if mitigated && !lastGreen(rec) {
		p.Problems = append(p.Problems, "the mitigation did not bring the service level back to green")
	}
	p.Details = append(p.Details, fmt.Sprintf("mitigation only: green at the end %v, resolve %.0fs, score %d", lastGreen(rec), m.Resolve, m.Score))
}

func lastGreen(rec *Record) bool {
	return len(rec.SLI) > 0 && rec.SLI[len(rec.SLI)-1].OK
}

func allLanded(rec *Record) bool {
	for _, in := range rec.Injects {
		if !in.Landed {
			return false
		}
	}
	return true
}

func clearedNote(in Inject) string {
	if in.Cleared > 0 {
		return fmt.Sprintf(", cleared at %.0fs", in.Cleared)
	}
	return ""
}

func revealedNote(in Inject) string {
	if in.Revealed != "" {
		return ": " + in.Revealed
	}
	return ""
}
