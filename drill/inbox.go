package drill

import (
	"context"
	"encoding/json"
	"fmt"
)

// readControl acts on the control events appended since the last read.
func (e *Engine) readControl(ctx context.Context) {
	lines, err := e.control.lines()
	if err != nil {
		e.logf("reading the control file: %v", err)
		return
	}
	for _, l := range lines {
		var ev Event
		if err := json.Unmarshal(l, &ev); err != nil {
			e.logf("ignoring a malformed control line: %v", err)
			continue
		}
		e.handle(ctx, ev)
	}
}

func (e *Engine) handle(ctx context.Context, ev Event) {
	if e.ended {
		return
	}
	switch ev.Op {
	case OpJoin:
		e.join(ev)
	case OpDeclare:
		e.declare(ctx, ev)
	case OpPause:
		if !e.clock.Paused() {
			e.say("game master", "", "The drill is paused.")
			e.clock.Pause()
		}
	case OpResume:
		if e.clock.Paused() {
			e.clock.Resume()
			e.say("game master", "", "The drill goes on.")
		}
	case OpInject:
		e.forceInject(ctx, ev.Text, orGM(ev.Who))
	case OpHint:
		if e.hint >= len(e.d.Hints) {
			e.say("netdojo", "", "There are no more hints.")
			return
		}
		h := e.d.Hints[e.hint]
		e.hint++
		t := e.clock.Now()
		e.rec.Hints = append(e.rec.Hints, Hint{T: t, Text: h})
		e.sayAt(t, "game master", "", "Hint: "+h)
	case OpSay:
		e.say(orGM(ev.Who), ev.Role, ev.Text)
	case OpEnd:
		e.end("ended by " + orGM(ev.Who))
	default:
		e.logf("ignoring unknown control op %q", ev.Op)
	}
}

func orGM(who string) string {
	if who == "" {
		return "game master"
	}
	return who
}

func (e *Engine) participant(name string) *Participant {
	for i := range e.rec.Participants {
		if e.rec.Participants[i].Name == name {
			return &e.rec.Participants[i]
		}
	}
	return nil
}

func (e *Engine) join(ev Event) {
	t := e.clock.At(ev.At)
	if p := e.participant(ev.Who); p != nil {
		p.Role, p.Host = ev.Role, ev.Host // a rejoin, perhaps elsewhere
	} else {
		e.rec.Participants = append(e.rec.Participants, Participant{Name: ev.Who, Role: ev.Role, Joined: t, Host: ev.Host})
	}
	e.logf("%s joined as %s on %s", ev.Who, ev.Role, ev.Host)
	e.dirty = true
}

// declare judges a declared root cause against the diagnosis of every
// fault that has landed, as a scenario's answers are judged.
func (e *Engine) declare(ctx context.Context, ev Event) {
	t := e.clock.At(ev.At)
	correct := false
	e.mu.Lock()
	live := append([]*liveFault(nil), e.live...)
	e.mu.Unlock()
	for _, lf := range live {
		if o := e.ck.Answer(ctx, &lf.spec.Diagnosis, []string{ev.Text}); o.Pass {
			correct = true
			break
		}
	}
	e.rec.Answers = append(e.rec.Answers, Answer{T: t, Who: ev.Who, Text: ev.Text, Correct: correct})
	e.logf("%s declared %q: correct=%v", ev.Who, ev.Text, correct)
	e.dirty = true
}

// readCommands records the commands the join shells appended.
func (e *Engine) readCommands() {
	lines, err := e.commands.lines()
	if err != nil {
		e.logf("reading the commands file: %v", err)
		return
	}
	for _, l := range lines {
		when, who, host, cmd, err := parseCommand(string(l))
		if err != nil {
			e.logf("%v", err)
			continue
		}
		c := Command{T: e.clock.At(when), Who: who, Host: host, Cmd: cmd}
		e.rec.Commands = append(e.rec.Commands, c)
		p := e.participant(who)
		if p == nil {
			e.rec.Participants = append(e.rec.Participants, Participant{Name: who, Role: "responder", Joined: c.T, Host: host})
			p = &e.rec.Participants[len(e.rec.Participants)-1]
		}
		p.Commands++
		last := c
		p.Last = &last
		e.dirty = true
	}
	if len(lines) > 0 {
		e.logf("%s", fmt.Sprintf("%d commands recorded", len(lines)))
	}
}
