package services

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// digResult is what dig printed, parsed.
type digResult struct {
	out     string
	code    int
	status  string
	flags   []string
	answer  []string // ANSWER SECTION lines, fields joined by one space
	auth    []string
	extra   []string
	queryMS int
}

func (d digResult) hasFlag(f string) bool {
	for _, x := range d.flags {
		if x == f {
			return true
		}
	}
	return false
}

func (d digResult) answers(substr string) bool {
	for _, a := range d.answer {
		if strings.Contains(a, substr) {
			return true
		}
	}
	return false
}

var digQueryTime = regexp.MustCompile(`;; Query time: (\d+) msec`)

func parseDig(out string, code int) digResult {
	d := digResult{out: out, code: code}
	if m := digStatus.FindStringSubmatch(out); m != nil {
		d.status = m[1]
	}
	if m := digFlags.FindStringSubmatch(out); m != nil {
		d.flags = strings.Fields(m[1])
	}
	if m := digQueryTime.FindStringSubmatch(out); m != nil {
		d.queryMS, _ = strconv.Atoi(m[1])
	}
	var section *[]string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, ";; ANSWER SECTION"):
			section = &d.answer
		case strings.HasPrefix(line, ";; AUTHORITY SECTION"):
			section = &d.auth
		case strings.HasPrefix(line, ";; ADDITIONAL SECTION"):
			section = &d.extra
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, ";"):
			if strings.TrimSpace(line) == "" {
				section = nil
			}
		case section != nil:
			*section = append(*section, strings.Join(strings.Fields(line), " "))
		}
	}
	return d
}

// The lab for the DNS tests: a root, a TLD and an authoritative server on
// their own addresses, and a recursive resolver that starts from the root.
const (
	rootIP     = "10.53.0.1"
	tldIP      = "10.53.0.2"
	authIP     = "10.53.0.3"
	resolverIP = "10.53.0.4"
	forwardIP  = "10.53.0.5"
	slowDelay  = 700 * time.Millisecond
)

func rootParams() *DNSParams {
	return &DNSParams{Listen: rootIP, Zones: []DNSZone{{Origin: ".", Records: []string{
		". 300 IN NS a.root.test.",
		"a.root.test. 300 IN A " + rootIP,
		"test. 300 IN NS ns.test.",
		"ns.test. 300 IN A " + tldIP,
		"in-addr.arpa. 300 IN NS ns.test.",
	}}}}
}

func tldParams() *DNSParams {
	return &DNSParams{Listen: tldIP, Zones: []DNSZone{
		{Origin: "test.", Records: []string{
			"@ 300 IN NS ns.test.",
			"ns 300 IN A " + tldIP,
			"a.root 300 IN A " + rootIP,
			"corp 300 IN NS ns.corp",
			"ns.corp 300 IN A " + authIP,
		}},
		{Origin: "in-addr.arpa.", Records: []string{
			"@ 300 IN NS ns.test.",
			"10.in-addr.arpa. 300 IN NS ns.corp.test.",
		}},
	}}
}

func authParams() *DNSParams {
	return &DNSParams{
		Listen: authIP,
		Zones: []DNSZone{
			{Origin: "corp.test.", Records: []string{
				"@ 300 IN SOA ns.corp.test. hostmaster.corp.test. 2024010101 3600 600 86400 300",
				"@ 300 IN NS ns",
				"ns 300 IN A " + authIP,
				"www 300 IN A 10.0.0.10",
				"www 300 IN AAAA 2001:db8::10",
				"alias 300 IN CNAME www",
				"@ 300 IN MX 10 mail.corp.test.",
				"mail 300 IN A 10.0.0.25",
				"@ 300 IN TXT \"v=spf1 -all\"",
				"_http._tcp 300 IN SRV 10 5 80 www.corp.test.",
				"evil 300 IN A 10.0.0.20",
				"big 300 IN TXT \"" + strings.Repeat("a", 250) + "\" \"" + strings.Repeat("b", 250) + "\" \"" + strings.Repeat("c", 250) + "\"",
				"*.apps 300 IN A 10.0.0.80",
				// Names the faults below break; each exists in the zone.
				"gone 300 IN A 10.0.0.40",
				"broken 300 IN A 10.0.0.41",
				"private 300 IN MX 10 mail.corp.test.",
				"dead 300 IN A 10.0.0.43",
				"slow 300 IN A 10.0.0.44",
			}},
			{Origin: "10.in-addr.arpa.", Records: []string{
				"@ 300 IN NS ns.corp.test.",
				"10.0.0 300 IN PTR www.corp.test.",
			}},
		},
		Faults: []DNSFault{
			{Name: "gone.corp.test.", Mode: DNSNXDomain},
			{Name: "broken.corp.test.", Mode: DNSServfail},
			{Name: "private.corp.test.", Mode: DNSRefused},
			{Name: "dead.corp.test.", Mode: DNSTimeout},
			{Name: "slow.corp.test.", Type: "A", Mode: DNSSlow, Delay: slowDelay.String()},
			{Name: "big.corp.test.", Type: "TXT", Mode: DNSTruncated},
			{Name: "evil.corp.test.", Type: "A", Mode: DNSWrong, Answer: []string{"evil.corp.test. 300 IN A 10.0.0.99"}},
		},
	}
}

func TestDNS(t *testing.T) {
	ns := testNetns(t, rootIP+"/32", tldIP+"/32", authIP+"/32", resolverIP+"/32", forwardIP+"/32")
	writeEtc(t, ns, "resolv.conf", "nameserver "+resolverIP+"\n")
	auth := authParams()
	servers := []struct {
		name string
		p    *DNSParams
	}{
		{"root", rootParams()},
		{"tld", tldParams()},
		{"auth", auth},
		{"resolver", &DNSParams{Listen: resolverIP, Roots: []string{rootIP}}},
		{"forwarder", &DNSParams{Listen: forwardIP, Forwarders: []string{resolverIP}}},
	}
	children := map[string]*child{}
	for _, s := range servers {
		children[s.name] = startService(t, ns, "dns", s.p)
	}

	dig := func(args ...string) digResult {
		t.Helper()
		out, code := inNetns(t, ns, append([]string{"dig", "+time=1", "+tries=1"}, args...)...)
		return parseDig(out, code)
	}

	t.Run("ss shows every server with its pid and name on udp and tcp", func(t *testing.T) {
		out := mustInNetns(t, ns, "ss", "-Htulnp", "sport", "= :53")
		for _, s := range servers {
			pid := strconv.Itoa(children[s.name].pid())
			for _, proto := range []string{"udp", "tcp"} {
				found := false
				for _, l := range strings.Split(out, "\n") {
					if strings.HasPrefix(l, proto) && strings.Contains(l, s.p.Listen+":53") && strings.Contains(l, `("dnsd",pid=`+pid+",") {
						found = true
					}
				}
				if !found {
					t.Errorf("ss -tulnp has no %s socket on %s:53 for dnsd pid %s:\n%s", proto, s.p.Listen, pid, out)
				}
			}
		}
	})

	records := []struct {
		name, qname, qtype, want string
	}{
		{"an A record is answered authoritatively", "www.corp.test", "A", "www.corp.test. 300 IN A 10.0.0.10"},
		{"an AAAA record is answered", "www.corp.test", "AAAA", "www.corp.test. 300 IN AAAA 2001:db8::10"},
		{"a CNAME is answered with its target's address", "alias.corp.test", "A", "alias.corp.test. 300 IN CNAME www.corp.test."},
		{"an MX record is answered", "corp.test", "MX", "corp.test. 300 IN MX 10 mail.corp.test."},
		{"a TXT record is answered", "corp.test", "TXT", `corp.test. 300 IN TXT "v=spf1 -all"`},
		{"an NS record is answered", "corp.test", "NS", "corp.test. 300 IN NS ns.corp.test."},
		{"the SOA record is answered", "corp.test", "SOA", "corp.test. 300 IN SOA ns.corp.test. hostmaster.corp.test. 2024010101"},
		{"an SRV record is answered", "_http._tcp.corp.test", "SRV", "_http._tcp.corp.test. 300 IN SRV 10 5 80 www.corp.test."},
		{"a wildcard answers with the query name", "shop.apps.corp.test", "A", "shop.apps.corp.test. 300 IN A 10.0.0.80"},
	}
	for _, tc := range records {
		t.Run(tc.name, func(t *testing.T) {
			d := dig("@"+authIP, "+norec", tc.qname, tc.qtype)
			if d.status != "NOERROR" || !d.hasFlag("aa") || !d.answers(tc.want) {
				t.Errorf("want NOERROR, aa and %q; got:\n%s", tc.want, d.out)
			}
		})
	}
	t.Run("a query over TCP is answered the same", func(t *testing.T) {
		d := dig("@"+authIP, "+tcp", "+norec", "www.corp.test", "A")
		if d.status != "NOERROR" || !d.answers("www.corp.test. 300 IN A 10.0.0.10") || !strings.Contains(d.out, "(TCP)") {
			t.Errorf("want the A record over TCP; got:\n%s", d.out)
		}
	})
	t.Run("a CNAME answer carries the target's A record", func(t *testing.T) {
		d := dig("@"+authIP, "+norec", "alias.corp.test", "A")
		if !d.answers("www.corp.test. 300 IN A 10.0.0.10") {
			t.Errorf("want the target's A record after the CNAME; got:\n%s", d.out)
		}
	})
	t.Run("an MX answer carries the mail server's address", func(t *testing.T) {
		d := dig("@"+authIP, "+norec", "corp.test", "MX")
		if !strings.Contains(strings.Join(d.extra, "\n"), "mail.corp.test. 300 IN A 10.0.0.25") {
			t.Errorf("want mail.corp.test A in the additional section; got:\n%s", d.out)
		}
	})
	t.Run("a reverse lookup answers the PTR record", func(t *testing.T) {
		d := dig("@"+authIP, "+norec", "-x", "10.0.0.10")
		if d.status != "NOERROR" || !d.answers("10.0.0.10.in-addr.arpa. 300 IN PTR www.corp.test.") {
			t.Errorf("want the PTR record; got:\n%s", d.out)
		}
	})
	t.Run("a missing name is NXDOMAIN with the SOA", func(t *testing.T) {
		d := dig("@"+authIP, "+norec", "nothere.corp.test", "A")
		if d.status != "NXDOMAIN" || len(d.answer) != 0 || !strings.Contains(strings.Join(d.auth, "\n"), "SOA") {
			t.Errorf("want NXDOMAIN with the SOA in authority; got:\n%s", d.out)
		}
	})
	t.Run("a name without the asked type is NODATA", func(t *testing.T) {
		d := dig("@"+authIP, "+norec", "mail.corp.test", "AAAA")
		if d.status != "NOERROR" || len(d.answer) != 0 || !strings.Contains(strings.Join(d.auth, "\n"), "SOA") {
			t.Errorf("want NOERROR with no answer and the SOA; got:\n%s", d.out)
		}
	})
	t.Run("a name outside every zone is refused without recursion", func(t *testing.T) {
		d := dig("@"+authIP, "www.example")
		if d.status != "REFUSED" {
			t.Errorf("want REFUSED; got:\n%s", d.out)
		}
	})
	t.Run("the TLD server refers to the zone's servers with glue", func(t *testing.T) {
		d := dig("@"+tldIP, "+norec", "www.corp.test", "A")
		if d.status != "NOERROR" || d.hasFlag("aa") || len(d.answer) != 0 ||
			!strings.Contains(strings.Join(d.auth, "\n"), "corp.test. 300 IN NS ns.corp.test.") ||
			!strings.Contains(strings.Join(d.extra, "\n"), "ns.corp.test. 300 IN A "+authIP) {
			t.Errorf("want a referral to ns.corp.test with glue; got:\n%s", d.out)
		}
	})
	t.Run("dig +trace from the lab root reaches the authoritative answer", func(t *testing.T) {
		out, code := inNetns(t, ns, "dig", "+time=1", "+tries=1", "@"+rootIP, "+trace", "www.corp.test", "A")
		want := regexp.MustCompile(`(?m)^www\.corp\.test\.\s+300\s+IN\s+A\s+10\.0\.0\.10\n;; Received \d+ bytes from ` + regexp.QuoteMeta(authIP) + `#53\(ns\.corp\.test\)`)
		for _, hop := range []string{"from " + rootIP + "#53(a.root.test)", "from " + tldIP + "#53(ns.test)"} {
			if !strings.Contains(out, hop) {
				t.Errorf("want the trace to pass %q; got:\n%s", hop, out)
			}
		}
		if code != 0 || !want.MatchString(out) {
			t.Errorf("want the A record received from %s (ns.corp.test); exit %d:\n%s", authIP, code, out)
		}
	})
	t.Run("the resolver resolves iteratively from the root", func(t *testing.T) {
		d := dig("@"+resolverIP, "alias.corp.test", "A")
		if d.status != "NOERROR" || !d.hasFlag("ra") || d.hasFlag("aa") ||
			!d.answers("alias.corp.test. 300 IN CNAME www.corp.test.") || !d.answers("www.corp.test. 300 IN A 10.0.0.10") {
			t.Errorf("want the CNAME and A with ra and without aa; got:\n%s", d.out)
		}
	})
	t.Run("the resolver resolves a reverse name through two delegations", func(t *testing.T) {
		d := dig("@"+resolverIP, "-x", "10.0.0.10")
		if d.status != "NOERROR" || !d.answers("PTR www.corp.test.") {
			t.Errorf("want the PTR record; got:\n%s", d.out)
		}
	})
	t.Run("the resolver passes NXDOMAIN on", func(t *testing.T) {
		d := dig("@"+resolverIP, "nothere.corp.test", "A")
		if d.status != "NXDOMAIN" {
			t.Errorf("want NXDOMAIN; got:\n%s", d.out)
		}
	})
	t.Run("the forwarder answers through the resolver", func(t *testing.T) {
		d := dig("@"+forwardIP, "www.corp.test", "AAAA")
		if d.status != "NOERROR" || !d.hasFlag("ra") || !d.answers("2001:db8::10") {
			t.Errorf("want the AAAA record with ra; got:\n%s", d.out)
		}
	})
	t.Run("the system resolver in the host uses the lab resolver", func(t *testing.T) {
		out := mustInNetns(t, ns, "getent", "hosts", "www.corp.test")
		if !strings.Contains(out, "10.0.0.10") && !strings.Contains(out, "2001:db8::10") {
			t.Errorf("getent hosts www.corp.test: want the lab's address; got %q", out)
		}
	})

	t.Run("fault nxdomain hides a name the zone holds", func(t *testing.T) {
		d := dig("@"+authIP, "+norec", "gone.corp.test", "A")
		if d.status != "NXDOMAIN" || !d.hasFlag("aa") {
			t.Errorf("want NXDOMAIN with aa; got:\n%s", d.out)
		}
	})
	t.Run("fault servfail answers SERVFAIL", func(t *testing.T) {
		d := dig("@"+authIP, "broken.corp.test", "A")
		if d.status != "SERVFAIL" {
			t.Errorf("want SERVFAIL; got:\n%s", d.out)
		}
	})
	t.Run("fault refused answers REFUSED", func(t *testing.T) {
		d := dig("@"+authIP, "private.corp.test", "MX")
		if d.status != "REFUSED" {
			t.Errorf("want REFUSED; got:\n%s", d.out)
		}
	})
	t.Run("fault timeout sends no reply so dig times out", func(t *testing.T) {
		d := dig("@"+authIP, "dead.corp.test", "A")
		if d.code != 9 || !strings.Contains(d.out, "timed out") || d.status != "" {
			t.Errorf("want dig exit 9 and 'timed out'; exit %d:\n%s", d.code, d.out)
		}
	})
	t.Run("fault slow answers correctly after the delay", func(t *testing.T) {
		d := dig("@"+authIP, "+time=3", "slow.corp.test", "A")
		// dig rounds its query time down; claim nine tenths of the delay.
		floor := int(slowDelay/time.Millisecond) * 9 / 10
		if d.status != "NOERROR" || !d.answers("slow.corp.test. 300 IN A 10.0.0.44") || d.queryMS < floor {
			t.Errorf("want the zone's answer after at least %d ms; got query time %d ms:\n%s", floor, d.queryMS, d.out)
		}
		fast := dig("@"+authIP, "slow.corp.test", "AAAA")
		if fast.code != 0 || fast.status != "NOERROR" {
			t.Errorf("want the other type answered normally; got:\n%s", fast.out)
		}
	})
	t.Run("fault truncated sets TC over UDP with no answer", func(t *testing.T) {
		d := dig("@"+authIP, "+ignore", "big.corp.test", "TXT")
		if !d.hasFlag("tc") || len(d.answer) != 0 {
			t.Errorf("want flag tc and no answer; got:\n%s", d.out)
		}
	})
	t.Run("fault truncated makes dig retry over TCP and get the full answer", func(t *testing.T) {
		d := dig("@"+authIP, "big.corp.test", "TXT")
		if !strings.Contains(d.out, "Truncated, retrying in TCP mode") || d.status != "NOERROR" || !d.answers(strings.Repeat("c", 250)) {
			t.Errorf("want a TCP retry and the full TXT record; got:\n%s", d.out)
		}
	})
	t.Run("fault wrong answers another address", func(t *testing.T) {
		d := dig("@"+authIP, "evil.corp.test", "A")
		if d.status != "NOERROR" || !d.answers("evil.corp.test. 300 IN A 10.0.0.99") || d.answers("10.0.0.20") {
			t.Errorf("want 10.0.0.99 and not the zone's 10.0.0.20; got:\n%s", d.out)
		}
	})
	t.Run("a fault on the authoritative server shows through the resolver", func(t *testing.T) {
		d := dig("@"+resolverIP, "broken.corp.test", "A")
		if d.status != "SERVFAIL" {
			t.Errorf("want SERVFAIL; got:\n%s", d.out)
		}
	})

	t.Run("every query is logged with its name, type and outcome", func(t *testing.T) {
		log := children["auth"].log()
		for _, want := range []string{
			`msg=query service=dnsd pid=`,
			`name=www.corp.test. type=A rcode=NOERROR answers=1`,
			`name=broken.corp.test. type=A rcode=SERVFAIL answers=0`,
			`name=dead.corp.test. type=A rcode="none (no reply)"`,
			`name=big.corp.test. type=TXT rcode=NOERROR answers=0 truncated=true`,
		} {
			if !strings.Contains(log, want) {
				t.Errorf("auth log lacks %q", want)
			}
		}
		// A learner may read the log: it names no fault mode.
		for _, mode := range dnsModes {
			if strings.Contains(log, "fault="+mode) || strings.Contains(log, "="+mode+" ") {
				t.Errorf("the log names the fault mode %s:\n%s", mode, log)
			}
		}
	})
	t.Run("the server stops cleanly on SIGTERM", func(t *testing.T) {
		if code := children["auth"].stop(); code != ExitOK {
			t.Errorf("exit code %d, want 0", code)
		}
		d := dig("@"+authIP, "www.corp.test", "A")
		if d.code != 9 {
			t.Errorf("want no server after stop; got:\n%s", d.out)
		}
	})
}
