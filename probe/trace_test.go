package probe

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var pnTraceHopRe = regexp.MustCompile(`(?m)^\s*(\d+)\s+(.*)$`)
var pnIPv4Re = regexp.MustCompile(`\b\d+\.\d+\.\d+\.\d+\b`)

// pnTracerouteHops runs traceroute -n in a host and returns, per hop, the
// distinct addresses that answered (none for "* * *").
func pnTracerouteHops(t *testing.T, l *pnLab, host string, args ...string) map[int][]string {
	out, err := l.run(host, append([]string{"traceroute", "-n", "-w", "1", "-q", "3"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	hops := map[int][]string{}
	for _, m := range pnTraceHopRe.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		var addrs []string
		for _, a := range pnIPv4Re.FindAllString(m[2], -1) {
			if !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
		hops[n] = addrs
	}
	return hops
}

func TestTracerouteAgreesWithTraceroute(t *testing.T) {
	for _, silent := range []bool{false, true} {
		l := pnChain(t)
		l.listenTCP("server", "10.3.0.2:80")
		if silent {
			l.mustRun("r1", "iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "time-exceeded", "-j", "DROP")
		}
		for _, mode := range []struct {
			name string
			args []string
		}{{"udp", nil}, {"icmp", []string{"-I"}}, {"tcp", []string{"-T", "-p", "80"}}} {
			what := "a path"
			if silent {
				what = "a path with a silent first hop"
			}
			t.Run(mode.name+" probes trace "+what, func(t *testing.T) {
				got, err := Traceroute(l.ns("client"), netip.MustParseAddr("10.3.0.2"), TraceOptions{Mode: mode.name, Wait: 500 * time.Millisecond, MaxHops: 6})
				if err != nil {
					t.Fatal(err)
				}
				want := pnTracerouteHops(t, l, "client", append(mode.args, "10.3.0.2")...)
				if !got.Reached || len(got.Hops) != 3 || len(want) != 3 {
					t.Fatalf("got %d hops (reached %v), traceroute %d: %+v vs %v", len(got.Hops), got.Reached, len(want), got.Hops, want)
				}
				for _, h := range got.Hops {
					var addrs []string
					for _, a := range h.Addrs {
						addrs = append(addrs, a.String())
					}
					if !slices.Equal(addrs, want[h.TTL]) {
						t.Errorf("hop %d: %v, traceroute -n says %v", h.TTL, addrs, want[h.TTL])
					}
					if h.Silent != (len(want[h.TTL]) == 0) {
						t.Errorf("hop %d silent=%v", h.TTL, h.Silent)
					}
					for _, p := range h.Probes {
						if p.From.IsValid() && p.RTT <= 0 {
							t.Errorf("hop %d probe without RTT: %+v", h.TTL, p)
						}
					}
				}
				if silent != got.Hops[0].Silent {
					t.Errorf("first hop silent=%v, want %v", got.Hops[0].Silent, silent)
				}
				last := got.Hops[2].Probes[0].Kind
				wantKind := map[string]string{"udp": "port-unreachable", "icmp": "echo-reply", "tcp": "syn-ack"}[mode.name]
				if last != wantKind || !strings.Contains(got.Hops[2].Addrs[0].String(), "10.3.0.2") {
					t.Errorf("last hop answered %q from %v, want %q from 10.3.0.2", last, got.Hops[2].Addrs, wantKind)
				}
			})
		}
	}
}
