package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DevParams name one interface of the host.
type DevParams struct {
	Dev string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"The host's interface, such as eth0 (default: its first interface)."`
}

// Check implements Params.
func (p *DevParams) Check() error { return checkDev(p.Dev) }

func checkDev(dev string) error {
	if len(dev) > 15 {
		return fmt.Errorf("dev: %q is longer than 15 characters", dev)
	}
	return nil
}

// MTUParams shrink one interface's MTU.
type MTUParams struct {
	Dev string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"The host's interface, such as eth0 (default: its first interface)."`
	MTU int    `yaml:"mtu,omitempty" json:"mtu,omitempty" doc:"The wrong MTU, smaller than the other end's (68 to 65535, default 1400)."`
}

// Check implements Params.
func (p *MTUParams) Check() error {
	if p.MTU == 0 {
		p.MTU = 1400
	}
	if p.MTU < 68 || p.MTU > 65535 {
		return fmt.Errorf("mtu: %d is outside 68 to 65535", p.MTU)
	}
	return checkDev(p.Dev)
}

// NetmaskParams give an interface's address the wrong prefix length.
type NetmaskParams struct {
	Dev    string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"The host's interface, such as eth0 (default: its first interface)."`
	Prefix int    `yaml:"prefix,omitempty" json:"prefix,omitempty" doc:"The wrong prefix length, 1 to 32 (default 32): longer than the right one puts neighbours and the gateway off-link, shorter puts remote hosts on-link."`
}

// Check implements Params.
func (p *NetmaskParams) Check() error {
	if p.Prefix == 0 {
		p.Prefix = 32
	}
	if p.Prefix < 1 || p.Prefix > 32 {
		return fmt.Errorf("prefix: %d is outside 1 to 32", p.Prefix)
	}
	return checkDev(p.Dev)
}

// DuplicateIPParams name the address the host takes from its owner.
type DuplicateIPParams struct {
	Address string `yaml:"address,omitempty" json:"address,omitempty" doc:"The victim's IPv4 address, which this host takes as well." required:"true"`
	Dev     string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"This host's interface on the victim's network (default: the one whose subnet holds the address)."`
}

// Check implements Params.
func (p *DuplicateIPParams) Check() error {
	if a, err := netip.ParseAddr(p.Address); err != nil || !a.Is4() {
		return fmt.Errorf("address: %q is not an IPv4 address", p.Address)
	}
	return checkDev(p.Dev)
}

// NeighbourParams plant a wrong neighbour entry.
type NeighbourParams struct {
	Address string `yaml:"address,omitempty" json:"address,omitempty" doc:"The neighbour's IPv4 address (default: the host's default gateway)."`
	MAC     string `yaml:"mac,omitempty" json:"mac,omitempty" doc:"The wrong MAC address (default 02:00:5e:00:de:ad, which nobody has)."`
}

// Check implements Params.
func (p *NeighbourParams) Check() error {
	if p.Address != "" {
		if a, err := netip.ParseAddr(p.Address); err != nil || !a.Is4() {
			return fmt.Errorf("address: %q is not an IPv4 address", p.Address)
		}
	}
	if p.MAC == "" {
		p.MAC = "02:00:5e:00:de:ad"
	}
	if m, err := net.ParseMAC(p.MAC); err != nil || len(m) != 6 {
		return fmt.Errorf("mac: %q is not an Ethernet MAC address", p.MAC)
	}
	return nil
}

func interfaceDownKind() Kind {
	return kind(Spec[*DevParams]{
		Name:      "interface-down",
		Layer:     LayerLink,
		NeedsHost: true,
		Summary:   "An interface of the host is administratively down.",
		Symptom: "`ip link` shows the interface with state DOWN and without UP in its flags; its routes are gone from `ip route` " +
			"and `ip -6 route`, and its IPv6 address from `ip -6 addr` (the kernel drops them with the link); " +
			"ping to any address that used it prints \"connect: Network is unreachable\" (or \"ping: sendmsg: Network is unreachable\").",
		Fix: "Bring the interface up, then put back what the kernel dropped with it: " +
			"`ip link set DEV up`, `ip route add default via GATEWAY`, and for IPv6 `ip addr add ADDR6/64 dev DEV` and `ip -6 route add default via GATEWAY6`.",
		Apply:   applyInterfaceDown,
		Revert:  revertInterfaceDown,
		Observe: observeInterfaceDown,
		Cleared: clearedInterfaceDown,
	})
}

func mtuMismatchKind() Kind {
	return kind(Spec[*MTUParams]{
		Name:      "mtu-mismatch",
		Layer:     LayerLink,
		NeedsHost: true,
		Summary:   "One end of a link has a smaller MTU than the other: full-size frames sent to it are dropped.",
		Symptom: "Small pings work, but `ping -M do -s 1472` to the host from across the link gets no answer at all " +
			"(\"1 packets transmitted, 0 received, 100% packet loss\", no error line), and so does every datagram larger than the host's MTU " +
			"(large UDP, `ping -s 1472`). TCP transfers still work: both ends announce their MSS in the handshake, so the sender never " +
			"sends the host a segment larger than its MTU. `ip link` shows a smaller mtu on the host's interface than on the other end.",
		Fix:     "Give both ends of the link the same MTU: `ip link set DEV mtu 1500` on the host.",
		Apply:   applyMTUMismatch,
		Revert:  revertMTUMismatch,
		Observe: observeMTUMismatch,
		Cleared: clearedMTUMismatch,
	})
}

func wrongNetmaskKind() Kind {
	return kind(Spec[*NetmaskParams]{
		Name:      "wrong-netmask",
		Layer:     LayerLink,
		NeedsHost: true,
		Summary:   "The host's address has the wrong prefix length.",
		Symptom: "Too long (such as /32): the gateway and the neighbours are off-link, the default route cannot exist, and ping prints " +
			"\"connect: Network is unreachable\"; `ip route add default via GW` says \"Error: Nexthop has invalid gateway.\". " +
			"Too short (such as /16): remote hosts look on-link, the host ARPs for them, and ping prints " +
			"\"From OWN-ADDRESS icmp_seq=1 Destination Host Unreachable\" after about 3 s; `ip neigh` shows them FAILED or INCOMPLETE. " +
			"`ip -4 addr` shows the wrong /N.",
		Fix: "Put the address back with the right prefix and restore the routes: `ip addr replace ADDR/24 dev DEV`, " +
			"`ip addr del ADDR/N dev DEV`, `ip route replace default via GATEWAY`.",
		Apply:   applyWrongNetmask,
		Revert:  revertWrongNetmask,
		Observe: observeWrongNetmask,
		Cleared: clearedWrongNetmask,
	})
}

func duplicateIPKind() Kind {
	return kind(Spec[*DuplicateIPParams]{
		Name:      "duplicate-ip",
		Layer:     LayerLink,
		NeedsHost: true,
		Summary:   "The host takes another host's IPv4 address and announces it.",
		Symptom: "The other hosts of the network reach the wrong machine: `ip neigh show ADDR` on them shows the intruder's MAC " +
			"(compare with `ip link` on the owner), pings to ADDR are answered by the intruder, and the owner's services answer " +
			"\"Connection refused\" from there (curl: \"Couldn't connect to server\"); two MACs answer an ARP request for the address: " +
			"`arping -c 2 -I DEV ADDR` prints \"Unicast reply from ADDR [MAC]\" lines with two different MACs " +
			"(`arping -D` stops at the first reply).",
		Fix: "Remove the address from the host that took it (`ip addr del ADDR/N dev DEV`), then let the neighbours relearn the right MAC: " +
			"`ip neigh flush dev DEV` on them, or `arping -U -I DEV ADDR` from the owner.",
		Apply:   applyDuplicateIP,
		Revert:  revertDuplicateIP,
		Observe: observeDuplicateIP,
		Cleared: clearedDuplicateIP,
	})
}

func brokenNeighbourKind() Kind {
	return kind(Spec[*NeighbourParams]{
		Name:      "broken-neighbour",
		Layer:     LayerLink,
		NeedsHost: true,
		Summary:   "A permanent neighbour entry gives the gateway (or another neighbour) a wrong MAC address.",
		Symptom: "Ping to the gateway and to everything behind it gets no answer and no error (\"100% packet loss\"); " +
			"`ip neigh` shows \"GATEWAY dev DEV lladdr 02:00:5e:00:de:ad PERMANENT\", a MAC that is not the gateway's " +
			"(compare with `ip link` on the gateway); the gateway's IPv6 address, when the host has an IPv6 default route, gets the same entry (`ip -6 neigh`).",
		Fix:     "Delete the static entries and let ARP (and IPv6 neighbour discovery) learn the right ones: `ip neigh del GATEWAY dev DEV`, `ip -6 neigh del GATEWAY6 dev DEV`.",
		Apply:   applyBrokenNeighbour,
		Revert:  revertBrokenNeighbour,
		Observe: observeBrokenNeighbour,
		Cleared: clearedBrokenNeighbour,
	})
}

func bridgePortDownKind() Kind {
	return kind(Spec[*DevParams]{
		Name:      "bridge-port-down",
		Layer:     LayerLink,
		NeedsHost: true,
		Summary:   "The switch port of the host's interface is down: the cable is as good as unplugged.",
		Symptom: "`ip link` on the host shows the interface with UP among its flags but also NO-CARRIER, and \"state DOWN\" " +
			"(a VLAN or other device stacked on it shows \"state LOWERLAYERDOWN\"); " +
			"the host's address and routes are still there (routes marked linkdown), " +
			"yet ping to the gateway prints \"Destination Host Unreachable\" or nothing at all; neighbours cannot reach the host.",
		Fix: "Bring the switch port up; it is on the switch, not on the host: " +
			"`ip -n LAB._switch link set HOST_DEV up` (the port's name is the host's name, an underscore and the interface's, or veth and a hash when that is longer than 15 characters; `ip -n LAB._switch link` lists them).",
		Apply:   func(ctx context.Context, e *Env, p *DevParams) error { return setBridgePort(e, p.Dev, false) },
		Revert:  func(ctx context.Context, e *Env, p *DevParams) error { return setBridgePort(e, p.Dev, true) },
		Observe: observeBridgePortDown,
		Cleared: clearedBridgePort,
	})
}

// ---- interface-down

func applyInterfaceDown(ctx context.Context, e *Env, p *DevParams) error {
	ifc, err := e.iface(p.Dev)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err == nil {
		err = h.LinkSetDown(l)
	}
	if err != nil {
		return fmt.Errorf("setting %q down: %w", ifc.Name, err)
	}
	return nil
}

func revertInterfaceDown(ctx context.Context, e *Env, p *DevParams) error {
	ifc, err := e.iface(p.Dev)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err == nil {
		err = h.LinkSetUp(l)
	}
	if err != nil {
		return fmt.Errorf("setting %q up: %w", ifc.Name, err)
	}
	// The kernel drops an interface's IPv6 addresses with its link
	// (keep_addr_on_down is 0).
	if ifc.IPv6.IsValid() {
		a, _ := netlink.ParseAddr(ifc.IPv6.String())
		a.Flags = unix.IFA_F_NODAD
		if err := h.AddrReplace(l, a); err != nil {
			return fmt.Errorf("restoring %s on %q: %w", ifc.IPv6, ifc.Name, err)
		}
	}
	sh := e.ScenarioHost()
	return e.restoreRoutes(h, func(r scenarios.RouteSpec) bool { return routeDevAny(sh, r) == ifc })
}

func observeInterfaceDown(ctx context.Context, e *Env, p *DevParams) error {
	ifc, err := e.iface(p.Dev)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding interface %q: %w", ifc.Name, err)
	}
	if l.Attrs().Flags&net.FlagUp != 0 {
		return fmt.Errorf("interface %q is up (state %s)", ifc.Name, l.Attrs().OperState)
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	for _, nb := range neighbours(ifc) {
		r, err := ping(ns, nb.IPv4.Addr(), pingOpts{Timeout: 500 * time.Millisecond})
		if err != nil {
			return err
		}
		if !errors.Is(r.SendErr, unix.ENETUNREACH) {
			return fmt.Errorf("interface %q is down but ping %s gave %s, not \"Network is unreachable\"", ifc.Name, nb.IPv4.Addr(), r)
		}
		break
	}
	return nil
}

// ---- mtu-mismatch

// mtuPeers are the interfaces at the other ends of the link that send
// full-size frames to the host: lab hosts' interfaces, not a bridge.
func mtuPeers(ifc *scenarios.Iface) []*scenarios.Iface {
	var out []*scenarios.Iface
	for _, o := range ifc.Network.Ends {
		if o != ifc && ifc.Network.Owner != o.Host {
			out = append(out, o)
		}
	}
	return out
}

func applyMTUMismatch(ctx context.Context, e *Env, mp *MTUParams) error {
	ifc, err := e.iface(mp.Dev)
	if err != nil {
		return err
	}
	// GSO and TSO skip the receiver's MTU check on a veth: turn them off
	// on the senders, as on real NICs. TCP itself stays protected by the
	// MSS both ends announce; datagrams larger than the MTU are lost.
	for _, o := range mtuPeers(ifc) {
		if err := e.ethtoolOffloads(ctx, o.Host.Name, o.Name, false); err != nil {
			return err
		}
	}
	return e.setMTU(ifc.Name, mp.MTU)
}

func revertMTUMismatch(ctx context.Context, e *Env, p *MTUParams) error {
	ifc, err := e.iface(p.Dev)
	if err != nil {
		return err
	}
	var errs []error
	errs = append(errs, e.setMTU(ifc.Name, ifc.MTU))
	for _, o := range mtuPeers(ifc) {
		errs = append(errs, e.ethtoolOffloads(ctx, o.Host.Name, o.Name, true))
	}
	return errors.Join(errs...)
}

func (e *Env) setMTU(dev string, mtu int) error {
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err == nil {
		err = h.LinkSetMTU(l, mtu)
	}
	if err != nil {
		return fmt.Errorf("setting the MTU of %q to %d: %w", dev, mtu, err)
	}
	return nil
}

// observeMTUMismatch pings the host from a neighbour: a small echo is
// answered, a full-size one with DF set vanishes.
func observeMTUMismatch(ctx context.Context, e *Env, p *MTUParams) error {
	ifc, err := e.iface(p.Dev)
	if err != nil {
		return err
	}
	for _, o := range mtuPeers(ifc) {
		if !o.IPv4.IsValid() {
			continue
		}
		ns, err := e.Netns(o.Host.Name)
		if err != nil {
			return err
		}
		dst := ifc.IPv4.Addr()
		small, err := ping(ns, dst, pingOpts{})
		if err != nil {
			return err
		}
		if !small.Reply {
			return fmt.Errorf("a small ping from %q to %s gave %s", o.Host.Name, dst, small)
		}
		size := o.MTU - 28
		big, err := ping(ns, dst, pingOpts{Size: size, DF: true, Timeout: 500 * time.Millisecond})
		if err != nil {
			return err
		}
		if !big.Silent() {
			return fmt.Errorf("ping -M do -s %d from %q to %s gave %s", size, o.Host.Name, dst, big)
		}
		return nil
	}
	return fmt.Errorf("no neighbour of %q on %q has an IPv4 address to ping from", e.Host, ifc.Name)
}

// ---- wrong-netmask

func (e *Env) netmaskIface(p *NetmaskParams) (*scenarios.Iface, error) {
	ifc, err := e.iface(p.Dev)
	if err != nil {
		return nil, err
	}
	if !ifc.IPv4.IsValid() {
		return nil, fmt.Errorf("interface %q of host %q has no IPv4 address", ifc.Name, e.Host)
	}
	if ifc.IPv4.Bits() == p.Prefix {
		return nil, fmt.Errorf("prefix: /%d is already the right prefix of %s", p.Prefix, ifc.IPv4)
	}
	return ifc, nil
}

func applyWrongNetmask(ctx context.Context, e *Env, np *NetmaskParams) error {
	ifc, err := e.netmaskIface(np)
	if err != nil {
		return err
	}
	wrong := netip.PrefixFrom(ifc.IPv4.Addr(), np.Prefix)
	if err := e.swapAddr(ifc, ifc.IPv4, wrong); err != nil {
		return err
	}
	// As after a boot with the wrong mask: the routes that can still be
	// added come back, the others cannot exist.
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	sh := e.ScenarioHost()
	for _, r := range sh.Routes {
		if !r.Dst.Addr().Is4() || routeDev(sh, r) != ifc {
			continue
		}
		rt, err := sandbox.NetlinkRoute(h, r)
		if err != nil {
			return err
		}
		if r.Via.IsValid() && !wrong.Masked().Contains(r.Via) {
			// "Nexthop has invalid gateway": such a route cannot be made.
			if err := h.RouteDel(rt); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("removing route to %s: %w", r.Dst, err)
			}
			continue
		}
		h.RouteReplace(rt) // best effort, as a boot script would
	}
	return nil
}

func revertWrongNetmask(ctx context.Context, e *Env, np *NetmaskParams) error {
	ifc, err := e.netmaskIface(np)
	if err != nil {
		return err
	}
	if err := e.swapAddr(ifc, netip.PrefixFrom(ifc.IPv4.Addr(), np.Prefix), ifc.IPv4); err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	sh := e.ScenarioHost()
	return e.restoreRoutes(h, func(r scenarios.RouteSpec) bool { return routeDev(sh, r) == ifc })
}

// swapAddr replaces an address by the same one with another prefix; the
// new one goes in first so that the interface never has none.
func (e *Env) swapAddr(ifc *scenarios.Iface, old, new netip.Prefix) error {
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding interface %q: %w", ifc.Name, err)
	}
	na, _ := netlink.ParseAddr(new.String())
	if err := h.AddrReplace(l, na); err != nil {
		return fmt.Errorf("adding %s to %q: %w", new, ifc.Name, err)
	}
	oa, _ := netlink.ParseAddr(old.String())
	if err := h.AddrDel(l, oa); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("removing %s from %q: %w", old, ifc.Name, err)
	}
	return nil
}

// observeWrongNetmask looks at where the kernel sends what the scenario
// says: with a long prefix the gateway (or a neighbour) has no route, with
// a short one a remote address is sent on-link, straight to ARP.
func observeWrongNetmask(ctx context.Context, e *Env, np *NetmaskParams) error {
	ifc, err := e.netmaskIface(np)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	wrong := netip.PrefixFrom(ifc.IPv4.Addr(), np.Prefix).Masked()
	if np.Prefix > ifc.IPv4.Bits() {
		// A neighbour or the gateway now outside the subnet.
		var probe netip.Addr
		if gw, gifc, ok := e.defaultGateway(); ok && gifc == ifc && !wrong.Contains(gw) {
			probe = gw
		}
		for _, nb := range neighbours(ifc) {
			if !probe.IsValid() && !wrong.Contains(nb.IPv4.Addr()) {
				probe = nb.IPv4.Addr()
			}
		}
		if !probe.IsValid() {
			return fmt.Errorf("every neighbour of %q is inside %s; nothing shows the wrong mask", ifc.Name, wrong)
		}
		routes, err := h.RouteGet(probe.AsSlice())
		if err != nil {
			if errors.Is(err, unix.ENETUNREACH) {
				return nil
			}
			return fmt.Errorf("route lookup for %s: %w", probe, err)
		}
		if len(routes) > 0 && routes[0].Gw == nil {
			return fmt.Errorf("%s is still on-link through %d", probe, routes[0].LinkIndex)
		}
		return nil
	}
	// A remote host inside the wrong, wider subnet.
	for _, sh := range e.Scenario.Hosts {
		for _, i := range sh.Interfaces {
			if !i.IPv4.IsValid() || i.Network == ifc.Network || !wrong.Contains(i.IPv4.Addr()) || ifc.IPv4.Masked().Contains(i.IPv4.Addr()) {
				continue
			}
			routes, err := h.RouteGet(i.IPv4.Addr().AsSlice())
			if err != nil {
				return fmt.Errorf("route lookup for %s: %w", i.IPv4.Addr(), err)
			}
			if len(routes) == 0 || routes[0].Gw != nil {
				return fmt.Errorf("%s (host %q) is routed through a gateway, not on-link", i.IPv4.Addr(), sh.Name)
			}
			return nil
		}
	}
	return fmt.Errorf("no remote host lies inside %s; nothing shows the wrong mask", wrong)
}

// ---- duplicate-ip

func (e *Env) duplicateIface(p *DuplicateIPParams) (*scenarios.Iface, netip.Prefix, *scenarios.Iface, error) {
	a := netip.MustParseAddr(p.Address)
	victim, ok := hostOf(e.Scenario, a)
	if !ok {
		return nil, netip.Prefix{}, nil, fmt.Errorf("address: no host of the scenario has %s", a)
	}
	if victim.Host.Name == e.Host {
		return nil, netip.Prefix{}, nil, fmt.Errorf("address: %s is already host %q's own", a, e.Host)
	}
	var ifc *scenarios.Iface
	if p.Dev != "" {
		i, err := e.iface(p.Dev)
		if err != nil {
			return nil, netip.Prefix{}, nil, err
		}
		ifc = i
	} else {
		ifc = e.ScenarioHost().IfaceOn(victim.Network)
	}
	if ifc == nil || ifc.Network != victim.Network {
		return nil, netip.Prefix{}, nil, fmt.Errorf("host %q is not on network %q of %s", e.Host, victim.Network.Name, a)
	}
	return ifc, victim.IPv4, victim, nil
}

func applyDuplicateIP(ctx context.Context, e *Env, p *DuplicateIPParams) error {
	ifc, pfx, _, err := e.duplicateIface(p)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding interface %q: %w", ifc.Name, err)
	}
	a, _ := netlink.ParseAddr(pfx.String())
	if err := h.AddrReplace(l, a); err != nil {
		return fmt.Errorf("adding %s to %q: %w", pfx, ifc.Name, err)
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	if err := announce(ns, ifc.Name, pfx.Addr()); err != nil {
		return err
	}
	// The announcement wins the other hosts' caches, as it does when
	// their entries are older than the kernel's lock time; on a fresh
	// lab they have none yet, so put it there as the ARP reply would.
	return e.duplicateCaches(ifc, pfx.Addr(), l.Attrs().HardwareAddr)
}

func revertDuplicateIP(ctx context.Context, e *Env, p *DuplicateIPParams) error {
	ifc, pfx, victim, err := e.duplicateIface(p)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding interface %q: %w", ifc.Name, err)
	}
	a, _ := netlink.ParseAddr(pfx.String())
	if err := h.AddrDel(l, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("removing %s from %q: %w", pfx, ifc.Name, err)
	}
	// The caches forget the intruder and the owner announces itself
	// again, so they heal at once.
	if err := e.duplicateCaches(ifc, pfx.Addr(), nil); err != nil {
		return err
	}
	vns, err := e.Netns(victim.Host.Name)
	if err != nil {
		return err
	}
	return announce(vns, victim.Name, pfx.Addr())
}

// observeDuplicateIP looks where the learner does: the intruder holds
// the address, the other hosts' caches give it the intruder's MAC, and a
// ping from them to the address is answered (by the intruder). It sends
// no ARP request: replies to one would update those caches.
func observeDuplicateIP(ctx context.Context, e *Env, p *DuplicateIPParams) error {
	ifc, pfx, victim, err := e.duplicateIface(p)
	if err != nil {
		return err
	}
	intruder, err := e.macOf(ifc)
	if err != nil {
		return err
	}
	asked := false
	for _, o := range ifc.Network.Ends {
		if o == ifc || o == victim || !o.IPv4.IsValid() {
			continue
		}
		asked = true
		mac, ok, err := neighMACIn(e, o, pfx.Addr())
		if err != nil {
			return err
		}
		if !ok || mac.String() != intruder.String() {
			return fmt.Errorf("host %q does not send %s to the intruder's MAC %s (its entry: %v)", o.Host.Name, pfx.Addr(), intruder, mac)
		}
		ns, err := e.Netns(o.Host.Name)
		if err != nil {
			return err
		}
		r, err := ping(ns, pfx.Addr(), pingOpts{Timeout: 500 * time.Millisecond})
		if err != nil {
			return err
		}
		if !r.Reply {
			return fmt.Errorf("ping from %q to %s gave %s, not an answer from the intruder", o.Host.Name, pfx.Addr(), r)
		}
	}
	if !asked {
		return fmt.Errorf("network %q has no third host to be misled about %s", ifc.Network.Name, pfx.Addr())
	}
	return nil
}

// ---- broken-neighbour

func (e *Env) neighbourTarget(p *NeighbourParams) (netip.Addr, *scenarios.Iface, error) {
	if p.Address != "" {
		a := netip.MustParseAddr(p.Address)
		for _, i := range e.ScenarioHost().Interfaces {
			if i.IPv4.IsValid() && i.IPv4.Masked().Contains(a) {
				return a, i, nil
			}
		}
		return a, nil, fmt.Errorf("address: %s is on none of host %q's subnets", a, e.Host)
	}
	gw, ifc, ok := e.defaultGateway()
	if !ok || ifc == nil {
		return gw, nil, fmt.Errorf("address: host %q has no default gateway; give the neighbour's address", e.Host)
	}
	return gw, ifc, nil
}

func applyBrokenNeighbour(ctx context.Context, e *Env, np *NeighbourParams) error {
	targets, err := e.neighbourTargets(np)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	mac, _ := net.ParseMAC(np.MAC)
	for _, t := range targets {
		l, err := h.LinkByName(t.ifc.Name)
		if err != nil {
			return fmt.Errorf("finding interface %q: %w", t.ifc.Name, err)
		}
		fam := netlink.FAMILY_V4
		if t.addr.Is6() {
			fam = netlink.FAMILY_V6
		}
		n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT, IP: t.addr.AsSlice(), HardwareAddr: mac}
		if err := h.NeighSet(n); err != nil {
			return fmt.Errorf("setting neighbour %s to %s on %q: %w", t.addr, mac, t.ifc.Name, err)
		}
	}
	return nil
}

func revertBrokenNeighbour(ctx context.Context, e *Env, p *NeighbourParams) error {
	targets, err := e.neighbourTargets(p)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	for _, t := range targets {
		l, err := h.LinkByName(t.ifc.Name)
		if err != nil {
			return fmt.Errorf("finding interface %q: %w", t.ifc.Name, err)
		}
		fam := netlink.FAMILY_V4
		if t.addr.Is6() {
			fam = netlink.FAMILY_V6
		}
		n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, IP: t.addr.AsSlice()}
		if err := h.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("deleting neighbour %s on %q: %w", t.addr, t.ifc.Name, err)
		}
	}
	return nil
}

// observeBrokenNeighbour pings the neighbour: nothing comes back while
// its entry holds a MAC that is not the neighbour's.
func observeBrokenNeighbour(ctx context.Context, e *Env, p *NeighbourParams) error {
	a, ifc, err := e.neighbourTarget(p)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	r, err := ping(ns, a, pingOpts{Timeout: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	if !r.Silent() {
		return fmt.Errorf("ping %s gave %s", a, r)
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding interface %q: %w", ifc.Name, err)
	}
	neighs, err := h.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("listing neighbours on %q: %w", ifc.Name, err)
	}
	owner, ok := hostOf(e.Scenario, a)
	for _, n := range neighs {
		if !n.IP.Equal(a.AsSlice()) {
			continue
		}
		if ok {
			real, err := e.macOf(owner)
			if err != nil {
				return err
			}
			if real.String() == n.HardwareAddr.String() {
				return fmt.Errorf("neighbour %s has its real MAC %s", a, real)
			}
		}
		return nil
	}
	return fmt.Errorf("ping %s got no answer, but there is no neighbour entry for it", a)
}

func (e *Env) macOf(ifc *scenarios.Iface) (net.HardwareAddr, error) {
	ns, err := e.Netns(ifc.Host.Name)
	if err != nil {
		return nil, err
	}
	h, err := ns.NetlinkHandle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return nil, fmt.Errorf("finding interface %q of host %q: %w", ifc.Name, ifc.Host.Name, err)
	}
	return l.Attrs().HardwareAddr, nil
}

// ---- bridge-port-down

func setBridgePort(e *Env, dev string, up bool) error {
	ifc, err := e.iface(dev)
	if err != nil {
		return err
	}
	ns, port, closeNs, err := e.switchPort(ifc)
	if err != nil {
		return err
	}
	if closeNs {
		defer ns.Close()
	}
	h, err := ns.NetlinkHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(port)
	if err == nil {
		if up {
			err = h.LinkSetUp(l)
		} else {
			err = h.LinkSetDown(l)
		}
	}
	if err != nil {
		return fmt.Errorf("setting switch port %q of %s/%s up=%v: %w", port, e.Host, ifc.Name, up, err)
	}
	return nil
}

func observeBridgePortDown(ctx context.Context, e *Env, p *DevParams) error {
	ifc, err := e.iface(p.Dev)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding interface %q: %w", ifc.Name, err)
	}
	a := l.Attrs()
	if a.Flags&net.FlagUp == 0 {
		return fmt.Errorf("interface %q is administratively down, not without carrier", ifc.Name)
	}
	if a.RawFlags&unix.IFF_LOWER_UP != 0 || a.OperState == netlink.OperUp {
		return fmt.Errorf("interface %q has carrier (state %s)", ifc.Name, a.OperState)
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	for _, nb := range neighbours(ifc) {
		r, err := ping(ns, nb.IPv4.Addr(), pingOpts{Timeout: 300 * time.Millisecond})
		if err != nil {
			return err
		}
		if r.Reply {
			return fmt.Errorf("interface %q has no carrier but %s answers ping", ifc.Name, nb.IPv4.Addr())
		}
		break
	}
	return nil
}
