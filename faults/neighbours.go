package faults

// Neighbour caches for the link faults: the entries a fault plants in
// other hosts' caches, the gateways a host resolves in each family, and
// what a cache holds for an address.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

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
		h, err := ns.NetlinkHandle()
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
	h, err := ns.NetlinkHandle()
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
