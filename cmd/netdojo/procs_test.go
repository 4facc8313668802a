package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netdojo/netdojo/checker"
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
	if sandbox.CgroupRoot() == "" {
		t.Skip("no cgroup2 on this machine: a process of a deleted namespace cannot be found")
	}
	before := sandboxtest.Take(t)
	state := t.TempDir()
	store := sandbox.Store{Dir: state}
	lab := name("procs-del")
	t.Cleanup(func() { killLeftovers(t, store, lab); nd(t, state, "clean", "--all") })
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
	cg := sandbox.CgroupPath("x")
	if cg == "" {
		t.Skip("no cgroup2 on this machine")
	}
	state := t.TempDir()
	store := sandbox.Store{Dir: state}
	lab := name("procs-cg")
	t.Cleanup(func() { killLeftovers(t, store, lab); nd(t, state, "clean", "--all") })
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
		if !contains(members, strconv.Itoa(p.PID)) {
			t.Errorf("service %s (pid %d) is not in the lab's cgroup %v", p.Name, p.PID, members)
		}
	}
	out, code := nd(t, state, "exec", lab, "left", "--", "cat", "/proc/self/cgroup")
	if code != 0 || !strings.Contains(out, "/"+sandbox.CgroupParent+"/"+lab+"\n") {
		t.Errorf("a command run by exec is not in the lab's cgroup: exit %d\n%s", code, out)
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
	state := t.TempDir()
	store := sandbox.Store{Dir: state}
	lab := name("procs-bg")
	t.Cleanup(func() { killLeftovers(t, store, lab); nd(t, state, "clean", "--all") })
	src, err := os.ReadFile("../../scenarios/library/p2p-pair.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A background sleep and a double-forked daemon in its own session,
	// both holding the step's output.
	setup := "  left:\n    setup: [\"sleep 90 &\", \"(setsid sleep 1000 &)\", \"echo set up\"]\n"
	yaml := strings.Replace(string(src), "  left:\n", setup, 1)
	file := filepath.Join(t.TempDir(), "bg.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
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
	case <-time.After(checker.StepTimeout + 30*time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("start still runs after %s: its setup steps' background processes hold it\n%s", checker.StepTimeout+30*time.Second, out.String())
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
