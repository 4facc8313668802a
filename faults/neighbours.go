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

// Neighbour caches for the link faults: the entries a fault plants in
// other hosts' caches, the gateways a host resolves in each family, and
// what a cache holds for an address.

// neighbourTarget is one neighbour entry the fault plants.
type neighbourTarget struct {
	addr netip.Addr
	ifc  *scenarios.Iface
}

// neighbourTargets are the entries the fault plants: the address given,
// or the default gateway in every family the host has one (a host with
// an intact IPv6 gateway would reach everything over IPv6).
func (e *Env) neighbourTargets(p *NeighbourParams) ([]neighbourTarget, error) {
	a, ifc, err := e.neighbourTarget(p)
	if err != nil {
		return nil, err
	}
	out := []neighbourTarget{{a, ifc}}
	if p.Address != "" {
		return out, nil
	}
	sh := e.ScenarioHost()
	for _, r := range sh.Routes {
		if r.Dst.Bits() == 0 && r.Dst.Addr().Is6() && r.Via.IsValid() && !r.Via.IsLinkLocalUnicast() {
			if i := routeDevAny(sh, r); i != nil {
				out = append(out, neighbourTarget{r.Via, i})
			}
		}
	}
	return out, nil
}

// duplicateCaches sets, on every third host of the intruder's network,
// the neighbour entry of addr to mac (nil: deletes it).
func (e *Env) duplicateCaches(ifc *scenarios.Iface, addr netip.Addr, mac net.HardwareAddr) error {
	_, _, victim, err := e.duplicateIface(&DuplicateIPParams{Address: addr.String(), Dev: ifc.Name})
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range ifc.Network.Ends {
		if o == ifc || o == victim || !o.IPv4.IsValid() {
			continue
		}
		ns, err := e.Netns(o.Host.Name)
		if err != nil {
			return err
		}
		h, err := ns.NetlinkHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		l, err := h.LinkByName(o.Name)
		if err == nil {
			n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4, IP: addr.AsSlice()}
			if mac != nil {
				n.State, n.HardwareAddr = netlink.NUD_REACHABLE, mac
				err = h.NeighSet(n)
			} else if err = h.NeighDel(n); errors.Is(err, unix.ENOENT) {
				err = nil
			}
		}
		h.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("setting the neighbour entry of %s on host %q: %w", addr, o.Host.Name, err))
		}
	}
	return errors.Join(errs...)
}

// neighMACIn is neighMAC in the env's lab.
func neighMACIn(e *Env, ifc *scenarios.Iface, a netip.Addr) (net.HardwareAddr, bool, error) {
	ns, err := e.Netns(ifc.Host.Name)
	if err != nil {
		return nil, false, err
	}
	h, err := ns.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, false, err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return nil, false, fmt.Errorf("finding interface %q of host %q: %w", ifc.Name, ifc.Host.Name, err)
	}
	fam := netlink.FAMILY_V4
	if a.Is6() {
		fam = netlink.FAMILY_V6
	}
	neighs, err := h.NeighList(l.Attrs().Index, fam)
	if err != nil {
		return nil, false, fmt.Errorf("listing neighbours of host %q: %w", ifc.Host.Name, err)
	}
	for _, n := range neighs {
		if n.IP.Equal(a.AsSlice()) && n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 && len(n.HardwareAddr) > 0 {
			return n.HardwareAddr, true, nil
		}
	}
	return nil, false, nil
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

// NeighbourParams plant a wrong neighbour entry.
type NeighbourParams struct {
	Address string `yaml:"address,omitempty" json:"address,omitempty" doc:"The neighbour's IPv4 address (default: the host's default gateway)."`
	MAC     string `yaml:"mac,omitempty" json:"mac,omitempty" doc:"The wrong MAC address (default 02:00:5e:00:de:ad, which nobody has)."`
}

// Check implements Params.
func (p *NeighbourParams) Check() error {
	if _, err := scenarios.CheckIPv4("address", p.Address, "10.0.1.1"); err != nil {
		return err
	}
	if p.MAC == "" {
		p.MAC = "02:00:5e:00:de:ad"
	}
	if m, err := net.ParseMAC(p.MAC); err != nil || len(m) != 6 {
		return scenarios.FieldErrorf("mac", "%q is not an Ethernet MAC address; give one such as \"02:00:5e:00:de:ad\"", p.MAC)
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
	mac, _ := net.ParseMAC(np.MAC)
	return e.eachNeighbourEntry(np, func(h *netlink.Handle, t neighbourTarget, n *netlink.Neigh) error {
		n.State, n.HardwareAddr = netlink.NUD_PERMANENT, mac
		if err := h.NeighSet(n); err != nil {
			return fmt.Errorf("setting neighbour %s to %s on %q: %w", t.addr, mac, t.ifc.Name, err)
		}
		return nil
	})
}

func revertBrokenNeighbour(ctx context.Context, e *Env, p *NeighbourParams) error {
	return e.eachNeighbourEntry(p, func(h *netlink.Handle, t neighbourTarget, n *netlink.Neigh) error {
		if err := h.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("deleting neighbour %s on %q: %w", t.addr, t.ifc.Name, err)
		}
		return nil
	})
}

// eachNeighbourEntry calls fn with a netlink handle in the host and the
// neighbour entry (interface, family, address) of each of the fault's
// targets.
func (e *Env) eachNeighbourEntry(p *NeighbourParams, fn func(h *netlink.Handle, t neighbourTarget, n *netlink.Neigh) error) error {
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
		if err := fn(h, t, &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, IP: t.addr.AsSlice()}); err != nil {
			return err
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
	h, l, err := e.hostLink(ifc.Name)
	if err != nil {
		return err
	}
	defer h.Close()
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

func (e *Env) macOf(ifc *scenarios.Iface) (net.HardwareAddr, error) {
	ns, err := e.Netns(ifc.Host.Name)
	if err != nil {
		return nil, err
	}
	h, err := ns.NetlinkHandle(unix.NETLINK_ROUTE)
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
