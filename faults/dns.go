// DNS server faults: dns-servfail, dns-nxdomain, dns-slow, dns-refused, dns-truncated and wrong-record, made by restarting the host's dns service with fault modes.

package faults

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

func dnsServfailKind() Kind {
	return dnsModeKind("dns-servfail", services.DNSServfail,
		"The lab's DNS server answers SERVFAIL for a name.",
		"`dig NAME` prints \"status: SERVFAIL\" with no answer, at once; glibc tries the next nameserver, then "+
			"`getent hosts NAME` fails (exit status 2) and curl prints \"Could not resolve host: NAME\"; Go programs say \"server misbehaving\". "+
			"Other names still resolve.",
		"Ask each server directly (`dig @SERVER NAME`) to find the one that fails, and repair it: its log names the broken name. "+
			"In a lab, restart the server's dns service with its zone intact. Pointing a client's resolv.conf at a healthy server meanwhile is a mitigation: "+
			"the server is still broken.")
}

func dnsNXDomainKind() Kind {
	return dnsModeKind("dns-nxdomain", services.DNSNXDomain,
		"The lab's DNS server says a name that exists does not (NXDOMAIN).",
		"`dig NAME` prints \"status: NXDOMAIN\" at once, with the zone's SOA in the AUTHORITY SECTION; `getent hosts NAME` prints "+
			"nothing (exit status 2); curl prints \"Could not resolve host: NAME\"; Go says \"no such host\". Other names of the zone resolve.",
		"Compare the server's answer with the zone the name should be in (`dig @SERVER NAME`, `dig @SERVER zone SOA`), "+
			"and repair the server: in a lab, restart its dns service with the record back.")
}

func dnsSlowKind() Kind {
	return kind(Spec[*DNSSlowParams]{
		Name:      "dns-slow",
		Layer:     LayerApp,
		NeedsHost: true,
		Summary:   "The lab's DNS server answers a name correctly but only after a delay.",
		Symptom: "`dig NAME` answers right, but \";; Query time:\" shows about the delay (2000 msec and more) instead of a " +
			"millisecond or two; with a delay above the resolver's timeout dig prints \";; communications error ... timed out\" and retries. " +
			"Every program that resolves NAME starts slowly: glibc asks A and AAAA (and each search domain), so a 2 s delay makes a lookup take several seconds.",
		Fix: "Measure with `dig NAME` (Query time) against each server (`dig @SERVER NAME`) and point the client at a fast one, " +
			"or repair the slow server: in a lab, restart its dns service without the delay.",
		Apply:   applyDNSFault[*DNSSlowParams],
		Revert:  revertDNSFault[*DNSSlowParams],
		Observe: observeDNSSlow,
		Cleared: clearedDNSSlow,
	})
}

func dnsRefusedKind() Kind {
	return dnsModeKind("dns-refused", services.DNSRefused,
		"The lab's DNS server refuses queries for a name (REFUSED).",
		"`dig NAME` prints \"status: REFUSED\" and often \";; WARNING: recursion requested but not available\"; "+
			"glibc tries the next nameserver and then fails: `getent hosts NAME` prints nothing, curl prints \"Could not resolve host\", Go says \"server misbehaving\".",
		"A server refuses what it is not configured to serve (not its zone, no recursion for this client). "+
			"Ask it directly (`dig @SERVER NAME`), then point the client at the server that serves the zone, or fix the server's configuration.")
}

func dnsTruncatedKind() Kind {
	return dnsModeKind("dns-truncated", services.DNSTruncated,
		"The lab's DNS server sets the TC bit with an empty answer over UDP for a name, and answers fully only over TCP.",
		"`dig NAME` prints \";; Truncated, retrying in TCP mode.\" and then the answer (over TCP); `dig +notcp +ignore NAME` "+
			"shows \"flags: qr aa tc\" with ANSWER: 0. Name lookups work but need TCP port 53: where a firewall allows only UDP 53 "+
			"they fail, and `dig +tcp @SERVER NAME` tells the two apart.",
		"Make sure TCP port 53 is reachable from the client to the server (firewalls must pass TCP 53 as well as UDP), "+
			"and make the answer small enough for UDP or EDNS if truncation is not expected.")
}

func wrongRecordKind() Kind {
	return kind(Spec[*WrongRecordParams]{
		Name:      "wrong-record",
		Layer:     LayerApp,
		NeedsHost: true,
		Summary:   "The lab's DNS server answers a name with a wrong address.",
		Symptom: "`dig +short NAME` prints the wrong address (not the server's); `curl http://NAME/` goes there: it times out, " +
			"prints \"Couldn't connect to server\" (after about 3 s when the address is on the LAN and nobody has it: ARP gives up), " +
			"or reaches the wrong service. `ping NAME` shows the wrong address in its first line.",
		Fix: "Compare the answer with the address the server really has (`ip -br addr` on the server, or the inventory), " +
			"then correct the record on the DNS server: in a lab, restart its dns service with the right zone.",
		Apply:   applyDNSFault[*WrongRecordParams],
		Revert:  revertDNSFault[*WrongRecordParams],
		Observe: observeWrongRecord,
		Cleared: clearedWrongRecord,
	})
}

// dnsModeKind is a DNS server fault that only sets a mode.
func dnsModeKind(name, mode, summary, symptom, fix string) Kind {
	params := func(p *DNSModeParams) *DNSModeParams {
		p.mode = mode
		return p
	}
	return kind(Spec[*DNSModeParams]{
		Name:      name,
		Layer:     LayerApp,
		NeedsHost: true,
		Summary:   summary,
		Symptom:   symptom,
		Fix:       fix,
		New:       func() *DNSModeParams { return &DNSModeParams{mode: mode} },
		Apply: func(ctx context.Context, e *Env, p *DNSModeParams) error {
			return applyDNSFault(ctx, e, params(p))
		},
		Revert: func(ctx context.Context, e *Env, p *DNSModeParams) error {
			return revertDNSFault(ctx, e, params(p))
		},
		Observe: func(ctx context.Context, e *Env, p *DNSModeParams) error {
			return observeDNSMode(ctx, e, params(p))
		},
		Cleared: func(ctx context.Context, e *Env, p *DNSModeParams) error {
			return clearedDNSMode(ctx, e, params(p))
		},
	})
}

// DNSModeParams are the parameters of the DNS server faults that change
// the answer's status: dns-servfail, dns-nxdomain, dns-refused and
// dns-truncated.
type DNSModeParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"The dns service on the host to break (default the host's first dns service)."`
	Name    string `yaml:"name,omitempty" json:"name,omitempty" doc:"The query name that is answered badly, such as \"www.corp.test.\"; \"*.corp.test.\" breaks every name below corp.test."`
	Type    string `yaml:"type,omitempty" json:"type,omitempty" doc:"The query type that is answered badly (A, AAAA, MX, ...); every type when left out."`

	mode string
}

// Check implements Params.
func (p *DNSModeParams) Check() error {
	if err := scenarios.CheckRequired("name", p.Name, "give the query name to break, such as \"www.corp.test.\""); err != nil {
		return err
	}
	if err := scenarios.CheckDNSName("name", p.Name); err != nil {
		return err
	}
	_, err := scenarios.CheckDNSType("type", p.Type)
	return err
}

func (p *DNSModeParams) fault() services.DNSFault {
	return services.DNSFault{Name: p.Name, Type: p.Type, Mode: p.mode}
}

// DNSSlowParams are the parameters of dns-slow.
type DNSSlowParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"The dns service on the host to slow down (default the host's first dns service)."`
	Name    string `yaml:"name,omitempty" json:"name,omitempty" doc:"The query name answered slowly, such as \"www.corp.test.\"; \"*.corp.test.\" slows every name below corp.test."`
	Type    string `yaml:"type,omitempty" json:"type,omitempty" doc:"The query type answered slowly; every type when left out."`
	Delay   string `yaml:"delay,omitempty" json:"delay,omitempty" doc:"How long the server waits before answering (default 2s)."`

	delay time.Duration
}

// Check implements Params.
func (p *DNSSlowParams) Check() error {
	if err := scenarios.CheckRequired("name", p.Name, "give the query name to slow down, such as \"www.corp.test.\""); err != nil {
		return err
	}
	if err := scenarios.CheckDNSName("name", p.Name); err != nil {
		return err
	}
	if _, err := scenarios.CheckDNSType("type", p.Type); err != nil {
		return err
	}
	if p.Delay == "" {
		p.Delay = "2s"
	}
	d, err := scenarios.CheckDurationUpTo("delay", p.Delay, 2*time.Second, time.Minute)
	if err != nil {
		return err
	}
	p.delay = d
	return nil
}

func (p *DNSSlowParams) fault() services.DNSFault {
	return services.DNSFault{Name: p.Name, Type: p.Type, Mode: services.DNSSlow, Delay: p.Delay}
}

// WrongRecordParams are the parameters of wrong-record.
type WrongRecordParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"The dns service on the host that answers wrong (default the host's first dns service)."`
	Name    string `yaml:"name,omitempty" json:"name,omitempty" doc:"The name answered with the wrong address, such as \"www.corp.test.\"."`
	Address string `yaml:"address,omitempty" json:"address,omitempty" doc:"The wrong address (an A record for IPv4, AAAA for IPv6), such as \"10.0.1.99\"."`

	addr netip.Addr
}

// Check implements Params.
func (p *WrongRecordParams) Check() error {
	if err := scenarios.CheckRequired("name", p.Name, "give the name to answer wrong, such as \"www.corp.test.\""); err != nil {
		return err
	}
	if err := scenarios.CheckDNSName("name", p.Name); err != nil {
		return err
	}
	if err := scenarios.CheckRequired("address", p.Address, "give the wrong address, such as \"10.0.1.99\""); err != nil {
		return err
	}
	a, err := scenarios.CheckIP("address", p.Address, "10.0.1.99")
	if err != nil {
		return err
	}
	p.addr = a
	return nil
}

func (p *WrongRecordParams) qtype() string {
	if p.addr.Is4() {
		return "A"
	}
	return "AAAA"
}

func (p *WrongRecordParams) fault() services.DNSFault {
	return services.DNSFault{Name: p.Name, Type: p.qtype(), Mode: services.DNSWrong,
		Answer: []string{fmt.Sprintf("%s 300 IN %s %s", dns.Fqdn(p.Name), p.qtype(), p.addr)}}
}

// --- DNS server faults: restart the host's dns service with a fault mode.

// dnsService names the dns service on the env's host: the one given, or
// the host's first.
func dnsService(e *Env, name string) (string, error) {
	return e.serviceOfKind("dns", name, "put the fault on the host that runs the DNS server")
}

// dnsFaultParams are the parameters of a fault that is one fault mode of
// one dns service.
type dnsFaultParams interface {
	Params
	dnsService() string
	fault() services.DNSFault
}

func (p *DNSModeParams) dnsService() string { return p.Service }

func (p *DNSSlowParams) dnsService() string { return p.Service }

func (p *WrongRecordParams) dnsService() string { return p.Service }

// applyDNSFault and revertDNSFault are Apply and Revert of the faults whose
// parameters are a dnsFaultParams.
func applyDNSFault[P dnsFaultParams](ctx context.Context, e *Env, x P) error {
	return applyDNSFaults(ctx, e, x.dnsService(), func([]string) []services.DNSFault { return []services.DNSFault{x.fault()} })
}

func revertDNSFault[P dnsFaultParams](ctx context.Context, e *Env, x P) error {
	return revertDNSFaults(ctx, e, x.dnsService(), func([]string) []services.DNSFault { return []services.DNSFault{x.fault()} })
}

// applyDNSFaults restarts the dns service with the faults made from the
// origins of its zones put first (faults are checked in order and the
// first match wins).
func applyDNSFaults(ctx context.Context, e *Env, service string, make func(zones []string) []services.DNSFault) error {
	name, faults, err := dnsFaultsFor(e, service, make)
	if err != nil {
		return err
	}
	return services.AddDNSFaults(ctx, e.Lab, e.Scenario, e.Host, name, faults)
}

// revertDNSFaults restarts the dns service without the faults; it does
// nothing when none of them is there (never applied, or repaired).
func revertDNSFaults(ctx context.Context, e *Env, service string, make func(zones []string) []services.DNSFault) error {
	name, faults, err := dnsFaultsFor(e, service, make)
	if err != nil {
		return err
	}
	return services.RemoveDNSFaults(ctx, e.Lab, e.Scenario, e.Host, name, faults)
}

// dnsFaultsFor names the env's dns service and makes the faults from its
// zones.
func dnsFaultsFor(e *Env, service string, make func(zones []string) []services.DNSFault) (string, []services.DNSFault, error) {
	name, err := dnsService(e, service)
	if err != nil {
		return "", nil, err
	}
	zones, err := services.DNSZones(e.Scenario, e.Host, name)
	if err != nil {
		return "", nil, err
	}
	return name, make(zones), nil
}

// dnsServerAddr is where the env's dns service answers, seen from its own
// host.
func dnsServerAddr(e *Env, service string) (netip.AddrPort, error) {
	name, err := dnsService(e, service)
	if err != nil {
		return netip.AddrPort{}, err
	}
	v, err := services.Find(e.Scenario, e.Host, name)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p := v.Endpoint()
	a, err := netip.ParseAddr(p.Listen)
	if err != nil || a.IsUnspecified() {
		a = e.ScenarioHost().Addr4()
	}
	if !a.IsValid() {
		a = netip.MustParseAddr("127.0.0.1")
	}
	return netip.AddrPortFrom(a, uint16(p.Port)), nil
}

// askServer queries the env's dns service directly, as `dig @SERVER`.
func askServer(e *Env, service, name, qtype string, timeout time.Duration) (probe.DNSResult, netip.AddrPort, error) {
	server, err := dnsServerAddr(e, service)
	if err != nil {
		return probe.DNSResult{}, server, err
	}
	ns, err := e.Netns("")
	if err != nil {
		return probe.DNSResult{}, server, err
	}
	r, err := probe.DNSQuery(ns, name, probe.DNSOptions{Server: server, Type: qtype, Timeout: timeout, Attempts: 1})
	return r, server, err
}

func observeDNSMode(ctx context.Context, e *Env, p *DNSModeParams) error {
	name := probeName(p.Name)
	r, server, err := askServer(e, p.Service, name, queryType(p.Type), 2*time.Second)
	if err != nil {
		return err
	}
	if r.TimedOut {
		return fmt.Errorf("%s does not answer %s at all", server, name)
	}
	if p.mode == services.DNSTruncated {
		// The probe retries a truncated UDP answer over TCP, as dig does:
		// the exchange that answered was TCP.
		last := r.Attempts[len(r.Attempts)-1]
		if last.Proto != "tcp" {
			return fmt.Errorf("%s answers %s over UDP with %s and %d records, not truncated", server, name, r.Rcode, len(r.Answer))
		}
		if r.Rcode != "NOERROR" {
			return fmt.Errorf("%s answers %s over TCP with %s", server, name, r.Rcode)
		}
		return nil
	}
	want := map[string]string{services.DNSServfail: "SERVFAIL", services.DNSNXDomain: "NXDOMAIN", services.DNSRefused: "REFUSED"}[p.mode]
	if r.Rcode != want {
		return fmt.Errorf("%s answers %s with %s and %d records, not %s", server, name, r.Rcode, len(r.Answer), want)
	}
	return nil
}

func observeDNSSlow(ctx context.Context, e *Env, x *DNSSlowParams) error {
	name := probeName(x.Name)
	r, server, err := askServer(e, x.Service, name, queryType(x.Type), x.delay+2*time.Second)
	if err != nil {
		return err
	}
	if r.TimedOut {
		return fmt.Errorf("%s does not answer %s at all", server, name)
	}
	// The symptom is the delay itself: half of it tells a slowed answer
	// from a normal one (a millisecond in a lab).
	if r.Latency < x.delay/2 {
		return fmt.Errorf("%s answers %s (%s) in %s, not slowly", server, name, r.Rcode, r.Latency.Round(time.Millisecond))
	}
	return nil
}

func observeWrongRecord(ctx context.Context, e *Env, x *WrongRecordParams) error {
	r, server, err := askServer(e, x.Service, x.Name, x.qtype(), 2*time.Second)
	if err != nil {
		return err
	}
	if slices.Contains(r.Addrs(), x.addr) {
		return nil
	}
	return fmt.Errorf("%s answers %s with %s %v, not the wrong address %s", server, x.Name, r.Rcode, r.Addrs(), x.addr)
}
