package faults

// Cleared judgements of the network faults: the routing tables, the
// forwarding and reverse-path sysctls, the routers' ICMP and NAT, each
// where the fault put it.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ---- network

// clearedDefaultRoutes wants the host's traffic for other networks to go
// through the router of its LAN again, in every family the scenario
// gives it a default route: not out of the interface as if on-link
// (proxy ARP makes that work), not through host routes, not through
// another next hop.
func clearedDefaultRoutes[P Params](ctx context.Context, e *Env, _ P) error {
	return e.scenarioRoutesBack(func(r scenarios.RouteSpec) bool { return r.Dst.Bits() == 0 })
}

func clearedMissingRoute(ctx context.Context, e *Env, p *RouteParams) error {
	pf := p.prefix()
	return e.scenarioRoutesBack(func(r scenarios.RouteSpec) bool { return r.Dst == pf })
}

func clearedForwarding(ctx context.Context, e *Env, _ *FlowParams) error {
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	keys := []string{"net.ipv4.ip_forward"}
	for _, i := range e.ScenarioHost().Interfaces {
		if i.IPv4.IsValid() {
			keys = append(keys, "net.ipv4.conf."+i.Name+".forwarding")
		}
	}
	if e.scenarioSysctl("net.ipv6.conf.all.forwarding", "0") == "1" {
		keys = append(keys, "net.ipv6.conf.all.forwarding")
	}
	for _, k := range keys {
		v, err := sysctl(ns, k)
		if err != nil {
			return err
		}
		if v != "1" {
			fam := "IPv4"
			if strings.HasPrefix(k, "net.ipv6") {
				fam = "IPv6"
			}
			return fmt.Errorf("a router still does not pass %s packets from one of its networks to another", fam)
		}
	}
	return nil
}

// clearedRouteType wants no route of the fault's type for the prefix,
// and the scenario's route to it deciding again.
func clearedRouteType(e *Env, rp *RouteParams, typ string, rtn int) error {
	pf := rp.prefix()
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	_, fam := ipNet(pf)
	routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("listing the routes of host %q: %w", e.Host, err)
	}
	for _, r := range routes {
		if r.Type != rtn || r.Dst == nil {
			continue
		}
		d, _ := netip.AddrFromSlice(r.Dst.IP)
		bits, _ := r.Dst.Mask.Size()
		if netip.PrefixFrom(d.Unmap(), bits).Overlaps(pf) {
			return fmt.Errorf("traffic for %s is still thrown away by a route on its way instead of being forwarded", pf)
		}
	}
	sh := e.ScenarioHost()
	if dst, ok := sampleAddr(sh, pf); ok {
		ns, err := e.Netns("")
		if err != nil {
			return err
		}
		// The route type's own answer to a lookup (ip route get): EINVAL
		// for blackhole, EHOSTUNREACH for unreachable, EACCES for prohibit.
		// No route at all is another matter, not this fault.
		wantErr := routeTypeErrno(typ, dst)
		rl, err := probe.RouteGet(ns, dst)
		if errors.Is(err, wantErr) || err == nil && rl.Type == typ {
			return fmt.Errorf("traffic for %s is still thrown away by a route on its way instead of being forwarded", pf)
		}
	}
	return e.scenarioRoutesBack(func(r scenarios.RouteSpec) bool { return r.Dst == pf })
}

// clearedRPFilter wants the router to let the flow's answers in: its
// reverse path filter is not strict where they arrive, or they come back
// through it the way the requests left.
func clearedRPFilter(ctx context.Context, e *Env, rp *RPFilterParams) error {
	_, from, to, err := e.flow(flowParams{From: rp.From, To: rp.To})
	if err != nil {
		return err
	}
	// Symmetric again: the server sends its answers to this router.
	if fh := e.Scenario.Host(from); fh != nil {
		if server := e.hostWithAddr(to); server != "" {
			if sns, err := e.Netns(server); err == nil {
				if rl, err := probe.RouteGet(sns, fh.Addr4()); err == nil && rl.Gateway.IsValid() && e.hostWithAddr(rl.Gateway) == e.Host {
					return nil
				}
			}
		}
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	all, err := sysctl(ns, "net.ipv4.conf.all.rp_filter")
	if err != nil {
		return err
	}
	for _, i := range e.ScenarioHost().Interfaces {
		v, err := sysctl(ns, "net.ipv4.conf."+i.Name+".rp_filter")
		if err != nil {
			return err
		}
		a, _ := strconv.Atoi(all)
		b, _ := strconv.Atoi(v)
		if max(a, b) == 1 {
			return errors.New("a router's reverse path filter still discards the answers, since they arrive where it would not route them back")
		}
	}
	return nil
}

// ifaceToward is the interface of a host whose subnet holds the next hop
// (or the address) it uses for to, per the scenario.
func ifaceToward(s *scenarios.Scenario, host string, to netip.Addr) *scenarios.Iface {
	h := s.Host(host)
	if h == nil {
		return nil
	}
	via, _, ok := scenarioNextHop(h, to)
	if !ok {
		return nil
	}
	for _, i := range h.Interfaces {
		if i.IPv4.IsValid() && i.IPv4.Masked().Contains(via) {
			return i
		}
	}
	return nil
}

// clearedPMTU probes the path from both ends with a full-size packet and
// Don't Fragment: it must arrive (the link is as wide as the path again)
// or bring back "fragmentation needed" (the hole is gone). The ends'
// MTUs must be the network's: lowering them hides the hole, it does not
// close it.
func clearedPMTU(ctx context.Context, e *Env, pp *PMTUParams) error {
	_, from, to, err := e.flow(flowParams{From: pp.From, To: pp.To})
	if err != nil {
		return err
	}
	server := e.hostWithAddr(to)
	fh := e.Scenario.Host(from)
	if fh == nil || server == "" {
		return fmt.Errorf("the flow from %q to %s has no host at its far end", from, to)
	}
	type end struct {
		host string
		dst  netip.Addr
	}
	for _, x := range []end{{from, to}, {server, fh.Addr4()}} {
		ifc := ifaceToward(e.Scenario, x.host, x.dst)
		if ifc == nil {
			continue
		}
		mtu, err := e.linkMTU(x.host, ifc.Name)
		if err != nil {
			return err
		}
		if mtu != ifc.MTU {
			return errors.New("an end host sends smaller packets than its network carries, which hides the path's problem rather than removing it")
		}
		ns, err := e.Netns(x.host)
		if err != nil {
			return err
		}
		if err := flushRouteCache(ns); err != nil {
			return err
		}
		size := ifc.MTU - 28
		r, err := ping(ns, x.dst, pingOpts{Size: size, DF: true, Timeout: 700 * time.Millisecond})
		if err != nil {
			return err
		}
		flushRouteCache(ns)
		if !r.Reply && !(r.Type == 3 && r.Code == 4) {
			return fmt.Errorf("a full-size packet with Don't Fragment from %q to %s still vanishes on the path without a word back", x.host, x.dst)
		}
	}
	return nil
}

func clearedSilentHop(ctx context.Context, e *Env, p *FlowParams) error {
	ns, from, to, err := e.flow(p.flow())
	if err != nil {
		return err
	}
	ttl, ok := hops(e.Scenario, from, to, e.Host)
	if !ok {
		return fmt.Errorf("the scenario's path from %q to %s does not cross %q", from, to, e.Host)
	}
	rs, err := pingMany(ns, to, pingOpts{TTL: ttl, Timeout: 500 * time.Millisecond}, 3)
	if err != nil {
		return err
	}
	// From the router itself: one that raises the TTL of what it forwards
	// hides from traceroute, and the next router answers in its place.
	for _, r := range rs {
		if r.Type == 11 && e.hostWithAddr(r.From) == e.Host {
			return nil
		}
	}
	return fmt.Errorf("a router on the path from %q to %s still says nothing when a packet's TTL runs out there", from, to)
}

func clearedRateLimit(ctx context.Context, e *Env, rp *RateLimitParams) error {
	ns, from, to, err := e.flow(flowParams{From: rp.From, To: rp.To})
	if err != nil {
		return err
	}
	ttl, ok := hops(e.Scenario, from, to, e.Host)
	if !ok {
		return fmt.Errorf("the scenario's path from %q to %s does not cross %q", from, to, e.Host)
	}
	const n = 20
	rs, err := pingMany(ns, to, pingOpts{TTL: ttl, Timeout: 500 * time.Millisecond}, n)
	if err != nil {
		return err
	}
	answered := 0
	for _, r := range rs {
		if r.Type == 11 && e.hostWithAddr(r.From) == e.Host {
			answered++
		}
	}
	if answered < n*9/10 {
		return fmt.Errorf("a router on the path from %q to %s still answers only %d of %d probes that expire there in a burst", from, to, answered, n)
	}
	return nil
}

// clearedMasquerade pings from the private host and wants a source NAT
// rule of the router to take the new flow (its counter grows), not a
// route back to the private network from the public side.
func clearedMasquerade(ctx context.Context, e *Env, mp *MasqueradeParams) error {
	ns, from, to, err := e.flow(flowParams{From: mp.From, To: mp.To})
	if err != nil {
		return err
	}
	var reply bool
	grown, err := e.rulesMatching([]string{e.Host}, []string{"nat"}, false, func() error {
		r, err := ping(ns, to, pingOpts{Timeout: 700 * time.Millisecond})
		reply = r.Reply
		return err
	})
	if err != nil {
		return err
	}
	for _, g := range grown {
		if g.Chain == "POSTROUTING" && (g.Target == "MASQUERADE" || g.Target == "SNAT") {
			if !reply {
				return fmt.Errorf("traffic from %q to %s is translated but gets no answer", from, to)
			}
			return nil
		}
	}
	return fmt.Errorf("traffic from %q still leaves for %s with its private source address", from, to)
}

func clearedPortRange(ctx context.Context, e *Env, _ *PortRangeParams) error {
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	v, err := sysctl(ns, "net.ipv4.ip_local_port_range")
	if err != nil {
		return err
	}
	width := func(s string) int {
		f := strings.Fields(s)
		if len(f) != 2 {
			return 0
		}
		lo, _ := strconv.Atoi(f[0])
		hi, _ := strconv.Atoi(f[1])
		return hi - lo + 1
	}
	if width(v) < width(e.scenarioSysctl("net.ipv4.ip_local_port_range", "32768 60999")) {
		return errors.New("the local port range is still narrower than it was")
	}
	return nil
}
