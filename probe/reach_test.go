package probe

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// pnReachLab is the chain lab with a listener on the server's ports
// 80 (open), 82 (behind REJECT tcp-reset), 83 (behind REJECT
// icmp-port-unreachable), 84 (behind DROP) and 90 on 127.0.0.1 only, and
// firewall rules on the routers for the ICMP errors.
func pnReachLab(t *testing.T) *pnLab {
	l := pnChain(t)
	for _, p := range []string{"80", "82", "83", "84", "85", "86", "87", "88"} {
		l.listenTCP("server", "10.3.0.2:"+p)
	}
	l.listenTCP("server", "127.0.0.1:90")
	rules := []struct{ host, rule string }{
		{"server", "-A INPUT -p tcp --dport 82 -j REJECT --reject-with tcp-reset"},
		{"server", "-A INPUT -p tcp --dport 83 -j REJECT"},
		{"server", "-A INPUT -p tcp --dport 84 -j DROP"},
		{"server", "-A INPUT -p udp --dport 5301 -j DROP"},
		{"client", "-A OUTPUT -p udp --dport 5303 -j DROP"},
		{"r2", "-A FORWARD -p tcp --dport 85 -j REJECT --reject-with icmp-host-prohibited"},
		{"r2", "-A FORWARD -p tcp --dport 86 -j REJECT --reject-with icmp-admin-prohibited"},
		{"r1", "-A FORWARD -p tcp --dport 87 -j REJECT --reject-with icmp-net-unreachable"},
		{"r2", "-A FORWARD -p tcp --dport 88 -j REJECT --reject-with icmp-host-unreachable"},
	}
	for _, r := range rules {
		l.mustRun(r.host, append([]string{"iptables"}, strings.Fields(r.rule)...)...)
	}
	// A host with no default route, and one whose default gateway is dead.
	l.host("lonely")
	l.link("lonely", "eth0", "10.8.0.2/24", "r1", "eth8", "10.8.0.1/24")
	l.host("orphan")
	l.link("orphan", "eth0", "10.7.0.2/24", "r1", "eth7", "10.7.0.1/24")
	l.route("orphan", "default", "10.7.0.99")
	return l
}

func TestReachClassifiesEachFailure(t *testing.T) {
	l := pnReachLab(t)
	// A UDP echo on the server.
	var pc net.PacketConn
	if err := l.ns("server").Do(func() error {
		var err error
		pc, err = net.ListenPacket("udp", "10.3.0.2:5300")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()

	cases := []struct {
		name    string
		from    string
		dst     string
		proto   string
		source  string
		timeout time.Duration
		want    ReachOutcome
		sender  string // expected From, "" for none
		icmp    string // expected ICMP error name, "" for none
		ncSays  string // what nc -zv prints, "" to skip the oracle
	}{
		{"a listening port is open", "client", "10.3.0.2:80", "tcp", "", 0, ReachOpen, "10.3.0.2", "", "succeeded"},
		{"nothing listening is refused by RST", "client", "10.3.0.2:81", "tcp", "", 0, ReachRefusedRST, "10.3.0.2", "", "Connection refused"},
		{"REJECT tcp-reset is refused by RST", "client", "10.3.0.2:82", "tcp", "", 0, ReachRefusedRST, "10.3.0.2", "", "Connection refused"},
		{"REJECT icmp-port-unreachable is refused by ICMP", "client", "10.3.0.2:83", "tcp", "", 0, ReachRefusedICMP, "10.3.0.2", "port-unreachable", "Connection refused"},
		{"DROP is filtered", "client", "10.3.0.2:84", "tcp", "", time.Second, ReachFiltered, "", "", ""},
		{"icmp-host-prohibited is administratively prohibited", "client", "10.3.0.2:85", "tcp", "", 0, ReachAdminProhibited, "10.2.0.2", "host-prohibited", "No route to host"},
		{"icmp-admin-prohibited is administratively prohibited", "client", "10.3.0.2:86", "tcp", "", 0, ReachAdminProhibited, "10.2.0.2", "admin-prohibited", "No route to host"},
		{"icmp-net-unreachable is network unreachable", "client", "10.3.0.2:87", "tcp", "", 0, ReachNetUnreachable, "10.1.0.1", "net-unreachable", "Network is unreachable"},
		{"icmp-host-unreachable is host unreachable", "client", "10.3.0.2:88", "tcp", "", 0, ReachHostUnreachable, "10.2.0.2", "host-unreachable", "No route to host"},
		{"no default route is no local route", "lonely", "10.3.0.2:80", "tcp", "", 0, ReachNoRoute, "", "", "Network is unreachable"},
		{"a dead on-link gateway is host unreachable", "orphan", "10.3.0.2:80", "tcp", "", 6 * time.Second, ReachHostUnreachable, "", "", "No route to host"},
		{"a listener on 127.0.0.1 refuses remote clients", "client", "10.3.0.2:90", "tcp", "", 0, ReachRefusedRST, "10.3.0.2", "", "Connection refused"},
		{"a listener on 127.0.0.1 refuses its host's own address", "server", "10.3.0.2:90", "tcp", "", 0, ReachRefusedRST, "10.3.0.2", "", "Connection refused"},
		{"a listener on 127.0.0.1 is open on loopback", "server", "127.0.0.1:90", "tcp", "", 0, ReachOpen, "127.0.0.1", "", "succeeded"},
		{"a source address not on the host is unavailable", "client", "10.3.0.2:80", "tcp", "10.99.0.1", 0, ReachAddrUnavailable, "", "", ""},
		{"a UDP echo is open", "client", "10.3.0.2:5300", "udp", "", 0, ReachOpen, "10.3.0.2", "", ""},
		{"a closed UDP port is refused by ICMP", "client", "10.3.0.2:5302", "udp", "", 0, ReachRefusedICMP, "10.3.0.2", "port-unreachable", ""},
		{"a dropped UDP port is open or filtered", "client", "10.3.0.2:5301", "udp", "", time.Second, ReachOpenOrFiltered, "", "", ""},
		{"a UDP datagram dropped by the sender's own OUTPUT rule is blocked locally", "client", "10.3.0.2:5303", "udp", "", time.Second, ReachBlockedLocally, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opt := ReachOptions{Proto: c.proto, Timeout: c.timeout}
			if c.source != "" {
				opt.Source = netip.MustParseAddr(c.source)
			}
			got, err := Reach(l.ns(c.from), netip.MustParseAddrPort(c.dst), opt)
			if err != nil {
				t.Fatal(err)
			}
			if got.Outcome != c.want {
				t.Fatalf("outcome %q, want %q (%+v)", got.Outcome, c.want, got)
			}
			if c.sender != "" && pnStr(got.From) != c.sender {
				t.Errorf("answered by %s, want %s (%+v)", pnStr(got.From), c.sender, got)
			}
			if c.icmp != "" && (got.ICMP == nil || got.ICMP.Name != c.icmp) {
				t.Errorf("icmp %+v, want %s", got.ICMP, c.icmp)
			}
			if c.icmp == "" && got.ICMP != nil && !got.ICMP.Local && got.ICMP.From != got.Src.Addr() {
				t.Errorf("unexpected icmp error %+v", got.ICMP)
			}
			t.Logf("%+v", got)
			if got.Meaning == "" {
				t.Error("no meaning given")
			}
			if c.ncSays != "" {
				host, port, _ := strings.Cut(c.dst, ":")
				out, _ := l.run(c.from, "nc", "-zv", "-w", "5", host, port)
				if !strings.Contains(out, c.ncSays) {
					t.Errorf("nc -zv says %q, expected it to say %q", out, c.ncSays)
				}
			}
		})
	}
}

// BenchmarkReachOpen is one classified TCP connect across two routers.
func BenchmarkReachOpen(b *testing.B) {
	l := pnChain(b)
	l.listenTCP("server", "10.3.0.2:80")
	dst := netip.MustParseAddrPort("10.3.0.2:80")
	for b.Loop() {
		r, err := Reach(l.ns("client"), dst, ReachOptions{})
		if err != nil || r.Outcome != ReachOpen {
			b.Fatalf("%+v %v", r, err)
		}
	}
}

func TestReachWithTheDestinationObservedNamesTheRule(t *testing.T) {
	l := pnReachLab(t)
	cases := []struct {
		name, dst string
		timeout   time.Duration
		want      ReachOutcome
		rule      string // in the matched rule's spec, "" for none
		meaning   string
	}{
		{"REJECT tcp-reset is told apart by its rule", "10.3.0.2:82", 0, ReachRefusedRST, "--dport 82", "firewall rule"},
		{"nothing listening has no rule", "10.3.0.2:81", 0, ReachRefusedRST, "", "nothing listens"},
		{"a listener on 127.0.0.1 has no rule", "10.3.0.2:90", 0, ReachRefusedRST, "", "nothing listens"},
		{"DROP is named", "10.3.0.2:84", 500 * time.Millisecond, ReachFiltered, "--dport 84", "drops it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Reach(l.ns("client"), netip.MustParseAddrPort(c.dst), ReachOptions{Timeout: c.timeout, Observe: l.ns("server")})
			if err != nil {
				t.Fatal(err)
			}
			if got.Outcome != c.want || !got.Observed || !strings.Contains(got.Meaning, c.meaning) {
				t.Errorf("got %+v, want %s with %q in the meaning", got, c.want, c.meaning)
			}
			switch {
			case c.rule == "" && got.MatchedRule != nil:
				t.Errorf("matched rule %+v, want none", got.MatchedRule)
			case c.rule != "" && (got.MatchedRule == nil || !strings.Contains(got.MatchedRule.Spec, c.rule)):
				t.Errorf("matched rule %+v, want one with %q", got.MatchedRule, c.rule)
			}
		})
	}
}
