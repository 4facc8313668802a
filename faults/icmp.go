// ICMP faults on a hop: pmtu-blackhole, silent-hop and icmp-rate-limit.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

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

// PMTUParams narrow a link between two routers and hide it.
type PMTUParams struct {
	Dev  string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"The router's interface on the link to the next router (default: its first interface)."`
	MTU  int    `yaml:"mtu,omitempty" json:"mtu,omitempty" doc:"The narrow MTU of that link, both ends (default 1400)."`
	From string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host whose traffic crosses the link (default: found in the scenario)."`
	To   string `yaml:"to,omitempty" json:"to,omitempty" doc:"IPv4 address beyond the link (default: found in the scenario)."`
}

// Check implements Params.
func (p *PMTUParams) Check() error {
	if err := scenarios.CheckRange("mtu", &p.MTU, 1400, 576, 65535); err != nil {
		return err
	}
	if err := scenarios.CheckIfName("dev", p.Dev); err != nil {
		return err
	}
	return (&flowParams{From: p.From, To: p.To}).check()
}

var timeExceededRule = []string{"-p", "icmp", "--icmp-type", "time-exceeded", "-j", "DROP"}

var fragNeededRule = []string{"-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP"}

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

// clearedPMTU probes the path from both ends with a full-size packet and
// Don't Fragment: it must arrive (the link is as wide as the path again)
// or bring back "fragmentation needed" (the hole is gone). The ends'
// MTUs must be the network's: lowering them hides the hole, it does not
// close it.
func clearedPMTU(ctx context.Context, e *Env, pp *PMTUParams) error {
	_, from, to, err := e.flow(flowParams{From: pp.From, To: pp.To})
	if err != nil {
		return err
	}
	server := e.hostWithAddr(to)
	fh := e.Scenario.Host(from)
	if fh == nil || server == "" {
		return fmt.Errorf("the flow from %q to %s has no host at its far end", from, to)
	}
	type end struct {
		host string
		dst  netip.Addr
	}
	for _, x := range []end{{from, to}, {server, fh.Addr4()}} {
		ifc := ifaceToward(e.Scenario, x.host, x.dst)
		if ifc == nil {
			continue
		}
		mtu, err := e.linkMTU(x.host, ifc.Name)
		if err != nil {
			return err
		}
		if mtu != ifc.MTU {
			return errors.New("an end host sends smaller packets than its network carries, which hides the path's problem rather than removing it")
		}
		ns, err := e.Netns(x.host)
		if err != nil {
			return err
		}
		if err := flushRouteCache(ns); err != nil {
			return err
		}
		size := ifc.MTU - 28
		r, err := ping(ns, x.dst, pingOpts{Size: size, DF: true, Timeout: 700 * time.Millisecond})
		if err != nil {
			return err
		}
		flushRouteCache(ns)
		if !r.Reply && !(r.Type == 3 && r.Code == 4) {
			return fmt.Errorf("a full-size packet with Don't Fragment from %q to %s still vanishes on the path without a word back", x.host, x.dst)
		}
	}
	return nil
}

// ifaceToward is the interface of a host whose subnet holds the next hop
// (or the address) it uses for to, per the scenario.
func ifaceToward(s *scenarios.Scenario, host string, to netip.Addr) *scenarios.Iface {
	h := s.Host(host)
	if h == nil {
		return nil
	}
	via, _, ok := scenarioNextHop(h, to)
	if !ok {
		return nil
	}
	for _, i := range h.Interfaces {
		if i.IPv4.IsValid() && i.IPv4.Masked().Contains(via) {
			return i
		}
	}
	return nil
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

func clearedSilentHop(ctx context.Context, e *Env, p *FlowParams) error {
	ns, from, to, err := e.flow(p.flow())
	if err != nil {
		return err
	}
	ttl, ok := hops(e.Scenario, from, to, e.Host)
	if !ok {
		return fmt.Errorf("the scenario's path from %q to %s does not cross %q", from, to, e.Host)
	}
	rs, err := pingMany(ns, to, pingOpts{TTL: ttl, Timeout: 500 * time.Millisecond}, 3)
	if err != nil {
		return err
	}
	// From the router itself: one that raises the TTL of what it forwards
	// hides from traceroute, and the next router answers in its place.
	for _, r := range rs {
		if r.Type == 11 && e.hostWithAddr(r.From) == e.Host {
			return nil
		}
	}
	return fmt.Errorf("a router on the path from %q to %s still says nothing when a packet's TTL runs out there", from, to)
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

// RateLimitParams bring back the kernel's ICMP rate limit.
type RateLimitParams struct {
	RatelimitMS int    `yaml:"ratelimit_ms,omitempty" json:"ratelimit_ms,omitempty" doc:"net.ipv4.icmp_ratelimit: milliseconds between ICMP errors to one destination after a burst of 6 (default 1000, the kernel's own default)."`
	MsgsPerSec  int    `yaml:"msgs_per_sec,omitempty" json:"msgs_per_sec,omitempty" doc:"net.ipv4.icmp_msgs_per_sec, the namespace-wide limit (default: left as the lab has it, 100000)."`
	From        string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host whose probes show the symptom (default: found in the scenario)."`
	To          string `yaml:"to,omitempty" json:"to,omitempty" doc:"IPv4 address beyond this router probed through it (default: found in the scenario)."`
}

// Check implements Params.
func (p *RateLimitParams) Check() error {
	if err := scenarios.CheckRange("ratelimit_ms", &p.RatelimitMS, 1000, 1, 60000); err != nil {
		return err
	}
	if err := scenarios.CheckNonNegative("msgs_per_sec", p.MsgsPerSec); err != nil {
		return err
	}
	return (&flowParams{From: p.From, To: p.To}).check()
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
	return e.restoreSysctls("net.ipv4.icmp_ratelimit", "", "net.ipv4.icmp_msgs_per_sec", "")
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

func clearedRateLimit(ctx context.Context, e *Env, rp *RateLimitParams) error {
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
		if r.Type == 11 && e.hostWithAddr(r.From) == e.Host {
			answered++
		}
	}
	if answered < n*9/10 {
		return fmt.Errorf("a router on the path from %q to %s still answers only %d of %d probes that expire there in a burst", from, to, answered, n)
	}
	return nil
}
