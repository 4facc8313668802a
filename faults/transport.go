package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
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

func serviceNotRunningKind() Kind {
	return kind(Spec[*ServiceParams]{
		Name: "service-not-running", Layer: LayerTransport, NeedsHost: true,
		Summary: "A service of the host is stopped: nothing listens on its port.",
		Symptom: "Refused at once from everywhere, the host itself included: `nc -zv -w 2 HOST PORT` prints " +
			"\"nc: connect to HOST port PORT (tcp) failed: Connection refused\"; curl prints " +
			"\"curl: (7) Failed to connect to HOST port PORT after 0 ms: Couldn't connect to server\". " +
			"`ss -tlnp` on the host has no line for the port; ping answers.",
		Fix: "Start the service again (on a real host `systemctl start NAME`, then `systemctl status NAME` " +
			"and its log for why it stopped); `ss -tlnp 'sport = :PORT'` then shows it listening.",
		Apply: applyServiceStopped, Revert: restartService, Observe: observeServiceStopped, Cleared: clearedServiceListens[*ServiceParams],
	})
}

func serviceLocalhostOnlyKind() Kind {
	return kind(Spec[*ServiceParams]{
		Name: "service-localhost-only", Layer: LayerTransport, NeedsHost: true,
		Summary: "A service of the host listens on 127.0.0.1 only.",
		Symptom: "From other hosts, refused at once: `nc -zv -w 2 HOST PORT` prints \"nc: connect to HOST port PORT (tcp) " +
			"failed: Connection refused\"; on the host itself `nc -zv 127.0.0.1 PORT` succeeds. " +
			"`ss -tlnp` on the host shows the listener as 127.0.0.1:PORT instead of 0.0.0.0:PORT or *:PORT.",
		Fix: "Make the service listen on every address (0.0.0.0, or the host's own address): change its " +
			"bind/listen setting and restart it; `ss -tlnp` then shows 0.0.0.0:PORT or *:PORT.",
		Apply: applyLocalhostOnly, Revert: restartService, Observe: observeLocalhostOnly, Cleared: clearedServiceListens[*ServiceParams],
	})
}

func portConflictKind() Kind {
	return kind(Spec[*PortConflictParams]{
		Name: "port-conflict", Layer: LayerTransport, NeedsHost: true,
		Summary: "Another process holds the service's port, so the service failed to start (address already in use).",
		Symptom: "The port accepts connections (`nc -zv HOST PORT` succeeds) but nothing the service should say comes " +
			"back: curl prints \"curl: (52) Empty reply from server\" or \"curl: (56) Recv failure: Connection reset by peer\" " +
			"(the holder closes at once). The service's log says \"address already in " +
			"use\". `ss -tlnp 'sport = :PORT'` names the squatter: users:((\"NAME\",pid=PID,fd=N)).",
		Fix: "Find the holder with `ss -tlnp 'sport = :PORT'`, stop it (`kill PID`, or disable the unit that " +
			"starts it), then start the real service.",
		Apply: applyPortConflict, Revert: revertPortConflict, Observe: observePortConflict, Cleared: clearedServiceListens[*PortConflictParams],
	})
}

func closeWaitLeakKind() Kind {
	return kind(Spec[*CloseWaitParams]{
		Name: "close-wait-leak", Layer: LayerTransport, NeedsHost: true,
		Summary: "The service never closes connections its clients closed: CLOSE_WAIT sockets pile up.",
		Symptom: "`ss -tan state close-wait` on the host lists one socket per finished client connection, and " +
			"the list grows while clients keep coming (`ss -tanp` names the owning process); requests get " +
			"no answer and hang until the client's own timeout (`curl -m 2`: \"curl: (28) Operation timed out\"). " +
			"The clients' side shows FIN-WAIT-2 for a minute.",
		Fix: "Restart the service to free the sockets (`kill PID` of the owner from `ss -tanp state close-wait`, " +
			"then start it), and fix the code path that forgets close().",
		Apply: applyCloseWait, Revert: revertCloseWait, Observe: observeCloseWait, Cleared: clearedCloseWait,
	})
}

func timeWaitPileupKind() Kind {
	return kind(Spec[*TimeWaitParams]{
		Name: "time-wait-pileup", Layer: LayerTransport, NeedsHost: true,
		Summary: "A client makes many short connections to a service: TIME_WAIT piles up on the side that closes first. Nothing is broken.",
		Symptom: "`ss -tan state time-wait` on the closing side (the client by default) lists hundreds of sockets " +
			"to the service's port, each gone after 60 s; `ss -s` counts them as timewait. The service still " +
			"answers: `nc -zv -w 2 HOST PORT` succeeds. Only a narrow `ip_local_port_range` turns this into " +
			"\"Cannot assign requested address\".",
		Fix: "Nothing needs fixing: TIME_WAIT is how TCP protects a closed connection's late packets. Reuse " +
			"connections (HTTP keep-alive, pools) if the count matters. To clear them in a lab: " +
			"`ss -K state time-wait '( dport = :PORT or sport = :PORT )'`.",
		Apply: applyTimeWait, Revert: revertTimeWait, Observe: observeTimeWait, Cleared: clearedTimeWait,
	})
}

func synBacklogOverflowKind() Kind {
	return kind(Spec[*BacklogFaultParams]{
		Name: "syn-backlog-overflow", Layer: LayerTransport, NeedsHost: true,
		Summary: "The service's accept queue is full (a tiny backlog, a process that never accepts): new connections are dropped.",
		Symptom: "New connections time out: `nc -zv -w 2 HOST PORT` prints \"nc: connect to HOST port PORT (tcp) " +
			"timed out: Operation now in progress\". `ss -ltn 'sport = :PORT'` on the host shows the listener " +
			"with Recv-Q greater than Send-Q (the backlog), and `nstat -az TcpExtListenOverflows` grows.",
		Fix: "Restart the service so it accepts again (`kill PID` from `ss -tlnp`, then start it), raise its " +
			"listen backlog (and net.core.somaxconn), and find why it stopped calling accept().",
		Apply: applyBacklog, Revert: revertBacklog, Observe: observeBacklog, Cleared: clearedBacklog,
	})
}

func packetLossKind() Kind {
	return kind(Spec[*LossParams]{
		Name: "packet-loss", Layer: LayerTransport, NeedsHost: true,
		Summary: "The host drops a random share of packets (iptables statistic match, and ip6tables on a dual-stack host unless it names an address), as a bad link would.",
		Symptom: "`ping -c 20 ADDR` prints \"N packets transmitted, M received, X% packet loss\" with X around the " +
			"configured probability (twice it for a round trip when INPUT and OUTPUT both drop); TCP stays " +
			"correct but slow, and `ss -ti` shows retrans growing.",
		Fix: "Find the DROP rule with the statistic match (`iptables -L CHAIN -n -v` shows \"statistic mode random " +
			"probability P\") and delete it: `iptables -D CHAIN NUMBER`. On a real network, look for the bad link.",
		Apply: applyLoss, Revert: revertLoss, Observe: observeLoss, Cleared: clearedLoss,
	})
}

func latencyKind() Kind {
	return delayKind("latency", "Packets the host sends are held for a fixed delay (an NFQUEUE delayer; the kernel has no netem).",
		"`ping ADDR` RTTs rise by about the delay (rtt min/avg/max all shifted up); every TCP handshake "+
			"and request takes that much longer; nothing is lost.", "100ms", "")
}

func jitterKind() Kind {
	return delayKind("jitter", "Packets the host sends are held for a random delay around a mean (an NFQUEUE delayer), so delay varies and packets may reorder.",
		"`ping ADDR` RTTs spread: rtt min/avg/max/mdev shows max far above min and a large mdev; "+
			"tcpdump may show packets out of order.", "50ms", "40ms")
}

func bandwidthLimitKind() Kind {
	return kind(Spec[*BandwidthParams]{
		Name: "bandwidth-limit", Layer: LayerTransport, NeedsHost: true,
		Summary: "A token-bucket qdisc (tc tbf) on one of the host's interfaces caps the rate it sends at.",
		Symptom: "Small requests and ping are fine; a large transfer sent through the interface is slow: " +
			"`curl -o /dev/null -w '%{speed_download}\\n' URL` reports about the configured rate. " +
			"`tc -s qdisc show dev IF` shows the tbf with its rate and growing \"overlimits\".",
		Fix:   "Remove the shaper: `tc qdisc del dev IF root` (or raise its rate).",
		Apply: applyBandwidth, Revert: revertBandwidth, Observe: observeBandwidth, Cleared: clearedBandwidth,
	})
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
	if err := checkChain("chain", &p.Chain, "INPUT", "INPUT", "OUTPUT", "FORWARD"); err != nil {
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
	if err := checkPortParam("port", p.Port); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"source", p.Source}, {"destination", p.Destination}} {
		if err := checkAddrOrCIDR(f.name, f.v); err != nil {
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

func observeFirewall(ctx context.Context, e *Env, p *FirewallParams) error {
	role := roleServer
	switch p.Chain {
	case "OUTPUT":
		role = roleClient
	case "FORWARD":
		role = roleRouter
	}
	from, to, err := e.connectionEnds(role, p.Port, p.Source, p.Destination, p.From, p.To)
	if err != nil {
		return err
	}
	return e.expectOutcome(ctx, from, p.Proto, netip.AddrPortFrom(to, uint16(p.Port)), p.expectedOutcomes()...)
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
	if err := checkChain("chain", &p.Chain, "FORWARD", "FORWARD", "INPUT"); err != nil {
		return err
	}
	if err := checkPortParam("port", p.Port); err != nil {
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

// --- services: stopped, on localhost, squatted -----------------------------

// ServiceParams name one of the host's services.
type ServiceParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"Name of a TCP service of the host, as the scenario names it under services (required)."`
	From    string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host the probe connects from (default: a host that shares a network with this one)."`
}

// Check implements Params.
func (p *ServiceParams) Check() error {
	if p.Service == "" {
		return errors.New("service: required; give the name of one of the host's services, such as \"web\"")
	}
	return nil
}

// hostService is a scenario service resolved on its host.
type hostService struct {
	svc    scenarios.Service
	kind   *services.Kind
	params services.Params
	port   int
	listen string
}

// dial is where a client on the service's own host reaches it.
func (h *hostService) dial() netip.AddrPort {
	a, err := netip.ParseAddr(h.listen)
	if err != nil || a.IsUnspecified() {
		a = netip.MustParseAddr("127.0.0.1")
	}
	return netip.AddrPortFrom(a, uint16(h.port))
}

// service finds a TCP service of the env's host by name.
func (e *Env) service(name string) (*hostService, error) {
	h := e.ScenarioHost()
	if h == nil {
		return nil, fmt.Errorf("the scenario has no host %q", e.Host)
	}
	var names []string
	for _, svc := range h.Services {
		names = append(names, svc.Name)
		if svc.Name != name {
			continue
		}
		kind, p, err := services.Decode(e.Scenario.File, h.Name, svc)
		if err != nil {
			return nil, err
		}
		port, listen, proto := serviceEndpoint(p)
		if port == 0 || proto != "tcp" || svc.Kind == "udp-echo" {
			return nil, fmt.Errorf("service %q (%s) on host %q has no TCP port", name, svc.Kind, h.Name)
		}
		return &hostService{svc: svc, kind: kind, params: p, port: port, listen: listen}, nil
	}
	return nil, fmt.Errorf("host %q has no service %q; its services are: %s", h.Name, name, strings.Join(names, ", "))
}

// serviceEndpoint reads the Port, Listen and Protocol fields of a
// service's checked parameters.
func serviceEndpoint(p services.Params) (port int, listen, proto string) {
	v := reflect.ValueOf(p).Elem()
	proto = "tcp"
	if f := v.FieldByName("Port"); f.IsValid() && f.Kind() == reflect.Int {
		port = int(f.Int())
	}
	if f := v.FieldByName("Listen"); f.IsValid() && f.Kind() == reflect.String {
		listen = f.String()
	}
	if f := v.FieldByName("Protocol"); f.IsValid() && f.Kind() == reflect.String && f.String() != "" {
		proto = f.String()
	}
	return port, listen, proto
}

func applyServiceStopped(ctx context.Context, e *Env, p *ServiceParams) error {
	if _, err := e.service(p.Service); err != nil {
		return err
	}
	return e.stopProcess(p.Service)
}

// restartService stops whatever the fault left under the service's name
// and starts the service as the scenario defines it.
func restartService(ctx context.Context, e *Env, p *ServiceParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	return services.Start(ctx, e.Lab, e.Host, hs.svc)
}

// stopProcess ends the lab's process of that name on the env's host, if
// it is recorded.
func (e *Env) stopProcess(name string) error {
	for _, proc := range e.Lab.State.Processes {
		if proc.Host == e.Host && proc.Name == name {
			return e.Lab.StopProcess(e.Host, name)
		}
	}
	return nil
}

func observeServiceStopped(ctx context.Context, e *Env, p *ServiceParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	return e.expectOutcome(ctx, e.Host, "tcp", hs.dial(), probe.ReachRefusedRST)
}

func applyLocalhostOnly(ctx context.Context, e *Env, p *ServiceParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	f := reflect.ValueOf(hs.params).Elem().FieldByName("Listen")
	if !f.IsValid() || f.Kind() != reflect.String {
		return fmt.Errorf("service %q (%s) has no listen parameter", hs.svc.Name, hs.svc.Kind)
	}
	f.SetString("127.0.0.1")
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	_, err = services.Run(ctx, e.Lab, e.Host, p.Service, hs.kind, hs.params)
	return err
}

func observeLocalhostOnly(ctx context.Context, e *Env, p *ServiceParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	addr, err := e.hostAddr(e.Host)
	if err != nil {
		return err
	}
	if err := e.expectOutcome(ctx, from, "tcp", netip.AddrPortFrom(addr, uint16(hs.port)), probe.ReachRefusedRST); err != nil {
		return err
	}
	return e.expectOutcome(ctx, e.Host, "tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(hs.port)), probe.ReachOpen)
}

// PortConflictParams are the parameters of port-conflict.
type PortConflictParams struct {
	Service     string `yaml:"service,omitempty" json:"service,omitempty" doc:"Name of the TCP service of the host whose port is taken (required)."`
	ProcessName string `yaml:"process_name,omitempty" json:"process_name,omitempty" doc:"Name the squatting process shows in ss -tlnp and ps, at most 15 characters (default python3, a forgotten 'python3 -m http.server')."`
}

func (p *ServiceParams) service() string { return p.Service }

func (p *PortConflictParams) service() string { return p.Service }

// Check implements Params.
func (p *PortConflictParams) Check() error {
	if p.Service == "" {
		return errors.New("service: required; give the name of one of the host's services, such as \"web\"")
	}
	if p.ProcessName == "" {
		p.ProcessName = "python3"
	}
	if len(p.ProcessName) > 15 || strings.ContainsAny(p.ProcessName, " \t/") {
		return fmt.Errorf("process_name: %q must be at most 15 characters, without spaces or slashes", p.ProcessName)
	}
	return nil
}

// squatterName is the lab's record of the squatting process.
func squatterName(service string) string { return service + "-squatter" }

func applyPortConflict(ctx context.Context, e *Env, p *PortConflictParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	sk, _ := services.Lookup("squatter")
	sq := &services.SquatterParams{Listen: hs.listen, Port: hs.port, Protocol: "tcp", Name: p.ProcessName}
	if err := sq.Check(); err != nil {
		return err
	}
	if _, err := services.Run(ctx, e.Lab, e.Host, squatterName(p.Service), sk, sq); err != nil {
		return err
	}
	// The real service starts after it and fails: address already in use.
	proc, err := services.Launch(e.Lab, e.Host, p.Service, hs.svc.Kind, hs.params)
	if err != nil {
		return err
	}
	return pollUntil(ctx, 10*time.Second, func() error {
		if proc.Alive() {
			return fmt.Errorf("service %q still runs beside the squatter", p.Service)
		}
		return nil
	})
}

func revertPortConflict(ctx context.Context, e *Env, p *PortConflictParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := errors.Join(e.stopProcess(squatterName(p.Service)), e.stopProcess(p.Service)); err != nil {
		return err
	}
	return services.Start(ctx, e.Lab, e.Host, hs.svc)
}

func observePortConflict(ctx context.Context, e *Env, p *PortConflictParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	socks, err := e.tcpSockets(e.Host)
	if err != nil {
		return err
	}
	var owners []string
	for _, s := range socks {
		if s.State != unix.BPF_TCP_LISTEN || int(s.ID.SourcePort) != hs.port {
			continue
		}
		comm := socketOwner(s.INode)
		if comm == p.ProcessName {
			return nil
		}
		owners = append(owners, comm)
	}
	if len(owners) == 0 {
		return fmt.Errorf("nothing listens on port %d of host %q", hs.port, e.Host)
	}
	return fmt.Errorf("port %d of host %q is held by %s, not %s", hs.port, e.Host, strings.Join(owners, ", "), p.ProcessName)
}

// socketOwner is the command name of the process that holds a socket
// inode, found as ss -p does: through the socket:[INODE] links in
// /proc/PID/fd.
func socketOwner(inode uint32) string {
	want := fmt.Sprintf("socket:[%d]", inode)
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range pids {
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && link == want {
				comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
				return strings.TrimSpace(string(comm))
			}
		}
	}
	return "an unknown process"
}

// --- socket states: CLOSE_WAIT, TIME_WAIT, a full accept queue --------------

// CloseWaitParams are the parameters of close-wait-leak.
type CloseWaitParams struct {
	Service     string `yaml:"service,omitempty" json:"service,omitempty" doc:"Name of the TCP service of the host that starts leaking (required)."`
	Connections int    `yaml:"connections,omitempty" json:"connections,omitempty" doc:"Client connections made and closed at once (default 10); a churner then adds one about every 5 s."`
	From        string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host the clients run on (default: a host that shares a network with this one)."`
}

// Check implements Params.
func (p *CloseWaitParams) Check() error {
	if p.Service == "" {
		return errors.New("service: required; give the name of one of the host's services, such as \"web\"")
	}
	if p.Connections == 0 {
		p.Connections = 10
	}
	if p.Connections < 1 || p.Connections > 1000 {
		return fmt.Errorf("connections: %d is out of range; give 1 to 1000", p.Connections)
	}
	return nil
}

func churnerName(service string) string { return service + "-client" }

func applyCloseWait(ctx context.Context, e *Env, p *CloseWaitParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	target, err := e.serviceAddrFrom(hs)
	if err != nil {
		return err
	}
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	lk, _ := services.Lookup("close-wait-leaker")
	lp := lk.NewParams()
	reflect.ValueOf(lp).Elem().FieldByName("Listen").SetString(hs.listen)
	reflect.ValueOf(lp).Elem().FieldByName("Port").SetInt(int64(hs.port))
	if err := lp.Check(); err != nil {
		return err
	}
	if _, err := services.Run(ctx, e.Lab, e.Host, p.Service, lk, lp); err != nil {
		return err
	}
	// The first clients at once, so the symptom is there when Apply returns.
	for i := 0; i < p.Connections; i++ {
		if err := e.connectAndClose(from, target); err != nil {
			return err
		}
	}
	if err := pollUntil(ctx, 5*time.Second, func() error {
		n, err := e.countSockets(e.Host, unix.BPF_TCP_CLOSE_WAIT, hs.port, 0)
		if err == nil && n < p.Connections {
			err = fmt.Errorf("%d of %d sockets in CLOSE_WAIT", n, p.Connections)
		}
		return err
	}); err != nil {
		return err
	}
	ck, _ := services.Lookup("churner")
	cp := &services.ChurnerParams{Target: target.String(), Count: -1, Rate: 1}
	if err := cp.Check(); err != nil {
		return err
	}
	_, err = services.Run(ctx, e.Lab, from, churnerName(p.Service), ck, cp)
	return err
}

func revertCloseWait(ctx context.Context, e *Env, p *CloseWaitParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	fe := *e
	fe.Host = from
	if err := errors.Join(fe.stopProcess(churnerName(p.Service)), e.stopProcess(p.Service)); err != nil {
		return err
	}
	return services.Start(ctx, e.Lab, e.Host, hs.svc)
}

func observeCloseWait(ctx context.Context, e *Env, p *CloseWaitParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	n, err := e.countSockets(e.Host, unix.BPF_TCP_CLOSE_WAIT, hs.port, 0)
	if err != nil {
		return err
	}
	if want := (p.Connections + 1) / 2; n < want {
		return fmt.Errorf("host %q has %d sockets in CLOSE_WAIT on port %d; a leak shows at least %d", e.Host, n, hs.port, want)
	}
	return nil
}

// TimeWaitParams are the parameters of time-wait-pileup.
type TimeWaitParams struct {
	Service     string  `yaml:"service,omitempty" json:"service,omitempty" doc:"Name of the TCP service of the host that the client connects to (required)."`
	Connections int     `yaml:"connections,omitempty" json:"connections,omitempty" doc:"How many short connections the client makes (default 200)."`
	Rate        float64 `yaml:"rate,omitempty" json:"rate,omitempty" doc:"Connections per second (default 500)."`
	Closer      string  `yaml:"closer,omitempty" json:"closer,omitempty" doc:"Which side closes first and so holds TIME_WAIT: client (default) or server (an HTTP/1.0 request to an http service, which closes after answering)."`
	From        string  `yaml:"from,omitempty" json:"from,omitempty" doc:"Host the client runs on (default: a host that shares a network with this one)."`
}

// Check implements Params.
func (p *TimeWaitParams) Check() error {
	if p.Service == "" {
		return errors.New("service: required; give the name of one of the host's services, such as \"web\"")
	}
	if p.Connections == 0 {
		p.Connections = 200
	}
	if p.Connections < 1 || p.Connections > 20000 {
		return fmt.Errorf("connections: %d is out of range; give 1 to 20000", p.Connections)
	}
	if p.Rate == 0 {
		p.Rate = 500
	}
	if p.Rate < 0 || p.Rate > 10000 {
		return fmt.Errorf("rate: %g is out of range; give more than 0 and at most 10000", p.Rate)
	}
	switch p.Closer {
	case "":
		p.Closer = "client"
	case "client", "server":
	default:
		return fmt.Errorf("closer: %q is not client or server", p.Closer)
	}
	return nil
}

// closingSide is the host that holds TIME_WAIT, and the local and remote
// ports its sockets carry.
func (p *TimeWaitParams) closingSide(e *Env, from string, port int) (host string, sport, dport int) {
	if p.Closer == "server" {
		return e.Host, port, 0
	}
	return from, 0, port
}

func applyTimeWait(ctx context.Context, e *Env, p *TimeWaitParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	target, err := e.serviceAddrFrom(hs)
	if err != nil {
		return err
	}
	cp := &services.ChurnerParams{Target: target.String(), Count: p.Connections, Rate: p.Rate, Closer: p.Closer}
	if p.Closer == "server" {
		if hs.svc.Kind != "http" {
			return fmt.Errorf("closer: server needs an http service, which closes after an HTTP/1.0 answer; %q is %s", hs.svc.Name, hs.svc.Kind)
		}
		cp.Payload = "GET / HTTP/1.0\r\n\r\n"
	}
	if err := cp.Check(); err != nil {
		return err
	}
	ck, _ := services.Lookup("churner")
	if _, err := services.Run(ctx, e.Lab, from, churnerName(p.Service), ck, cp); err != nil {
		return err
	}
	host, sport, dport := p.closingSide(e, from, hs.port)
	want := p.Connections * 9 / 10
	timeout := time.Duration(float64(p.Connections)/p.Rate*float64(time.Second)) + 10*time.Second
	return pollUntil(ctx, timeout, func() error {
		n, err := e.countSockets(host, unix.BPF_TCP_TIME_WAIT, sport, dport)
		if err == nil && n < want {
			err = fmt.Errorf("%d of %d sockets in TIME_WAIT on host %q", n, want, host)
		}
		return err
	})
}

func revertTimeWait(ctx context.Context, e *Env, p *TimeWaitParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	fe := *e
	fe.Host = from
	errs := []error{fe.stopProcess(churnerName(p.Service))}
	host, _, _ := p.closingSide(e, from, hs.port)
	filter := fmt.Sprintf("( dport = :%d or sport = :%d )", hs.port, hs.port)
	_, err = e.Run(ctx, host, "ss", "-K", "-tan", "state", "time-wait", filter)
	return errors.Join(append(errs, err)...)
}

func observeTimeWait(ctx context.Context, e *Env, p *TimeWaitParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	host, sport, dport := p.closingSide(e, from, hs.port)
	n, err := e.countSockets(host, unix.BPF_TCP_TIME_WAIT, sport, dport)
	if err != nil {
		return err
	}
	if want := p.Connections / 2; n < want {
		return fmt.Errorf("host %q has %d sockets in TIME_WAIT for port %d; the pile-up shows at least %d", host, n, hs.port, want)
	}
	// Nothing is broken: the service still answers.
	target, err := e.serviceAddrFrom(hs)
	if err != nil {
		return err
	}
	return e.expectOutcome(ctx, from, "tcp", target, probe.ReachOpen)
}

// BacklogFaultParams are the parameters of syn-backlog-overflow.
type BacklogFaultParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"Name of the TCP service of the host that stops accepting (required)."`
	Backlog int    `yaml:"backlog,omitempty" json:"backlog,omitempty" doc:"Its listen() backlog (default 1); backlog+1 connections fill the queue."`
	From    string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host the probe connects from (default: a host that shares a network with this one)."`
}

// Check implements Params.
func (p *BacklogFaultParams) Check() error {
	if p.Service == "" {
		return errors.New("service: required; give the name of one of the host's services, such as \"web\"")
	}
	if p.Backlog == 0 {
		p.Backlog = 1
	}
	if p.Backlog < 1 || p.Backlog > 64 {
		return fmt.Errorf("backlog: %d is out of range; give 1 to 64", p.Backlog)
	}
	return nil
}

func applyBacklog(ctx context.Context, e *Env, p *BacklogFaultParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	bk, _ := services.Lookup("backlog")
	listen := hs.listen
	if listen == "::" {
		listen = ""
	}
	bp := &services.BacklogParams{Listen: listen, Port: hs.port, Backlog: p.Backlog}
	if err := bp.Check(); err != nil {
		return err
	}
	if _, err := services.Run(ctx, e.Lab, e.Host, p.Service, bk, bp); err != nil {
		return err
	}
	// Fill the accept queue from the host itself. The queued connections
	// stay queued after the clients reset them, until the process accepts.
	for i := 0; i <= p.Backlog; i++ {
		if err := e.connectAndReset(e.Host, hs.dial()); err != nil {
			return err
		}
	}
	return pollUntil(ctx, 5*time.Second, func() error { return e.acceptQueueFull(hs.port) })
}

func revertBacklog(ctx context.Context, e *Env, p *BacklogFaultParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	return services.Start(ctx, e.Lab, e.Host, hs.svc)
}

func observeBacklog(ctx context.Context, e *Env, p *BacklogFaultParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := e.acceptQueueFull(hs.port); err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	target, err := e.serviceAddrFrom(hs)
	if err != nil {
		return err
	}
	return e.expectOutcome(ctx, from, "tcp", target, probe.ReachFiltered)
}

// acceptQueueFull is nil when the listener on port has more connections
// waiting (Recv-Q) than its backlog (Send-Q), as ss -ltn shows them.
func (e *Env) acceptQueueFull(port int) error {
	socks, err := e.tcpSockets(e.Host)
	if err != nil {
		return err
	}
	for _, s := range socks {
		if s.State == unix.BPF_TCP_LISTEN && int(s.ID.SourcePort) == port {
			if s.RQueue > s.WQueue {
				return nil
			}
			return fmt.Errorf("the listener on port %d of host %q has Recv-Q %d, Send-Q %d: its accept queue is not full", port, e.Host, s.RQueue, s.WQueue)
		}
	}
	return fmt.Errorf("nothing listens on port %d of host %q", port, e.Host)
}

// --- loss, delay, rate -----------------------------------------------------

// LossParams are the parameters of packet-loss.
type LossParams struct {
	Chain       string  `yaml:"chain,omitempty" json:"chain,omitempty" doc:"INPUT (packets the host receives, default), OUTPUT (packets it sends) or FORWARD (packets it routes)."`
	Probability float64 `yaml:"probability,omitempty" json:"probability,omitempty" doc:"Share of matching packets dropped, above 0 and below 1 (default 0.3)."`
	Source      string  `yaml:"source,omitempty" json:"source,omitempty" doc:"Drop only packets from this address or CIDR."`
	Destination string  `yaml:"destination,omitempty" json:"destination,omitempty" doc:"Drop only packets to this address or CIDR."`
	To          string  `yaml:"to,omitempty" json:"to,omitempty" doc:"Address the probe pings from the host (default: a host that shares a network with it)."`
}

// Check implements Params.
func (p *LossParams) Check() error {
	if err := checkChain("chain", &p.Chain, "INPUT", "INPUT", "OUTPUT", "FORWARD"); err != nil {
		return err
	}
	if p.Probability == 0 {
		p.Probability = 0.3
	}
	if p.Probability <= 0 || p.Probability >= 1 {
		return fmt.Errorf("probability: %g is out of range; give more than 0 and less than 1, such as 0.3", p.Probability)
	}
	for _, f := range []struct{ name, v string }{{"source", p.Source}, {"destination", p.Destination}} {
		if err := checkAddrOrCIDR(f.name, f.v); err != nil {
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

func (p *LossParams) rulespec() []string {
	var spec []string
	if p.Source != "" {
		spec = append(spec, "-s", p.Source)
	}
	if p.Destination != "" {
		spec = append(spec, "-d", p.Destination)
	}
	return append(spec, "-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(p.Probability, 'f', -1, 64), "-j", "DROP")
}

func applyLoss(ctx context.Context, e *Env, p *LossParams) error {
	return e.ruleBothFamilies(p.Chain, p.rulespec(), p.Source == "" && p.Destination == "", true)
}

func revertLoss(ctx context.Context, e *Env, p *LossParams) error {
	return e.ruleBothFamilies(p.Chain, p.rulespec(), p.Source == "" && p.Destination == "", false)
}

// lossProbes is how many echo requests the loss probe sends: with a 0.3
// drop probability, all 40 come back with a chance of 0.7^40, about 6e-7.
const lossProbes = 40

func observeLoss(ctx context.Context, e *Env, p *LossParams) error {
	to, err := e.pingTarget(p.To)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	res, err := probe.Ping(ns, to, probe.PingOptions{Count: lossProbes, Interval: 5 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		return err
	}
	if res.Received == res.Sent {
		return fmt.Errorf("all %d pings from host %q to %s came back", res.Sent, e.Host, to)
	}
	return nil
}

// DelayParams are the parameters of latency and jitter.
type DelayParams struct {
	Delay       string `yaml:"delay,omitempty" json:"delay,omitempty" doc:"How long each packet is held, such as \"100ms\"."`
	Jitter      string `yaml:"jitter,omitempty" json:"jitter,omitempty" doc:"Random variation, up to this much either way, around the delay, such as \"20ms\"."`
	Destination string `yaml:"destination,omitempty" json:"destination,omitempty" doc:"Delay only packets to this address or CIDR (default: every packet the host sends)."`
	Queue       int    `yaml:"queue,omitempty" json:"queue,omitempty" doc:"NFQUEUE number used in the host (default 7 for latency, 8 for jitter); change it only to stack two delays on one host."`
	To          string `yaml:"to,omitempty" json:"to,omitempty" doc:"Address the probe pings from the host (default: a host that shares a network with it)."`

	defDelay, defJitter string
	defQueue            int
	delay, jitter       time.Duration
}

// Check implements Params.
func (p *DelayParams) Check() error {
	var err error
	if p.Delay == "" {
		p.Delay = p.defDelay
	}
	if p.delay, err = checkDurationParam("delay", p.Delay); err != nil {
		return err
	}
	if p.Jitter == "" {
		p.Jitter = p.defJitter
	}
	if p.Jitter != "" {
		if p.jitter, err = checkDurationParam("jitter", p.Jitter); err != nil {
			return err
		}
	}
	if p.jitter > p.delay {
		return fmt.Errorf("jitter: %s is more than the delay %s; a packet cannot leave before it was sent", p.Jitter, p.Delay)
	}
	if p.delay == 0 || p.delay > 10*time.Second {
		return fmt.Errorf("delay: %q is out of range; give more than 0 and at most 10s, such as \"100ms\"", p.Delay)
	}
	if err := checkAddrOrCIDR("destination", p.Destination); err != nil {
		return err
	}
	if p.Queue == 0 {
		p.Queue = p.defQueue
	}
	if p.Queue < 1 || p.Queue > 65535 {
		return fmt.Errorf("queue: %d is out of range; give 1 to 65535", p.Queue)
	}
	if p.To != "" {
		if _, err := netip.ParseAddr(p.To); err != nil {
			return fmt.Errorf("to: %q is not an IP address", p.To)
		}
	}
	return nil
}

func (p *DelayParams) rulespec() []string {
	var spec []string
	if p.Destination != "" {
		spec = append(spec, "-d", p.Destination)
	}
	return append(spec, "-j", "NFQUEUE", "--queue-num", strconv.Itoa(p.Queue), "--queue-bypass")
}

func (p *DelayParams) processName() string { return fmt.Sprintf("delayer-q%d", p.Queue) }

func delayKind(name, summary, symptom, delay, jitter string) Kind {
	queue := 7
	if jitter != "" {
		queue = 8
	}
	return kind(Spec[*DelayParams]{
		Name: name, Layer: LayerTransport, NeedsHost: true,
		Summary: summary,
		Symptom: symptom + " `iptables -L OUTPUT -n -v` shows an NFQUEUE rule (\"NFQUEUE num N bypass\") and " +
			"`ss -p` or `ps` the nfqd process that serves it.",
		Fix: "Delete the NFQUEUE rule (`iptables -D OUTPUT NUMBER`) and stop the process that holds the packets; " +
			"on a real network, find the slow or congested hop with `mtr` or `traceroute`.",
		New: func() *DelayParams {
			return &DelayParams{defDelay: delay, defJitter: jitter, defQueue: queue}
		},
		Apply: applyDelay, Revert: revertDelay, Cleared: clearedDelay,
		Observe: func(ctx context.Context, e *Env, p *DelayParams) error {
			return observeDelay(ctx, e, p, jitter != "")
		},
	})
}

func applyDelay(ctx context.Context, e *Env, p *DelayParams) error {
	dk, _ := services.Lookup("delayer")
	dp := &services.DelayerParams{Queue: p.Queue, Delay: p.Delay, Jitter: p.Jitter}
	if err := dp.Check(); err != nil {
		return err
	}
	if _, err := services.Run(ctx, e.Lab, e.Host, p.processName(), dk, dp); err != nil {
		return err
	}
	return e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
		return ipt.InsertUnique("filter", "OUTPUT", 1, p.rulespec()...)
	})
}

func revertDelay(ctx context.Context, e *Env, p *DelayParams) error {
	err := e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
		return ipt.DeleteIfExists("filter", "OUTPUT", p.rulespec()...)
	})
	return errors.Join(err, e.stopProcess(p.processName()))
}

// delayProbes is how many echo requests the delay probe sends. With a
// jitter of J, 20 uniform delays spread over less than J with a chance of
// about 20 * 2^-19, 4e-5.
const delayProbes = 20

func observeDelay(ctx context.Context, e *Env, p *DelayParams, jitter bool) error {
	to, err := e.pingTarget(p.To)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	res, err := probe.Ping(ns, to, probe.PingOptions{Count: delayProbes, Interval: 5 * time.Millisecond, Timeout: p.delay + p.jitter + time.Second})
	if err != nil {
		return err
	}
	if res.Received < delayProbes/2 {
		return fmt.Errorf("only %d of %d pings from host %q to %s came back", res.Received, res.Sent, e.Host, to)
	}
	lo, hi := res.MinRTT, res.MaxRTT
	if jitter {
		if hi-lo < p.jitter {
			return fmt.Errorf("ping RTTs from host %q to %s spread over %s (min %s, max %s); jitter of %s spreads them wider", e.Host, to, hi-lo, lo, hi, p.Jitter)
		}
		return nil
	}
	if lo < p.delay*7/10 {
		return fmt.Errorf("the shortest ping RTT from host %q to %s is %s; a delay of %s makes it at least %s", e.Host, to, lo, p.Delay, p.delay*7/10)
	}
	return nil
}

// BandwidthParams are the parameters of bandwidth-limit.
type BandwidthParams struct {
	Interface string `yaml:"interface,omitempty" json:"interface,omitempty" doc:"Interface whose outgoing traffic is shaped (default the host's first)."`
	Rate      string `yaml:"rate,omitempty" json:"rate,omitempty" doc:"Rate in tc's units, such as \"1mbit\" or \"500kbit\" (default 1mbit)."`
	Burst     string `yaml:"burst,omitempty" json:"burst,omitempty" doc:"Bucket size in tc's units (default 32kbit)."`
	Latency   string `yaml:"latency,omitempty" json:"latency,omitempty" doc:"Longest a packet may wait in the bucket before it is dropped (default 400ms)."`
}

// Check implements Params.
func (p *BandwidthParams) Check() error {
	if p.Rate == "" {
		p.Rate = "1mbit"
	}
	if p.Burst == "" {
		p.Burst = "32kbit"
	}
	if p.Latency == "" {
		p.Latency = "400ms"
	}
	if _, err := parseRate(p.Rate); err != nil {
		return fmt.Errorf("rate: %w", err)
	}
	if _, err := parseRate(p.Burst); err != nil {
		return fmt.Errorf("burst: %w", err)
	}
	if _, err := checkDurationParam("latency", p.Latency); err != nil {
		return err
	}
	return nil
}

// parseRate reads a tc rate ("1mbit", "500kbit", "10mbps") in bits per second.
func parseRate(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bit", 1}, {"bps", 8}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(strings.ToLower(s), u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v <= 0 {
				break
			}
			return uint64(v * u.mult), nil
		}
	}
	return 0, fmt.Errorf("%q is not a rate; write it as tc does, such as \"1mbit\" or \"500kbit\"", s)
}

func (e *Env) shapedInterface(p *BandwidthParams) (string, error) {
	if p.Interface != "" {
		return p.Interface, nil
	}
	h := e.ScenarioHost()
	if h == nil || len(h.Interfaces) == 0 {
		return "", fmt.Errorf("host %q has no interface to shape", e.Host)
	}
	return h.Interfaces[0].Name, nil
}

func applyBandwidth(ctx context.Context, e *Env, p *BandwidthParams) error {
	dev, err := e.shapedInterface(p)
	if err != nil {
		return err
	}
	_, err = e.Run(ctx, "", "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", p.Rate, "burst", p.Burst, "latency", p.Latency)
	return err
}

func revertBandwidth(ctx context.Context, e *Env, p *BandwidthParams) error {
	dev, err := e.shapedInterface(p)
	if err != nil {
		return err
	}
	if err := observeBandwidth(ctx, e, p); err != nil {
		return nil // no shaper left to remove
	}
	_, err = e.Run(ctx, "", "tc", "qdisc", "del", "dev", dev, "root")
	return err
}

// observeBandwidth finds the token bucket at the root of the interface,
// through a netlink handle in the host, with a rate at most the one asked.
func observeBandwidth(ctx context.Context, e *Env, p *BandwidthParams) error {
	dev, err := e.shapedInterface(p)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("interface %q of host %q: %w", dev, e.Host, err)
	}
	qdiscs, err := h.QdiscList(link)
	if err != nil {
		return fmt.Errorf("listing qdiscs of %q on host %q: %w", dev, e.Host, err)
	}
	want, _ := parseRate(p.Rate)
	for _, q := range qdiscs {
		tbf, ok := q.(*netlink.Tbf)
		if !ok || q.Attrs().Parent != netlink.HANDLE_ROOT {
			continue
		}
		if got := tbf.Rate * 8; got <= want*101/100 {
			return nil
		}
		return fmt.Errorf("the tbf on %q of host %q shapes to %d bit/s, above %s", dev, e.Host, tbf.Rate*8, p.Rate)
	}
	return fmt.Errorf("interface %q of host %q has no token bucket shaper at its root", dev, e.Host)
}

// --- shared helpers --------------------------------------------------------

// checkChain validates an iptables chain name against the allowed ones.
func checkChain(field string, chain *string, def string, allowed ...string) error {
	if *chain == "" {
		*chain = def
	}
	*chain = strings.ToUpper(*chain)
	if !slices.Contains(allowed, *chain) {
		return fmt.Errorf("%s: %q is not one of %s", field, *chain, strings.Join(allowed, ", "))
	}
	return nil
}

func checkPortParam(field string, port int) error {
	if port == 0 {
		return fmt.Errorf("%s: required; give the port, such as 80", field)
	}
	if port < 1 || port > 65535 {
		return fmt.Errorf("%s: %d is not a port; give 1-65535", field, port)
	}
	return nil
}

func checkAddrOrCIDR(field, v string) error {
	if v == "" {
		return nil
	}
	if _, err := netip.ParseAddr(v); err == nil {
		return nil
	}
	if _, err := netip.ParsePrefix(v); err == nil {
		return nil
	}
	return fmt.Errorf("%s: %q is not an IP address or CIDR such as \"10.0.1.0/24\"", field, v)
}

func checkDurationParam(field, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration; write it like \"100ms\" or \"2s\"", field, s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s: %q is negative", field, s)
	}
	return d, nil
}

// pollUntil calls try every 20 ms until it returns nil or the timeout
// passes; then it returns try's last error.
func pollUntil(ctx context.Context, timeout time.Duration, try func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := try()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Roles a fault's host plays in the connection a probe makes.
const (
	roleServer = "server" // the host receives the connection
	roleClient = "client" // the host makes it
	roleRouter = "router" // the connection crosses the host
)

// connectionEnds picks the client host and the server address of the
// connection that shows a fault on the env's host: the ones given, else
// chosen from the topology.
func (e *Env) connectionEnds(role string, port int, source, destination, from, to string) (string, netip.Addr, error) {
	var toAddr netip.Addr
	server := ""
	switch {
	case to != "":
		toAddr = netip.MustParseAddr(to)
		server = e.hostWithAddr(toAddr)
	case singleAddr(destination).IsValid():
		toAddr = singleAddr(destination)
		server = e.hostWithAddr(toAddr)
	case role == roleServer:
		a, err := e.hostAddr(e.Host)
		if err != nil {
			return "", toAddr, err
		}
		toAddr, server = a, e.Host
	default:
		server = e.hostWithService(port, e.Host)
		if server == "" {
			return "", toAddr, fmt.Errorf("no other host runs a service on port %d; give the probe's address with to", port)
		}
		a, err := e.hostAddr(server)
		if err != nil {
			return "", toAddr, err
		}
		toAddr = a
	}
	if from != "" {
		return from, toAddr, nil
	}
	if role == roleClient {
		return e.Host, toAddr, nil
	}
	if a := singleAddr(source); a.IsValid() {
		if h := e.hostWithAddr(a); h != "" {
			return h, toAddr, nil
		}
	}
	if role == roleServer {
		h, err := e.otherHost("")
		return h, toAddr, err
	}
	// Through a router: a client on none of the server's networks.
	var fallback string
	for _, h := range e.Scenario.Hosts {
		if h.Name == e.Host || h.Name == server {
			continue
		}
		if fallback == "" {
			fallback = h.Name
		}
		if server == "" || !e.shareNetwork(h.Name, server) {
			return h.Name, toAddr, nil
		}
	}
	if fallback == "" {
		return "", toAddr, errors.New("the lab has no client host for the probe; give one with from")
	}
	return fallback, toAddr, nil
}

// singleAddr is the address of "10.0.0.1" or "10.0.0.1/32", else invalid.
func singleAddr(v string) netip.Addr {
	if a, err := netip.ParseAddr(v); err == nil {
		return a
	}
	if p, err := netip.ParsePrefix(v); err == nil && p.IsSingleIP() {
		return p.Addr()
	}
	return netip.Addr{}
}

// hostAddr is a host's first IPv4 address.
func (e *Env) hostAddr(host string) (netip.Addr, error) {
	h := e.Scenario.Host(host)
	if h == nil {
		return netip.Addr{}, fmt.Errorf("the scenario has no host %q", host)
	}
	if a := h.Addr4(); a.IsValid() {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("host %q has no IPv4 address", host)
}

func (e *Env) hostWithAddr(a netip.Addr) string {
	for _, h := range e.Scenario.Hosts {
		for _, i := range h.Interfaces {
			if i.IPv4.IsValid() && i.IPv4.Addr() == a || i.IPv6.IsValid() && i.IPv6.Addr() == a {
				return h.Name
			}
		}
	}
	return ""
}

// hostWithService is the first host other than skip with a TCP service
// on port.
func (e *Env) hostWithService(port int, skip string) string {
	for _, h := range e.Scenario.Hosts {
		if h.Name == skip {
			continue
		}
		for _, svc := range h.Services {
			if _, p, err := services.Decode(e.Scenario.File, h.Name, svc); err == nil {
				if sp, _, proto := serviceEndpoint(p); sp == port && proto == "tcp" {
					return h.Name
				}
			}
		}
	}
	return ""
}

func (e *Env) shareNetwork(a, b string) bool {
	ha, hb := e.Scenario.Host(a), e.Scenario.Host(b)
	if ha == nil || hb == nil {
		return false
	}
	for _, i := range ha.Interfaces {
		if hb.IfaceOn(i.Network) != nil {
			return true
		}
	}
	return false
}

// otherHost is the given host, or the first host that shares a network
// with the env's host, or any other host.
func (e *Env) otherHost(given string) (string, error) {
	if given != "" {
		if e.Scenario.Host(given) == nil {
			return "", fmt.Errorf("from: the scenario has no host %q", given)
		}
		return given, nil
	}
	fallback := ""
	for _, h := range e.Scenario.Hosts {
		if h.Name == e.Host {
			continue
		}
		if e.shareNetwork(h.Name, e.Host) {
			return h.Name, nil
		}
		if fallback == "" {
			fallback = h.Name
		}
	}
	if fallback == "" {
		return "", fmt.Errorf("the lab has no host besides %q to connect from", e.Host)
	}
	return fallback, nil
}

// serviceAddrFrom is where clients on other hosts reach a service of the
// env's host: its listen address, or the host's first IPv4 address.
func (e *Env) serviceAddrFrom(hs *hostService) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(hs.listen); err == nil && !a.IsUnspecified() && !a.IsLoopback() {
		return netip.AddrPortFrom(a, uint16(hs.port)), nil
	}
	a, err := e.hostAddr(e.Host)
	return netip.AddrPortFrom(a, uint16(hs.port)), err
}

// pingTarget is the given address, or the first address of a neighbour.
func (e *Env) pingTarget(to string) (netip.Addr, error) {
	if to != "" {
		return netip.ParseAddr(to)
	}
	other, err := e.otherHost("")
	if err != nil {
		return netip.Addr{}, err
	}
	h, o := e.Scenario.Host(e.Host), e.Scenario.Host(other)
	for _, i := range h.Interfaces {
		if oi := o.IfaceOn(i.Network); oi != nil && oi.IPv4.IsValid() {
			return oi.IPv4.Addr(), nil
		}
	}
	return e.hostAddr(other)
}

// reachTimeout bounds a probe connection: long enough for a LAN
// handshake, short enough that a dropped SYN is reported in good time.
const reachTimeout = 1500 * time.Millisecond

// expectOutcome is nil when a connection from the host, classified by
// the probe engine, ends in one of the outcomes wanted.
func (e *Env) expectOutcome(ctx context.Context, from, proto string, addr netip.AddrPort, want ...probe.ReachOutcome) error {
	ns, err := e.Netns(from)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res, err := probe.Reach(ns, addr, probe.ReachOptions{Proto: proto, Timeout: reachTimeout})
	if err != nil {
		return err
	}
	if slices.Contains(want, res.Outcome) {
		return nil
	}
	return fmt.Errorf("%s from host %q to %s: %s (%s), not %s", proto, from, addr, res.Outcome, res.Meaning, want[0])
}

// connectAndClose opens a TCP connection from a host and closes it
// gracefully (a FIN).
func (e *Env) connectAndClose(from string, addr netip.AddrPort) error {
	return e.connectThen(from, addr, false)
}

// connectAndReset opens a TCP connection from a host and resets it.
func (e *Env) connectAndReset(from string, addr netip.AddrPort) error {
	return e.connectThen(from, addr, true)
}

func (e *Env) connectThen(from string, addr netip.AddrPort, reset bool) error {
	ns, err := e.Netns(from)
	if err != nil {
		return err
	}
	var c net.Conn
	if err := ns.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr.String(), 2*time.Second)
		return err
	}); err != nil {
		return fmt.Errorf("connecting from host %q to %s: %w", from, addr, err)
	}
	if reset {
		c.(*net.TCPConn).SetLinger(0)
	}
	return c.Close()
}

// tcpSockets lists a host's TCP sockets, IPv4 and IPv6, through sock_diag.
func (e *Env) tcpSockets(host string) ([]*netlink.Socket, error) {
	ns, err := e.Netns(host)
	if err != nil {
		return nil, err
	}
	h, err := ns.NetlinkHandle(unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var all []*netlink.Socket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := h.SocketDiagTCP(fam)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("reading the sockets of host %q: %w", host, err)
		}
		all = append(all, socks...)
	}
	return all, nil
}

// countSockets counts a host's TCP sockets in a state, with the local
// port sport and the remote port dport (0 for any).
func (e *Env) countSockets(host string, state uint8, sport, dport int) (int, error) {
	socks, err := e.tcpSockets(host)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range socks {
		if s.State == state && (sport == 0 || int(s.ID.SourcePort) == sport) && (dport == 0 || int(s.ID.DestinationPort) == dport) {
			n++
		}
	}
	return n, nil
}
