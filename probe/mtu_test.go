package probe

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPathMTUFindsTheNarrowLinkAndBlackHoles(t *testing.T) {
	cases := []struct {
		name      string
		blackhole bool
	}{
		{"a narrow link between routers is reported by fragmentation-needed", false},
		{"a narrow link with fragmentation-needed dropped is a black hole", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := pnChain(t)
			l.mtu("r1", "eth1", 1400)
			l.mtu("r2", "eth0", 1400)
			if c.blackhole {
				l.mustRun("r1", "iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")
			}
			// The oracles first: our probes would make the kernel cache
			// the path MTU.
			big, _ := l.run("client", "ping", "-n", "-c", "1", "-W", "1", "-M", "do", "-s", "1472", "10.3.0.2")
			fits, _ := l.run("client", "ping", "-n", "-c", "1", "-W", "1", "-M", "do", "-s", "1372", "10.3.0.2")
			tp := ""
			if !c.blackhole { // tracepath waits out every hop of a black hole
				tp, _ = l.run("client", "tracepath", "-n", "10.3.0.2")
			}

			got, err := PathMTU(l.ns("client"), netip.MustParseAddr("10.3.0.2"), MTUOptions{Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", got)
			if got.PathMTU != 1400 || got.LocalMTU != 1500 || got.Blackhole != c.blackhole || got.Meaning == "" {
				t.Errorf("path mtu %d local %d blackhole %v, want 1400 1500 %v", got.PathMTU, got.LocalMTU, got.Blackhole, c.blackhole)
			}
			if !strings.Contains(fits, " 1 received") {
				t.Errorf("ping -M do -s 1372 should pass: %s", fits)
			}
			if c.blackhole {
				if got.ReportedBy.IsValid() {
					t.Errorf("reported by %s in a black hole", got.ReportedBy)
				}
				if !strings.Contains(big, " 0 received") || strings.Contains(big, "Frag needed") {
					t.Errorf("ping -M do -s 1472 should vanish silently: %s", big)
				}
				// Asked only whether there is a black hole, it stops at
				// the first size that vanishes.
				quick, err := PathMTU(l.ns("client"), netip.MustParseAddr("10.3.0.2"), MTUOptions{Timeout: 300 * time.Millisecond, NoSearch: true})
				if err != nil {
					t.Fatal(err)
				}
				if !quick.Blackhole || quick.PathMTU != 0 || len(quick.Probes) != 2 {
					t.Errorf("without the search: blackhole %v, path mtu %d after %d probes; want a black hole, no size, 2 probes", quick.Blackhole, quick.PathMTU, len(quick.Probes))
				}
				return
			}
			if got.ReportedBy != netip.MustParseAddr("10.1.0.1") {
				t.Errorf("reported by %s, want 10.1.0.1", got.ReportedBy)
			}
			if !strings.Contains(big, "From 10.1.0.1") || !strings.Contains(big, "mtu = 1400") {
				t.Errorf("ping -M do -s 1472 should get frag needed from 10.1.0.1: %s", big)
			}
			if m := regexp.MustCompile(`pmtu (\d+)`).FindAllStringSubmatch(tp, -1); len(m) == 0 || m[len(m)-1][1] != "1400" {
				t.Errorf("tracepath says %s, expected pmtu 1400", tp)
			}
		})
	}
}
