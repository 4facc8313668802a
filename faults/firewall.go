// Firewall faults: firewall-drop and the REJECT kinds, and stateful-firewall-drops-return.

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
	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Transport-layer faults: firewalls, listeners, socket states, and the
// path qualities (delay, loss, rate) a transport feels.

func firewallDropKind() Kind {
	return kind(Spec[*FirewallParams]{
		Name: "firewall-drop", Layer: LayerTransport, NeedsHost: true,
		Summary: "An iptables rule on the host silently drops matching packets (INPUT, OUTPUT or FORWARD; mirrored in ip6tables on a dual-stack host unless it names an address).",
		Symptom: "Connections hang and time out: `nc -zv -w 2 HOST PORT` prints " +
			"\"nc: connect to HOST port PORT (tcp) timed out: Operation now in progress\"; " +
			"curl prints \"curl: (28) Connection timed out after N milliseconds\". tcpdump shows the SYN " +
			"retransmitted with no answer. ping still works when only a TCP port is dropped. In OUTPUT, a UDP datagram from the host " +
			"is refused by its own kernel (EPERM): nothing leaves the host (tcpdump sees nothing), `nc -u` gets no answer and prints nothing, " +
			"dig prints \";; communications error to ADDR#53: timed out\", and `iptables -L OUTPUT -v` counts each attempt.",
		Fix: "Find the rule with `iptables -L CHAIN -n -v --line-numbers` (its packet counter grows with every " +
			"attempt) and delete it: `iptables -D CHAIN NUMBER`, or replace it by the ACCEPT the policy intended.",
		New:   func() *FirewallParams { return &FirewallParams{target: "DROP"} },
		Apply: applyFirewall, Revert: revertFirewall, Observe: observeFirewall, Cleared: clearedFirewall,
	})
}

func firewallRejectTCPResetKind() Kind {
	return rejectKind("firewall-reject-tcp-reset", "tcp-reset",
		"A REJECT rule answers matching TCP connections with a TCP reset.",
		"Refused at once, exactly as if nothing listened: `nc -zv -w 2 HOST PORT` prints "+
			"\"nc: connect to HOST port PORT (tcp) failed: Connection refused\"; curl prints "+
			"\"curl: (7) Failed to connect to HOST port PORT after 0 ms: Couldn't connect to server\". "+
			"Yet `ss -tlnp` on the server shows the service listening: the reset comes from the firewall "+
			"(its counter in `iptables -L -n -v` grows; tcpdump shows an RST with the server's address).")
}

func firewallRejectPortUnreachableKind() Kind {
	return rejectKind("firewall-reject-port-unreachable", "icmp-port-unreachable",
		"A REJECT rule answers matching packets with ICMP port unreachable.",
		"Refused at once: `nc -zv -w 2 HOST PORT` prints \"nc: connect to HOST port PORT (tcp) failed: "+
			"Connection refused\"; curl prints \"curl: (7) Failed to connect to HOST port PORT after N ms: "+
			"Couldn't connect to server\". Indistinguishable from a closed port by the client alone: "+
			"`ss -tlnp` on the server shows the listener, tcpdump shows \"ICMP HOST tcp port PORT unreachable\" "+
			"instead of an RST.")
}

func firewallRejectHostProhibitedKind() Kind {
	return rejectKind("firewall-reject-host-prohibited", "icmp-host-prohibited",
		"A REJECT rule answers matching packets with ICMP host prohibited.",
		"At once: `nc -zv -w 2 HOST PORT` prints \"nc: connect to HOST port PORT (tcp) failed: No route to host\"; "+
			"curl prints \"curl: (7) Failed to connect to HOST port PORT after 0 ms: Couldn't connect to server\". "+
			"Yet `ip route get HOST` shows a route and ping may answer: tcpdump shows "+
			"\"ICMP host HOST unreachable - admin prohibited\" (code 10).")
}

func firewallRejectAdminProhibitedKind() Kind {
	return rejectKind("firewall-reject-admin-prohibited", "icmp-admin-prohibited",
		"A REJECT rule answers matching packets with ICMP communication administratively prohibited.",
		"At once: `nc -zv -w 2 HOST PORT` prints \"nc: connect to HOST port PORT (tcp) failed: No route to host\"; "+
			"curl prints \"curl: (7) Failed to connect to HOST port PORT after 0 ms: Couldn't connect to server\". "+
			"The route is fine (`ip route get HOST`); tcpdump shows \"ICMP host HOST unreachable - admin prohibited filter\" (code 13).")
}

func firewallRejectNetUnreachableKind() Kind {
	return rejectKind("firewall-reject-net-unreachable", "icmp-net-unreachable",
		"A REJECT rule answers matching packets with ICMP network unreachable.",
		"`nc -zv -w 2 HOST PORT` prints \"nc: connect to HOST port PORT (tcp) failed: Network is unreachable\"; "+
			"curl prints \"curl: (7) Failed to connect to HOST port PORT after N ms: Couldn't connect to server\". "+
			"The client has a route (`ip route get HOST` answers): the error is an ICMP net unreachable "+
			"(tcpdump: \"ICMP net HOST unreachable\") sent by a firewall, not a missing route.")
}

// --- firewall rules --------------------------------------------------------

// FirewallParams are the parameters of the firewall faults.
type FirewallParams struct {
	Chain       string `yaml:"chain,omitempty" json:"chain,omitempty" doc:"Chain of the filter table the rule goes into: INPUT (traffic to the host), OUTPUT (from it) or FORWARD (through it, on a router); default INPUT."`
	Proto       string `yaml:"proto,omitempty" json:"proto,omitempty" doc:"Protocol matched: tcp or udp (default tcp)."`
	Port        int    `yaml:"port,omitempty" json:"port,omitempty" doc:"Destination port matched (required)."`
	Source      string `yaml:"source,omitempty" json:"source,omitempty" doc:"Match only packets from this address or CIDR."`
	Destination string `yaml:"destination,omitempty" json:"destination,omitempty" doc:"Match only packets to this address or CIDR."`
	From        string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host whose connections show the symptom, for the probe (default: the host itself for OUTPUT, else a host chosen from the topology)."`
	To          string `yaml:"to,omitempty" json:"to,omitempty" doc:"Address the probe connects to (default: the destination when it is one address, else the host that runs a service on the port)."`

	target     string // DROP or REJECT
	rejectWith string
}

// Check implements Params.
func (p *FirewallParams) Check() error {
	if err := scenarios.CheckOneOf("chain", &p.Chain, "INPUT", true, "INPUT", "OUTPUT", "FORWARD"); err != nil {
		return err
	}
	if err := scenarios.CheckOneOf("proto", &p.Proto, "tcp", false, "tcp", "udp"); err != nil {
		return err
	}
	if p.Proto == "udp" && p.rejectWith == "tcp-reset" {
		return scenarios.FieldErrorf("proto", "a tcp-reset answers TCP only; give tcp")
	}
	if err := scenarios.CheckPort("port", &p.Port, 0); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"source", p.Source}, {"destination", p.Destination}} {
		if err := scenarios.CheckAddrOrCIDR(f.name, f.v); err != nil {
			return err
		}
	}
	if _, err := scenarios.CheckIP("to", p.To, "10.0.1.10"); err != nil {
		return err
	}
	return nil
}

func (p *FirewallParams) rulespec() []string {
	spec := []string{"-p", p.Proto}
	if p.Source != "" {
		spec = append(spec, "-s", p.Source)
	}
	if p.Destination != "" {
		spec = append(spec, "-d", p.Destination)
	}
	spec = append(spec, "--dport", strconv.Itoa(p.Port), "-j", p.target)
	if p.rejectWith != "" {
		spec = append(spec, "--reject-with", p.rejectWith)
	}
	return spec
}

func rejectKind(name, with, summary, symptom string) Kind {
	return kind(Spec[*FirewallParams]{
		Name: name, Layer: LayerTransport, NeedsHost: true,
		Summary: summary + " In INPUT, OUTPUT or FORWARD; mirrored in ip6tables on a dual-stack host unless it names an address.",
		Symptom: symptom,
		Fix: "Find the REJECT rule with `iptables -L CHAIN -n -v --line-numbers` (its counter grows with each attempt; " +
			"the reject-with type is printed) and delete it: `iptables -D CHAIN NUMBER`.",
		New:   func() *FirewallParams { return &FirewallParams{target: "REJECT", rejectWith: with} },
		Apply: applyFirewall, Revert: revertFirewall, Observe: observeFirewall, Cleared: clearedFirewall,
	})
}

// expectedOutcomes are what a connection matched by the rule ends in,
// as the probe engine classifies it. A REJECT in OUTPUT answers the
// host's own socket with a local error, not an ICMP message from the
// wire, so there only the errno class (refused, unreachable) is known.
func (p *FirewallParams) expectedOutcomes() []probe.ReachOutcome {
	if p.Chain == "OUTPUT" {
		switch p.rejectWith {
		case "":
			if p.Proto == "udp" {
				// A local DROP makes the send fail with EPERM at once.
				return []probe.ReachOutcome{probe.ReachBlockedLocally}
			}
		case "tcp-reset", "icmp-port-unreachable":
			return []probe.ReachOutcome{probe.ReachRefusedICMP, probe.ReachRefusedRST}
		case "icmp-host-prohibited", "icmp-admin-prohibited":
			return []probe.ReachOutcome{probe.ReachAdminProhibited, probe.ReachHostUnreachable}
		}
	}
	switch p.rejectWith {
	case "":
		if p.Proto == "udp" {
			return []probe.ReachOutcome{probe.ReachOpenOrFiltered}
		}
		return []probe.ReachOutcome{probe.ReachFiltered}
	case "tcp-reset":
		return []probe.ReachOutcome{probe.ReachRefusedRST}
	case "icmp-port-unreachable":
		return []probe.ReachOutcome{probe.ReachRefusedICMP}
	case "icmp-net-unreachable":
		return []probe.ReachOutcome{probe.ReachNetUnreachable}
	}
	return []probe.ReachOutcome{probe.ReachAdminProhibited}
}

func applyFirewall(ctx context.Context, e *Env, p *FirewallParams) error {
	if err := e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
		return ipt.InsertUnique("filter", p.Chain, 1, p.rulespec()...)
	}); err != nil {
		return err
	}
	return p.firewall6(e, true)
}

func revertFirewall(ctx context.Context, e *Env, p *FirewallParams) error {
	return errors.Join(e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
		return ipt.DeleteIfExists("filter", p.Chain, p.rulespec()...)
	}), p.firewall6(e, false))
}

// connectionEnds picks the client host and the server address of the
// traffic the rule's chain stops.
func (p *FirewallParams) connectionEnds(e *Env) (string, netip.Addr, error) {
	role := roleServer
	switch p.Chain {
	case "OUTPUT":
		role = roleClient
	case "FORWARD":
		role = roleRouter
	}
	return e.connectionEnds(role, p.Port, p.Source, p.Destination, p.From, p.To)
}

func observeFirewall(ctx context.Context, e *Env, p *FirewallParams) error {
	from, to, err := p.connectionEnds(e)
	if err != nil {
		return err
	}
	return e.expectOutcome(ctx, from, p.Proto, netip.AddrPortFrom(to, uint16(p.Port)), p.expectedOutcomes()...)
}

func clearedFirewall(ctx context.Context, e *Env, p *FirewallParams) error {
	from, to, err := p.connectionEnds(e)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("the %s traffic that was being stopped", strings.ToUpper(p.Proto))
	if err := e.judgeTraffic(from, p.Proto, netip.AddrPortFrom(to, uint16(p.Port)), what); err != nil {
		return err
	}
	if to6, ok := e.addr6Of(to); ok && p.mirrors6(e) {
		return e.judgeTraffic(from, p.Proto, netip.AddrPortFrom(to6, uint16(p.Port)), what+" over IPv6")
	}
	return nil
}

// Cleared judgements of the transport faults: the firewall rules that
// match the traffic a fault targets (by their counters, under a fresh
// probe), the process behind a listener, and the behaviour of the
// service under an active probe.

// clearedProbeTimeout bounds the probe connection of a Cleared judgement:
// the rules' counters grow with the first packet, the outcome is not
// what is judged.
const clearedProbeTimeout = 300 * time.Millisecond

// statefulProbeTimeout covers a SYN retransmission, for the return
// traffic of stateful-firewall-drops-return.
const statefulProbeTimeout = 1500 * time.Millisecond

// judgeTraffic sends the traffic a fault targets (from a host to addr)
// and judges the rules of the fault's host and of the sender that match
// it: one that discards it, or a rewrite that steers it around, keeps the
// fault there.
func (e *Env) judgeTraffic(from, proto string, addr netip.AddrPort, what string) error {
	return e.judgeTrafficFor(from, proto, addr, what, clearedProbeTimeout)
}

// judgeTrafficFor is judgeTraffic with the probe's timeout: return
// traffic needs the server to answer, which a loaded server may do only
// after the client's first SYN retransmission (1 s).
func (e *Env) judgeTrafficFor(from, proto string, addr netip.AddrPort, what string, timeout time.Duration) error {
	grown, _, err := e.rulesGrownByReach(from, proto, addr, timeout)
	if err != nil {
		return err
	}
	return judgeRules(grown, what)
}

// rulesGrownByReach connects from a host to addr and returns the rules of
// the fault's host and of the sender whose counters grew, and the
// connection's source.
func (e *Env) rulesGrownByReach(from, proto string, addr netip.AddrPort, timeout time.Duration) ([]grownRule, netip.AddrPort, error) {
	ns, err := e.Netns(from)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	hosts := []string{e.Host}
	if from != e.Host {
		hosts = append(hosts, from)
	}
	var src netip.AddrPort
	grown, err := e.rulesMatching(hosts, []string{"filter", "nat"}, addr.Addr().Is6(), func() error {
		r, err := probe.Reach(ns, addr, probe.ReachOptions{Proto: proto, Timeout: timeout})
		src = r.Src
		return err
	})
	return grown, src, err
}

func statefulFirewallDropsReturnKind() Kind {
	return kind(Spec[*StatefulParams]{
		Name: "stateful-firewall-drops-return", Layer: LayerTransport, NeedsHost: true,
		Summary: "A stateful rule on a router (FORWARD) or the client (INPUT) drops ESTABLISHED,RELATED return traffic from the service's port (in ip6tables too on a dual-stack host).",
		Symptom: "Connections time out (`nc -zv -w 2 HOST PORT`: \"timed out: Operation now in progress\"), " +
			"yet the SYN leaves and the server answers: tcpdump on the server side shows SYN and SYN-ACK " +
			"repeated, on the client side only SYNs (FORWARD) or SYN-ACKs that no ACK follows (INPUT); " +
			"`ss -tan state syn-recv` on the server lists the half-open connection.",
		Fix: "Let return traffic through, as every stateful ruleset must: delete the rule " +
			"(`iptables -L CHAIN -n -v --line-numbers`, then `iptables -D CHAIN NUMBER`) and keep " +
			"`iptables -I CHAIN -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT` at the top.",
		Apply: applyStateful, Revert: revertStateful, Observe: observeStateful, Cleared: clearedStateful,
	})
}

// --- stateful firewall dropping return traffic -----------------------------

// StatefulParams are the parameters of stateful-firewall-drops-return.
type StatefulParams struct {
	Chain string `yaml:"chain,omitempty" json:"chain,omitempty" doc:"FORWARD on a router between client and server (default), or INPUT on the client."`
	Port  int    `yaml:"port,omitempty" json:"port,omitempty" doc:"The service's TCP port: return traffic from it is dropped (required)."`
	From  string `yaml:"from,omitempty" json:"from,omitempty" doc:"Client host whose connections show the symptom, for the probe (default: the host for INPUT, else one beyond the router)."`
	To    string `yaml:"to,omitempty" json:"to,omitempty" doc:"Server address the probe connects to (default: the host that runs a service on the port)."`
}

// Check implements Params.
func (p *StatefulParams) Check() error {
	if err := scenarios.CheckOneOf("chain", &p.Chain, "FORWARD", true, "FORWARD", "INPUT"); err != nil {
		return err
	}
	if err := scenarios.CheckPort("port", &p.Port, 0); err != nil {
		return err
	}
	if _, err := scenarios.CheckIP("to", p.To, "10.0.1.10"); err != nil {
		return err
	}
	return nil
}

func (p *StatefulParams) rulespec() []string {
	return []string{"-p", "tcp", "--sport", strconv.Itoa(p.Port), "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "DROP"}
}

func applyStateful(ctx context.Context, e *Env, p *StatefulParams) error {
	return e.ruleBothFamilies(p.Chain, p.rulespec(), true, true)
}

func revertStateful(ctx context.Context, e *Env, p *StatefulParams) error {
	// Half-open connections left by the fault would keep answering SYNs
	// with their old SYN-ACK; nothing else to undo.
	return e.ruleBothFamilies(p.Chain, p.rulespec(), true, false)
}

func observeStateful(ctx context.Context, e *Env, p *StatefulParams) error {
	role := roleRouter
	if p.Chain == "INPUT" {
		role = roleClient
	}
	from, to, err := e.connectionEnds(role, p.Port, "", "", p.From, p.To)
	if err != nil {
		return err
	}
	return e.expectOutcome(ctx, from, "tcp", netip.AddrPortFrom(to, uint16(p.Port)), probe.ReachFiltered)
}

func clearedStateful(ctx context.Context, e *Env, p *StatefulParams) error {
	role := roleRouter
	if p.Chain == "INPUT" {
		role = roleClient
	}
	from, to, err := e.connectionEnds(role, p.Port, "", "", p.From, p.To)
	if err != nil {
		return err
	}
	what := "the answers to the connections that were failing"
	if err := e.judgeReturnTraffic(from, netip.AddrPortFrom(to, uint16(p.Port)), what); err != nil {
		return err
	}
	if to6, ok := e.addr6Of(to); ok && e.hasIPv6() {
		return e.judgeReturnTraffic(from, netip.AddrPortFrom(to6, uint16(p.Port)), what+" over IPv6")
	}
	return nil
}

// judgeReturnTraffic is judgeTraffic for the answers to a fresh
// connection: the rules that discard count only when the probe's own
// answer reached the fault's host. Answers to connections from before
// the fix (a server retransmits its SYN-ACKs for seconds) would
// otherwise keep the rule counting after the fault has stopped meeting
// new connections, as when the connection attempts are stopped on the
// way. When the fault's host has no record of the probe's connection,
// the rules are judged as they count.
func (e *Env) judgeReturnTraffic(from string, addr netip.AddrPort, what string) error {
	grown, src, err := e.rulesGrownByReach(from, "tcp", addr, statefulProbeTimeout)
	if err != nil {
		return err
	}
	if answered, known := e.connectionAnswered(src, addr); known && !answered {
		var rewrites []grownRule
		for _, g := range grown {
			if !g.discards() {
				rewrites = append(rewrites, g)
			}
		}
		grown = rewrites
	}
	return judgeRules(grown, what)
}

// connectionAnswered looks up a TCP connection from src to dst in the
// fault host's connection tracking: answered is true once an answer to
// it went through the host; known is false when the host has no record
// of it (or its table cannot be read).
func (e *Env) connectionAnswered(src, dst netip.AddrPort) (answered, known bool) {
	if !src.IsValid() {
		return false, false
	}
	ns, err := e.Netns(e.Host)
	if err != nil {
		return false, false
	}
	family := netlink.FAMILY_V4
	if dst.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	h, err := ns.NetlinkHandle(unix.NETLINK_NETFILTER)
	if err != nil {
		return false, false
	}
	defer h.Close()
	flows, err := h.ConntrackTableList(netlink.ConntrackTable, netlink.InetFamily(family))
	if err != nil {
		return false, false
	}
	for _, f := range flows {
		if f.Forward.Protocol != unix.IPPROTO_TCP || f.Forward.SrcPort != src.Port() || f.Forward.DstPort != dst.Port() ||
			!f.Forward.DstIP.Equal(net.IP(dst.Addr().AsSlice())) {
			continue
		}
		tcp, ok := f.ProtoInfo.(*netlink.ProtoInfoTCP)
		if !ok {
			return false, false
		}
		// SYN_SENT (1): the first SYN, and no answer to it.
		return tcp.State != 1, true
	}
	return false, false
}
