package sandboxtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The stand-in hosts of root tests: named namespaces made with
// sandbox.CreateNetns, joined by veth pairs whose peer is born in its
// namespace, so nothing ever appears in the machine's own namespace. Every
// helper registers its own cleanup; a namespace's cleanup runs after those
// of everything made in it (t.Cleanup runs last in, first out) and ends by
// asserting that nothing of it is left. Nothing here switches a thread's
// namespace itself: it uses sandbox's handles (NetlinkHandle, Do).

var ensureOnce sync.Once
var ensureErr error

// NewNetns makes a namespace named prefix and eight random hex digits,
// with loopback up, and skips the test without root. Its cleanup ends any
// process still in it (the test's own, since only the test made it) and
// fails the test for it, deletes the namespace and its /etc/netns
// directory, and asserts both are gone.
func NewNetns(t testing.TB, prefix string) *sandbox.Netns {
	t.Helper()
	NeedRoot(t, "creates network namespaces and veth pairs to stand in for hosts")
	ensureOnce.Do(func() { ensureErr = sandbox.EnsureNetnsDir() })
	if ensureErr != nil {
		t.Fatalf("preparing %s: %v", sandbox.NetnsDir, ensureErr)
	}
	name := prefix + randomHex(4)
	ns, err := sandbox.CreateNetns(name)
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	etcDir := filepath.Join(sandbox.EtcNetnsDir, name)
	t.Cleanup(func() {
		if pids := PIDsInNetns(t, ns); len(pids) > 0 {
			t.Errorf("processes left in namespace %s: %v", name, pids)
			for _, pid := range pids { // the test's: it made the namespace
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err := errors.Join(ns.Close(), sandbox.DeleteNetns(name), os.RemoveAll(etcDir)); err != nil {
			t.Errorf("removing namespace %s: %v", name, err)
		}
		if sandbox.NetnsExists(name) {
			t.Errorf("namespace %s is left behind", name)
		}
		if _, err := os.Lstat(etcDir); err == nil {
			t.Errorf("%s is left behind", etcDir)
		}
	})
	SetUp(t, ns, "lo")
	return ns
}

// Pair makes two namespaces (names starting with prefix) joined by a veth
// pair named eth0 at both ends, with addresses addrA and addrB (CIDR, ""
// for none).
func Pair(t testing.TB, prefix, addrA, addrB string) (a, b *sandbox.Netns) {
	t.Helper()
	a, b = NewNetns(t, prefix), NewNetns(t, prefix)
	Link(t, a, "eth0", addrA, b, "eth0", addrB)
	return a, b
}

// Link joins a (as ifA with addrA) and b (as ifB with addrB) with a veth
// pair created through a handle bound to a, its peer born in b. Addresses
// are CIDR strings ("" for none), added without duplicate address
// detection; both ends are brought up, and Link returns once the kernel
// has them operationally up (until then a veth drops what it is given). It
// fails the test if the pair's names appeared in the machine's own
// namespace.
func Link(t testing.TB, a *sandbox.Netns, ifA, addrA string, b *sandbox.Netns, ifB, addrB string) {
	t.Helper()
	before := machineHas(ifA, ifB)
	h := handle(t, a)
	defer h.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: ifA},
		PeerName:      ifB,
		PeerNamespace: netlink.NsFd(b.Fd()),
	}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatalf("creating veth %s:%s - %s:%s: %v", a.Name(), ifA, b.Name(), ifB, err)
	}
	for name, had := range machineHas(ifA, ifB) {
		if had && !before[name] {
			t.Errorf("link %q appeared in the machine's own namespace", name)
		}
	}
	AddAddr(t, a, ifA, addrA)
	AddAddr(t, b, ifB, addrB)
	WaitUp(t, a, ifA)
	WaitUp(t, b, ifB)
}

// WaitUp waits until an interface of ns is operationally up: the kernel
// has seen its carrier and given it a queue, so it passes packets.
func WaitUp(t testing.TB, ns *sandbox.Netns, ifname string) {
	t.Helper()
	h := handle(t, ns)
	defer h.Close()
	WaitFor(t, ifname+" in "+ns.Name()+" to be up", func() (bool, string) {
		link, err := h.LinkByName(ifname)
		if err != nil {
			return false, err.Error()
		}
		return link.Attrs().OperState == netlink.OperUp, "operstate " + link.Attrs().OperState.String()
	})
}

// machineHas says which of the names are links of the machine's own
// namespace (it only reads).
func machineHas(names ...string) map[string]bool {
	has := map[string]bool{}
	for _, n := range names {
		_, err := netlink.LinkByName(n)
		has[n] = err == nil
	}
	return has
}

// AddAddr adds an address (CIDR, "" for none) to an interface of ns,
// without duplicate address detection, and brings the interface up.
func AddAddr(t testing.TB, ns *sandbox.Netns, ifname, cidr string) {
	t.Helper()
	h := handle(t, ns)
	defer h.Close()
	link, err := h.LinkByName(ifname)
	if err != nil {
		t.Fatalf("finding %s in %s: %v", ifname, ns.Name(), err)
	}
	if cidr != "" {
		addr, err := netlink.ParseAddr(cidr)
		if err != nil {
			t.Fatalf("address %q: %v", cidr, err)
		}
		addr.Flags |= 0x02 // IFA_F_NODAD: an IPv6 address is usable at once
		if err := h.AddrAdd(link, addr); err != nil {
			t.Fatalf("adding %s to %s in %s: %v", cidr, ifname, ns.Name(), err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatalf("bringing up %s in %s: %v", ifname, ns.Name(), err)
	}
}

// SetUp brings an interface of ns up.
func SetUp(t testing.TB, ns *sandbox.Netns, ifname string) {
	t.Helper()
	AddAddr(t, ns, ifname, "")
}

func handle(t testing.TB, ns *sandbox.Netns) *netlink.Handle {
	t.Helper()
	h, err := ns.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Sysctl writes /proc/sys/KEY inside ns; key is written with slashes
// ("net/ipv4/ip_forward"), since interface names may hold dots.
func Sysctl(t testing.TB, ns *sandbox.Netns, key, value string) {
	t.Helper()
	err := ns.Do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
	if err != nil {
		t.Fatalf("setting %s=%s in %s: %v", key, value, ns.Name(), err)
	}
}

// WriteEtc writes /etc/netns/NAME/FILE, which `ip netns exec` (and
// Netns.EtcFile) show as /etc/FILE inside ns; NewNetns's cleanup removes it.
func WriteEtc(t testing.TB, ns *sandbox.Netns, file, content string) {
	t.Helper()
	dir := filepath.Join(sandbox.EtcNetnsDir, ns.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Exec runs argv inside ns with `ip netns exec`, the way a learner would,
// and returns its combined output and exit code. It fails the test only
// when the command cannot be run at all.
func Exec(t testing.TB, ns *sandbox.Netns, argv ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name()}, argv...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	default:
		t.Fatalf("running %s in %s: %v", strings.Join(argv, " "), ns.Name(), err)
		return "", -1
	}
}

// Run is Exec for a command that must succeed: it fails the test with the
// output otherwise.
func Run(t testing.TB, ns *sandbox.Netns, argv ...string) string {
	t.Helper()
	out, code := Exec(t, ns, argv...)
	if code != 0 {
		t.Fatalf("%s in %s exited %d:\n%s", strings.Join(argv, " "), ns.Name(), code, out)
	}
	return out
}

// Start starts a long-running command inside ns with `ip netns exec`; its
// cleanup ends it by its PID and fails the test if it is still running.
func Start(t testing.TB, ns *sandbox.Netns, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name()}, argv...)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s in %s: %v", strings.Join(argv, " "), ns.Name(), err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d (%s) left running", pid, strings.Join(argv, " "))
		}
	})
	return cmd
}

// Listen opens a listener inside ns (a socket keeps the namespace it was
// born in); the test's cleanup closes it.
func Listen(t testing.TB, ns *sandbox.Netns, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := ns.Do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s %s in %s: %v", network, addr, ns.Name(), err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Dial dials an IP literal from inside ns; the test's cleanup closes the
// connection.
func Dial(t testing.TB, ns *sandbox.Netns, network, addr string) net.Conn {
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

// WaitFor polls cond every 20 ms until it holds, and fails the test with
// what cond last saw when 10 s pass. It waits for the kernel or a process
// to settle; it asserts nothing about time.
func WaitFor(t testing.TB, what string, cond func() (ok bool, seen string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after 10s; last saw:\n%s", what, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PIDsInNetns lists the processes whose network namespace is ns, except
// this test process (sandbox.CreateNetns may strand its main thread there).
func PIDsInNetns(t testing.TB, ns *sandbox.Netns) []int {
	t.Helper()
	var want syscall.Stat_t
	if err := syscall.Stat(ns.Path(), &want); err != nil {
		t.Errorf("stat %s: %v", ns.Path(), err)
		return nil
	}
	return sandbox.PIDsInNamespaces(map[uint64]bool{want.Ino: true})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
