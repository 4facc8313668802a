package checker_test

import (
	"strings"
	"testing"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/lab/labtest"
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
	c := &checker.Checker{Scenario: labtest.Load(t, yml, 1)}
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

// While a question asks how a connection fails, check output does not
// say how a check's connection failed: "connection refused" in
// alpha-answers answered alpha-failure of quiz-refused-vs-timeout.
func TestHowAConnectionFailsIsHiddenWhileTheQuizIsOpen(t *testing.T) {
	yml := formsLab + `tasks:
  - id: how
    prompt: how?
    answer: {choice: [refused, timed-out, no-route], correct: refused}
  - id: why
    prompt: why?
    answer: {choice: [bridge-netfilter, missing-dnat], correct: bridge-netfilter}
`
	c := &checker.Checker{Scenario: labtest.Load(t, yml, 1)}
	if !c.OpenErrorQuiz(func(string) bool { return false }) {
		t.Error("an open question about error classes is not seen")
	}
	if c.OpenErrorQuiz(func(id string) bool { return id == "how" }) {
		t.Error("a question that is not about error classes hides failures")
	}
	for _, obs := range []string{
		"GET http://10.0.2.21:9000/ from client: connecting: dial tcp 10.0.2.21:9000: connect: connection refused",
		"GET http://10.0.2.22:9000/ from client: connecting: context deadline exceeded",
		"tcp client to 10.0.2.21:9000: the connection is refused (a TCP reset comes back)",
		"tcp client to 10.0.2.22:9000: the connection times out: nothing comes back",
		"tcp client to 10.0.2.23:9000: no route to host (an ICMP host unreachable comes back)",
	} {
		got := checker.HideFailure(obs)
		if failure := strings.ToLower(got[strings.Index(got, ": ")+2:]); strings.Contains(failure, "refused") || strings.Contains(failure, "deadline") || strings.Contains(failure, "reset") || strings.Contains(failure, "nothing comes back") || strings.Contains(failure, "unreachable") {
			t.Errorf("HideFailure(%q) = %q", obs, got)
		}
	}
	if ok := "GET http://10.0.2.21:9000/ from client: 200 OK, 4 bytes"; checker.HideFailure(ok) != ok {
		t.Errorf("HideFailure changed a success: %q", checker.HideFailure(ok))
	}
}
