package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// On a machine without cgroup2, a lab has no cgroup and still starts; the
// lab's PID namespace still ends what its commands left at stop, even
// after a host's namespace was deleted by hand.
func TestWithoutCgroupsThePIDNamespaceEndsTheLab(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts a lab of network namespaces and a PID namespace")
	path := sandbox.CgroupPath("procs-x")
	restore := sandbox.WithoutCgroups()
	defer restore()
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("procs-nocg")
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
	if lab.State.Init == nil || lab.State.Init.StartTime == 0 {
		t.Fatalf("the lab has no init (%+v): no PID namespace", lab.State.Init)
	}
	t.Logf("init %+v", *lab.State.Init)
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", lab.State.Init.PID)); err == nil {
		t.Logf("init stat %s", st)
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

// BenchmarkCommand measures one command run in a host (`true`), entering
// the lab's PID namespace in two stages, against the same command without
// a PID namespace (a lab whose state records no init).
func BenchmarkCommand(b *testing.B) {
	store := sandbox.Store{Dir: b.TempDir()}
	name := fmt.Sprintf("procs-bench%04x", os.Getpid()%0x10000)
	lab, err := sandbox.Start(context.Background(), builtin(b, "p2p-pair"), sandbox.Options{Name: name, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		lab.Close()
		if err := sandbox.Stop(store, name); err != nil {
			b.Error(err)
		}
	}()
	run := func(b *testing.B, l *sandbox.Lab) {
		for i := 0; i < b.N; i++ {
			cmd, err := l.Command("left", "true")
			if err != nil {
				b.Fatal(err)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	}
	b.Run("pidns", func(b *testing.B) { run(b, lab) })
	b.Run("no-pidns", func(b *testing.B) {
		l, err := sandbox.Open(store, name)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		l.State.Init = nil
		run(b, l)
	})
}

// A state whose lab init is another process (a crafted or stale state)
// is neither entered nor signalled: exec refuses, and stop leaves that
// process alone while the lab's cgroup still ends the real init.
func TestAnInitThatIsNotTheLabsIsLeftAlone(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts a lab with its cgroup")
	if sandbox.CgroupRoot() == "" {
		t.Skip("no cgroup2 on this machine: without it the real init would be lost with the record")
	}
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("procs-craft")
	lab, err := sandbox.Start(context.Background(), builtin(t, "p2p-pair"), sandbox.Options{Name: name, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	other := exec.Command("sleep", "600")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Process.Kill()
	otherDone := make(chan struct{})
	go func() { other.Wait(); close(otherDone) }()
	var start uint64
	for i := 0; i < 100 && start == 0; i++ {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", other.Process.Pid))
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
			if f := strings.Fields(string(stat)[i+1:]); len(f) > 19 {
				fmt.Sscan(f[19], &start)
			}
		}
	}
	crafted, err := sandbox.Open(store, name)
	if err != nil {
		t.Fatal(err)
	}
	defer crafted.Close()
	crafted.State.Init = &sandbox.Process{Name: sandbox.LabInitName, PID: other.Process.Pid, StartTime: start}
	if err := crafted.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := crafted.Command("left", "true"); err == nil {
		t.Error("a command was prepared to enter the PID namespace of a process that is not the lab's init")
	}
	if err := sandbox.Stop(store, name); err != nil {
		t.Fatal(err)
	}
	select {
	case <-otherDone:
		t.Error("stop killed a process that a crafted state called the lab's init")
	case <-time.After(100 * time.Millisecond):
	}
	sandboxtest.AssertNoLeftovers(t, store, name)
}
