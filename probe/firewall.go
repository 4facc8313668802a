package probe

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-iptables/iptables"
)

// FirewallRule is one rule of a chain with its counters.
type FirewallRule struct {
	Num         int    `json:"num"` // 1-based, as iptables -L --line-numbers
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"`
	Target      string `json:"target"`
	Protocol    string `json:"protocol"`
	In          string `json:"in"`
	Out         string `json:"out"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Options     string `json:"options,omitempty"` // the match text, as iptables -L shows it
	Spec        string `json:"spec"`              // the rule as iptables -S prints it
}

// FirewallChain is a chain with its policy and rules.
type FirewallChain struct {
	Name          string         `json:"name"`
	Policy        string         `json:"policy,omitempty"` // built-in chains only
	PolicyPackets uint64         `json:"policy_packets,omitempty"`
	PolicyBytes   uint64         `json:"policy_bytes,omitempty"`
	Rules         []FirewallRule `json:"rules"`
}

// FirewallReport is a table of a target's IPv4 or IPv6 firewall.
type FirewallReport struct {
	Target string `json:"target"`
	Family string `json:"family"` // "ipv4" or "ipv6"
	Table  string `json:"table"`
	// Backend is "nf_tables" or "legacy": which kernel interface the
	// iptables binary drives (read from the binary it resolves to).
	Backend string          `json:"backend"`
	Version string          `json:"version"`
	Chains  []FirewallChain `json:"chains"`
	Elapsed time.Duration   `json:"elapsed_ns"`
}

// Chain returns a chain by name.
func (r FirewallReport) Chain(name string) (FirewallChain, bool) {
	for _, c := range r.Chains {
		if c.Name == name {
			return c, true
		}
	}
	return FirewallChain{}, false
}

// Firewall lists the rules and counters of a table (default "filter") of
// the target's IPv4 firewall (ipv6: true for ip6tables), for the given
// chains or all of them. It goes through go-iptables, which runs the
// iptables binary: every call runs inside the target, so the process
// inherits the target's namespace.
func Firewall(t Target, ipv6 bool, table string, chains ...string) (FirewallReport, error) {
	start := time.Now()
	if table == "" {
		table = "filter"
	}
	rep := FirewallReport{Target: t.Name(), Family: "ipv4", Table: table}
	proto := iptables.ProtocolIPv4
	if ipv6 {
		rep.Family, proto = "ipv6", iptables.ProtocolIPv6
	}
	err := t.Do(func() error {
		ipt, err := iptables.New(iptables.IPFamily(proto))
		if err != nil {
			return err
		}
		v1, v2, v3 := ipt.GetIptablesVersion()
		rep.Version = fmt.Sprintf("%d.%d.%d", v1, v2, v3)
		rep.Backend = pnIptablesBackend(ipv6)
		if len(chains) == 0 {
			if chains, err = ipt.ListChains(table); err != nil {
				return fmt.Errorf("listing chains of table %s: %w", table, err)
			}
		}
		for _, name := range chains {
			c, err := pnFirewallChain(ipt, table, name)
			if err != nil {
				return err
			}
			rep.Chains = append(rep.Chains, c)
		}
		return nil
	})
	rep.Elapsed = time.Since(start)
	if err != nil {
		return rep, fmt.Errorf("reading firewall of %s: %w", t.Name(), err)
	}
	return rep, nil
}

func pnFirewallChain(ipt *iptables.IPTables, table, name string) (FirewallChain, error) {
	c := FirewallChain{Name: name}
	specs, err := ipt.ListWithCounters(table, name)
	if err != nil {
		return c, fmt.Errorf("listing chain %s/%s: %w", table, name, err)
	}
	var ruleSpecs []string
	for _, s := range specs {
		f := strings.Fields(s)
		switch {
		case len(f) >= 3 && f[0] == "-P":
			c.Policy = f[2]
			if len(f) >= 6 && f[3] == "-c" {
				c.PolicyPackets, _ = strconv.ParseUint(f[4], 10, 64)
				c.PolicyBytes, _ = strconv.ParseUint(f[5], 10, 64)
			}
		case len(f) >= 1 && f[0] == "-A":
			ruleSpecs = append(ruleSpecs, pnStripCounters(s))
		}
	}
	stats, err := ipt.StructuredStats(table, name)
	if err != nil {
		return c, fmt.Errorf("reading counters of chain %s/%s: %w", table, name, err)
	}
	for i, st := range stats {
		r := FirewallRule{
			Num: i + 1, Packets: st.Packets, Bytes: st.Bytes, Target: st.Target,
			Protocol: st.Protocol, In: st.Input, Out: st.Output,
			Source: pnNet(st.Source), Destination: pnNet(st.Destination),
			Options: strings.TrimSpace(st.Options),
		}
		if i < len(ruleSpecs) {
			r.Spec = ruleSpecs[i]
		}
		c.Rules = append(c.Rules, r)
	}
	return c, nil
}

// pnStripCounters removes "-c PKTS BYTES" from a rule spec.
func pnStripCounters(s string) string {
	f := strings.Fields(s)
	out := f[:0]
	for i := 0; i < len(f); i++ {
		if f[i] == "-c" && i+2 < len(f) {
			i += 2
			continue
		}
		out = append(out, f[i])
	}
	return strings.Join(out, " ")
}

func pnNet(n *net.IPNet) string {
	if n == nil {
		return ""
	}
	return n.String()
}

// pnIptablesBackend names the backend of the iptables binary from the
// file it resolves to (xtables-nft-multi, iptables-nft, iptables-legacy).
func pnIptablesBackend(ipv6 bool) string {
	name := "iptables"
	if ipv6 {
		name = "ip6tables"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "unknown"
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "unknown"
	}
	switch base := filepath.Base(real); {
	case strings.Contains(base, "nft"):
		return "nf_tables"
	case strings.Contains(base, "legacy"):
		return "legacy"
	}
	return "unknown"
}
