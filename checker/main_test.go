package checker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/checker"
	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/lab/labtest"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

// TestMain lets the test binary stand in for netdojo inside lab hosts.
func TestMain(m *testing.M) {
	labtest.Main(m, "checker")
}

// labName is a fresh lab name with this suite's prefix.
func labName() string { return sandboxtest.LabName("ck") }

// env is a running lab with a checker over it.
type env struct {
	t   testing.TB
	lab *sandbox.Lab
	s   *scenarios.Scenario
	c   *checker.Checker
}

// start builds a lab of s (with its faults when withFaults) and registers
// its stop, which must leave nothing behind.
func start(t *testing.T, s *scenarios.Scenario, withFaults bool) *env {
	t.Helper()
	sandboxtest.NeedRoot(t, "starts a lab of network namespaces to check")
	return startNamed(t, labName(), s, withFaults)
}

// startNamed is start under a given lab name (labtest.Start).
func startNamed(t testing.TB, name string, s *scenarios.Scenario, withFaults bool) *env {
	t.Helper()
	lab := labtest.Start(t, name, s, withFaults)
	return &env{t: t, lab: lab, s: s, c: &checker.Checker{Lab: lab, Scenario: s, Faults: labpkg.NewFaults(lab, s)}}
}

// run runs a shell command in a host and fails the test if it fails.
func (e *env) run(host, script string) string {
	e.t.Helper()
	cmd, err := e.lab.Command(host, "sh", "-c", script)
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("in %s: %s: %v\n%s", host, script, err, out)
	}
	return string(out)
}

// check decodes a check written in YAML and judges it.
func (e *env) check(yml string) checker.Outcome {
	e.t.Helper()
	return e.c.Check(context.Background(), decodeCheck(e.t, yml))
}

func decodeCheck(t testing.TB, yml string) *scenarios.Check {
	t.Helper()
	var ch scenarios.Check
	if err := scenarios.DecodeYAML("check", yml, &ch); err != nil {
		t.Fatalf("check %q: %v", yml, err)
	}
	return &ch
}

func decodeAnswer(t *testing.T, yml string) *scenarios.Answer {
	t.Helper()
	var a scenarios.Answer
	if err := scenarios.DecodeYAML("answer", yml, &a); err != nil {
		t.Fatalf("answer %q: %v", yml, err)
	}
	return &a
}

// assertNoFix fails when an observation names a fix: observations say
// what was seen, never what to type.
func assertNoFix(t *testing.T, observed string, fixWords ...string) {
	t.Helper()
	for _, w := range append([]string{"ip route add", "iptables -D", "iptables -F", "ip link set", "sysctl -w"}, fixWords...) {
		if strings.Contains(observed, w) {
			t.Errorf("the observation gives the fix away (%q): %s", w, observed)
		}
	}
}
