package checker_test

import (
	"strings"
	"testing"

	"github.com/netdojo/netdojo/checker"
)

// While a question asks for the cause in words, check output says that a
// workaround left the cause in place, not what the cause is: "traffic
// bridged between pods still bypasses the node's iptables rules" answers
// k8s-node's what-broke. A question about a host does not hide it (the
// host is withheld by Redact instead).
func TestTheCauseIsHiddenWhileTheWhyIsOpen(t *testing.T) {
	yml := formsLab + `tasks:
  - id: why
    prompt: why?
    answer: {choice: [bridge-netfilter, missing-dnat], correct: bridge-netfilter}
  - id: which
    prompt: which host?
    answer: {choice: [10.0.1.1, 10.0.2.80], correct: 10.0.1.1}
`
	c := &checker.Checker{Scenario: load(t, yml, 1)}
	none := func(string) bool { return false }
	if !c.OpenWhy(none) {
		t.Error("an open question about the cause in words is not seen")
	}
	if c.OpenWhy(func(id string) bool { return id == "why" }) {
		t.Error("a question about a host hides the cause")
	}
	obs := "GET http://10.96.0.20/ from pod-a: 200 OK, 13 bytes; but the cause is still there: traffic bridged between pods still bypasses the node's iptables rules"
	got := checker.HideCause(obs)
	if strings.Contains(got, "bridged") || !strings.Contains(got, "200 OK") || !strings.Contains(got, "the cause is still there") {
		t.Errorf("HideCause: %q", got)
	}
	if plain := "GET http://x/: 200 OK"; checker.HideCause(plain) != plain {
		t.Errorf("HideCause changed an observation without a cause: %q", checker.HideCause(plain))
	}
}
