// The mtu-mismatch fault: one end of a link with a smaller MTU than the other.

package faults

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/netdojo/netdojo/scenarios"
	"golang.org/x/sys/unix"
)

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

// MTUParams shrink one interface's MTU.
type MTUParams struct {
	Dev string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"The host's interface, such as eth0 (default: its first interface)."`
	MTU int    `yaml:"mtu,omitempty" json:"mtu,omitempty" doc:"The wrong MTU, smaller than the other end's (68 to 65535, default 1400)."`
}

// Check implements Params.
func (p *MTUParams) Check() error {
	if err := scenarios.CheckRange("mtu", &p.MTU, 1400, 68, 65535); err != nil {
		return err
	}
	return scenarios.CheckIfName("dev", p.Dev)
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

// linkMTU reads an interface's MTU in a host.
func (e *Env) linkMTU(host, dev string) (int, error) {
	ns, err := e.Netns(host)
	if err != nil {
		return 0, err
	}
	h, err := ns.NetlinkHandle(unix.NETLINK_ROUTE)
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
