package probe

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// pnDig runs dig in a host and returns its status and +short-style answer
// data (sorted).
func pnDig(l *pnLab, host string, args ...string) (status string, data []string) {
	out, _ := l.run(host, append([]string{"dig", "+noall", "+comments", "+answer", "+tries=1", "+time=2"}, args...)...)
	if m := regexp.MustCompile(`status: (\w+)`).FindStringSubmatch(out); m != nil {
		status = m[1]
	}
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 5 {
			data = append(data, strings.Join(f[4:], " "))
		}
	}
	slices.Sort(data)
	return status, data
}

func pnData(rrs []DNSRR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.Data), " "))
	}
	slices.Sort(out)
	return out
}

func TestDNSQueryAgreesWithDig(t *testing.T) {
	l := pnNewLab(t)
	l.host("client")
	l.dnsLab("client")
	cases := []struct {
		name, server, qname, qtype string
		digArgs                    []string
		rcode                      string
		aa                         bool
	}{
		{"an A record from the resolver", "10.53.0.1", "www.example.test", "A", nil, "NOERROR", false},
		{"an AAAA record from the resolver", "10.53.0.1", "www.example.test", "AAAA", nil, "NOERROR", false},
		{"an MX record from the resolver", "10.53.0.1", "example.test", "MX", nil, "NOERROR", false},
		{"a TXT record from the resolver", "10.53.0.1", "example.test", "TXT", nil, "NOERROR", false},
		{"a PTR record for an address", "10.53.0.1", "192.0.2.80", "PTR", []string{"-x", "192.0.2.80"}, "NOERROR", false},
		{"a missing name is NXDOMAIN", "10.53.0.1", "nosuch.example.test", "A", nil, "NXDOMAIN", false},
		{"a missing type is NOERROR without answer", "10.53.0.1", "mail.example.test", "AAAA", nil, "NOERROR", false},
		{"a broken resolver says SERVFAIL", "10.53.0.14", "www.example.test", "A", nil, "SERVFAIL", false},
		{"the authoritative server answers with AA", "10.53.0.13", "www.example.test", "A", []string{"+norecurse"}, "NOERROR", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DNSQuery(l.ns("client"), c.qname, DNSOptions{Server: netip.MustParseAddrPort(c.server + ":53"), Type: c.qtype, NoRecurse: slices.Contains(c.digArgs, "+norecurse")})
			if err != nil {
				t.Fatal(err)
			}
			args := append([]string{"@" + c.server}, c.digArgs...)
			if !slices.Contains(c.digArgs, "-x") {
				args = append(args, c.qname, c.qtype)
			}
			status, data := pnDig(l, "client", args...)
			if got.Rcode != c.rcode || status != c.rcode {
				t.Errorf("rcode %q, dig says %q, want %q", got.Rcode, status, c.rcode)
			}
			if !slices.Equal(pnData(got.Answer), data) {
				t.Errorf("answer %v, dig says %v", pnData(got.Answer), data)
			}
			if got.Authoritative != c.aa || got.Server.String() != c.server+":53" || got.Latency <= 0 {
				t.Errorf("aa=%v server=%s latency=%v, want aa=%v from %s", got.Authoritative, got.Server, got.Latency, c.aa, c.server)
			}
			if c.rcode != "NOERROR" || len(got.Answer) == 0 {
				if c.rcode != "SERVFAIL" && len(got.Authority) == 0 {
					t.Errorf("no SOA in the authority section: %+v", got)
				}
			}
		})
	}
}

func TestDNSQueryAppliesResolvConfLikeGlibc(t *testing.T) {
	l := pnNewLab(t)
	l.host("client")
	l.dnsLab("client")
	cases := []struct {
		name       string
		resolvConf string
		query      string
		wantName   string
		wantRcode  string
		wantServer string
		search     []string
		digSearch  bool // compare the answer with dig +search
	}{
		{"a short name takes the first search domain that answers", "search corp.test example.test\nnameserver 10.53.0.1\n", "mail", "mail.example.test.", "NOERROR", "10.53.0.1:53",
			[]string{"mail.corp.test.", "mail.example.test.", "mail."}, true},
		{"a name with enough dots is tried as given first", "search corp.test example.test\nnameserver 10.53.0.1\n", "www.example.test", "www.example.test.", "NOERROR", "10.53.0.1:53",
			[]string{"www.example.test.", "www.example.test.corp.test.", "www.example.test.example.test."}, true},
		{"ndots above the name's dots searches first", "search corp.test\nnameserver 10.53.0.1\noptions ndots:5\n", "www.example.test", "www.example.test.", "NOERROR", "10.53.0.1:53",
			[]string{"www.example.test.corp.test.", "www.example.test."}, true},
		{"a trailing dot skips the search list", "search corp.test\nnameserver 10.53.0.1\n", "www.", "www.", "NXDOMAIN", "10.53.0.1:53",
			[]string{"www."}, false},
		{"a silent first nameserver falls over to the second", "nameserver 10.53.0.98\nnameserver 10.53.0.1\noptions timeout:1 attempts:1\n", "www.example.test", "www.example.test.", "NOERROR", "10.53.0.1:53",
			[]string{"www.example.test."}, true},
		{"a SERVFAIL nameserver falls over to the second", "nameserver 10.53.0.14\nnameserver 10.53.0.1\n", "www.example.test", "www.example.test.", "NOERROR", "10.53.0.1:53",
			[]string{"www.example.test."}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l.etcFile("client", "resolv.conf", c.resolvConf)
			got, err := DNSQuery(l.ns("client"), c.query, DNSOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", got)
			if got.Name != c.wantName || got.Rcode != c.wantRcode || got.Server.String() != c.wantServer {
				t.Errorf("answer for %s from %s rcode %s, want %s from %s rcode %s", got.Name, got.Server, got.Rcode, c.wantName, c.wantServer, c.wantRcode)
			}
			if !slices.Equal(got.Search, c.search) {
				t.Errorf("search order %v, want %v", got.Search, c.search)
			}
			if c.digSearch {
				// +nofail: try the next server on SERVFAIL, as glibc does.
				_, data := pnDig(l, "client", "+search", "+nofail", c.query)
				if !slices.Equal(pnData(got.Answer), data) {
					t.Errorf("answer %v, dig +search says %v", pnData(got.Answer), data)
				}
			}
		})
	}
	t.Run("a resolver that never answers times out", func(t *testing.T) {
		l.etcFile("client", "resolv.conf", "nameserver 10.53.0.98\noptions timeout:1 attempts:2\n")
		got, err := DNSQuery(l.ns("client"), "www.example.test", DNSOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !got.TimedOut || got.Rcode != "" || len(got.Attempts) != 2 || !got.Attempts[1].TimedOut {
			t.Errorf("got %+v, want a timeout after 2 attempts", got)
		}
		if got.Elapsed < 2*time.Second {
			t.Errorf("gave up after %v, before two 1 s attempts", got.Elapsed)
		}
	})
	t.Run("a silent resolver ends the search list walk, as glibc does", func(t *testing.T) {
		// glibc stops at the first search name no server answers and
		// then asks the name as given, once: two names, not four.
		l.etcFile("client", "resolv.conf", "search corp.test example.test other.test\nnameserver 10.53.0.98\noptions timeout:1 attempts:1 ndots:5\n")
		got, err := DNSQuery(l.ns("client"), "www.example.test", DNSOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var asked []string
		for _, at := range got.Attempts {
			asked = append(asked, at.Name)
		}
		if want := []string{"www.example.test.corp.test.", "www.example.test."}; !got.TimedOut || got.Rcode != "" || !slices.Equal(asked, want) {
			t.Errorf("got timed out %v, rcode %q, names asked %v; want a timeout after asking %v", got.TimedOut, got.Rcode, asked, want)
		}
	})
}

var pnDigTraceRe = regexp.MustCompile(`;; Received \d+ bytes from ([0-9.]+)#53`)

func TestDNSTraceFollowsReferralsLikeDigTrace(t *testing.T) {
	l := pnNewLab(t)
	l.host("client")
	l.dnsLab("client")
	cases := []struct{ name, qtype, rcode string }{
		{"www.example.test", "A", "NOERROR"},
		{"example.test", "MX", "NOERROR"},
		{"nosuch.example.test", "A", "NXDOMAIN"},
	}
	for _, c := range cases {
		t.Run("tracing "+c.qtype+" "+c.name+" visits root, TLD and zone", func(t *testing.T) {
			got, err := DNSTrace(l.ns("client"), c.name, c.qtype, []netip.Addr{netip.MustParseAddr("10.53.0.11")}, 0)
			if err != nil {
				t.Fatal(err)
			}
			var servers []string
			for _, s := range got.Steps {
				servers = append(servers, s.Server.String())
			}
			out, err := l.run("client", "dig", "+trace", "+nodnssec", "+tries=1", "@10.53.0.11", c.name, c.qtype)
			if err != nil {
				t.Fatal(err)
			}
			var digServers []string
			for _, m := range pnDigTraceRe.FindAllStringSubmatch(out, -1) {
				digServers = append(digServers, m[1])
			}
			// dig first asks the given server for the root NS set.
			if len(digServers) < 2 || !slices.Equal(servers, digServers[1:]) {
				t.Errorf("servers %v, dig +trace asked %v:\n%s", servers, digServers, out)
			}
			if got.Rcode != c.rcode {
				t.Errorf("rcode %s, want %s", got.Rcode, c.rcode)
			}
			for _, rr := range got.Answer {
				if !strings.Contains(out, rr.Data) {
					t.Errorf("answer %s not in dig +trace output:\n%s", rr.Data, out)
				}
			}
			if c.rcode == "NOERROR" && len(got.Answer) == 0 {
				t.Errorf("no answer: %+v", got)
			}
			if got.Steps[0].NextZone != "test." || got.Steps[1].NextZone != "example.test." {
				t.Errorf("referrals %+v", got.Steps)
			}
		})
	}
}

// BenchmarkDNSQuery is one query through the host's resolv.conf; compare
// with BenchmarkDigCommand.
func BenchmarkDNSQuery(b *testing.B) {
	l := pnNewLab(b)
	l.host("client")
	l.dnsLab("client")
	for b.Loop() {
		r, err := DNSQuery(l.ns("client"), "www.example.test", DNSOptions{})
		if err != nil || len(r.Answer) == 0 {
			b.Fatalf("%+v %v", r, err)
		}
	}
}

func BenchmarkDigCommand(b *testing.B) {
	l := pnNewLab(b)
	l.host("client")
	l.dnsLab("client")
	for b.Loop() {
		if _, err := l.run("client", "dig", "+short", "www.example.test"); err != nil {
			b.Fatal(err)
		}
	}
}
