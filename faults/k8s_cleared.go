// How the Kubernetes faults are judged cleared, and how they find the kube-proxy service and its parameters.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// clearedVIP reaches the service's virtual IP from the node and wants
// the node to translate it (a DNAT rule's counter grows) and nothing to
// reject or drop it: reaching a pod's own address instead does not count.
func clearedVIP(ctx context.Context, e *Env, x *KubeServiceParams) error {
	s, err := kubeService(e, x, false)
	if err != nil {
		return err
	}
	if rs, err := kubeService(e, x, true); err == nil && len(rs.Endpoints) == 0 && len(s.Endpoints) > 0 {
		return fmt.Errorf("kube-proxy still knows no ready endpoint of service %s", x.Name)
	}
	vip, err := netip.ParseAddr(s.VIP)
	if err != nil {
		return err
	}
	proto := s.Proto
	if proto == "" {
		proto = "tcp"
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	grown, err := e.rulesMatching([]string{e.Host}, []string{"filter", "nat"}, vip.Is6(), func() error {
		_, err := probe.Reach(ns, netip.AddrPortFrom(vip, uint16(s.Port)), probe.ReachOptions{Proto: proto, Timeout: clearedProbeTimeout})
		return err
	})
	if err != nil {
		return err
	}
	for _, g := range grown {
		if g.discards() {
			return fmt.Errorf("connections to the virtual IP of service %s are still turned away", x.Name)
		}
	}
	// Only a DNAT to one of this service's own endpoints counts: other
	// traffic through the node (a DNS query to the kube-dns VIP while the
	// probe runs) grows other services' DNAT rules too.
	for _, g := range grown {
		if g.Table == "nat" && g.Target == "DNAT" && dnatsToOneOf(g.Spec, s.Endpoints) {
			return nil
		}
	}
	return fmt.Errorf("connections to the virtual IP of service %s still pass untranslated, so they reach no pod", x.Name)
}

func clearedPodRoute(ctx context.Context, e *Env, x *PodRouteParams) error {
	return e.scenarioRoutesBack(func(r scenarios.RouteSpec) bool { return r.Dst == x.prefix })
}

func clearedClusterDNS(ctx context.Context, e *Env, x *ClusterDNSParams) error {
	name, err := dnsService(e, x.Service)
	if err != nil {
		return err
	}
	zones, err := services.DNSZones(e.Scenario, e.Host, name)
	if err != nil {
		return err
	}
	if err := dnsStillFaulty(e, x.Service, x.faults(zones)); err != nil {
		return err
	}
	if len(zones) == 0 {
		return errors.New("the cluster DNS has no zone to ask for")
	}
	timeout := time.Second
	if x.Mode == services.DNSSlow {
		timeout = min(timeout, x.delay/2)
	}
	r, _, err := askServer(e, x.Service, "netdojo-probe."+dns.Fqdn(zones[0]), "A", timeout)
	if err != nil {
		return err
	}
	if r.TimedOut || (x.Mode == services.DNSSlow && r.Latency >= x.delay/2) {
		return errors.New("the cluster DNS, asked directly, still keeps its clients waiting")
	}
	return nil
}

func clearedBridgeNF(ctx context.Context, e *Env, _ *BridgeNFParams) error {
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	v, err := sysctl(ns, "net.bridge.bridge-nf-call-iptables")
	if err != nil {
		return err
	}
	if v != "1" {
		return errors.New("traffic bridged between pods still bypasses the node's iptables rules")
	}
	return nil
}

// dnatsToOneOf reports whether a DNAT rule, as iptables -S prints it,
// translates to one of the endpoints (IP:port).
func dnatsToOneOf(spec string, endpoints []string) bool {
	f := strings.Fields(spec)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "--to-destination" && slices.Contains(endpoints, f[i+1]) {
			return true
		}
	}
	return false
}

// kubeProxyService names the kube-proxy service on the env's host.
func kubeProxyService(e *Env, name string) (string, error) {
	return e.serviceOfKind("kube-proxy", name, "put the fault on the node")
}

// kubeService is the fault's service as kube-proxy runs it now (running),
// or as the scenario configures it.
func kubeService(e *Env, x *KubeServiceParams, running bool) (*services.KubeService, error) {
	proxy, err := kubeProxyService(e, x.Proxy)
	if err != nil {
		return nil, err
	}
	all, err := services.KubeServices(e.Lab, e.Scenario, e.Host, proxy, running)
	if err != nil {
		return nil, err
	}
	var names []string
	for i := range all {
		if all[i].Name == x.Name {
			return &all[i], nil
		}
		names = append(names, all[i].Name)
	}
	return nil, fmt.Errorf("kube-proxy has no service %q; it has: %s", x.Name, strings.Join(names, ", "))
}
