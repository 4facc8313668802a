package faults

// Shared helpers of the Cleared judgements: each looks where a fault is
// (a host's routing table, a chain's counters, the process behind a
// listener, a router's ICMP) rather than end to end, so that a workaround
// that makes the goal work while the fault stays is not taken for a fix.
//
// The errors they return are observations of what is still wrong at the
// fault's place, in the words of the traffic and of behaviour ("IPv4
// traffic for other networks still leaves straight out of the interface
// as if it were on-link, through no router"). They may name the ends of
// the traffic, never the host, interface, chain, rule, process or value
// where the fault is (finding it is often the task), a command or the
// fix.

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"golang.org/x/sys/unix"
)

// offLinkCandidates are addresses a route lookup can ask for to learn
// where a host sends traffic for "anywhere else"; no packet is sent.
var offLinkCandidates = map[bool][]string{
	false: {"198.51.100.254", "192.0.2.254", "203.0.113.254", "100.64.0.254", "172.31.255.254"},
	true:  {"2001:db8:ffff::fe", "fd00:ffff::fe", "2001:db8:fffe::fe"},
}

// sampleAddr is an address inside pf that none of the host's connected
// subnets and none of its longer scenario routes cover: the address a
// route to pf, and only it, decides.
func sampleAddr(sh *scenarios.Host, pf netip.Prefix) (netip.Addr, bool) {
	covered := func(a netip.Addr) bool {
		for _, i := range sh.Interfaces {
			for _, p := range []netip.Prefix{i.IPv4, i.IPv6} {
				if p.IsValid() && p.Masked().Contains(a) {
					return true
				}
			}
		}
		for _, r := range sh.Routes {
			if r.Dst.Bits() > pf.Bits() && r.Dst.Contains(a) {
				return true
			}
		}
		return false
	}
	var cands []netip.Addr
	if pf.Bits() == 0 {
		for _, s := range offLinkCandidates[pf.Addr().Is6()] {
			cands = append(cands, netip.MustParseAddr(s))
		}
	} else {
		first := pf.Masked().Addr()
		cands = append(cands, first)
		if pf.Bits() < pf.Addr().BitLen() {
			cands = append(cands, first.Next())
			last := lastAddr(pf)
			cands = append(cands, last, last.Prev())
		}
	}
	for _, a := range cands {
		if a.IsValid() && pf.Contains(a) && !covered(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func lastAddr(pf netip.Prefix) netip.Addr {
	b := pf.Masked().Addr().AsSlice()
	for i := pf.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// familyName is how an error names an address family.
func familyName(a netip.Addr) string {
	if a.Is6() {
		return "IPv6"
	}
	return "IPv4"
}

// routeThrough is nil when the host's kernel sends a packet for dst to
// the gateway via, through a unicast route; the error says where it
// goes instead, without naming the gateway.
func (e *Env) routeThrough(host string, dst, via netip.Addr, what string) error {
	if host == "" {
		host = e.Host
	}
	ns, err := e.Netns(host)
	if err != nil {
		return err
	}
	rl, err := probe.RouteGet(ns, dst)
	switch {
	case err != nil:
		var re *probe.RouteError
		if !errors.As(err, &re) {
			return err
		}
		return fmt.Errorf("%s %s still finds no usable route: the kernel refuses to send it (%v)", familyName(dst), what, re.Errno)
	case rl.Type != "unicast":
		return fmt.Errorf("%s %s still meets a %s route", familyName(dst), what, rl.Type)
	case !rl.Gateway.IsValid():
		return fmt.Errorf("%s %s still leaves straight out of the interface as if it were on-link, through no router", familyName(dst), what)
	case rl.Gateway.Unmap() != via.Unmap():
		return fmt.Errorf("%s %s still goes through a next hop that is not the router the network has for it", familyName(dst), what)
	}
	return nil
}

// scenarioRoutesBack is nil when every unicast route through a gateway
// that the scenario gives the env's host, and keep selects, decides the
// host's traffic again, in both families.
func (e *Env) scenarioRoutesBack(keep func(r scenarios.RouteSpec) bool) error {
	sh := e.ScenarioHost()
	for _, r := range sh.Routes {
		if !keep(r) || r.Type != "unicast" || !r.Via.IsValid() {
			continue
		}
		dst, ok := sampleAddr(sh, r.Dst)
		if !ok {
			continue
		}
		what := fmt.Sprintf("traffic for %s", r.Dst)
		if r.Dst.Bits() == 0 {
			what = "traffic for other networks"
		}
		if err := e.routeThrough("", dst, r.Via, what); err != nil {
			return err
		}
	}
	return nil
}

// grownRule is a firewall rule whose packet counter grew while a probe
// ran.
type grownRule struct {
	Host, Table, Chain string
	probe.FirewallRule
}

// rulesMatching runs traffic and returns the rules of the given tables,
// on the given hosts, whose packet counters grew meanwhile: the rules
// that matched it. Counters, not rule texts: a rule that is still there
// but no longer matches (an ACCEPT before it) is not returned, and one
// that still matches under another spelling is.
func (e *Env) rulesMatching(hosts, tables []string, ipv6 bool, traffic func() error) ([]grownRule, error) {
	type key struct{ host, table, chain, spec string }
	count := func() (map[key]uint64, error) {
		m := map[key]uint64{}
		for _, h := range hosts {
			ns, err := e.Netns(h)
			if err != nil {
				return nil, err
			}
			for _, t := range tables {
				rep, err := probe.Firewall(ns, ipv6, t)
				if err != nil {
					return nil, err
				}
				for _, c := range rep.Chains {
					for _, r := range c.Rules {
						m[key{h, t, c.Name, r.Spec}] += r.Packets
					}
				}
			}
		}
		return m, nil
	}
	before, err := count()
	if err != nil {
		return nil, err
	}
	if err := traffic(); err != nil {
		return nil, err
	}
	// A second read of the rules themselves, to report targets.
	var out []grownRule
	for _, h := range hosts {
		ns, err := e.Netns(h)
		if err != nil {
			return nil, err
		}
		for _, t := range tables {
			rep, err := probe.Firewall(ns, ipv6, t)
			if err != nil {
				return nil, err
			}
			for _, c := range rep.Chains {
				for _, r := range c.Rules {
					k := key{h, t, c.Name, r.Spec}
					if r.Packets > before[k] {
						out = append(out, grownRule{Host: h, Table: t, Chain: c.Name, FirewallRule: r})
					}
				}
			}
		}
	}
	return out, nil
}

// discards reports whether a grown rule throws the traffic away.
func (g grownRule) discards() bool {
	return g.Table == "filter" && (g.Target == "DROP" || g.Target == "REJECT")
}

// rewrites reports whether a grown rule sends the traffic elsewhere.
func (g grownRule) rewrites() bool {
	return g.Table == "nat" && (g.Target == "DNAT" || g.Target == "REDIRECT")
}

// judgeRules turns the rules that matched a probe of the traffic a fault
// targets into an observation: a rule that still discards it, or a
// rewrite that steers it around the firewall, keeps the fault there.
func judgeRules(grown []grownRule, what string) error {
	for _, g := range grown {
		if g.discards() {
			return fmt.Errorf("a firewall on the way still discards %s", what)
		}
	}
	for _, g := range grown {
		if g.rewrites() {
			return fmt.Errorf("%s is rewritten by a NAT rule on its way, so it never meets the firewall as it is; the firewall itself has not changed for it", what)
		}
	}
	return nil
}

// labProcesses are the lab's recorded processes as the state on disk has
// them now (another netdojo process may have restarted a service), or as
// this Lab holds them.
func (e *Env) labProcesses() []sandbox.Process {
	if st, err := e.Lab.Store().Load(e.Lab.Name); err == nil && st != nil {
		return st.Processes
	}
	return e.Lab.State.Processes
}

// recordedProcess is the lab's recorded, running process of a name on
// the env's host.
func (e *Env) recordedProcess(name string) (sandbox.Process, bool) {
	for _, p := range e.labProcesses() {
		if p.Host == e.Host && p.Name == name && p.Alive() {
			return p, true
		}
	}
	return sandbox.Process{}, false
}

// socketPID is the PID of a process that holds a socket inode (found
// through the socket:[INODE] links in /proc/PID/fd, as ss -p does), or 0.
func socketPID(inode uint32) int {
	want := fmt.Sprintf("socket:[%d]", inode)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && link == want {
				pid, _ := strconv.Atoi(filepath.Base(dir))
				return pid
			}
		}
	}
	return 0
}

// serviceListens is nil when the TCP listener on port of the env's host
// is held by the recorded process of the scenario's service name (not
// another program, even one that answers the same), bound where the
// scenario binds it (listen: its address; empty or unspecified: every
// address).
func (e *Env) serviceListens(name string, port int, listen string) error {
	proc, ok := e.recordedProcess(name)
	socks, err := e.tcpSockets(e.Host)
	if err != nil {
		return err
	}
	want, _ := netip.ParseAddr(listen)
	found := false
	for _, s := range socks {
		if s.State != unix.BPF_TCP_LISTEN || int(s.ID.SourcePort) != port {
			continue
		}
		found = true
		pid := socketPID(s.INode)
		if !ok || !proc.Runs(pid) {
			return fmt.Errorf("the port of the %s service is held by a process that is not the lab's %s service", name, name)
		}
		src, _ := netip.AddrFromSlice(s.ID.Source)
		src = src.Unmap()
		if (!want.IsValid() || want.IsUnspecified()) && !src.IsUnspecified() {
			return fmt.Errorf("the %s service listens on one address only, so other hosts cannot reach it", name)
		}
		if want.IsValid() && !want.IsUnspecified() && src != want.Unmap() && !src.IsUnspecified() {
			return fmt.Errorf("the %s service listens on another address than the one it serves on", name)
		}
	}
	if !found {
		return fmt.Errorf("nothing listens on the port of the %s service", name)
	}
	return nil
}

// hostsFileHas reports whether the host's hosts file maps name to addr.
func hostsFileHas(path, name string, addr netip.Addr) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil || a.Unmap() != addr.Unmap() {
			continue
		}
		for _, n := range f[1:] {
			if strings.TrimSuffix(strings.ToLower(n), ".") == name {
				return true, nil
			}
		}
	}
	return false, nil
}
