package drill

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// Engine runs one drill over a running lab: the service probe, the
// timeline, the judgement of faults cleared and invariants, the control
// and commands files; it keeps the Record and writes it after changes.
// One goroutine (Run's) owns the record; the observers run in their own
// goroutines and hand their results back to it.
type Engine struct {
	dir   string
	d     *scenarios.Drill
	lab   *sandbox.Lab
	clock *Clock
	log   io.Writer
	ck    *checker.Checker

	rec      *Record
	steps    map[string]*stepState
	mu       sync.Mutex // guards live (read by the cleared observer)
	live     []*liveFault
	redSince float64 // drill time the current red streak began; -1 while green
	broken   bool    // an invariant has been broken at least once
	hint     int
	control  tail
	commands tail
	results  chan func()
	dirty    bool
	ended    bool
}

// stepState is an inject of the timeline as the engine tracks it.
type stepState struct {
	spec   *scenarios.DrillStep
	index  int // in rec.Injects
	landed bool
	faults []*liveFault
}

// liveFault is a fault that landed.
type liveFault struct {
	step    *stepState
	spec    *scenarios.DrillFault
	applied *faults.Applied
	cleared float64 // drill time, 0 until cleared
	streak  int     // consecutive cleared judgements
}

// Options are what an engine runs.
type Options struct {
	Dir   string // the drill's directory
	Drill *scenarios.Drill
	Lab   *sandbox.Lab // running, with Lab.Scenario set to the drill's lab
	Meta  Meta
	Clock *Clock
	Log   io.Writer // the runner's log; io.Discard when nil
}

// NewEngine prepares an engine; Run runs it.
func NewEngine(o Options) *Engine {
	if o.Log == nil {
		o.Log = io.Discard
	}
	e := &Engine{
		dir: o.Dir, d: o.Drill, lab: o.Lab, clock: o.Clock, log: o.Log,
		ck:       &checker.Checker{Lab: o.Lab, Scenario: o.Drill.Lab, Once: true},
		steps:    map[string]*stepState{},
		redSince: -1,
		control:  tail{path: filepath.Join(o.Dir, ControlFile)},
		commands: tail{path: filepath.Join(o.Dir, CommandsFile)},
		results:  make(chan func(), 64),
	}
	d := o.Drill
	e.rec = &Record{
		Drill: d.Name, Title: d.Title, Team: o.Meta.Team, Lab: o.Lab.Name, Seed: d.Seed,
		Status: StatusRunning, Started: o.Meta.Started, Limit: d.Limit.Seconds(),
		Service:  DescribeService(d.Service),
		SLI:      []Sample{},
		Injects:  []Inject{},
		Messages: []Message{}, Participants: []Participant{}, Commands: []Command{},
		Answers: []Answer{}, Collateral: []Collateral{}, Hints: []Hint{},
		Topology: topologyOf(d.Lab),
	}
	for i, s := range d.Timeline {
		kind := "message"
		if len(s.Faults) > 0 {
			kind = "fault"
		}
		e.rec.Injects = append(e.rec.Injects, Inject{ID: s.ID, Kind: kind, When: s.When()})
		e.steps[s.ID] = &stepState{spec: s, index: i}
	}
	if d.Story != "" {
		e.rec.Messages = append(e.rec.Messages, Message{T: 0, From: scenarios.DefaultDrillMessageFrom, Text: d.Story})
	}
	return e
}

func (e *Engine) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "%s %7.1fs "+format+"\n", append([]any{time.Now().Format(time.TimeOnly), e.clock.Now()}, args...)...)
}

// Run runs the drill until it ends (the limit, an end request, or ctx)
// and writes the final record. It returns the final record.
func (e *Engine) Run(ctx context.Context) (*Record, error) {
	obsCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, obs := range []func(context.Context){e.probeLoop, e.clearedLoop, e.invariantLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			obs(obsCtx)
		}()
	}
	defer func() {
		stop()
		wg.Wait()
	}()
	if err := e.write(); err != nil {
		return nil, err
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	lastWrite := time.Now()
	for !e.ended {
		select {
		case <-ctx.Done():
			e.end("the drill's runner was stopped")
		case fn := <-e.results:
			fn()
		case <-tick.C:
			e.readControl(ctx)
			e.readCommands()
			if !e.clock.Paused() && !e.ended {
				e.timeline(ctx)
				if e.d.Limit > 0 && e.clock.Now() >= e.d.Limit.Seconds() {
					e.end("the time limit was reached")
				}
			}
			if !e.clock.Paused() && time.Since(lastWrite) >= time.Second {
				e.dirty = true // the clock moved
			}
		}
		if e.dirty {
			if err := e.write(); err != nil {
				e.logf("writing the record: %v", err)
			}
			lastWrite = time.Now()
		}
	}
	// Let the observers stop before the last write, so nothing lands after.
	stop()
	wg.Wait()
	e.drain()
	e.dirty = true
	if err := e.write(); err != nil {
		return nil, err
	}
	return e.snapshot(), nil
}

// post hands an observer's result to the engine's goroutine.
func (e *Engine) post(ctx context.Context, fn func()) {
	select {
	case e.results <- fn:
	case <-ctx.Done():
	}
}

// drain applies results posted before the observers stopped.
func (e *Engine) drain() {
	for {
		select {
		case fn := <-e.results:
			fn()
		default:
			return
		}
	}
}

// write brings the clock and measures up to date and writes record.json.
func (e *Engine) write() error {
	e.rec.Elapsed = e.clock.Now()
	switch {
	case e.ended:
		e.rec.Status = StatusEnded
	case e.clock.Paused():
		e.rec.Status = StatusPaused
	default:
		e.rec.Status = StatusRunning
	}
	e.rec.Measures = ComputeMeasures(e.rec)
	e.dirty = false
	return writeJSONFile(filepath.Join(e.dir, RecordFile), e.rec)
}

func (e *Engine) snapshot() *Record {
	r := *e.rec
	return &r
}

// end ends the drill: drill time stops, the faults are revealed on the
// board and in the report.
func (e *Engine) end(why string) {
	if e.ended {
		return
	}
	e.rec.Elapsed = e.clock.Now()
	e.clock.Pause()
	e.ended = true
	e.rec.Ended = time.Now()
	e.say("netdojo", "", "The drill has ended: "+why+".")
	for _, st := range e.orderedSteps() {
		var revealed []string
		for _, lf := range st.faults {
			line := describeFault(lf)
			revealed = append(revealed, line)
			e.rec.RootCauses = append(e.rec.RootCauses, line)
			e.rec.Topology.markBroken(lf.applied.Host, faultDev(lf.spec))
		}
		if len(revealed) > 0 {
			e.rec.Injects[st.index].Revealed = joinLines(revealed)
		}
	}
	e.logf("ended: %s", why)
	e.dirty = true
}

func (e *Engine) orderedSteps() []*stepState {
	out := make([]*stepState, len(e.d.Timeline))
	for _, s := range e.steps {
		out[s.index] = s
	}
	return out
}

// say adds a message to the record.
func (e *Engine) say(from, to, text string) { e.sayAt(e.clock.Now(), from, to, text) }

// sayAt adds a message said at drill time t: an inject's message at the
// inject's time, a hint's at the hint's, so that the report tells them
// apart from other messages (it lists each once).
func (e *Engine) sayAt(t float64, from, to, text string) {
	e.rec.Messages = append(e.rec.Messages, Message{T: t, From: from, To: to, Text: text})
	e.dirty = true
}

// DescribeService says in one line what the service probe does.
func DescribeService(s scenarios.DrillService) string {
	ch := s.Check
	var what string
	switch {
	case ch.HTTP != nil:
		what = fmt.Sprintf("HTTP GET %s from %s", ch.HTTP.URL, ch.HTTP.From)
	case ch.DNS != nil:
		what = fmt.Sprintf("DNS %s %s from %s", typeOr(ch.DNS.Type), ch.DNS.Name, ch.DNS.From)
	case ch.Reach != nil:
		what = fmt.Sprintf("TCP connect to %s port %d from %s", ch.Reach.To, ch.Reach.Port, ch.Reach.From)
	case ch.Ping != nil:
		what = fmt.Sprintf("ping %s from %s", ch.Ping.To, ch.Ping.From)
	}
	out := fmt.Sprintf("%s: %s every %s", s.Name, what, s.Every)
	if s.MaxLatency > 0 {
		out += fmt.Sprintf(", red when slower than %s", s.MaxLatency)
	}
	return out
}

func typeOr(t string) string {
	if t == "" {
		return "A"
	}
	return t
}

func describeFault(lf *liveFault) string {
	where := ""
	if lf.applied.Host != "" {
		where = " on " + lf.applied.Host
	}
	line := fmt.Sprintf("%s (%s%s)", lf.applied.Name, lf.applied.Kind.Name, where)
	if lf.spec.Reveal != "" {
		line = lf.spec.Reveal + " [" + line + "]"
	}
	return line
}

func joinLines(ls []string) string {
	out := ""
	for i, l := range ls {
		if i > 0 {
			out += "; "
		}
		out += l
	}
	return out
}
