package faults

import (
	"errors"
	"net/netip"

	"github.com/coreos/go-iptables/iptables"
)

// The IPv6 side of the firewall faults: on a host with IPv6, a rule that
// names no IPv4 address is mirrored in ip6tables, or dual-stack clients
// would reach the service over IPv6 as if nothing were wrong.

// reject6 is ip6tables' name for an iptables --reject-with type.
var reject6 = map[string]string{
	"tcp-reset":             "tcp-reset",
	"icmp-port-unreachable": "icmp6-port-unreachable",
	"icmp-host-prohibited":  "icmp6-adm-prohibited",
	"icmp-admin-prohibited": "icmp6-adm-prohibited",
	"icmp-net-unreachable":  "icmp6-no-route",
}

// hasIPv6 reports whether the env's host has an IPv6 address.
func (e *Env) hasIPv6() bool {
	h := e.ScenarioHost()
	if h == nil {
		return false
	}
	for _, i := range h.Interfaces {
		if i.IPv6.IsValid() {
			return true
		}
	}
	return false
}

// ruleBothFamilies inserts (present) or deletes a filter rule in the
// env's host, in iptables and, when mirror and the host has IPv6, in
// ip6tables with the same spec.
func (e *Env) ruleBothFamilies(chain string, spec []string, mirror, present bool) error {
	protos := []iptables.Protocol{iptables.ProtocolIPv4}
	if mirror && e.hasIPv6() {
		protos = append(protos, iptables.ProtocolIPv6)
	}
	var errs []error
	for _, proto := range protos {
		errs = append(errs, e.IPTables("", proto, func(ipt *iptables.IPTables) error {
			if present {
				return ipt.InsertUnique("filter", chain, 1, spec...)
			}
			return ipt.DeleteIfExists("filter", chain, spec...)
		}))
		if present && errs[len(errs)-1] != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// mirrors6 reports whether the fault's rule is mirrored for IPv6 on the
// env's host: the host has an IPv6 address and the rule names no
// address of its own.
func (p *FirewallParams) mirrors6(e *Env) bool {
	return p.Source == "" && p.Destination == "" && e.hasIPv6()
}

func (p *FirewallParams) rulespec6() []string {
	q := *p
	q.rejectWith = reject6[p.rejectWith]
	return q.rulespec()
}

// firewall6 inserts (or deletes) the IPv6 mirror of the rule, when there
// is one.
func (p *FirewallParams) firewall6(e *Env, present bool) error {
	if !p.mirrors6(e) {
		return nil
	}
	return e.IPTables("", iptables.ProtocolIPv6, func(ipt *iptables.IPTables) error {
		if present {
			return ipt.InsertUnique("filter", p.Chain, 1, p.rulespec6()...)
		}
		return ipt.DeleteIfExists("filter", p.Chain, p.rulespec6()...)
	})
}

// addr6Of is an IPv6 address of the host that holds a (v4) address.
func (e *Env) addr6Of(a netip.Addr) (netip.Addr, bool) {
	h := e.Scenario.Host(e.hostWithAddr(a))
	if h == nil {
		return netip.Addr{}, false
	}
	for _, i := range h.Interfaces {
		if i.IPv6.IsValid() && !i.IPv6.Addr().IsLinkLocalUnicast() {
			return i.IPv6.Addr(), true
		}
	}
	return netip.Addr{}, false
}
