package probe

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// pnPingLab is the chain lab with a 1400-byte link between r1 and r2 and
// r2 answering 10.4.0.0/24 with host-unreachable, 10.6.0.0/24 with
// admin-prohibited and dropping 10.5.0.0/24 in a blackhole route.
func pnPingLab(t *testing.T) *pnLab {
	l := pnChain(t)
	l.mtu("r1", "eth1", 1400)
	l.mtu("r2", "eth0", 1400)
	// Routes' own unreachable/prohibit errors are rate limited by
	// net.ipv4.route.error_cost, which a namespace cannot turn off, so the
	// errors come from REJECT rules (icmp_ratelimit is 0).
	l.mustRun("r2", "iptables", "-A", "FORWARD", "-d", "10.4.0.0/24", "-j", "REJECT", "--reject-with", "icmp-host-unreachable")
	l.mustRun("r2", "iptables", "-A", "FORWARD", "-d", "10.6.0.0/24", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")
	l.specialRoute("r2", "blackhole", "10.5.0.0/24")
	return l
}

var pnPingFromRe = regexp.MustCompile(`From (\S+) icmp_seq=\d+ (.*)`)
var pnPingRecvRe = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

func TestPingClassifiesLikePing(t *testing.T) {
	l := pnPingLab(t)
	cases := []struct {
		name     string
		dst      string
		opt      PingOptions
		pingArgs []string
		kind     PingReplyKind
		from     string
		detail   string // ping's words for the first error line
		mtu      int
	}{
		{"a reachable host echoes", "10.3.0.2", PingOptions{}, nil, PingEchoReply, "10.3.0.2", "", 0},
		{"TTL 1 expires at the first router", "10.3.0.2", PingOptions{TTL: 1}, []string{"-t", "1"}, PingTimeExceeded, "10.1.0.1", "Time to live exceeded", 0},
		{"TTL 2 expires at the second router", "10.3.0.2", PingOptions{TTL: 2}, []string{"-t", "2"}, PingTimeExceeded, "10.2.0.2", "Time to live exceeded", 0},
		{"a big packet with DF needs fragmentation at the narrow link", "10.3.0.2", PingOptions{Size: 1472, DontFragment: true}, []string{"-M", "do", "-s", "1472"}, PingFragNeeded, "10.1.0.1", "Frag needed and DF set (mtu = 1400)", 1400},
		{"a packet that fits the narrow link with DF is answered", "10.3.0.2", PingOptions{Size: 1372, DontFragment: true}, []string{"-M", "do", "-s", "1372"}, PingEchoReply, "10.3.0.2", "", 0},
		{"a big packet without DF is fragmented and answered", "10.3.0.2", PingOptions{Size: 3000}, []string{"-M", "dont", "-s", "3000"}, PingEchoReply, "10.3.0.2", "", 0},
		{"a host-unreachable REJECT answers host unreachable", "10.4.0.1", PingOptions{}, nil, PingDestUnreach, "10.2.0.2", "Destination Host Unreachable", 0},
		{"an admin-prohibited REJECT answers packet filtered", "10.6.0.1", PingOptions{}, nil, PingDestUnreach, "10.2.0.2", "Packet filtered", 0},
		{"a packet bigger than the local link with DF is a local error", "10.3.0.2", PingOptions{Size: 1600, DontFragment: true}, []string{"-M", "do", "-s", "1600"}, PingLocalError, "", "", 1500},
		{"a blackhole route answers nothing", "10.5.0.1", PingOptions{}, nil, PingNothing, "", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// The oracle runs first: its -M do pings would meet a path MTU
			// that our probe made the kernel cache.
			args := append([]string{"ping", "-n", "-c", "2", "-i", "0.2", "-W", "1"}, c.pingArgs...)
			out, _ := l.run("client", append(args, c.dst)...)
			m := pnPingRecvRe.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("ping printed no summary: %s", out)
			}
			c.opt.Count = 2
			got, err := Ping(l.ns("client"), netip.MustParseAddr(c.dst), c.opt)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", got)
			for _, r := range got.Replies {
				if r.Kind != c.kind || pnStr(r.From) != c.from || r.MTU != c.mtu {
					t.Errorf("reply %+v, want %s from %q mtu %d", r, c.kind, c.from, c.mtu)
				}
			}
			if n, _ := strconv.Atoi(m[2]); n != got.Received {
				t.Errorf("received %d, ping received %d: %s", got.Received, n, out)
			}
			if c.detail != "" {
				fm := pnPingFromRe.FindStringSubmatch(out)
				if fm == nil || fm[1] != c.from || !strings.HasPrefix(fm[2], c.detail) {
					t.Errorf("ping says %q, expected From %s %s", out, c.from, c.detail)
				}
				if got.Replies[0].Name == "" {
					t.Errorf("error reply without a name: %+v", got.Replies[0])
				}
			}
			if c.kind == PingEchoReply && (got.MinRTT <= 0 || got.MaxRTT < got.AvgRTT || got.Loss != 0) {
				t.Errorf("rtt stats min %v avg %v max %v loss %v", got.MinRTT, got.AvgRTT, got.MaxRTT, got.Loss)
			}
		})
	}
}

func TestPingAndReachOverIPv6ClassifyLikePing(t *testing.T) {
	l := pnNewLab(t)
	for _, h := range []string{"a", "r", "b"} {
		l.host(h)
	}
	l.link("a", "eth0", "", "r", "eth0", "")
	l.link("r", "eth1", "", "b", "eth0", "")
	for _, a := range []struct{ host, dev, addr string }{
		{"a", "eth0", "fd01::2/64"}, {"r", "eth0", "fd01::1/64"}, {"r", "eth1", "fd02::1/64"}, {"b", "eth0", "fd02::2/64"},
	} {
		l.mustRun(a.host, "ip", "-6", "addr", "add", a.addr, "dev", a.dev, "nodad")
	}
	l.router("r")
	l.mustRun("a", "ip", "-6", "route", "add", "default", "via", "fd01::1")
	l.mustRun("b", "ip", "-6", "route", "add", "default", "via", "fd02::1")
	l.mustRun("r", "ip", "-6", "route", "add", "fd03::/64", "via", "fd02::2")
	l.mustRun("r", "ip6tables", "-A", "FORWARD", "-d", "fd03::/64", "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited")
	cases := []struct {
		name, dst string
		opt       PingOptions
		args      []string
		kind      PingReplyKind
		from      string
		detail    string
	}{
		{"a reachable host echoes", "fd02::2", PingOptions{}, nil, PingEchoReply, "fd02::2", ""},
		{"hop limit 1 expires at the router", "fd02::2", PingOptions{TTL: 1}, []string{"-t", "1"}, PingTimeExceeded, "fd01::1", "Time exceeded: Hop limit"},
		{"an admin-prohibited REJECT is unreachable", "fd03::9", PingOptions{}, nil, PingDestUnreach, "fd01::1", "Destination unreachable: Administratively prohibited"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, _ := l.run("a", append(append([]string{"ping", "-6", "-n", "-c", "2", "-i", "0.2", "-W", "1"}, c.args...), c.dst)...)
			c.opt.Count = 2
			got, err := Ping(l.ns("a"), netip.MustParseAddr(c.dst), c.opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range got.Replies {
				if r.Kind != c.kind || pnStr(r.From) != c.from {
					t.Errorf("reply %+v, want %s from %s", r, c.kind, c.from)
				}
			}
			m := pnPingRecvRe.FindStringSubmatch(out)
			if m == nil || m[2] != strconv.Itoa(got.Received) {
				t.Errorf("received %d, ping says: %s", got.Received, out)
			}
			if c.detail != "" && !strings.Contains(out, "From "+c.from+" icmp_seq=1 "+c.detail) {
				t.Errorf("ping says %q, expected From %s %s", out, c.from, c.detail)
			}
			if c.kind == PingEchoReply && got.Replies[0].TTL != 63 {
				t.Errorf("reply hop limit %d, want 63 (64 less the router)", got.Replies[0].TTL)
			}
		})
	}
	// Reach over IPv6 reads the same error queue (IPV6_RECVERR).
	l.listenTCP("b", "[fd02::2]:80")
	for _, c := range []struct {
		name, dst string
		want      ReachOutcome
		from      string
	}{
		{"reach over IPv6 finds an open port", "[fd02::2]:80", ReachOpen, "fd02::2"},
		{"reach over IPv6 is refused by RST", "[fd02::2]:81", ReachRefusedRST, "fd02::2"},
		{"reach over IPv6 is administratively prohibited", "[fd03::9]:80", ReachAdminProhibited, "fd01::1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Reach(l.ns("a"), netip.MustParseAddrPort(c.dst), ReachOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Outcome != c.want || pnStr(got.From) != c.from {
				t.Errorf("got %+v, want %s from %s", got, c.want, c.from)
			}
		})
	}
}
