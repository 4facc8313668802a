package faults

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NoParams is the parameter type of faults that take none.
type NoParams struct{}

// Check implements Params.
func (*NoParams) Check() error { return nil }

func networkKinds() []Kind {
	return []Kind{
		{
			Name:      "no-default-route",
			Layer:     LayerNetwork,
			NeedsHost: true,
			Summary:   "The host's IPv4 default route is gone.",
			Symptom: "ping to any address off the local subnet prints \"connect: Network is unreachable\" at once; " +
				"nc prints \"Network is unreachable\"; curl prints \"Couldn't connect to server\"; `ip route` has no default line. " +
				"Addresses on the local subnet still answer.",
			Fix:       "Add the default route back: `ip route add default via GATEWAY` (the router on the host's LAN).",
			NewParams: func() Params { return &NoParams{} },
			Apply:     applyNoDefaultRoute,
			Revert:    revertNoDefaultRoute,
			Observe:   observeNoDefaultRoute,
		},
	}
}

func applyNoDefaultRoute(ctx context.Context, e *Env, _ Params) error {
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return err
	}
	deleted := 0
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			if err := h.RouteDel(&r); err != nil {
				return fmt.Errorf("deleting default route: %w", err)
			}
			deleted++
		}
	}
	if deleted == 0 {
		return errors.New("the host has no default route to delete")
	}
	return nil
}

func revertNoDefaultRoute(ctx context.Context, e *Env, _ Params) error {
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	for _, r := range e.ScenarioHost().Routes {
		if r.Dst.Bits() != 0 || !r.Dst.Addr().Is4() || r.Type != "unicast" {
			continue
		}
		rt := &netlink.Route{Gw: r.Via.AsSlice(), Priority: r.Metric}
		if r.Dev != "" {
			l, err := h.LinkByName(r.Dev)
			if err != nil {
				return err
			}
			rt.LinkIndex = l.Attrs().Index
		}
		if err := h.RouteReplace(rt); err != nil {
			return fmt.Errorf("restoring default route via %s: %w", r.Via, err)
		}
	}
	return nil
}

// observeNoDefaultRoute asks the kernel for a route off every local
// subnet, as `ip route get 198.51.100.1` does.
func observeNoDefaultRoute(ctx context.Context, e *Env, _ Params) error {
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	probe := net.ParseIP("198.51.100.254")
	if _, err := h.RouteGet(probe); errors.Is(err, unix.ENETUNREACH) {
		return nil
	} else if err != nil {
		return fmt.Errorf("route lookup for %s: %w", probe, err)
	}
	return fmt.Errorf("the host still has a route to %s", probe)
}

// handle is a netlink handle in the env's host.
func (e *Env) handle() (*netlink.Handle, error) {
	ns, err := e.Netns("")
	if err != nil {
		return nil, err
	}
	return ns.NetlinkHandle(unix.NETLINK_ROUTE)
}
