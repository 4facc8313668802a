// Package faults is the fault catalogue: each fault breaks a running lab
// the way real networks break, with typed parameters checked with the
// scenario, a revert, the symptom a learner sees, a probe that observes
// that symptom, the layer it lives in and the fix.
//
// Faults only ever act inside a lab's namespaces, through the sandbox (a
// namespace-bound netlink handle, or a command run inside a host). They
// never touch the machine's own network.
//
// Layout: one file per concept (links, mtu, addresses, neighbours, routes,
// route types, forwarding, icmp, nat, firewall, listeners, sockets,
// impairments, dns, resolver files, proxies, k8s, custom), each holding
// its kinds' table entries (a Spec made into a Kind by kind, the one
// place Params meets a kind's own type), their functions and their
// Cleared judgements; a *_cleared.go file beside a concept takes the
// judgements when the concept needs two files. Catalog lists the kinds in
// the catalogue's order. Faults act on a lab's services only through
// services/control.go, never through a service's parameter type.
package faults

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"

	"github.com/coreos/go-iptables/iptables"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// Layers, bottom up.
const (
	LayerLink      = "link"      // L1/L2: interfaces, MTU, neighbours, bridges
	LayerNetwork   = "network"   // L3: addresses, routes, forwarding, ICMP
	LayerTransport = "transport" // L4: firewalls, sockets, listeners
	LayerApp       = "application"
	LayerK8s       = "kubernetes"
)

// Kind is one entry of the fault table.
type Kind struct {
	Name    string // such as "no-default-route"
	Layer   string
	Summary string // one line
	// Symptom is what a learner sees, as the tools print it.
	Symptom string
	// Fix is the documented fix, in words and commands.
	Fix string
	// Example is a scenario snippet (YAML) shown in the reference, if any.
	Example string
	// NeedsHost is true when the fault applies to one host (Fault.Host).
	NeedsHost bool
	NewParams func() Params
	Apply     func(ctx context.Context, e *Env, p Params) error
	Revert    func(ctx context.Context, e *Env, p Params) error
	// Observe returns nil when the symptom is there, measured with the
	// probe engine or the lab's real tools; an error says what was seen.
	Observe func(ctx context.Context, e *Env, p Params) error
	// Cleared returns nil when the fault's root cause is gone where the
	// fault is (the route is back on that host, the dropping rule no longer
	// matches in that chain, the hop sends "fragmentation needed" again),
	// however the lab behaves end to end. An error is an observation of what
	// is still wrong there, in words that never state the fix nor name the
	// host, interface, chain, process or value where the fault is (see
	// cleared.go). A kind without one is judged by its symptom: cleared when
	// Observe no longer sees it.
	Cleared func(ctx context.Context, e *Env, p Params) error
}

// Spec is a kind written with its own parameter type P: the table entry
// of one kind, beside its functions. kind turns it into a Kind.
type Spec[P Params] struct {
	Name, Layer, Summary, Symptom, Fix, Example string
	NeedsHost                                   bool
	// New makes the parameters before decoding (unexported defaults);
	// nil means a zero P.
	New                             func() P
	Apply, Revert, Observe, Cleared func(ctx context.Context, e *Env, p P) error
}

// kind makes a table entry from a Spec. The one type assertion from
// Params to the kind's own type is here.
func kind[T any, P interface {
	*T
	Params
}](s Spec[P]) Kind {
	newP := s.New
	if newP == nil {
		newP = func() P { return P(new(T)) }
	}
	typed := func(f func(context.Context, *Env, P) error) func(context.Context, *Env, Params) error {
		if f == nil {
			return nil
		}
		return func(ctx context.Context, e *Env, p Params) error { return f(ctx, e, p.(P)) }
	}
	return Kind{
		Name: s.Name, Layer: s.Layer, Summary: s.Summary, Symptom: s.Symptom, Fix: s.Fix, Example: s.Example,
		NeedsHost: s.NeedsHost,
		NewParams: func() Params { return newP() },
		Apply:     typed(s.Apply), Revert: typed(s.Revert), Observe: typed(s.Observe), Cleared: typed(s.Cleared),
	}
}

// Params are a kind's typed parameters. Check validates them and fills
// defaults; its errors start with the parameter's YAML name.
type Params interface {
	Check() error
}

// Env is what a fault acts on: a running lab, its scenario and the host
// the fault is applied to.
type Env struct {
	Lab      *sandbox.Lab
	Scenario *scenarios.Scenario
	Host     string
}

// Catalog is the one explicit table of faults, by layer. Each kind's
// entry (a Spec) is beside its functions, in the file of its concept.
func Catalog() []Kind {
	return []Kind{
		// Link layer.
		interfaceDownKind(), mtuMismatchKind(), wrongNetmaskKind(), duplicateIPKind(),
		brokenNeighbourKind(), bridgePortDownKind(),
		// Network layer.
		noDefaultRouteKind(), deadGatewayKind(), missingRouteKind(), forwardingOffKind(),
		blackholeRouteKind(), unreachableRouteKind(), prohibitRouteKind(), asymmetricRPFilterKind(),
		pmtuBlackholeKind(), silentHopKind(), icmpRateLimitKind(), missingMasqueradeKind(),
		portRangeExhaustionKind(),
		// Transport layer.
		firewallDropKind(), firewallRejectTCPResetKind(), firewallRejectPortUnreachableKind(),
		firewallRejectHostProhibitedKind(), firewallRejectAdminProhibitedKind(),
		firewallRejectNetUnreachableKind(), statefulFirewallDropsReturnKind(),
		serviceNotRunningKind(), serviceLocalhostOnlyKind(), portConflictKind(), closeWaitLeakKind(),
		timeWaitPileupKind(), synBacklogOverflowKind(),
		packetLossKind(), latencyKind(), jitterKind(), bandwidthLimitKind(),
		// Application layer.
		resolverDeadServerKind(), dnsServfailKind(), dnsNXDomainKind(), dnsSlowKind(), dnsRefusedKind(),
		dnsTruncatedKind(), wrongSearchDomainKind(), wrongRecordKind(), staleHostsEntryKind(),
		proxyBackendDownKind(), proxyBackendHungKind(),
		// Kubernetes.
		k8sNoEndpointsKind(), k8sMissingDNATKind(), k8sMissingPodRouteKind(), k8sClusterDNSTimeoutKind(),
		k8sBridgeNetfilterOffKind(),
		// Custom.
		customKind(),
	}
}

// Lookup finds a kind by name.
func Lookup(name string) (*Kind, bool) {
	for _, k := range Catalog() {
		if k.Name == name {
			return &k, true
		}
	}
	return nil, false
}

// Names lists the kinds, sorted.
func Names() []string {
	var names []string
	for _, k := range Catalog() {
		names = append(names, k.Name)
	}
	sort.Strings(names)
	return names
}

// Registry adapts the table to the scenario loader.
type Registry struct{}

// Params implements scenarios.Registry.
func (Registry) Params(kind string) (any, bool) {
	k, ok := Lookup(kind)
	if !ok {
		return nil, false
	}
	return k.NewParams(), true
}

// Kinds implements scenarios.Registry.
func (Registry) Kinds() []string { return Names() }

// Run runs a command inside the env's host (or another host of the lab)
// and returns its combined output; a failure carries the output.
func (e *Env) Run(ctx context.Context, host string, argv ...string) (string, error) {
	if host == "" {
		host = e.Host
	}
	c, err := e.Lab.Command(host, argv...)
	if err != nil {
		return "", err
	}
	out, err := c.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), fmt.Errorf("%s in host %q: %w: %s", strings.Join(argv, " "), host, err, strings.TrimSpace(string(out)))
		}
		return string(out), fmt.Errorf("%s in host %q: %w", strings.Join(argv, " "), host, err)
	}
	return string(out), nil
}

// IPTables runs fn with an iptables handle whose commands run inside the
// host's namespace (go-iptables executes iptables from a thread that has
// entered it). The nf_tables backend is in use on this kernel.
func (e *Env) IPTables(host string, proto iptables.Protocol, fn func(ipt *iptables.IPTables) error) error {
	if host == "" {
		host = e.Host
	}
	ns, err := e.Lab.Host(host)
	if err != nil {
		return err
	}
	return ns.Do(func() error {
		ipt, err := iptables.New(iptables.IPFamily(proto), iptables.Timeout(5))
		if err != nil {
			return fmt.Errorf("iptables in host %q: %w", host, err)
		}
		return fn(ipt)
	})
}

// Netns is the host's namespace (a probe.Target).
func (e *Env) Netns(host string) (*sandbox.Netns, error) {
	if host == "" {
		host = e.Host
	}
	return e.Lab.Host(host)
}

// ScenarioHost is the scenario's model of the env's host.
func (e *Env) ScenarioHost() *scenarios.Host {
	return e.Scenario.Host(e.Host)
}
