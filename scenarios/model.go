package scenarios

import (
	"net"
	"net/netip"
	"sort"
)

// Scenario is a checked scenario, resolved into the model the sandbox
// builds: hosts and networks in file order, names resolved to pointers,
// defaults filled in, parameters drawn.
type Scenario struct {
	File    string
	Seed    uint64
	Values  map[string]string // drawn parameter values
	Name    string
	Title   string
	Level   string
	Topics  []string
	Minutes int
	Story   string

	Hosts    []*Host
	Networks []*Network

	Faults     []Fault
	Tasks      []Task
	Invariants []Invariant
	Hints      []string
	Solution   []Step
	WrongFixes []WrongFix

	Raw *File
}

// Host is a resolved host.
type Host struct {
	Name       string
	Interfaces []*Iface
	Routes     []RouteSpec
	Sysctls    []Sysctl
	DNS        DNS
	HostsFile  []HostsEntry
	Services   []Service
	Setup      []string
}

// Service is a daemon a host runs, resolved: its kind's parameters are
// decoded and checked once, when the scenario loads.
type Service struct {
	Name string
	Kind string
	// Params is the kind's parameter struct (the pointer the services
	// Registry gave) after Check, with its defaults filled in; nil when the
	// scenario was loaded without a services Registry. It is the plan's
	// own: read it, and take ParamsCopy to change it.
	Params any
}

// ParamsCopy is a deep copy of the service's parameters, the caller's to
// change.
func (s Service) ParamsCopy() any { return CopyParams(s.Params) }

// Fault is a fault the lab starts with, resolved: its kind's parameters
// are decoded and checked once, when the scenario loads.
type Fault struct {
	Name string // as written; "" stands for the kind
	Kind string
	Host string
	// Params is the kind's parameter struct (the pointer the faults
	// Registry gave) after Check; nil when the scenario was loaded without
	// a faults Registry. It is the plan's own: take ParamsCopy to change it.
	Params any
	// Accepts lists the workarounds this scenario counts as clearing the
	// fault.
	Accepts []Workaround
}

// ParamsCopy is a deep copy of the fault's parameters, the caller's to
// change.
func (f Fault) ParamsCopy() any { return CopyParams(f.Params) }

// Iface is a resolved interface.
type Iface struct {
	Host    *Host
	Name    string
	Network *Network
	IPv4    netip.Prefix // invalid when unset
	IPv6    netip.Prefix
	MTU     int
	MAC     net.HardwareAddr
}

// Network is a resolved network.
type Network struct {
	Name     string
	Type     string // bridge, p2p, vxlan
	MTU      int
	Owner    *Host // bridge held by a host, nil for the lab's switch namespace
	VNI      int
	Underlay *Network
	Port     int
	Ends     []*Iface
}

// RouteSpec is a resolved route.
type RouteSpec struct {
	Dst    netip.Prefix
	Via    netip.Addr // invalid when unset
	Dev    string
	Metric int
	Type   string // unicast, blackhole, unreachable, prohibit
}

// Sysctl is one namespace sysctl.
type Sysctl struct {
	Key, Value string
}

// IfaceWithAddr returns the interface that holds address a (IPv4 or
// IPv6), or nil.
func (s *Scenario) IfaceWithAddr(a netip.Addr) *Iface {
	for _, h := range s.Hosts {
		for _, i := range h.Interfaces {
			if i.IPv4.IsValid() && i.IPv4.Addr() == a || i.IPv6.IsValid() && i.IPv6.Addr() == a {
				return i
			}
		}
	}
	return nil
}

// Host returns the host of that name, or nil.
func (s *Scenario) Host(name string) *Host {
	for _, h := range s.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Network returns the network of that name, or nil.
func (s *Scenario) Network(name string) *Network {
	for _, n := range s.Networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Iface returns the host's interface of that name, or nil.
func (h *Host) Iface(name string) *Iface {
	for _, i := range h.Interfaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// IfaceOn returns the host's interface on a network, or nil.
func (h *Host) IfaceOn(n *Network) *Iface {
	for _, i := range h.Interfaces {
		if i.Network == n {
			return i
		}
	}
	return nil
}

// Addr4 is the host's first IPv4 address, or an invalid address.
func (h *Host) Addr4() netip.Addr {
	for _, i := range h.Interfaces {
		if i.IPv4.IsValid() {
			return i.IPv4.Addr()
		}
	}
	return netip.Addr{}
}

// Peer is the other end of a point-to-point or vxlan network.
func (i *Iface) Peer() *Iface {
	for _, e := range i.Network.Ends {
		if e != i {
			return e
		}
	}
	return nil
}

// ordered returns map keys in the order they appear in the file.
func ordered[T any](m map[string]T, pos positions, prefix string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := pos.keyAt(join(prefix, keys[i])), pos.keyAt(join(prefix, keys[j]))
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return keys[i] < keys[j]
	})
	return keys
}
