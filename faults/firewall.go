// Firewall faults: firewall-drop and the REJECT kinds, and stateful-firewall-drops-return.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/coreos/go-iptables/iptables"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
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
	switch p.Proto {
	case "":
		p.Proto = "tcp"
	case "tcp":
	case "udp":
		if p.rejectWith == "tcp-reset" {
			return errors.New("proto: a tcp-reset answers TCP only; give tcp")
		}
	default:
		return fmt.Errorf("proto: %q is not tcp or udp", p.Proto)
	}
	if err := scenarios.CheckPort("port", &p.Port, 0); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"source", p.Source}, {"destination", p.Destination}} {
		if err := scenarios.CheckAddrOrCIDR(f.name, f.v); err != nil {
			return err
		}
	}
	if p.To != "" {
		if _, err := netip.ParseAddr(p.To); err != nil {
			return fmt.Errorf("to: %q is not an IP address", p.To)
		}
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
