package main

import (
	"strings"
	"testing"
)

// A learner's view of a lab draws no routes and no MTUs: on first-lab the
// declared default route is the fix of the fault, on icmp-path-mtu the
// leased line's MTU is the answer to path-mtu. start and show (of a lab
// or of the scenario, which the learner's guide runs first) draw the
// learner's view; demo still draws them.
func TestTheLearnersTopologyGivesNoRouteOrMTUAway(t *testing.T) {
	for _, c := range []struct{ scenario, giveaway string }{
		{"first-lab", "default via 10.0.1.1"},
		{"icmp-path-mtu", "mtu 1400"},
	} {
		l, err := loadScenario(c.scenario, 1)
		if err != nil {
			t.Fatal(err)
		}
		var learner, author strings.Builder
		renderTopology(&learner, l.scenario, true)
		renderTopology(&author, l.scenario, false)
		if strings.Contains(learner.String(), c.giveaway) {
			t.Errorf("%s: the learner's topology shows %q:\n%s", c.scenario, c.giveaway, learner.String())
		}
		if !strings.Contains(author.String(), c.giveaway) {
			t.Errorf("%s: the author's topology lost %q:\n%s", c.scenario, c.giveaway, author.String())
		}
	}
}
