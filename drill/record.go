package drill

import "time"

// Record is everything a drill has observed so far: what the live board
// shows and what the post-incident report is rendered from. The engine
// appends to it; the board and the report only read it. It is written as
// JSON (record.json in the drill's directory) after every change, so a
// board in another process, or a report after the drill, reads the same
// document.
type Record struct {
	Drill   string    `json:"drill"` // the drill's name, such as "checkout-502"
	Title   string    `json:"title"`
	Team    string    `json:"team"`
	Lab     string    `json:"lab"` // the running lab's name
	Seed    uint64    `json:"seed"`
	Status  string    `json:"status"` // StatusRunning, StatusPaused or StatusEnded
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Elapsed is drill time in seconds: wall time minus paused time.
	Elapsed float64 `json:"elapsed_s"`
	Limit   float64 `json:"limit_s"`
	// Service is the synthetic user's probe, described in one line
	// ("HTTP GET http://shop.example/ from client every 2s").
	Service string `json:"service"`
	// SLI is one sample per probe run, in order.
	SLI          []Sample      `json:"sli"`
	Injects      []Inject      `json:"injects"`
	Messages     []Message     `json:"messages"`
	Participants []Participant `json:"participants"`
	Commands     []Command     `json:"commands"`
	Answers      []Answer      `json:"answers"`
	Collateral   []Collateral  `json:"collateral"`
	Hints        []Hint        `json:"hints"`
	Topology     Topology      `json:"topology"`
	Measures     Measures      `json:"measures"`
	// RootCauses is empty until the drill ends (or a game master reveals):
	// one line per fault that was injected, what it was and where.
	RootCauses []string `json:"root_causes,omitempty"`
}

// Drill statuses.
const (
	StatusRunning = "running"
	StatusPaused  = "paused"
	StatusEnded   = "ended"
)

// Sample is one run of the service-level probe. T is drill seconds.
type Sample struct {
	T      float64 `json:"t"`
	OK     bool    `json:"ok"`
	Detail string  `json:"detail"` // what the probe saw ("200 in 12 ms", "timed out after 2s")
}

// Inject is one entry of the timeline, planned or landed.
type Inject struct {
	ID     string  `json:"id"`
	Kind   string  `json:"kind"` // "fault" or "message"
	Text   string  `json:"text"` // what responders are told; never the fault's name before it is revealed
	When   string  `json:"when"` // the trigger, in words ("at 2m", "when the service is red for 1m")
	Landed bool    `json:"landed"`
	T      float64 `json:"t,omitempty"` // drill seconds when it landed
	// Cleared is set once the fault is cleared at its root (drill seconds).
	Cleared float64 `json:"cleared,omitempty"`
	// Revealed names the fault and where it was, once the drill reveals it.
	Revealed string `json:"revealed,omitempty"`
}

// Message is something said to the responders (an inject's message, a
// hint, a game master's note).
type Message struct {
	T    float64 `json:"t"`
	From string  `json:"from"`         // "game master", "customers", "monitoring"
	To   string  `json:"to,omitempty"` // a role, or empty for everyone
	Text string  `json:"text"`
}

// Participant is one person who joined.
type Participant struct {
	Name     string   `json:"name"`
	Role     string   `json:"role"` // "commander", "responder", "scribe"
	Joined   float64  `json:"joined"`
	Host     string   `json:"host,omitempty"`
	Commands int      `json:"commands"`
	Last     *Command `json:"last,omitempty"`
}

// Command is one command a participant ran in a drill shell.
type Command struct {
	T    float64 `json:"t"`
	Who  string  `json:"who"`
	Host string  `json:"host"`
	Cmd  string  `json:"cmd"`
}

// Answer is one `drill declare`: a diagnosis, judged as answers are.
type Answer struct {
	T       float64 `json:"t"`
	Who     string  `json:"who"`
	Text    string  `json:"text"`
	Correct bool    `json:"correct"`
}

// Collateral is an invariant broken during the drill, and for how long.
type Collateral struct {
	Invariant string  `json:"invariant"` // its description
	From      float64 `json:"from"`
	To        float64 `json:"to,omitempty"` // 0 while still broken
}

// Hint is a hint given (by a game master or asked for).
type Hint struct {
	T    float64 `json:"t"`
	Text string  `json:"text"`
}

// Topology is the lab as a picture: hosts and the links between them,
// with what is known to be broken marked once revealed.
type Topology struct {
	Hosts []TopoHost `json:"hosts"`
	Links []TopoLink `json:"links"`
}

// TopoHost is a host of the lab.
type TopoHost struct {
	Name   string   `json:"name"`
	Addrs  []string `json:"addrs,omitempty"`
	Broken bool     `json:"broken"`
}

// TopoLink joins a host to a network (a bridge or a point-to-point link).
type TopoLink struct {
	Host    string `json:"host"`
	Iface   string `json:"iface"`
	Network string `json:"network"`
	Broken  bool   `json:"broken"`
}

// Measures are what the drill measured by probes, never self-reported.
// Times are drill seconds from the first fault's landing; 0 means not (yet).
type Measures struct {
	Detect   float64 `json:"detect_s"`   // first correct declaration
	Mitigate float64 `json:"mitigate_s"` // service level green again after the first red
	Resolve  float64 `json:"resolve_s"`  // every landed fault cleared at its root
	// CollateralSeconds sums how long invariants were broken.
	CollateralSeconds float64        `json:"collateral_s"`
	CommandsBy        map[string]int `json:"commands_by"`
	HintsUsed         int            `json:"hints_used"`
	// Score is 0-100, comparable across runs of the same drill.
	Score int `json:"score"`
}
