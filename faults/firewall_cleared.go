// How a firewall fault is judged cleared: the traffic it stopped, the rules that still match it, and stateful return traffic.

package faults

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

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
	if p.To != "" {
		if _, err := netip.ParseAddr(p.To); err != nil {
			return fmt.Errorf("to: %q is not an IP address", p.To)
		}
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
