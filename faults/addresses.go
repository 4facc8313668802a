// Address faults: wrong-netmask and duplicate-ip.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

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

// NetmaskParams give an interface's address the wrong prefix length.
type NetmaskParams struct {
	Dev    string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"The host's interface, such as eth0 (default: its first interface)."`
	Prefix int    `yaml:"prefix,omitempty" json:"prefix,omitempty" doc:"The wrong prefix length, 1 to 32 (default 32): longer than the right one puts neighbours and the gateway off-link, shorter puts remote hosts on-link."`
}

// Check implements Params.
func (p *NetmaskParams) Check() error {
	if err := scenarios.CheckRange("prefix", &p.Prefix, 32, 1, 32); err != nil {
		return err
	}
	return scenarios.CheckIfName("dev", p.Dev)
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
	h, l, err := e.hostLink(ifc.Name)
	if err != nil {
		return err
	}
	defer h.Close()
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

func clearedWrongNetmask(ctx context.Context, e *Env, np *NetmaskParams) error {
	ifc, err := e.netmaskIface(np)
	if err != nil {
		return err
	}
	h, l, err := e.hostLink(ifc.Name)
	if err != nil {
		return err
	}
	defer h.Close()
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("listing the addresses of %q: %w", ifc.Name, err)
	}
	right := false
	for _, a := range addrs {
		pf, ok := netip.AddrFromSlice(a.IP)
		if !ok || pf.Unmap() != ifc.IPv4.Addr() {
			continue
		}
		bits, _ := a.Mask.Size()
		if bits != ifc.IPv4.Bits() {
			return errors.New("an address is still held with a subnet that is not its LAN's")
		}
		right = true
	}
	if !right {
		return errors.New("an interface no longer holds its own address")
	}
	sh := e.ScenarioHost()
	return e.scenarioRoutesBack(func(r scenarios.RouteSpec) bool { return r.Dst.Addr().Is4() && routeDev(sh, r) == ifc })
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

// DuplicateIPParams name the address the host takes from its owner.
type DuplicateIPParams struct {
	Address string `yaml:"address,omitempty" json:"address,omitempty" doc:"The victim's IPv4 address, which this host takes as well." required:"true"`
	Dev     string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"This host's interface on the victim's network (default: the one whose subnet holds the address)."`
}

// Check implements Params.
func (p *DuplicateIPParams) Check() error {
	if err := scenarios.CheckRequired("address", p.Address, "give the IPv4 address to duplicate, such as \"10.0.1.20\""); err != nil {
		return err
	}
	if _, err := scenarios.CheckIPv4("address", p.Address, "10.0.1.20"); err != nil {
		return err
	}
	return scenarios.CheckIfName("dev", p.Dev)
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
	h, l, err := e.hostLink(ifc.Name)
	if err != nil {
		return err
	}
	defer h.Close()
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
	h, l, err := e.hostLink(ifc.Name)
	if err != nil {
		return err
	}
	defer h.Close()
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

// clearedDuplicateIP wants the address back with its owner alone: the
// intruder no longer holds it, only the owner's MAC answers an ARP
// request, and the neighbours' caches hold the owner's MAC.
func clearedDuplicateIP(ctx context.Context, e *Env, p *DuplicateIPParams) error {
	ifc, pfx, victim, err := e.duplicateIface(p)
	if err != nil {
		return err
	}
	a := pfx.Addr()
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("listing the addresses of host %q: %w", e.Host, err)
	}
	for _, x := range addrs {
		if x.IP.Equal(a.AsSlice()) {
			return fmt.Errorf("a machine that is not its owner still holds %s", a)
		}
	}
	owner, err := e.macOf(victim)
	if err != nil {
		return err
	}
	for _, o := range ifc.Network.Ends {
		if o == ifc || o == victim || !o.IPv4.IsValid() {
			continue
		}
		ns, err := e.Netns(o.Host.Name)
		if err != nil {
			return err
		}
		macs, err := arpWho(ns, o.Name, a, 300*time.Millisecond)
		if err != nil {
			return err
		}
		for _, m := range macs {
			if m.String() != owner.String() {
				return fmt.Errorf("a machine that is not its owner still answers ARP for %s", a)
			}
		}
		if mac, ok, err := neighMACIn(e, o, a); err != nil {
			return err
		} else if ok && mac.String() != owner.String() {
			return fmt.Errorf("a host of the network still sends traffic for %s to a machine that is not its owner", a)
		}
	}
	return nil
}
