package probe

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
)

// pnTriageLab is the chain lab with a resolver on the server (10.3.0.2:53,
// www.corp.test is 10.3.0.2), a SERVFAIL resolver on 10.3.0.3, an HTTP
// server on 10.3.0.2:80, and the client's resolv.conf pointing at 10.3.0.2.
func pnTriageLab(t testing.TB) *pnLab {
	l := pnChain(t)
	l.addAddr("server", "eth0", "10.3.0.3/24")
	all := append(append(append([]string{}, pnDNSData.tld...), pnDNSData.auth...), pnDNSData.extra...)
	l.dnsServer("server", "10.3.0.2", pnZone{Apex: ".", Records: all, Recursive: true})
	l.dnsServer("server", "10.3.0.3", pnZone{Apex: ".", Recursive: true, Rcode: dns.RcodeServerFailure})
	l.httpServer("server", "10.3.0.2:80")
	l.etcFile("client", "resolv.conf", "nameserver 10.3.0.2\n")
	return l
}

func TestTriageNamesTheBrokenLayer(t *testing.T) {
	cases := []struct {
		name  string
		opt   TriageOptions
		brk   func(l *pnLab)
		want  string
		words string // in the failing step's summary
	}{
		{"a healthy host passes every step", TriageOptions{URL: "http://www.corp.test/"}, func(*pnLab) {}, "", ""},
		{"a healthy host passes with a name and port", TriageOptions{Target: "www.corp.test:80"}, func(*pnLab) {}, "", ""},
		{"a down interface is the interface layer", TriageOptions{URL: "http://www.corp.test/"}, func(l *pnLab) {
			h := l.handle("client")
			defer h.Close()
			link, _ := h.LinkByName("eth0")
			if err := h.LinkSetDown(link); err != nil {
				t.Fatal(err)
			}
		}, StepInterface, "eth0 down"},
		{"a missing address is the address layer", TriageOptions{URL: "http://www.corp.test/"}, func(l *pnLab) {
			h := l.handle("client")
			defer h.Close()
			link, _ := h.LinkByName("eth0")
			addr, _ := netlink.ParseAddr("10.1.0.2/24")
			if err := h.AddrDel(link, addr); err != nil {
				t.Fatal(err)
			}
		}, StepAddress, "no IPv4 address"},
		{"a missing default route is the gateway layer", TriageOptions{URL: "http://www.corp.test/"}, func(l *pnLab) {
			l.mustRun("client", "ip", "route", "del", "default")
		}, StepGateway, "no default route"},
		{"a dead default gateway is the gateway-reachable layer", TriageOptions{URL: "http://www.corp.test/"}, func(l *pnLab) {
			l.mustRun("client", "ip", "route", "replace", "default", "via", "10.1.0.99")
		}, StepGatewayReachable, "does not answer"},
		{"a broken resolver is the DNS layer", TriageOptions{URL: "http://www.corp.test/"}, func(l *pnLab) {
			l.etcFile("client", "resolv.conf", "nameserver 10.3.0.3\n")
		}, StepDNS, "SERVFAIL"},
		{"an unknown name is the DNS layer", TriageOptions{Target: "nosuch.corp.test:80"}, func(*pnLab) {}, StepDNS, "NXDOMAIN"},
		{"a rejected service port is the target layer", TriageOptions{URL: "http://www.corp.test/"}, func(l *pnLab) {
			l.mustRun("server", "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "REJECT")
		}, StepTarget, "refused-icmp"},
		{"a dropped service port is the target layer", TriageOptions{Target: "10.3.0.2:80", ReachTimeout: 500e6}, func(l *pnLab) {
			l.mustRun("server", "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "DROP")
		}, StepTarget, "filtered"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := pnTriageLab(t)
			c.brk(l)
			rep, err := Triage(l.ns("client"), c.opt)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, s := range rep.Steps {
				b.WriteString("\n  " + string(s.Status) + " " + s.ID + ": " + s.Summary)
				for _, e := range s.Evidence {
					b.WriteString("\n      " + e)
				}
			}
			if rep.Failing != c.want {
				t.Fatalf("failing layer %q, want %q:%s", rep.Failing, c.want, b.String())
			}
			if len(rep.Steps) != 6 {
				t.Fatalf("%d steps, want all 6:%s", len(rep.Steps), b.String())
			}
			if c.want == "" {
				for _, s := range rep.Steps {
					if s.Status != TriagePass {
						t.Errorf("step %s is %s on a healthy host:%s", s.ID, s.Status, b.String())
					}
				}
				return
			}
			s, _ := rep.Step(c.want)
			if !strings.Contains(s.Summary, c.words) || s.Meaning == "" || len(s.Next) == 0 || len(s.Evidence) == 0 {
				t.Errorf("step %+v: want %q in the summary, a meaning, evidence and next commands:%s", s, c.words, b.String())
			}
			// Every step below the failing one passed.
			for _, st := range rep.Steps {
				if st.ID == c.want {
					break
				}
				if st.Status == TriageFail {
					t.Errorf("step %s failed below %s", st.ID, c.want)
				}
			}
		})
	}
}

// BenchmarkTriageHealthyHost times a full triage (with a URL: DNS and
// HTTP) of a healthy lab host. Target: under one second.
func BenchmarkTriageHealthyHost(b *testing.B) {
	l := pnTriageLab(b)
	opt := TriageOptions{URL: "http://www.corp.test/"}
	for b.Loop() {
		rep, err := Triage(l.ns("client"), opt)
		if err != nil || rep.Failing != "" {
			b.Fatalf("triage of a healthy host: %v, failing %q", err, rep.Failing)
		}
	}
}

// BenchmarkTriageHealthyHostTCP is the same with a NAME:PORT target.
func BenchmarkTriageHealthyHostTCP(b *testing.B) {
	l := pnTriageLab(b)
	opt := TriageOptions{Target: "www.corp.test:80"}
	for b.Loop() {
		rep, err := Triage(l.ns("client"), opt)
		if err != nil || rep.Failing != "" {
			b.Fatalf("triage of a healthy host: %v, failing %q", err, rep.Failing)
		}
	}
}
