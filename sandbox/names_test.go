package sandbox_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

// assertDevices checks, with iproute2 as the oracle, that every interface
// of every host exists under its name, and that every bridge port exists
// under scenarios.PortName, in the namespace that holds the bridge, as a
// port of that bridge.
func assertDevices(t *testing.T, lab *sandbox.Lab, s *scenarios.Scenario) {
	t.Helper()
	for _, h := range s.Hosts {
		ns := sandbox.NetnsName(lab.Name, h.Name)
		have := map[string]bool{}
		for _, l := range ipJSON(t, ns, "link", "show") {
			have[fmt.Sprint(l["ifname"])] = true
		}
		for _, ifc := range h.Interfaces {
			if !have[ifc.Name] {
				t.Errorf("host %s has no interface %q; it has %v", h.Name, ifc.Name, have)
			}
		}
	}
	for _, n := range s.Networks {
		if n.Type != "bridge" {
			continue
		}
		ns := lab.State.SwitchNetns
		if n.Owner != nil {
			ns = sandbox.NetnsName(lab.Name, n.Owner.Name)
		}
		ports := map[string]bool{}
		for _, l := range ipJSON(t, ns, "link", "show", "master", n.Name) {
			ports[fmt.Sprint(l["ifname"])] = true
		}
		for _, e := range n.Ends {
			if e.Host == n.Owner {
				continue
			}
			if p := scenarios.PortName(e.Host.Name, e.Name); !ports[p] {
				t.Errorf("bridge %s has no port %q for %s/%s; its ports are %v", n.Name, p, e.Host.Name, e.Name, ports)
			}
		}
	}
}

// TestNamesThatCollidedStart: host a with interface b-c and host a-b with
// interface c on one bridge once had the same switch port (a-b-c), so the
// file validated and start failed. Now both ports exist and the hosts
// reach each other through them.
func TestNamesThatCollidedStart(t *testing.T) {
	before := sandboxtest.Take(t)
	t.Cleanup(func() { sandboxtest.AssertUnchanged(t, before) }) // last: after every lab is stopped
	store := sandboxtest.NewStore(t)
	src := `apiVersion: netdojo/v1
metadata: {name: collide, title: Port names that once collided}
hosts:
  a:
    interfaces: [{name: b-c, network: lan, ipv4: 10.0.0.1/24}]
  a-b:
    interfaces: [{name: c, network: lan, ipv4: 10.0.0.2/24}]
  a-very-long-host-name:
    interfaces: [{name: fifteen-chars-x, network: lan, ipv4: 10.0.0.3/24}, {name: e.1, network: cni0, ipv4: 10.1.0.3/24}]
  node:
    interfaces: [{network: cni0, ipv4: 10.1.0.1/24}, {name: x_eth0, network: lan, ipv4: 10.0.0.4/24}]
networks:
  lan: {type: bridge}
  cni0: {type: bridge, host: node}
`
	s, err := scenarios.Load("collide.yaml", []byte(src), scenarios.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lab := startLab(t, store, s, sandboxtest.LabName("loader-c"))
	assertDevices(t, lab, s)
	run(t, lab, "a", "ping", "-c", "1", "-W", "2", "10.0.0.2")
	run(t, lab, "a-b", "ping", "-c", "1", "-W", "2", "10.0.0.3")
	run(t, lab, "node", "ping", "-c", "1", "-W", "2", "10.1.0.3")
}

// TestEveryNameValidateAcceptsStarts draws scenarios from the families of
// names that once validated and could not start (names that differ only
// where a dash joins them, reserved names such as lo, all and .., names at
// and over 15 bytes, bridges named like ports, a holder's interfaces named
// like its ports) and starts every one that validate accepts: what validate
// accepts, start builds, with every device named as planned.
func TestEveryNameValidateAcceptsStarts(t *testing.T) {
	before := sandboxtest.Take(t)
	t.Cleanup(func() { sandboxtest.AssertUnchanged(t, before) }) // last: after every lab is stopped
	store := sandboxtest.NewStore(t)
	hostNames := []string{"a", "a-b", "b", "b-c", "ab", "x", "a-b-c", "a-very-long-host-name"}
	ifNames := []string{"", "", "b-c", "c", "eth0", "eth1", "e.1", "E_x", "b_c", "a_eth0", "veth0", "fifteen-chars-x",
		"sixteen-chars-xx", "lo", "..", ".", "all", "default", "cni0", "lan"}
	netNames := []string{"lan", "lan", "a_eth0", "a-b_c", "cni0", "n.1", "b-c", "lo", "all", "x_eth0"}
	r := rand.New(rand.NewPCG(9, 9))
	accepted, refused := 0, 0
	for i := 0; accepted < 12 && i < 400; i++ {
		var b strings.Builder
		b.WriteString("apiVersion: netdojo/v1\nmetadata: {name: names, title: Names}\nhosts:\n")
		hosts := map[string]bool{}
		nets := map[string]string{} // network -> holder
		used := map[string]int{}
		var order []string
		for len(hosts) < 2+r.IntN(3) {
			h := hostNames[r.IntN(len(hostNames))]
			if hosts[h] {
				continue
			}
			hosts[h] = true
			order = append(order, h)
		}
		octet := 1
		for _, h := range order {
			fmt.Fprintf(&b, "  %s:\n    interfaces:\n", h)
			for j := 0; j < 1+r.IntN(2); j++ {
				n := netNames[r.IntN(len(netNames))]
				if _, ok := nets[n]; !ok {
					nets[n] = ""
					if r.IntN(4) == 0 {
						nets[n] = h // this host holds the bridge
					}
				}
				used[n]++
				octet++
				fmt.Fprintf(&b, "      - {network: %q, ipv4: 10.9.%d.%d/24", n, used[n], octet)
				if name := ifNames[r.IntN(len(ifNames))]; name != "" {
					fmt.Fprintf(&b, ", name: %q", name)
				}
				b.WriteString("}\n")
			}
		}
		b.WriteString("networks:\n")
		for n, holder := range nets {
			fmt.Fprintf(&b, "  %q: {type: bridge", n)
			if holder != "" {
				fmt.Fprintf(&b, ", host: %s", holder)
			}
			b.WriteString("}\n")
		}
		s, err := scenarios.Load("names.yaml", []byte(b.String()), scenarios.Options{})
		if err != nil {
			refused++
			continue
		}
		accepted++
		t.Run(fmt.Sprintf("accepted scenario %d starts", i), func(t *testing.T) {
			lab := startLab(t, store, s, sandboxtest.LabName("loader-n"))
			assertDevices(t, lab, s)
			if t.Failed() {
				t.Logf("scenario:\n%s", b.String())
			}
		})
	}
	if accepted < 12 || refused < 12 {
		t.Errorf("the draw gave %d accepted and %d refused scenarios; want at least 12 of each, or it tests too little", accepted, refused)
	}
}
