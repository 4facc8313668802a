package faults

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Helpers shared by the link and network faults: the scenario's model of
// a host's interfaces and routes, restoring routes the kernel dropped, and
// finding a flow that crosses a router.

// iface returns the scenario's interface dev of the env's host (its first
// interface when dev is empty).
func (e *Env) iface(dev string) (*scenarios.Iface, error) {
	h := e.ScenarioHost()
	if h == nil {
		return nil, fmt.Errorf("the scenario has no host %q", e.Host)
	}
	if dev == "" {
		if len(h.Interfaces) == 0 {
			return nil, fmt.Errorf("host %q has no interfaces", e.Host)
		}
		return h.Interfaces[0], nil
	}
	if ifc := h.Iface(dev); ifc != nil {
		return ifc, nil
	}
	var names []string
	for _, i := range h.Interfaces {
		names = append(names, i.Name)
	}
	return nil, fmt.Errorf("host %q has no interface %q; its interfaces are: %s", e.Host, dev, strings.Join(names, ", "))
}

// neighbours are the other ends of an interface's network that have an
// IPv4 address (the bridge device itself included when a host holds it).
func neighbours(ifc *scenarios.Iface) []*scenarios.Iface {
	var out []*scenarios.Iface
	for _, o := range ifc.Network.Ends {
		if o != ifc && o.IPv4.IsValid() {
			out = append(out, o)
		}
	}
	return out
}

// routeDev is the scenario interface a route leaves by, or nil.
func routeDev(sh *scenarios.Host, r scenarios.RouteSpec) *scenarios.Iface {
	if r.Dev != "" {
		return sh.Iface(r.Dev)
	}
	for _, i := range sh.Interfaces {
		if r.Via.IsValid() && i.IPv4.IsValid() && i.IPv4.Masked().Contains(r.Via) {
			return i
		}
	}
	return nil
}

// restoreRoutes puts back the scenario's routes of the env's host, in
// both families, for which keep is true (the kernel drops routes with
// their interface's link or address).
func (e *Env) restoreRoutes(h *netlink.Handle, keep func(r scenarios.RouteSpec) bool) error {
	for _, r := range e.ScenarioHost().Routes {
		if !keep(r) {
			continue
		}
		rt, err := sandbox.NetlinkRoute(h, r)
		if err != nil {
			return err
		}
		if err := h.RouteReplace(rt); err != nil {
			return fmt.Errorf("restoring route to %s: %w", r.Dst, err)
		}
	}
	return nil
}

// defaultGateway is the scenario's IPv4 default gateway of the env's
// host, if it has one.
func (e *Env) defaultGateway() (netip.Addr, *scenarios.Iface, bool) {
	sh := e.ScenarioHost()
	for _, r := range sh.Routes {
		if r.Dst.Bits() == 0 && r.Dst.Addr().Is4() && r.Via.IsValid() {
			return r.Via, routeDev(sh, r), true
		}
	}
	return netip.Addr{}, nil, false
}

// hostOf returns the scenario interface that holds an address.
func hostOf(s *scenarios.Scenario, a netip.Addr) (*scenarios.Iface, bool) {
	i := s.IfaceWithAddr(a)
	return i, i != nil
}

// scenarioRoute is the scenario's route that a host uses for an address,
// the longest prefix first, or the connected network.
func scenarioNextHop(sh *scenarios.Host, a netip.Addr) (via netip.Addr, onLink bool, ok bool) {
	for _, i := range sh.Interfaces {
		if i.IPv4.IsValid() && i.IPv4.Masked().Contains(a) {
			return a, true, true
		}
	}
	best := -1
	for _, r := range sh.Routes {
		if r.Dst.Addr().Is4() && r.Dst.Contains(a) && r.Dst.Bits() > best && r.Type == "unicast" && r.Via.IsValid() {
			best, via = r.Dst.Bits(), r.Via
		}
	}
	return via, false, best >= 0
}

// scenarioPath follows, in the scenario, the routes from a host to an
// address and returns the hosts the packets cross, the source first and
// the destination's owner last.
func scenarioPath(s *scenarios.Scenario, from string, to netip.Addr) ([]*scenarios.Host, bool) {
	h := s.Host(from)
	path := []*scenarios.Host{}
	for range 32 {
		if h == nil {
			return nil, false
		}
		path = append(path, h)
		for _, i := range h.Interfaces {
			if i.IPv4.IsValid() && i.IPv4.Addr() == to {
				return path, true
			}
		}
		via, onLink, ok := scenarioNextHop(h, to)
		if !ok {
			return nil, false
		}
		owner, ok := hostOf(s, via)
		if !ok {
			return nil, false
		}
		if onLink {
			return append(path, owner.Host), true
		}
		h = owner.Host
	}
	return nil, false
}

// hops is how many routers a packet from a host to an address crosses
// to reach the router, counting the router: the TTL that expires there.
func hops(s *scenarios.Scenario, from string, to netip.Addr, router string) (int, bool) {
	path, ok := scenarioPath(s, from, to)
	if !ok {
		return 0, false
	}
	for i, h := range path {
		if h.Name == router && i > 0 && i < len(path)-1 {
			return i, true
		}
	}
	return 0, false
}

// flowThrough finds, in the scenario, a host whose traffic to another
// host's address crosses the router: the default pair a router fault is
// observed on. Farther destinations are preferred.
func flowThrough(s *scenarios.Scenario, router string) (from string, to netip.Addr, ok bool) {
	best := 0
	for _, h := range s.Hosts {
		if h.Name == router {
			continue
		}
		for _, d := range s.Hosts {
			if d == h || d.Name == router {
				continue
			}
			for _, di := range d.Interfaces {
				if !di.IPv4.IsValid() {
					continue
				}
				if _, ok := hops(s, h.Name, di.IPv4.Addr(), router); !ok {
					continue
				}
				path, _ := scenarioPath(s, h.Name, di.IPv4.Addr())
				if len(path) > best {
					best, from, to = len(path), h.Name, di.IPv4.Addr()
				}
			}
		}
	}
	return from, to, best > 0
}

// flowParams are the optional parameters of faults observed on traffic
// that crosses the host.
type flowParams struct {
	From string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host whose traffic shows the symptom (default: a host that routes through this one, found in the scenario)."`
	To   string `yaml:"to,omitempty" json:"to,omitempty" doc:"IPv4 address beyond this host that the symptom shows on (default: found in the scenario with from)."`
}

func (f *flowParams) check() error {
	_, err := scenarios.CheckIPv4("to", f.To, "10.0.1.10")
	return err
}

// flow resolves the flow to observe: its source namespace and target.
func (e *Env) flow(f flowParams) (*sandbox.Netns, string, netip.Addr, error) {
	from, to := f.From, netip.Addr{}
	if f.To != "" {
		to = netip.MustParseAddr(f.To)
	}
	if from == "" || !to.IsValid() {
		dfrom, dto, ok := flowThrough(e.Scenario, e.Host)
		if !ok {
			return nil, "", to, fmt.Errorf("no host of the scenario routes through %q; give from and to", e.Host)
		}
		if from == "" {
			from = dfrom
		}
		if !to.IsValid() {
			to = dto
		}
	}
	ns, err := e.Netns(from)
	return ns, from, to, err
}

// ethtoolOffloads turns TCP segmentation and generic segmentation offload
// of an interface on or off, inside its host.
func (e *Env) ethtoolOffloads(ctx context.Context, host, dev string, on bool) error {
	v := "off"
	if on {
		v = "on"
	}
	_, err := e.Run(ctx, host, "ethtool", "-K", dev, "tso", v, "gso", v)
	return err
}

// switchPort finds the switch side of a host's interface on a bridge
// network: the namespace holding it (to be closed by the caller when
// closeNs is true) and the port's name.
func (e *Env) switchPort(ifc *scenarios.Iface) (ns *sandbox.Netns, port string, closeNs bool, err error) {
	n := ifc.Network
	if n.Type != "bridge" {
		return nil, "", false, fmt.Errorf("interface %q of host %q is on %s network %q, not on a bridge", ifc.Name, e.Host, n.Type, n.Name)
	}
	if n.Owner == ifc.Host {
		return nil, "", false, fmt.Errorf("interface %q of host %q is the bridge %q itself", ifc.Name, e.Host, n.Name)
	}
	h, err := e.handle()
	if err != nil {
		return nil, "", false, err
	}
	l, err := h.LinkByName(ifc.Name)
	h.Close()
	if err != nil {
		return nil, "", false, fmt.Errorf("finding interface %q: %w", ifc.Name, err)
	}
	peerIndex := l.Attrs().ParentIndex
	if n.Owner != nil {
		ns, err = e.Netns(n.Owner.Name)
	} else {
		ns, err = sandbox.OpenNetns(e.Lab.State.SwitchNetns)
		closeNs = err == nil
	}
	if err != nil {
		return nil, "", false, err
	}
	sh, err := ns.NetlinkHandle(unix.NETLINK_ROUTE)
	if err == nil {
		var pl netlink.Link
		pl, err = sh.LinkByIndex(peerIndex)
		sh.Close()
		if err == nil {
			return ns, pl.Attrs().Name, closeNs, nil
		}
	}
	if closeNs {
		ns.Close()
	}
	return nil, "", false, fmt.Errorf("finding the switch port of %q on bridge %q: %w", ifc.Name, n.Name, err)
}
