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
