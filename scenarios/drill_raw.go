package scenarios

import (
	"encoding/json"

	"go.yaml.in/yaml/v3"
)

// DrillKind is the value of `kind` that makes a file a drill. A file
// without kind is a scenario.
const DrillKind = "Drill"

// DrillFile is an incident drill as written: a lab (a built-in scenario or
// inline hosts and networks), a service-level probe that runs all the
// time, a timeline of injects, roles, hints and a time limit. Like File it
// is decoded strictly and checked in a separate pass; the `doc` tags feed
// docs/drill-format.md and docs/drill.schema.json.
type DrillFile struct {
	APIVersion string                  `yaml:"apiVersion" doc:"Format version; must be netdojo/v1." required:"true"`
	Kind       string                  `yaml:"kind" doc:"Must be Drill: what makes this file a drill rather than a scenario." enum:"Drill" required:"true"`
	Metadata   Metadata                `yaml:"metadata" doc:"Name, title and classification of the drill; the name starts the names of the drill's labs." required:"true"`
	Story      string                  `yaml:"story" doc:"What every participant is told when they join: the situation, never the answer."`
	Params     []Param                 `yaml:"params" doc:"Values drawn from the drill's seed and substituted wherever ${name} appears, as in scenarios."`
	Lab        *DrillLab               `yaml:"lab" doc:"Run the drill on a built-in scenario's hosts and networks. Give either lab or hosts (and networks)."`
	Hosts      map[string]*HostSpec    `yaml:"hosts" doc:"Inline hosts, as in a scenario, when the drill has no lab."`
	Networks   map[string]*NetworkSpec `yaml:"networks" doc:"Inline networks, as in a scenario, when the drill has no lab."`
	Service    ServiceLevel            `yaml:"service" doc:"The synthetic user: a probe run every few seconds for the whole drill; its result is the service level (green or red)." required:"true"`
	Limit      string                  `yaml:"limit" doc:"Drill time limit, such as 20m; the drill ends then." required:"true"`
	Timeline   []DrillInject           `yaml:"timeline" doc:"The injects: faults and messages, each landing at a time or on an event." required:"true"`
	Roles      map[string]*DrillRole   `yaml:"roles" doc:"The roles participants join as (commander, responder, scribe, ...), each with the prompt it sees; a responder role is assumed when none are given."`
	Hints      []string                `yaml:"hints" doc:"Hints a game master (or the team, at a cost to the score) can give, in order."`
	Invariants []Invariant             `yaml:"invariants" doc:"Checks that must keep holding during the drill; breaking one is collateral damage (measured, and an event for on_invariant_broken). A lab scenario's own invariants are not used (the drill's faults may break them)."`
}

// DrillLab names the built-in scenario a drill runs on.
type DrillLab struct {
	Scenario   string `yaml:"scenario" doc:"A built-in scenario (netdojo list): its hosts, networks, services and setup." required:"true"`
	KeepFaults bool   `yaml:"keep_faults" doc:"Also apply the scenario's own faults when the drill starts (false by default: the timeline breaks the lab)."`
}

// ServiceLevel is the drill's synthetic user.
type ServiceLevel struct {
	Name       string `yaml:"name" doc:"What the service is, in a few words (the board's title for the strip), such as checkout."`
	Every      string `yaml:"every" doc:"How often the probe runs, in drill time; 5s by default."`
	Check      Check  `yaml:"check" doc:"The probe: exactly one of http, dns, reach (TCP) or ping, from a host. A pass is green, a failure red." required:"true"`
	MaxLatency string `yaml:"max_latency" doc:"A pass that takes longer than this (real time) is red too, such as 1s: a slow service is down to its users."`
}

// DrillInject is one entry of the timeline. It has exactly one trigger
// (at, after_red, on_invariant_broken or after_cleared) and lands a
// message, a fault, faults drawn from a pool, scripted steps, or several
// of these.
type DrillInject struct {
	ID                string         `yaml:"id" doc:"Identifier, used by after_cleared, 'netdojo drill inject' and the report." required:"true"`
	At                string         `yaml:"at" doc:"Land at this drill time, such as 2m (drill time stops while the drill is paused)."`
	AfterRed          string         `yaml:"after_red" doc:"Land once the service level has been red for this long without a break, such as 1m."`
	OnInvariantBroken bool           `yaml:"on_invariant_broken" doc:"Land when someone first breaks an invariant."`
	AfterCleared      string         `yaml:"after_cleared" doc:"Land when the faults of this earlier inject are cleared at their root: the incident is not over."`
	Message           *DrillMessage  `yaml:"message" doc:"What the responders are told when the inject lands."`
	Fault             *RawDrillFault `yaml:"fault" doc:"The fault the inject applies."`
	Pool              *DrillPool     `yaml:"pool" doc:"Faults drawn blind by the drill's seed, so the team cannot know the answer in advance."`
	Run               []Step         `yaml:"run" doc:"Scripted changes (steps with host and run, or a service action) made when the inject lands, after its faults: the incident's own moves, such as a tighter limit on a process."`
}

// DrillMessage is what an inject tells the responders.
type DrillMessage struct {
	From string `yaml:"from" doc:"Who says it: customers, monitoring, the CTO, ...; game master by default."`
	To   string `yaml:"to" doc:"A role it is for; everyone when omitted."`
	Text string `yaml:"text" doc:"What is said; never the fault's name." required:"true"`
}

// RawDrillFault is a fault of a drill, with how it is diagnosed and
// fixed, as written; the model's DrillFault holds its parameters decoded
// and checked.
type RawDrillFault struct {
	Name       string    `yaml:"name" doc:"Name of this fault in the drill; defaults to its kind."`
	Kind       string    `yaml:"kind" doc:"Fault kind; see docs/faults.md." required:"true"`
	Host       string    `yaml:"host" doc:"The host the fault is applied to, where the kind needs one."`
	Params     yaml.Node `yaml:"params" doc:"Parameters of the kind; see docs/faults.md." kind:"object"`
	Reveal     string    `yaml:"reveal" doc:"The root cause in a sentence, shown on the board and in the report once the drill ends."`
	Diagnosis  Answer    `yaml:"diagnosis" doc:"How a declaration of the root cause is judged ('netdojo drill declare'), as a scenario's answers are: usually a pattern." required:"true"`
	Declare    string    `yaml:"declare" doc:"A correct declaration, as a responder would write it; the reference response declares it." required:"true"`
	Fix        []Step    `yaml:"fix" doc:"The reference response's fix: steps (run or service) that clear the fault at its root." required:"true"`
	Mitigation []Step    `yaml:"mitigation" doc:"A workaround that makes the service green without clearing the root cause; verify proves it does not score as resolved."`
}

// DrillPool draws faults by the drill's seed.
type DrillPool struct {
	Draw int             `yaml:"draw" doc:"How many faults to draw (1 by default)."`
	From []RawDrillFault `yaml:"from" doc:"The candidates." required:"true"`
}

// DrillRole is a role participants join as.
type DrillRole struct {
	Prompt string `yaml:"prompt" doc:"What a participant in this role is told when joining." required:"true"`
}

// MarshalJSON writes the parameters as the values they hold.
func (f RawDrillFault) MarshalJSON() ([]byte, error) {
	type plain RawDrillFault
	return json.Marshal(struct {
		plain
		Params any
	}{plain(f), nodeValue(&f.Params)})
}
