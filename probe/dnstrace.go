package probe

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DNSTraceStep is one server asked during an iterative resolution.
type DNSTraceStep struct {
	Zone    string     `json:"zone"` // the zone this server was asked as a server of
	Server  netip.Addr `json:"server"`
	Rcode   string     `json:"rcode,omitempty"`
	Timeout bool       `json:"timed_out,omitempty"`
	// Referral is the set of name servers of the next zone (NextZone) the
	// server pointed to; Answer is set when it answered the question.
	NextZone string        `json:"next_zone,omitempty"`
	Referral []string      `json:"referral,omitempty"`
	Glue     []DNSRR       `json:"glue,omitempty"`
	Answer   []DNSRR       `json:"answer,omitempty"`
	Latency  time.Duration `json:"latency_ns"`
}

// DNSTraceResult is an iterative resolution, as `dig +trace`.
type DNSTraceResult struct {
	Target  string         `json:"target"`
	Name    string         `json:"name"`
	Type    string         `json:"type"`
	Steps   []DNSTraceStep `json:"steps"`
	Rcode   string         `json:"rcode"` // of the final step
	Answer  []DNSRR        `json:"answer"`
	Elapsed time.Duration  `json:"elapsed_ns"`
}

// DNSTrace resolves name iteratively from the given root server addresses
// without recursion, following referrals (with glue, or by resolving the
// name server's address from the roots), as `dig +trace` does. Labs have
// their own roots; a real host's roots are the public ones.
func DNSTrace(t Target, name, qtype string, roots []netip.Addr, timeout time.Duration) (DNSTraceResult, error) {
	start := time.Now()
	if qtype == "" {
		qtype = "A"
	}
	qt, ok := dns.StringToType[strings.ToUpper(qtype)]
	res := DNSTraceResult{Target: t.Name(), Name: dns.Fqdn(name), Type: strings.ToUpper(qtype)}
	if !ok {
		return res, fmt.Errorf("dns trace %s: unknown record type %q", name, qtype)
	}
	if qt == dns.TypePTR {
		if a, err := netip.ParseAddr(name); err == nil {
			res.Name, _ = dns.ReverseAddr(a.String())
		}
	}
	if len(roots) == 0 {
		return res, fmt.Errorf("dns trace %s: no root servers given", name)
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	err := pnTrace(t, res.Name, qt, roots, timeout, &res, 0)
	res.Elapsed = time.Since(start)
	return res, err
}

func pnTrace(t Target, name string, qt uint16, roots []netip.Addr, timeout time.Duration, res *DNSTraceResult, depth int) error {
	if depth > 3 {
		return fmt.Errorf("dns trace %s: name server addresses nest too deep", name)
	}
	zone, servers := ".", roots
	opt := DNSOptions{NoRecurse: true}
	for hop := 0; hop < 20; hop++ {
		var step DNSTraceStep
		var m *dns.Msg
		for _, srv := range servers {
			var at DNSAttempt
			m, at = pnExchange(t, name, qt, netip.AddrPortFrom(srv, 53), timeout, opt)
			step = DNSTraceStep{Zone: zone, Server: srv, Rcode: at.Rcode, Timeout: at.TimedOut, Latency: at.Latency}
			if m != nil {
				break
			}
			res.Steps = append(res.Steps, step)
		}
		if m == nil {
			res.Rcode = ""
			return fmt.Errorf("dns trace %s: no server of zone %q answered", name, zone)
		}
		if len(m.Answer) > 0 || m.Rcode != dns.RcodeSuccess {
			step.Answer = pnRRs(m.Answer)
			res.Steps = append(res.Steps, step)
			res.Rcode = step.Rcode
			res.Answer = step.Answer
			return nil
		}
		next, nsNames := "", []string{}
		for _, rr := range m.Ns {
			if ns, ok := rr.(*dns.NS); ok && dns.IsSubDomain(ns.Hdr.Name, name) && dns.CountLabel(ns.Hdr.Name) > dns.CountLabel(zone) {
				next = ns.Hdr.Name
				nsNames = append(nsNames, ns.Ns)
			}
		}
		if next == "" {
			// No data and no referral: the authoritative "no such record".
			res.Steps = append(res.Steps, step)
			res.Rcode = step.Rcode
			return nil
		}
		step.NextZone, step.Referral = next, nsNames
		var nextServers []netip.Addr
		for _, rr := range m.Extra {
			if a, ok := rr.(*dns.A); ok && pnContains(nsNames, a.Hdr.Name) {
				if ip, ok := netip.AddrFromSlice(a.A); ok {
					nextServers = append(nextServers, ip.Unmap())
					step.Glue = append(step.Glue, pnRRs([]dns.RR{rr})...)
				}
			}
		}
		res.Steps = append(res.Steps, step)
		if len(nextServers) == 0 {
			for _, ns := range nsNames {
				sub := DNSTraceResult{}
				if err := pnTrace(t, ns, dns.TypeA, roots, timeout, &sub, depth+1); err == nil {
					for _, rr := range sub.Answer {
						if ip, err := netip.ParseAddr(rr.Data); err == nil && rr.Type == "A" {
							nextServers = append(nextServers, ip)
						}
					}
				}
				if len(nextServers) > 0 {
					break
				}
			}
		}
		if len(nextServers) == 0 {
			return fmt.Errorf("dns trace %s: no address for the name servers of %q (%s)", name, next, strings.Join(nsNames, ", "))
		}
		zone, servers = next, nextServers
	}
	return fmt.Errorf("dns trace %s: too many referrals", name)
}

func pnContains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
