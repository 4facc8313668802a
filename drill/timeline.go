package drill

import (
	"context"
	"fmt"
	"reflect"

	"github.com/netdojo/netdojo/faults"
	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// OriginDrill marks the faults a drill applied in the lab's fault record.
const OriginDrill = "drill"

// timeline lands every inject whose trigger has fired.
func (e *Engine) timeline(ctx context.Context) {
	now := e.clock.Now()
	for _, st := range e.orderedSteps() {
		if st.landed || !e.fired(st.spec, now) {
			continue
		}
		e.land(ctx, st, "")
	}
}

// fired tells whether an inject's trigger holds now.
func (e *Engine) fired(s *scenarios.DrillStep, now float64) bool {
	switch s.Trigger {
	case scenarios.TriggerAt:
		return now >= s.After.Seconds()
	case scenarios.TriggerAfterRed:
		return e.redSince >= 0 && now-e.redSince >= s.After.Seconds()
	case scenarios.TriggerInvariantBroken:
		return e.broken
	case scenarios.TriggerAfterCleared:
		prev := e.steps[s.Cleared]
		return prev != nil && prev.landed && e.stepCleared(prev)
	}
	return false
}

func (e *Engine) stepCleared(st *stepState) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, lf := range st.faults {
		if lf.cleared == 0 {
			return false
		}
	}
	return true
}

// land lands an inject: its message is said, its faults applied. by is
// who forced it ("" for its trigger).
func (e *Engine) land(ctx context.Context, st *stepState, by string) {
	s := st.spec
	now := e.clock.Now()
	st.landed = true
	in := &e.rec.Injects[st.index]
	in.Landed, in.T = true, now
	if by != "" {
		in.When += " (landed by " + by + ")"
	}
	if s.Message != nil {
		in.Text = s.Message.Text
		e.sayAt(now, s.Message.From, s.Message.To, s.Message.Text)
	} else {
		in.Text = "(unannounced)"
	}
	lab, err := e.freshLab()
	if err != nil {
		e.logf("inject %s: %v", s.ID, err)
		e.say("netdojo", "", fmt.Sprintf("inject %s could not land: %v", s.ID, err))
		return
	}
	defer lab.Close()
	for _, f := range s.Faults {
		a, err := faults.New(f.Kind, f.Host, f.Params)
		if err == nil {
			a.Name = f.FaultName()
			err = a.Apply(ctx, lab, e.d.Lab)
		}
		if err != nil {
			e.logf("inject %s: %v", s.ID, err)
			e.say("netdojo", "", fmt.Sprintf("inject %s could not land: %v", s.ID, err))
			continue
		}
		if err := faults.RecordApplied(lab, a, OriginDrill); err != nil {
			e.logf("inject %s: recording the fault: %v", s.ID, err)
		}
		lf := &liveFault{step: st, spec: f, applied: a}
		e.mu.Lock()
		st.faults = append(st.faults, lf)
		e.live = append(e.live, lf)
		e.mu.Unlock()
	}
	for _, step := range s.Run {
		if out, err := labpkg.RunStep(ctx, lab, step); err != nil {
			e.logf("inject %s: step in %s failed: %v: %s", s.ID, step.Host, err, out)
		}
	}
	e.logf("landed %s (%s)", s.ID, s.When())
	e.dirty = true
}

// freshLab opens the lab with its state as it is now: participants
// restart services (new processes in the state) while the drill runs, and
// a fault that stops a service must find the one that runs.
func (e *Engine) freshLab() (*sandbox.Lab, error) {
	lab, err := sandbox.Open(e.lab.Store(), e.lab.Name)
	if err != nil {
		return nil, err
	}
	lab.Scenario = e.d.Lab
	return lab, nil
}

// forceInject lands an inject by a game master's request.
func (e *Engine) forceInject(ctx context.Context, id, by string) {
	st := e.steps[id]
	switch {
	case st == nil:
		e.say("netdojo", "", fmt.Sprintf("%s asked for inject %q, which this drill does not have", by, id))
	case st.landed:
		e.say("netdojo", "", fmt.Sprintf("inject %s has already landed", id))
	default:
		e.land(ctx, st, by)
	}
}

// faultDev is the interface a fault names in its params (dev), if any.
func faultDev(f *scenarios.DrillFault) string {
	v := reflect.Indirect(reflect.ValueOf(f.Params))
	if v.Kind() != reflect.Struct {
		return ""
	}
	if d := v.FieldByName("Dev"); d.Kind() == reflect.String {
		return d.String()
	}
	return ""
}
