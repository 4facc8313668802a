package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"golang.org/x/sys/unix"
)

// TestALabHostThatIsTheMachinesNamespaceIsNeverEntered: a running lab's
// host namespace name is made to hold the machine's own network
// namespace (as 'ip netns attach LAB.HOST 1' does). Opening the host, for
// a fault, a probe, a service or a command, is refused: nothing meant for
// the lab may act on the machine's network.
func TestALabHostThatIsTheMachinesNamespaceIsNeverEntered(t *testing.T) {
	before := sandboxtest.Take(t)
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("red9-own")
	lab, err := sandbox.Start(context.Background(), builtin(t, "p2p-pair"), sandbox.Options{Name: name, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	lab.Close()
	path := filepath.Join(sandbox.NetnsDir, sandbox.NetnsName(name, "left"))
	t.Cleanup(func() {
		unix.Unmount(path, unix.MNT_DETACH)
		sandbox.Stop(store, name)
		sandbox.Stop(store, name) // the first reports the machine's namespace and keeps the state
		sandboxtest.AssertNoLeftovers(t, store, name)
		sandboxtest.AssertUnchanged(t, before)
	})
	// The lab's own namespace goes; the machine's takes its name.
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	// PID 1's where it can be read; this test's own otherwise (it runs in
	// the machine's namespace).
	own := "/proc/1/ns/net"
	if _, err := os.Stat(own); err != nil {
		own = "/proc/self/ns/net"
	}
	if err := unix.Mount(own, path, "none", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*sandbox.Lab{lab, open(t, store, name)} {
		if ns, err := l.Host("left"); !errors.Is(err, sandbox.ErrMachineNetns) {
			if ns != nil {
				t.Errorf("host left opened as namespace %s, which is the machine's own", ns.Name())
			}
			t.Errorf("opening host left: %v, want ErrMachineNetns", err)
		}
		if _, err := l.Host("right"); err != nil {
			t.Errorf("opening host right: %v", err)
		}
		l.Close()
	}
	if _, err := sandbox.OpenNetns(sandbox.NetnsName(name, "left")); !errors.Is(err, sandbox.ErrMachineNetns) {
		t.Errorf("OpenNetns: %v, want ErrMachineNetns", err)
	}
}

func open(t *testing.T, store sandbox.Store, name string) *sandbox.Lab {
	t.Helper()
	l, err := sandbox.Open(store, name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestCleanKeepsTheLinksOfALabBeingStarted: a start links each host's
// /etc/netns entry before it writes the files the link points to. A clean
// that runs meanwhile (for other labs) found those links dangling and
// removed them, so the new lab's hosts saw the machine's resolver. Clean
// removes a dangling link only for a lab that has no directory in the
// store, and only while it holds that lab's lock.
func TestCleanKeepsTheLinksOfALabBeingStarted(t *testing.T) {
	sandboxtest.NeedRoot(t, "writes links under /etc/netns")
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("red9-cl")
	lock, err := store.Lock(name) // the start holds it
	if err != nil {
		t.Fatal(err)
	}
	ns := sandbox.NetnsName(name, "h")
	link := filepath.Join(sandbox.EtcNetnsDir, ns)
	if err := store.Save(&sandbox.State{Lab: name, Status: sandbox.StatusStarting, SwitchNetns: sandbox.SwitchNetnsName(name),
		Hosts: []sandbox.HostState{{Name: "h", Netns: ns}}, EtcDirs: []string{link}}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(sandbox.EtcNetnsDir, 0o755)
	if err := os.Symlink(filepath.Join(store.LabDir(name), "etc", "h"), link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(link)
		os.Remove(sandbox.EtcNetnsDir)
		lock.ReleaseAndRemove()
	})
	reports, err := sandbox.Clean(store, false)
	t.Logf("clean: %+v, %v", reports, err)
	if _, err := os.Lstat(link); err != nil {
		t.Errorf("clean removed %s of lab %s, which a start is making: %v", link, name, err)
	}
}

// twoLabs are two p2p-pair labs in one store: vic, and atk whose host
// "left" namespace (link) a test turns into a way to vic's (victim).
type twoLabs struct {
	store            sandbox.Store
	vic              *sandbox.Lab
	vicName, atkName string
	link, victim     string
}

// victimAndAttacker starts twoLabs. Their stops, after the test's own
// cleanups, must leave nothing, and the machine's own namespace must be as
// it was.
func victimAndAttacker(t *testing.T) twoLabs {
	t.Helper()
	before := sandboxtest.Take(t)
	t.Cleanup(func() { sandboxtest.AssertUnchanged(t, before) })
	l := twoLabs{store: sandboxtest.NewStore(t), vicName: sandboxtest.LabName("red9-vic"), atkName: sandboxtest.LabName("red9-atk")}
	l.vic = startLab(t, l.store, builtin(t, "p2p-pair"), l.vicName)
	startLab(t, l.store, builtin(t, "p2p-pair"), l.atkName).Close()
	l.link = filepath.Join(sandbox.NetnsDir, sandbox.NetnsName(l.atkName, "left"))
	l.victim = filepath.Join(sandbox.NetnsDir, sandbox.NetnsName(l.vicName, "left"))
	return l
}

// TestALabNamespaceNameThatIsALinkToAnotherLabIsNeverFollowed: lab atk's
// host namespace name is made a symbolic link to lab vic's host namespace.
// Opening atk's host refuses it, and stopping atk neither ends vic's
// process nor unmounts vic's namespace; the stop fails and names the link.
// Before, the stop killed vic's process and unmounted its namespace.
func TestALabNamespaceNameThatIsALinkToAnotherLabIsNeverFollowed(t *testing.T) {
	l := victimAndAttacker(t)
	t.Cleanup(func() { os.Remove(l.link) })
	p, err := l.vic.Spawn("left", "sleeper", "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	l.vic.Close()
	if err := unix.Unmount(l.link, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	os.Remove(l.link)
	if err := os.Symlink(l.victim, l.link); err != nil {
		t.Fatal(err)
	}
	if ns, err := open(t, l.store, l.atkName).Host("left"); err == nil {
		t.Errorf("host left of lab %s opened %s through a link to lab %s's namespace", l.atkName, ns.Name(), l.vicName)
	}
	err = sandbox.Stop(l.store, l.atkName)
	if err == nil || !strings.Contains(err.Error(), l.link) {
		t.Errorf("stop of %s: %v, want a failure naming %s", l.atkName, err, l.link)
	}
	if !p.Alive() {
		t.Errorf("stop of lab %s ended lab %s's process %d", l.atkName, l.vicName, p.PID)
	}
	var fs unix.Statfs_t
	if unix.Statfs(l.victim, &fs) != nil || fs.Type != unix.NSFS_MAGIC {
		t.Errorf("stop of lab %s unmounted lab %s's namespace %s", l.atkName, l.vicName, l.victim)
	}
}

// TestALabNamespaceThatIsAlsoAnotherLabsIsNotEnded: lab vic's host
// namespace is bind-mounted under lab atk's host's name too. Stopping atk
// does not end vic's process (the namespace is not only atk's), and leaves
// vic's namespace mounted; the stop says why. Before, it killed vic's
// process.
func TestALabNamespaceThatIsAlsoAnotherLabsIsNotEnded(t *testing.T) {
	l := victimAndAttacker(t)
	t.Cleanup(func() { unix.Unmount(l.link, unix.MNT_DETACH) })
	p, err := l.vic.Spawn("left", "sleeper", "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	l.vic.Close()
	if err := unix.Unmount(l.link, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(l.victim, l.link, "none", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	err = sandbox.Stop(l.store, l.atkName)
	if err == nil || !strings.Contains(err.Error(), sandbox.NetnsName(l.vicName, "left")) {
		t.Errorf("stop of %s: %v, want a failure naming %s", l.atkName, err, sandbox.NetnsName(l.vicName, "left"))
	}
	if !p.Alive() {
		t.Errorf("stop of lab %s ended lab %s's process %d", l.atkName, l.vicName, p.PID)
	}
	var fs unix.Statfs_t
	if unix.Statfs(l.victim, &fs) != nil || fs.Type != unix.NSFS_MAGIC {
		t.Errorf("stop of lab %s unmounted lab %s's namespace %s", l.atkName, l.vicName, l.victim)
	}
}
