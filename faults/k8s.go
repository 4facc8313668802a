package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Kubernetes-style faults on one machine: a node host holds the pod
// bridge and runs the kube-proxy service; two nodes may be joined by a
// vxlan overlay with routes to each other's pod CIDR.

func k8sNoEndpointsKind() Kind {
	return kind(Spec[*KubeServiceParams]{
		Name:      "k8s-no-endpoints",
		Layer:     LayerK8s,
		NeedsHost: true,
		Summary:   "A service has no ready endpoints: kube-proxy on the node REJECTs its virtual IP.",
		Symptom: "`curl http://VIP:PORT/` prints \"Failed to connect to VIP port PORT after 0 ms: Couldn't connect to server\" at once " +
			"(ECONNREFUSED, from an ICMP port-unreachable that the node sends); `nc -vz VIP PORT` says \"Connection refused\". " +
			"`iptables -S KUBE-SERVICES` on the node shows `-m comment --comment \"default/NAME has no endpoints\" -j REJECT`, " +
			"and `iptables -t nat -S KUBE-SERVICES` has no rule for the VIP. The pods themselves answer on their own addresses.",
		Fix: "A REJECT \"has no endpoints\" means kube-proxy knows the service but no pod is ready behind it (`kubectl get endpoints NAME` is empty): " +
			"fix the pods (selector, labels, readiness probe, crash). In a lab, the endpoints come back when kube-proxy is started again with them.",
		Apply:   applyNoEndpoints,
		Revert:  revertNoEndpoints,
		Observe: observeNoEndpoints,
		Cleared: clearedVIP,
	})
}

func k8sMissingDNATKind() Kind {
	return kind(Spec[*KubeServiceParams]{
		Name:      "k8s-missing-dnat",
		Layer:     LayerK8s,
		NeedsHost: true,
		Summary:   "The nat rule that sends a service's virtual IP to its endpoints is gone from the node.",
		Symptom: "`curl --max-time 5 http://VIP:PORT/` prints \"Connection timed out after 5001 milliseconds\": with no DNAT the virtual IP " +
			"is routed like any other address, down the node's default route, where nobody has it. Pod addresses answer. " +
			"`iptables -t nat -S KUBE-SERVICES` has no `-d VIP/32 ... -j KUBE-SVC-...` line although the KUBE-SVC chain still exists; " +
			"`iptables -t nat -vnL KUBE-SVC-...` counters stop growing.",
		Fix: "Compare `iptables -t nat -S KUBE-SERVICES` with the services (`kubectl get svc`); restart kube-proxy so that it resyncs, " +
			"or put the rule back: `iptables -t nat -A KUBE-SERVICES -d VIP/32 -p tcp -m tcp --dport PORT -j KUBE-SVC-...`.",
		Apply:   applyMissingDNAT,
		Revert:  revertMissingDNAT,
		Observe: observeMissingDNAT,
		Cleared: clearedVIP,
	})
}

func k8sMissingPodRouteKind() Kind {
	return kind(Spec[*PodRouteParams]{
		Name:      "k8s-missing-pod-route",
		Layer:     LayerK8s,
		NeedsHost: true,
		Summary:   "A node lost its route to another node's pod CIDR through the overlay.",
		Symptom: "From a pod on this node, `ping POD-ON-OTHER-NODE` prints \"From NODE-BRIDGE-IP icmp_seq=1 Destination Net Unreachable\" " +
			"(or times out when the node has a default route elsewhere); pods on the same node and the other node's overlay address still answer. " +
			"On the node, `ip route get POD-ON-OTHER-NODE` says \"RTNETLINK answers: Network is unreachable\" or names the default route, not the overlay.",
		Fix: "Compare `ip route` on both nodes: each needs the other's pod CIDR via the other's overlay address. " +
			"Put it back: `ip route add 10.244.2.0/24 via 10.244.0.2` (the CNI's job on a real cluster: check its agent).",
		Apply:   applyMissingPodRoute,
		Revert:  revertMissingPodRoute,
		Observe: observeMissingPodRoute,
		Cleared: clearedPodRoute,
	})
}

func k8sClusterDNSTimeoutKind() Kind {
	return kind(Spec[*ClusterDNSParams]{
		Name:      "k8s-cluster-dns-timeout",
		Layer:     LayerK8s,
		NeedsHost: true,
		Summary:   "The cluster DNS server (behind the kube-dns VIP) stops answering, or answers slowly.",
		Symptom: "In a pod, `dig @10.96.0.10 NAME` prints \";; communications error to 10.96.0.10#53: timed out\" and \";; no servers could be reached\"; " +
			"`getent hosts web` and every name lookup hang for the resolv.conf timeout times the search list (ndots:5 tries each search domain first); " +
			"curl by service name prints \"Could not resolve host\", curl by VIP works. With mode slow, dig answers but \";; Query time:\" shows the delay. " +
			"The kube-dns VIP is DNATed fine (`iptables -t nat -vnL` counters grow): the server behind it is what is silent.",
		Fix: "Ask the DNS pod directly (`dig @POD-IP NAME`) to split the VIP from the server; when the pod is silent too, " +
			"restart the cluster DNS (CoreDNS) pod and look at its logs and its upstream; in a lab, restart the dns service.",
		Apply: func(ctx context.Context, e *Env, x *ClusterDNSParams) error {
			return applyDNSFaults(ctx, e, x.Service, x.faults)
		},
		Revert: func(ctx context.Context, e *Env, x *ClusterDNSParams) error {
			return revertDNSFaults(ctx, e, x.Service, x.faults)
		},
		Observe: observeClusterDNS,
		Cleared: clearedClusterDNS,
	})
}

func k8sBridgeNetfilterOffKind() Kind {
	return kind(Spec[*BridgeNFParams]{
		Name:      "k8s-bridge-netfilter-off",
		Layer:     LayerK8s,
		NeedsHost: true,
		Summary:   "net.bridge.bridge-nf-call-iptables=0 on the node: traffic bridged between pods skips iptables, so replies from a pod behind a service VIP are not un-NATed.",
		Symptom: "A pod's `curl --max-time 5 http://VIP/` prints \"Connection timed out after 5001 milliseconds\" when the endpoint it is " +
			"DNATed to sits on the same bridge: the SYN goes to the node and is DNATed, but the endpoint's SYN-ACK is bridged straight back " +
			"to the client pod with the pod's own address as source, which the client answers with a RST (`tcpdump -ni eth0` in the client " +
			"pod shows SYN to the VIP, SYN-ACK from the endpoint's address, RST). curl to the endpoint's own address works, and so does the VIP " +
			"from the node itself or from a pod on another node. `sysctl net.bridge.bridge-nf-call-iptables` on the node prints 0.",
		Fix: "Turn bridged traffic back through iptables on the node: `sysctl -w net.bridge.bridge-nf-call-iptables=1` " +
			"(Kubernetes requires it; persist it in /etc/sysctl.d and load br_netfilter where it is a module).",
		Apply: func(ctx context.Context, e *Env, p *BridgeNFParams) error {
			_, err := e.Run(ctx, "", "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0")
			return err
		},
		Revert: func(ctx context.Context, e *Env, p *BridgeNFParams) error {
			_, err := e.Run(ctx, "", "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
			return err
		},
		Observe: observeBridgeNF,
		Cleared: clearedBridgeNF,
	})
}

// BridgeNFParams are the parameters of k8s-bridge-netfilter-off: the pod
// and service the observation tries.
type BridgeNFParams struct {
	From string `yaml:"from,omitempty" json:"from,omitempty" doc:"A pod host on the node's bridge that connects to the service."`
	To   string `yaml:"to,omitempty" json:"to,omitempty" doc:"The service's VIP:port, whose endpoints are pods on the same bridge, such as \"10.96.0.20:80\"."`

	to netip.AddrPort
}

// Check implements Params.
func (p *BridgeNFParams) Check() error {
	if err := scenarios.CheckRequired("from", p.From, "give a pod host on the node's bridge, such as \"pod-a\""); err != nil {
		return err
	}
	if err := scenarios.CheckAddrPort("to", p.To); err != nil {
		return err
	}
	p.to = netip.MustParseAddrPort(p.To)
	return nil
}

func observeBridgeNF(ctx context.Context, e *Env, x *BridgeNFParams) error {
	ns, err := e.Netns(x.From)
	if err != nil {
		return err
	}
	r, err := probe.Reach(ns, x.to, probe.ReachOptions{Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	if r.Outcome == probe.ReachOpen {
		return fmt.Errorf("%s reaches %s", x.From, x.to)
	}
	return nil
}

// ClusterDNSParams are the parameters of k8s-cluster-dns-timeout.
type ClusterDNSParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"The dns service on the host that plays the cluster DNS (default the host's first dns service)."`
	Mode    string `yaml:"mode,omitempty" json:"mode,omitempty" doc:"What goes wrong: timeout (no answer at all, the default) or slow (every answer after delay)."`
	Delay   string `yaml:"delay,omitempty" json:"delay,omitempty" doc:"How long mode slow waits before answering (default 2s)."`

	delay time.Duration
}

// Check implements Params.
func (p *ClusterDNSParams) Check() error {
	if err := scenarios.CheckOneOf("mode", &p.Mode, services.DNSTimeout, false, services.DNSTimeout, services.DNSSlow); err != nil {
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

// faults break every name of every zone the server has: the apex and
// everything below it.
func (p *ClusterDNSParams) faults(zones []string) []services.DNSFault {
	var out []services.DNSFault
	for _, z := range zones {
		origin := dns.Fqdn(z)
		for _, name := range []string{origin, "*." + origin} {
			f := services.DNSFault{Name: name, Mode: p.Mode}
			if p.Mode == services.DNSSlow {
				f.Delay = p.Delay
			}
			out = append(out, f)
		}
	}
	return out
}

func observeClusterDNS(ctx context.Context, e *Env, x *ClusterDNSParams) error {
	timeout := time.Second
	if x.Mode == services.DNSSlow {
		timeout = x.delay + 2*time.Second
	}
	name, err := dnsService(e, x.Service)
	if err != nil {
		return err
	}
	zones, err := services.DNSZones(e.Scenario, e.Host, name)
	if err != nil {
		return err
	}
	if len(zones) == 0 {
		return fmt.Errorf("the dns service on host %q has no zone to ask for", e.Host)
	}
	r, server, err := askServer(e, x.Service, "netdojo-probe."+dns.Fqdn(zones[0]), "", timeout)
	if err != nil {
		return err
	}
	switch {
	case x.Mode == services.DNSTimeout && r.TimedOut:
		return nil
	case x.Mode == services.DNSSlow && !r.TimedOut && r.Latency >= x.delay/2:
		return nil
	case r.TimedOut:
		return fmt.Errorf("the cluster DNS at %s does not answer at all", server)
	}
	return fmt.Errorf("the cluster DNS at %s answers (%s) in %s", server, r.Rcode, r.Latency.Round(time.Millisecond))
}

// KubeServiceParams name one service of the node's kube-proxy.
type KubeServiceParams struct {
	Proxy string `yaml:"proxy,omitempty" json:"proxy,omitempty" doc:"The kube-proxy service on the node (default the node's first kube-proxy service)."`
	Name  string `yaml:"name,omitempty" json:"name,omitempty" doc:"The Kubernetes service that breaks, as kube-proxy's services list names it, such as \"web\"."`
}

// Check implements Params.
func (p *KubeServiceParams) Check() error {
	if err := scenarios.CheckRequired("name", p.Name, "give the service's name in kube-proxy's services, such as \"web\""); err != nil {
		return err
	}
	return nil
}

// PodRouteParams are the parameters of k8s-missing-pod-route.
type PodRouteParams struct {
	CIDR string `yaml:"cidr,omitempty" json:"cidr,omitempty" doc:"The other node's pod CIDR whose route is deleted, such as \"10.244.2.0/24\"; the scenario must give the node a route to it."`

	prefix netip.Prefix
}

// Check implements Params.
func (p *PodRouteParams) Check() error {
	if err := scenarios.CheckRequired("cidr", p.CIDR, "give the other node's pod CIDR, such as \"10.244.2.0/24\""); err != nil {
		return err
	}
	pf, err := scenarios.CheckPrefix("cidr", p.CIDR, "10.244.2.0/24")
	if err != nil {
		return err
	}
	p.prefix = pf
	return nil
}

func applyNoEndpoints(ctx context.Context, e *Env, x *KubeServiceParams) error {
	return setKubeEndpoints(ctx, e, x, func(*services.KubeService) []string { return nil })
}

func revertNoEndpoints(ctx context.Context, e *Env, x *KubeServiceParams) error {
	return setKubeEndpoints(ctx, e, x, func(orig *services.KubeService) []string { return orig.Endpoints })
}

// setKubeEndpoints restarts kube-proxy with the service's endpoints made
// from the scenario's service.
func setKubeEndpoints(ctx context.Context, e *Env, x *KubeServiceParams, endpoints func(orig *services.KubeService) []string) error {
	proxy, err := kubeProxyService(e, x.Proxy)
	if err != nil {
		return err
	}
	if _, err := kubeService(e, x, true); err != nil {
		return err
	}
	orig, err := kubeService(e, x, false)
	if err != nil {
		return err
	}
	return services.SetKubeEndpoints(ctx, e.Lab, e.Scenario, e.Host, proxy, x.Name, endpoints(orig))
}

// reachService tries the service's VIP:port from the node itself (its
// traffic crosses the nat and filter OUTPUT chains, as a pod's crosses
// PREROUTING and FORWARD).
func reachService(e *Env, s *services.KubeService, timeout time.Duration) (probe.ReachResult, error) {
	ns, err := e.Netns("")
	if err != nil {
		return probe.ReachResult{}, err
	}
	vip, err := netip.ParseAddr(s.VIP)
	if err != nil {
		return probe.ReachResult{}, err
	}
	opt := probe.ReachOptions{Proto: s.Proto, Timeout: timeout}
	if opt.Proto == "" {
		opt.Proto = "tcp"
	}
	return probe.Reach(ns, netip.AddrPortFrom(vip, uint16(s.Port)), opt)
}

func observeNoEndpoints(ctx context.Context, e *Env, x *KubeServiceParams) error {
	s, err := kubeService(e, x, false)
	if err != nil {
		return err
	}
	r, err := reachService(e, s, 2*time.Second)
	if err != nil {
		return err
	}
	if r.Outcome == probe.ReachRefusedICMP || r.Outcome == probe.ReachRefusedRST {
		return nil
	}
	return fmt.Errorf("service %s at %s:%d from host %q is %s, not refused", s.Name, s.VIP, s.Port, e.Host, r.Outcome)
}

func applyMissingDNAT(ctx context.Context, e *Env, x *KubeServiceParams) error {
	s, err := kubeService(e, x, true)
	if err != nil {
		return err
	}
	if len(s.Endpoints) == 0 {
		return fmt.Errorf("service %q has no endpoints, so no DNAT rule to delete", x.Name)
	}
	return e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
		if err := ipt.Delete("nat", "KUBE-SERVICES", services.KubeDNATRule(*s)...); err != nil {
			return fmt.Errorf("deleting the DNAT rule of service %q: %w", x.Name, err)
		}
		return nil
	})
}

func revertMissingDNAT(ctx context.Context, e *Env, x *KubeServiceParams) error {
	s, err := kubeService(e, x, true)
	if err != nil {
		return err
	}
	return e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
		return ipt.AppendUnique("nat", "KUBE-SERVICES", services.KubeDNATRule(*s)...)
	})
}

// observeMissingDNAT wants the VIP neither open nor refused: it left the
// node un-NATed (a timeout, or an unreachable from a router).
func observeMissingDNAT(ctx context.Context, e *Env, x *KubeServiceParams) error {
	s, err := kubeService(e, x, false)
	if err != nil {
		return err
	}
	r, err := reachService(e, s, 2*time.Second)
	if err != nil {
		return err
	}
	switch r.Outcome {
	case probe.ReachFiltered, probe.ReachOpenOrFiltered, probe.ReachHostUnreachable, probe.ReachNetUnreachable, probe.ReachNoRoute:
		return nil
	}
	return fmt.Errorf("service %s at %s:%d from host %q is %s, not lost", s.Name, s.VIP, s.Port, e.Host, r.Outcome)
}

// podRoute is the scenario's route of the env's host to the CIDR.
func podRoute(e *Env, pf netip.Prefix) (*netlink.Route, error) {
	for _, r := range e.ScenarioHost().Routes {
		if r.Dst != pf || r.Type != "unicast" {
			continue
		}
		nr := &netlink.Route{Dst: &net.IPNet{IP: pf.Addr().AsSlice(), Mask: net.CIDRMask(pf.Bits(), pf.Addr().BitLen())}, Priority: r.Metric}
		if r.Via.IsValid() {
			nr.Gw = r.Via.AsSlice()
		}
		if r.Dev != "" {
			h, err := e.handle()
			if err != nil {
				return nil, err
			}
			defer h.Close()
			l, err := h.LinkByName(r.Dev)
			if err != nil {
				return nil, fmt.Errorf("finding %s on host %q: %w", r.Dev, e.Host, err)
			}
			nr.LinkIndex = l.Attrs().Index
		}
		return nr, nil
	}
	return nil, fmt.Errorf("the scenario gives host %q no route to %s", e.Host, pf)
}

func applyMissingPodRoute(ctx context.Context, e *Env, x *PodRouteParams) error {
	r, err := podRoute(e, x.prefix)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.RouteDel(&netlink.Route{Dst: r.Dst}); err != nil {
		return fmt.Errorf("deleting the route to %s on host %q: %w", x.prefix, e.Host, err)
	}
	return nil
}

func revertMissingPodRoute(ctx context.Context, e *Env, x *PodRouteParams) error {
	r, err := podRoute(e, x.prefix)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.RouteReplace(r); err != nil {
		return fmt.Errorf("restoring the route to %s on host %q: %w", x.prefix, e.Host, err)
	}
	return nil
}

// observeMissingPodRoute asks the kernel where a packet to the first
// address of the CIDR goes: not through the scenario's route any more.
func observeMissingPodRoute(ctx context.Context, e *Env, x *PodRouteParams) error {
	want, err := podRoute(e, x.prefix)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	dst := x.prefix.Addr().Next()
	got, err := probe.RouteGet(ns, dst)
	if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
		return nil
	} else if err != nil {
		return err
	}
	if gw, ok := netip.AddrFromSlice(want.Gw); ok && got.Gateway != gw.Unmap() {
		return nil // another route took over (the default)
	}
	return fmt.Errorf("host %q still routes %s via %s dev %s", e.Host, dst, got.Gateway, got.Dev)
}
