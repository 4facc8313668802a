// The blackhole, unreachable and prohibit routes, and the helpers that judge where a route leads.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func blackholeRouteKind() Kind {
	return routeTypeKind("blackhole", unix.RTN_BLACKHOLE,
		"Traffic through the host to the prefix vanishes: ping prints nothing but \"100% packet loss\", nc prints \"timed out\". "+
			"On the host itself ping prints \"ping: connect: Invalid argument\" and nc \"failed: Invalid argument\". "+
			"`ip route` shows \"blackhole PREFIX\"; `ip route get ADDR` prints \"blackhole ADDR\".")
}

func unreachableRouteKind() Kind {
	return routeTypeKind("unreachable", unix.RTN_UNREACHABLE,
		"ping through the host prints \"From HOST icmp_seq=1 Destination Host Unreachable\" at once; nc prints \"No route to host\". "+
			"On the host itself ping prints \"ping: connect: No route to host\". "+
			"`ip route` shows \"unreachable PREFIX\"; `ip route get ADDR` says \"RTNETLINK answers: No route to host\".")
}

func prohibitRouteKind() Kind {
	return routeTypeKind("prohibit", unix.RTN_PROHIBIT,
		"ping through the host prints \"From HOST icmp_seq=1 Packet filtered\" at once (ICMP administratively prohibited); "+
			"nc prints \"No route to host\". On the host itself ping prints \"ping: Do you want to ping broadcast? Then -b. If not, check your local firewall rules\" "+
			"and nc \"failed: Permission denied\". "+
			"`ip route` shows \"prohibit PREFIX\"; `ip route get ADDR` says \"RTNETLINK answers: Permission denied\".")
}

// ---- blackhole, unreachable, prohibit

func routeTypeKind(typ string, rtn int, symptom string) Kind {
	return kind(Spec[*RouteParams]{
		Name:      typ + "-route",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "A " + typ + " route for a prefix overrides the way there.",
		Symptom:   symptom,
		Fix:       "Delete the route: `ip route del " + typ + " PREFIX` on the host.",
		Apply: func(ctx context.Context, e *Env, p *RouteParams) error {
			pf := p.prefix()
			h, err := e.handle()
			if err != nil {
				return err
			}
			defer h.Close()
			dst, fam := ipNet(pf)
			if err := h.RouteReplace(&netlink.Route{Dst: dst, Family: fam, Type: rtn, Table: unix.RT_TABLE_MAIN}); err != nil {
				return fmt.Errorf("adding %s route to %s: %w", typ, pf, err)
			}
			return nil
		},
		Revert: func(ctx context.Context, e *Env, p *RouteParams) error {
			pf := p.prefix()
			h, err := e.handle()
			if err != nil {
				return err
			}
			defer h.Close()
			dst, fam := ipNet(pf)
			if err := h.RouteDel(&netlink.Route{Dst: dst, Family: fam, Type: rtn, Table: unix.RT_TABLE_MAIN}); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("deleting %s route to %s: %w", typ, pf, err)
			}
			return e.restoreRoutes(h, func(r scenarios.RouteSpec) bool { return r.Dst == pf })
		},
		Observe: func(ctx context.Context, e *Env, p *RouteParams) error {
			return observeRouteType(e, p, typ)
		},
		Cleared: func(ctx context.Context, e *Env, p *RouteParams) error {
			return clearedRouteType(e, p, typ, rtn)
		},
	})
}

// routeTypeErrno is the kernel's answer to a lookup that hits a route
// of the type, in both families: EINVAL for blackhole, EHOSTUNREACH for
// unreachable, EACCES for prohibit.
func routeTypeErrno(typ string, _ netip.Addr) error {
	return map[string]error{"blackhole": unix.EINVAL, "unreachable": unix.EHOSTUNREACH, "prohibit": unix.EACCES}[typ]
}

// observeRouteType looks up the route on the host (the kernel answers
// with the type's errno) and pings through the host when a flow crosses
// it: blackhole is silent, unreachable and prohibit answer with ICMP.
func observeRouteType(e *Env, rp *RouteParams, typ string) error {
	pf := rp.prefix()
	target := pf.Addr()
	if !pf.IsSingleIP() {
		target = target.Next()
	}
	hns, err := e.Netns("")
	if err != nil {
		return err
	}
	// ip route get: EINVAL for blackhole, EHOSTUNREACH for unreachable,
	// EACCES for prohibit.
	wantErr := routeTypeErrno(typ, target)
	rl, err := probe.RouteGet(hns, target)
	switch {
	case err == nil && typ == "blackhole" && rl.Type == "blackhole":
	case errors.Is(err, wantErr):
	case err != nil:
		return fmt.Errorf("route lookup for %s on %q: %v, not the %s route's %v", target, e.Host, err, typ, wantErr)
	default:
		return fmt.Errorf("route lookup for %s on %q finds a %s route via %s, not the %s route", target, e.Host, rl.Type, rl.Dev, typ)
	}
	ns, from, to, err := e.flow(flowParams{From: rp.From})
	if err != nil || !pf.Contains(to) {
		return nil // no flow crosses the host; the lookup is the evidence
	}
	r, err := ping(ns, to, pingOpts{Timeout: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	ok := false
	switch typ {
	case "blackhole":
		ok = r.Silent()
	case "unreachable":
		ok = r.Type == 3 && r.Code == 1
	case "prohibit":
		ok = r.Type == 3 && r.Code == 13
	}
	if !ok {
		return fmt.Errorf("ping from %q to %s through the %s route gave %s", from, to, typ, r)
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
