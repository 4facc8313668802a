package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// Cleared judgements of the application and Kubernetes faults: the
// host's resolver files, the DNS server asked directly (not through a
// client that was pointed elsewhere), the backend process behind a proxy,
// a service's virtual IP translated again on the node.

// wantedResolvConf is the resolver file the host had before the fault
// (the fault's saved copy while it is there), else the scenario's.
func wantedResolvConf(e *Env) (scenarios.DNS, error) {
	saved := savedEtcPath(e, e.Host, "resolv.conf")
	if _, err := os.Stat(saved); err == nil {
		rc, err := probe.ReadResolvConf(saved)
		if err != nil {
			return scenarios.DNS{}, err
		}
		var d scenarios.DNS
		for _, ns := range rc.Nameservers {
			d.Nameservers = append(d.Nameservers, ns.Addr().String())
		}
		d.Search = rc.Search
		return d, nil
	}
	return e.ScenarioHost().DNS, nil
}

// clearedDeadServer wants the host's resolver to ask its network's
// nameserver first again: not another server that happens to answer,
// and no name pinned in the hosts file instead.
func clearedDeadServer(ctx context.Context, e *Env, _ *DeadServerParams) error {
	want, err := wantedResolvConf(e)
	if err != nil {
		return err
	}
	rc, err := readHostResolvConf(e)
	if err != nil {
		return err
	}
	if len(want.Nameservers) == 0 {
		return nil
	}
	if len(rc.Nameservers) == 0 || rc.Nameservers[0].Addr().String() != want.Nameservers[0] {
		return errors.New("the resolver still asks first a nameserver that is not its network's")
	}
	return nil
}

// clearedWrongSearch wants the host's search list to hold its network's
// domains again, and the short name to resolve through it (DNS, not the
// hosts file).
func clearedWrongSearch(ctx context.Context, e *Env, x *SearchParams) error {
	want, err := wantedResolvConf(e)
	if err != nil {
		return err
	}
	rc, err := readHostResolvConf(e)
	if err != nil {
		return err
	}
	for _, d := range want.Search {
		if !slices.Contains(rc.Search, strings.TrimSuffix(d, ".")) && !slices.Contains(rc.Search, dns.Fqdn(d)) {
			return errors.New("the resolver still completes short names with domains that are not its network's")
		}
	}
	if len(want.Search) > 0 {
		return nil
	}
	if observeWrongSearch(ctx, e, x) == nil {
		return fmt.Errorf("the short name %s still does not resolve through the search list", x.Name)
	}
	return nil
}

// dnsStillFaulty is nil when the dns service runs without the fault: its
// process is the lab's dns service (if it is known to hold a TCP port),
// and its running configuration no longer holds the fault.
func dnsStillFaulty(e *Env, service string, faults []services.DNSFault) error {
	name, err := dnsService(e, service)
	if err != nil {
		return err
	}
	if hs, err := e.service(name); err == nil {
		if err := e.serviceListens(name, hs.port, hs.listen); err != nil {
			return err
		}
	}
	if rp, err := services.RunningParams(e.Lab, e.Host, name, "dns"); err == nil {
		for _, f := range faults {
			if slices.ContainsFunc(rp.(*services.DNSParams).Faults, func(g services.DNSFault) bool { return reflect.DeepEqual(f, g) }) {
				return errors.New("a DNS server of the lab still runs with its broken answers")
			}
		}
	}
	return nil
}

// askServer queries the env's dns service directly, as `dig @SERVER`.
func askServer(e *Env, service, name, qtype string, timeout time.Duration) (probe.DNSResult, netip.AddrPort, error) {
	server, err := dnsServerAddr(e, service)
	if err != nil {
		return probe.DNSResult{}, server, err
	}
	ns, err := e.Netns("")
	if err != nil {
		return probe.DNSResult{}, server, err
	}
	r, err := probe.DNSQuery(ns, name, probe.DNSOptions{Server: server, Type: qtype, Timeout: timeout, Attempts: 1})
	return r, server, err
}

func clearedDNSMode(ctx context.Context, e *Env, p *DNSModeParams) error {
	if err := dnsStillFaulty(e, p.Service, []services.DNSFault{p.fault()}); err != nil {
		return err
	}
	name := probeName(p.Name)
	r, _, err := askServer(e, p.Service, name, queryType(p.Type), 2*time.Second)
	if err != nil {
		return err
	}
	if r.TimedOut {
		return fmt.Errorf("a DNS server of the lab, asked directly, does not answer %s at all", name)
	}
	switch p.mode {
	case services.DNSTruncated:
		if last := r.Attempts[len(r.Attempts)-1]; last.Proto == "tcp" {
			return fmt.Errorf("a DNS server of the lab, asked directly, still cannot answer %s over UDP", name)
		}
	case services.DNSNXDomain:
		if !strings.HasPrefix(dns.Fqdn(p.Name), "*.") && r.Rcode == "NXDOMAIN" {
			return fmt.Errorf("a DNS server of the lab, asked directly, still says %s does not exist", name)
		}
	default:
		want := map[string]string{services.DNSServfail: "SERVFAIL", services.DNSRefused: "REFUSED"}[p.mode]
		if r.Rcode == want {
			return fmt.Errorf("a DNS server of the lab, asked directly, still fails to answer %s", name)
		}
	}
	return nil
}

func clearedDNSSlow(ctx context.Context, e *Env, x *DNSSlowParams) error {
	if err := dnsStillFaulty(e, x.Service, []services.DNSFault{x.fault()}); err != nil {
		return err
	}
	name := probeName(x.Name)
	// Waiting half the delay is enough to tell: a healthy lab server
	// answers in a millisecond or two.
	r, _, err := askServer(e, x.Service, name, queryType(x.Type), x.delay/2)
	if err != nil {
		return err
	}
	if r.TimedOut || r.Latency >= x.delay/2 {
		return fmt.Errorf("a DNS server of the lab, asked directly, still takes its time over %s", name)
	}
	return nil
}

func clearedWrongRecord(ctx context.Context, e *Env, x *WrongRecordParams) error {
	if err := dnsStillFaulty(e, x.Service, []services.DNSFault{x.fault()}); err != nil {
		return err
	}
	r, _, err := askServer(e, x.Service, x.Name, x.qtype(), 2*time.Second)
	if err != nil {
		return err
	}
	if slices.Contains(r.Addrs(), x.addr) {
		return fmt.Errorf("a DNS server of the lab, asked directly, still answers %s with an address that is not its host's", x.Name)
	}
	return nil
}

func clearedStaleHosts(ctx context.Context, e *Env, x *StaleHostsParams) error {
	path, err := hostEtcFile(e, "", "hosts")
	if err != nil {
		return err
	}
	has, err := hostsFileHas(path, x.Name, x.addr)
	if err != nil {
		return err
	}
	if has {
		return fmt.Errorf("a hosts file still maps %s to an address it no longer has", x.Name)
	}
	return nil
}

// backendService resolves a proxy fault's backend service on the env's
// host.
func clearedBackendDown(ctx context.Context, e *Env, x *BackendParams) error {
	hs, err := e.service(x.Service)
	if err != nil {
		return err
	}
	return e.serviceListens(x.Service, hs.port, hs.listen)
}

// clearedBackendHung: in mode drop, the backend port's traffic from the
// proxy host meets no discarding rule (by the counters); in mode slow,
// the lab's backend process answers the proxy host at once.
func clearedBackendHung(ctx context.Context, e *Env, x *BackendHungParams) error {
	px, err := findProxy(e, x.Service)
	if err != nil {
		return err
	}
	backend := px.backend
	if backend.Addr().IsLoopback() && px.host != e.Host {
		return fmt.Errorf("the proxy on host %q forwards to its own loopback", px.host)
	}
	if x.Mode == HungDrop {
		return e.judgeTraffic(px.host, "tcp", backend, "the proxy's connections to its backend")
	}
	hs, err := e.service(x.Service)
	if err != nil {
		return err
	}
	if err := e.serviceListens(x.Service, hs.port, hs.listen); err != nil {
		return err
	}
	ns, err := e.Netns(px.host)
	if err != nil {
		return err
	}
	url := "http://" + net.JoinHostPort(backend.Addr().String(), strconv.Itoa(int(backend.Port()))) + "/"
	r, err := probe.HTTP(ns, url, probe.HTTPOptions{Method: http.MethodHead, Timeout: 2 * time.Second})
	if err != nil || r.Status == 0 {
		return errors.New("the backend still keeps the proxy waiting for an answer")
	}
	return nil
}

// ---- Kubernetes

// clearedVIP reaches the service's virtual IP from the node and wants
// the node to translate it (a DNAT rule's counter grows) and nothing to
// reject or drop it: reaching a pod's own address instead does not count.
func clearedVIP(ctx context.Context, e *Env, x *KubeServiceParams) error {
	s, err := kubeService(e, x, false)
	if err != nil {
		return err
	}
	if _, cur, _, err := kubeParams(e, x.Proxy); err == nil {
		if rs, err := findKubeService(cur, x.Name); err == nil && len(rs.Endpoints) == 0 && len(s.Endpoints) > 0 {
			return fmt.Errorf("kube-proxy still knows no ready endpoint of service %s", x.Name)
		}
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
	_, sp, err := services.ScenarioParams(e.Scenario, e.Host, name)
	if err != nil {
		return err
	}
	dp := sp.(*services.DNSParams)
	if err := dnsStillFaulty(e, x.Service, x.faults(dp)); err != nil {
		return err
	}
	if len(dp.Zones) == 0 {
		return errors.New("the cluster DNS has no zone to ask for")
	}
	timeout := time.Second
	if x.Mode == services.DNSSlow {
		timeout = min(timeout, x.delay/2)
	}
	r, _, err := askServer(e, x.Service, "netdojo-probe."+dns.Fqdn(dp.Zones[0].Origin), "A", timeout)
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
