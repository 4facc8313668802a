// Route faults: no-default-route, dead-gateway and missing-route, and the route judgements they share.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func noDefaultRouteKind() Kind {
	return kind(Spec[*NoParams]{
		Name:      "no-default-route",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "The host's default routes are gone, IPv4 and IPv6.",
		Symptom: "ping to any address off the local subnet prints \"connect: Network is unreachable\" at once (ping -6 too, when the host has IPv6); " +
			"nc prints \"Network is unreachable\"; curl prints \"Couldn't connect to server\"; `ip route` and `ip -6 route` have no default line. " +
			"Addresses on the local subnet still answer.",
		Fix:     "Add the default routes back: `ip route add default via GATEWAY` and `ip -6 route add default via GATEWAY6` (the router on the host's LAN).",
		Apply:   applyNoDefaultRoute,
		Revert:  revertNoDefaultRoute[*NoParams],
		Observe: observeNoDefaultRoute,
		Cleared: clearedDefaultRoutes[*NoParams],
	})
}

// NoParams is the parameter type of faults that take none.
type NoParams struct{}

// Check implements Params.
func (*NoParams) Check() error { return nil }

func applyNoDefaultRoute(ctx context.Context, e *Env, _ *NoParams) error {
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	deleted := 0
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" || r.Dst.String() == "::/0" {
				if err := h.RouteDel(&r); err != nil {
					return fmt.Errorf("deleting default route: %w", err)
				}
				deleted++
			}
		}
	}
	if deleted == 0 {
		return errors.New("the host has no default route to delete")
	}
	return nil
}

func revertNoDefaultRoute[P Params](ctx context.Context, e *Env, _ P) error {
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	return e.restoreRoutes(h, func(r scenarios.RouteSpec) bool { return r.Dst.Bits() == 0 && r.Type == "unicast" })
}

// observeNoDefaultRoute asks the kernel for a route off every local
// subnet, as `ip route get 198.51.100.1` does.
func observeNoDefaultRoute(ctx context.Context, e *Env, _ *NoParams) error {
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	defaults := []scenarios.RouteSpec{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Type: "unicast"}}
	for _, r := range e.ScenarioHost().Routes {
		if r.Dst.Bits() == 0 && r.Dst.Addr().Is6() && r.Type == "unicast" {
			defaults = append(defaults, r)
		}
	}
	for _, r := range defaults {
		dst, ok := sampleAddr(e.ScenarioHost(), r.Dst)
		if !ok {
			continue
		}
		if _, err := h.RouteGet(dst.AsSlice()); err == nil {
			return fmt.Errorf("the host still has a route to %s", dst)
		} else if !errors.Is(err, unix.ENETUNREACH) {
			return fmt.Errorf("route lookup for %s: %w", dst, err)
		}
	}
	return nil
}

// clearedDefaultRoutes wants the host's traffic for other networks to go
// through the router of its LAN again, in every family the scenario
// gives it a default route: not out of the interface as if on-link
// (proxy ARP makes that work), not through host routes, not through
// another next hop.
func clearedDefaultRoutes[P Params](ctx context.Context, e *Env, _ P) error {
	return e.scenarioRoutesBack(func(r scenarios.RouteSpec) bool { return r.Dst.Bits() == 0 })
}

// handle is a netlink handle in the env's host.
func (e *Env) handle() (*netlink.Handle, error) {
	ns, err := e.Netns("")
	if err != nil {
		return nil, err
	}
	return ns.NetlinkHandle(unix.NETLINK_ROUTE)
}

// hostLink opens a netlink handle in the env's host and finds one of its
// interfaces; the caller closes the handle.
func (e *Env) hostLink(dev string) (*netlink.Handle, netlink.Link, error) {
	h, err := e.handle()
	if err != nil {
		return nil, nil, err
	}
	l, err := h.LinkByName(dev)
	if err != nil {
		h.Close()
		return nil, nil, fmt.Errorf("finding interface %q: %w", dev, err)
	}
	return h, l, nil
}

// ifaceLink finds the env's host's interface dev of the scenario (its
// first when dev is empty) and that link, with a netlink handle in the
// host that the caller closes.
func (e *Env) ifaceLink(dev string) (*scenarios.Iface, *netlink.Handle, netlink.Link, error) {
	ifc, err := e.iface(dev)
	if err != nil {
		return nil, nil, nil, err
	}
	h, l, err := e.hostLink(ifc.Name)
	if err != nil {
		return nil, nil, nil, err
	}
	return ifc, h, l, nil
}

func deadGatewayKind() Kind {
	return kind(Spec[*GatewayParams]{
		Name:      "dead-gateway",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "The host's default routes (IPv4, and IPv6 when it has one) point at an on-link address that nobody has.",
		Symptom: "After about 3 s ping prints \"From OWN-ADDRESS icmp_seq=1 Destination Host Unreachable\"; nc prints \"No route to host\"; " +
			"curl prints \"Couldn't connect to server\"; `ip neigh` shows the gateway INCOMPLETE, then FAILED; " +
			"`ip route` shows a default route that looks fine. Hosts on the local subnet still answer.",
		Fix:     "Point the default route at the real router: `ip route replace default via GATEWAY`.",
		Apply:   applyDeadGateway,
		Revert:  revertNoDefaultRoute[*GatewayParams],
		Observe: observeDeadGateway,
		Cleared: clearedDefaultRoutes[*GatewayParams],
	})
}

// GatewayParams name the dead gateway.
type GatewayParams struct {
	Gateway string `yaml:"gateway,omitempty" json:"gateway,omitempty" doc:"The unused on-link address the default route is pointed at (default: the highest host address of the gateway's subnet, if no host of the scenario has it)."`
}

// Check implements Params.
func (p *GatewayParams) Check() error {
	_, err := scenarios.CheckIPv4("gateway", p.Gateway, "10.0.1.254")
	return err
}

// ---- dead-gateway

func (e *Env) deadGateway(p *GatewayParams) (netip.Addr, *scenarios.Iface, error) {
	gw, ifc, ok := e.defaultGateway()
	if !ok || ifc == nil {
		return netip.Addr{}, nil, fmt.Errorf("host %q has no default gateway in the scenario", e.Host)
	}
	if p.Gateway != "" {
		a := netip.MustParseAddr(p.Gateway)
		if !ifc.IPv4.Masked().Contains(a) {
			return a, nil, fmt.Errorf("gateway: %s is not on %s, the subnet of %q", a, ifc.IPv4.Masked(), ifc.Name)
		}
		if o, taken := hostOf(e.Scenario, a); taken {
			return a, nil, fmt.Errorf("gateway: %s belongs to host %q; a dead gateway must be unused", a, o.Host.Name)
		}
		return a, ifc, nil
	}
	// The highest host address of the subnet that nobody has.
	pf := ifc.IPv4.Masked()
	last := pf.Addr().As4()
	bits := 32 - pf.Bits()
	v := uint32(last[0])<<24 | uint32(last[1])<<16 | uint32(last[2])<<8 | uint32(last[3])
	for i := uint32(1); bits >= 2 && i < 1<<bits-1; i++ {
		c := v | (1<<bits - 1 - i)
		a := netip.AddrFrom4([4]byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)})
		if _, taken := hostOf(e.Scenario, a); !taken && a != gw {
			return a, ifc, nil
		}
	}
	return netip.Addr{}, nil, fmt.Errorf("subnet %s of host %q has no unused address", pf, e.Host)
}

func applyDeadGateway(ctx context.Context, e *Env, p *GatewayParams) error {
	gw, ifc, err := e.deadGateway(p)
	if err != nil {
		return err
	}
	h, l, err := e.hostLink(ifc.Name)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.RouteReplace(&netlink.Route{Gw: gw.AsSlice(), LinkIndex: l.Attrs().Index}); err != nil {
		return fmt.Errorf("pointing the default route at %s: %w", gw, err)
	}
	// The IPv6 default route too, or the host reaches everything over IPv6.
	sh := e.ScenarioHost()
	for _, r := range sh.Routes {
		if r.Dst.Bits() != 0 || !r.Dst.Addr().Is6() || !r.Via.IsValid() {
			continue
		}
		i := routeDevAny(sh, r)
		if i == nil || !i.IPv6.IsValid() {
			continue
		}
		dead := lastAddr(i.IPv6.Masked()).Prev()
		l6, err := h.LinkByName(i.Name)
		if err != nil {
			return fmt.Errorf("finding interface %q: %w", i.Name, err)
		}
		dst := &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
		if err := h.RouteReplace(&netlink.Route{Dst: dst, Family: netlink.FAMILY_V6, Gw: dead.AsSlice(), LinkIndex: l6.Attrs().Index, Priority: r.Metric}); err != nil {
			return fmt.Errorf("pointing the IPv6 default route at %s: %w", dead, err)
		}
	}
	return nil
}

// observeDeadGateway sends a datagram off the subnet and watches the
// gateway's neighbour entry: it never becomes reachable.
func observeDeadGateway(ctx context.Context, e *Env, p *GatewayParams) error {
	gw, ifc, err := e.deadGateway(p)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	routes, err := h.RouteGet(net.ParseIP("198.51.100.254"))
	if err != nil {
		return fmt.Errorf("route lookup off the subnet: %w", err)
	}
	if len(routes) == 0 || !routes[0].Gw.Equal(gw.AsSlice()) {
		return fmt.Errorf("the default route does not go via %s", gw)
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	r, err := ping(ns, netip.MustParseAddr("198.51.100.254"), pingOpts{Timeout: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	if r.Reply {
		return fmt.Errorf("ping through %s got %s", gw, r)
	}
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding interface %q: %w", ifc.Name, err)
	}
	neighs, err := h.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("listing neighbours on %q: %w", ifc.Name, err)
	}
	for _, n := range neighs {
		if n.IP.Equal(gw.AsSlice()) {
			if n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) != 0 {
				return nil
			}
			return fmt.Errorf("gateway %s has neighbour state %s", gw, neighState(n.State))
		}
	}
	return fmt.Errorf("no neighbour entry for gateway %s after a ping through it", gw)
}

func neighState(s int) string {
	for _, st := range []struct {
		v    int
		name string
	}{{netlink.NUD_INCOMPLETE, "INCOMPLETE"}, {netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"}, {netlink.NUD_DELAY, "DELAY"},
		{netlink.NUD_PROBE, "PROBE"}, {netlink.NUD_FAILED, "FAILED"}, {netlink.NUD_NOARP, "NOARP"}, {netlink.NUD_PERMANENT, "PERMANENT"}} {
		if s&st.v != 0 {
			return st.name
		}
	}
	return fmt.Sprintf("0x%x", s)
}

func missingRouteKind() Kind {
	return kind(Spec[*RouteParams]{
		Name:      "missing-route",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "A router has lost its route to a subnet.",
		Symptom: "ping through the router prints \"From ROUTER icmp_seq=1 Destination Net Unreachable\" " +
			"(or times out if the router has a default route that leads nowhere); `traceroute -n` ends at the router with !N " +
			"(\" 1  10.0.1.1  0.050 ms !N\"); curl fails at once with \"Couldn't connect to server\", while nc -w1 reports \"timed out\"; " +
			"`ip route get ADDR` on the router says \"RTNETLINK answers: Network is unreachable\".",
		Fix:     "Add the route back on the router: `ip route add PREFIX via NEXT-HOP`.",
		Apply:   applyMissingRoute,
		Revert:  revertMissingRoute,
		Observe: observeMissingRoute,
		Cleared: clearedMissingRoute,
	})
}

// RouteParams name a destination prefix on a router, and the flow the
// symptom shows on.
type RouteParams struct {
	To   string `yaml:"to,omitempty" json:"to,omitempty" doc:"The destination prefix, such as 203.0.113.0/24, or an IPv6 one such as 2001:db8:80::/64 (to cut a dual-stack destination, give the fault once per family)." required:"true"`
	From string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host whose traffic to the prefix shows the symptom (default: a host that routes through this one)."`
}

// Check implements Params.
func (p *RouteParams) Check() error {
	_, err := scenarios.CheckPrefix("to", p.To, "203.0.113.0/24")
	return err
}

func (p *RouteParams) prefix() netip.Prefix { return netip.MustParsePrefix(p.To) }

// ipNet is a prefix as netlink takes it, and its address family.
func ipNet(pf netip.Prefix) (*net.IPNet, int) {
	fam := netlink.FAMILY_V4
	if pf.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	return &net.IPNet{IP: pf.Addr().AsSlice(), Mask: net.CIDRMask(pf.Bits(), pf.Addr().BitLen())}, fam
}

// ---- missing-route

func (e *Env) routesTo(pf netip.Prefix) []scenarios.RouteSpec {
	var out []scenarios.RouteSpec
	for _, r := range e.ScenarioHost().Routes {
		if r.Dst == pf {
			out = append(out, r)
		}
	}
	return out
}

func applyMissingRoute(ctx context.Context, e *Env, p *RouteParams) error {
	pf := p.prefix()
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	dst, fam := ipNet(pf)
	routes, err := h.RouteListFiltered(fam, &netlink.Route{Dst: dst, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("listing routes to %s: %w", pf, err)
	}
	deleted := 0
	for _, r := range routes {
		if r.Protocol == unix.RTPROT_KERNEL {
			continue // a connected subnet is not a route one loses
		}
		if err := h.RouteDel(&r); err != nil {
			return fmt.Errorf("deleting route to %s: %w", pf, err)
		}
		deleted++
	}
	if deleted == 0 {
		return fmt.Errorf("host %q has no static route to %s to lose", e.Host, pf)
	}
	return nil
}

func revertMissingRoute(ctx context.Context, e *Env, p *RouteParams) error {
	pf := p.prefix()
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	if len(e.routesTo(pf)) == 0 {
		return fmt.Errorf("the scenario gives host %q no route to %s to restore", e.Host, pf)
	}
	return e.restoreRoutes(h, func(r scenarios.RouteSpec) bool { return r.Dst == pf })
}

// observeMissingRoute asks the router for a route into the prefix, then
// pings into it through the router.
func observeMissingRoute(ctx context.Context, e *Env, rp *RouteParams) error {
	pf := rp.prefix()
	target := pf.Addr().Next()
	if pf.IsSingleIP() {
		target = pf.Addr()
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	routes, err := h.RouteGet(target.AsSlice())
	if err == nil && len(routes) > 0 {
		want := e.routesTo(pf)
		for _, w := range want {
			if w.Via.IsValid() && routes[0].Gw.Equal(w.Via.AsSlice()) {
				return fmt.Errorf("the router still routes %s via %s", target, w.Via)
			}
		}
	} else if !errors.Is(err, unix.ENETUNREACH) {
		return fmt.Errorf("route lookup for %s: %w", target, err)
	}
	// A host of the prefix, pinged from a host that routes through here.
	ns, from, to, err := e.flow(flowParams{From: rp.From})
	if err != nil || !pf.Contains(to) {
		return nil // the router's own table is the evidence
	}
	r, err := ping(ns, to, pingOpts{Timeout: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	if r.Reply {
		return fmt.Errorf("ping from %q to %s got %s", from, to, r)
	}
	return nil
}

func clearedMissingRoute(ctx context.Context, e *Env, p *RouteParams) error {
	pf := p.prefix()
	return e.scenarioRoutesBack(func(r scenarios.RouteSpec) bool { return r.Dst == pf })
}
