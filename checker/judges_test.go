package checker_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/lab/labtest"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
)

// TestFilterJudge judges tcpdump filters over the reference traffic:
// right answers, near misses (the observation names what was wrongly
// caught or missed) and garbage.
func TestFilterJudge(t *testing.T) {
	c := &checker.Checker{}
	cases := []struct {
		name    string
		traffic string
		want    string
		filter  string
		pass    bool
		saw     string
	}{
		{"SYN only: flags equal to SYN", "syn-flood", "syn-only", "tcp[tcpflags] == tcp-syn", true, "the filter selects 15 of"},
		{"SYN only: the same with the flag mask", "web-mix", "syn-only", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", true, "the filter selects 3 of"},
		{"SYN only: a filter that also catches SYN-ACKs is a near miss", "syn-flood", "syn-only", "tcp[tcpflags] & tcp-syn != 0", false, "it also catches 6 synack"},
		{"SYN only: a filter that catches every TCP packet names what it caught", "web-mix", "syn-only", "tcp", false, "it also catches"},
		{"SYN any: SYN flag set", "syn-flood", "syn-any", "tcp[tcpflags] & (tcp-syn) != 0", true, "the filter selects 21 of"},
		{"SYN any: SYN alone misses the SYN-ACKs", "syn-flood", "syn-any", "tcp[tcpflags] == tcp-syn", false, "it misses 6 synack"},
		{"HTTP GET: the first payload word after a 32-byte header", "web-mix", "http-get", "tcp port 80 and tcp[32:4] = 0x47455420", true, "the filter selects 1 of"},
		{"HTTP GET: the payload offset from the header length", "web-mix", "http-get", "tcp dst port 80 and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", true, "selects 1 of"},
		{"HTTP GET: port 80 alone is a near miss", "web-mix", "http-get", "port 80", false, "it also catches"},
		{"HTTP GET: POST is not GET", "web-mix", "http-get", "tcp port 80 and tcp[32:4] = 0x504f5354", false, "it also catches 1 post; it misses 1 get"},
		{"DNS: UDP port 53", "web-mix", "dns", "udp port 53", true, "the filter selects 6 of"},
		{"DNS: the destination port alone misses the responses", "web-mix", "dns", "udp dst port 53", false, "it misses 3 dns-response"},
		// The library's dns-queries task (tcpdump-filters): natural right
		// filters, by port or by the QR bit, and near misses.
		{"DNS queries: to port 53", "web-mix", "dns-queries", "dst port 53", true, "selects 3 of"},
		{"DNS queries: UDP to port 53", "web-mix", "dns-queries", "udp dst port 53", true, "selects 3 of"},
		{"DNS queries: udp and dst port 53", "web-mix", "dns-queries", "udp and dst port 53", true, "selects 3 of"},
		{"DNS queries: the QR bit clear", "web-mix", "dns-queries", "udp port 53 and udp[10] & 0x80 = 0", true, "selects 3 of"},
		{"DNS queries: the QR bit with ==", "web-mix", "dns-queries", "port 53 and udp[10] & 0x80 == 0", true, "selects 3 of"},
		{"DNS queries: the QR bit first", "web-mix", "dns-queries", "udp[10] & 0x80 = 0 and udp port 53", true, "selects 3 of"},
		{"DNS queries: the QR bit by byte 2 of the payload", "web-mix", "dns-queries", "udp port 53 and (udp[10] & 0x80) == 0", true, "selects 3 of"},
		{"DNS queries: port 53 catches the answers too", "web-mix", "dns-queries", "port 53", false, "it also catches 3 dns-response"},
		{"DNS queries: from port 53 is the answers", "web-mix", "dns-queries", "src port 53", false, "it also catches 3 dns-response; it misses 3 dns-query"},
		{"DNS queries: the QR bit set is the answers", "web-mix", "dns-queries", "udp port 53 and udp[10] & 0x80 != 0", false, "it also catches 3 dns-response"},
		{"DNS queries: the QR bit without the port catches other UDP", "web-mix", "dns-queries", "udp[10] & 0x80 = 0", false, "it also catches 1 ntp"},
		{"DNS queries: only the client's queries miss the resolver's", "web-mix", "dns-queries", "src host 10.0.0.10 and dst port 53", false, "it misses 1 dns-query"},
		// The library's SYN tasks (tcpdump-filters, quiz-syn-flood).
		{"SYN only: tcp[13] == 2", "syn-flood", "syn-only", "tcp[13] == 2", true, "selects 15 of"},
		{"SYN only: the SYN bit without ACK", "syn-flood", "syn-only", "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0", true, "selects 15 of"},
		{"SYN only: tcp-syn and not tcp-ack", "syn-flood", "syn-only", "(tcp[tcpflags] & tcp-syn) != 0 and not (tcp[tcpflags] & tcp-ack) != 0", true, "selects 15 of"},
		{"SYN only: tcp[13] & 2 catches SYN-ACKs", "syn-flood", "syn-only", "tcp[13] & 2 != 0", false, "it also catches 6 synack"},
		{"SYN any: tcp[13] & 2 != 0", "syn-flood", "syn-any", "tcp[13] & 2 != 0", true, "selects 21 of"},
		{"SYN any: tcp[13] & 0x02 = 2", "syn-flood", "syn-any", "tcp[13] & 0x02 = 2", true, "selects 21 of"},
		{"SYN any: SYN or FIN catches the closes", "syn-flood", "syn-any", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", false, "fin"},
		// The library's http-get task.
		{"HTTP GET: the payload word alone", "web-mix", "http-get", "tcp[32:4] = 0x47455420", true, "selects 1 of"},
		{"HTTP GET: the word in ASCII order with ==", "web-mix", "http-get", "port 80 and tcp[32:4] == 0x47455420", true, "selects 1 of"},
		{"HTTP GET: a 20-byte header offset misses it", "web-mix", "http-get", "tcp[20:4] = 0x47455420", false, "it misses 1 get"},
		{"resets: the RST flag", "web-mix", "rst", "tcp[tcpflags] & tcp-rst != 0", true, "selects 1 of"},
		{"ICMP: the protocol", "syn-flood", "icmp", "icmp", true, "selects 2 of"},
		{"garbage: a syntax error is rejected as tcpdump rejects it", "web-mix", "syn-only", "tcp[tcpflags] === tcp-syn", false, "tcpdump would not accept the filter"},
		{"garbage: an unknown keyword", "web-mix", "dns", "udp prot 53", false, "tcpdump would not accept the filter"},
		{"garbage: an empty filter", "web-mix", "dns", "   ", false, "no filter given"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := decodeAnswer(t, `{filter: {traffic: `+tc.traffic+`, want: `+tc.want+`}}`)
			o := c.Answer(context.Background(), a, strings.Fields(tc.filter))
			if o.Pass != tc.pass || !strings.Contains(o.Observed, tc.saw) {
				t.Errorf("filter %q for %s: pass=%v observed %q; want pass=%v and %q", tc.filter, tc.want, o.Pass, o.Observed, tc.pass, tc.saw)
			}
			if !tc.pass && strings.Contains(o.Observed, "tcp-syn") && !strings.Contains(tc.filter, "tcp-syn") {
				t.Errorf("a failing filter's observation suggests a filter: %s", o.Observed)
			}
		})
	}
	t.Run("an unknown packet set is an error, not a judgement", func(t *testing.T) {
		// Built by hand: the loader refuses it (want is an enum), and
		// the judge must still not take it for a judgement.
		a := &scenarios.Answer{Filter: &scenarios.FilterAnswer{Traffic: "web-mix", Want: "nope"}}
		o := c.Answer(context.Background(), a, []string{"tcp"})
		if o.Pass || !strings.Contains(o.Observed, `unknown packet set "nope"`) {
			t.Errorf("pass=%v observed %q", o.Pass, o.Observed)
		}
	})
}

// pcapLab is a client and a server on a LAN; the server answers HTTP on
// 80, rejects 81 with a reset, drops 82, and never answers
// dead.shop.example.
const pcapLab = `apiVersion: netdojo/v1
metadata: {name: ck-pcap, title: Captures}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
  server:
    interfaces: [{network: lan, ipv4: 10.0.1.80/24}]
    services:
      - {name: web, kind: http, params: {port: 80}}
      - name: dns
        kind: dns
        params:
          zones: [{origin: shop.example., records: ["www A 10.0.1.80"]}]
          faults: [{name: dead.shop.example., mode: timeout}]
networks:
  lan: {type: bridge}
`

// capture records a pcap on client's eth0 while traffic runs, as a
// learner would with tcpdump -w.
func capture(t *testing.T, e *env, filter string, traffic func()) string {
	t.Helper()
	return captureOn(t, e, "client", filter, traffic)
}

// captureOn records a pcap on a host's eth0 while traffic runs.
func captureOn(t *testing.T, e *env, host, filter string, traffic func()) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capture.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := e.lab.Host(host)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := probe.OpenCapture(h, probe.CaptureOptions{Interface: "eth0", Filter: filter, Pcap: f})
	if err != nil {
		t.Fatal(err)
	}
	traffic()
	// The packets are queued in the ring; drain them.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	stats, err := cp.Run(ctx)
	cancel()
	if cerr := cp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("capturing: %v", err)
	}
	if stats.Packets == 0 {
		t.Fatalf("the capture %q holds no packet", filter)
	}
	return path
}

// runIn runs a command in a host, whatever its exit status (the traffic
// of a failing connection is what is wanted).
func (e *env) runIn(host, script string) {
	e.t.Helper()
	cmd, err := e.lab.Command(host, "sh", "-c", script)
	if err != nil {
		e.t.Fatal(err)
	}
	cmd.Run()
}

// TestPcapJudge judges captures made in a lab: each proves what it
// shows and nothing else; garbage is named as such.
func TestPcapJudge(t *testing.T) {
	t.Parallel()
	e := start(t, labtest.Load(t, pcapLab, 0), false)
	e.run("server", "iptables -A INPUT -p tcp --dport 81 -j REJECT --reject-with tcp-reset && iptables -A INPUT -p tcp --dport 82 -j DROP")
	pcaps := map[string]string{
		"unanswered SYNs": capture(t, e, "tcp port 82", func() { e.runIn("client", "nc -z -w 1 10.0.1.80 82") }),
		"a reset":         capture(t, e, "tcp port 81", func() { e.runIn("client", "nc -z -w 1 10.0.1.80 81") }),
		"a handshake":     capture(t, e, "tcp port 80", func() { e.run("client", "nc -z -w 1 10.0.1.80 80") }),
		"an unanswered DNS query": capture(t, e, "udp port 53", func() {
			e.runIn("client", "dig +tries=1 +time=1 @10.0.1.80 dead.shop.example")
		}),
		"an answered DNS query": capture(t, e, "udp port 53", func() { e.run("client", "dig +tries=1 +time=1 @10.0.1.80 www.shop.example") }),
	}
	// tcpdump, the learner's tool, reads each capture.
	for what, path := range pcaps {
		cmd, err := e.lab.Command("client", "tcpdump", "-n", "-r", path)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "10.0.1.80") {
			t.Fatalf("tcpdump -r of %s: %v\n%s", what, err, out)
		}
	}
	notPcap := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notPcap, []byte("SYN sent, nothing came back\n"), 0o644)
	cases := []struct {
		name   string
		proves string
		host   string
		file   string // a key of pcaps, or a path
		pass   bool
		saw    string
	}{
		{"unanswered SYNs prove syn-no-synack", "syn-no-synack", "server", "unanswered SYNs", true, "SYNs to 10.0.1.80:82 and nothing came back"},
		{"a complete handshake is a near miss for syn-no-synack", "syn-no-synack", "", "a handshake", false, "1 TCP handshakes, 0 DNS exchanges, 0 ICMP errors; it does not show what the task asks"},
		{"unanswered SYNs to another host than asked do not count", "syn-no-synack", "client", "unanswered SYNs", false, "it does not show what the task asks"},
		{"a reset proves rst", "rst", "server", "a reset", true, "the connection 10.0.1.10:"},
		{"unanswered SYNs do not prove rst", "rst", "", "unanswered SYNs", false, "does not show"},
		{"a reset does not prove syn-no-synack", "syn-no-synack", "", "a reset", false, "does not show"},
		{"an unanswered DNS query proves dns-no-answer", "dns-no-answer", "server", "an unanswered DNS query", true, "the query for dead.shop.example"},
		{"an answered DNS query is a near miss for dns-no-answer", "dns-no-answer", "", "an answered DNS query", false, "1 DNS exchanges"},
		{"a text file is not a pcap", "syn-no-synack", "", notPcap, false, "is not a pcap file netdojo can read"},
		{"a missing file is named", "syn-no-synack", "", filepath.Join(t.TempDir(), "missing.pcap"), false, "missing.pcap is not a pcap file netdojo can read"},
		{"no file given", "rst", "", "", false, "no pcap file given"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.file
			if p, ok := pcaps[tc.file]; ok {
				path = p
			}
			host := ""
			if tc.host != "" {
				host = ", host: " + tc.host
			}
			a := decodeAnswer(t, `{pcap: {proves: `+tc.proves+host+`}}`)
			var given []string
			if path != "" {
				given = []string{path}
			}
			o := e.c.Answer(context.Background(), a, given)
			if o.Pass != tc.pass || !strings.Contains(o.Observed, tc.saw) {
				t.Errorf("pass=%v observed %q; want pass=%v and %q", o.Pass, o.Observed, tc.pass, tc.saw)
			}
		})
	}
}

// blackHoleLab has a narrow link between two routers; r2 drops the
// fragmentation-needed it should send back to the server.
const blackHoleLab = `apiVersion: netdojo/v1
metadata: {name: ck-blackhole, title: A PMTU black hole}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
    routes: [{to: default, via: 10.0.1.1}]
  r1:
    interfaces: [{network: lan, ipv4: 10.0.1.1/24}, {network: core, ipv4: 10.0.2.1/24}]
    routes: [{to: 203.0.113.0/24, via: 10.0.2.2}]
    sysctls: {net.ipv4.ip_forward: "1"}
  r2:
    interfaces: [{network: core, ipv4: 10.0.2.2/24}, {network: wan, ipv4: 203.0.113.1/24}]
    routes: [{to: 10.0.1.0/24, via: 10.0.2.1}]
    sysctls: {net.ipv4.ip_forward: "1"}
  server:
    interfaces: [{network: wan, ipv4: 203.0.113.80/24}]
    routes: [{to: default, via: 203.0.113.1}]
    services:
      - {name: web, kind: http, params: {port: 80, body_size: 200000}}
networks:
  lan: {type: bridge}
  core: {type: p2p, mtu: 1400}
  wan: {type: p2p}
`

// TestPcapJudgeBlackHole captures, on the server, a download stalled by a
// PMTU black hole (retransmitted full-size segments, no
// fragmentation-needed), and the same download with the ICMP let through.
func TestPcapJudgeBlackHole(t *testing.T) {
	t.Parallel()
	e := start(t, labtest.Load(t, blackHoleLab, 0), false)
	a := decodeAnswer(t, `{pcap: {proves: frag-needed-missing}}`)
	healthy := captureOn(t, e, "server", "tcp port 80 or icmp", func() {
		e.run("client", "curl -s -o /dev/null -m 5 http://203.0.113.80/")
	})
	e.run("r2", "iptables -A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP")
	e.run("server", "ip route flush cache")
	stalled := captureOn(t, e, "server", "tcp port 80 or icmp", func() {
		e.runIn("client", "curl -s -o /dev/null -m 2 http://203.0.113.80/")
	})
	if o := e.c.Answer(context.Background(), a, []string{stalled}); !o.Pass || !strings.Contains(o.Observed, "retransmissions and no fragmentation-needed") {
		t.Errorf("the stalled download: pass=%v observed %q", o.Pass, o.Observed)
	}
	o := e.c.Answer(context.Background(), a, []string{healthy})
	if o.Pass || !regexp.MustCompile(`[1-9]\d* ICMP errors; it does not show what the task asks`).MatchString(o.Observed) {
		t.Errorf("the download that got its fragmentation-needed: pass=%v observed %q", o.Pass, o.Observed)
	}
}
