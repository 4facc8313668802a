package drill

import "github.com/netdojo/netdojo/scenarios"

// topologyOf draws the lab as hosts and links; nothing is marked broken
// until the drill reveals its faults.
func topologyOf(s *scenarios.Scenario) Topology {
	var t Topology
	for _, h := range s.Hosts {
		th := TopoHost{Name: h.Name}
		for _, i := range h.Interfaces {
			if i.IPv4.IsValid() {
				th.Addrs = append(th.Addrs, i.IPv4.String())
			}
			if i.IPv6.IsValid() {
				th.Addrs = append(th.Addrs, i.IPv6.String())
			}
			t.Links = append(t.Links, TopoLink{Host: h.Name, Iface: i.Name, Network: i.Network.Name})
		}
		t.Hosts = append(t.Hosts, th)
	}
	return t
}

// markBroken marks a fault's host (and, when the fault names one of its
// interfaces, that link) as broken.
func (t *Topology) markBroken(host, dev string) {
	for i := range t.Hosts {
		if t.Hosts[i].Name == host {
			t.Hosts[i].Broken = true
		}
	}
	for i := range t.Links {
		if t.Links[i].Host == host && dev != "" && t.Links[i].Iface == dev {
			t.Links[i].Broken = true
		}
	}
}
