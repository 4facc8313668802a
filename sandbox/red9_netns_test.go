package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
	store := testStore(t)
	name := labName("red9-own")
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
