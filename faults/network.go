package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NoParams is the parameter type of faults that take none.
type NoParams struct{}

// Check implements Params.
func (*NoParams) Check() error { return nil }

func noDefaultRouteKind() Kind {
	return kind(Spec[*NoParams]{
		Name:      "no-default-route",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "The host's default routes are gone, IPv4 and IPv6.",
		Symptom: "ping to any address off the local subnet prints \"connect: Network is unreachable\" at once (ping -6 too, when the host has IPv6); " +
			"nc prints \"Network is unreachable\"; curl prints \"Couldn't connect to server\"; `ip route` and `ip -6 route` have no default line. " +
			"Addresses on the local subnet still answer.",
		Fix:     "Add the default routes back: `ip route add default via GATEWAY` and `ip -6 route add default via GATEWAY6` (the router on the host's LAN).",
		Apply:   applyNoDefaultRoute,
		Revert:  revertNoDefaultRoute[*NoParams],
		Observe: observeNoDefaultRoute,
		Cleared: clearedDefaultRoutes[*NoParams],
	})
}

func applyNoDefaultRoute(ctx context.Context, e *Env, _ *NoParams) error {
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	deleted := 0
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" || r.Dst.String() == "::/0" {
				if err := h.RouteDel(&r); err != nil {
					return fmt.Errorf("deleting default route: %w", err)
				}
				deleted++
			}
		}
	}
	if deleted == 0 {
		return errors.New("the host has no default route to delete")
	}
	return nil
}

func revertNoDefaultRoute[P Params](ctx context.Context, e *Env, _ P) error {
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	return e.restoreRoutes(h, func(r scenarios.RouteSpec) bool { return r.Dst.Bits() == 0 && r.Type == "unicast" })
}

// observeNoDefaultRoute asks the kernel for a route off every local
// subnet, as `ip route get 198.51.100.1` does.
func observeNoDefaultRoute(ctx context.Context, e *Env, _ *NoParams) error {
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	defaults := []scenarios.RouteSpec{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Type: "unicast"}}
	for _, r := range e.ScenarioHost().Routes {
		if r.Dst.Bits() == 0 && r.Dst.Addr().Is6() && r.Type == "unicast" {
			defaults = append(defaults, r)
		}
	}
	for _, r := range defaults {
		dst, ok := sampleAddr(e.ScenarioHost(), r.Dst)
		if !ok {
			continue
		}
		if _, err := h.RouteGet(dst.AsSlice()); err == nil {
			return fmt.Errorf("the host still has a route to %s", dst)
		} else if !errors.Is(err, unix.ENETUNREACH) {
			return fmt.Errorf("route lookup for %s: %w", dst, err)
		}
	}
	return nil
}

// handle is a netlink handle in the env's host.
func (e *Env) handle() (*netlink.Handle, error) {
	ns, err := e.Netns("")
	if err != nil {
		return nil, err
	}
	return ns.NetlinkHandle(unix.NETLINK_ROUTE)
}

// GatewayParams name the dead gateway.
type GatewayParams struct {
	Gateway string `yaml:"gateway,omitempty" json:"gateway,omitempty" doc:"The unused on-link address the default route is pointed at (default: the highest host address of the gateway's subnet, if no host of the scenario has it)."`
}

// Check implements Params.
func (p *GatewayParams) Check() error {
	if p.Gateway != "" {
		if a, err := netip.ParseAddr(p.Gateway); err != nil || !a.Is4() {
			return fmt.Errorf("gateway: %q is not an IPv4 address", p.Gateway)
		}
	}
	return nil
}

// RouteParams name a destination prefix on a router, and the flow the
// symptom shows on.
type RouteParams struct {
	To   string `yaml:"to,omitempty" json:"to,omitempty" doc:"The destination prefix, such as 203.0.113.0/24, or an IPv6 one such as 2001:db8:80::/64 (to cut a dual-stack destination, give the fault once per family)." required:"true"`
	From string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host whose traffic to the prefix shows the symptom (default: a host that routes through this one)."`
}

// Check implements Params.
func (p *RouteParams) Check() error {
	pf, err := netip.ParsePrefix(p.To)
	if err != nil {
		return fmt.Errorf("to: %q is not a prefix such as 203.0.113.0/24 or 2001:db8:80::/64", p.To)
	}
	if pf.Masked() != pf {
		return fmt.Errorf("to: %s has host bits set; did you mean %s?", pf, pf.Masked())
	}
	return nil
}

func (p *RouteParams) prefix() netip.Prefix { return netip.MustParsePrefix(p.To) }

// ipNet is a prefix as netlink takes it, and its address family.
func ipNet(pf netip.Prefix) (*net.IPNet, int) {
	fam := netlink.FAMILY_V4
	if pf.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	return &net.IPNet{IP: pf.Addr().AsSlice(), Mask: net.CIDRMask(pf.Bits(), pf.Addr().BitLen())}, fam
}

// FlowParams name the flow a router fault shows on; both may be left to
// the scenario.
type FlowParams struct {
	From string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host whose traffic shows the symptom (default: a host that routes through this one, found in the scenario)."`
	To   string `yaml:"to,omitempty" json:"to,omitempty" doc:"IPv4 address beyond this host that the symptom shows on (default: the farthest one found in the scenario)."`
}

// Check implements Params.
func (p *FlowParams) Check() error { return (&flowParams{From: p.From, To: p.To}).check() }

func (p *FlowParams) flow() flowParams { return flowParams{From: p.From, To: p.To} }

// RPFilterParams set strict reverse path filtering on a router.
type RPFilterParams struct {
	Mode int    `yaml:"mode,omitempty" json:"mode,omitempty" doc:"rp_filter value set in net.ipv4.conf.all: 1 strict (default)."`
	From string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host whose connections show the symptom (default: found in the scenario)."`
	To   string `yaml:"to,omitempty" json:"to,omitempty" doc:"Server address whose answers come back the other way (default: found in the scenario)."`
	Port int    `yaml:"port,omitempty" json:"port,omitempty" doc:"TCP port connected to on the server (default 80)."`
}

// Check implements Params.
func (p *RPFilterParams) Check() error {
	if p.Mode == 0 {
		p.Mode = 1
	}
	if p.Mode != 1 {
		return fmt.Errorf("mode: %d is not 1; loose mode (2) lets asymmetric traffic through", p.Mode)
	}
	if p.Port == 0 {
		p.Port = 80
	}
	if p.Port < 1 || p.Port > 65535 {
		return fmt.Errorf("port: %d is outside 1 to 65535", p.Port)
	}
	return (&flowParams{From: p.From, To: p.To}).check()
}

// PMTUParams narrow a link between two routers and hide it.
type PMTUParams struct {
	Dev  string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"The router's interface on the link to the next router (default: its first interface)."`
	MTU  int    `yaml:"mtu,omitempty" json:"mtu,omitempty" doc:"The narrow MTU of that link, both ends (default 1400)."`
	From string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host whose traffic crosses the link (default: found in the scenario)."`
	To   string `yaml:"to,omitempty" json:"to,omitempty" doc:"IPv4 address beyond the link (default: found in the scenario)."`
}

// Check implements Params.
func (p *PMTUParams) Check() error {
	if p.MTU == 0 {
		p.MTU = 1400
	}
	if p.MTU < 576 || p.MTU > 65535 {
		return fmt.Errorf("mtu: %d is outside 576 to 65535", p.MTU)
	}
	if err := checkDev(p.Dev); err != nil {
		return err
	}
	return (&flowParams{From: p.From, To: p.To}).check()
}

// RateLimitParams bring back the kernel's ICMP rate limit.
type RateLimitParams struct {
	RatelimitMS int    `yaml:"ratelimit_ms,omitempty" json:"ratelimit_ms,omitempty" doc:"net.ipv4.icmp_ratelimit: milliseconds between ICMP errors to one destination after a burst of 6 (default 1000, the kernel's own default)."`
	MsgsPerSec  int    `yaml:"msgs_per_sec,omitempty" json:"msgs_per_sec,omitempty" doc:"net.ipv4.icmp_msgs_per_sec, the namespace-wide limit (default: left as the lab has it, 100000)."`
	From        string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host whose probes show the symptom (default: found in the scenario)."`
	To          string `yaml:"to,omitempty" json:"to,omitempty" doc:"IPv4 address beyond this router probed through it (default: found in the scenario)."`
}

// Check implements Params.
func (p *RateLimitParams) Check() error {
	if p.RatelimitMS == 0 {
		p.RatelimitMS = 1000
	}
	if p.RatelimitMS < 1 || p.RatelimitMS > 60000 {
		return fmt.Errorf("ratelimit_ms: %d is outside 1 to 60000", p.RatelimitMS)
	}
	if p.MsgsPerSec < 0 {
		return fmt.Errorf("msgs_per_sec: %d is negative", p.MsgsPerSec)
	}
	return (&flowParams{From: p.From, To: p.To}).check()
}

// MasqueradeParams name the NAT rule a router loses.
type MasqueradeParams struct {
	Dev    string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"The router's public interface, the rule's -o." required:"true"`
	Source string `yaml:"source,omitempty" json:"source,omitempty" doc:"The private clients' prefix, the rule's -s, such as 10.0.1.0/24." required:"true"`
	From   string `yaml:"from,omitempty" json:"from,omitempty" doc:"Private host whose traffic shows the symptom (default: found in the scenario)."`
	To     string `yaml:"to,omitempty" json:"to,omitempty" doc:"Public address it talks to (default: found in the scenario)."`
}

// Check implements Params.
func (p *MasqueradeParams) Check() error {
	if p.Dev == "" {
		return errors.New("dev: the router's public interface is required")
	}
	if err := checkDev(p.Dev); err != nil {
		return err
	}
	if pf, err := netip.ParsePrefix(p.Source); err != nil || !pf.Addr().Is4() || pf.Masked() != pf {
		return fmt.Errorf("source: %q is not an IPv4 prefix such as 10.0.1.0/24", p.Source)
	}
	return (&flowParams{From: p.From, To: p.To}).check()
}

func (p *MasqueradeParams) rule() []string {
	return []string{"-s", p.Source, "-o", p.Dev, "-j", "MASQUERADE"}
}

// PortRangeParams shrink the local port range.
type PortRangeParams struct {
	Ports int    `yaml:"ports,omitempty" json:"ports,omitempty" doc:"How many local ports are left, from 32768 up (default 100)."`
	To    string `yaml:"to,omitempty" json:"to,omitempty" doc:"IP:port the host keeps connecting to (default: the target of the host's churner service)."`
}

// Check implements Params.
func (p *PortRangeParams) Check() error {
	if p.Ports == 0 {
		p.Ports = 100
	}
	if p.Ports < 1 || p.Ports > 28000 {
		return fmt.Errorf("ports: %d is outside 1 to 28000", p.Ports)
	}
	if p.To != "" {
		if ap, err := netip.ParseAddrPort(p.To); err != nil || !ap.Addr().Is4() {
			return fmt.Errorf("to: %q is not an IPv4 address and port such as 10.0.1.80:7", p.To)
		}
	}
	return nil
}

func deadGatewayKind() Kind {
	return kind(Spec[*GatewayParams]{
		Name:      "dead-gateway",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "The host's default routes (IPv4, and IPv6 when it has one) point at an on-link address that nobody has.",
		Symptom: "After about 3 s ping prints \"From OWN-ADDRESS icmp_seq=1 Destination Host Unreachable\"; nc prints \"No route to host\"; " +
			"curl prints \"Couldn't connect to server\"; `ip neigh` shows the gateway INCOMPLETE, then FAILED; " +
			"`ip route` shows a default route that looks fine. Hosts on the local subnet still answer.",
		Fix:     "Point the default route at the real router: `ip route replace default via GATEWAY`.",
		Apply:   applyDeadGateway,
		Revert:  revertNoDefaultRoute[*GatewayParams],
		Observe: observeDeadGateway,
		Cleared: clearedDefaultRoutes[*GatewayParams],
	})
}

func missingRouteKind() Kind {
	return kind(Spec[*RouteParams]{
		Name:      "missing-route",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "A router has lost its route to a subnet.",
		Symptom: "ping through the router prints \"From ROUTER icmp_seq=1 Destination Net Unreachable\" " +
			"(or times out if the router has a default route that leads nowhere); `traceroute -n` ends at the router with !N " +
			"(\" 1  10.0.1.1  0.050 ms !N\"); curl fails at once with \"Couldn't connect to server\", while nc -w1 reports \"timed out\"; " +
			"`ip route get ADDR` on the router says \"RTNETLINK answers: Network is unreachable\".",
		Fix:     "Add the route back on the router: `ip route add PREFIX via NEXT-HOP`.",
		Apply:   applyMissingRoute,
		Revert:  revertMissingRoute,
		Observe: observeMissingRoute,
		Cleared: clearedMissingRoute,
	})
}

func forwardingOffKind() Kind {
	return kind(Spec[*FlowParams]{
		Name:      "forwarding-off",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "A router no longer forwards: net.ipv4.ip_forward is 0 (and net.ipv6.conf.all.forwarding when the router forwards IPv6).",
		Symptom: "ping through the router times out with no error line (\"100% packet loss\"), yet the router's own addresses, " +
			"even those on its far side, answer ping; `traceroute -n` shows the hops before the router, then `* * *` from the router's hop on " +
			"(a router that does not forward does not send time-exceeded for transit packets either); " +
			"`sysctl net.ipv4.ip_forward` on the router prints 0.",
		Fix: "Turn forwarding back on: `sysctl -w net.ipv4.ip_forward=1` on the router (and `sysctl -w net.ipv6.conf.all.forwarding=1`).",
		Apply: func(ctx context.Context, e *Env, p *FlowParams) error {
			if err := e.setHostSysctl("", "net.ipv4.ip_forward", "0"); err != nil {
				return err
			}
			if e.scenarioSysctl("net.ipv6.conf.all.forwarding", "0") == "1" {
				return e.setHostSysctl("", "net.ipv6.conf.all.forwarding", "0")
			}
			return nil
		},
		Revert: func(ctx context.Context, e *Env, p *FlowParams) error {
			return errors.Join(e.setHostSysctl("", "net.ipv4.ip_forward", e.scenarioSysctl("net.ipv4.ip_forward", "1")),
				e.setHostSysctl("", "net.ipv6.conf.all.forwarding", e.scenarioSysctl("net.ipv6.conf.all.forwarding", "0")))
		},
		Observe: observeForwardingOff,
		Cleared: clearedForwarding,
	})
}

func blackholeRouteKind() Kind {
	return routeTypeKind("blackhole", unix.RTN_BLACKHOLE,
		"Traffic through the host to the prefix vanishes: ping prints nothing but \"100% packet loss\", nc prints \"timed out\". "+
			"On the host itself ping prints \"ping: connect: Invalid argument\" and nc \"failed: Invalid argument\". "+
			"`ip route` shows \"blackhole PREFIX\"; `ip route get ADDR` prints \"blackhole ADDR\".")
}

func unreachableRouteKind() Kind {
	return routeTypeKind("unreachable", unix.RTN_UNREACHABLE,
		"ping through the host prints \"From HOST icmp_seq=1 Destination Host Unreachable\" at once; nc prints \"No route to host\". "+
			"On the host itself ping prints \"ping: connect: No route to host\". "+
			"`ip route` shows \"unreachable PREFIX\"; `ip route get ADDR` says \"RTNETLINK answers: No route to host\".")
}

func prohibitRouteKind() Kind {
	return routeTypeKind("prohibit", unix.RTN_PROHIBIT,
		"ping through the host prints \"From HOST icmp_seq=1 Packet filtered\" at once (ICMP administratively prohibited); "+
			"nc prints \"No route to host\". On the host itself ping prints \"ping: Do you want to ping broadcast? Then -b. If not, check your local firewall rules\" "+
			"and nc \"failed: Permission denied\". "+
			"`ip route` shows \"prohibit PREFIX\"; `ip route get ADDR` says \"RTNETLINK answers: Permission denied\".")
}

func asymmetricRPFilterKind() Kind {
	return kind(Spec[*RPFilterParams]{
		Name:      "asymmetric-rp-filter",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "Answers come back to a router by another path than requests leave, and strict reverse path filtering drops them.",
		Symptom: "From the client, ping and TCP to the server time out (curl \"Connection timed out\" / \"Timeout was reached\"); " +
			"on the server `ss -tn state syn-recv` holds the connections, since its SYN-ACKs never arrive; " +
			"on the router `nstat -az TcpExtIPReversePathFilter` counts the drops and `sysctl net.ipv4.conf.all.rp_filter` prints 1.",
		Fix: "Make the router accept the asymmetric path (`sysctl -w net.ipv4.conf.all.rp_filter=2`, loose mode), " +
			"or make the return path symmetric (route the server's answers back through the same router).",
		Apply: func(ctx context.Context, e *Env, p *RPFilterParams) error {
			return e.setHostSysctl("", "net.ipv4.conf.all.rp_filter", strconv.Itoa(p.Mode))
		},
		Revert: func(ctx context.Context, e *Env, p *RPFilterParams) error {
			return e.setHostSysctl("", "net.ipv4.conf.all.rp_filter", e.scenarioSysctl("net.ipv4.conf.all.rp_filter", "0"))
		},
		Observe: observeRPFilter,
		Cleared: clearedRPFilter,
	})
}

func pmtuBlackholeKind() Kind {
	return kind(Spec[*PMTUParams]{
		Name:      "pmtu-blackhole",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "A link between two routers is narrower than the rest of the path, and the routers drop the ICMP that would say so.",
		Symptom: "Small requests work (ping, DNS, curl of a small page), but `ping -M do -s 1472` vanishes silently " +
			"(no \"Frag needed\" line, \"100% packet loss\"), and a large HTTP download stalls after its first segment " +
			"(curl \"(28) Operation timed out after 2001 milliseconds with 512 out of 1000000 bytes received\"). " +
			"`tracepath -n` prints \"no reply\" from the narrow link on; `ip link` on the routers shows the smaller MTU; " +
			"`iptables -L OUTPUT -v` on them counts the dropped fragmentation-needed messages.",
		Fix: "Let the routers send fragmentation-needed again (`iptables -D OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP` on both), " +
			"then `ip route flush cache` at both ends. Clamping the MSS on the routers, or a smaller MTU on the end hosts, only hides the hole " +
			"from TCP: the routers still swallow the ICMP every other protocol needs.",
		Apply:   applyPMTUBlackhole,
		Revert:  revertPMTUBlackhole,
		Observe: observePMTUBlackhole,
		Cleared: clearedPMTU,
	})
}

func silentHopKind() Kind {
	return kind(Spec[*FlowParams]{
		Name:      "silent-hop",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "A router forwards traffic but sends no ICMP time-exceeded.",
		Symptom: "`traceroute -n` shows \" N  * * *\" at the router's hop while the hops after it answer; ping through it works. " +
			"`iptables -L OUTPUT -v` on the router shows a DROP rule for icmp time-exceeded with a growing counter.",
		Fix: "Nothing is broken for traffic; to see the hop, delete the rule: `iptables -D OUTPUT -p icmp --icmp-type time-exceeded -j DROP` on the router.",
		Apply: func(ctx context.Context, e *Env, p *FlowParams) error {
			return e.ruleSet("", "filter", "OUTPUT", timeExceededRule, true)
		},
		Revert: func(ctx context.Context, e *Env, p *FlowParams) error {
			return e.ruleSet("", "filter", "OUTPUT", timeExceededRule, false)
		},
		Observe: observeSilentHop,
		Cleared: clearedSilentHop,
	})
}

func icmpRateLimitKind() Kind {
	return kind(Spec[*RateLimitParams]{
		Name:      "icmp-rate-limit",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "A router limits its ICMP errors to one a second per destination, the kernel's default.",
		Symptom: "`traceroute -n -q 10` shows `*` among the answers at the router's hop although it is healthy; " +
			"a burst of probes gets only about 6 time-exceeded or unreachable answers; `nstat -az IcmpRateLimitHost` on the router counts the rest.",
		Fix:     "Turn the limit off on the router: `sysctl -w net.ipv4.icmp_ratelimit=0` (and raise `net.ipv4.icmp_msgs_per_sec` again if it was lowered).",
		Apply:   applyRateLimit,
		Revert:  revertRateLimit,
		Observe: observeRateLimit,
		Cleared: clearedRateLimit,
	})
}

func missingMasqueradeKind() Kind {
	return kind(Spec[*MasqueradeParams]{
		Name:      "missing-masquerade",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "A NAT router no longer masquerades its private clients on its public interface.",
		Symptom: "From a private client, ping and TCP to public hosts time out (\"100% packet loss\", curl \"Connection timed out\"); " +
			"`tcpdump -ni DEV` on the router's public side shows the packets leaving with the private source address and no answer; " +
			"`iptables -t nat -L POSTROUTING -v` has no MASQUERADE rule.",
		Fix: "Put the rule back on the router: `iptables -t nat -A POSTROUTING -s PRIVATE-PREFIX -o DEV -j MASQUERADE`.",
		Apply: func(ctx context.Context, e *Env, p *MasqueradeParams) error {
			return e.ruleSet("", "nat", "POSTROUTING", p.rule(), false)
		},
		Revert: func(ctx context.Context, e *Env, p *MasqueradeParams) error {
			return e.ruleSet("", "nat", "POSTROUTING", p.rule(), true)
		},
		Observe: observeMissingMasquerade,
		Cleared: clearedMasquerade,
	})
}

func portRangeExhaustionKind() Kind {
	return kind(Spec[*PortRangeParams]{
		Name:      "port-range-exhaustion",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "The host's local port range is shrunk while it churns short connections, so TIME_WAIT holds every port.",
		Symptom: "New connections to the busy destination fail at once: nc prints \"connect to ADDR port PORT (tcp) failed: Cannot assign requested address\", " +
			"curl \"Couldn't connect to server\"; `ss -tan state time-wait | wc -l` is about the size of the range; " +
			"`sysctl net.ipv4.ip_local_port_range` shows a tiny range. Other destinations still work.",
		Fix: "Widen the range again: `sysctl -w net.ipv4.ip_local_port_range=\"32768 60999\"` (and make the client reuse connections).",
		Apply: func(ctx context.Context, e *Env, p *PortRangeParams) error {
			n := p.Ports
			return e.setHostSysctl("", "net.ipv4.ip_local_port_range", fmt.Sprintf("32768 %d", 32768+n-1))
		},
		Revert: func(ctx context.Context, e *Env, p *PortRangeParams) error {
			return e.setHostSysctl("", "net.ipv4.ip_local_port_range", e.scenarioSysctl("net.ipv4.ip_local_port_range", "32768 60999"))
		},
		Observe: observePortRange,
		Cleared: clearedPortRange,
	})
}

// ---- sysctls and rules

func (e *Env) setHostSysctl(host, key, value string) error {
	ns, err := e.Netns(host)
	if err != nil {
		return err
	}
	return setSysctl(ns, key, value)
}

// scenarioSysctl is the env host's value of a sysctl in the scenario, or
// def.
// scenarioSysctl is the value the host had when the lab started: the
// scenario's, else the lab default (sandbox.HostDefaults), else def.
func (e *Env) scenarioSysctl(key, def string) string {
	for _, s := range e.ScenarioHost().Sysctls {
		if s.Key == key {
			return s.Value
		}
	}
	if v, ok := sandbox.DefaultSysctl(key); ok {
		return v
	}
	return def
}

var timeExceededRule = []string{"-p", "icmp", "--icmp-type", "time-exceeded", "-j", "DROP"}

var fragNeededRule = []string{"-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP"}

// ruleSet appends a rule (once) or deletes every copy of it.
func (e *Env) ruleSet(host, table, chain string, rule []string, present bool) error {
	if host == "" {
		host = e.Host
	}
	return e.IPTables(host, iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
		if present {
			if err := ipt.AppendUnique(table, chain, rule...); err != nil {
				return fmt.Errorf("adding rule %q to %s/%s in host %q: %w", strings.Join(rule, " "), table, chain, host, err)
			}
			return nil
		}
		for {
			ok, err := ipt.Exists(table, chain, rule...)
			if err != nil {
				return fmt.Errorf("looking for rule %q in %s/%s in host %q: %w", strings.Join(rule, " "), table, chain, host, err)
			}
			if !ok {
				return nil
			}
			if err := ipt.Delete(table, chain, rule...); err != nil {
				return fmt.Errorf("deleting rule %q from %s/%s in host %q: %w", strings.Join(rule, " "), table, chain, host, err)
			}
		}
	})
}

// ---- dead-gateway

func (e *Env) deadGateway(p *GatewayParams) (netip.Addr, *scenarios.Iface, error) {
	gw, ifc, ok := e.defaultGateway()
	if !ok || ifc == nil {
		return netip.Addr{}, nil, fmt.Errorf("host %q has no default gateway in the scenario", e.Host)
	}
	if p.Gateway != "" {
		a := netip.MustParseAddr(p.Gateway)
		if !ifc.IPv4.Masked().Contains(a) {
			return a, nil, fmt.Errorf("gateway: %s is not on %s, the subnet of %q", a, ifc.IPv4.Masked(), ifc.Name)
		}
		if o, taken := hostOf(e.Scenario, a); taken {
			return a, nil, fmt.Errorf("gateway: %s belongs to host %q; a dead gateway must be unused", a, o.Host.Name)
		}
		return a, ifc, nil
	}
	// The highest host address of the subnet that nobody has.
	pf := ifc.IPv4.Masked()
	last := pf.Addr().As4()
	bits := 32 - pf.Bits()
	v := uint32(last[0])<<24 | uint32(last[1])<<16 | uint32(last[2])<<8 | uint32(last[3])
	for i := uint32(1); bits >= 2 && i < 1<<bits-1; i++ {
		c := v | (1<<bits - 1 - i)
		a := netip.AddrFrom4([4]byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)})
		if _, taken := hostOf(e.Scenario, a); !taken && a != gw {
			return a, ifc, nil
		}
	}
	return netip.Addr{}, nil, fmt.Errorf("subnet %s of host %q has no unused address", pf, e.Host)
}

func applyDeadGateway(ctx context.Context, e *Env, p *GatewayParams) error {
	gw, ifc, err := e.deadGateway(p)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding interface %q: %w", ifc.Name, err)
	}
	if err := h.RouteReplace(&netlink.Route{Gw: gw.AsSlice(), LinkIndex: l.Attrs().Index}); err != nil {
		return fmt.Errorf("pointing the default route at %s: %w", gw, err)
	}
	// The IPv6 default route too, or the host reaches everything over IPv6.
	sh := e.ScenarioHost()
	for _, r := range sh.Routes {
		if r.Dst.Bits() != 0 || !r.Dst.Addr().Is6() || !r.Via.IsValid() {
			continue
		}
		i := routeDevAny(sh, r)
		if i == nil || !i.IPv6.IsValid() {
			continue
		}
		dead := lastAddr(i.IPv6.Masked()).Prev()
		l6, err := h.LinkByName(i.Name)
		if err != nil {
			return fmt.Errorf("finding interface %q: %w", i.Name, err)
		}
		dst := &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
		if err := h.RouteReplace(&netlink.Route{Dst: dst, Family: netlink.FAMILY_V6, Gw: dead.AsSlice(), LinkIndex: l6.Attrs().Index, Priority: r.Metric}); err != nil {
			return fmt.Errorf("pointing the IPv6 default route at %s: %w", dead, err)
		}
	}
	return nil
}

// observeDeadGateway sends a datagram off the subnet and watches the
// gateway's neighbour entry: it never becomes reachable.
func observeDeadGateway(ctx context.Context, e *Env, p *GatewayParams) error {
	gw, ifc, err := e.deadGateway(p)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	routes, err := h.RouteGet(net.ParseIP("198.51.100.254"))
	if err != nil {
		return fmt.Errorf("route lookup off the subnet: %w", err)
	}
	if len(routes) == 0 || !routes[0].Gw.Equal(gw.AsSlice()) {
		return fmt.Errorf("the default route does not go via %s", gw)
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	r, err := ping(ns, netip.MustParseAddr("198.51.100.254"), pingOpts{Timeout: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	if r.Reply {
		return fmt.Errorf("ping through %s got %s", gw, r)
	}
	l, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding interface %q: %w", ifc.Name, err)
	}
	neighs, err := h.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("listing neighbours on %q: %w", ifc.Name, err)
	}
	for _, n := range neighs {
		if n.IP.Equal(gw.AsSlice()) {
			if n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) != 0 {
				return nil
			}
			return fmt.Errorf("gateway %s has neighbour state %s", gw, neighState(n.State))
		}
	}
	return fmt.Errorf("no neighbour entry for gateway %s after a ping through it", gw)
}

func neighState(s int) string {
	for _, st := range []struct {
		v    int
		name string
	}{{netlink.NUD_INCOMPLETE, "INCOMPLETE"}, {netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"}, {netlink.NUD_DELAY, "DELAY"},
		{netlink.NUD_PROBE, "PROBE"}, {netlink.NUD_FAILED, "FAILED"}, {netlink.NUD_NOARP, "NOARP"}, {netlink.NUD_PERMANENT, "PERMANENT"}} {
		if s&st.v != 0 {
			return st.name
		}
	}
	return fmt.Sprintf("0x%x", s)
}

// ---- missing-route

func (e *Env) routesTo(pf netip.Prefix) []scenarios.RouteSpec {
	var out []scenarios.RouteSpec
	for _, r := range e.ScenarioHost().Routes {
		if r.Dst == pf {
			out = append(out, r)
		}
	}
	return out
}

func applyMissingRoute(ctx context.Context, e *Env, p *RouteParams) error {
	pf := p.prefix()
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	dst, fam := ipNet(pf)
	routes, err := h.RouteListFiltered(fam, &netlink.Route{Dst: dst, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("listing routes to %s: %w", pf, err)
	}
	deleted := 0
	for _, r := range routes {
		if r.Protocol == unix.RTPROT_KERNEL {
			continue // a connected subnet is not a route one loses
		}
		if err := h.RouteDel(&r); err != nil {
			return fmt.Errorf("deleting route to %s: %w", pf, err)
		}
		deleted++
	}
	if deleted == 0 {
		return fmt.Errorf("host %q has no static route to %s to lose", e.Host, pf)
	}
	return nil
}

func revertMissingRoute(ctx context.Context, e *Env, p *RouteParams) error {
	pf := p.prefix()
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	if len(e.routesTo(pf)) == 0 {
		return fmt.Errorf("the scenario gives host %q no route to %s to restore", e.Host, pf)
	}
	return e.restoreRoutes(h, func(r scenarios.RouteSpec) bool { return r.Dst == pf })
}

// observeMissingRoute asks the router for a route into the prefix, then
// pings into it through the router.
func observeMissingRoute(ctx context.Context, e *Env, rp *RouteParams) error {
	pf := rp.prefix()
	target := pf.Addr().Next()
	if pf.IsSingleIP() {
		target = pf.Addr()
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	routes, err := h.RouteGet(target.AsSlice())
	if err == nil && len(routes) > 0 {
		want := e.routesTo(pf)
		for _, w := range want {
			if w.Via.IsValid() && routes[0].Gw.Equal(w.Via.AsSlice()) {
				return fmt.Errorf("the router still routes %s via %s", target, w.Via)
			}
		}
	} else if !errors.Is(err, unix.ENETUNREACH) {
		return fmt.Errorf("route lookup for %s: %w", target, err)
	}
	// A host of the prefix, pinged from a host that routes through here.
	ns, from, to, err := e.flow(flowParams{From: rp.From})
	if err != nil || !pf.Contains(to) {
		return nil // the router's own table is the evidence
	}
	r, err := ping(ns, to, pingOpts{Timeout: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	if r.Reply {
		return fmt.Errorf("ping from %q to %s got %s", from, to, r)
	}
	return nil
}

// ---- forwarding-off

func observeForwardingOff(ctx context.Context, e *Env, p *FlowParams) error {
	ns, from, to, err := e.flow(p.flow())
	if err != nil {
		return err
	}
	r, err := ping(ns, to, pingOpts{Timeout: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	if !r.Silent() {
		return fmt.Errorf("ping from %q through %q to %s gave %s", from, e.Host, to, r)
	}
	// The router itself still answers, even on its far side: it is the
	// forwarding that is off, not the router.
	fh := e.Scenario.Host(from)
	for _, i := range e.ScenarioHost().Interfaces {
		if !i.IPv4.IsValid() || fh.IfaceOn(i.Network) != nil {
			continue
		}
		r, err := ping(ns, i.IPv4.Addr(), pingOpts{Timeout: 500 * time.Millisecond})
		if err != nil {
			return err
		}
		if !r.Reply {
			return fmt.Errorf("the router's own address %s does not answer %q either (%s): not a forwarding problem", i.IPv4.Addr(), from, r)
		}
		break
	}
	return nil
}

// ---- blackhole, unreachable, prohibit

func routeTypeKind(typ string, rtn int, symptom string) Kind {
	return kind(Spec[*RouteParams]{
		Name:      typ + "-route",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "A " + typ + " route for a prefix overrides the way there.",
		Symptom:   symptom,
		Fix:       "Delete the route: `ip route del " + typ + " PREFIX` on the host.",
		Apply: func(ctx context.Context, e *Env, p *RouteParams) error {
			pf := p.prefix()
			h, err := e.handle()
			if err != nil {
				return err
			}
			defer h.Close()
			dst, fam := ipNet(pf)
			if err := h.RouteReplace(&netlink.Route{Dst: dst, Family: fam, Type: rtn, Table: unix.RT_TABLE_MAIN}); err != nil {
				return fmt.Errorf("adding %s route to %s: %w", typ, pf, err)
			}
			return nil
		},
		Revert: func(ctx context.Context, e *Env, p *RouteParams) error {
			pf := p.prefix()
			h, err := e.handle()
			if err != nil {
				return err
			}
			defer h.Close()
			dst, fam := ipNet(pf)
			if err := h.RouteDel(&netlink.Route{Dst: dst, Family: fam, Type: rtn, Table: unix.RT_TABLE_MAIN}); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("deleting %s route to %s: %w", typ, pf, err)
			}
			return e.restoreRoutes(h, func(r scenarios.RouteSpec) bool { return r.Dst == pf })
		},
		Observe: func(ctx context.Context, e *Env, p *RouteParams) error {
			return observeRouteType(e, p, typ)
		},
		Cleared: func(ctx context.Context, e *Env, p *RouteParams) error {
			return clearedRouteType(e, p, typ, rtn)
		},
	})
}

// routeTypeErrno is the kernel's answer to a lookup that hits a route
// of the type, in both families: EINVAL for blackhole, EHOSTUNREACH for
// unreachable, EACCES for prohibit.
func routeTypeErrno(typ string, _ netip.Addr) error {
	return map[string]error{"blackhole": unix.EINVAL, "unreachable": unix.EHOSTUNREACH, "prohibit": unix.EACCES}[typ]
}

// observeRouteType looks up the route on the host (the kernel answers
// with the type's errno) and pings through the host when a flow crosses
// it: blackhole is silent, unreachable and prohibit answer with ICMP.
func observeRouteType(e *Env, rp *RouteParams, typ string) error {
	pf := rp.prefix()
	target := pf.Addr()
	if !pf.IsSingleIP() {
		target = target.Next()
	}
	hns, err := e.Netns("")
	if err != nil {
		return err
	}
	// ip route get: EINVAL for blackhole, EHOSTUNREACH for unreachable,
	// EACCES for prohibit.
	wantErr := routeTypeErrno(typ, target)
	rl, err := probe.RouteGet(hns, target)
	switch {
	case err == nil && typ == "blackhole" && rl.Type == "blackhole":
	case errors.Is(err, wantErr):
	case err != nil:
		return fmt.Errorf("route lookup for %s on %q: %v, not the %s route's %v", target, e.Host, err, typ, wantErr)
	default:
		return fmt.Errorf("route lookup for %s on %q finds a %s route via %s, not the %s route", target, e.Host, rl.Type, rl.Dev, typ)
	}
	ns, from, to, err := e.flow(flowParams{From: rp.From})
	if err != nil || !pf.Contains(to) {
		return nil // no flow crosses the host; the lookup is the evidence
	}
	r, err := ping(ns, to, pingOpts{Timeout: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	ok := false
	switch typ {
	case "blackhole":
		ok = r.Silent()
	case "unreachable":
		ok = r.Type == 3 && r.Code == 1
	case "prohibit":
		ok = r.Type == 3 && r.Code == 13
	}
	if !ok {
		return fmt.Errorf("ping from %q to %s through the %s route gave %s", from, to, typ, r)
	}
	return nil
}

// ---- asymmetric-rp-filter

func observeRPFilter(ctx context.Context, e *Env, rp *RPFilterParams) error {
	ns, from, to, err := e.flow(flowParams{From: rp.From, To: rp.To})
	if err != nil {
		return err
	}
	rns, err := e.Netns("")
	if err != nil {
		return err
	}
	before, err := counter(rns, "TcpExtIPReversePathFilter")
	if err != nil {
		return err
	}
	target := netip.AddrPortFrom(to, uint16(rp.Port))
	rr, err := reach(ns, target, 700*time.Millisecond)
	if err != nil {
		return err
	}
	if rr.Outcome != probe.ReachFiltered {
		return fmt.Errorf("connecting from %q to %s through %q: %s, not a time-out", from, target, e.Host, rr.Outcome)
	}
	after, err := counter(rns, "TcpExtIPReversePathFilter")
	if err != nil {
		return err
	}
	if after <= before {
		return fmt.Errorf("connecting from %q to %s timed out but %q dropped nothing by reverse path filter", from, target, e.Host)
	}
	return nil
}

// ---- pmtu-blackhole

func (e *Env) pmtuLink(p *PMTUParams) (*scenarios.Iface, *scenarios.Iface, error) {
	ifc, err := e.iface(p.Dev)
	if err != nil {
		return nil, nil, err
	}
	if ifc.Network.Type != "p2p" {
		return nil, nil, fmt.Errorf("dev: %q is on %s network %q; the narrow link must be point-to-point between two routers", ifc.Name, ifc.Network.Type, ifc.Network.Name)
	}
	return ifc, ifc.Peer(), nil
}

func (e *Env) allHosts(fn func(ns *sandbox.Netns) error) error {
	var errs []error
	for _, h := range e.Scenario.Hosts {
		ns, err := e.Netns(h.Name)
		if err == nil {
			err = fn(ns)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func applyPMTUBlackhole(ctx context.Context, e *Env, pp *PMTUParams) error {
	ifc, peer, err := e.pmtuLink(pp)
	if err != nil {
		return err
	}
	for _, end := range []*scenarios.Iface{ifc, peer} {
		pe := &Env{Lab: e.Lab, Scenario: e.Scenario, Host: end.Host.Name}
		if err := pe.ruleSet("", "filter", "OUTPUT", fragNeededRule, true); err != nil {
			return err
		}
		if err := pe.setMTU(end.Name, pp.MTU); err != nil {
			return err
		}
	}
	// Cached path MTUs at either end would hide the hole.
	return e.allHosts(flushRouteCache)
}

func revertPMTUBlackhole(ctx context.Context, e *Env, pp *PMTUParams) error {
	ifc, peer, err := e.pmtuLink(pp)
	if err != nil {
		return err
	}
	var errs []error
	for _, end := range []*scenarios.Iface{ifc, peer} {
		pe := &Env{Lab: e.Lab, Scenario: e.Scenario, Host: end.Host.Name}
		errs = append(errs, pe.setMTU(end.Name, end.MTU), pe.ruleSet("", "filter", "OUTPUT", fragNeededRule, false))
	}
	errs = append(errs, e.allHosts(flushRouteCache))
	return errors.Join(errs...)
}

// observePMTUBlackhole pings across the narrow link: small echoes come
// back, a full-size one with DF set vanishes without an ICMP error.
func observePMTUBlackhole(ctx context.Context, e *Env, pp *PMTUParams) error {
	ns, from, to, err := e.flow(flowParams{From: pp.From, To: pp.To})
	if err != nil {
		return err
	}
	small, err := ping(ns, to, pingOpts{})
	if err != nil {
		return err
	}
	if !small.Reply {
		return fmt.Errorf("a small ping from %q to %s gave %s", from, to, small)
	}
	mtu := 1500
	if fh := e.Scenario.Host(from); fh != nil {
		if path, ok := scenarioPath(e.Scenario, from, to); ok && len(path) > 1 {
			if via, _, ok := scenarioNextHop(fh, to); ok {
				for _, i := range fh.Interfaces {
					if i.IPv4.IsValid() && i.IPv4.Masked().Contains(via) {
						mtu = i.MTU
					}
				}
			}
		}
	}
	big, err := ping(ns, to, pingOpts{Size: mtu - 28, DF: true, Timeout: 700 * time.Millisecond})
	if err != nil {
		return err
	}
	if !big.Silent() {
		return fmt.Errorf("ping -M do -s %d from %q to %s gave %s", mtu-28, from, to, big)
	}
	return nil
}

// ---- silent-hop

// observeSilentHop traces from the flow's source: the router's hop is
// silent while a later hop answers.
func observeSilentHop(ctx context.Context, e *Env, p *FlowParams) error {
	ns, from, to, err := e.flow(p.flow())
	if err != nil {
		return err
	}
	ttl, ok := hops(e.Scenario, from, to, e.Host)
	if !ok {
		return fmt.Errorf("the scenario's path from %q to %s does not cross %q", from, to, e.Host)
	}
	tr, err := probe.Traceroute(ns, to, probe.TraceOptions{Mode: "icmp", FirstTTL: ttl, MaxHops: ttl + 1, Queries: 3, Wait: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	if len(tr.Hops) == 0 || !tr.Hops[0].Silent {
		return fmt.Errorf("hop %d (%q) of the path from %q to %s answers: %v", ttl, e.Host, from, to, tr.Hops)
	}
	if len(tr.Hops) < 2 || tr.Hops[1].Silent {
		return fmt.Errorf("the hop after %q is silent too; the path itself is broken", e.Host)
	}
	return nil
}

// ---- icmp-rate-limit

func applyRateLimit(ctx context.Context, e *Env, rp *RateLimitParams) error {
	if err := e.setHostSysctl("", "net.ipv4.icmp_ratelimit", strconv.Itoa(rp.RatelimitMS)); err != nil {
		return err
	}
	if rp.MsgsPerSec > 0 {
		return e.setHostSysctl("", "net.ipv4.icmp_msgs_per_sec", strconv.Itoa(rp.MsgsPerSec))
	}
	return nil
}

func revertRateLimit(ctx context.Context, e *Env, _ *RateLimitParams) error {
	return errors.Join(
		e.setHostSysctl("", "net.ipv4.icmp_ratelimit", e.scenarioSysctl("net.ipv4.icmp_ratelimit", "")),
		e.setHostSysctl("", "net.ipv4.icmp_msgs_per_sec", e.scenarioSysctl("net.ipv4.icmp_msgs_per_sec", "")))
}

// observeRateLimit sends a burst of probes that expire at the router:
// fewer than half get their time-exceeded.
func observeRateLimit(ctx context.Context, e *Env, rp *RateLimitParams) error {
	ns, from, to, err := e.flow(flowParams{From: rp.From, To: rp.To})
	if err != nil {
		return err
	}
	ttl, ok := hops(e.Scenario, from, to, e.Host)
	if !ok {
		return fmt.Errorf("the scenario's path from %q to %s does not cross %q", from, to, e.Host)
	}
	const n = 20
	rs, err := pingMany(ns, to, pingOpts{TTL: ttl, Timeout: 500 * time.Millisecond}, n)
	if err != nil {
		return err
	}
	answered := 0
	for _, r := range rs {
		if r.Type == 11 {
			answered++
		}
	}
	if answered >= n/2 {
		return fmt.Errorf("%d of %d probes from %q expiring at %q got time-exceeded", answered, n, from, e.Host)
	}
	return nil
}

// ---- missing-masquerade

func observeMissingMasquerade(ctx context.Context, e *Env, mp *MasqueradeParams) error {
	ns, from, to, err := e.flow(flowParams{From: mp.From, To: mp.To})
	if err != nil {
		return err
	}
	r, err := ping(ns, to, pingOpts{Timeout: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	if !r.Silent() {
		return fmt.Errorf("ping from %q to %s gave %s", from, to, r)
	}
	// The router still forwards: it is the address translation that is
	// missing, not the route.
	rns, err := e.Netns("")
	if err != nil {
		return err
	}
	if v, err := sysctl(rns, "net.ipv4.ip_forward"); err != nil || v != "1" {
		return fmt.Errorf("router %q does not forward (ip_forward %q, %v): not a NAT problem", e.Host, v, err)
	}
	return nil
}

// ---- port-range-exhaustion

func (e *Env) portRangeTarget(p *PortRangeParams) (netip.AddrPort, error) {
	if p.To != "" {
		return netip.MustParseAddrPort(p.To), nil
	}
	for _, s := range e.ScenarioHost().Services {
		if s.Kind != "churner" {
			continue
		}
		var c struct {
			Target string `yaml:"target"`
		}
		if err := s.Params.Decode(&c); err == nil {
			if ap, err := netip.ParseAddrPort(c.Target); err == nil {
				return ap, nil
			}
		}
	}
	return netip.AddrPort{}, fmt.Errorf("to: host %q runs no churner; give the address and port it connects to", e.Host)
}

// observePortRange connects where the host churns until the kernel has no
// local port left for it.
func observePortRange(ctx context.Context, e *Env, p *PortRangeParams) error {
	target, err := e.portRangeTarget(p)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	return poll(2*time.Second, func() error {
		rr, err := reach(ns, target, 500*time.Millisecond)
		if err != nil {
			return err
		}
		if rr.Outcome == probe.ReachAddrUnavailable {
			return nil
		}
		return fmt.Errorf("connecting from %q to %s: %s, not \"Cannot assign requested address\"", e.Host, target, rr.Outcome)
	})
}
