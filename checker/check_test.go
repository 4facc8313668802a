package checker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/lab/labtest"
)

// checksLab is a client on a LAN, two routers and a server behind a
// narrow (MTU 1400) link. r1 serves DNS with a slow and a dead name and
// has no default route, so other networks are unreachable from the LAN.
const checksLab = `apiVersion: netdojo/v1
metadata: {name: ck-checks, title: Two routers between a client and a server}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
    routes: [{to: default, via: 10.0.1.1}]
    dns: {nameservers: [10.0.1.1], search: [corp.test], options: ["timeout:1", "attempts:1"]}
  r1:
    interfaces: [{network: lan, ipv4: 10.0.1.1/24}, {network: core, ipv4: 10.0.2.1/24}]
    routes: [{to: 203.0.113.0/24, via: 10.0.2.2}]
    sysctls: {net.ipv4.ip_forward: "1"}
    services:
      - name: resolver
        kind: dns
        params:
          zones:
            - origin: shop.example.
              records: ["www A 203.0.113.80", "slow A 203.0.113.80", "dead A 203.0.113.80", "broken A 203.0.113.80"]
            - origin: corp.test.
              records: ["intranet A 10.0.1.10"]
          faults:
            - {name: slow.shop.example., mode: slow, delay: 400ms}
            - {name: dead.shop.example., mode: timeout}
            - {name: broken.shop.example., mode: servfail}
  r2:
    interfaces: [{network: core, ipv4: 10.0.2.2/24}, {network: wan, ipv4: 203.0.113.1/24}]
    routes: [{to: 10.0.1.0/24, via: 10.0.2.1}]
    sysctls: {net.ipv4.ip_forward: "1"}
  server:
    interfaces: [{network: wan, ipv4: 203.0.113.80/24}]
    routes: [{to: default, via: 203.0.113.1}]
    services:
      - {name: web, kind: http, params: {port: 80}}
      - {name: down, kind: http, params: {port: 8503, status: 503}}
      - {name: leaker, kind: close-wait-leaker, params: {port: 8080}}
networks:
  lan: {type: bridge}
  core: {type: p2p}
  wan: {type: p2p, mtu: 1400}
`

// checkCase is one check judged against the lab as it is.
type checkCase struct {
	name  string
	check string // YAML of a scenarios.Check
	pass  bool
	saw   string // the observation must contain this
}

// judge runs check cases in order. A check expected to fail gets a 1ms
// settle window unless it sets one, so it is judged on one observation:
// waiting cannot make it pass, and the test stays fast.
func (e *env) judge(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := decodeCheck(t, c.check)
			if !c.pass && ch.Within == "" {
				ch.Within = "1ms"
			}
			o := e.c.Check(context.Background(), ch)
			if o.Pass != c.pass {
				t.Errorf("pass = %v, want %v; observed: %s", o.Pass, c.pass, o.Observed)
			}
			if !strings.Contains(o.Observed, c.saw) {
				t.Errorf("observed %q, want it to say %q", o.Observed, c.saw)
			}
			if o.Attempts < 1 {
				t.Errorf("%d attempts", o.Attempts)
			}
			assertNoFix(t, o.Observed)
			if strings.Contains(o.Observed, e.lab.Name+".") {
				t.Errorf("the observation names a host by its namespace, which the learner never sees: %s", o.Observed)
			}
		})
	}
}

func checksEnv(t *testing.T) *env {
	t.Helper()
	return start(t, labtest.Load(t, checksLab, 0), false)
}

func TestReachCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	e.judge(t, []checkCase{
		{"an open port passes expect open", `reach: {from: client, to: server, port: 80, expect: open}`, true, "tcp client to 203.0.113.80:80: the connection is accepted"},
		{"a closed port fails expect open and says it was refused", `reach: {from: client, to: server, port: 81, expect: open}`, false, "203.0.113.80:81: the connection is refused (a TCP reset comes back)"},
		{"a closed port passes expect refused", `reach: {from: client, to: 203.0.113.80, port: 81, expect: refused}`, true, "refused"},
		{"an open port fails expect refused", `reach: {from: client, to: server, port: 80, expect: refused}`, false, "accepted"},
		{"an open port fails expect filtered", `reach: {from: client, to: server, port: 80, expect: filtered}`, false, "accepted"},
		{"a network r1 has no route to passes expect unreachable, answered by r1", `reach: {from: client, to: 192.0.2.99, port: 80, expect: unreachable}`, true, "(answered by 10.0.1.1)"},
		{"a network r1 has no route to fails expect open", `reach: {from: client, to: 192.0.2.99, port: 80, expect: open}`, false, "Network is unreachable"},
		{"a UDP port with no listener is refused by ICMP", `reach: {from: client, to: server, port: 5353, proto: udp, expect: refused-icmp}`, true, "ICMP port unreachable"},
	})
	e.run("server", "iptables -A INPUT -p tcp --dport 82 -j DROP")
	e.judge(t, []checkCase{
		{"a port behind a DROP passes expect filtered", `reach: {from: client, to: server, port: 82, expect: filtered}`, true, "the connection times out: nothing comes back"},
	})
}

func TestPingCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	e.judge(t, []checkCase{
		{"the server answers expect reply", `ping: {from: client, to: server}`, true, "2 of 2 answered (2 echo-reply)"},
		{"the server answers, so expect no-reply fails", `ping: {from: client, to: server, expect: no-reply}`, false, "2 of 2 answered"},
		{"an unrouted network passes expect no-reply", `ping: {from: client, to: 192.0.2.99, expect: no-reply}`, true, "0 of 2 answered"},
		{"an unrouted network passes expect unreachable with r1 named", `ping: {from: client, to: 192.0.2.99, expect: unreachable}`, true, "errors from 10.0.1.1"},
		{"an unrouted network fails expect reply", `ping: {from: client, to: 192.0.2.99}`, false, "dest-unreachable"},
		{"a packet too big for the narrow link passes expect frag-needed", `ping: {from: client, to: server, size: 1472, dont_fragment: true, expect: frag-needed}`, true, "frag-needed"},
		{"it is judged again at full size whatever the kernel cached", `ping: {from: client, to: server, size: 1472, dont_fragment: true, expect: frag-needed}`, true, "errors from 10.0.2.2"},
		{"a packet that fits fails expect frag-needed", `ping: {from: client, to: server, size: 1372, dont_fragment: true, expect: frag-needed}`, false, "with 1372-byte payloads and don't-fragment: 2 of 2 answered"},
	})
}

func TestDNSCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	e.judge(t, []checkCase{
		{"a name with the expected answer passes", `dns: {from: client, name: www.shop.example, answers: [203.0.113.80]}`, true, "A www.shop.example from client: NOERROR 203.0.113.80"},
		{"a name with another answer fails and shows the answer", `dns: {from: client, name: www.shop.example, answers: [203.0.113.99]}`, false, "NOERROR 203.0.113.80"},
		{"a name asked of a given server passes", `dns: {from: server, name: www.shop.example, server: 10.0.1.1, answers: [203.0.113.80]}`, true, "NOERROR"},
		{"a missing name passes expect NXDOMAIN", `dns: {from: client, name: nope.shop.example, rcode: NXDOMAIN}`, true, "NXDOMAIN"},
		{"a missing name fails expect NOERROR", `dns: {from: client, name: nope.shop.example}`, false, "NXDOMAIN"},
		{"a name the server never answers passes expect timeout", `dns: {from: client, name: dead.shop.example, rcode: timeout}`, true, "A dead.shop.example from client: timeout"},
		{"an answered name fails expect timeout", `dns: {from: client, name: www.shop.example, rcode: timeout}`, false, "NOERROR"},
		{"a slow answer fails a tighter max_latency", `dns: {from: client, name: slow.shop.example, max_latency: 200ms}`, false, "(slower than 200ms)"},
		{"a slow answer passes a looser max_latency", `dns: {from: client, name: slow.shop.example, max_latency: 1500ms}`, true, "NOERROR 203.0.113.80 in"},
		{"a fast answer passes a tight max_latency", `dns: {from: client, name: www.shop.example, max_latency: 200ms}`, true, "NOERROR"},
		// The search list then asks broken.shop.example.corp.test, which
		// is NXDOMAIN: the check reports the name it asked.
		{"a name the server fails is SERVFAIL, not the search domain's NXDOMAIN", `dns: {from: client, name: broken.shop.example, rcode: SERVFAIL}`, true, "A broken.shop.example from client: SERVFAIL"},
		{"a name the server fails fails expect NXDOMAIN", `dns: {from: client, name: broken.shop.example, rcode: NXDOMAIN}`, false, "SERVFAIL"},
	})
}

func TestHTTPCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	e.judge(t, []checkCase{
		{"a 200 passes the default status", `http: {from: client, url: "http://203.0.113.80/"}`, true, "GET http://203.0.113.80/ from client: 200 OK"},
		{"a 503 fails the default status and says 503", `http: {from: client, url: "http://203.0.113.80:8503/"}`, false, "503 Service Unavailable"},
		{"a 503 passes expect 503", `http: {from: client, url: "http://203.0.113.80:8503/", status: 503}`, true, "503"},
		{"a 200 fails expect 503", `http: {from: client, url: "http://203.0.113.80/", status: 503}`, false, "200 OK"},
		{"a refused connection fails and says so", `http: {from: client, url: "http://203.0.113.80:81/"}`, false, "GET http://203.0.113.80:81/ from client: connecting: dial tcp 203.0.113.80:81: connect: connection refused"},
	})
}

func TestRouteCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	e.judge(t, []checkCase{
		{"the client routes the server via r1 on eth0", `route: {host: client, to: server, dev: eth0, via: 10.0.1.1}`, true, "route lookup in client for 203.0.113.80: unicast dev eth0 via 10.0.1.1"},
		{"another gateway fails", `route: {host: client, to: server, via: 10.0.1.2}`, false, "via 10.0.1.1"},
		{"another device fails", `route: {host: r1, to: server, dev: eth0}`, false, "dev eth1 via 10.0.2.2"},
		{"a network r1 has no route to passes expect unreachable", `route: {host: r1, to: 192.0.2.99, expect: unreachable}`, true, "route lookup in r1 for 192.0.2.99: network is unreachable"},
		{"a network r1 has no route to fails expect routed", `route: {host: r1, to: 192.0.2.99}`, false, "route lookup in r1 for 192.0.2.99"},
		{"a routed address fails expect unreachable", `route: {host: client, to: server, expect: unreachable}`, false, "unicast"},
	})
}

func TestLinkCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	e.judge(t, []checkCase{
		{"an up interface passes up with its MTU", `link: {host: server, dev: eth0, up: true, mtu: 1400}`, true, "eth0 on server: state up, mtu 1400"},
		{"the narrow MTU fails an expected 1500", `link: {host: r2, dev: eth1, mtu: 1500}`, false, "mtu 1400"},
		{"an up interface fails expect down", `link: {host: server, dev: eth0, up: false}`, false, "state up"},
		{"a missing interface fails", `link: {host: server, dev: eth7, up: true}`, false, "server has no interface eth7"},
	})
	e.run("server", "ip link set eth0 down")
	e.judge(t, []checkCase{
		{"a downed interface passes expect down", `link: {host: server, dev: eth0, up: false}`, true, "eth0 on server: state down"},
		{"a downed interface fails expect up", `link: {host: server, dev: eth0, up: true}`, false, "state down"},
		{"its peer has no carrier and fails expect up", `link: {host: r2, dev: eth1, up: true}`, false, "eth1 on r2"},
	})
}

func TestPathMTUCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	e.judge(t, []checkCase{
		{"the narrow link gives 1400 and no black hole", `path_mtu: {from: client, to: server, mtu: 1400, black_hole: false}`, true, "a 1500-byte don't-fragment packet from client to 203.0.113.80 got fragmentation-needed back from 10.0.2.2; the path MTU is 1400 as expected"},
		{"an expected 1500 fails", `path_mtu: {from: client, to: server, mtu: 1500}`, false, "the path MTU is not 1500"},
		{"expecting a black hole fails while fragmentation-needed comes back", `path_mtu: {from: client, to: server, black_hole: true}`, false, "got fragmentation-needed back"},
	})
	e.run("r2", "iptables -A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP")
	e.judge(t, []checkCase{
		{"with fragmentation-needed dropped it is a black hole at 1400", `path_mtu: {from: client, to: server, mtu: 1400, black_hole: true}`, true, "a 1500-byte don't-fragment packet from client to 203.0.113.80 vanished, and no fragmentation-needed came back"},
		{"with fragmentation-needed dropped expecting no black hole fails", `path_mtu: {from: client, to: server, black_hole: false}`, false, "vanish"},
	})
}

func TestTraceCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	e.judge(t, []checkCase{
		{"every hop answers, so no silent hop", `trace: {from: client, to: server, silent_hops: false, reaches: true}`, true, "traceroute from client to 203.0.113.80: the destination answered at hop 3; every hop answered"},
		{"expecting a silent hop fails", `trace: {from: client, to: server, silent_hops: true}`, false, "every hop answered"},
		{"r2 is hop 2", `trace: {from: client, to: server, mode: icmp, hop_address: 10.0.2.2, hop: 2}`, true, "answered at hop 3"},
		{"r2 is not hop 1", `trace: {from: client, to: server, hop_address: 10.0.2.2, hop: 1}`, false, "10.0.2.2 is not at the hop expected"},
	})
	e.run("r2", "iptables -A OUTPUT -p icmp --icmp-type time-exceeded -j DROP")
	e.judge(t, []checkCase{
		{"with r2's time-exceeded dropped hop 2 is silent", `trace: {from: client, to: server, silent_hops: true, reaches: true}`, true, "answered at hop 3; 1 hop sent no time-exceeded"},
		{"with r2 silent expecting no silent hop fails", `trace: {from: client, to: server, silent_hops: false}`, false, "1 hop sent no time-exceeded"},
		{"with r2 silent its address is not seen", `trace: {from: client, to: server, hop_address: 10.0.2.2}`, false, "1 hop sent no time-exceeded"},
	})
}

func TestSocketsCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	e.judge(t, []checkCase{
		{"the web server listens on 80 as httpd", `sockets: {host: server, state: listen, port: 80, process: httpd, min: 1, max: 1}`, true, "server has 1 listen sockets on port 80 of the process the check looks for"},
		{"no CLOSE_WAIT before any client", `sockets: {host: server, state: close-wait, max: 0}`, true, "server has 0 close-wait sockets"},
		{"expecting CLOSE_WAIT before any client fails", `sockets: {host: server, state: close-wait, min: 1}`, false, "server has 0 close-wait sockets"},
		{"another process on 80 fails", `sockets: {host: server, state: listen, port: 80, process: leaker, min: 1}`, false, "0 listen sockets on port 80 of the process the check looks for"},
	})
	// Three clients connect and close; the leaker never closes its side.
	e.run("client", "for i in 1 2 3; do nc -z -w 2 203.0.113.80 8080 || exit 1; done")
	e.judge(t, []checkCase{
		{"three clients leave three CLOSE_WAIT on 8080", `sockets: {host: server, state: close-wait, port: 8080, min: 3, max: 3}`, true, "server has 3 close-wait sockets on port 8080"},
		{"they belong to the leaker", `sockets: {host: server, state: close-wait, process: leaker, min: 3}`, true, "3 close-wait sockets of the process the check looks for"},
		{"a max below the leak fails", `sockets: {host: server, state: close-wait, max: 2}`, false, "server has 3 close-wait sockets"},
		{"none belong to the web server", `sockets: {host: server, state: close-wait, process: httpd, min: 1}`, false, "0 close-wait sockets of the process the check looks for"},
		{"the client holds them in fin-wait-2", `sockets: {host: client, state: fin-wait-2, min: 3}`, true, "client has 3 fin-wait-2 sockets"},
	})
}

func TestFirewallCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	e.judge(t, []checkCase{
		{"a rule not there passes present false", `firewall: {host: server, chain: INPUT, rule: "-p tcp --dport 23 -j DROP", present: false}`, true, "filter INPUT chain on server: no rule matching the check, 0 rules"},
		{"a rule not there fails present", `firewall: {host: server, chain: INPUT, rule: "-p tcp --dport 23 -j DROP"}`, false, "no rule matching the check"},
		{"the default policy is ACCEPT", `firewall: {host: r1, chain: FORWARD, policy: ACCEPT}`, true, "policy ACCEPT"},
		{"expecting DROP fails", `firewall: {host: r1, chain: FORWARD, policy: DROP}`, false, "policy ACCEPT"},
		{"a chain that does not exist fails", `firewall: {host: r1, chain: NOPE, policy: DROP}`, false, "r1 has no NOPE chain in table filter"},
	})
	e.run("server", "iptables -A INPUT -p tcp --dport 23 -j DROP")
	e.run("r1", "iptables -P FORWARD DROP && iptables -A FORWARD -p tcp --dport 80 -j ACCEPT")
	e.judge(t, []checkCase{
		{"the added rule is present, written without -m tcp", `firewall: {host: server, chain: INPUT, rule: "-p tcp --dport 23 -j DROP"}`, true, "a rule matching the check is present, 1 rules"},
		{"the added rule fails present false", `firewall: {host: server, chain: INPUT, rule: "-p tcp --dport 23 -j DROP", present: false}`, false, "a rule matching the check is present"},
		{"a rule for another port is absent", `firewall: {host: server, chain: INPUT, rule: "-p tcp --dport 24 -j DROP"}`, false, "no rule matching the check"},
		{"the policy is now DROP with the rule present", `firewall: {host: r1, chain: FORWARD, policy: DROP, rule: "-p tcp --dport 80 -j ACCEPT"}`, true, "policy DROP, a rule matching the check is present"},
	})
}

func TestCounterCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	e.judge(t, []checkCase{
		{"a fresh client has received no unreachable", `counter: {host: client, name: IcmpInDestUnreachs, max: 0}`, true, "IcmpInDestUnreachs on client is 0"},
		{"expecting one fails before any", `counter: {host: client, name: IcmpInDestUnreachs, min: 1}`, false, "IcmpInDestUnreachs on client is 0"},
		{"an unknown counter fails", `counter: {host: client, name: NoSuchCounter, min: 0}`, false, "client has no counter NoSuchCounter"},
	})
	e.run("client", "ping -c 2 -i 0.2 -W 1 192.0.2.99; true")
	e.judge(t, []checkCase{
		{"after pinging an unrouted network the client counts the unreachables", `counter: {host: client, name: IcmpInDestUnreachs, min: 2}`, true, "IcmpInDestUnreachs on client is"},
		{"r1 counts what it sent", `counter: {host: r1, name: IcmpOutDestUnreachs, min: 2}`, true, "IcmpOutDestUnreachs on r1 is"},
		{"a max of 0 now fails", `counter: {host: client, name: IcmpInDestUnreachs, max: 0}`, false, "IcmpInDestUnreachs on client is"},
	})
}

func TestCaptureCheck(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	during := `during: {reach: {from: client, to: server, port: 81, expect: refused}}`
	e.judge(t, []checkCase{
		{"the SYN reaches the server", `capture: {host: server, dev: eth0, filter: "tcp dst port 81", seen: true, ` + during + `}`, true, `on eth0 of server, a packet matching "tcp dst port 81" while tcp client to 203.0.113.80:81: the connection is refused`},
		{"expecting it not to be seen fails", `capture: {host: server, dev: eth0, filter: "tcp dst port 81", seen: false, ` + during + `}`, false, "a packet matching"},
		{"a filter nothing matches is not seen", `capture: {host: server, dev: eth0, filter: "udp port 53", seen: false, ` + during + `}`, true, "no packet matching"},
	})
	// r2 now answers for the server with a reset: the learner's tool still
	// says refused, but nothing reaches the server.
	e.run("r2", "iptables -A FORWARD -p tcp --dport 81 -j REJECT --reject-with tcp-reset")
	e.judge(t, []checkCase{
		{"with r2 resetting, the SYN never reaches the server", `capture: {host: server, dev: eth0, filter: "tcp dst port 81", seen: false, ` + during + `}`, true, "no packet matching"},
		{"with r2 resetting, expecting the SYN on the server fails", `capture: {host: server, dev: eth0, filter: "tcp dst port 81", seen: true, ` + during + `}`, false, "refused"},
		{"the SYN is seen on r2", `capture: {host: r2, dev: eth0, filter: "tcp dst port 81", seen: true, ` + during + `}`, true, "on eth0 of r2, a packet"},
	})
}

// TestSettleWindow proves that a check is retried within its window (a
// listener that comes up late is seen) and that Once judges one
// observation.
func TestSettleWindow(t *testing.T) {
	t.Parallel()
	e := checksEnv(t)
	late := decodeCheck(t, `{reach: {from: client, to: server, port: 9000, expect: open}, within: 5s}`)
	once := *e.c
	once.Once = true
	if o := once.Check(context.Background(), late); o.Pass || o.Attempts != 1 {
		t.Errorf("once, before the listener: pass=%v after %d attempts (%s)", o.Pass, o.Attempts, o.Observed)
	}
	cmd, err := e.lab.Command("server", "sh", "-c", "sleep 0.6; exec nc -l 9000")
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	o := e.c.Check(context.Background(), late)
	if !o.Pass || o.Attempts < 2 {
		t.Errorf("a listener that comes up within the window: pass=%v after %d attempts (%s)", o.Pass, o.Attempts, o.Observed)
	}
	t.Run("a failing check gives up at the end of its window", func(t *testing.T) {
		ch := decodeCheck(t, `{reach: {from: client, to: server, port: 9001, expect: open}, within: 600ms}`)
		o := e.c.Check(context.Background(), ch)
		if o.Pass || o.Attempts < 2 {
			t.Errorf("pass=%v after %d attempts; want a fail after retrying for the window", o.Pass, o.Attempts)
		}
	})
	t.Run("a cancelled context stops the retries", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ch := decodeCheck(t, `{reach: {from: client, to: server, port: 9001, expect: open}, within: 1m}`)
		if o := e.c.Check(ctx, ch); o.Pass || o.Attempts != 1 {
			t.Errorf("pass=%v after %d attempts with a cancelled context", o.Pass, o.Attempts)
		}
	})
}
