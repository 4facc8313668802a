package probe

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Neighbour is one entry of the ARP (IPv4) or NDP (IPv6) table, as
// `ip neigh` shows it.
type Neighbour struct {
	Family string     `json:"family"` // "inet" or "inet6"
	IP     netip.Addr `json:"ip"`
	Dev    string     `json:"dev"`
	MAC    string     `json:"mac,omitempty"` // "" while unresolved
	// State is the kernel's NUD state: "REACHABLE", "STALE", "DELAY",
	// "PROBE", "FAILED", "INCOMPLETE", "PERMANENT", "NOARP", ...
	State  string `json:"state"`
	Router bool   `json:"router,omitempty"` // NDP: the neighbour is a router
}

// Failed reports whether resolution of the neighbour failed: nobody
// answered ARP or neighbour solicitation.
func (n Neighbour) Failed() bool { return strings.Contains(n.State, "FAILED") }

// Neighbours lists the target's ARP and NDP tables.
func Neighbours(t Target) ([]Neighbour, error) {
	h, err := t.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	names, err := pnLinkNames(h)
	if err != nil {
		return nil, fmt.Errorf("listing links of %s: %w", t.Name(), err)
	}
	var out []Neighbour
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := h.NeighList(0, fam)
		if err != nil {
			return nil, fmt.Errorf("listing neighbours of %s: %w", t.Name(), err)
		}
		for _, n := range ns {
			ip := pnAddrOf(n.IP)
			if !ip.IsValid() || ip.IsMulticast() {
				continue
			}
			nb := Neighbour{
				Family: "inet",
				IP:     ip,
				Dev:    names[n.LinkIndex],
				State:  pnNeighState(n.State),
				Router: n.Flags&netlink.NTF_ROUTER != 0,
			}
			if fam == netlink.FAMILY_V6 {
				nb.Family = "inet6"
			}
			if len(n.HardwareAddr) > 0 {
				nb.MAC = n.HardwareAddr.String()
			}
			out = append(out, nb)
		}
	}
	return out, nil
}

func pnNeighState(s int) string {
	names := []struct {
		bit  int
		name string
	}{
		{netlink.NUD_INCOMPLETE, "INCOMPLETE"},
		{netlink.NUD_REACHABLE, "REACHABLE"},
		{netlink.NUD_STALE, "STALE"},
		{netlink.NUD_DELAY, "DELAY"},
		{netlink.NUD_PROBE, "PROBE"},
		{netlink.NUD_FAILED, "FAILED"},
		{netlink.NUD_NOARP, "NOARP"},
		{netlink.NUD_PERMANENT, "PERMANENT"},
	}
	var parts []string
	for _, n := range names {
		if s&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "NONE"
	}
	return strings.Join(parts, ",")
}
