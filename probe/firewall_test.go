package probe

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestFirewallCountersMatchIptables(t *testing.T) {
	l := pnChain(t)
	l.listenTCP("server", "10.3.0.2:80")
	l.mustRun("server", "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "81", "-j", "REJECT", "--reject-with", "tcp-reset")
	l.mustRun("server", "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "82", "-j", "DROP")
	l.mustRun("server", "iptables", "-N", "LAB")
	l.mustRun("server", "iptables", "-A", "LAB", "-s", "10.1.0.0/24", "-j", "RETURN")
	for i := 0; i < 3; i++ {
		Reach(l.ns("client"), netip.MustParseAddrPort("10.3.0.2:81"), ReachOptions{})
	}
	Reach(l.ns("client"), netip.MustParseAddrPort("10.3.0.2:82"), ReachOptions{Timeout: 300e6})

	rep, err := Firewall(l.ns("server"), false, "filter")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Backend != "nf_tables" || rep.Version == "" {
		t.Errorf("backend %q version %q, want nf_tables", rep.Backend, rep.Version)
	}
	in, ok := rep.Chain("INPUT")
	if !ok || len(in.Rules) != 2 || in.Policy != "ACCEPT" {
		t.Fatalf("INPUT = %+v", in)
	}
	if _, ok := rep.Chain("LAB"); !ok {
		t.Errorf("user chain LAB missing from %+v", rep.Chains)
	}
	// The oracle: iptables -L -n -v -x.
	out := l.mustRun("server", "iptables", "-L", "INPUT", "-n", "-v", "-x")
	rows := regexp.MustCompile(`(?m)^\s*(\d+)\s+(\d+)\s+(\S+)`).FindAllStringSubmatch(out, -1)
	if len(rows) != 2 {
		t.Fatalf("iptables -L shows %d rules:\n%s", len(rows), out)
	}
	for i, r := range in.Rules {
		pk, _ := strconv.ParseUint(rows[i][1], 10, 64)
		by, _ := strconv.ParseUint(rows[i][2], 10, 64)
		if r.Packets != pk || r.Bytes != by || r.Target != rows[i][3] {
			t.Errorf("rule %d: %d pkts %d bytes %s, iptables -L says %d %d %s", r.Num, r.Packets, r.Bytes, r.Target, pk, by, rows[i][3])
		}
	}
	if in.Rules[0].Packets != 3 || !strings.Contains(in.Rules[0].Spec, "--dport 81") || in.Rules[1].Packets == 0 {
		t.Errorf("rules %+v: want 3 packets rejected on 81 and some dropped on 82", in.Rules)
	}
}

func TestSNMPCountersMatchNstat(t *testing.T) {
	l := pnChain(t)
	before, err := SNMP(l.ns("client"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Ping(l.ns("client"), netip.MustParseAddr("10.3.0.2"), PingOptions{Count: 4, Interval: 20e6}); err != nil {
		t.Fatal(err)
	}
	after, err := SNMP(l.ns("client"))
	if err != nil {
		t.Fatal(err)
	}
	d := after.Delta(before)
	if d["IcmpOutEchos"] != 4 || d["IcmpInEchoReps"] != 4 {
		t.Errorf("delta %v: want 4 echos out and 4 replies in", d)
	}
	// The oracle: nstat -a (absolute), -z (zeros too), -s (no history).
	out := l.mustRun("client", "nstat", "-azs")
	seen := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		// Only counters nothing else moves between the two reads: IPv6
		// ones grow on their own (router solicitations, MLD reports).
		switch f[0] {
		case "IcmpOutEchos", "IcmpInEchoReps", "IpForwarding", "IcmpMsgOutType8", "TcpActiveOpens", "TcpExtListenDrops":
			seen++
			got, ok := after.Counters[f[0]]
			if !ok || got != v {
				t.Errorf("%s = %d (present %v), nstat says %d", f[0], got, ok, v)
			}
		}
	}
	if seen < 5 {
		t.Errorf("nstat showed only %d of the compared counters:\n%s", seen, out)
	}
	// A router's namespace is not the client's.
	r1, err := SNMP(l.ns("r1"))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Get("IpForwarding") != 1 || after.Get("IpForwarding") != 2 {
		t.Errorf("IpForwarding r1=%d client=%d, want 1 (forwarding) and 2 (host)", r1.Get("IpForwarding"), after.Get("IpForwarding"))
	}
}
