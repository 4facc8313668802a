package faults_test

import (
	"fmt"
	"strings"
	"testing"
)

// lanLab is a LAN of three hosts and a router, with a server on a second
// private subnet beyond the router. MACs are fixed so that tools can be
// checked for the right one.
const lanLab = `apiVersion: netdojo/v1
metadata: {name: lan, title: LAN}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24, mac: "02:00:00:00:01:10"}]
    routes: [{to: default, via: 10.0.1.1}]
  peer:
    interfaces: [{network: lan, ipv4: 10.0.1.20/24, mac: "02:00:00:00:01:20"}]
    routes: [{to: default, via: 10.0.1.1}]
    services:
      - {name: web, kind: http, params: {port: 80}}
  intruder:
    interfaces: [{network: lan, ipv4: 10.0.1.30/24, mac: "02:00:00:00:01:30"}]
    routes: [{to: default, via: 10.0.1.1}]
  router:
    interfaces: [{network: lan, ipv4: 10.0.1.1/24, mac: "02:00:00:00:01:01"}, {network: wan, ipv4: 10.0.2.1/24}]
    sysctls: {net.ipv4.ip_forward: "1"}
  server:
    interfaces: [{network: wan, ipv4: 10.0.2.80/24}]
    routes: [{to: default, via: 10.0.2.1}]
    services:
      - {name: web, kind: http, params: {port: 80}}
networks:
  lan: {type: bridge}
  wan: {type: p2p}
`

// expectAll returns nil when out contains every wanted string.
func expectAll(out string, want ...string) error {
	for _, w := range want {
		if err := expect(out, w); err != nil {
			return err
		}
	}
	return nil
}

// pingOK returns nil when one small ping from host to addr is answered.
func pingOK(l *labEnv, host, addr string) error {
	out, err := l.run(host, "ping", "-c", "1", "-W", "1", addr)
	if err != nil || !strings.Contains(out, " 1 received") {
		return fmt.Errorf("ping %s from %s: %v\n%s", addr, host, err, out)
	}
	return nil
}

func TestLinkFaults(t *testing.T) {
	cases := []struct {
		name string
		faultCase
	}{
		{"interface-down takes the host off its LAN", faultCase{
			kind: "interface-down", scenario: lanLab, host: "client", params: "dev: eth0",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "10.0.2.80")
				if err := expect(out, "Network is unreachable"); err != nil {
					return err
				}
				link, _ := l.run("client", "ip", "link", "show", "eth0")
				return expect(link, "state DOWN")
			},
			fix: []string{"client: ip link set eth0 up && ip route add default via 10.0.1.1"},
		}},
		{"mtu-mismatch drops full-size frames but not small ones", faultCase{
			kind: "mtu-mismatch", scenario: lanLab, host: "server", params: "{dev: eth0, mtu: 1400}",
			symptom: func(t *testing.T, l *labEnv) error {
				if err := pingOK(l, "router", "10.0.2.80"); err != nil {
					return fmt.Errorf("small pings must still work: %w", err)
				}
				out, _ := l.run("router", "ping", "-c", "1", "-W", "1", "-M", "do", "-s", "1472", "10.0.2.80")
				return expectAll(out, "1 packets transmitted, 0 received")
			},
			fix: []string{"server: ip link set eth0 mtu 1500"},
		}},
		{"wrong-netmask /32 leaves the gateway off-link", faultCase{
			kind: "wrong-netmask", scenario: lanLab, host: "client", params: "{dev: eth0, prefix: 32}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "10.0.2.80")
				if err := expect(out, "Network is unreachable"); err != nil {
					return err
				}
				addr, _ := l.run("client", "ip", "-4", "addr", "show", "eth0")
				return expect(addr, "10.0.1.10/32")
			},
			fix: []string{"client: ip addr replace 10.0.1.10/24 dev eth0 && ip addr del 10.0.1.10/32 dev eth0 && ip route replace default via 10.0.1.1"},
		}},
		{"wrong-netmask /16 puts the remote subnet on-link", faultCase{
			kind: "wrong-netmask", scenario: lanLab, host: "client", params: "{dev: eth0, prefix: 16}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "4", "10.0.2.80")
				return expectAll(out, "From 10.0.1.10 icmp_seq=1 Destination Host Unreachable")
			},
			fix: []string{"client: ip addr replace 10.0.1.10/24 dev eth0 && ip addr del 10.0.1.10/16 dev eth0 && ip route replace default via 10.0.1.1"},
		}},
		{"duplicate-ip makes the neighbours talk to the intruder", faultCase{
			kind: "duplicate-ip", scenario: lanLab, host: "intruder", params: "address: 10.0.1.20",
			symptom: func(t *testing.T, l *labEnv) error {
				l.run("client", "ping", "-c", "1", "-W", "1", "10.0.1.20")
				out, _ := l.run("client", "ip", "neigh", "show", "10.0.1.20", "dev", "eth0")
				return expect(out, "02:00:00:00:01:30")
			},
			fix: []string{"intruder: ip addr del 10.0.1.20/24 dev eth0", "client: ip neigh flush dev eth0", "router: ip neigh flush dev eth0"},
		}},
		{"broken-neighbour sends the gateway's frames to nobody", faultCase{
			kind: "broken-neighbour", scenario: lanLab, host: "client",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "10.0.1.1")
				if err := expect(out, "1 packets transmitted, 0 received"); err != nil {
					return err
				}
				neigh, _ := l.run("client", "ip", "neigh", "show", "10.0.1.1")
				return expectAll(neigh, "lladdr 02:00:5e:00:de:ad", "PERMANENT")
			},
			fix: []string{"client: ip neigh del 10.0.1.1 dev eth0"},
		}},
		{"bridge-port-down leaves the host without carrier", faultCase{
			kind: "bridge-port-down", scenario: lanLab, host: "client", params: "dev: eth0",
			symptom: func(t *testing.T, l *labEnv) error {
				link, _ := l.run("client", "ip", "link", "show", "eth0")
				if err := expectAll(link, "NO-CARRIER", ",UP>", "state DOWN"); err != nil {
					return err
				}
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "10.0.1.1")
				return expect(out, "0 received")
			},
			fix: []string{`client: ip -n "$NETDOJO_LAB._switch" link set client_eth0 up`},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runFaultCase(t, c.faultCase) })
	}
}
