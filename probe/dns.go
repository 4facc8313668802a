package probe

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DNSOptions tune a DNS query. Zero values take the defaults.
type DNSOptions struct {
	// Server, when set, is the only server asked, and the name is taken
	// as given (no search list), as `dig @SERVER NAME`.
	Server netip.AddrPort
	// Type is the record type: "A" (default), "AAAA", "MX", "PTR", "TXT",
	// "NS", "SOA", "CNAME", "SRV", "ANY", ... For PTR an IP address is
	// turned into its in-addr.arpa / ip6.arpa name.
	Type string
	// Timeout per server and attempt: default the resolv.conf timeout
	// (glibc's 5 s when unset), or 2 s with Server.
	Timeout time.Duration
	// Attempts over the whole server list: default resolv.conf's (2).
	Attempts int
	// NoRecurse clears the RD bit (`dig +norecurse`).
	NoRecurse bool
	// TCP queries over TCP from the start (`dig +tcp`); otherwise UDP with
	// a TCP retry when the answer is truncated.
	TCP bool
	// ResolvConf overrides the resolver file (default the target's
	// /etc/resolv.conf through Target.EtcFile).
	ResolvConf string
}

// DNSRR is one resource record.
type DNSRR struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Class string `json:"class"`
	TTL   uint32 `json:"ttl"`
	Data  string `json:"data"` // the record data as dig +short prints it
}

// DNSAttempt is one query sent to one server.
type DNSAttempt struct {
	Name     string         `json:"name"`
	Server   netip.AddrPort `json:"server"`
	Proto    string         `json:"proto"`
	Rcode    string         `json:"rcode,omitempty"` // "" when no answer came back
	Answers  int            `json:"answers"`
	TimedOut bool           `json:"timed_out,omitempty"`
	Err      string         `json:"error,omitempty"`
	Latency  time.Duration  `json:"latency_ns"`
}

// DNSResult is the outcome of a query, with every attempt made on the way
// (search list candidates, servers, retries).
type DNSResult struct {
	Target string `json:"target"`
	Query  string `json:"query"` // the name as asked
	Type   string `json:"type"`
	// Name is the fully qualified name of the final answer (after the
	// search list), Server the server that gave it.
	Name   string         `json:"name"`
	Server netip.AddrPort `json:"server,omitzero"`
	Rcode  string         `json:"rcode"` // "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", ...; "" if no server answered
	// TimedOut is true when no server answered at all.
	TimedOut           bool          `json:"timed_out,omitempty"`
	Authoritative      bool          `json:"authoritative"`
	Truncated          bool          `json:"truncated,omitempty"`
	RecursionAvailable bool          `json:"recursion_available"`
	Answer             []DNSRR       `json:"answer"`
	Authority          []DNSRR       `json:"authority"`
	Additional         []DNSRR       `json:"additional"`
	Latency            time.Duration `json:"latency_ns"` // of the exchange that gave the answer
	Attempts           []DNSAttempt  `json:"attempts"`
	Search             []string      `json:"search,omitempty"` // candidate names in the order tried
	Elapsed            time.Duration `json:"elapsed_ns"`
}

// Addrs returns the A and AAAA addresses of the answer section.
func (r DNSResult) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, rr := range r.Answer {
		if rr.Type == "A" || rr.Type == "AAAA" {
			if a, err := netip.ParseAddr(rr.Data); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// ResolvConf is what a resolver reads from /etc/resolv.conf.
type ResolvConf struct {
	Path        string           `json:"path"`
	Nameservers []netip.AddrPort `json:"nameservers"`
	Search      []string         `json:"search"`
	Ndots       int              `json:"ndots"`
	Timeout     time.Duration    `json:"timeout_ns"`
	Attempts    int              `json:"attempts"`
	Rotate      bool             `json:"rotate,omitempty"`
}

// ReadResolvConf parses a resolv.conf the way glibc does: up to three
// nameservers, the last search or domain line, options ndots, timeout,
// attempts and rotate. A file without nameserver means 127.0.0.1.
func ReadResolvConf(path string) (ResolvConf, error) {
	rc := ResolvConf{Path: path, Ndots: 1, Timeout: 5 * time.Second, Attempts: 2}
	f, err := os.Open(path)
	if err != nil {
		return rc, fmt.Errorf("reading resolver file %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(fields[1]); err == nil && len(rc.Nameservers) < 3 {
				rc.Nameservers = append(rc.Nameservers, netip.AddrPortFrom(a, 53))
			}
		case "search":
			rc.Search = fields[1:]
		case "domain":
			rc.Search = fields[1:2]
		case "options":
			for _, o := range fields[1:] {
				k, v, _ := strings.Cut(o, ":")
				n, _ := strconv.Atoi(v)
				switch k {
				case "ndots":
					rc.Ndots = min(n, 15)
				case "timeout":
					rc.Timeout = time.Duration(max(n, 1)) * time.Second
				case "attempts":
					rc.Attempts = min(max(n, 1), 5)
				case "rotate":
					rc.Rotate = true
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return rc, fmt.Errorf("reading resolver file %s: %w", path, err)
	}
	if len(rc.Nameservers) == 0 {
		rc.Nameservers = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53")}
	}
	return rc, nil
}

// Candidates is the list of names glibc tries for name, in order: a name
// with a trailing dot alone; a name with at least ndots dots as given
// first, then with each search domain; a shorter name with each search
// domain first, then as given.
func (rc ResolvConf) Candidates(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	var searched []string
	for _, s := range rc.Search {
		searched = append(searched, dns.Fqdn(name+"."+strings.TrimSuffix(s, ".")))
	}
	if strings.Count(name, ".") >= rc.Ndots {
		return append([]string{dns.Fqdn(name)}, searched...)
	}
	return append(searched, dns.Fqdn(name))
}

// DNSQuery asks the target's resolvers (or opt.Server) for name, from a
// socket created inside the target, and reports the answer with every
// attempt it took.
func DNSQuery(t Target, name string, opt DNSOptions) (DNSResult, error) {
	start := time.Now()
	if opt.Type == "" {
		opt.Type = "A"
	}
	qtype, ok := dns.StringToType[strings.ToUpper(opt.Type)]
	res := DNSResult{Target: t.Name(), Query: name, Type: strings.ToUpper(opt.Type)}
	if !ok {
		return res, fmt.Errorf("dns query %s: unknown record type %q", name, opt.Type)
	}
	if qtype == dns.TypePTR {
		if a, err := netip.ParseAddr(name); err == nil {
			name, _ = dns.ReverseAddr(a.String())
		}
	}
	var rc ResolvConf
	var candidates []string
	if opt.Server.IsValid() {
		rc = ResolvConf{Nameservers: []netip.AddrPort{opt.Server}, Timeout: 2 * time.Second, Attempts: 1}
		candidates = []string{dns.Fqdn(name)}
	} else {
		path := opt.ResolvConf
		if path == "" {
			path = t.EtcFile("resolv.conf")
		}
		var err error
		rc, err = ReadResolvConf(path)
		if err != nil {
			return res, err
		}
		candidates = rc.Candidates(name)
	}
	if opt.Timeout > 0 {
		rc.Timeout = opt.Timeout
	}
	if opt.Attempts > 0 {
		rc.Attempts = opt.Attempts
	}
	res.Search = candidates
	// Every candidate is asked at once and the answers are judged in
	// glibc's order: the answer is what the sequential walk would give,
	// in the time of its slowest step instead of the sum of them.
	answers := make([]chan DNSResult, len(candidates))
	for i, cand := range candidates {
		answers[i] = make(chan DNSResult, 1)
		go func() {
			r := res
			r.Attempts = nil
			pnResolveName(t, cand, qtype, rc, opt, &r)
			answers[i] <- r
		}()
	}
	asGiven := slices.Index(candidates, dns.Fqdn(name))
	var first *DNSResult
	for i := 0; i < len(candidates); {
		r := <-answers[i]
		r.Attempts = append(res.Attempts, r.Attempts...)
		res.Attempts = r.Attempts
		if r.Rcode == dns.RcodeToString[dns.RcodeSuccess] && len(r.Answer) > 0 {
			r.Elapsed = time.Since(start)
			return r, nil
		}
		if first == nil || pnRcodeRank(r) > pnRcodeRank(*first) {
			rr := r
			first = &rr
		}
		next := i + 1
		if r.TimedOut && i != asGiven {
			// No server answered a search-list name: glibc stops walking
			// the search list there (a silent resolver is the answer)
			// and only tries the name as given if it has not yet.
			next = len(candidates)
			if asGiven > i {
				next = asGiven
			}
		}
		i = next
	}
	out := *first
	out.Attempts = res.Attempts
	out.Elapsed = time.Since(start)
	return out, nil
}

// pnResolveName asks the servers for one candidate name, as glibc does:
// each attempt goes through the server list; an answer other than
// SERVFAIL, REFUSED or NOTIMP ends the search for this name.
func pnResolveName(t Target, name string, qtype uint16, rc ResolvConf, opt DNSOptions, res *DNSResult) {
	res.Name = name
	res.TimedOut = true
	var gotAny bool
	for a := 0; a < rc.Attempts; a++ {
		for _, srv := range rc.Nameservers {
			m, at := pnExchange(t, name, qtype, srv, rc.Timeout, opt)
			res.Attempts = append(res.Attempts, at)
			if m == nil {
				continue
			}
			if !gotAny || pnBetterRcode(m.Rcode) {
				gotAny = true
				pnFillResult(res, m, srv, at.Latency)
			}
			switch m.Rcode {
			case dns.RcodeServerFailure, dns.RcodeRefused, dns.RcodeNotImplemented:
				continue
			}
			return
		}
	}
}

// pnRcodeRank orders failed candidates as glibc reports them: no data
// over no such name over a server failure over silence.
func pnRcodeRank(r DNSResult) int {
	switch {
	case r.TimedOut:
		return 0
	case r.Rcode == "NOERROR":
		return 3
	case r.Rcode == "NXDOMAIN":
		return 2
	}
	return 1
}

func pnBetterRcode(rc int) bool {
	return rc == dns.RcodeSuccess || rc == dns.RcodeNameError
}

func pnFillResult(res *DNSResult, m *dns.Msg, srv netip.AddrPort, lat time.Duration) {
	res.TimedOut = false
	res.Server = srv
	res.Rcode = dns.RcodeToString[m.Rcode]
	res.Authoritative = m.Authoritative
	res.Truncated = m.Truncated
	res.RecursionAvailable = m.RecursionAvailable
	res.Answer = pnRRs(m.Answer)
	res.Authority = pnRRs(m.Ns)
	res.Additional = pnRRs(m.Extra)
	res.Latency = lat
}

func pnRRs(rrs []dns.RR) []DNSRR {
	out := []DNSRR{}
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		h := rr.Header()
		out = append(out, DNSRR{
			Name:  h.Name,
			Type:  dns.TypeToString[h.Rrtype],
			Class: dns.ClassToString[h.Class],
			TTL:   h.Ttl,
			Data:  strings.TrimPrefix(rr.String(), h.String()),
		})
	}
	return out
}

// pnExchange sends one query to one server from a socket created inside
// the target. A nil message means no answer (the attempt says why).
func pnExchange(t Target, name string, qtype uint16, srv netip.AddrPort, timeout time.Duration, opt DNSOptions) (*dns.Msg, DNSAttempt) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = !opt.NoRecurse
	q.SetEdns0(1232, false)
	proto := "udp"
	if opt.TCP {
		proto = "tcp"
	}
	m, at := pnExchangeProto(t, q, srv, timeout, proto)
	if m != nil && m.Truncated && proto == "udp" {
		m2, at2 := pnExchangeProto(t, q, srv, timeout, "tcp")
		at2.Latency += at.Latency
		if m2 != nil {
			return m2, at2
		}
	}
	return m, at
}

func pnExchangeProto(t Target, q *dns.Msg, srv netip.AddrPort, timeout time.Duration, proto string) (*dns.Msg, DNSAttempt) {
	at := DNSAttempt{Name: q.Question[0].Name, Server: srv, Proto: proto}
	start := time.Now()
	var c net.Conn
	err := t.Do(func() error {
		var err error
		c, err = net.DialTimeout(proto, srv.String(), timeout)
		return err
	})
	if err != nil {
		at.Latency = time.Since(start)
		at.Err = err.Error()
		var ne net.Error
		at.TimedOut = errors.As(err, &ne) && ne.Timeout()
		return nil, at
	}
	defer c.Close()
	co := &dns.Conn{Conn: c, UDPSize: 1232}
	co.SetDeadline(start.Add(timeout))
	if err := co.WriteMsg(q); err != nil {
		at.Latency = time.Since(start)
		at.Err = err.Error()
		return nil, at
	}
	for {
		m, err := co.ReadMsg()
		if err != nil {
			at.Latency = time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				at.TimedOut = true
			}
			at.Err = err.Error()
			return nil, at
		}
		if m.Id != q.Id {
			continue
		}
		at.Latency = time.Since(start)
		at.Rcode = dns.RcodeToString[m.Rcode]
		at.Answers = len(m.Answer)
		return m, at
	}
}
