package main

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"golang.org/x/sys/unix"
)

// TestACraftedStateTurnsNoCommandAgainstTheMachine: `netdojo stop
// ../../elsewhere/x` reaching a state outside the store, and `netdojo
// clean` over a crafted state in the store, delete no file or directory
// and end no process they name; both exit non-zero saying why.
func TestACraftedStateTurnsNoCommandAgainstTheMachine(t *testing.T) {
	v := sandboxtest.NewVictims(t)
	root := t.TempDir()
	state := filepath.Join(root, "store")
	outside := filepath.Join(root, "elsewhere", "x")
	sandboxtest.WriteState(t, outside, v.Crafted("../../elsewhere/x"))
	out, code := nd(t, state, "stop", "../../elsewhere/x")
	if code != exitUsage || !strings.Contains(out, "not a valid lab name") || strings.Contains(out, "nothing of it is left") {
		t.Errorf("stop ../../elsewhere/x: exit %d, want %d refusing the name\n%s", code, exitUsage, out)
	}
	v.AssertAlive(t)
	if _, err := os.Stat(filepath.Join(root, "elsewhere", "x.lock")); err == nil {
		t.Error("stop left a lock file outside the store")
	}

	evil := name("store-evil")
	sandboxtest.WriteState(t, filepath.Join(state, "labs", evil), v.Crafted(evil))
	for _, args := range [][]string{{"stop", evil}, {"clean"}, {"clean", "--all"}, {"service", evil, "h", "p", "stop"}} {
		out, code := nd(t, state, args...)
		if code == 0 || !strings.Contains(out, "fails its checks") || strings.Contains(out, "nothing of it is left") {
			t.Errorf("%s over a crafted state: exit %d, want non-zero saying the state fails its checks\n%s", strings.Join(args, " "), code, out)
		}
		v.AssertAlive(t)
	}
}

// TestEveryCommandThatTakesALabRefusesABadName: exit 2 before anything is
// read or made.
func TestEveryCommandThatTakesALabRefusesABadName(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "store")
	for _, bad := range []string{"../x", "a/b", "x.y", "X"} {
		for _, args := range [][]string{
			{"stop", bad}, {"status", bad}, {"shell", bad, "h"}, {"exec", bad, "h", "--", "true"},
			{"service", bad}, {"service", bad, "h", "web", "restart"},
			{"inject", bad, "link-down", "--host", "h"}, {"revert", bad, "link-down"},
			{"probe", "--in", bad + "/h", "route"}, {"sockets", "--in", bad + "/h"},
			{"capture", "--in", bad + "/h", "-c", "1"}, {"triage", "--in", bad + "/h", "--target", "10.0.0.1"},
			{"check", bad, "task"}, {"answer", bad, "task", "x"}, {"hint", bad, "task"},
		} {
			out, code := nd(t, state, args...)
			if code != exitUsage {
				t.Errorf("%s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitUsage, out)
			}
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("bad lab names made %v", entries)
	}
	// A host name with a path in it is refused too.
	if out, code := nd(t, state, "probe", "--in", "store-l/../h", "route"); code != exitUsage {
		t.Errorf("probe --in store-l/../h: exit %d, want %d\n%s", code, exitUsage, out)
	}
}

func TestStopOfALabThatDoesNotExistLeavesNothing(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "store")
	out, code := nd(t, state, "stop", name("store-none"))
	if code != exitFailed || !strings.Contains(out, "no such lab") {
		t.Errorf("stop of no lab: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"service", name("store-none"), "h", "web", "restart"}, {"inject", name("store-none"), "link-down", "--host", "h"}, {"revert", name("store-none"), "x"}} {
		if out, code := nd(t, state, args...); code == 0 {
			t.Errorf("%v: exit 0\n%s", args, out)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("commands on a lab that does not exist made %v", entries)
	}
}

// TestStopSaysWhatIsLeftWhenAStepFails: the lab's switch namespace is
// mounted twice, so that removing it fails (busy); stop exits 1 and names
// it, never saying that nothing is left; a second stop finishes.
func TestStopSaysWhatIsLeftWhenAStepFails(t *testing.T) {
	before := sandboxtest.Take(t)
	state := t.TempDir()
	store := sandbox.Store{Dir: state}
	lab := name("store-left")
	if out, code := nd(t, state, "start", "first-lab", "--no-faults", "--name", lab); code != 0 {
		t.Fatalf("start: %s", out)
	}
	sw := filepath.Join(sandbox.NetnsDir, sandbox.SwitchNetnsName(lab))
	t.Cleanup(func() {
		for unix.Unmount(sw, unix.MNT_DETACH) == nil {
		}
		nd(t, state, "clean", "--all")
		sandboxtest.AssertNoLeftovers(t, store, lab)
		sandboxtest.AssertUnchanged(t, before)
	})
	if err := unix.Mount(sw, sw, "none", unix.MS_BIND, ""); err != nil {
		t.Fatalf("mounting %s over itself: %v", sw, err)
	}
	out, code := nd(t, state, "stop", lab)
	if code != exitFailed || !strings.Contains(out, "left: namespace "+sandbox.SwitchNetnsName(lab)) || strings.Contains(out, "nothing of it is left") {
		t.Errorf("stop with a switch namespace that cannot be removed: exit %d, want %d naming what is left\n%s", code, exitFailed, out)
	}
	out, _ = nd(t, state, "status")
	if !strings.Contains(out, lab) || !strings.Contains(out, sandbox.StatusStopping) {
		t.Errorf("status after a failed stop does not say stopping:\n%s", out)
	}
	if out, code := nd(t, state, "stop", lab); code != 0 || !strings.Contains(out, "nothing of it is left") {
		t.Errorf("second stop: exit %d\n%s", code, out)
	}
	sandboxtest.AssertNoLeftovers(t, store, lab)
}

// TestServiceAndStopNeverRace runs `netdojo stop L & netdojo service L
// server web restart`: the service either finishes before the stop or is
// refused (busy, or no such lab once it is stopped), and the stop either
// removes everything or is refused as busy; no nd-http outlives the lab.
func TestServiceAndStopNeverRace(t *testing.T) {
	state := t.TempDir()
	store := sandbox.Store{Dir: state}
	lab := name("store-race")
	t.Cleanup(func() {
		nd(t, state, "clean", "--all")
		sandboxtest.AssertNoLeftovers(t, store, lab)
	})
	for round := 0; round < 6; round++ {
		if out, code := nd(t, state, "start", "first-lab", "--no-faults", "--name", lab); code != 0 {
			t.Fatalf("round %d: start: %s", round, out)
		}
		stop := exec.Command(binary, "--state-dir", state, "stop", lab)
		svc := exec.Command(binary, "--state-dir", state, "service", lab, "server", "web", "restart")
		var stopOut, svcOut strings.Builder
		stop.Stdout, stop.Stderr = &stopOut, &stopOut
		svc.Stdout, svc.Stderr = &svcOut, &svcOut
		// Either goes first, the other a moment later.
		first, second := stop, svc
		if round%2 == 1 {
			first, second = svc, stop
		}
		first.Start()
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
		second.Start()
		stopCode, svcCode := exitCode(stop.Wait()), exitCode(svc.Wait())
		t.Logf("round %d: stop exit %d, service exit %d", round, stopCode, svcCode)
		switch {
		case svcCode == 0, svcCode == exitBusy, svcCode == exitFailed && strings.Contains(svcOut.String(), "no such lab"):
		default:
			t.Errorf("round %d: service restart: exit %d\n%s", round, svcCode, svcOut.String())
		}
		switch stopCode {
		case 0:
		case exitBusy:
			if out, code := nd(t, state, "stop", lab); code != 0 {
				t.Fatalf("round %d: stop after a busy refusal: exit %d\n%s", round, code, out)
			}
		default:
			t.Fatalf("round %d: stop: exit %d\n%s", round, stopCode, stopOut.String())
		}
		if left := sandboxtest.Leftovers(store, lab); len(left) > 0 {
			t.Fatalf("round %d: left behind (stop exit %d, service exit %d): %v\nstop: %s\nservice: %s", round, stopCode, svcCode, left, stopOut.String(), svcOut.String())
		}
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestStartWithAnEmptyNameIsRefused: 'start --name ""' (a script's unset
// variable) is a bad lab name, refused with exit 2 before anything is
// made, not a start under the scenario's own name.
func TestStartWithAnEmptyNameIsRefused(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "store")
	out, code := nd(t, state, "start", "--name", "", "first-lab")
	if code != exitUsage || !strings.Contains(out, `"" is not a valid lab name`) {
		t.Errorf(`start --name "": exit %d, want %d with a name error`+"\n%s", code, exitUsage, out)
		nd(t, state, "stop", "first-lab")
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf(`start --name "" made %v`, entries)
	}
}

// TestExecNeverEntersTheMachinesNamespace replaces a host's namespace file
// with a symbolic link to the caller's own network namespace (the machine's,
// for netdojo): exec and shell must refuse the host instead of running the
// command on the machine's network.
func TestExecNeverEntersTheMachinesNamespace(t *testing.T) {
	before := sandboxtest.Take(t)
	state := t.TempDir()
	store := sandbox.Store{Dir: state}
	lab := name("store-self")
	if out, code := nd(t, state, "start", "first-lab", "--no-faults", "--name", lab); code != 0 {
		t.Fatalf("start: %s", out)
	}
	t.Cleanup(func() {
		nd(t, state, "stop", lab)
		sandboxtest.AssertNoLeftovers(t, store, lab)
		sandboxtest.AssertUnchanged(t, before)
	})
	host := filepath.Join(sandbox.NetnsDir, sandbox.NetnsName(lab, "client"))
	if err := unix.Unmount(host, unix.MNT_DETACH); err != nil {
		t.Fatalf("unmounting %s: %v", host, err)
	}
	if err := os.Remove(host); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/self/ns/net", host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(host) })
	out, code := nd(t, state, "exec", lab, "client", "--", "ip", "-o", "link", "show")
	if code == 0 {
		t.Fatalf("exec into a host whose namespace is a link to the machine's ran:\n%s", out)
	}
	if !strings.Contains(out, "symbolic link") {
		t.Errorf("exec refused, but without saying why:\n%s", out)
	}
}
