package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// revert is no way around a scenario's fault for a learner: reverting it
// by kind fails in the same words as a kind the lab does not have, and no
// error or completion names the scenario's faults. An instructor reverts
// it with --reveal.
func TestRevertNeitherNamesNorUndoesTheScenariosFaults(t *testing.T) {
	before := sandboxtest.Take(t)
	state := t.TempDir()
	lab := name("red8-rv")
	if out, code := nd(t, state, "start", "first-lab", "--name", lab); code != 0 {
		t.Fatalf("start: exit %d\n%s", code, out)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(state, "labs", lab)); err == nil {
			nd(t, state, "stop", lab)
		}
	})
	routes := func() string {
		out, _ := nd(t, state, "exec", lab, "client", "--", "ip", "route", "show", "default")
		return out
	}
	if routes() != "" {
		t.Fatalf("first-lab's client has a default route: the fault is not there")
	}
	applied, code := nd(t, state, "revert", lab, "no-default-route")
	other, code2 := nd(t, state, "revert", lab, "link-down")
	if code == 0 || code2 == 0 {
		t.Fatalf("revert without --reveal: exit %d and %d\n%s\n%s", code, code2, applied, other)
	}
	if strings.Contains(other, "no-default-route") || strings.ReplaceAll(applied, "no-default-route", "K") != strings.ReplaceAll(other, "link-down", "K") {
		t.Errorf("revert tells a scenario's fault from a kind the lab does not have:\n%s\n%s", applied, other)
	}
	if got := routes(); got != "" {
		t.Errorf("revert without --reveal undid the scenario's fault: %s", got)
	}
	if out, code := nd(t, state, "__complete", "revert", lab, ""); code != 0 || strings.Contains(out, "no-default-route") {
		t.Errorf("completion names the scenario's fault: exit %d\n%s", code, out)
	}
	if out, code := nd(t, state, "revert", lab, "no-default-route", "--reveal"); code != 0 || routes() == "" {
		t.Errorf("revert --reveal: exit %d\n%s", code, out)
	}
	if out, code := nd(t, state, "stop", lab); code != 0 {
		t.Fatalf("stop: exit %d\n%s", code, out)
	}
	sandboxtest.AssertNoLeftovers(t, sandbox.Store{Dir: state}, lab)
	sandboxtest.AssertUnchanged(t, before)
}
