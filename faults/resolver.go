// Resolver file faults: resolver-dead-server, wrong-search-domain and stale-hosts-entry, in the host's /etc/resolv.conf and /etc/hosts.

package faults

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
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

// DeadServerParams are the parameters of resolver-dead-server.
type DeadServerParams struct {
	Address string `yaml:"address,omitempty" json:"address,omitempty" doc:"The nameserver address written into resolv.conf, where nothing answers DNS (default the highest address of the host's first IPv4 subnet that no lab host has, so queries vanish and time out)."`
	Name    string `yaml:"name,omitempty" json:"name,omitempty" doc:"A name the observation asks for (default www.example.)."`

	addr netip.Addr
}

// Check implements Params.
func (p *DeadServerParams) Check() error {
	a, err := scenarios.CheckIP("address", p.Address, "10.0.1.99")
	if err != nil {
		return err
	}
	p.addr = a
	if p.Name == "" {
		p.Name = "www.example."
	}
	return scenarios.CheckDNSName("name", p.Name)
}

// SearchParams are the parameters of wrong-search-domain.
type SearchParams struct {
	Search []string `yaml:"search,omitempty" json:"search,omitempty" doc:"The wrong search list written into resolv.conf (default [corp.example])."`
	Name   string   `yaml:"name,omitempty" json:"name,omitempty" doc:"The short name that stops resolving, such as \"www\"."`
}

// Check implements Params.
func (p *SearchParams) Check() error {
	if err := scenarios.CheckRequired("name", p.Name, "give a short name that resolves through the search list, such as \"www\""); err != nil {
		return err
	}
	if strings.HasSuffix(p.Name, ".") {
		return scenarios.FieldErrorf("name", "%q ends with a dot, so the search list is never used; give a short name such as \"www\"", p.Name)
	}
	if err := scenarios.CheckDNSName("name", p.Name); err != nil {
		return err
	}
	if len(p.Search) == 0 {
		p.Search = []string{"corp.example"}
	}
	for i, s := range p.Search {
		if err := scenarios.CheckDNSName(fmt.Sprintf("search[%d]", i), s); err != nil {
			return err
		}
	}
	return nil
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
	if err := scenarios.CheckRequired("name", p.Name, "give the name the stale line maps, such as \"www.corp.test\""); err != nil {
		return err
	}
	if err := scenarios.CheckDNSName("name", p.Name); err != nil {
		return err
	}
	if p.Address == "" {
		p.Address = "192.0.2.10"
	}
	a, err := scenarios.CheckIP("address", p.Address, "192.0.2.10")
	if err != nil {
		return err
	}
	p.addr = a
	if p.server, err = scenarios.CheckIP("server", p.Server, "10.0.1.53"); err != nil {
		return err
	}
	return nil
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
