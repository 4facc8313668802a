package checker

import (
	"context"
	"regexp"
	"strings"

	"github.com/netdojo/netdojo/scenarios"
)

// Withheld are the answers the learner has not given yet, in the forms an
// observation may show them: the scenario solution's answer to each task
// not yet passed that names something (a host, an address, a process, a
// PID, a number), with every other name and address of a host it names.
// A task that probes the culprit host ("make the silent host answer")
// would otherwise print its address before the learner has found it.
// Choices of words (refused, physical, backend) are not withheld: they
// are what a learner's own tools print. Computed answers are read from
// the lab when cheap (a PID, a process name); the expensive ones (path
// MTU, silent hop) are never printed by a check.
func (c *Checker) Withheld(ctx context.Context, passed func(task string) bool) []string {
	var out []string
	add := func(v string) {
		v = strings.TrimSuffix(strings.TrimSpace(v), ".")
		if len(v) < 3 {
			return // a hop number would blank every small number
		}
		for _, o := range out {
			if o == v {
				return
			}
		}
		out = append(out, v)
	}
	for i := range c.Scenario.Tasks {
		t := &c.Scenario.Tasks[i]
		a := t.Answer
		if a == nil || passed(t.ID) || a.Filter != nil || a.Pcap != nil {
			continue
		}
		if a.Choice != nil && !c.hostChoices(a.Choice) {
			continue
		}
		var values []string
		for _, st := range c.Scenario.Solution {
			if st.Task == t.ID && st.Answer != "" {
				values = append(values, st.Answer)
			}
		}
		if a.Computed == "pid-of-port" || a.Computed == "close-wait-process" {
			if v, _, err := c.Computed(ctx, a); err == nil {
				values = append(values, v)
			}
		}
		for _, v := range values {
			if strings.Contains(v, "${"+scenarios.ComputedRef+"}") {
				continue
			}
			add(v)
			for _, f := range c.hostForms([]string{v}) {
				add(f)
			}
		}
	}
	return out
}

// hostChoices is true when the options of a choice name lab hosts.
func (c *Checker) hostChoices(options []string) bool {
	for _, o := range options {
		if c.labHost(o) == nil {
			return false
		}
	}
	return len(options) > 0
}

// Redact replaces, in an observation, every withheld answer that stands
// as a word of its own (not part of a longer name, number or address)
// with "(withheld)".
func Redact(observed string, withheld []string) string {
	for _, w := range withheld {
		var b strings.Builder
		rest := observed
		for {
			i := strings.Index(rest, w)
			if i < 0 {
				b.WriteString(rest)
				break
			}
			end := i + len(w)
			if wordEdge(rest, i-1) && wordEdge(rest, end) {
				b.WriteString(rest[:i])
				b.WriteString("(withheld)")
			} else {
				b.WriteString(rest[:end])
			}
			rest = rest[end:]
		}
		observed = b.String()
	}
	return observed
}

// wordEdge is true when position i of s is outside a name, a number or an
// address: the start or end of s, or a character none of them holds (a
// dot ends a sentence unless a letter or digit follows; a colon ends an
// address before its port).
func wordEdge(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return true
	}
	ch := s[i]
	switch {
	case isWordByte(ch), ch == '-', ch == '_':
		return false
	case ch == '.':
		return i+1 >= len(s) || !isWordByte(s[i+1])
	}
	return true
}

func isWordByte(ch byte) bool {
	return ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9'
}

// causeMark starts what a task's observation says about a fault that is
// still there once its goal passes (see Task).
const causeMark = "; but the cause is still there"

// OpenWhy is true while a task that asks the learner to name the cause in
// words (a choice that is not a host: "bridge-netfilter", "hosts-file-
// overrides-dns") is not passed yet: what a fault's judgement says is
// still wrong ("traffic bridged between pods still bypasses the node's
// iptables rules") would answer it.
func (c *Checker) OpenWhy(passed func(task string) bool) bool {
	for i := range c.Scenario.Tasks {
		t := &c.Scenario.Tasks[i]
		if a := t.Answer; a != nil && a.Choice != nil && !passed(t.ID) && !c.hostChoices(a.Choice) {
			return true
		}
	}
	return false
}

// HideCause keeps, of an observation, that the cause is still there but
// not what it is: for check output while OpenWhy.
func HideCause(observed string) string {
	i := strings.Index(observed, causeMark)
	if i < 0 {
		return observed
	}
	return observed[:i] + causeMark + " (answer the lab's open questions to see what it is)"
}

// failureWords are what a check says of a connection that fails: the
// tools' words for each error class and the probe engine's own.
var failureWords = regexp.MustCompile(`(?i)refused|reset|times? ?out|timed?[ -]?out|deadline exceeded|nothing comes back|unreachable|no route|prohibited|econnrefused|etimedout|ehostunreach`)

// OpenErrorQuiz is true while a task that asks how a connection fails (a
// choice among error classes: refused, timed-out, no-route) is not passed
// yet: a failing check's "connection refused" would answer it before the
// learner has tried anything.
func (c *Checker) OpenErrorQuiz(passed func(task string) bool) bool {
	for i := range c.Scenario.Tasks {
		t := &c.Scenario.Tasks[i]
		a := t.Answer
		if a == nil || a.Choice == nil || passed(t.ID) {
			continue
		}
		n := 0
		for _, o := range a.Choice {
			for _, ec := range errorClasses {
				if inKeys(key(o), ec.names) {
					n++
					break
				}
			}
		}
		if n >= 2 {
			return true
		}
	}
	return false
}

// HideFailure replaces an observation that says how a connection failed
// (for check output while OpenErrorQuiz).
func HideFailure(observed string) string {
	if !failureWords.MatchString(observed) {
		return observed
	}
	if i := strings.Index(observed, ": "); i > 0 {
		observed = observed[:i]
	} else {
		observed = "the check"
	}
	return observed + ": it fails (how is withheld while a question asks how a connection fails: answer it from your own tools first)"
}
