package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// On a machine without cgroup2, a lab has no cgroup and still starts; the
// lab's PID namespace still ends what its commands left at stop, even
// after a host's namespace was deleted by hand.
func TestWithoutCgroupsThePIDNamespaceEndsTheLab(t *testing.T) {
	path := sandbox.CgroupPath("procs-x")
	restore := sandbox.WithoutCgroups()
	defer restore()
	store := testStore(t)
	name := labName("procs-nocg")
	lab, err := sandbox.Start(context.Background(), builtin(t, "p2p-pair"), sandbox.Options{Name: name, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	if sandbox.CgroupPath(name) != "" {
		t.Fatal("WithoutCgroups left cgroups on")
	}
	if path != "" {
		if _, err := os.Stat(path[:len(path)-len("procs-x")] + name); err == nil {
			t.Errorf("a cgroup was made for lab %s without cgroups", name)
		}
	}
	if lab.State.Init == nil {
		t.Fatal("the lab has no init: no PID namespace")
	}
	cmd, err := lab.Command("left", "sh", "-c", "setsid sleep 600 </dev/null >/dev/null 2>&1 &")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := exec.Command("ip", "netns", "del", sandbox.NetnsName(name, "left")).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	if err := sandbox.Stop(store, name); err != nil {
		t.Fatal(err)
	}
	restore()
	for _, l := range sandboxtest.Leftovers(store, name) {
		var pid int
		if _, err := fmt.Sscanf(l, "process %d", &pid); err == nil {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			t.Logf("process %d: %q\n%s", pid, cmdline, status)
		}
	}
	sandboxtest.AssertNoLeftovers(t, store, name)
}
