package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// killLeftovers ends, by PID, the processes a failed test leaves of a lab,
// so one failure does not leak into the machine.
func killLeftovers(t *testing.T, store sandbox.Store, lab string) {
	t.Helper()
	for _, l := range sandbox.Leftovers(store, lab) {
		if pid, err := strconv.Atoi(strings.TrimPrefix(l, "process ")); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// cliStore is a state directory of the test's own, for labs started with
// the netdojo binary, and its store. Its cleanup ends, by PID, what a
// failed test leaves of the labs, then runs `netdojo clean --all`.
func cliStore(t *testing.T, labs ...string) (string, sandbox.Store) {
	t.Helper()
	state := t.TempDir()
	store := sandbox.Store{Dir: state}
	t.Cleanup(func() {
		for _, lab := range labs {
			killLeftovers(t, store, lab)
		}
		nd(t, state, "clean", "--all")
	})
	return state, store
}

// p2pPairWithSetup writes the built-in p2p-pair scenario with setup steps
// on host "left" (a YAML list) to a file of the test's own.
func p2pPairWithSetup(t *testing.T, steps string) string {
	t.Helper()
	src, err := os.ReadFile("../../scenarios/library/p2p-pair.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "p2p-pair-setup.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(string(src), "  left:\n", "  left:\n    setup: "+steps+"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func hostNetns(t *testing.T, store sandbox.Store, lab, host string) string {
	t.Helper()
	l, err := sandbox.Open(store, lab)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, h := range l.State.Hosts {
		if h.Name == host {
			return h.Netns
		}
	}
	t.Fatalf("lab %s has no host %s", lab, host)
	return ""
}

// A process started in a host outlives `ip netns del` of that host; stop
// must still end it (issue 9, item 7): the lab's cgroup finds it.
func TestStopEndsProcessOfHandDeletedNamespace(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts a lab and deletes one of its namespaces")
	if sandbox.CgroupRoot() == "" {
		t.Skip("no cgroup2 on this machine: a process of a deleted namespace cannot be found")
	}
	before := sandboxtest.Take(t)
	lab := name("procs-del")
	state, store := cliStore(t, lab)
	if out, code := nd(t, state, "start", "p2p-pair", "--no-faults", "--name", lab); code != 0 {
		t.Fatalf("start: %s", out)
	}
	if out, code := nd(t, state, "exec", lab, "left", "--", "sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 &"); code != 0 {
		t.Fatalf("exec: %s", out)
	}
	ns := hostNetns(t, store, lab, "left")
	if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", ns, err, out)
	}
	if out, code := nd(t, state, "stop", lab); code != 0 {
		t.Errorf("stop: exit %d\n%s", code, out)
	}
	sandboxtest.AssertNoLeftovers(t, store, lab)
	sandboxtest.AssertUnchanged(t, before)
}

// The lab's cgroup exists while it runs, holds its services and what a
// learner starts, and is gone after stop.
func TestLabProcessesAreInItsCgroup(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts a lab with its cgroup")
	cg := sandbox.CgroupPath("x")
	if cg == "" {
		t.Skip("no cgroup2 on this machine")
	}
	lab := name("procs-cg")
	state, store := cliStore(t, lab)
	if out, code := nd(t, state, "start", "p2p-pair", "--no-faults", "--name", lab); code != 0 {
		t.Fatalf("start: %s", out)
	}
	l, err := sandbox.Open(store, lab)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	procs, err := os.ReadFile(filepath.Join(sandbox.CgroupPath(lab), "cgroup.procs"))
	if err != nil {
		t.Fatalf("reading the lab's cgroup: %v", err)
	}
	members := strings.Fields(string(procs))
	for _, p := range l.State.Processes {
		if !contains(members, strconv.Itoa(p.PID)) || !sandbox.InLabCgroup(p.PID, lab) {
			t.Errorf("service %s (pid %d) is not in the lab's cgroup %v", p.Name, p.PID, members)
		}
	}
	out, code := nd(t, state, "exec", lab, "left", "--", "cat", "/proc/self/cgroup")
	if code != 0 || !strings.Contains(out, "/"+sandbox.CgroupParent+"/"+lab+"\n") {
		t.Errorf("a command run by exec is not in the lab's cgroup: exit %d\n%s", code, out)
	}
	if sandbox.InLabCgroup(os.Getpid(), lab) || (l.State.Init != nil && sandbox.InLabCgroup(l.State.Init.PID, "x"+lab)) {
		t.Error("InLabCgroup says yes for a process outside the lab's cgroup")
	}
	if l.State.Init == nil || !sandbox.InLabCgroup(l.State.Init.PID, lab) {
		t.Errorf("the lab init %+v is not in the lab's cgroup", l.State.Init)
	}
	if out, code := nd(t, state, "stop", lab); code != 0 {
		t.Errorf("stop: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(sandbox.CgroupPath(lab)); err == nil {
		t.Errorf("cgroup %s is left after stop", sandbox.CgroupPath(lab))
	}
	sandboxtest.AssertNoLeftovers(t, store, lab)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A setup step that leaves processes behind (issue 9, item 4): start
// returns when the step's shell ends, not when the background processes
// close its output; they are the lab's (in its cgroup) and stop ends them.
func TestSetupStepBackgroundProcessesAreTheLabs(t *testing.T) {
	before := sandboxtest.Take(t)
	lab := name("procs-bg")
	state, store := cliStore(t, lab)
	// A background sleep and a double-forked daemon in its own session,
	// both holding the step's output.
	file := p2pPairWithSetup(t, `["sleep 90 &", "(setsid sleep 1000 &)", "echo set up"]`)
	// A hung start is killed well after the step bound, so the test fails
	// instead of hanging.
	cmd := exec.Command(binary, "--state-dir", state, "start", file, "--no-faults", "--name", lab)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("start: %v\n%s", err, out.String())
		}
	case <-time.After(labpkg.StepTimeout + 30*time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("start still runs after %s: its setup steps' background processes hold it\n%s", labpkg.StepTimeout+30*time.Second, out.String())
	}
	if cg := sandbox.CgroupPath(lab); cg != "" {
		var sleeps []string
		for _, pid := range cgroupMembers(t, cg) {
			cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			if strings.HasPrefix(string(cmdline), "sleep\x00") {
				sleeps = append(sleeps, strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
		}
		if len(sleeps) != 2 {
			t.Errorf("the lab's cgroup holds sleeps %q, want the two the setup left", sleeps)
		}
	}
	if out, code := nd(t, state, "stop", lab); code != 0 {
		t.Errorf("stop: exit %d\n%s", code, out)
	}
	sandboxtest.AssertNoLeftovers(t, store, lab)
	sandboxtest.AssertUnchanged(t, before)
}

func cgroupMembers(t *testing.T, cg string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		t.Fatalf("reading cgroup %s: %v", cg, err)
	}
	return strings.Fields(string(data))
}

// nsMembers is what `ps -e` inside a lab should list: the PIDs, as the
// lab's PID namespace numbers them, of the processes of its cgroup that
// live in that namespace (stage 1 of each command waits outside).
func nsMembers(t *testing.T, lab string) map[int]bool {
	t.Helper()
	want := map[int]bool{}
	for _, p := range cgroupMembers(t, sandbox.CgroupPath(lab)) {
		pid, _ := strconv.Atoi(p)
		status, err := os.ReadFile("/proc/" + p + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(strings.TrimPrefix(line, "NSpid:")); strings.HasPrefix(line, "NSpid:") && len(f) == 2 {
				want[sandbox.NSPID(pid)] = true
			}
		}
	}
	return want
}

// A learner's exec and shell see the lab's own processes only (issue 8,
// point 5): `ps -e` in a host of one lab lists that lab's processes,
// numbered in its PID namespace, and none of another lab's or the
// machine's; the PID `ss -tlnp` shows there is the one `netdojo answer`
// accepts for pid-of-port.
func TestExecSeesOnlyTheLabsProcesses(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts two labs with PID namespaces")
	if sandbox.CgroupRoot() == "" {
		t.Skip("no cgroup2 on this machine")
	}
	a, b := name("procs-a"), name("procs-b")
	state, store := cliStore(t, a, b)
	if out, code := nd(t, state, "start", "quiz-port-443", "--seed", "1", "--name", a); code != 0 {
		t.Fatalf("start %s: %s", a, out)
	}
	if out, code := nd(t, state, "start", "first-lab", "--no-faults", "--name", b); code != 0 {
		t.Fatalf("start %s: %s", b, out)
	}
	out, code := nd(t, state, "exec", a, "www", "--", "ps", "-e", "-o", "pid=,comm=")
	if code != 0 {
		t.Fatalf("ps: exit %d\n%s", code, out)
	}
	seen := map[int]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("ps printed %q", line)
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("ps printed %q", line)
		}
		if f[1] != "ps" {
			seen[pid] = f[1]
		}
	}
	want := nsMembers(t, a)
	if len(want) < 3 {
		t.Fatalf("lab %s has %d processes in its PID namespace, want its init and its services", a, len(want))
	}
	for pid, comm := range seen {
		if !want[pid] {
			t.Errorf("ps in lab %s lists %d (%s), not a process of the lab", a, pid, comm)
		}
		if comm == "nd-dns" {
			t.Errorf("ps in lab %s lists lab %s's dns service (pid %d)", a, b, pid)
		}
	}
	for pid := range want {
		if _, ok := seen[pid]; !ok {
			t.Errorf("ps in lab %s misses its process %d", a, pid)
		}
	}
	if seen[os.Getpid()] != "" && !want[os.Getpid()] {
		t.Errorf("ps in lab %s lists the test's own PID %d", a, os.Getpid())
	}
	out, code = nd(t, state, "exec", a, "www", "--", "ss", "-Htlnp", "sport = :443")
	m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("ss -tlnp in %s shows no process on port 443: exit %d\n%s", a, code, out)
	}
	if pid, _ := strconv.Atoi(m[1]); !want[pid] {
		t.Errorf("ss shows pid %s, not a PID of the lab's namespace %v", m[1], want)
	}
	if out, code := nd(t, state, "answer", a, "pid-on-443", m[1]); code != 0 {
		t.Errorf("answer %s (the PID ss shows inside the lab): exit %d\n%s", m[1], code, out)
	}
	for _, lab := range []string{a, b} {
		if out, code := nd(t, state, "stop", lab); code != 0 {
			t.Errorf("stop %s: exit %d\n%s", lab, code, out)
		}
		sandboxtest.AssertNoLeftovers(t, store, lab)
	}
}

// SIGINT during a setup step that does not end (issue 9, item 4) stops
// start at once: the step's process group is killed, whatever a step
// left in the background is the lab's, and the rollback removes it all.
func TestSIGINTDuringALongSetupStep(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts a lab with its cgroup")
	if sandbox.CgroupRoot() == "" {
		t.Skip("no cgroup2 on this machine")
	}
	before := sandboxtest.Take(t)
	lab := name("procs-int")
	state, store := cliStore(t, lab)
	file := p2pPairWithSetup(t, `["(setsid sleep 1000 &)", "sleep 999"]`)
	cmd := exec.Command(binary, "--state-dir", state, "start", file, "--no-faults", "--name", lab)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Wait for the second step to run: both sleeps are in the lab's cgroup.
	cg := sandbox.CgroupPath(lab)
	for running := false; !running; {
		select {
		case err := <-done:
			t.Fatalf("start ended before its second step ran: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		data, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		for _, pid := range strings.Fields(string(data)) {
			cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			if string(cmdline) == "sleep\x00999\x00" {
				running = true
			}
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("start succeeded after SIGINT\n%s", out.String())
		}
	case <-time.After(labpkg.StepTimeout / 2):
		cmd.Process.Kill()
		<-done
		t.Fatalf("start still runs %s after SIGINT\n%s", labpkg.StepTimeout/2, out.String())
	}
	if !strings.Contains(out.String(), "interrupted") {
		t.Errorf("start does not say it was interrupted:\n%s", out.String())
	}
	sandboxtest.AssertNoLeftovers(t, store, lab)
	sandboxtest.AssertUnchanged(t, before)
}
