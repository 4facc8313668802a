package scenarios

import "time"

// Drill is a checked drill, resolved: its lab as a scenario (hosts,
// networks, services, setup, kept faults and every invariant), the
// service-level probe, and the timeline with pools drawn by the seed.
type Drill struct {
	File    string
	Seed    uint64
	Name    string
	Title   string
	Story   string
	Lab     *Scenario
	Service DrillService
	Limit   time.Duration
	// Timeline is in file order.
	Timeline []*DrillStep
	// Roles are in file order; a single "responder" when the file has none.
	Roles []DrillRoleSpec
	Hints []string
	Raw   *DrillFile
}

// DrillService is the resolved service-level probe.
type DrillService struct {
	Name  string
	Every time.Duration
	Check *Check
	// MaxLatency makes a slow pass red; 0 for none.
	MaxLatency time.Duration
}

// DrillRoleSpec is a role and its prompt.
type DrillRoleSpec struct {
	Name   string
	Prompt string
}

// Trigger kinds of an inject.
const (
	TriggerAt               = "at"
	TriggerAfterRed         = "after_red"
	TriggerInvariantBroken  = "on_invariant_broken"
	TriggerAfterCleared     = "after_cleared"
	DefaultDrillProbeEvery  = 5 * time.Second
	DefaultDrillMessageFrom = "game master"
)

// DrillStep is one resolved inject of the timeline.
type DrillStep struct {
	ID      string
	Trigger string        // one of the Trigger* kinds
	After   time.Duration // at or after_red
	Cleared string        // after_cleared: the inject whose faults must be cleared
	Message *DrillMessage
	// Faults are the inject's fault, or those drawn from its pool.
	Faults []*DrillFault
	// Pooled says the faults were drawn from a pool of this many.
	Pooled int
	// Run are scripted steps made when the inject lands.
	Run []Step
}

// When describes the trigger in words.
func (s *DrillStep) When() string {
	switch s.Trigger {
	case TriggerAt:
		return "at " + s.After.String()
	case TriggerAfterRed:
		return "when the service has been red for " + s.After.String()
	case TriggerInvariantBroken:
		return "when an invariant is broken"
	case TriggerAfterCleared:
		return "when " + s.Cleared + " is cleared"
	}
	return s.Trigger
}

// DrillFault is a fault of a drill, resolved: its kind's parameters are
// decoded and checked once, when the drill loads.
type DrillFault struct {
	Name string // as written; "" stands for the kind
	Kind string
	Host string
	// Params is the kind's parameter struct after Check (see Fault.Params);
	// take ParamsCopy to change it.
	Params     any
	Reveal     string
	Diagnosis  Answer
	Declare    string
	Fix        []Step
	Mitigation []Step
}

// ParamsCopy is a deep copy of the fault's parameters, the caller's to
// change.
func (f *DrillFault) ParamsCopy() any { return CopyParams(f.Params) }

// FaultName is a drill fault's name: its own, or its kind.
func (f *DrillFault) FaultName() string {
	if f.Name != "" {
		return f.Name
	}
	return f.Kind
}

// Step returns the inject of that id, or nil.
func (d *Drill) Step(id string) *DrillStep {
	for _, s := range d.Timeline {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// Role returns the role of that name, or nil.
func (d *Drill) Role(name string) *DrillRoleSpec {
	for i := range d.Roles {
		if d.Roles[i].Name == name {
			return &d.Roles[i]
		}
	}
	return nil
}
