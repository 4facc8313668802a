package probe

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Link is one network interface as `ip -s link` shows it.
type Link struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	Kind  string `json:"kind"` // "veth", "bridge", "device" (loopback and physical), ...
	// OperState is the kernel's operational state: "up", "down",
	// "lowerlayerdown", "unknown" (loopback), ...
	OperState string    `json:"oper_state"`
	AdminUp   bool      `json:"admin_up"` // IFF_UP: `ip link set X up` was done
	LowerUp   bool      `json:"lower_up"` // IFF_LOWER_UP: carrier (the peer is up)
	Loopback  bool      `json:"loopback"` // IFF_LOOPBACK
	MTU       int       `json:"mtu"`      // bytes
	MAC       string    `json:"mac"`      // "" for none
	Master    string    `json:"master"`   // bridge the link is enslaved to
	Stats     LinkStats `json:"stats"`
}

// Up reports whether the link can carry traffic: administratively up and
// with a carrier (loopback counts as up when administratively up).
func (l Link) Up() bool {
	if l.Loopback {
		return l.AdminUp
	}
	return l.AdminUp && l.LowerUp
}

// LinkStats are the link's 64-bit counters.
type LinkStats struct {
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxErrors  uint64 `json:"rx_errors"`
	TxErrors  uint64 `json:"tx_errors"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
}

// Addr is an address assigned to a link.
type Addr struct {
	Link   string       `json:"link"`
	Index  int          `json:"index"`
	Family string       `json:"family"` // "inet" or "inet6"
	Prefix netip.Prefix `json:"prefix"` // address with its prefix length
	Scope  string       `json:"scope"`  // "global", "link", "host"
	// Tentative is true for an IPv6 address still in duplicate address
	// detection: it cannot be used yet.
	Tentative bool `json:"tentative,omitempty"`
}

// LinkReport is the result of Links.
type LinkReport struct {
	Target  string        `json:"target"`
	Links   []Link        `json:"links"`
	Addrs   []Addr        `json:"addrs"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Links lists the target's links and addresses through netlink.
func Links(t Target) (LinkReport, error) {
	start := time.Now()
	rep := LinkReport{Target: t.Name()}
	h, err := t.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return rep, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return rep, fmt.Errorf("listing links of %s: %w", t.Name(), err)
	}
	names := map[int]string{}
	for _, nl := range links {
		names[nl.Attrs().Index] = nl.Attrs().Name
	}
	for _, nl := range links {
		rep.Links = append(rep.Links, pnLinkFrom(nl, names))
	}
	sort.Slice(rep.Links, func(i, j int) bool { return rep.Links[i].Index < rep.Links[j].Index })
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return rep, fmt.Errorf("listing addresses of %s: %w", t.Name(), err)
	}
	for _, a := range addrs {
		ad, ok := pnAddrFrom(a, names)
		if ok {
			rep.Addrs = append(rep.Addrs, ad)
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// Link returns one link by name.
func (r LinkReport) Link(name string) (Link, bool) {
	for _, l := range r.Links {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

// AddrsOf returns the addresses of one link.
func (r LinkReport) AddrsOf(name string) []Addr {
	var out []Addr
	for _, a := range r.Addrs {
		if a.Link == name {
			out = append(out, a)
		}
	}
	return out
}

func pnLinkFrom(nl netlink.Link, names map[int]string) Link {
	a := nl.Attrs()
	l := Link{
		Index:     a.Index,
		Name:      a.Name,
		Kind:      nl.Type(),
		OperState: a.OperState.String(),
		AdminUp:   a.RawFlags&unix.IFF_UP != 0,
		LowerUp:   a.RawFlags&unix.IFF_LOWER_UP != 0,
		Loopback:  a.RawFlags&unix.IFF_LOOPBACK != 0,
		MTU:       a.MTU,
	}
	if len(a.HardwareAddr) > 0 {
		l.MAC = a.HardwareAddr.String()
	}
	if a.MasterIndex > 0 {
		l.Master = names[a.MasterIndex]
	}
	if s := a.Statistics; s != nil {
		l.Stats = LinkStats{
			RxPackets: s.RxPackets, TxPackets: s.TxPackets,
			RxBytes: s.RxBytes, TxBytes: s.TxBytes,
			RxErrors: s.RxErrors, TxErrors: s.TxErrors,
			RxDropped: s.RxDropped, TxDropped: s.TxDropped,
		}
	}
	return l
}

func pnAddrFrom(a netlink.Addr, names map[int]string) (Addr, bool) {
	if a.IPNet == nil {
		return Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return Addr{}, false
	}
	ip = ip.Unmap()
	ones, _ := a.Mask.Size()
	fam := "inet"
	if ip.Is6() {
		fam = "inet6"
	}
	return Addr{
		Link:      names[a.LinkIndex],
		Index:     a.LinkIndex,
		Family:    fam,
		Prefix:    netip.PrefixFrom(ip, ones),
		Scope:     pnScopeName(netlink.Scope(a.Scope)),
		Tentative: a.Flags&unix.IFA_F_TENTATIVE != 0,
	}, true
}

func pnScopeName(s netlink.Scope) string {
	switch s {
	case netlink.SCOPE_UNIVERSE:
		return "global"
	case netlink.SCOPE_LINK:
		return "link"
	case netlink.SCOPE_HOST:
		return "host"
	case netlink.SCOPE_SITE:
		return "site"
	case netlink.SCOPE_NOWHERE:
		return "nowhere"
	}
	return fmt.Sprintf("%d", int(s))
}
