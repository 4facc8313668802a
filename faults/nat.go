// NAT and source-port faults on a router: missing-masquerade and port-range-exhaustion.

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
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

func missingMasqueradeKind() Kind {
	return kind(Spec[*MasqueradeParams]{
		Name:      "missing-masquerade",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "A NAT router no longer masquerades its private clients on its public interface.",
		Symptom: "From a private client, ping and TCP to public hosts time out (\"100% packet loss\", curl \"Connection timed out\"); " +
			"`tcpdump -ni DEV` on the router's public side shows the packets leaving with the private source address and no answer; " +
			"`iptables -t nat -L POSTROUTING -v` has no MASQUERADE rule.",
		Fix: "Put the rule back on the router: `iptables -t nat -A POSTROUTING -s PRIVATE-PREFIX -o DEV -j MASQUERADE`.",
		Apply: func(ctx context.Context, e *Env, p *MasqueradeParams) error {
			return e.ruleSet("", "nat", "POSTROUTING", p.rule(), false)
		},
		Revert: func(ctx context.Context, e *Env, p *MasqueradeParams) error {
			return e.ruleSet("", "nat", "POSTROUTING", p.rule(), true)
		},
		Observe: observeMissingMasquerade,
		Cleared: clearedMasquerade,
	})
}

// MasqueradeParams name the NAT rule a router loses.
type MasqueradeParams struct {
	Dev    string `yaml:"dev,omitempty" json:"dev,omitempty" doc:"The router's public interface, the rule's -o." required:"true"`
	Source string `yaml:"source,omitempty" json:"source,omitempty" doc:"The private clients' prefix, the rule's -s, such as 10.0.1.0/24." required:"true"`
	From   string `yaml:"from,omitempty" json:"from,omitempty" doc:"Private host whose traffic shows the symptom (default: found in the scenario)."`
	To     string `yaml:"to,omitempty" json:"to,omitempty" doc:"Public address it talks to (default: found in the scenario)."`
}

// Check implements Params.
func (p *MasqueradeParams) Check() error {
	if err := scenarios.CheckRequired("dev", p.Dev, "give the router's public interface, such as \"eth1\""); err != nil {
		return err
	}
	if err := scenarios.CheckIfName("dev", p.Dev); err != nil {
		return err
	}
	if pf, err := scenarios.CheckPrefix("source", p.Source, "10.0.1.0/24"); err != nil {
		return err
	} else if !pf.Addr().Is4() {
		return scenarios.FieldErrorf("source", "%q is not an IPv4 prefix; give one such as \"10.0.1.0/24\"", p.Source)
	}
	return (&flowParams{From: p.From, To: p.To}).check()
}

func (p *MasqueradeParams) rule() []string {
	return []string{"-s", p.Source, "-o", p.Dev, "-j", "MASQUERADE"}
}

// ---- missing-masquerade

func observeMissingMasquerade(ctx context.Context, e *Env, mp *MasqueradeParams) error {
	ns, from, to, err := e.flow(flowParams{From: mp.From, To: mp.To})
	if err != nil {
		return err
	}
	r, err := ping(ns, to, pingOpts{Timeout: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	if !r.Silent() {
		return fmt.Errorf("ping from %q to %s gave %s", from, to, r)
	}
	// The router still forwards: it is the address translation that is
	// missing, not the route.
	rns, err := e.Netns("")
	if err != nil {
		return err
	}
	if v, err := sysctl(rns, "net.ipv4.ip_forward"); err != nil || v != "1" {
		return fmt.Errorf("router %q does not forward (ip_forward %q, %v): not a NAT problem", e.Host, v, err)
	}
	return nil
}

// clearedMasquerade pings from the private host and wants a source NAT
// rule of the router to take the new flow (its counter grows), not a
// route back to the private network from the public side.
func clearedMasquerade(ctx context.Context, e *Env, mp *MasqueradeParams) error {
	ns, from, to, err := e.flow(flowParams{From: mp.From, To: mp.To})
	if err != nil {
		return err
	}
	var reply bool
	grown, err := e.rulesMatching([]string{e.Host}, []string{"nat"}, false, func() error {
		r, err := ping(ns, to, pingOpts{Timeout: 700 * time.Millisecond})
		reply = r.Reply
		return err
	})
	if err != nil {
		return err
	}
	for _, g := range grown {
		if g.Chain == "POSTROUTING" && (g.Target == "MASQUERADE" || g.Target == "SNAT") {
			if !reply {
				return fmt.Errorf("traffic from %q to %s is translated but gets no answer", from, to)
			}
			return nil
		}
	}
	return fmt.Errorf("traffic from %q still leaves for %s with its private source address", from, to)
}

func portRangeExhaustionKind() Kind {
	return kind(Spec[*PortRangeParams]{
		Name:      "port-range-exhaustion",
		Layer:     LayerNetwork,
		NeedsHost: true,
		Summary:   "The host's local port range is shrunk while it churns short connections, so TIME_WAIT holds every port.",
		Symptom: "New connections to the busy destination fail at once: nc prints \"connect to ADDR port PORT (tcp) failed: Cannot assign requested address\", " +
			"curl \"Couldn't connect to server\"; `ss -tan state time-wait | wc -l` is about the size of the range; " +
			"`sysctl net.ipv4.ip_local_port_range` shows a tiny range. Other destinations still work.",
		Fix: "Widen the range again: `sysctl -w net.ipv4.ip_local_port_range=\"32768 60999\"` (and make the client reuse connections).",
		Apply: func(ctx context.Context, e *Env, p *PortRangeParams) error {
			n := p.Ports
			return e.setHostSysctl("", "net.ipv4.ip_local_port_range", fmt.Sprintf("32768 %d", 32768+n-1))
		},
		Revert: func(ctx context.Context, e *Env, p *PortRangeParams) error {
			return e.restoreSysctls("net.ipv4.ip_local_port_range", "32768 60999")
		},
		Observe: observePortRange,
		Cleared: clearedPortRange,
	})
}

// PortRangeParams shrink the local port range.
type PortRangeParams struct {
	Ports int    `yaml:"ports,omitempty" json:"ports,omitempty" doc:"How many local ports are left, from 32768 up (default 100)."`
	To    string `yaml:"to,omitempty" json:"to,omitempty" doc:"IP:port the host keeps connecting to (default: the target of the host's churner service)."`
}

// Check implements Params.
func (p *PortRangeParams) Check() error {
	if err := scenarios.CheckRange("ports", &p.Ports, 100, 1, 28000); err != nil {
		return err
	}
	_, err := scenarios.CheckIPv4Port("to", p.To, "10.0.1.80:7")
	return err
}

// ---- port-range-exhaustion

func (e *Env) portRangeTarget(p *PortRangeParams) (netip.AddrPort, error) {
	if p.To != "" {
		return netip.MustParseAddrPort(p.To), nil
	}
	for _, s := range e.ScenarioHost().Services {
		if s.Kind != "churner" {
			continue
		}
		if v, err := services.Declared(e.Scenario.File, e.Host, s); err == nil {
			target, _ := v.ChurnerTarget()
			if ap, err := netip.ParseAddrPort(target); err == nil {
				return ap, nil
			}
		}
	}
	return netip.AddrPort{}, fmt.Errorf("to: host %q runs no churner; give the address and port it connects to", e.Host)
}

// observePortRange connects where the host churns until the kernel has no
// local port left for it.
func observePortRange(ctx context.Context, e *Env, p *PortRangeParams) error {
	target, err := e.portRangeTarget(p)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	return probe.PollFor(ctx, 50*time.Millisecond, 2*time.Second, func(context.Context) error {
		rr, err := reach(ns, target, 500*time.Millisecond)
		if err != nil {
			return err
		}
		if rr.Outcome == probe.ReachAddrUnavailable {
			return nil
		}
		return fmt.Errorf("connecting from %q to %s: %s, not \"Cannot assign requested address\"", e.Host, target, rr.Outcome)
	})
}

func clearedPortRange(ctx context.Context, e *Env, _ *PortRangeParams) error {
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	v, err := sysctl(ns, "net.ipv4.ip_local_port_range")
	if err != nil {
		return err
	}
	width := func(s string) int {
		f := strings.Fields(s)
		if len(f) != 2 {
			return 0
		}
		lo, _ := strconv.Atoi(f[0])
		hi, _ := strconv.Atoi(f[1])
		return hi - lo + 1
	}
	if width(v) < width(e.scenarioSysctl("net.ipv4.ip_local_port_range", "32768 60999")) {
		return errors.New("the local port range is still narrower than it was")
	}
	return nil
}
