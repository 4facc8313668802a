package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
)

// DNSParams configure the dns service.
type DNSParams struct {
	Listen     string     `yaml:"listen,omitempty" json:"listen,omitempty" doc:"IP address to answer on; every address of the host when left out."`
	Port       int        `yaml:"port,omitempty" json:"port,omitempty" doc:"UDP and TCP port to answer on (default 53)."`
	Zones      []DNSZone  `yaml:"zones,omitempty" json:"zones,omitempty" doc:"Zones this server is authoritative for."`
	Forwarders []string   `yaml:"forwarders,omitempty" json:"forwarders,omitempty" doc:"Lab servers (IP or IP:port) that queries outside the zones are forwarded to when the client asks for recursion."`
	Roots      []string   `yaml:"roots,omitempty" json:"roots,omitempty" doc:"Lab root servers (IP or IP:port) from which queries outside the zones are resolved iteratively when the client asks for recursion."`
	Faults     []DNSFault `yaml:"faults,omitempty" json:"faults,omitempty" doc:"Broken answers for chosen names and types, checked in order before the zones."`

	zones      []*dnsZone
	faults     []dnsFault
	forwarders []string
	roots      []string
}

// DNSZone is one zone of the dns service.
type DNSZone struct {
	Origin  string   `yaml:"origin,omitempty" json:"origin,omitempty" doc:"The zone's apex, such as \"corp.test.\", or \".\" for a lab root server."`
	Records []string `yaml:"records,omitempty" json:"records,omitempty" doc:"Records in zone-file syntax, such as \"www 300 IN A 10.0.0.10\"; names without a final dot are relative to the origin, and the TTL defaults to 300."`
}

// DNSFault breaks the answers for one name and type.
type DNSFault struct {
	Name   string   `yaml:"name,omitempty" json:"name,omitempty" doc:"Query name the fault applies to, such as \"www.corp.test.\"; \"*.corp.test.\" matches every name below corp.test."`
	Type   string   `yaml:"type,omitempty" json:"type,omitempty" doc:"Query type it applies to (A, AAAA, MX, ...); every type when left out."`
	Mode   string   `yaml:"mode,omitempty" json:"mode,omitempty" doc:"What goes wrong: nxdomain, servfail, refused, timeout (no reply at all), slow (the right answer after delay), truncated (TC bit and no answer over UDP, the full answer over TCP) or wrong (the records in answer)."`
	Delay  string   `yaml:"delay,omitempty" json:"delay,omitempty" doc:"How long mode slow waits before answering (default 2s)."`
	Answer []string `yaml:"answer,omitempty" json:"answer,omitempty" doc:"Records mode wrong answers with, in zone-file syntax, such as \"www.corp.test. 300 IN A 10.0.0.99\"."`
}

// DNS fault modes.
const (
	DNSNXDomain  = "nxdomain"
	DNSServfail  = "servfail"
	DNSRefused   = "refused"
	DNSTimeout   = "timeout"
	DNSSlow      = "slow"
	DNSTruncated = "truncated"
	DNSWrong     = "wrong"
)

var dnsModes = []string{DNSNXDomain, DNSServfail, DNSRefused, DNSTimeout, DNSSlow, DNSTruncated, DNSWrong}

type dnsFault struct {
	name     string // canonical; "*.x." matches below x.
	qtype    uint16 // 0: every type
	mode     string
	delay    time.Duration
	answer   []dns.RR
	wildcard bool
}

func (f *dnsFault) matches(q dns.Question) bool {
	if f.qtype != 0 && f.qtype != q.Qtype {
		return false
	}
	name := dns.CanonicalName(q.Name)
	if f.wildcard {
		parent := strings.TrimPrefix(f.name, "*.")
		return name != parent && dns.IsSubDomain(parent, name)
	}
	return name == f.name
}

// dnsZone is a parsed zone: records by owner name and type.
type dnsZone struct {
	origin string
	rrs    map[string][]dns.RR // canonical owner -> records
	names  map[string]bool     // owners and empty non-terminals
	soa    *dns.SOA
}

func (z *dnsZone) lookup(name string, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range z.rrs[name] {
		if qtype == dns.TypeANY || rr.Header().Rrtype == qtype {
			out = append(out, dns.Copy(rr))
		}
	}
	return out
}

// Check implements Params.
func (p *DNSParams) Check() error {
	if err := scenarios.CheckAddr("listen", p.Listen); err != nil {
		return err
	}
	if err := scenarios.CheckPort("port", &p.Port, 53); err != nil {
		return err
	}
	p.zones = nil
	seen := map[string]bool{}
	for i, zc := range p.Zones {
		z, err := parseZone(zc)
		if err != nil {
			return scenarios.WithinField(fmt.Sprintf("zones[%d]", i), err)
		}
		if seen[z.origin] {
			return scenarios.FieldErrorf(fmt.Sprintf("zones[%d].origin", i), "zone %q is declared twice; merge the records into one zone", z.origin)
		}
		seen[z.origin] = true
		p.zones = append(p.zones, z)
	}
	var err error
	if p.forwarders, err = scenarios.CheckAddrPorts("forwarders", p.Forwarders, 53); err != nil {
		return err
	}
	if p.roots, err = scenarios.CheckAddrPorts("roots", p.Roots, 53); err != nil {
		return err
	}
	if len(p.forwarders) > 0 && len(p.roots) > 0 {
		return scenarios.FieldErrorf("forwarders", "give forwarders or roots, not both; a server either forwards or resolves from the roots")
	}
	p.faults = nil
	for i, fc := range p.Faults {
		f, err := parseDNSFault(fc)
		if err != nil {
			return scenarios.WithinField(fmt.Sprintf("faults[%d]", i), err)
		}
		p.faults = append(p.faults, f)
	}
	return nil
}

// ProcessName implements Params.
func (p *DNSParams) ProcessName() string { return "dnsd" }

func parseZone(zc DNSZone) (*dnsZone, error) {
	if err := scenarios.CheckRequired("origin", zc.Origin, "give the zone's apex such as \"corp.test.\""); err != nil {
		return nil, err
	}
	if err := scenarios.CheckDNSName("origin", zc.Origin); err != nil {
		return nil, err
	}
	z := &dnsZone{origin: dns.CanonicalName(zc.Origin), rrs: map[string][]dns.RR{}, names: map[string]bool{}}
	for j, text := range zc.Records {
		rr, err := parseRecord(text, z.origin)
		if err != nil {
			return nil, scenarios.WithinField(fmt.Sprintf("records[%d]", j), err)
		}
		owner := dns.CanonicalName(rr.Header().Name)
		if !dns.IsSubDomain(z.origin, owner) {
			return nil, scenarios.FieldErrorf(fmt.Sprintf("records[%d]", j), "%q is outside the zone %q; put it in its own zone or end its name in %q", rr.Header().Name, z.origin, z.origin)
		}
		if soa, ok := rr.(*dns.SOA); ok {
			if owner != z.origin {
				return nil, scenarios.FieldErrorf(fmt.Sprintf("records[%d]", j), "an SOA belongs at the apex %q, not at %q", z.origin, owner)
			}
			z.soa = soa
		}
		z.rrs[owner] = append(z.rrs[owner], rr)
		// Mark the owner and every name between it and the apex, so that
		// empty non-terminals answer NODATA rather than NXDOMAIN.
		for n := owner; ; {
			z.names[n] = true
			if n == z.origin {
				break
			}
			off, end := dns.NextLabel(n, 0)
			if end {
				break
			}
			n = n[off:]
		}
	}
	z.names[z.origin] = true
	if z.soa == nil {
		mname := "ns." + z.origin
		rname := "hostmaster." + z.origin
		if z.origin == "." {
			mname, rname = "ns.", "hostmaster."
		}
		z.soa = &dns.SOA{
			Hdr: dns.RR_Header{Name: z.origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
			Ns:  mname, Mbox: rname, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 300,
		}
		z.rrs[z.origin] = append(z.rrs[z.origin], z.soa)
	}
	return z, nil
}

// parseRecord parses one record in zone-file syntax relative to origin.
func parseRecord(text, origin string) (dns.RR, error) {
	zp := dns.NewZoneParser(strings.NewReader(text), origin, "")
	zp.SetDefaultTTL(300)
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("%q: %w; write it like \"www 300 IN A 10.0.0.10\"", text, err)
	}
	if !ok || rr == nil {
		return nil, fmt.Errorf("%q holds no record; write it like \"www 300 IN A 10.0.0.10\"", text)
	}
	if _, more := zp.Next(); more {
		return nil, fmt.Errorf("%q holds more than one record; give one record per entry", text)
	}
	return rr, nil
}

func parseDNSFault(fc DNSFault) (dnsFault, error) {
	var f dnsFault
	if err := scenarios.CheckRequired("name", fc.Name, "give a query name such as \"www.corp.test.\""); err != nil {
		return f, err
	}
	if err := scenarios.CheckDNSName("name", fc.Name); err != nil {
		return f, err
	}
	f.name = dns.CanonicalName(fc.Name)
	f.wildcard = strings.HasPrefix(f.name, "*.")
	t, err := scenarios.CheckDNSType("type", fc.Type)
	if err != nil {
		return f, err
	}
	f.qtype = t
	f.mode = fc.Mode
	known := false
	for _, m := range dnsModes {
		known = known || m == fc.Mode
	}
	if !known {
		return f, scenarios.FieldErrorf("mode", "%q is not a fault mode; give one of %s", fc.Mode, strings.Join(dnsModes, ", "))
	}
	if fc.Delay != "" && fc.Mode != DNSSlow {
		return f, scenarios.FieldErrorf("delay", "only mode %q uses it; remove it or set mode: slow", DNSSlow)
	}
	if f.delay, err = scenarios.CheckDuration("delay", fc.Delay, 2*time.Second); err != nil {
		return f, err
	}
	if fc.Mode == DNSWrong && len(fc.Answer) == 0 {
		return f, scenarios.FieldErrorf("answer", "mode wrong needs the records to answer with, such as \"www.corp.test. 300 IN A 10.0.0.99\"")
	}
	if fc.Mode != DNSWrong && len(fc.Answer) > 0 {
		return f, scenarios.FieldErrorf("answer", "only mode %q uses it; remove it or set mode: wrong", DNSWrong)
	}
	for i, text := range fc.Answer {
		rr, err := parseRecord(text, ".")
		if err != nil {
			return f, scenarios.WithinField(fmt.Sprintf("answer[%d]", i), err)
		}
		f.answer = append(f.answer, rr)
	}
	return f, nil
}

func dnsKind() Kind {
	return Kind{
		Name:    "dns",
		Summary: "Authoritative DNS stub server with optional recursion and per-name fault modes.",
		Doc: "Answers over UDP and TCP for the zones it is given (A, AAAA, CNAME, MX, TXT, NS, SOA, SRV, PTR), " +
			"with referrals (NS and glue) at delegations, so a lab can hold its own root, TLD and authoritative " +
			"servers and `dig +trace @ROOT name` works offline. With forwarders or roots it also resolves names " +
			"outside its zones for clients that ask for recursion. Faults break one name and type: `dig` shows " +
			"`status: NXDOMAIN`, `SERVFAIL` or `REFUSED`, `connection timed out; no servers could be reached`, a " +
			"long `Query time`, `flags: ... tc` and `Truncated, retrying in TCP mode`, or a wrong address; Go " +
			"programs print \"server misbehaving\" or \"no such host\". Every query is logged. " +
			"`ss -ulnp` and `ss -tlnp` show dnsd on the port.",
		NewParams: func() Params { return &DNSParams{} },
		Run:       func(ctx context.Context, p Params, log *slog.Logger) error { return runDNS(ctx, p.(*DNSParams), log) },
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			// TCP accepting means both sockets are bound: Run binds UDP first.
			d := p.(*DNSParams)
			return tcpReady(ctx, t, "dns", d.Listen, d.Port)
		},
	}
}

type dnsServer struct {
	p    *DNSParams
	log  *slog.Logger
	stop chan struct{}
}

func runDNS(ctx context.Context, p *DNSParams, log *slog.Logger) error {
	addr := listenAddress(p.Listen, p.Port)
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listening on udp %s: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("listening on tcp %s: %w", addr, err)
	}
	s := &dnsServer{p: p, log: log, stop: make(chan struct{})}
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: ln, Handler: s}
	log.Info("listening", "proto", "udp+tcp", "addr", addr, "zones", len(p.zones), "faults", len(p.faults))
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		runErr = fmt.Errorf("serving dns on %s: %w", addr, runErr)
	}
	close(s.stop)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return errors.Join(runErr, shutdownDNS(sctx, udp), shutdownDNS(sctx, tcp))
}

func shutdownDNS(ctx context.Context, srv *dns.Server) error {
	err := srv.ShutdownContext(ctx)
	if err != nil && strings.Contains(err.Error(), "not started") {
		return nil
	}
	return err
}

// ServeDNS answers one query: faults first, then the zones, then recursion.
func (s *dnsServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	proto := w.RemoteAddr().Network()
	client := w.RemoteAddr().String()
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeFormatError)
		s.write(w, r, m, proto, client, "")
		return
	}
	q := r.Question[0]
	var fault *dnsFault
	for i := range s.p.faults {
		if s.p.faults[i].matches(q) {
			fault = &s.p.faults[i]
			break
		}
	}
	mode := ""
	if fault != nil {
		mode = fault.mode
	}
	switch mode {
	case DNSTimeout:
		s.log.Info("query", "client", client, "proto", proto, "name", q.Name, "type", dns.TypeToString[q.Qtype], "rcode", "none (no reply)")
		return
	case DNSSlow:
		t := time.NewTimer(fault.delay)
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
			return
		}
	}
	var m *dns.Msg
	switch mode {
	case DNSNXDomain:
		m = s.rcodeReply(r, dns.RcodeNameError)
		if z := s.zoneFor(dns.CanonicalName(q.Name)); z != nil {
			m.Authoritative = true
			m.Ns = []dns.RR{dns.Copy(z.soa)}
		}
	case DNSServfail:
		m = s.rcodeReply(r, dns.RcodeServerFailure)
	case DNSRefused:
		m = s.rcodeReply(r, dns.RcodeRefused)
	case DNSWrong:
		m = new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		m.RecursionAvailable = s.recursive()
		for _, rr := range fault.answer {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
	case DNSTruncated:
		if proto == "udp" {
			m = new(dns.Msg)
			m.SetReply(r)
			m.Authoritative = true
			m.Truncated = true
			break
		}
		m = s.answer(r)
	default:
		m = s.answer(r)
	}
	s.write(w, r, m, proto, client, mode)
}

func (s *dnsServer) write(w dns.ResponseWriter, r, m *dns.Msg, proto, client, mode string) {
	if opt := r.IsEdns0(); opt != nil && m.IsEdns0() == nil {
		m.SetEdns0(1232, false)
	}
	if proto == "udp" {
		size := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	name, qtype := "", ""
	if len(r.Question) > 0 {
		name, qtype = r.Question[0].Name, dns.TypeToString[r.Question[0].Qtype]
	}
	attrs := []any{"client", client, "proto", proto, "name", name, "type", qtype, "rcode", dns.RcodeToString[m.Rcode], "answers", len(m.Answer)}
	// The query log says what was answered, as a server's query log does,
	// not which fault made it so: a learner may read it.
	if m.Truncated {
		attrs = append(attrs, "truncated", true)
	}
	if err := w.WriteMsg(m); err != nil {
		attrs = append(attrs, "err", err)
	}
	s.log.Info("query", attrs...)
}

func (s *dnsServer) recursive() bool { return len(s.p.forwarders) > 0 || len(s.p.roots) > 0 }

func (s *dnsServer) rcodeReply(r *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.RecursionAvailable = s.recursive()
	return m
}

// zoneFor is the closest enclosing zone of name, or nil.
func (s *dnsServer) zoneFor(name string) *dnsZone {
	var best *dnsZone
	for _, z := range s.p.zones {
		if dns.IsSubDomain(z.origin, name) && (best == nil || dns.CountLabel(z.origin) > dns.CountLabel(best.origin)) {
			best = z
		}
	}
	return best
}

// answer is the reply from the zones, or from recursion for names outside
// them when the client asks for it.
func (s *dnsServer) answer(r *dns.Msg) *dns.Msg {
	q := r.Question[0]
	name := dns.CanonicalName(q.Name)
	z := s.zoneFor(name)
	if z == nil {
		if r.RecursionDesired && s.recursive() {
			return s.recurse(r)
		}
		return s.rcodeReply(r, dns.RcodeRefused)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = s.recursive()
	s.authoritative(m, z, name, q.Qtype, 0)
	return m
}

// authoritative fills m with the zone's answer for name and qtype: a
// referral below a zone cut, the records, a CNAME chain, NODATA or NXDOMAIN.
func (s *dnsServer) authoritative(m *dns.Msg, z *dnsZone, name string, qtype uint16, depth int) {
	// Zone cut: the highest name below the apex, down to name, with NS.
	labels := dns.SplitDomainName(name)
	apexLabels := dns.CountLabel(z.origin)
	for i := len(labels) - apexLabels - 1; i >= 0; i-- {
		cut := dns.Fqdn(strings.Join(labels[i:], "."))
		if cut == name && qtype == dns.TypeDS {
			break
		}
		ns := z.lookup(cut, dns.TypeNS)
		if len(ns) == 0 {
			continue
		}
		if depth > 0 { // a CNAME into a delegated name: stop the chain here
			return
		}
		m.Authoritative = false
		m.Ns = append(m.Ns, ns...)
		m.Extra = append(m.Extra, s.addresses(ns)...)
		return
	}
	if depth == 0 {
		m.Authoritative = true
	}
	owner := name
	rrs := z.lookup(name, qtype)
	if len(rrs) == 0 && !z.names[name] {
		// Wildcard: *.closest-encloser.
		for n := name; n != z.origin; {
			off, _ := dns.NextLabel(n, 0)
			n = n[off:]
			if z.names["*."+n] {
				owner = "*." + n
				break
			}
			if z.names[n] {
				break
			}
		}
		if owner != name {
			rrs = z.lookup(owner, qtype)
		}
	}
	for _, rr := range rrs {
		rr.Header().Name = name // a wildcard answer takes the query name
	}
	if len(rrs) > 0 {
		m.Answer = append(m.Answer, rrs...)
		if depth == 0 {
			m.Extra = append(m.Extra, s.addresses(rrs)...)
		}
		return
	}
	if qtype != dns.TypeCNAME {
		if cn := z.lookup(owner, dns.TypeCNAME); len(cn) > 0 {
			cn[0].Header().Name = name
			m.Answer = append(m.Answer, cn[0])
			target := dns.CanonicalName(cn[0].(*dns.CNAME).Target)
			if depth < 8 {
				if tz := s.zoneFor(target); tz != nil {
					s.authoritative(m, tz, target, qtype, depth+1)
				}
			}
			return
		}
	}
	if depth > 0 {
		return
	}
	if !z.names[owner] {
		m.Rcode = dns.RcodeNameError
	}
	m.Ns = append(m.Ns, dns.Copy(z.soa))
}

// addresses are the A and AAAA records this server holds for the targets
// of NS, MX and SRV records: glue and additional data.
func (s *dnsServer) addresses(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	seen := map[string]bool{}
	for _, rr := range rrs {
		var target string
		switch v := rr.(type) {
		case *dns.NS:
			target = v.Ns
		case *dns.MX:
			target = v.Mx
		case *dns.SRV:
			target = v.Target
		default:
			continue
		}
		target = dns.CanonicalName(target)
		if seen[target] {
			continue
		}
		seen[target] = true
		for _, z := range s.p.zones {
			out = append(out, z.lookup(target, dns.TypeA)...)
			out = append(out, z.lookup(target, dns.TypeAAAA)...)
		}
	}
	return out
}

// recurse answers a query outside the zones through forwarders or from the
// roots.
func (s *dnsServer) recurse(r *dns.Msg) *dns.Msg {
	q := r.Question[0]
	var m *dns.Msg
	if len(s.p.forwarders) > 0 {
		fq := new(dns.Msg)
		fq.SetQuestion(q.Name, q.Qtype)
		fq.RecursionDesired = true
		resp, err := exchange(fq, s.p.forwarders)
		if err != nil {
			s.log.Warn("forwarding", "name", q.Name, "err", err)
			return s.rcodeReply(r, dns.RcodeServerFailure)
		}
		m = resp
	} else {
		resp, err := s.iterate(dns.CanonicalName(q.Name), q.Qtype, 0)
		if err != nil {
			s.log.Warn("resolving", "name", q.Name, "err", err)
			return s.rcodeReply(r, dns.RcodeServerFailure)
		}
		m = resp
	}
	out := new(dns.Msg)
	out.SetReply(r)
	out.Rcode = m.Rcode
	out.RecursionAvailable = true
	out.Answer = m.Answer
	out.Ns = m.Ns
	return out
}

// exchange asks each server in turn, over UDP and over TCP when truncated.
func exchange(q *dns.Msg, servers []string) (*dns.Msg, error) {
	var errs []error
	for _, srv := range servers {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		resp, _, err := c.Exchange(q, srv)
		if err == nil && resp.Truncated {
			c.Net = "tcp"
			resp, _, err = c.Exchange(q, srv)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("asking %s: %w", srv, err))
			continue
		}
		return resp, nil
	}
	return nil, errors.Join(errs...)
}

// iterate resolves name from the roots as a recursive resolver does:
// follow referrals using glue (or resolving the server names), and follow
// CNAMEs.
func (s *dnsServer) iterate(name string, qtype uint16, depth int) (*dns.Msg, error) {
	if depth > 8 {
		return nil, fmt.Errorf("resolving %s: too many CNAMEs or glueless referrals", name)
	}
	servers := s.p.roots
	for step := 0; step < 16; step++ {
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		q.RecursionDesired = false
		resp, err := exchange(q, servers)
		if err != nil {
			return nil, err
		}
		if resp.Rcode != dns.RcodeSuccess {
			return resp, nil
		}
		if len(resp.Answer) > 0 {
			// Follow a CNAME whose target the server did not answer for.
			last := resp.Answer[len(resp.Answer)-1]
			if cn, ok := last.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
				more, err := s.iterate(dns.CanonicalName(cn.Target), qtype, depth+1)
				if err != nil {
					return nil, err
				}
				resp.Answer = append(resp.Answer, more.Answer...)
				resp.Rcode = more.Rcode
				resp.Ns = more.Ns
			}
			return resp, nil
		}
		var next []string
		for _, rr := range resp.Ns {
			ns, ok := rr.(*dns.NS)
			if !ok {
				continue
			}
			target := dns.CanonicalName(ns.Ns)
			glued := false
			for _, ex := range resp.Extra {
				if dns.CanonicalName(ex.Header().Name) != target {
					continue
				}
				switch a := ex.(type) {
				case *dns.A:
					next = append(next, net.JoinHostPort(a.A.String(), "53"))
					glued = true
				case *dns.AAAA:
					next = append(next, net.JoinHostPort(a.AAAA.String(), "53"))
					glued = true
				}
			}
			if !glued && len(next) == 0 {
				addr, err := s.iterate(target, dns.TypeA, depth+1)
				if err == nil {
					for _, rr := range addr.Answer {
						if a, ok := rr.(*dns.A); ok {
							next = append(next, net.JoinHostPort(a.A.String(), "53"))
						}
					}
				}
			}
		}
		if len(next) == 0 || resp.Authoritative {
			return resp, nil // NODATA, or a referral we cannot follow
		}
		servers = next
	}
	return nil, fmt.Errorf("resolving %s: too many referrals", name)
}
