// Forwarding faults on a router: forwarding-off and asymmetric-rp-filter, and the host sysctls they set.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

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
			return e.restoreSysctls("net.ipv4.ip_forward", "1", "net.ipv6.conf.all.forwarding", "0")
		},
		Observe: observeForwardingOff,
		Cleared: clearedForwarding,
	})
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

func clearedForwarding(ctx context.Context, e *Env, _ *FlowParams) error {
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	keys := []string{"net.ipv4.ip_forward"}
	for _, i := range e.ScenarioHost().Interfaces {
		if i.IPv4.IsValid() {
			keys = append(keys, "net.ipv4.conf."+i.Name+".forwarding")
		}
	}
	if e.scenarioSysctl("net.ipv6.conf.all.forwarding", "0") == "1" {
		keys = append(keys, "net.ipv6.conf.all.forwarding")
	}
	for _, k := range keys {
		v, err := sysctl(ns, k)
		if err != nil {
			return err
		}
		if v != "1" {
			fam := "IPv4"
			if strings.HasPrefix(k, "net.ipv6") {
				fam = "IPv6"
			}
			return fmt.Errorf("a router still does not pass %s packets from one of its networks to another", fam)
		}
	}
	return nil
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
			return e.restoreSysctls("net.ipv4.conf.all.rp_filter", "0")
		},
		Observe: observeRPFilter,
		Cleared: clearedRPFilter,
	})
}

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
		return scenarios.FieldErrorf("mode", "%d is not 1; loose mode (2) lets asymmetric traffic through", p.Mode)
	}
	if err := scenarios.CheckPort("port", &p.Port, 80); err != nil {
		return err
	}
	return (&flowParams{From: p.From, To: p.To}).check()
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

// clearedRPFilter wants the router to let the flow's answers in: its
// reverse path filter is not strict where they arrive, or they come back
// through it the way the requests left.
func clearedRPFilter(ctx context.Context, e *Env, rp *RPFilterParams) error {
	_, from, to, err := e.flow(flowParams{From: rp.From, To: rp.To})
	if err != nil {
		return err
	}
	// Symmetric again: the server sends its answers to this router.
	if fh := e.Scenario.Host(from); fh != nil {
		if server := e.hostWithAddr(to); server != "" {
			if sns, err := e.Netns(server); err == nil {
				if rl, err := probe.RouteGet(sns, fh.Addr4()); err == nil && rl.Gateway.IsValid() && e.hostWithAddr(rl.Gateway) == e.Host {
					return nil
				}
			}
		}
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	all, err := sysctl(ns, "net.ipv4.conf.all.rp_filter")
	if err != nil {
		return err
	}
	for _, i := range e.ScenarioHost().Interfaces {
		v, err := sysctl(ns, "net.ipv4.conf."+i.Name+".rp_filter")
		if err != nil {
			return err
		}
		a, _ := strconv.Atoi(all)
		b, _ := strconv.Atoi(v)
		if max(a, b) == 1 {
			return errors.New("a router's reverse path filter still discards the answers, since they arrive where it would not route them back")
		}
	}
	return nil
}

// ---- sysctls

// setHostSysctl sets a sysctl in a host of the lab (the env's when host
// is empty).
func (e *Env) setHostSysctl(host, key, value string) error {
	ns, err := e.Netns(host)
	if err != nil {
		return err
	}
	return setSysctl(ns, key, value)
}

// restoreSysctls sets keys of the env's host back to the scenario's
// values, or their defaults, given as pairs: key, default, key, default.
// It tries every key.
func (e *Env) restoreSysctls(keyDefaults ...string) error {
	var errs []error
	for i := 0; i+1 < len(keyDefaults); i += 2 {
		errs = append(errs, e.setHostSysctl("", keyDefaults[i], e.scenarioSysctl(keyDefaults[i], keyDefaults[i+1])))
	}
	return errors.Join(errs...)
}

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
