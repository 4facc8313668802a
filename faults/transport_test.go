package faults_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/faults"
)

// nc runs `nc -zv -w 2` from a host, as a learner would.
func nc(l *labEnv, from, addr, port string) string {
	out, _ := l.run(from, "nc", "-zv", "-w", "2", addr, port)
	return out
}

// ncShows returns a symptom function: nc from a host prints want.
func ncShows(from, addr, port, want string) func(t *testing.T, l *labEnv) error {
	return func(t *testing.T, l *labEnv) error { return expect(nc(l, from, addr, port), want) }
}

const (
	ncTimeout     = "timed out: Operation now in progress"
	ncRefused     = "failed: Connection refused"
	ncNoRoute     = "failed: No route to host"
	ncNetUnreach  = "failed: Network is unreachable"
	ncSucceeded   = "succeeded!"
	serverAddress = "203.0.113.80"
)

func TestFirewallFaults(t *testing.T) {
	type fw struct {
		kind, host, chain, with, want string
	}
	cases := []fw{
		{"firewall-drop", "server", "INPUT", "DROP", ncTimeout},
		{"firewall-drop", "client", "OUTPUT", "DROP", ncTimeout},
		{"firewall-drop", "router", "FORWARD", "DROP", ncTimeout},
		{"firewall-reject-tcp-reset", "server", "INPUT", "REJECT --reject-with tcp-reset", ncRefused},
		{"firewall-reject-tcp-reset", "router", "FORWARD", "REJECT --reject-with tcp-reset", ncRefused},
		{"firewall-reject-port-unreachable", "router", "FORWARD", "REJECT --reject-with icmp-port-unreachable", ncRefused},
		{"firewall-reject-port-unreachable", "client", "OUTPUT", "REJECT --reject-with icmp-port-unreachable", ncRefused},
		{"firewall-reject-host-prohibited", "client", "OUTPUT", "REJECT --reject-with icmp-host-prohibited", ncNoRoute},
		{"firewall-reject-host-prohibited", "server", "INPUT", "REJECT --reject-with icmp-host-prohibited", ncNoRoute},
		{"firewall-reject-admin-prohibited", "router", "FORWARD", "REJECT --reject-with icmp-admin-prohibited", ncNoRoute},
		{"firewall-reject-net-unreachable", "server", "INPUT", "REJECT --reject-with icmp-net-unreachable", ncNetUnreach},
		{"firewall-reject-net-unreachable", "router", "FORWARD", "REJECT --reject-with icmp-net-unreachable", ncNetUnreach},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s in %s on the %s makes nc print %q until the rule is deleted", c.kind, c.chain, c.host, c.want), func(t *testing.T) {
			runFaultCase(t, faultCase{
				kind: c.kind, scenario: routedLab, host: c.host,
				params:  fmt.Sprintf("{chain: %s, port: 80}", c.chain),
				symptom: ncShows("client", serverAddress, "80", c.want),
				fix:     []string{fmt.Sprintf("%s: iptables -D %s -p tcp --dport 80 -j %s", c.host, c.chain, c.with)},
			})
		})
	}
	udpLab := strings.Replace(routedLab, "      - {name: web, kind: http, params: {port: 80}}\n",
		"      - {name: web, kind: http, params: {port: 80}}\n      - {name: echo, kind: udp-echo, params: {port: 7}}\n", 1)
	for _, c := range []fw{
		{"firewall-drop", "server", "INPUT", "DROP", ""},
		{"firewall-drop", "client", "OUTPUT", "DROP", ""},
		{"firewall-reject-port-unreachable", "router", "FORWARD", "REJECT --reject-with icmp-port-unreachable", ""},
	} {
		t.Run(fmt.Sprintf("%s of udp in %s on the %s stops the echo until the rule is deleted", c.kind, c.chain, c.host), func(t *testing.T) {
			runFaultCase(t, faultCase{
				kind: c.kind, scenario: udpLab, host: c.host,
				params: fmt.Sprintf("{chain: %s, proto: udp, port: 7}", c.chain),
				symptom: func(t *testing.T, l *labEnv) error {
					out, _ := l.run("client", "sh", "-c", "echo hello-udp | nc -u -w 1 "+serverAddress+" 7")
					if strings.Contains(out, "hello-udp") {
						return fmt.Errorf("the echo came back: %s", out)
					}
					return nil
				},
				fix: []string{fmt.Sprintf("%s: iptables -D %s -p udp --dport 7 -j %s", c.host, c.chain, c.with)},
			})
		})
	}
	t.Run("stateful-firewall-drops-return in INPUT on the client drops the SYN-ACK it receives", func(t *testing.T) {
		runFaultCase(t, faultCase{
			kind: "stateful-firewall-drops-return", scenario: routedLab, host: "client",
			params:  "{chain: INPUT, port: 80}",
			symptom: ncShows("client", serverAddress, "80", ncTimeout),
			fix:     []string{"client: iptables -D INPUT -p tcp --sport 80 -m conntrack --ctstate ESTABLISHED,RELATED -j DROP"},
		})
	})
	t.Run("stateful-firewall-drops-return on the router lets the SYN through and drops the SYN-ACK", func(t *testing.T) {
		runFaultCase(t, faultCase{
			kind: "stateful-firewall-drops-return", scenario: routedLab, host: "router",
			params: "{chain: FORWARD, port: 80}",
			symptom: func(t *testing.T, l *labEnv) error {
				if err := expect(nc(l, "client", serverAddress, "80"), ncTimeout); err != nil {
					return err
				}
				// The server answered: its half-open connection waits in SYN-RECV.
				out, _ := l.run("server", "ss", "-Htan", "state", "syn-recv", "( sport = :80 )")
				return expect(out, "10.0.1.10")
			},
			fix: []string{"router: iptables -I FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"},
		})
	})
}

// startByHand is a documented fix for a stopped service, the way a learner
// starts a daemon: the service process launched in the background on
// the host, then waited for in ss.
func startByHand(t *testing.T, host, kind, params string, port int) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`%s: setsid %s __service %s '%s' >/dev/null 2>&1 </dev/null &
for i in $(seq 100); do ss -Htln 'sport = :%d' | grep -q . && exit 0; sleep 0.05; done; exit 1`, host, self, kind, params, port)
}

// killHolder kills the process that holds a TCP port, found with ss -tlnp,
// and waits for the port to be free.
func killHolder(host string, port int) string {
	return fmt.Sprintf(`%s: pid=$(ss -Htlnp 'sport = :%d' | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1); test -n "$pid" && kill $pid
for i in $(seq 100); do ss -Htln 'sport = :%d' | grep -q . || exit 0; sleep 0.05; done; exit 1`, host, port, port)
}

// count parses the number of lines a command printed.
func lines(out string) int {
	out = strings.TrimSpace(out)
	if out == "" {
		return 0
	}
	return len(strings.Split(out, "\n"))
}

func TestServiceFaults(t *testing.T) {
	cases := []struct {
		name string
		faultCase
	}{
		{"service-not-running makes nc print connection refused until the service is started", faultCase{
			kind: "service-not-running", scenario: routedLab, host: "server", params: "{service: web}",
			symptom: func(t *testing.T, l *labEnv) error {
				if err := expect(nc(l, "client", serverAddress, "80"), ncRefused); err != nil {
					return err
				}
				if out, _ := l.run("server", "ss", "-Htln", "sport = :80"); out != "" {
					return fmt.Errorf("ss -tln still shows a listener: %s", out)
				}
				return nil
			},
			restart: []string{"server: web"},
		}},
		{"service-localhost-only refuses other hosts, answers the host, and ss shows 127.0.0.1:80", faultCase{
			kind: "service-localhost-only", scenario: routedLab, host: "server", params: "{service: web}",
			symptom: func(t *testing.T, l *labEnv) error {
				if err := expect(nc(l, "client", serverAddress, "80"), ncRefused); err != nil {
					return err
				}
				if err := expect(nc(l, "server", "127.0.0.1", "80"), ncSucceeded); err != nil {
					return err
				}
				out, _ := l.run("server", "ss", "-Htlnp", "sport = :80")
				return expect(out, "127.0.0.1:80")
			},
			fix: []string{killHolder("server", 80)}, restart: []string{"server: web"},
		}},
		{"port-conflict shows the squatter's name and PID in ss -tlnp until it is killed", faultCase{
			kind: "port-conflict", scenario: routedLab, host: "server", params: "{service: web, process_name: python3}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("server", "ss", "-Htlnp", "sport = :80")
				if err := expect(out, `users:(("python3",pid=`); err != nil {
					return err
				}
				out, _ = l.run("client", "curl", "-sS", "-m", "3", "http://"+serverAddress+"/")
				if strings.Contains(out, "welcome") || strings.Contains(out, "hello from netdojo") {
					return fmt.Errorf("curl got the real service's answer: %s", out)
				}
				return nil
			},
			fix: []string{killHolder("server", 80)}, restart: []string{"server: web"},
		}},
		{"close-wait-leak piles CLOSE_WAIT sockets on the server until the service is restarted", faultCase{
			kind: "close-wait-leak", scenario: routedLab, host: "server", params: "{service: web, connections: 10}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("server", "ss", "-Htan", "state", "close-wait", "( sport = :80 )")
				if n := lines(out); n < 10 {
					return fmt.Errorf("ss -tan state close-wait shows %d sockets, want at least 10:\n%s", n, out)
				}
				return nil
			},
			fix: []string{killHolder("server", 80)}, restart: []string{"server: web"},
		}},
		{"time-wait-pileup fills the client's ss with TIME_WAIT while the service still answers", faultCase{
			kind: "time-wait-pileup", scenario: routedLab, host: "server", params: "{service: web, connections: 200}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("router", "ss", "-Htan", "state", "time-wait", "( dport = :80 )")
				if n := lines(out); n < 100 {
					return fmt.Errorf("ss -tan state time-wait on the client shows %d sockets, want at least 100", n)
				}
				return expect(nc(l, "router", serverAddress, "80"), ncSucceeded)
			},
			fix: []string{"router: ss -K -tan state time-wait '( dport = :80 )' >/dev/null"},
		}},
		{"syn-backlog-overflow makes new connections time out while ss -ltn shows Recv-Q above Send-Q", faultCase{
			kind: "syn-backlog-overflow", scenario: routedLab, host: "server", params: "{service: web, backlog: 1}",
			symptom: func(t *testing.T, l *labEnv) error {
				if err := expect(nc(l, "client", serverAddress, "80"), ncTimeout); err != nil {
					return err
				}
				out, _ := l.run("server", "ss", "-Hltn", "sport = :80")
				f := strings.Fields(out)
				if len(f) < 3 {
					return fmt.Errorf("ss -ltn shows no listener: %q", out)
				}
				rq, _ := strconv.Atoi(f[1])
				sq, _ := strconv.Atoi(f[2])
				if rq <= sq {
					return fmt.Errorf("ss -ltn shows Recv-Q %d, Send-Q %d: %s", rq, sq, out)
				}
				return nil
			},
			fix: []string{killHolder("server", 80), startByHand(t, "server", "http", `{"port":80}`, 80)},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runFaultCase(t, c.faultCase) })
	}
}

var (
	lossRE = regexp.MustCompile(`(\d+(?:\.\d+)?)% packet loss`)
	rttRE  = regexp.MustCompile(`rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms`)
)

// pingRTT runs ping from a host and returns min and max RTT in ms.
func pingRTT(l *labEnv, from, to string, count int) (lo, hi float64, err error) {
	out, _ := l.run(from, "ping", "-n", "-c", strconv.Itoa(count), "-i", "0.05", "-W", "2", to)
	m := rttRE.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("ping printed no rtt line:\n%s", out)
	}
	lo, _ = strconv.ParseFloat(m[1], 64)
	hi, _ = strconv.ParseFloat(m[3], 64)
	return lo, hi, nil
}

func TestPathQualityFaults(t *testing.T) {
	bulkLab := strings.Replace(routedLab, "params: {port: 80}", "params: {port: 80, body_size: 400000}", 1)
	cases := []struct {
		name string
		faultCase
	}{
		{"packet-loss makes ping report loss until the statistic rule is deleted", faultCase{
			kind: "packet-loss", scenario: routedLab, host: "client", params: "{chain: INPUT, probability: 0.5}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-n", "-c", "30", "-i", "0.01", "-W", "1", "10.0.1.1")
				m := lossRE.FindStringSubmatch(out)
				if m == nil {
					return fmt.Errorf("ping printed no loss line:\n%s", out)
				}
				if m[1] == "0" {
					return fmt.Errorf("ping reports 0%% packet loss")
				}
				return nil
			},
			fix: []string{"client: iptables -D INPUT -m statistic --mode random --probability 0.5 -j DROP"},
		}},
		{"latency raises ping's minimum RTT by the delay until the NFQUEUE rule is deleted", faultCase{
			kind: "latency", scenario: routedLab, host: "client", params: "{delay: 100ms}",
			symptom: func(t *testing.T, l *labEnv) error {
				lo, _, err := pingRTT(l, "client", "10.0.1.1", 3)
				if err != nil {
					return err
				}
				if lo < 70 {
					return fmt.Errorf("ping rtt min is %.3f ms, want at least 70", lo)
				}
				return nil
			},
			fix: []string{"client: iptables -D OUTPUT -j NFQUEUE --queue-num 7 --queue-bypass"},
		}},
		{"jitter spreads ping's RTTs until the NFQUEUE rule is deleted", faultCase{
			kind: "jitter", scenario: routedLab, host: "client", params: "{delay: 50ms, jitter: 40ms}",
			symptom: func(t *testing.T, l *labEnv) error {
				lo, hi, err := pingRTT(l, "client", "10.0.1.1", 20)
				if err != nil {
					return err
				}
				if hi-lo < 20 {
					return fmt.Errorf("ping rtt min %.3f max %.3f ms: spread under 20 ms", lo, hi)
				}
				return nil
			},
			fix: []string{"client: iptables -D OUTPUT -j NFQUEUE --queue-num 8 --queue-bypass"},
		}},
		{"bandwidth-limit slows a large curl download to about the rate until the qdisc is deleted", faultCase{
			kind: "bandwidth-limit", scenario: bulkLab, host: "server", params: "{rate: 2mbit}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, err := l.run("client", "curl", "-sS", "-o", "/dev/null", "-m", "20", "-w", "%{speed_download}", "http://"+serverAddress+"/")
				if err != nil {
					return fmt.Errorf("curl: %v: %s", err, out)
				}
				speed, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
				if err != nil {
					return fmt.Errorf("curl printed %q", out)
				}
				// 2 mbit/s is 250000 bytes/s; allow the burst and headers.
				if speed > 375000 {
					return fmt.Errorf("curl downloaded at %.0f bytes/s, above the 2mbit shaper", speed)
				}
				return nil
			},
			fix: []string{"server: tc qdisc del dev eth0 root"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runFaultCase(t, c.faultCase) })
	}
}

// BenchmarkInjectRevert measures one Inject and RevertByName of a fault on
// a running lab, through the record in the lab's directory.
func BenchmarkInjectRevert(b *testing.B) {
	for _, c := range []struct{ kind, host, params string }{
		{"firewall-drop", "server", "{port: 80}"},
		{"service-not-running", "server", "{service: web}"},
		{"port-conflict", "server", "{service: web}"},
	} {
		b.Run(c.kind, func(b *testing.B) {
			l := startTestLab(b, routedLab)
			lab, s := l.lab, l.s
			params := typedParams(b, c.kind, c.params)
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				if _, err := faults.Inject(ctx, lab, s, "", c.kind, c.host, params); err != nil {
					b.Fatal(err)
				}
				if _, err := faults.RevertByName(ctx, lab, s, c.kind); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
