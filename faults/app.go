package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/services"
)

// Application-layer faults: a host's resolver configuration (resolv.conf,
// hosts file), the lab's DNS servers answering badly, a reverse proxy's
// backend down or hung.

func resolverDeadServerKind() Kind {
	return kind(Spec[*DeadServerParams]{
		Name:      "resolver-dead-server",
		Layer:     LayerApp,
		NeedsHost: true,
		Summary:   "The host's resolv.conf points at a nameserver address where nothing answers.",
		Symptom: "`dig NAME` waits +time seconds and prints \";; communications error to ADDRESS#53: timed out\" and \";; no servers could be reached\" " +
			"(dig 9.18; older dig prints \";; connection timed out; no servers could be reached\"); with an address off the host's subnets and no route " +
			"it fails at once with \"UDP setup ... failed: network unreachable\". " +
			"(with the resolv.conf's timeout and attempts); `getent hosts NAME` and every program that looks names up hang " +
			"for timeout x attempts (about 22 s with glibc's defaults of 5 s and 2) and then fail with nothing printed; " +
			"curl prints \"Could not resolve host: NAME\" or hits its --max-time. `dig @GOOD-SERVER NAME` answers at once.",
		Fix: "Look at /etc/resolv.conf: the nameserver is wrong. `dig @ADDRESS NAME` shows nothing answers there. " +
			"Write the right one in place: `echo 'nameserver 10.0.1.53' > /etc/resolv.conf` (keep the search and options lines); " +
			"`sed -i` fails on the bind-mounted file.",
		Apply:   applyDeadServer,
		Revert:  revertResolvConf[*DeadServerParams],
		Observe: observeDeadServer,
		Cleared: clearedDeadServer,
	})
}

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

func wrongSearchDomainKind() Kind {
	return kind(Spec[*SearchParams]{
		Name:      "wrong-search-domain",
		Layer:     LayerApp,
		NeedsHost: true,
		Summary:   "The host's resolv.conf search list names the wrong domains, so short names no longer resolve.",
		Symptom: "`getent hosts SHORTNAME` and `curl http://SHORTNAME/` fail (\"Could not resolve host: SHORTNAME\"), while the full name " +
			"(`getent hosts SHORTNAME.corp.test`) works. `dig SHORTNAME` never uses the search list (\"status: NXDOMAIN\" or REFUSED for the bare name); " +
			"`dig +search SHORTNAME` shows the domain it tried.",
		Fix: "Read the search line of /etc/resolv.conf and put the right domain back: " +
			"`echo 'search corp.test' >> /etc/resolv.conf` or rewrite the file in place.",
		Apply:   applyWrongSearch,
		Revert:  revertResolvConf[*SearchParams],
		Observe: observeWrongSearch,
		Cleared: clearedWrongSearch,
	})
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

func staleHostsEntryKind() Kind {
	return kind(Spec[*StaleHostsParams]{
		Name:      "stale-hosts-entry",
		Layer:     LayerApp,
		NeedsHost: true,
		Summary:   "A line in the host's /etc/hosts maps a name to an old address and overrides DNS.",
		Symptom: "`dig NAME` prints the right address (dig asks the DNS server and never reads /etc/hosts), but " +
			"`getent hosts NAME` prints the old one, and `curl http://NAME/` and `ping NAME` go to the old address: " +
			"they time out or reach the wrong host.",
		Fix: "Compare `getent hosts NAME` with `dig +short NAME`; when they differ, look in /etc/hosts (files come before dns in " +
			"/etc/nsswitch.conf) and remove the stale line in place: `grep -v NAME /etc/hosts > /tmp/hosts && cat /tmp/hosts > /etc/hosts`.",
		Apply:   applyStaleHosts,
		Revert:  revertHosts,
		Observe: observeStaleHosts,
		Cleared: clearedStaleHosts,
	})
}

func proxyBackendDownKind() Kind {
	return kind(Spec[*BackendParams]{
		Name:      "proxy-backend-down",
		Layer:     LayerApp,
		NeedsHost: true,
		Summary:   "The reverse proxy's backend service is stopped; the proxy runs on.",
		Symptom: "`curl -sS -I http://PROXY/` prints \"HTTP/1.1 502 Bad Gateway\" at once; the proxy itself accepts connections. " +
			"On the backend host `ss -tlnp` shows nothing on the backend port, and `curl http://BACKEND:PORT/` from the proxy's host " +
			"prints \"Couldn't connect to server\" (connection refused).",
		Fix: "Follow the proxy to its backend (its configuration, or `ss -tnp` on the proxy host), see the backend refuse, " +
			"and start the backend service again on the backend host.",
		Apply:  applyBackendDown,
		Revert: revertBackendDown,
		Observe: func(ctx context.Context, e *Env, p *BackendParams) error {
			return observeProxyStatus(ctx, e, p.Service, http.StatusBadGateway)
		},
		Cleared: clearedBackendDown,
	})
}

func proxyBackendHungKind() Kind {
	return kind(Spec[*BackendHungParams]{
		Name:      "proxy-backend-hung",
		Layer:     LayerApp,
		NeedsHost: true,
		Summary:   "The reverse proxy's backend hangs: it answers only after a long delay (mode slow) or its port drops packets (mode drop).",
		Symptom: "`curl -sS -I http://PROXY/` waits for the proxy's timeout and then prints \"HTTP/1.1 504 Gateway Timeout\" " +
			"(header_timeout for a slow backend, dial_timeout for a dropped one). From the proxy host, `curl --max-time 5 http://BACKEND:PORT/` " +
			"times out too (\"Operation timed out after 5001 milliseconds with 0 bytes received\" when slow, \"Connection timed out\" " +
			"or the same when dropped); `ss -tn` on the proxy host shows connections to the backend in SYN-SENT (drop) or ESTAB with nothing received (slow).",
		Fix: "Time the backend directly from the proxy host (`curl -w '%{time_total}'`); when its port drops packets, remove the DROP rule " +
			"on the backend host (`iptables -L INPUT -n --line-numbers`, then `iptables -D INPUT N`); when it is slow, repair or restart the backend.",
		Apply:  applyBackendHung,
		Revert: revertBackendHung,
		Observe: func(ctx context.Context, e *Env, p *BackendHungParams) error {
			return observeProxyStatus(ctx, e, p.Service, http.StatusGatewayTimeout)
		},
		Cleared: clearedBackendHung,
	})
}

// DeadServerParams are the parameters of resolver-dead-server.
type DeadServerParams struct {
	Address string `yaml:"address,omitempty" json:"address,omitempty" doc:"The nameserver address written into resolv.conf, where nothing answers DNS (default the highest address of the host's first IPv4 subnet that no lab host has, so queries vanish and time out)."`
	Name    string `yaml:"name,omitempty" json:"name,omitempty" doc:"A name the observation asks for (default www.example.)."`

	addr netip.Addr
}

// Check implements Params.
func (p *DeadServerParams) Check() error {
	if p.Address != "" {
		a, err := netip.ParseAddr(p.Address)
		if err != nil {
			return fmt.Errorf("address: %q is not an IP address; give one such as \"10.0.1.99\"", p.Address)
		}
		p.addr = a
	}
	if p.Name == "" {
		p.Name = "www.example."
	}
	return checkDNSName("name", p.Name)
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
	if p.Name == "" {
		return errors.New("name: required; give the query name to break, such as \"www.corp.test.\"")
	}
	if err := checkDNSName("name", p.Name); err != nil {
		return err
	}
	return checkDNSType("type", p.Type)
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
	if p.Name == "" {
		return errors.New("name: required; give the query name to slow down, such as \"www.corp.test.\"")
	}
	if err := checkDNSName("name", p.Name); err != nil {
		return err
	}
	if err := checkDNSType("type", p.Type); err != nil {
		return err
	}
	if p.Delay == "" {
		p.Delay = "2s"
	}
	d, err := time.ParseDuration(p.Delay)
	if err != nil || d <= 0 || d > time.Minute {
		return fmt.Errorf("delay: %q is not a duration between 0 and 1m; write it like \"2s\"", p.Delay)
	}
	p.delay = d
	return nil
}

func (p *DNSSlowParams) fault() services.DNSFault {
	return services.DNSFault{Name: p.Name, Type: p.Type, Mode: services.DNSSlow, Delay: p.Delay}
}

// SearchParams are the parameters of wrong-search-domain.
type SearchParams struct {
	Search []string `yaml:"search,omitempty" json:"search,omitempty" doc:"The wrong search list written into resolv.conf (default [corp.example])."`
	Name   string   `yaml:"name,omitempty" json:"name,omitempty" doc:"The short name that stops resolving, such as \"www\"."`
}

// Check implements Params.
func (p *SearchParams) Check() error {
	if p.Name == "" {
		return errors.New("name: required; give a short name that resolves through the search list, such as \"www\"")
	}
	if strings.HasSuffix(p.Name, ".") {
		return fmt.Errorf("name: %q ends with a dot, so the search list is never used; give a short name such as \"www\"", p.Name)
	}
	if err := checkDNSName("name", p.Name); err != nil {
		return err
	}
	if len(p.Search) == 0 {
		p.Search = []string{"corp.example"}
	}
	for i, s := range p.Search {
		if err := checkDNSName(fmt.Sprintf("search[%d]", i), s); err != nil {
			return err
		}
	}
	return nil
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
	if p.Name == "" {
		return errors.New("name: required; give the name to answer wrong, such as \"www.corp.test.\"")
	}
	if err := checkDNSName("name", p.Name); err != nil {
		return err
	}
	if p.Address == "" {
		return errors.New("address: required; give the wrong address, such as \"10.0.1.99\"")
	}
	a, err := netip.ParseAddr(p.Address)
	if err != nil {
		return fmt.Errorf("address: %q is not an IP address; give one such as \"10.0.1.99\"", p.Address)
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

// StaleHostsParams are the parameters of stale-hosts-entry.
type StaleHostsParams struct {
	Name    string `yaml:"name,omitempty" json:"name,omitempty" doc:"The name the stale line maps, such as \"www.corp.test\"."`
	Address string `yaml:"address,omitempty" json:"address,omitempty" doc:"The old address the line gives (default 192.0.2.10, a documentation address no lab host has)."`
	Server  string `yaml:"server,omitempty" json:"server,omitempty" doc:"The DNS server the observation compares with (default the first nameserver of the host's resolv.conf)."`

	addr   netip.Addr
	server netip.Addr
}

// Check implements Params.
func (p *StaleHostsParams) Check() error {
	if p.Name == "" {
		return errors.New("name: required; give the name the stale line maps, such as \"www.corp.test\"")
	}
	if err := checkDNSName("name", p.Name); err != nil {
		return err
	}
	if p.Address == "" {
		p.Address = "192.0.2.10"
	}
	a, err := netip.ParseAddr(p.Address)
	if err != nil {
		return fmt.Errorf("address: %q is not an IP address; give one such as \"192.0.2.10\"", p.Address)
	}
	p.addr = a
	if p.Server != "" {
		if p.server, err = netip.ParseAddr(p.Server); err != nil {
			return fmt.Errorf("server: %q is not an IP address; give one such as \"10.0.1.53\"", p.Server)
		}
	}
	return nil
}

// BackendParams are the parameters of proxy-backend-down.
type BackendParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"The backend service on the host, the one a proxy of the lab forwards to."`
}

// Check implements Params.
func (p *BackendParams) Check() error {
	if p.Service == "" {
		return errors.New("service: required; give the name of the backend service on the host, such as \"app\"")
	}
	return nil
}

// Modes of proxy-backend-hung.
const (
	HungSlow = "slow"
	HungDrop = "drop"
)

// BackendHungParams are the parameters of proxy-backend-hung.
type BackendHungParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"The backend service on the host (an http service), the one a proxy of the lab forwards to."`
	Mode    string `yaml:"mode,omitempty" json:"mode,omitempty" doc:"What hangs: slow (the backend is restarted to answer only after delay; the proxy's header_timeout fires) or drop (an iptables rule on the host drops packets to the backend port; the proxy's dial_timeout fires). Default slow."`
	Delay   string `yaml:"delay,omitempty" json:"delay,omitempty" doc:"How long the slow backend waits before answering (default 60s)."`
}

// Check implements Params.
func (p *BackendHungParams) Check() error {
	if p.Service == "" {
		return errors.New("service: required; give the name of the backend service on the host, such as \"app\"")
	}
	switch p.Mode {
	case "":
		p.Mode = HungSlow
	case HungSlow, HungDrop:
	default:
		return fmt.Errorf("mode: %q is not a mode; give slow or drop", p.Mode)
	}
	if p.Delay == "" {
		p.Delay = "60s"
	}
	if d, err := time.ParseDuration(p.Delay); err != nil || d <= 0 {
		return fmt.Errorf("delay: %q is not a positive duration; write it like \"60s\"", p.Delay)
	}
	return nil
}

func checkDNSName(field, name string) error {
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		return fmt.Errorf("%s: %q is not a domain name", field, name)
	}
	return nil
}

func checkDNSType(field, t string) error {
	if t == "" {
		return nil
	}
	if _, ok := dns.StringToType[strings.ToUpper(t)]; !ok {
		return fmt.Errorf("%s: %q is not a record type; give A, AAAA, MX, TXT, ... or leave it out for every type", field, t)
	}
	return nil
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

// --- DNS server faults: restart the host's dns service with a fault mode.

// dnsService names the dns service on the env's host: the one given, or
// the host's first.
func dnsService(e *Env, name string) (string, error) {
	h := e.ScenarioHost()
	if h == nil {
		return "", fmt.Errorf("the scenario has no host %q", e.Host)
	}
	for _, s := range h.Services {
		if s.Kind == "dns" && (name == "" || s.Name == name) {
			return s.Name, nil
		}
	}
	if name != "" {
		return "", fmt.Errorf("host %q runs no dns service %q", e.Host, name)
	}
	return "", fmt.Errorf("host %q runs no dns service; put the fault on the host that runs the DNS server", e.Host)
}

// currentDNSParams are the parameters the dns service runs with now (so
// that faults stack), or the scenario's when it is not running.
func currentDNSParams(e *Env, name string) (*services.DNSParams, error) {
	if p, err := services.RunningParams(e.Lab, e.Host, name, "dns"); err == nil {
		return p.(*services.DNSParams), nil
	}
	_, p, err := services.ScenarioParams(e.Scenario, e.Host, name)
	if err != nil {
		return nil, err
	}
	return p.(*services.DNSParams), nil
}

// dnsFaultParams are the parameters of a fault that is one fault mode of
// one dns service.
type dnsFaultParams interface {
	Params
	dnsService() string
	fault() services.DNSFault
}

func (p *DNSModeParams) dnsService() string     { return p.Service }
func (p *DNSSlowParams) dnsService() string     { return p.Service }
func (p *WrongRecordParams) dnsService() string { return p.Service }

// applyDNSFault and revertDNSFault are Apply and Revert of the faults whose
// parameters are a dnsFaultParams.
func applyDNSFault[P dnsFaultParams](ctx context.Context, e *Env, x P) error {
	return applyDNSFaults(ctx, e, x.dnsService(), func(*services.DNSParams) []services.DNSFault { return []services.DNSFault{x.fault()} })
}

func revertDNSFault[P dnsFaultParams](ctx context.Context, e *Env, x P) error {
	return revertDNSFaults(ctx, e, x.dnsService(), func(*services.DNSParams) []services.DNSFault { return []services.DNSFault{x.fault()} })
}

// applyDNSFaults restarts the dns service with the faults made from its
// current parameters put first (faults are checked in order and the first
// match wins).
func applyDNSFaults(ctx context.Context, e *Env, service string, make func(*services.DNSParams) []services.DNSFault) error {
	name, err := dnsService(e, service)
	if err != nil {
		return err
	}
	p, err := currentDNSParams(e, name)
	if err != nil {
		return err
	}
	p.Faults = append(make(p), p.Faults...)
	return services.Restart(ctx, e.Lab, e.Host, name, "dns", p)
}

// revertDNSFaults restarts the dns service without the faults; it does
// nothing when none of them is there (never applied, or repaired).
func revertDNSFaults(ctx context.Context, e *Env, service string, make func(*services.DNSParams) []services.DNSFault) error {
	name, err := dnsService(e, service)
	if err != nil {
		return err
	}
	p, err := currentDNSParams(e, name)
	if err != nil {
		return err
	}
	removed := false
	for _, f := range make(p) {
		i := slices.IndexFunc(p.Faults, func(g services.DNSFault) bool { return reflect.DeepEqual(f, g) })
		if i >= 0 {
			p.Faults = slices.Delete(p.Faults, i, i+1)
			removed = true
		}
	}
	if !removed {
		return nil
	}
	return services.Restart(ctx, e.Lab, e.Host, name, "dns", p)
}

// dnsServerAddr is where the env's dns service answers, seen from its own
// host.
func dnsServerAddr(e *Env, service string) (netip.AddrPort, error) {
	name, err := dnsService(e, service)
	if err != nil {
		return netip.AddrPort{}, err
	}
	_, sp, err := services.ScenarioParams(e.Scenario, e.Host, name)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p := sp.(*services.DNSParams)
	a, err := netip.ParseAddr(p.Listen)
	if err != nil || a.IsUnspecified() {
		a = e.ScenarioHost().Addr4()
	}
	if !a.IsValid() {
		a = netip.MustParseAddr("127.0.0.1")
	}
	return netip.AddrPortFrom(a, uint16(p.Port)), nil
}

func observeDNSMode(ctx context.Context, e *Env, p *DNSModeParams) error {
	server, err := dnsServerAddr(e, p.Service)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	name := probeName(p.Name)
	r, err := probe.DNSQuery(ns, name, probe.DNSOptions{Server: server, Type: queryType(p.Type), Timeout: 2 * time.Second, Attempts: 1})
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
	server, err := dnsServerAddr(e, x.Service)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	name := probeName(x.Name)
	r, err := probe.DNSQuery(ns, name, probe.DNSOptions{Server: server, Type: queryType(x.Type), Timeout: x.delay + 2*time.Second, Attempts: 1})
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
	server, err := dnsServerAddr(e, x.Service)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	r, err := probe.DNSQuery(ns, x.Name, probe.DNSOptions{Server: server, Type: x.qtype(), Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		return err
	}
	if slices.Contains(r.Addrs(), x.addr) {
		return nil
	}
	return fmt.Errorf("%s answers %s with %s %v, not the wrong address %s", server, x.Name, r.Rcode, r.Addrs(), x.addr)
}

// probeName is a concrete name for a fault's name: a wildcard's "*" is
// replaced by a label.
func probeName(name string) string {
	name = dns.Fqdn(name)
	if strings.HasPrefix(name, "*.") {
		return "netdojo-probe" + name[1:]
	}
	return name
}

func queryType(t string) string {
	if t == "" {
		return "A"
	}
	return strings.ToUpper(t)
}

// --- resolv.conf and hosts faults.

// hostEtcFile is the host's own /etc file; it refuses the machine's.
func hostEtcFile(e *Env, host, name string) (string, error) {
	ns, err := e.Netns(host)
	if err != nil {
		return "", err
	}
	p := ns.EtcFile(name)
	if filepath.Dir(filepath.Dir(p)) != sandbox.EtcNetnsDir {
		return "", fmt.Errorf("host %q has no /etc/%s of its own; refusing to change the machine's", ns.Name(), name)
	}
	return p, nil
}

// savedEtcPath is where a fault keeps a host's file as it was before.
func savedEtcPath(e *Env, host, name string) string {
	return filepath.Join(e.Lab.Dir(), "faults", host+"."+name)
}

// saveEtc keeps the host's file before a fault changes it; a second fault
// on the same file keeps the first copy.
func saveEtc(e *Env, name string) (path string, content []byte, err error) {
	path, err = hostEtcFile(e, "", name)
	if err != nil {
		return "", nil, err
	}
	content, err = os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("reading /etc/%s of host %q: %w", name, e.Host, err)
	}
	saved := savedEtcPath(e, e.Host, name)
	if _, err := os.Stat(saved); err == nil {
		return path, content, nil
	}
	if err := os.MkdirAll(filepath.Dir(saved), 0o755); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(saved, content, 0o644); err != nil {
		return "", nil, fmt.Errorf("keeping /etc/%s of host %q: %w", name, e.Host, err)
	}
	return path, content, nil
}

// restoreEtc writes the kept file back in place (shells have it
// bind-mounted: never rename over it) and forgets the copy.
func restoreEtc(e *Env, name string) error {
	path, err := hostEtcFile(e, "", name)
	if err != nil {
		return err
	}
	saved := savedEtcPath(e, e.Host, name)
	content, err := os.ReadFile(saved)
	if errors.Is(err, os.ErrNotExist) {
		return nil // never changed, or reverted already
	} else if err != nil {
		return err
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		return fmt.Errorf("restoring /etc/%s of host %q: %w", name, e.Host, err)
	}
	return os.Remove(saved)
}

func revertResolvConf[P Params](ctx context.Context, e *Env, _ P) error {
	return restoreEtc(e, "resolv.conf")
}
func revertHosts(ctx context.Context, e *Env, _ *StaleHostsParams) error {
	return restoreEtc(e, "hosts")
}

// rewriteResolvConf replaces every line starting with key by lines.
func rewriteResolvConf(content []byte, key string, lines []string) []byte {
	var out []string
	done := false
	for _, line := range strings.Split(strings.TrimRight(string(content), "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == key || (key == "search" && f[0] == "domain")) {
			if !done {
				out = append(out, lines...)
				done = true
			}
			continue
		}
		out = append(out, line)
	}
	if !done {
		out = append(out, lines...)
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

func readHostResolvConf(e *Env) (probe.ResolvConf, error) {
	path, err := hostEtcFile(e, "", "resolv.conf")
	if err != nil {
		return probe.ResolvConf{}, err
	}
	return probe.ReadResolvConf(path)
}

func applyDeadServer(ctx context.Context, e *Env, x *DeadServerParams) error {
	path, content, err := saveEtc(e, "resolv.conf")
	if err != nil {
		return err
	}
	addr := x.addr
	if !addr.IsValid() {
		if addr, err = unusedAddr(e); err != nil {
			return err
		}
	}
	out := rewriteResolvConf(content, "nameserver", []string{"nameserver " + addr.String()})
	return os.WriteFile(path, out, 0o644)
}

// unusedAddr is the highest address of the env host's first IPv4 subnet
// that no interface of the lab has: on the LAN, so that queries to it are
// not refused by a router but vanish (ARP finds nobody).
func unusedAddr(e *Env) (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, h := range e.Scenario.Hosts {
		for _, i := range h.Interfaces {
			if i.IPv4.IsValid() {
				used[i.IPv4.Addr()] = true
			}
		}
	}
	for _, i := range e.ScenarioHost().Interfaces {
		if !i.IPv4.IsValid() || i.IPv4.Bits() > 30 {
			continue
		}
		p := i.IPv4.Masked()
		b := p.Addr().As4()
		size := uint32(1) << (32 - p.Bits())
		base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		for n := size - 2; n >= 1; n-- {
			v := base + n
			a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
			if !used[a] {
				return a, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("host %q has no IPv4 subnet with a free address; give the fault an address", e.Host)
}

// observeDeadServer asks the host's resolvers, as its resolver library
// would; the symptom is that none answers.
func observeDeadServer(ctx context.Context, e *Env, x *DeadServerParams) error {
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	if _, err := hostEtcFile(e, "", "resolv.conf"); err != nil {
		return err
	}
	r, err := probe.DNSQuery(ns, x.Name, probe.DNSOptions{Timeout: time.Second, Attempts: 1})
	if err != nil {
		return err
	}
	if !r.TimedOut {
		return fmt.Errorf("nameserver %s of host %q answers %s with %s", r.Server.Addr(), e.Host, x.Name, r.Rcode)
	}
	return nil
}

func applyWrongSearch(ctx context.Context, e *Env, x *SearchParams) error {
	path, content, err := saveEtc(e, "resolv.conf")
	if err != nil {
		return err
	}
	out := rewriteResolvConf(content, "search", []string{"search " + strings.Join(x.Search, " ")})
	return os.WriteFile(path, out, 0o644)
}

// observeWrongSearch resolves the short name the way glibc does with the
// host's resolv.conf (the search list, then the name as it is); the
// symptom is that no candidate has an address.
func observeWrongSearch(ctx context.Context, e *Env, x *SearchParams) error {
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	if _, err := hostEtcFile(e, "", "resolv.conf"); err != nil {
		return err
	}
	r, err := probe.DNSQuery(ns, x.Name, probe.DNSOptions{Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		return err
	}
	if r.TimedOut {
		return fmt.Errorf("no nameserver of host %q answers (tried %v)", e.Host, r.Search)
	}
	if a := r.Addrs(); len(a) > 0 {
		return fmt.Errorf("%s resolves through the search list of host %q: %s has %v", x.Name, e.Host, r.Name, a)
	}
	return nil
}

func applyStaleHosts(ctx context.Context, e *Env, x *StaleHostsParams) error {
	path, content, err := saveEtc(e, "hosts")
	if err != nil {
		return err
	}
	// The stale line goes first: the first match in the file wins.
	lines := strings.SplitAfterN(string(content), "\n", 2)
	stale := fmt.Sprintf("%s\t%s\n", x.addr, strings.TrimSuffix(x.Name, "."))
	var out string
	if len(lines) == 2 && strings.HasPrefix(lines[0], "#") {
		out = lines[0] + stale + lines[1]
	} else {
		out = stale + string(content)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// observeStaleHosts compares what the host's own name lookup gives (the
// hosts file comes first) with what its DNS server says.
func observeStaleHosts(ctx context.Context, e *Env, x *StaleHostsParams) error {
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	if _, err := hostEtcFile(e, "", "hosts"); err != nil {
		return err
	}
	local, from, err := probe.LookupHost(ns, x.Name)
	if err != nil {
		return fmt.Errorf("host %q cannot look up %s: %w", e.Host, x.Name, err)
	}
	if from != "hosts" {
		return fmt.Errorf("host %q finds %s through %s (%v), not its hosts file", e.Host, x.Name, from, local)
	}
	opt := probe.DNSOptions{Timeout: 2 * time.Second, Attempts: 1}
	if x.server.IsValid() {
		opt.Server = netip.AddrPortFrom(x.server, 53)
	}
	if !x.addr.Is4() {
		opt.Type = "AAAA"
	}
	r, err := probe.DNSQuery(ns, dns.Fqdn(x.Name), opt)
	if err != nil {
		return err
	}
	fromDNS := r.Addrs()
	if len(fromDNS) == 0 {
		return fmt.Errorf("DNS has no address for %s (%s)", x.Name, r.Rcode)
	}
	for _, a := range local {
		if slices.Contains(fromDNS, a) {
			return fmt.Errorf("the hosts file of host %q agrees with DNS: %s is %s", e.Host, x.Name, a)
		}
	}
	return nil
}

// --- reverse proxy backends.

// labProxy is a proxy service of the lab whose backend is a service of the
// env's host.
type labProxy struct {
	host    string
	params  *services.ProxyParams
	backend netip.AddrPort
}

// findProxy finds the lab's proxy that forwards to the service on the
// env's host: its backend is one of the host's addresses and the
// service's port.
func findProxy(e *Env, service string) (*labProxy, error) {
	_, bp, err := services.ScenarioParams(e.Scenario, e.Host, service)
	if err != nil {
		return nil, err
	}
	port := 0
	if v := reflect.ValueOf(bp).Elem().FieldByName("Port"); v.IsValid() && v.Kind() == reflect.Int {
		port = int(v.Int())
	}
	mine := map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): true}
	for _, i := range e.ScenarioHost().Interfaces {
		if i.IPv4.IsValid() {
			mine[i.IPv4.Addr()] = true
		}
		if i.IPv6.IsValid() {
			mine[i.IPv6.Addr()] = true
		}
	}
	for _, h := range e.Scenario.Hosts {
		for _, s := range h.Services {
			if s.Kind != "proxy" {
				continue
			}
			_, pp, err := services.ScenarioParams(e.Scenario, h.Name, s.Name)
			if err != nil {
				return nil, err
			}
			p := pp.(*services.ProxyParams)
			b, err := netip.ParseAddrPort(p.Backend)
			if err != nil {
				continue
			}
			if (mine[b.Addr()] || h.Name == e.Host && b.Addr().IsLoopback()) && (port == 0 || int(b.Port()) == port) {
				return &labProxy{host: h.Name, params: p, backend: b}, nil
			}
		}
	}
	return nil, fmt.Errorf("no proxy of the lab forwards to service %q on host %q", service, e.Host)
}

// observeProxyStatus asks the proxy for / from its own host and wants the
// given status.
func observeProxyStatus(ctx context.Context, e *Env, service string, want int) error {
	px, err := findProxy(e, service)
	if err != nil {
		return err
	}
	ns, err := e.Netns(px.host)
	if err != nil {
		return err
	}
	addr := px.params.Listen
	if addr == "" || addr == "0.0.0.0" || addr == "::" {
		addr = "127.0.0.1"
	}
	target := "http://" + net.JoinHostPort(addr, strconv.Itoa(px.params.Port)) + "/"
	r, err := probe.HTTP(ns, target, probe.HTTPOptions{Method: http.MethodHead, Timeout: 30 * time.Second})
	if err != nil {
		return fmt.Errorf("asking the proxy on host %q: %w", px.host, err)
	}
	if r.Status != want {
		return fmt.Errorf("the proxy on host %q answers %d %s, not %d", px.host, r.Status, http.StatusText(r.Status), want)
	}
	return nil
}

func applyBackendDown(ctx context.Context, e *Env, x *BackendParams) error {
	if _, _, err := services.ScenarioParams(e.Scenario, e.Host, x.Service); err != nil {
		return err
	}
	return e.Lab.StopProcess(e.Host, x.Service)
}

func revertBackendDown(ctx context.Context, e *Env, x *BackendParams) error {
	k, sp, err := services.ScenarioParams(e.Scenario, e.Host, x.Service)
	if err != nil {
		return err
	}
	return services.Restart(ctx, e.Lab, e.Host, x.Service, k.Name, sp)
}

// hungRule drops new connections to the backend port, tagged so that
// revert deletes exactly it.
func hungRule(port uint16) []string {
	return []string{"-p", "tcp", "--dport", strconv.Itoa(int(port)), "-m", "comment", "--comment", "netdojo fault proxy-backend-hung", "-j", "DROP"}
}

func applyBackendHung(ctx context.Context, e *Env, x *BackendHungParams) error {
	px, err := findProxy(e, x.Service)
	if err != nil {
		return err
	}
	if x.Mode == HungDrop {
		return e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
			return ipt.Insert("filter", "INPUT", 1, hungRule(px.backend.Port())...)
		})
	}
	k, sp, err := services.ScenarioParams(e.Scenario, e.Host, x.Service)
	if err != nil {
		return err
	}
	hp, ok := sp.(*services.HTTPParams)
	if !ok {
		return fmt.Errorf("service %q on host %q is a %s service; mode slow needs an http backend (or use mode drop)", x.Service, e.Host, k.Name)
	}
	hp.Delay = x.Delay
	return services.Restart(ctx, e.Lab, e.Host, x.Service, k.Name, hp)
}

func revertBackendHung(ctx context.Context, e *Env, x *BackendHungParams) error {
	if x.Mode == HungDrop {
		px, err := findProxy(e, x.Service)
		if err != nil {
			return err
		}
		return e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
			return ipt.DeleteIfExists("filter", "INPUT", hungRule(px.backend.Port())...)
		})
	}
	k, sp, err := services.ScenarioParams(e.Scenario, e.Host, x.Service)
	if err != nil {
		return err
	}
	return services.Restart(ctx, e.Lab, e.Host, x.Service, k.Name, sp)
}
