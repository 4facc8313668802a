package probe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Route is one entry of the target's main routing table, as `ip route`
// shows it.
type Route struct {
	Family string `json:"family"` // "inet" or "inet6"
	// Dst is the destination prefix; Default is true for 0.0.0.0/0 or ::/0.
	Dst      netip.Prefix `json:"dst"`
	Default  bool         `json:"default"`
	Gateway  netip.Addr   `json:"gateway,omitzero"`
	Dev      string       `json:"dev"`
	Src      netip.Addr   `json:"src,omitzero"`
	Type     string       `json:"type"` // "unicast", "unreachable", "blackhole", "prohibit", "local", ...
	Scope    string       `json:"scope"`
	Protocol string       `json:"protocol"`
	Metric   int          `json:"metric"`
	MTU      int          `json:"mtu,omitempty"` // route mtu attribute, 0 when unset
}

// Routes lists the main routing table of the target, IPv4 then IPv6.
func Routes(t Target) ([]Route, error) {
	h, err := t.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	names, err := pnLinkNames(h)
	if err != nil {
		return nil, fmt.Errorf("listing links of %s: %w", t.Name(), err)
	}
	var out []Route
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("listing routes of %s: %w", t.Name(), err)
		}
		for _, r := range rs {
			out = append(out, pnRouteFrom(r, fam, names))
		}
	}
	return out, nil
}

// DefaultRoutes returns the default routes of the main table.
func DefaultRoutes(t Target) ([]Route, error) {
	rs, err := Routes(t)
	if err != nil {
		return nil, err
	}
	var out []Route
	for _, r := range rs {
		if r.Default {
			out = append(out, r)
		}
	}
	return out, nil
}

// RouteLookup is the kernel's answer to `ip route get DST`: where a packet
// to Dst would go now.
type RouteLookup struct {
	Dst     netip.Addr    `json:"dst"`
	Src     netip.Addr    `json:"src,omitzero"`     // the source address the kernel would choose
	Gateway netip.Addr    `json:"gateway,omitzero"` // next hop; zero when Dst is on-link
	Dev     string        `json:"dev"`
	Type    string        `json:"type"` // "unicast", "local", "broadcast", ...
	MTU     int           `json:"mtu,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// RouteError is a route lookup that the kernel refused, as `ip route get`
// prints "RTNETLINK answers: Network is unreachable". Errno is
// ENETUNREACH when no route matches, EHOSTUNREACH for an unreachable route,
// EACCES for a prohibit route and EINVAL for a blackhole route.
type RouteError struct {
	Target string        `json:"target"`
	Dst    netip.Addr    `json:"dst"`
	Errno  syscall.Errno `json:"errno"`
}

func (e *RouteError) Error() string {
	return fmt.Sprintf("route to %s on %s: %v", e.Dst, e.Target, e.Errno)
}

func (e *RouteError) Unwrap() error { return e.Errno }

// RouteGet asks the kernel which route a packet to dst takes, as
// `ip route get DST` does. When the kernel has no usable route the error is
// a *RouteError carrying the errno (errors.Is(err, unix.ENETUNREACH)).
func RouteGet(t Target, dst netip.Addr) (RouteLookup, error) {
	start := time.Now()
	res := RouteLookup{Dst: dst}
	h, err := t.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return res, err
	}
	defer h.Close()
	rs, err := h.RouteGetWithOptions(net.IP(dst.AsSlice()), &netlink.RouteGetOptions{})
	res.Elapsed = time.Since(start)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return res, &RouteError{Target: t.Name(), Dst: dst, Errno: errno}
		}
		return res, fmt.Errorf("looking up route to %s on %s: %w", dst, t.Name(), err)
	}
	if len(rs) == 0 {
		return res, &RouteError{Target: t.Name(), Dst: dst, Errno: unix.ENETUNREACH}
	}
	r := rs[0]
	res.Src = pnAddrOf(r.Src)
	res.Gateway = pnAddrOf(r.Gw)
	res.Type = pnRouteType(r.Type)
	res.MTU = r.MTU
	if r.LinkIndex > 0 {
		if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
			res.Dev = l.Attrs().Name
		}
	}
	return res, nil
}

func pnLinkNames(h *netlink.Handle) (map[int]string, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	return names, nil
}

func pnRouteFrom(r netlink.Route, fam int, names map[int]string) Route {
	out := Route{
		Family:   "inet",
		Gateway:  pnAddrOf(r.Gw),
		Dev:      names[r.LinkIndex],
		Src:      pnAddrOf(r.Src),
		Type:     pnRouteType(r.Type),
		Scope:    pnScopeName(r.Scope),
		Protocol: r.Protocol.String(),
		Metric:   r.Priority,
		MTU:      r.MTU,
	}
	if fam == netlink.FAMILY_V6 {
		out.Family = "inet6"
	}
	if r.Dst == nil {
		out.Default = true
		if fam == netlink.FAMILY_V6 {
			out.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		} else {
			out.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
	} else {
		ones, _ := r.Dst.Mask.Size()
		out.Dst = netip.PrefixFrom(pnAddrOf(r.Dst.IP), ones)
		out.Default = ones == 0
	}
	return out
}

func pnAddrOf(ip net.IP) netip.Addr {
	if ip == nil {
		return netip.Addr{}
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

func pnRouteType(t int) string {
	switch t {
	case unix.RTN_UNICAST:
		return "unicast"
	case unix.RTN_LOCAL:
		return "local"
	case unix.RTN_BROADCAST:
		return "broadcast"
	case unix.RTN_ANYCAST:
		return "anycast"
	case unix.RTN_MULTICAST:
		return "multicast"
	case unix.RTN_BLACKHOLE:
		return "blackhole"
	case unix.RTN_UNREACHABLE:
		return "unreachable"
	case unix.RTN_PROHIBIT:
		return "prohibit"
	case unix.RTN_THROW:
		return "throw"
	}
	return fmt.Sprintf("type%d", t)
}

// pnStr prints an address, "" for the zero address.
func pnStr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
