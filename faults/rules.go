// iptables rules in a host: adding and removing one, and which rules a probe's traffic makes grow.

package faults

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/coreos/go-iptables/iptables"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
)

// ruleSet appends a rule (once) or deletes every copy of it.
func (e *Env) ruleSet(host, table, chain string, rule []string, present bool) error {
	if host == "" {
		host = e.Host
	}
	return e.IPTables(host, iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
		if present {
			if err := ipt.AppendUnique(table, chain, rule...); err != nil {
				return fmt.Errorf("adding rule %q to %s/%s in host %q: %w", strings.Join(rule, " "), table, chain, host, err)
			}
			return nil
		}
		for {
			ok, err := ipt.Exists(table, chain, rule...)
			if err != nil {
				return fmt.Errorf("looking for rule %q in %s/%s in host %q: %w", strings.Join(rule, " "), table, chain, host, err)
			}
			if !ok {
				return nil
			}
			if err := ipt.Delete(table, chain, rule...); err != nil {
				return fmt.Errorf("deleting rule %q from %s/%s in host %q: %w", strings.Join(rule, " "), table, chain, host, err)
			}
		}
	})
}

// grownRule is a firewall rule whose packet counter grew while a probe
// ran.
type grownRule struct {
	Host, Table, Chain string
	probe.FirewallRule
}

// rulesMatching runs traffic and returns the rules of the given tables,
// on the given hosts, whose packet counters grew meanwhile: the rules
// that matched it. Counters, not rule texts: a rule that is still there
// but no longer matches (an ACCEPT before it) is not returned, and one
// that still matches under another spelling is.
func (e *Env) rulesMatching(hosts, tables []string, ipv6 bool, traffic func() error) ([]grownRule, error) {
	type key struct{ host, table, chain, spec string }
	before := map[key]uint64{}
	if err := e.eachRule(hosts, tables, ipv6, func(g grownRule) {
		before[key{g.Host, g.Table, g.Chain, g.Spec}] += g.Packets
	}); err != nil {
		return nil, err
	}
	if err := traffic(); err != nil {
		return nil, err
	}
	// A second read of the rules themselves, to report targets.
	var out []grownRule
	err := e.eachRule(hosts, tables, ipv6, func(g grownRule) {
		if g.Packets > before[key{g.Host, g.Table, g.Chain, g.Spec}] {
			out = append(out, g)
		}
	})
	return out, err
}

// eachRule calls fn with every rule of the given tables on the given
// hosts, with its counters.
func (e *Env) eachRule(hosts, tables []string, ipv6 bool, fn func(g grownRule)) error {
	for _, h := range hosts {
		ns, err := e.Netns(h)
		if err != nil {
			return err
		}
		for _, t := range tables {
			rep, err := probe.Firewall(ns, ipv6, t)
			if err != nil {
				return err
			}
			for _, c := range rep.Chains {
				for _, r := range c.Rules {
					fn(grownRule{Host: h, Table: t, Chain: c.Name, FirewallRule: r})
				}
			}
		}
	}
	return nil
}

// discards reports whether a grown rule throws the traffic away.
func (g grownRule) discards() bool {
	return g.Table == "filter" && (g.Target == "DROP" || g.Target == "REJECT")
}

// rewrites reports whether a grown rule sends the traffic elsewhere.
func (g grownRule) rewrites() bool {
	return g.Table == "nat" && (g.Target == "DNAT" || g.Target == "REDIRECT")
}

// judgeRules turns the rules that matched a probe of the traffic a fault
// targets into an observation: a rule that still discards it, or a
// rewrite that steers it around the firewall, keeps the fault there.
func judgeRules(grown []grownRule, what string) error {
	for _, g := range grown {
		if g.discards() {
			return fmt.Errorf("a firewall on the way still discards %s", what)
		}
	}
	for _, g := range grown {
		if g.rewrites() {
			return fmt.Errorf("%s is rewritten by a NAT rule on its way, so it never meets the firewall as it is; the firewall itself has not changed for it", what)
		}
	}
	return nil
}

// rulesGrownByPings pings the fault's target (to, or one chosen) from the
// env's host and returns the host's filter rules whose counters grew.
func (e *Env) rulesGrownByPings(to string, o probe.PingOptions) (*sandbox.Netns, netip.Addr, []grownRule, error) {
	dst, err := e.pingTarget(to)
	if err != nil {
		return nil, netip.Addr{}, nil, err
	}
	ns, err := e.Netns("")
	if err != nil {
		return nil, netip.Addr{}, nil, err
	}
	grown, err := e.rulesMatching([]string{e.Host}, []string{"filter"}, dst.Is6(), func() error {
		_, err := probe.Ping(ns, dst, o)
		return err
	})
	return ns, dst, grown, err
}
