// Package sandboxtest holds what the tests of every package share: the
// stand-in hosts of root tests (namespaces joined by veth pairs, commands
// and sockets inside them, netns.go), labs started and stopped with the
// check that nothing of them is left (lab.go), hostile lab states
// (crafted.go), a snapshot of the machine's own network namespace to prove
// a test changed nothing in it, a wait-until helper, and NeedRoot, with
// which each root test skips itself, saying why, for a normal user.
//
// It never touches the machine's own namespace except to read it, and never
// switches a thread's namespace itself: it builds on sandbox's handles
// (Netns.NetlinkHandle, Netns.Do). It must not import the packages whose
// tests use it (probe, services, faults, checker), so none of them has an
// import cycle in its tests.
package sandboxtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/vishvananda/netlink"
)

// Snapshot is the machine's own network configuration.
type Snapshot map[string]string

// Take reads links, addresses, routes, policy rules, iptables and nft
// rules, every net.* sysctl, /etc/resolv.conf and the mount table (minus
// namespace mounts under /run/netns and labs' etc tmpfs mounts, which
// concurrent tests make; Leftovers checks both per lab).
func Take(t testing.TB) Snapshot {
	t.Helper()
	NeedRoot(t, "builds a lab and snapshots the machine's own namespace (iptables-save, nft) to prove it unchanged")
	s := Snapshot{}
	h, err := netlink.NewHandle()
	if err != nil {
		t.Fatalf("opening netlink: %v", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		t.Fatalf("listing links: %v", err)
	}
	for _, l := range links {
		a := l.Attrs()
		s["link "+a.Name] = fmt.Sprintf("%s mtu %d mac %s flags %s master %d", l.Type(), a.MTU, a.HardwareAddr, a.Flags, a.MasterIndex)
		addrs, _ := h.AddrList(l, netlink.FAMILY_ALL)
		var as []string
		for _, ad := range addrs {
			as = append(as, ad.IPNet.String())
		}
		sort.Strings(as)
		s["addrs "+a.Name] = strings.Join(as, " ")
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatalf("listing routes: %v", err)
		}
		var rs []string
		for _, r := range routes {
			rs = append(rs, fmt.Sprintf("%s via %s dev %d table %d type %d proto %d", r.Dst, r.Gw, r.LinkIndex, r.Table, r.Type, r.Protocol))
		}
		sort.Strings(rs)
		s[fmt.Sprintf("routes %d", fam)] = strings.Join(rs, "\n")
		rules, _ := h.RuleList(fam)
		var rl []string
		for _, r := range rules {
			rl = append(rl, r.String())
		}
		sort.Strings(rl)
		s[fmt.Sprintf("rules %d", fam)] = strings.Join(rl, "\n")
	}
	counters := regexp.MustCompile(`\[\d+:\d+\]|^#.*$`)
	for _, tool := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"nft", "list", "ruleset"}} {
		out, err := exec.Command(tool[0], tool[1:]...).Output()
		if err != nil {
			t.Fatalf("running %s: %v", tool[0], err)
		}
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			lines = append(lines, counters.ReplaceAllString(l, ""))
		}
		s[tool[0]] = strings.Join(lines, "\n")
	}
	filepath.Walk("/proc/sys/net", func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Mode().Perm()&0o444 == 0 || volatileSysctl(path) {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil {
			s["sysctl "+strings.ReplaceAll(strings.TrimPrefix(path, "/proc/sys/"), "/", ".")] = string(b)
		}
		return nil
	})
	rc, _ := os.ReadFile("/etc/resolv.conf")
	s["/etc/resolv.conf"] = string(rc)
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	var mounts []string
	for _, l := range strings.Split(string(mi), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 || strings.HasPrefix(f[4], sandbox.NetnsDir+"/") || labEtcMount(f[4]) {
			continue
		}
		mounts = append(mounts, strings.Join(f[3:], " "))
	}
	sort.Strings(mounts)
	s["mounts"] = strings.Join(mounts, "\n")
	return s
}

// labEtcMount tells whether a mount point is a lab's etc tmpfs
// (STORE/labs/LAB/etc).
func labEtcMount(path string) bool {
	return filepath.Base(path) == sandbox.EtcDir && filepath.Base(filepath.Dir(filepath.Dir(path))) == "labs"
}

// volatileSysctl skips counters that move on their own.
func volatileSysctl(path string) bool {
	return strings.HasSuffix(path, "nf_conntrack_count") || strings.Contains(path, "/neigh/") && strings.HasSuffix(path, "gc_stale_time") ||
		strings.HasSuffix(path, "/flush") || strings.HasSuffix(path, "/stable_secret")
}

// Diff lists what differs between two snapshots.
func (a Snapshot) Diff(b Snapshot) []string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, "gone: "+k)
		} else if v != w {
			d = append(d, fmt.Sprintf("changed: %s\n  before: %q\n  after:  %q", k, v, w))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "new: "+k+" = "+b[k])
		}
	}
	sort.Strings(d)
	return d
}

// AssertUnchanged fails the test if the machine's network differs from
// before.
func AssertUnchanged(t testing.TB, before Snapshot) {
	t.Helper()
	if d := before.Diff(Take(t)); len(d) > 0 {
		t.Errorf("the machine's own namespace changed:\n%s", strings.Join(d, "\n"))
	}
}

// AssertNoLeftovers fails the test if anything of a lab is left: a
// namespace or its mount, an /etc/netns entry, a process started in it, a
// state or lock file.
func AssertNoLeftovers(t testing.TB, store sandbox.Store, lab string) {
	t.Helper()
	for _, l := range Leftovers(store, lab) {
		t.Errorf("left behind by lab %q: %s", lab, l)
	}
}

// Leftovers lists what remains of a lab (see sandbox.Leftovers).
func Leftovers(store sandbox.Store, lab string) []string { return sandbox.Leftovers(store, lab) }

// NeedRoot skips t unless the test runs as root, giving the reason:
// "needs root: " and why (what the test builds or reads that needs it).
// Call it first in a root test, or in the shared helper that builds the
// test's namespaces, so a normal user's `go test ./...` runs every
// root-free test and lists each root test as skipped with its reason.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

// Main is the TestMain of a package whose tests build labs. The test
// binary stands in for netdojo inside lab hosts: Lab.Command re-executes
// it as `__enter`, and children maps other hidden subcommands (such as
// `__service`) to their entry points. As root, /run/netns is prepared
// first. Every test runs either way: without root, tests that need it skip
// themselves with a reason (NeedRoot), and the rest run as usual.
func Main(m *testing.M, suite string, children map[string]func(args []string) int) {
	if len(os.Args) > 1 {
		if os.Args[1] == sandbox.EnterCommand {
			fmt.Fprintln(os.Stderr, sandbox.EnterMain(os.Args[2:]))
			os.Exit(4)
		}
		if child, ok := children[os.Args[1]]; ok {
			os.Exit(child(os.Args[2:]))
		}
	}
	if os.Geteuid() == 0 {
		if err := sandbox.EnsureNetnsDir(); err != nil {
			fmt.Printf("%s tests: %v\n", suite, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}
