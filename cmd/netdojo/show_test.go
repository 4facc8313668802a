package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// ndSplit runs netdojo and returns stdout and stderr apart.
func ndSplit(t *testing.T, stateDir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--state-dir", stateDir}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running netdojo: %v", err)
	}
	skipIfRefusedForRoot(t, code, errb.String(), args)
	return out.String(), errb.String(), code
}

// stepsScenario runs commands in every phase; its story and a task say
// the port drawn from the seed.
const stepsScenario = `apiVersion: netdojo/v1
metadata: {name: steps, title: Every kind of step}
story: The shop listens on port ${port}.
params:
  - {name: port, choice: ['8080', '8443', '9000', '9443', '10080', '10443']}
hosts:
  gw:
    interfaces: [{network: lan, ipv4: 10.0.0.1/24}]
    setup:
      - iptables -A INPUT -p tcp --dport 23 -j REJECT
      - touch /run/netdojo-loader-test-never
  web:
    interfaces: [{network: lan, ipv4: 10.0.0.2/24}]
    setup: ["sysctl -w net.ipv4.ip_forward=1"]
    services: [{name: shop, kind: http, params: {port: '${port}'}}]
networks:
  lan: {type: bridge}
tasks:
  - id: port
    prompt: Which port does the shop listen on (${port})?
    answer: {correct: '${port}'}
solution:
  - {host: gw, run: iptables -D INPUT -p tcp --dport 23 -j REJECT}
  - {host: web, service: shop, action: restart}
  - {task: port, answer: '${port}'}
wrong_fixes:
  - name: flush everything
    steps:
      - {host: gw, run: iptables -F}
      - {host: web, service: shop, action: stop}
`

func TestShowStepsListsEveryCommandAndWhere(t *testing.T) {
	file := filepath.Join(t.TempDir(), "steps.yaml")
	os.WriteFile(file, []byte(stepsScenario), 0o644)
	out, errOut, code := ndSplit(t, t.TempDir(), "show", "--steps", file)
	want := file + ` (` + file + `): 5 shell commands run as root inside the lab's hosts: 3 by start, 5 by verify
They run with the machine's filesystem and processes in view and can enter any namespace: a scenario file is code.

setup (run by start and verify on every lab they build, after the services start)
  [gw] iptables -A INPUT -p tcp --dport 23 -j REJECT
  [gw] touch /run/netdojo-loader-test-never
  [web] sysctl -w net.ipv4.ip_forward=1

services (netdojo's own daemons, started by start)
  [web] shop: http

solution (run by verify)
  [gw] iptables -D INPUT -p tcp --dport 23 -j REJECT
  [web] netdojo service web shop restart

wrong fixes (run by verify, each on a lab of its own)
  "flush everything"
    [gw] iptables -F
    [web] netdojo service web shop stop
`
	want = strings.Replace(want, file+" (", "steps (", 1)
	if code != 0 || out != want || errOut != "" {
		t.Errorf("show --steps: exit %d, stderr %q\n got:\n%s\nwant:\n%s", code, errOut, out, want)
	}
	if _, err := os.Stat("/run/netdojo-loader-test-never"); err == nil {
		t.Error("show --steps ran a setup command")
	}
}

// TestStartOfAFileSaysWhatRunsAsRootAndShowLabShowsItsValues: start of a
// file outside the library says on stderr, in one line, how many commands
// it runs as root; start prints the story and tasks with the lab's values;
// show LAB shows the same values, show --scenario the defaults.
func TestStartOfAFileSaysWhatRunsAsRootAndShowLabShowsItsValues(t *testing.T) {
	before := sandboxtest.Take(t)
	state := t.TempDir()
	file := filepath.Join(t.TempDir(), "steps.yaml")
	os.WriteFile(file, []byte(strings.Replace(stepsScenario, "      - touch /run/netdojo-loader-test-never\n", "", 1)), 0o644)
	lab := name("loader-s")
	// Seed 1 draws 10443 (the default is 8080).
	out, errOut, code := ndSplit(t, state, "start", file, "--name", lab, "--seed", "1")
	if code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	defer func() {
		if o, c := nd(t, state, "stop", lab); c != 0 {
			t.Errorf("stop: exit %d\n%s", c, o)
		}
		sandboxtest.AssertNoLeftovers(t, sandbox.Store{Dir: state}, lab)
		sandboxtest.AssertUnchanged(t, before)
	}()
	wantNote := "netdojo: " + file + " is not a built-in scenario; start runs its 2 shell commands as root (see them with 'netdojo show --steps " + file + "')\n"
	if errOut != wantNote {
		t.Errorf("start's stderr:\n got %q\nwant %q", errOut, wantNote)
	}
	for _, want := range []string{"The shop listens on port 10443.", "tasks\n  port: Which port does the shop listen on (10443)?"} {
		if !strings.Contains(out, want) {
			t.Errorf("start's output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = ndSplit(t, state, "show", lab)
	if code != 0 || !strings.HasPrefix(out, "lab "+lab+" (running), scenario steps from "+file+", seed 1: the values below are this lab's\n") ||
		!strings.Contains(out, "The shop listens on port 10443.") || !strings.Contains(out, "(10443)?") {
		t.Errorf("show LAB: exit %d\n%s", code, out)
	}
	out, _, code = ndSplit(t, state, "show", "--scenario", file)
	if code != 0 || !strings.Contains(out, "The shop listens on port 8080.") || strings.HasPrefix(out, "lab ") ||
		!strings.Contains(out, "values drawn from a seed (port): shown with their defaults (--seed N for a seed's); a running lab's own: 'netdojo show LAB'") {
		t.Errorf("show --scenario FILE: exit %d\n%s", code, out)
	}
	if out, _, code = ndSplit(t, state, "show", lab, "--seed", "3"); code != exitUsage {
		t.Errorf("show LAB --seed: exit %d, want %d\n%s", code, exitUsage, out)
	}
	// A built-in scenario says nothing on stderr.
	builtinLab := name("loader-b")
	out, errOut, code = ndSplit(t, state, "start", "first-lab", "--no-faults", "--name", builtinLab)
	if code != 0 {
		t.Fatalf("start first-lab: exit %d\n%s%s", code, out, errOut)
	}
	if o, c := nd(t, state, "stop", builtinLab); c != 0 {
		t.Errorf("stop: exit %d\n%s", c, o)
	}
	if errOut != "" {
		t.Errorf("start of a built-in scenario wrote to stderr: %q", errOut)
	}
}

// TestValidateReadsAtMostTheLimit: a scenario "file" that never ends is
// refused after MaxFileBytes, not read into memory.
func TestValidateReadsAtMostTheLimit(t *testing.T) {
	out, code := nd(t, t.TempDir(), "validate", "/dev/zero")
	if code != exitUsage || !strings.HasPrefix(out, "/dev/zero:1:1: the file is larger than 262144 bytes, the most a scenario may be; split the scenario\n") {
		t.Errorf("validate /dev/zero: exit %d\n%s", code, out)
	}
}
