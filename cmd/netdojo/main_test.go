package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// binary is netdojo built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "netdojo-e2e")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "netdojo")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Printf("building netdojo: %v\n%s", err, out)
		os.Exit(1)
	}
	if os.Geteuid() == 0 {
		if err := sandbox.EnsureNetnsDir(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// nd runs the netdojo binary with a private state directory. Without
// root, a command that refuses to run for want of it skips the test
// (call nd from the test's own goroutine).
func nd(t *testing.T, stateDir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--state-dir", stateDir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running netdojo: %v", err)
	}
	skipIfRefusedForRoot(t, code, out.String(), args)
	return out.String(), code
}

// skipIfRefusedForRoot skips t when netdojo, run without root, refused a
// privileged command up front (exit 4, "needs root"): the test is a root
// test, and its reason is the command it ran.
func skipIfRefusedForRoot(t *testing.T, code int, stderr string, args []string) {
	t.Helper()
	if os.Geteuid() != 0 && code == exitNotReady && strings.Contains(stderr, " needs root: ") {
		what := "netdojo"
		if c, _, err := newRootCmd().Find(args); err == nil {
			what = c.CommandPath()
		}
		sandboxtest.NeedRoot(t, fmt.Sprintf("runs '%s', which builds or enters network namespaces", what))
	}
}

func name(prefix string) string { return fmt.Sprintf("%s%04x", prefix, rand.IntN(1<<16)) }

func TestStartExecStopLeavesTheMachineAsItWas(t *testing.T) {
	before := sandboxtest.Take(t)
	state := t.TempDir()
	lab := name("e")
	out, code := nd(t, state, "start", "first-lab", "--no-faults", "--name", lab)
	if code != 0 {
		t.Fatalf("start: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "lab "+lab+" is running") || !strings.Contains(out, "[client] eth0 10.0.1.10/24") {
		t.Errorf("start output lacks the summary or topology:\n%s", out)
	}
	out, code = nd(t, state, "exec", lab, "client", "--", "ping", "-c", "1", "-W", "2", "203.0.113.80")
	if code != 0 {
		t.Errorf("exec ping: exit %d\n%s", code, out)
	}
	if _, code = nd(t, state, "exec", lab, "client", "--", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exec passes on exit code: got %d, want 7", code)
	}
	out, code = nd(t, state, "exec", lab, "client", "--", "cat", "/etc/hostname")
	if code != 0 || strings.TrimSpace(out) != "client" {
		t.Errorf("/etc/hostname in client = %q (exit %d)", out, code)
	}
	out, code = nd(t, state, "-o", "json", "status", lab)
	var st sandbox.State
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Status != sandbox.StatusRunning || len(st.Hosts) != 3 {
		t.Errorf("status --output json: exit %d\n%s", code, out)
	}
	if out, code = nd(t, state, "start", "first-lab", "--no-faults", "--name", lab); code != exitBusy {
		t.Errorf("second start of a running lab: exit %d, want %d\n%s", code, exitBusy, out)
	}
	if out, code = nd(t, state, "stop", lab); code != 0 {
		t.Fatalf("stop: exit %d\n%s", code, out)
	}
	sandboxtest.AssertNoLeftovers(t, sandbox.Store{Dir: state}, lab)
	sandboxtest.AssertUnchanged(t, before)
}

func TestABadScenarioFileChangesNothing(t *testing.T) {
	before := sandboxtest.Take(t)
	state := t.TempDir()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: netdojo/v1\nmetadata: {name: bad, title: Bad}\nhosts:\n  a:\n    interfaces: [{network: nowhere}]\n"), 0o644)
	out, code := nd(t, state, "start", bad, "--name", name("b"))
	if code != exitUsage || !strings.Contains(out, `bad.yaml:5:28: hosts.a.interfaces[0].network: network "nowhere" is not defined`) {
		t.Errorf("start of a bad file: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(state, "labs")); err == nil {
		t.Error("a state was written for a bad file")
	}
	sandboxtest.AssertUnchanged(t, before)
}

// TestSIGKILLAtRandomMomentsThenClean kills `netdojo start` (20 times),
// `netdojo stop` (10) and `netdojo service restart` (10) at random moments
// and checks that `netdojo clean` then leaves nothing of the lab: no
// namespace, mount, /etc/netns entry, process, cgroup or state; and that
// the machine's own network namespace is as it was (issue 9).
func TestSIGKILLAtRandomMomentsThenClean(t *testing.T) {
	before := sandboxtest.Take(t)
	state := t.TempDir()
	store := sandbox.Store{Dir: state}
	// Whatever happens, nothing of these labs may outlive the test.
	t.Cleanup(func() { nd(t, state, "clean", "--all") })
	const scenario = "first-lab" // small, with services: a cgroup, a lab init and processes
	start := func(lab string) {
		t.Helper()
		if out, code := nd(t, state, "start", scenario, "--name", lab); code != 0 {
			t.Fatalf("start %s: %s", lab, out)
		}
	}
	// Time each command once to spread the kills across it.
	timed := func(args ...string) time.Duration {
		t.Helper()
		t0 := time.Now()
		if out, code := nd(t, state, args...); code != 0 {
			t.Fatalf("%v: %s", args, out)
		}
		return time.Since(t0)
	}
	probe := name("procs-k")
	full := map[string]time.Duration{"start": timed("start", scenario, "--name", probe)}
	full["service"] = timed("service", probe, "server", "web", "restart")
	full["stop"] = timed("stop", probe)
	kill := func(what, lab string, i int, args ...string) {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"--state-dir", state}, args...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rand.Int64N(int64(full[what])))
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		out, code := nd(t, state, "clean", "--all")
		if code != 0 {
			t.Fatalf("%s kill %d after %s: clean: exit %d\n%s", what, i, delay, code, out)
		}
		if left := sandboxtest.Leftovers(store, lab); len(left) > 0 {
			t.Fatalf("%s kill %d after %s (of %s): left behind: %v", what, i, delay, full[what], left)
		}
	}
	for i := 0; i < 20; i++ {
		lab := name(fmt.Sprintf("procs-k%d", i))
		kill("start", lab, i, "start", scenario, "--name", lab)
	}
	for i := 0; i < 10; i++ {
		lab := name(fmt.Sprintf("procs-s%d", i))
		start(lab)
		kill("stop", lab, i, "stop", lab)
	}
	for i := 0; i < 10; i++ {
		lab := name(fmt.Sprintf("procs-r%d", i))
		start(lab)
		kill("service", lab, i, "service", lab, "server", "web", "restart")
	}
	sandboxtest.AssertUnchanged(t, before)
}

func TestValidateReportsEveryProblem(t *testing.T) {
	files, _ := filepath.Glob("../../scenarios/testdata/bad/*.yaml")
	out, code := nd(t, t.TempDir(), append([]string{"validate"}, files...)...)
	if code != exitUsage {
		t.Errorf("validate of bad files: exit %d, want %d", code, exitUsage)
	}
	for _, f := range files {
		if !strings.Contains(out, f+":") {
			t.Errorf("no problem reported for %s", f)
		}
	}
	lib, _ := filepath.Glob("../../scenarios/library/*.yaml")
	if out, code := nd(t, t.TempDir(), append([]string{"validate"}, lib...)...); code != 0 {
		t.Errorf("validate of the library: exit %d\n%s", code, out)
	}
}

func TestServiceStopAndRestart(t *testing.T) {
	state := t.TempDir()
	lab := name("s")
	if out, code := nd(t, state, "start", "first-lab", "--no-faults", "--name", lab); code != 0 {
		t.Fatalf("start: %s", out)
	}
	defer func() {
		nd(t, state, "stop", lab)
		sandboxtest.AssertNoLeftovers(t, sandbox.Store{Dir: state}, lab)
	}()
	reach := func() int {
		_, code := nd(t, state, "exec", lab, "client", "--", "nc", "-z", "-w", "2", "203.0.113.80", "80")
		return code
	}
	if reach() != 0 {
		t.Fatal("the web service does not answer after start")
	}
	if out, code := nd(t, state, "service", lab, "server", "web", "stop"); code != 0 {
		t.Fatalf("service stop: %s", out)
	}
	if reach() == 0 {
		t.Error("the web service still answers after service stop")
	}
	if out, code := nd(t, state, "service", lab, "server", "web", "restart"); code != 0 {
		t.Fatalf("service restart: %s", out)
	}
	if reach() != 0 {
		t.Error("the web service does not answer after service restart")
	}
	if out, code := nd(t, state, "service", lab, "server", "nope", "restart"); code != exitUsage || !strings.Contains(out, `runs no service "nope"`) {
		t.Errorf("unknown service: exit %d\n%s", code, out)
	}
}

func TestSetupCommandsRunAtStart(t *testing.T) {
	state := t.TempDir()
	file := filepath.Join(t.TempDir(), "setup.yaml")
	os.WriteFile(file, []byte(`apiVersion: netdojo/v1
metadata: {name: setup, title: Setup}
hosts:
  gw:
    interfaces: [{network: lan, ipv4: 10.0.0.1/24}]
    setup:
      - iptables -A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset
      - iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
networks:
  lan: {type: bridge}
`), 0o644)
	lab := name("u")
	if out, code := nd(t, state, "start", file, "--name", lab); code != 0 {
		t.Fatalf("start: %s", out)
	}
	defer func() {
		nd(t, state, "stop", lab)
		sandboxtest.AssertNoLeftovers(t, sandbox.Store{Dir: state}, lab)
	}()
	out, code := nd(t, state, "exec", lab, "gw", "--", "iptables-save")
	if code != 0 || !strings.Contains(out, "--dport 23 -j REJECT --reject-with tcp-reset") || !strings.Contains(out, "-A POSTROUTING -o eth0 -j MASQUERADE") {
		t.Errorf("iptables-save in gw after start (exit %d):\n%s", code, out)
	}
}
