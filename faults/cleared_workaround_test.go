package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/services"
)

// workaroundCase is a lazy fix that makes a task's goal work while the
// fault stays where it is: Cleared must reject it, and accept the real fix.
type workaroundCase struct {
	name, scenario, kind, host, params string
	// goal is the task's goal probe, "host: cmd", exit status 0 when met.
	goal string
	// alsoBroken are probes, "host: cmd", that must fail after the fault
	// (such as the other address family).
	alsoBroken []string
	// workaround makes goal pass and leaves the fault in place.
	workaround []string
	// fix is the real fix; restart are services started through the lab.
	fix     []string
	restart []string
}

// dualLab is routedLab with IPv6 beside IPv4, as first-lab has it.
const dualLab = `apiVersion: netdojo/v1
metadata: {name: dual, title: Dual stack}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24, ipv6: "fd00:1::10/64"}]
    routes: [{to: default, via: 10.0.1.1}, {to: default6, via: "fd00:1::1"}]
  router:
    interfaces: [{network: lan, ipv4: 10.0.1.1/24, ipv6: "fd00:1::1/64"}, {network: wan, ipv4: 203.0.113.1/24, ipv6: "2001:db8:80::1/64"}]
    sysctls: {net.ipv4.ip_forward: "1", net.ipv6.conf.all.forwarding: "1"}
  server:
    interfaces: [{network: wan, ipv4: 203.0.113.80/24, ipv6: "2001:db8:80::80/64"}]
    routes: [{to: default, via: 203.0.113.1}, {to: default6, via: "2001:db8:80::1"}]
    services:
      - {name: web, kind: http, params: {port: 80}}
networks:
  lan: {type: bridge}
  wan: {type: bridge}
`

// adminLab is routedLab with an admin console on 8443 beside the shop.
var adminLab = strings.Replace(routedLab, "      - {name: web, kind: http, params: {port: 80}}\n",
	"      - {name: web, kind: http, params: {port: 80}}\n      - {name: admin, kind: http, params: {port: 8443, body: \"admin console\\n\"}}\n", 1)

// skLoopPID is where the ss -K loop of a workaround writes its PID.
var skLoopPID = fmt.Sprintf("/tmp/red8-skloop-%d.pid", rand.IntN(1<<30))

func curlOK(host, url string) string {
	return fmt.Sprintf("%s: curl -gsf -m 3 -o /dev/null %s", host, url)
}

func TestClearedRejectsWorkaroundsAndAcceptsTheFix(t *testing.T) {
	cases := []workaroundCase{
		{
			name:     "no-default-route: a default route without a gateway and proxy ARP on the router",
			scenario: dualLab, kind: "no-default-route", host: "client",
			goal:       curlOK("client", "http://203.0.113.80/"),
			alsoBroken: []string{curlOK("client", "http://[2001:db8:80::80]/")},
			workaround: []string{"client: ip route replace default dev eth0", "router: sysctl -qw net.ipv4.conf.eth0.proxy_arp=1"},
			fix:        []string{"client: ip route replace default via 10.0.1.1", "client: ip -6 route replace default via fd00:1::1"},
		},
		{
			name:     "no-default-route: the IPv4 route back but not the IPv6 one",
			scenario: dualLab, kind: "no-default-route", host: "client",
			goal:       curlOK("client", "http://203.0.113.80/"),
			alsoBroken: []string{curlOK("client", "http://[2001:db8:80::80]/")},
			workaround: []string{"client: ip route replace default via 10.0.1.1"},
			fix:        []string{"client: ip -6 route replace default via fd00:1::1"},
		},
		{
			name:     "firewall-drop on a dual-stack server: the IPv4 rule deleted, the IPv6 one left",
			scenario: dualLab, kind: "firewall-drop", host: "server", params: "{chain: INPUT, port: 80}",
			goal:       curlOK("client", "http://203.0.113.80/"),
			alsoBroken: []string{curlOK("client", "http://[2001:db8:80::80]/")},
			workaround: []string{"server: iptables -D INPUT -p tcp --dport 80 -j DROP"},
			fix:        []string{"server: ip6tables -D INPUT -p tcp --dport 80 -j DROP"},
		},
		{
			name:     "interface-down: the link up again but its routes not back",
			scenario: dualLab, kind: "interface-down", host: "client", params: "{dev: eth0}",
			goal:       "client: ping -c 1 -w 3 10.0.1.1", // a link just up may lose the first probe
			alsoBroken: []string{curlOK("client", "http://[2001:db8:80::80]/")},
			workaround: []string{"client: ip link set eth0 up"},
			fix: []string{"client: ip route replace default via 10.0.1.1", "client: ip addr add fd00:1::10/64 dev eth0 nodad",
				"client: ip -6 route replace default via fd00:1::1"},
		},
		{
			name:     "pmtu-blackhole: a smaller MTU on the server",
			scenario: chainLab, kind: "pmtu-blackhole", host: "r1", params: "{dev: eth1, mtu: 1400, from: client, to: 203.0.113.80}",
			goal:       `client: test "$(curl -s -m 3 -o /dev/null -w '%{size_download}' http://203.0.113.80/)" = 1000000`,
			workaround: []string{"server: ip link set dev eth0 mtu 1280"},
			fix: []string{"server: ip link set dev eth0 mtu 1500",
				"r1: iptables -D OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP",
				"r2: iptables -D OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP",
				"client: ip route flush cache", "server: ip route flush cache"},
		},
		{
			name:     "firewall-drop: a REDIRECT around the rule",
			scenario: adminLab, kind: "firewall-drop", host: "server", params: "{chain: INPUT, port: 8443}",
			goal:       curlOK("client", "http://203.0.113.80:8443/"),
			workaround: []string{"server: iptables -t nat -A PREROUTING -p tcp --dport 8443 -j REDIRECT --to-ports 80"},
			fix: []string{"server: iptables -t nat -D PREROUTING -p tcp --dport 8443 -j REDIRECT --to-ports 80",
				"server: iptables -D INPUT -p tcp --dport 8443 -j DROP"},
		},
		{
			name:     "port-conflict: another program on the port after the squatter is killed",
			scenario: routedLab, kind: "port-conflict", host: "server", params: "{service: web}",
			goal:       curlOK("client", "http://203.0.113.80/"),
			workaround: []string{killHolder("server", 80), "server: setsid python3 -m http.server 80 >/dev/null 2>&1 </dev/null & for i in $(seq 100); do ss -Htln 'sport = :80' | grep -q . && exit 0; sleep 0.05; done; exit 1"},
			fix:        []string{killHolder("server", 80)},
			restart:    []string{"server: web"},
		},
		{
			name:     "close-wait-leak: the leaker replaced by another leaking program",
			scenario: routedLab, kind: "close-wait-leak", host: "server", params: "{service: web, connections: 5}",
			// The naive goal: (almost) nothing in CLOSE_WAIT; the fault's churner
			// adds one a second.
			goal:       "server: test $(ss -Htan state close-wait '( sport = :80 )' | wc -l) -lt 2",
			workaround: []string{killHolder("server", 80), startByHand(t, "server", "close-wait-leaker", `{"port":80}`, 80)},
			fix:        []string{killHolder("server", 80)},
			restart:    []string{"server: web"},
		},
		{
			name:     "close-wait-leak: the leak left in place and a loop resetting CLOSE_WAIT with ss -K",
			scenario: routedLab, kind: "close-wait-leak", host: "server", params: "{service: web, connections: 5}",
			goal: "server: test $(ss -Htan state close-wait '( sport = :80 )' | wc -l) -lt 2",
			workaround: []string{fmt.Sprintf(`server: setsid sh -c 'echo $$ > %[1]s; while :; do ss -K state close-wait "( sport = :80 )" >/dev/null 2>&1; sleep 0.1; done' >/dev/null 2>&1 </dev/null &
for i in $(seq 50); do test -s %[1]s && break; sleep 0.05; done; sleep 0.5`, skLoopPID)},
			fix:     []string{"server: kill $(cat " + skLoopPID + ")", killHolder("server", 80)},
			restart: []string{"server: web"},
		},
		{
			name:     "silent-hop: the silent router made invisible by raising the TTL of what it forwards",
			scenario: chainLab, kind: "silent-hop", host: "r2", params: "{from: client, to: 203.0.113.80}",
			// The goal: traceroute shows no silent hop.
			goal:       "client: traceroute -n -w 1 -q 1 203.0.113.80 | grep -v '^traceroute' | grep -q '\\*' && exit 1; exit 0",
			workaround: []string{"r2: iptables -t mangle -A PREROUTING -j TTL --ttl-inc 1"},
			fix:        []string{"r2: iptables -t mangle -D PREROUTING -j TTL --ttl-inc 1", "r2: iptables -D OUTPUT -p icmp --icmp-type time-exceeded -j DROP"},
		},
		{
			name:     "icmp-rate-limit: the limited router made invisible by raising the TTL of what it forwards",
			scenario: chainLab, kind: "icmp-rate-limit", host: "r1", params: "{from: client, to: 203.0.113.80}",
			goal:       "client: traceroute -n -w 1 -q 10 -m 1 203.0.113.80 | grep -v '^traceroute' | grep -q '\\*' && exit 1; exit 0",
			workaround: []string{"r1: iptables -t mangle -A PREROUTING -j TTL --ttl-inc 1"},
			fix:        []string{"r1: iptables -t mangle -D PREROUTING -j TTL --ttl-inc 1", "r1: sysctl -w net.ipv4.icmp_ratelimit=0"},
		},
		{
			name:     "k8s-missing-dnat: the client pod bypasses the virtual IP to a pod's own address",
			scenario: k8sNodeLab, kind: "k8s-missing-dnat", host: "node", params: "{name: web}",
			goal:       curlOK("pod-a", "http://10.96.0.20/"),
			workaround: []string{"pod-a: iptables -t nat -A OUTPUT -d 10.96.0.20 -p tcp --dport 80 -j DNAT --to-destination 10.244.1.11:8080"},
			fix: []string{"pod-a: iptables -t nat -D OUTPUT -d 10.96.0.20 -p tcp --dport 80 -j DNAT --to-destination 10.244.1.11:8080",
				"node: iptables -t nat -A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j " + services.KubeSvcChain(k8sWeb)},
		},
		{
			name:     "resolver-dead-server: the name pinned in /etc/hosts",
			scenario: appLab, kind: "resolver-dead-server", host: "client",
			goal:       curlOK("client", "http://www.corp.test/"),
			workaround: []string{"client: echo '10.0.1.80 www.corp.test' >> /etc/hosts"},
			fix:        []string{`client: printf 'nameserver 10.0.1.53\nsearch corp.test\noptions timeout:1 attempts:1\n' > /etc/resolv.conf`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runWorkaroundCase(t, c) })
	}
}

func runWorkaroundCase(t *testing.T, c workaroundCase) {
	before := sandboxtest.Take(t)
	l := startNamedLab(t, c.scenario, sandboxtest.LabName("cleared-"))
	a := newFault(t, c.kind, c.host, c.params)
	ctx := context.Background()
	try := func(probe string) (string, error) {
		host, cmd, _ := strings.Cut(probe, ": ")
		return l.run(host, "sh", "-c", cmd)
	}
	mustRun := func(what string, cmds []string) {
		t.Helper()
		for _, f := range cmds {
			if out, err := try(f); err != nil {
				t.Fatalf("%s %q: %v\n%s", what, f, err, out)
			}
		}
	}
	if out, err := try(c.goal); err != nil {
		t.Fatalf("the goal fails on the healthy lab: %v\n%s", err, out)
	}
	if err := a.Apply(ctx, l.lab, l.s); err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{c.goal}, c.alsoBroken...) {
		if _, err := try(p); err == nil {
			t.Errorf("after the fault, %q still works", p)
		}
	}
	mustRun("workaround", c.workaround)
	if out, err := try(c.goal); err != nil {
		t.Fatalf("the workaround does not meet the goal: %v\n%s", err, out)
	}
	if err := a.Cleared(ctx, l.lab, l.s); err == nil {
		t.Errorf("the workaround is judged cleared")
	} else {
		t.Logf("the workaround is not cleared: %v", err)
	}
	mustRun("fix", c.fix)
	restartServices(t, l, c.restart)
	if err := a.Cleared(ctx, l.lab, l.s); err != nil {
		t.Errorf("the fix is not judged cleared: %v", err)
	}
	sandboxtest.AssertUnchanged(t, before)
}

// TestReachabilityFaultsCutEveryFamily: on a dual-stack client, the
// faults that cut reachability cut IPv6 as well, and their revert brings
// both back.
func TestReachabilityFaultsCutEveryFamily(t *testing.T) {
	for _, c := range []struct{ kind, host, params string }{
		{"no-default-route", "client", ""},
		{"dead-gateway", "client", ""},
		{"interface-down", "client", "{dev: eth0}"},
		{"broken-neighbour", "client", ""},
		{"forwarding-off", "router", ""},
		{"firewall-drop", "server", "{chain: INPUT, port: 80}"},
		{"firewall-reject-host-prohibited", "server", "{chain: INPUT, port: 80}"},
		{"stateful-firewall-drops-return", "client", "{chain: INPUT, port: 80}"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			before := sandboxtest.Take(t)
			l, a := applied(t, dualLab, c.kind, c.host, c.params)
			ctx := context.Background()
			curl := func(url string) error {
				_, err := l.run("client", "curl", "-gsf", "-m", "2", "-o", "/dev/null", url)
				return err
			}
			for _, url := range []string{"http://203.0.113.80/", "http://[2001:db8:80::80]/"} {
				if curl(url) == nil {
					t.Errorf("after the fault, curl %s still works", url)
				}
			}
			if err := a.Cleared(ctx, l.lab, l.s); err == nil {
				t.Error("the fault is judged cleared right after it was applied")
			}
			if err := a.Revert(ctx, l.lab, l.s); err != nil {
				t.Fatal(err)
			}
			for _, url := range []string{"http://203.0.113.80/", "http://[2001:db8:80::80]/"} {
				if err := curl(url); err != nil {
					t.Errorf("after revert, curl %s fails: %v", url, err)
				}
			}
			if err := a.Cleared(ctx, l.lab, l.s); err != nil {
				t.Errorf("after revert the fault is not judged cleared: %v", err)
			}
			sandboxtest.AssertUnchanged(t, before)
		})
	}
}

// applied starts a lab named cleared-* and applies one fault to it.
func applied(t *testing.T, scenario, kind, host, params string) (*labEnv, *faults.Applied) {
	t.Helper()
	l := startNamedLab(t, scenario, sandboxtest.LabName("cleared-"))
	a := newFault(t, kind, host, params)
	if err := a.Apply(context.Background(), l.lab, l.s); err != nil {
		t.Fatal(err)
	}
	return l, a
}

// TestClearedAcceptsARuleThatNoLongerMatches: an ACCEPT inserted before
// the drop is a fix (the drop no longer matches the traffic), though the
// rule is still in the chain.
func TestClearedAcceptsARuleThatNoLongerMatches(t *testing.T) {
	before := sandboxtest.Take(t)
	l, a := applied(t, adminLab, "firewall-drop", "server", "{chain: INPUT, port: 8443}")
	ctx := context.Background()
	if err := a.Cleared(ctx, l.lab, l.s); err == nil {
		t.Fatal("cleared right after the fault")
	}
	if out, err := l.run("server", "iptables", "-I", "INPUT", "-p", "tcp", "--dport", "8443", "-j", "ACCEPT"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := a.Cleared(ctx, l.lab, l.s); err != nil {
		t.Errorf("an ACCEPT before the drop is not judged cleared: %v", err)
	}
	sandboxtest.AssertUnchanged(t, before)
}

// TestClearedRejectsTheGatewayWearingTheWrongMAC: giving the gateway the
// MAC of the planted neighbour entry makes ping work; the entry is still
// wrong for the gateway as it was.
func TestClearedRejectsTheGatewayWearingTheWrongMAC(t *testing.T) {
	before := sandboxtest.Take(t)
	l, a := applied(t, routedLab, "broken-neighbour", "client", "")
	ctx := context.Background()
	orig, err := l.run("router", "cat", "/sys/class/net/eth0/address")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{{"router", "ip", "link", "set", "eth0", "address", "02:00:5e:00:de:ad"}, {"client", "ping", "-c", "1", "-W", "1", "10.0.1.1"}} {
		if out, err := l.run(c[0], c[1:]...); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	if err := a.Cleared(ctx, l.lab, l.s); err == nil {
		t.Error("the gateway wearing the wrong MAC is judged cleared")
	} else {
		t.Logf("not cleared: %v", err)
	}
	for _, c := range [][]string{{"router", "ip", "link", "set", "eth0", "address", strings.TrimSpace(orig)}, {"client", "ip", "neigh", "del", "10.0.1.1", "dev", "eth0"}} {
		if out, err := l.run(c[0], c[1:]...); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	if err := a.Cleared(ctx, l.lab, l.s); err != nil {
		t.Errorf("the real fix is not judged cleared: %v", err)
	}
	sandboxtest.AssertUnchanged(t, before)
}

// TestRouteFaultsTakeAnIPv6Prefix: the route-type faults cut an IPv6
// prefix when given one (a dual-stack destination needs one fault per
// family), observed and judged the same way.
func TestRouteFaultsTakeAnIPv6Prefix(t *testing.T) {
	for _, kind := range []string{"blackhole-route", "unreachable-route", "prohibit-route"} {
		t.Run(kind, func(t *testing.T) {
			before := sandboxtest.Take(t)
			l, a := applied(t, dualLab, kind, "client", "{to: \"2001:db8:80::/64\"}")
			ctx := context.Background()
			curl := func(url string) error {
				_, err := l.run("client", "curl", "-gsf", "-m", "2", "-o", "/dev/null", url)
				return err
			}
			if err := a.Observe(ctx, l.lab, l.s); err != nil {
				t.Errorf("the symptom is not observed: %v", err)
			}
			if curl("http://[2001:db8:80::80]/") == nil {
				t.Error("curl over IPv6 still works")
			}
			if err := curl("http://203.0.113.80/"); err != nil {
				t.Errorf("curl over IPv4 fails: %v", err)
			}
			if err := a.Cleared(ctx, l.lab, l.s); err == nil {
				t.Error("judged cleared right after the fault")
			}
			if err := a.Revert(ctx, l.lab, l.s); err != nil {
				t.Fatal(err)
			}
			if err := a.Observe(ctx, l.lab, l.s); err == nil {
				t.Error("the symptom is still observed after revert")
			}
			if err := a.Cleared(ctx, l.lab, l.s); err != nil {
				t.Errorf("not cleared after revert: %v", err)
			}
			if err := curl("http://[2001:db8:80::80]/"); err != nil {
				t.Errorf("curl over IPv6 fails after revert: %v", err)
			}
			sandboxtest.AssertUnchanged(t, before)
		})
	}
}
