package faults_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

// chainLab is a client LAN, three routers in a row and a public server
// with a large page. r1 has specific routes only, so losing one shows.
const chainLab = `apiVersion: netdojo/v1
metadata: {name: chain, title: Chain}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
    routes: [{to: default, via: 10.0.1.1}]
  r1:
    interfaces: [{network: lan, ipv4: 10.0.1.1/24}, {network: core1, ipv4: 10.0.12.1/24}]
    routes:
      - {to: 10.0.23.0/24, via: 10.0.12.2}
      - {to: 203.0.113.0/24, via: 10.0.12.2}
    sysctls: {net.ipv4.ip_forward: "1"}
  r2:
    interfaces: [{network: core1, ipv4: 10.0.12.2/24}, {network: core2, ipv4: 10.0.23.2/24}]
    routes:
      - {to: 10.0.1.0/24, via: 10.0.12.1}
      - {to: 203.0.113.0/24, via: 10.0.23.3}
    sysctls: {net.ipv4.ip_forward: "1"}
  r3:
    interfaces: [{network: core2, ipv4: 10.0.23.3/24}, {network: wan, ipv4: 203.0.113.1/24}]
    routes: [{to: 10.0.0.0/16, via: 10.0.23.2}]
    sysctls: {net.ipv4.ip_forward: "1"}
  server:
    interfaces: [{network: wan, ipv4: 203.0.113.80/24}]
    routes: [{to: default, via: 203.0.113.1}]
    services:
      - {name: web, kind: http, params: {port: 80, body_size: 1000000}}
networks:
  lan: {type: bridge}
  core1: {type: p2p}
  core2: {type: p2p}
  wan: {type: bridge}
`

// asymLab sends the server's answers back through r2, while the client's
// requests reach it through r1.
const asymLab = `apiVersion: netdojo/v1
metadata: {name: asym, title: Asymmetric}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
    routes: [{to: default, via: 10.0.1.1}]
  r1:
    interfaces: [{network: lan, ipv4: 10.0.1.1/24}, {network: dmz, ipv4: 203.0.113.1/24}, {network: core, ipv4: 10.0.12.1/24}]
    sysctls:
      net.ipv4.ip_forward: "1"
      net.ipv4.conf.all.rp_filter: "0"
      net.ipv4.conf.eth0.rp_filter: "0"
      net.ipv4.conf.eth1.rp_filter: "0"
      net.ipv4.conf.eth2.rp_filter: "0"
  r2:
    interfaces: [{network: core, ipv4: 10.0.12.2/24}, {network: back, ipv4: 198.51.100.1/24}]
    routes: [{to: 10.0.1.0/24, via: 10.0.12.1}]
    sysctls: {net.ipv4.ip_forward: "1", net.ipv4.conf.all.rp_filter: "0", net.ipv4.conf.eth0.rp_filter: "0", net.ipv4.conf.eth1.rp_filter: "0"}
  server:
    interfaces: [{network: dmz, ipv4: 203.0.113.80/24}, {network: back, ipv4: 198.51.100.80/24}]
    routes: [{to: default, via: 198.51.100.1}]
    sysctls: {net.ipv4.conf.all.rp_filter: "0", net.ipv4.conf.eth0.rp_filter: "0", net.ipv4.conf.eth1.rp_filter: "0"}
    services:
      - {name: web, kind: http, params: {port: 80}}
networks:
  lan: {type: bridge}
  dmz: {type: p2p}
  core: {type: p2p}
  back: {type: p2p}
`

// natLab is a private LAN behind a NAT router; the public server has no
// route back to the private subnet.
const natLab = `apiVersion: netdojo/v1
metadata: {name: nat, title: NAT}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
    routes: [{to: default, via: 10.0.1.1}]
  router:
    interfaces: [{network: lan, ipv4: 10.0.1.1/24}, {network: wan, ipv4: 203.0.113.1/24}]
    sysctls: {net.ipv4.ip_forward: "1"}
  server:
    interfaces: [{network: wan, ipv4: 203.0.113.80/24}]
    services:
      - {name: web, kind: http, params: {port: 80}}
networks:
  lan: {type: bridge}
  wan: {type: p2p}
`

// churnLab has a client that keeps making short connections to an echo
// server, holding TIME_WAIT on its side.
const churnLab = `apiVersion: netdojo/v1
metadata: {name: churn, title: Churn}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
    services:
      - {name: churn, kind: churner, params: {target: "10.0.1.80:7", count: -1, rate: 200}}
  server:
    interfaces: [{network: lan, ipv4: 10.0.1.80/24}]
    services:
      - {name: echo, kind: tcp-echo, params: {port: 7}}
networks:
  lan: {type: bridge}
`

// pollSymptom retries a learner's tool until it shows the symptom or a
// deadline passes; symptoms that need traffic to build up use it.
func pollSymptom(d time.Duration, fn func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNetworkFaults(t *testing.T) {
	cases := []struct {
		name string
		prep []string // commands run in hosts before the first check
		faultCase
	}{
		{name: "no-default-route leaves the host with nowhere to send", faultCase: faultCase{
			kind: "no-default-route", scenario: routedLab, host: "client",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "203.0.113.80")
				return expect(out, "Network is unreachable")
			},
			fix: []string{"client: ip route add default via 10.0.1.1"},
		}},
		{name: "dead-gateway makes ARP for the gateway fail", faultCase: faultCase{
			kind: "dead-gateway", scenario: routedLab, host: "client",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "5", "203.0.113.80")
				if err := expect(out, "From 10.0.1.10 icmp_seq=1 Destination Host Unreachable"); err != nil {
					return err
				}
				neigh, _ := l.run("client", "ip", "neigh", "show", "10.0.1.254")
				if !strings.Contains(neigh, "FAILED") && !strings.Contains(neigh, "INCOMPLETE") {
					return fmt.Errorf("ip neigh shows the dead gateway as:\n%s", neigh)
				}
				return nil
			},
			fix: []string{"client: ip route replace default via 10.0.1.1"},
		}},
		{name: "missing-route on a router answers Destination Net Unreachable", faultCase: faultCase{
			kind: "missing-route", scenario: chainLab, host: "r1", params: "to: 203.0.113.0/24",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "203.0.113.80")
				return expect(out, "From 10.0.1.1 icmp_seq=1 Destination Net Unreachable")
			},
			fix: []string{"r1: ip route add 203.0.113.0/24 via 10.0.12.2"},
		}},
		{name: "forwarding-off on a router drops transit traffic silently", faultCase: faultCase{
			kind: "forwarding-off", scenario: chainLab, host: "r2",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "203.0.113.80")
				if err := expect(out, "1 packets transmitted, 0 received"); err != nil {
					return err
				}
				if strings.Contains(out, "From ") {
					return fmt.Errorf("ping got an ICMP error:\n%s", out)
				}
				return pingOK(l, "client", "10.0.23.2") // the router's far side answers
			},
			fix: []string{"r2: sysctl -w net.ipv4.ip_forward=1"},
		}},
		{name: "blackhole-route on a router swallows packets", faultCase: faultCase{
			kind: "blackhole-route", scenario: chainLab, host: "r2", params: "to: 203.0.113.0/24",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "203.0.113.80")
				if err := expect(out, "1 packets transmitted, 0 received"); err != nil {
					return err
				}
				if strings.Contains(out, "From ") {
					return fmt.Errorf("ping got an ICMP error:\n%s", out)
				}
				route, _ := l.run("r2", "ip", "route", "show", "203.0.113.0/24")
				return expect(route, "blackhole 203.0.113.0/24")
			},
			fix: []string{"r2: ip route del blackhole 203.0.113.0/24 && ip route add 203.0.113.0/24 via 10.0.23.3"},
		}},
		{name: "unreachable-route on a router answers Destination Host Unreachable", faultCase: faultCase{
			kind: "unreachable-route", scenario: chainLab, host: "r2", params: "to: 203.0.113.0/24",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "203.0.113.80")
				return expect(out, "From 10.0.12.2 icmp_seq=1 Destination Host Unreachable")
			},
			fix: []string{"r2: ip route del unreachable 203.0.113.0/24 && ip route add 203.0.113.0/24 via 10.0.23.3"},
		}},
		{name: "prohibit-route on a router answers Packet filtered", faultCase: faultCase{
			kind: "prohibit-route", scenario: chainLab, host: "r2", params: "to: 203.0.113.0/24",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "203.0.113.80")
				return expect(out, "From 10.0.12.2 icmp_seq=1 Packet filtered")
			},
			fix: []string{"r2: ip route del prohibit 203.0.113.0/24 && ip route add 203.0.113.0/24 via 10.0.23.3"},
		}},
		{name: "unreachable-route on the host itself fails at connect", faultCase: faultCase{
			kind: "unreachable-route", scenario: chainLab, host: "client", params: "to: 203.0.113.80/32",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "203.0.113.80")
				return expect(out, "No route to host")
			},
			fix: []string{"client: ip route del unreachable 203.0.113.80/32"},
		}},
		{name: "pmtu-blackhole loses large packets without a word", faultCase: faultCase{
			kind: "pmtu-blackhole", scenario: chainLab, host: "r1", params: "{dev: eth1, mtu: 1400, from: client, to: 203.0.113.80}",
			symptom: func(t *testing.T, l *labEnv) error {
				if err := pingOK(l, "client", "203.0.113.80"); err != nil {
					return fmt.Errorf("small pings must work: %w", err)
				}
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "-M", "do", "-s", "1472", "203.0.113.80")
				if err := expect(out, "1 packets transmitted, 0 received"); err != nil {
					return err
				}
				if strings.Contains(out, "Frag needed") || strings.Contains(out, "mtu") {
					return fmt.Errorf("ping was told about the MTU:\n%s", out)
				}
				got, _ := l.run("client", "curl", "-s", "-o", "/dev/null", "-m", "1", "-w", "%{size_download}", "http://203.0.113.80/")
				if strings.TrimSpace(got) == "1000000" {
					return fmt.Errorf("the large download completed")
				}
				return nil
			},
			fix: []string{
				"r1: iptables -D OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP",
				"r2: iptables -D OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP",
				"client: ip route flush cache", "server: ip route flush cache",
			},
		}},
		{name: "silent-hop hides one router from traceroute", faultCase: faultCase{
			kind: "silent-hop", scenario: chainLab, host: "r2",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "traceroute", "-n", "-w", "1", "-q", "3", "203.0.113.80")
				if err := expect(out, " 2  * * *"); err != nil {
					return err
				}
				return expectAll(out, " 1  10.0.1.1 ", " 3  10.0.23.3 ", " 4  203.0.113.80 ")
			},
			fix: []string{"r2: iptables -D OUTPUT -p icmp --icmp-type time-exceeded -j DROP"},
		}},
		{name: "icmp-rate-limit drops answers of a healthy hop", faultCase: faultCase{
			kind: "icmp-rate-limit", scenario: chainLab, host: "r1",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "traceroute", "-n", "-w", "1", "-q", "10", "-m", "1", "203.0.113.80")
				for _, ln := range strings.Split(out, "\n") {
					if strings.HasPrefix(ln, " 1 ") && strings.Contains(ln, "*") {
						// The hop is healthy: it answers ping at once.
						return pingOK(l, "client", "10.0.1.1")
					}
				}
				return fmt.Errorf("hop 1 answers every probe:\n%s", out)
			},
			fix: []string{"r1: sysctl -w net.ipv4.icmp_ratelimit=0"},
		}},
		{name: "asymmetric-rp-filter drops the server's answers", faultCase: faultCase{
			kind: "asymmetric-rp-filter", scenario: asymLab, host: "r1", params: "{from: client, to: 203.0.113.80, port: 80}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, err := l.run("client", "curl", "-sS", "-m", "1", "http://203.0.113.80/")
				if err == nil {
					return fmt.Errorf("curl works:\n%s", out)
				}
				ss, _ := l.run("server", "ss", "-tn", "state", "syn-recv")
				return expect(ss, "203.0.113.80]:80")
			},
			fix: []string{"r1: sysctl -w net.ipv4.conf.all.rp_filter=2"},
		}},
		{name: "missing-masquerade leaks private addresses to the public side",
			prep: []string{"router: iptables -t nat -A POSTROUTING -s 10.0.1.0/24 -o eth1 -j MASQUERADE"},
			faultCase: faultCase{
				kind: "missing-masquerade", scenario: natLab, host: "router", params: "{dev: eth1, source: 10.0.1.0/24}",
				symptom: func(t *testing.T, l *labEnv) error {
					out, err := l.run("client", "curl", "-sS", "-m", "1", "http://203.0.113.80/")
					if err == nil {
						return fmt.Errorf("curl works:\n%s", out)
					}
					return expect(out, "timed out")
				},
				fix: []string{"router: iptables -t nat -A POSTROUTING -s 10.0.1.0/24 -o eth1 -j MASQUERADE"},
			}},
		{name: "port-range-exhaustion leaves no port for the next connection", faultCase: faultCase{
			kind: "port-range-exhaustion", scenario: churnLab, host: "client", params: "ports: 50",
			symptom: func(t *testing.T, l *labEnv) error {
				return pollSymptom(time.Second, func() error {
					out, _ := l.run("client", "nc", "-vz", "-w", "1", "10.0.1.80", "7")
					return expect(out, "Cannot assign requested address")
				})
			},
			fix: []string{`client: sysctl -w net.ipv4.ip_local_port_range="32768 60999"`},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.prep != nil {
				runPreparedFaultCase(t, c.prep, c.faultCase)
				return
			}
			runFaultCase(t, c.faultCase)
		})
	}
}

// runPreparedFaultCase is runFaultCase with commands run in hosts before
// the first check, for faults whose healthy state the scenario format
// cannot declare (a NAT rule). It follows harness_test.go step by step.
func runPreparedFaultCase(t *testing.T, prep []string, c faultCase) {
	t.Helper()
	before := sandboxtest.Take(t)
	l := startTestLab(t, c.scenario)
	runIn := func(cmds []string, what string) {
		t.Helper()
		for _, f := range cmds {
			host, cmd, _ := strings.Cut(f, ": ")
			if out, err := l.run(host, "sh", "-c", cmd); err != nil {
				t.Fatalf("%s %q: %v\n%s", what, f, err, out)
			}
		}
	}
	runIn(prep, "preparing")
	a := newFault(t, c.kind, c.host, c.params)
	ctx := context.Background()
	check := func(when string, wantSymptom bool) {
		t.Helper()
		oerr, serr := a.Observe(ctx, l.lab, l.s), c.symptom(t, l)
		cerr := a.Cleared(ctx, l.lab, l.s)
		if wantSymptom {
			if oerr != nil {
				t.Errorf("%s: the probe does not observe the symptom: %v", when, oerr)
			}
			if serr != nil {
				t.Errorf("%s: the learner's tool does not show the symptom: %v", when, serr)
			}
			if cerr == nil {
				t.Errorf("%s: the fault is judged cleared", when)
			}
			return
		}
		if cerr != nil {
			t.Errorf("%s: the fault is not judged cleared: %v", when, cerr)
		}
		if oerr == nil {
			t.Errorf("%s: the probe still observes the symptom", when)
		}
		if serr == nil {
			t.Errorf("%s: the learner's tool still shows the symptom", when)
		}
	}
	check("before injection", false)
	if err := a.Apply(ctx, l.lab, l.s); err != nil {
		t.Fatal(err)
	}
	check("after injection", true)
	if err := a.Revert(ctx, l.lab, l.s); err != nil {
		t.Fatal(err)
	}
	check("after revert", false)
	if err := a.Apply(ctx, l.lab, l.s); err != nil {
		t.Fatal(err)
	}
	check("after the second injection", true)
	runIn(c.fix, "fix")
	check("after the documented fix", false)
	sandboxtest.AssertUnchanged(t, before)
}

// l23Kinds are the link and network kinds this file and link_test.go
// prove, each by a root test above.
var l23Kinds = []string{
	"interface-down", "mtu-mismatch", "wrong-netmask", "duplicate-ip", "broken-neighbour", "bridge-port-down",
	"no-default-route", "dead-gateway", "missing-route", "forwarding-off", "blackhole-route", "unreachable-route",
	"prohibit-route", "asymmetric-rp-filter", "pmtu-blackhole", "silent-hop", "icmp-rate-limit", "missing-masquerade",
	"port-range-exhaustion",
}

func TestLinkAndNetworkKindsAreDocumented(t *testing.T) {
	for _, name := range l23Kinds {
		t.Run(name+" has a layer, symptom, fix and tagged parameters", func(t *testing.T) {
			k, ok := faults.Lookup(name)
			if !ok {
				t.Fatalf("kind %q is not in the catalogue", name)
			}
			if k.Layer != faults.LayerLink && k.Layer != faults.LayerNetwork {
				t.Errorf("layer %q", k.Layer)
			}
			if k.Summary == "" || k.Symptom == "" || k.Fix == "" || !k.NeedsHost {
				t.Errorf("summary %q, symptom %q, fix %q, needs host %v", k.Summary, k.Symptom, k.Fix, k.NeedsHost)
			}
			pt := reflect.TypeOf(k.NewParams()).Elem()
			for i := range pt.NumField() {
				f := pt.Field(i)
				y, j, d := f.Tag.Get("yaml"), f.Tag.Get("json"), f.Tag.Get("doc")
				if !strings.HasSuffix(y, ",omitempty") || y != j || d == "" || !strings.HasSuffix(d, ".") {
					t.Errorf("field %s has tags yaml %q json %q doc %q", f.Name, y, j, d)
				}
			}
		})
	}
}

func TestLinkAndNetworkParamsAreChecked(t *testing.T) {
	cases := []struct {
		kind, params, err string // err: the start of the error, "" for none
	}{
		{"interface-down", "dev: averyveryverylongname", "params.dev: "},
		{"mtu-mismatch", "mtu: 40", "params.mtu: 40 is out of range; give 68 to 65535"},
		{"mtu-mismatch", "{}", ""},
		{"wrong-netmask", "prefix: 33", "params.prefix: 33 is out of range; give 1 to 32"},
		{"duplicate-ip", "{}", `missing required field "address"`},
		{"duplicate-ip", "address: 10.0.1.300", "params.address: "},
		{"broken-neighbour", "mac: 02:00", "params.mac: "},
		{"dead-gateway", "gateway: fe80::1", "params.gateway: "},
		{"missing-route", "{}", `missing required field "to"`},
		{"blackhole-route", "to: 10.0.1.5/24", "params.to: 10.0.1.5/24 has host bits set"},
		{"prohibit-route", "to: 203.0.113.0/24", ""},
		{"forwarding-off", "to: nowhere", "params.to: "},
		{"asymmetric-rp-filter", "mode: 2", "params.mode: 2 is not 1"},
		{"asymmetric-rp-filter", "port: 70000", "params.port: "},
		{"pmtu-blackhole", "mtu: 100", "params.mtu: 100 is out of range; give 576 to 65535"},
		{"icmp-rate-limit", "msgs_per_sec: -1", "params.msgs_per_sec: "},
		{"missing-masquerade", "source: 10.0.1.0/24", `missing required field "dev"`},
		{"missing-masquerade", "{dev: eth1, source: 10.0.1.1}", "params.source: "},
		{"port-range-exhaustion", "ports: 0", ""},
		{"port-range-exhaustion", "to: 10.0.1.80", "params.to: "},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s with %s is rejected", c.kind, c.params)
		if c.err == "" {
			name = fmt.Sprintf("%s with %s is accepted", c.kind, c.params)
		}
		t.Run(name, func(t *testing.T) {
			p, err := scenarios.ParamsFromYAML(faults.Registry{}, c.kind, c.params)
			if err == nil {
				_, err = faults.New(c.kind, "h", p)
			}
			switch {
			case c.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.err != "" && err == nil:
				t.Errorf("no error, want one starting %q", c.err)
			case c.err != "" && !strings.Contains(err.Error(), c.err):
				t.Errorf("error %q does not say %q", err, c.err)
			}
		})
	}
}
