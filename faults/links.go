// Link faults on the host's own interfaces and its switch port: interface-down and bridge-port-down.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

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

// DevParams name one interface of the host.
type DevParams struct {
	Dev string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"The host's interface, such as eth0 (default: its first interface)."`
}

// Check implements Params.
func (p *DevParams) Check() error { return scenarios.CheckIfName("dev", p.Dev) }

// ---- interface-down

func applyInterfaceDown(ctx context.Context, e *Env, p *DevParams) error {
	ifc, h, l, err := e.ifaceLink(p.Dev)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.LinkSetDown(l); err != nil {
		return fmt.Errorf("setting %q down: %w", ifc.Name, err)
	}
	return nil
}

func revertInterfaceDown(ctx context.Context, e *Env, p *DevParams) error {
	ifc, h, l, err := e.ifaceLink(p.Dev)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.LinkSetUp(l); err != nil {
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
	ifc, h, l, err := e.ifaceLink(p.Dev)
	if err != nil {
		return err
	}
	defer h.Close()
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

func clearedInterfaceDown(ctx context.Context, e *Env, p *DevParams) error {
	ifc, h, l, err := e.ifaceLink(p.Dev)
	if err != nil {
		return err
	}
	defer h.Close()
	if l.Attrs().Flags&net.FlagUp == 0 {
		return errors.New("an interface is still administratively down")
	}
	sh := e.ScenarioHost()
	return e.scenarioRoutesBack(func(r scenarios.RouteSpec) bool { return routeDevAny(sh, r) == ifc })
}

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

// ---- bridge-port-down

// onSwitchPort calls fn with the host's interface dev, a netlink handle
// in the namespace of its switch and the name of its port there.
func (e *Env) onSwitchPort(dev string, fn func(ifc *scenarios.Iface, h *netlink.Handle, port string) error) error {
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
	h, err := ns.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(ifc, h, port)
}

func setBridgePort(e *Env, dev string, up bool) error {
	return e.onSwitchPort(dev, func(ifc *scenarios.Iface, h *netlink.Handle, port string) error {
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
	})
}

func observeBridgePortDown(ctx context.Context, e *Env, p *DevParams) error {
	ifc, h, l, err := e.ifaceLink(p.Dev)
	if err != nil {
		return err
	}
	defer h.Close()
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

func clearedBridgePort(ctx context.Context, e *Env, p *DevParams) error {
	var ifc *scenarios.Iface
	err := e.onSwitchPort(p.Dev, func(i *scenarios.Iface, h *netlink.Handle, port string) error {
		ifc = i
		l, err := h.LinkByName(port)
		if err != nil {
			return fmt.Errorf("finding switch port %q: %w", port, err)
		}
		if l.Attrs().Flags&net.FlagUp == 0 {
			return errors.New("a switch port still carries no signal")
		}
		return nil
	})
	if err != nil {
		return err
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
