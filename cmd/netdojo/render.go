package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/netdojo/netdojo/scenarios"
)

// renderTopology draws the scenario's networks as trees of the hosts on
// them, then each host's routes: readable at 3 hosts and at 200. A
// learner's view (start, show) draws neither routes nor MTUs:
// they are the healthy design, which is the fix of a route or MTU fault
// and the answer to a path MTU question; the learner reads them from the
// hosts, the author from the scenario file (demo draws them).
func renderTopology(w io.Writer, s *scenarios.Scenario, learner bool) {
	for _, n := range s.Networks {
		kind := n.Type
		switch {
		case n.Type == "bridge" && n.Owner != nil:
			kind = "bridge held by " + n.Owner.Name
		case n.Type == "vxlan":
			kind = fmt.Sprintf("vxlan vni %d over %s", n.VNI, n.Underlay.Name)
		}
		fmt.Fprintf(w, "%s (%s)\n", n.Name, kind)
		if n.Type == "p2p" || n.Type == "vxlan" {
			if len(n.Ends) == 2 {
				a, b := n.Ends[0], n.Ends[1]
				fmt.Fprintf(w, "  [%s] %s %s  <---->  %s %s [%s]\n", a.Host.Name, a.Name, addrs(a, learner), b.Name, addrs(b, learner), b.Host.Name)
			}
			continue
		}
		for i, e := range n.Ends {
			branch := "├─"
			if i == len(n.Ends)-1 {
				branch = "└─"
			}
			fmt.Fprintf(w, "  %s [%s] %s %s\n", branch, e.Host.Name, e.Name, addrs(e, learner))
		}
	}
	var routed []*scenarios.Host
	for _, h := range s.Hosts {
		if len(h.Routes) > 0 {
			routed = append(routed, h)
		}
	}
	if learner {
		fmt.Fprintln(w, "routes and MTUs: 'ip route' and 'ip link' in each host")
		return
	}
	if len(routed) > 0 {
		fmt.Fprintln(w, "routes")
		for _, h := range routed {
			for _, r := range h.Routes {
				fmt.Fprintf(w, "  [%s] %s\n", h.Name, routeText(r))
			}
		}
	}
}

func addrs(i *scenarios.Iface, learner bool) string {
	var parts []string
	if i.IPv4.IsValid() {
		parts = append(parts, i.IPv4.String())
	}
	if i.IPv6.IsValid() {
		parts = append(parts, i.IPv6.String())
	}
	if i.MTU != 1500 && !learner {
		parts = append(parts, fmt.Sprintf("mtu %d", i.MTU))
	}
	return strings.Join(parts, " ")
}

func routeText(r scenarios.RouteSpec) string {
	dst := r.Dst.String()
	if r.Dst.Bits() == 0 {
		dst = "default"
	}
	var b strings.Builder
	if r.Type != "unicast" {
		b.WriteString(r.Type + " ")
	}
	b.WriteString(dst)
	if r.Via.IsValid() {
		b.WriteString(" via " + r.Via.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	return b.String()
}
