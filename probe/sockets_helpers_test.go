package probe

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/vishvananda/netlink"
)

// Test fixtures for the socket and capture tests: namespaces named
// "ndsc-<random>", veth pairs created with the peer already in its
// namespace, and processes started inside them. Every fixture registers its
// own cleanup and a final check that nothing is left behind.

func scRequireRoot(t testing.TB) {
	t.Helper()
	sandboxtest.NeedRoot(t, "creates network namespaces for sockets and captures")
}

func scRandSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// scNewNetns creates a namespace with loopback up, deleted at cleanup; the
// last cleanup asserts that the namespace is gone.
func scNewNetns(t testing.TB) *sandbox.Netns {
	t.Helper()
	scRequireRoot(t)
	if err := sandbox.EnsureNetnsDir(); err != nil {
		t.Fatal(err)
	}
	name := "ndsc-" + scRandSuffix()
	ns, err := sandbox.CreateNetns(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sandbox.NetnsExists(name) {
			t.Errorf("namespace %q left behind", name)
		}
	})
	t.Cleanup(func() {
		if err := errors.Join(ns.Close(), sandbox.DeleteNetns(name)); err != nil {
			t.Errorf("deleting namespace %q: %v", name, err)
		}
	})
	h, err := ns.NetlinkHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return ns
}

// scVeth links a (as ifA with addrA) and b (as ifB with addrB); the link is
// created in a with its peer born in b, so nothing ever appears in the
// machine's own namespace.
func scVeth(t testing.TB, a *sandbox.Netns, ifA, addrA string, b *sandbox.Netns, ifB, addrB string) {
	t.Helper()
	ha, err := a.NetlinkHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	hb, err := b.NetlinkHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: ifA},
		PeerName:      ifB,
		PeerNamespace: netlink.NsFd(b.Fd()),
	}
	if err := ha.LinkAdd(veth); err != nil {
		t.Fatalf("creating veth %s/%s: %v", ifA, ifB, err)
	}
	t.Cleanup(func() {
		// The machine's own namespace must never see these names.
		if _, err := netlink.LinkByName(ifA); err == nil {
			t.Errorf("link %q exists in the machine's own namespace", ifA)
		}
		if _, err := netlink.LinkByName(ifB); err == nil {
			t.Errorf("link %q exists in the machine's own namespace", ifB)
		}
	})
	for _, side := range []struct {
		h    *netlink.Handle
		name string
		addr string
	}{{ha, ifA, addrA}, {hb, ifB, addrB}} {
		l, err := side.h.LinkByName(side.name)
		if err != nil {
			t.Fatal(err)
		}
		if side.addr != "" {
			ad, err := netlink.ParseAddr(side.addr)
			if err != nil {
				t.Fatal(err)
			}
			// No DAD delay for IPv6 addresses.
			ad.Flags |= 0x02 // IFA_F_NODAD
			if err := side.h.AddrAdd(l, ad); err != nil {
				t.Fatalf("adding %s to %s: %v", side.addr, side.name, err)
			}
		}
		if err := side.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

// scRun runs a command inside the namespace and returns its output.
func scRun(t testing.TB, ns *sandbox.Netns, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns.Name()}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v in %s: %v\n%s", args, ns.Name(), err, out)
	}
	return string(out)
}

// scStart starts a long-running command inside the namespace; cleanup ends
// it by its PID and asserts that it is gone.
func scStart(t testing.TB, ns *sandbox.Netns, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name()}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d (%v) left running", pid, args)
		}
	})
	return cmd
}

// scDialIn dials an IP literal from inside the namespace.
func scDialIn(t testing.TB, ns *sandbox.Netns, network, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		c, err = net.DialTimeout(network, addr, 3*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("dialing %s %s in %s: %v", network, addr, ns.Name(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// scListenIn listens inside the namespace.
func scListenIn(t testing.TB, ns *sandbox.Netns, network, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	err := ns.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s %s in %s: %v", network, addr, ns.Name(), err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// scWaitFor polls cond until it holds or a generous deadline passes; it
// only waits for the kernel to settle and asserts nothing about time.
func scWaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func scMust(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}
