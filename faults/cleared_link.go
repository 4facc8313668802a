package faults

// Cleared judgements of the link faults: the interface, its address and
// MTU, the neighbour caches and the switch port, each where the fault
// put it.

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

// routeDevAny is routeDev for both families.
func routeDevAny(sh *scenarios.Host, r scenarios.RouteSpec) *scenarios.Iface {
	if i := routeDev(sh, r); i != nil {
		return i
	}
	for _, i := range sh.Interfaces {
		if r.Via.IsValid() && i.IPv6.IsValid() && i.IPv6.Masked().Contains(r.Via) {
			return i
		}
	}
	return nil
}

// ---- link

func clearedInterfaceDown(ctx context.Context, e *Env, p *DevParams) error {
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
	if l.Attrs().Flags&net.FlagUp == 0 {
		return errors.New("an interface is still administratively down")
	}
	sh := e.ScenarioHost()
	return e.scenarioRoutesBack(func(r scenarios.RouteSpec) bool { return routeDevAny(sh, r) == ifc })
}

// linkMTU reads an interface's MTU in a host.
func (e *Env) linkMTU(host, dev string) (int, error) {
	ns, err := e.Netns(host)
	if err != nil {
		return 0, err
	}
	h, err := ns.NetlinkHandle()
	if err != nil {
		return 0, err
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		return 0, fmt.Errorf("finding interface %q of host %q: %w", dev, host, err)
	}
	return l.Attrs().MTU, nil
}

// clearedMTUMismatch wants every end of the link at the MTU the network
// has: the host's raised back, not the others lowered to meet it.
func clearedMTUMismatch(ctx context.Context, e *Env, p *MTUParams) error {
	ifc, err := e.iface(p.Dev)
	if err != nil {
		return err
	}
	for _, end := range append([]*scenarios.Iface{ifc}, mtuPeers(ifc)...) {
		mtu, err := e.linkMTU(end.Host.Name, end.Name)
		if err != nil {
			return err
		}
		if mtu != end.MTU {
			return errors.New("the ends of a link still disagree on the largest frame they take")
		}
	}
	return nil
}

func clearedWrongNetmask(ctx context.Context, e *Env, np *NetmaskParams) error {
	ifc, err := e.netmaskIface(np)
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

func clearedBrokenNeighbour(ctx context.Context, e *Env, np *NeighbourParams) error {
	targets, err := e.neighbourTargets(np)
	if err != nil {
		return err
	}
	bad, _ := net.ParseMAC(np.MAC)
	for _, t := range targets {
		mac, cached, err := neighMACIn(e, t.ifc, t.addr)
		if err != nil {
			return err
		}
		owner, known := hostOf(e.Scenario, t.addr)
		if known {
			real, err := e.macOf(owner)
			if err != nil {
				return err
			}
			if real.String() == bad.String() {
				return fmt.Errorf("traffic for %s still goes to a MAC address its owner did not have; the owner's interface was changed to match it", t.addr)
			}
			if cached && mac.String() != real.String() {
				return fmt.Errorf("traffic for %s still goes to a MAC address that is not its owner's", t.addr)
			}
		} else if cached && mac.String() == bad.String() {
			return fmt.Errorf("traffic for %s still goes to a MAC address that no machine of the network has", t.addr)
		}
	}
	return nil
}

func clearedBridgePort(ctx context.Context, e *Env, p *DevParams) error {
	ifc, err := e.iface(p.Dev)
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
	if err != nil {
		return fmt.Errorf("finding switch port %q: %w", port, err)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		return errors.New("a switch port still carries no signal")
	}
	hh, err := e.handle()
	if err != nil {
		return err
	}
	defer hh.Close()
	hl, err := hh.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding interface %q: %w", ifc.Name, err)
	}
	if hl.Attrs().RawFlags&unix.IFF_LOWER_UP == 0 {
		return errors.New("an interface still has no carrier")
	}
	return nil
}
