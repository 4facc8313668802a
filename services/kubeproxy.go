package services

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/coreos/go-iptables/iptables"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
)

// KubeProxyParams configure the kube-proxy service.
type KubeProxyParams struct {
	Services []KubeService `yaml:"services,omitempty" json:"services,omitempty" doc:"The cluster's services, each a virtual IP and port load-balanced to its endpoints."`
}

// KubeService is one Kubernetes service port as kube-proxy programs it.
type KubeService struct {
	Name      string   `yaml:"name,omitempty" json:"name,omitempty" doc:"Service name, such as \"web\" (namespace default)."`
	VIP       string   `yaml:"vip,omitempty" json:"vip,omitempty" doc:"The service's cluster IP, such as \"10.96.0.20\"."`
	Port      int      `yaml:"port,omitempty" json:"port,omitempty" doc:"The service port on the cluster IP."`
	Proto     string   `yaml:"proto,omitempty" json:"proto,omitempty" doc:"The protocol: tcp (default) or udp."`
	Endpoints []string `yaml:"endpoints,omitempty" json:"endpoints,omitempty" doc:"The ready pods behind it as IP:port, such as \"10.244.1.10:8080\"; none gives the \"has no endpoints\" REJECT."`
}

// Check implements Params.
func (p *KubeProxyParams) Check() error {
	seen := map[string]bool{}
	for i := range p.Services {
		s := &p.Services[i]
		f := fmt.Sprintf("services[%d]", i)
		if s.Name == "" || strings.ContainsAny(s.Name, " \t\"'") {
			return scenarios.FieldErrorf(f+".name", "%q must be a name such as \"web\"", s.Name)
		}
		if err := scenarios.CheckRequired(f+".vip", s.VIP, "give a cluster IP such as \"10.96.0.20\""); err != nil {
			return err
		}
		if _, err := scenarios.CheckIPv4(f+".vip", s.VIP, "10.96.0.20"); err != nil {
			return err
		}
		if err := scenarios.CheckPort(f+".port", &s.Port, 0); err != nil {
			return err
		}
		if err := scenarios.CheckOneOf(f+".proto", &s.Proto, "tcp", false, "tcp", "udp"); err != nil {
			return err
		}
		key := fmt.Sprintf("%s/%d/%s", s.VIP, s.Port, s.Proto)
		if seen[key] {
			return scenarios.FieldErrorf(f, "%s port %d/%s is given twice", s.VIP, s.Port, s.Proto)
		}
		seen[key] = true
		for j, ep := range s.Endpoints {
			if err := scenarios.CheckRequired(fmt.Sprintf("%s.endpoints[%d]", f, j), ep, "give a pod such as \"10.244.1.10:8080\""); err != nil {
				return err
			}
			if _, err := scenarios.CheckIPv4Port(fmt.Sprintf("%s.endpoints[%d]", f, j), ep, "10.244.1.10:8080"); err != nil {
				return err
			}
		}
	}
	return nil
}

// ProcessName implements Params.
func (p *KubeProxyParams) ProcessName() string { return "kube-proxy" }

func kubeProxyKind() Kind {
	return Kind{
		Name:    "kube-proxy",
		Summary: "kube-proxy in iptables mode: service virtual IPs DNATed to their endpoints, REJECT for a service without endpoints.",
		Doc: "Runs inside a node and programs iptables the way kube-proxy's iptables mode does: in nat, a KUBE-SERVICES chain " +
			"jumped from PREROUTING and OUTPUT, one rule per service VIP:port to a KUBE-SVC-* chain that picks an endpoint with " +
			"`-m statistic --mode random --probability 1/n`, and one KUBE-SEP-* chain per endpoint with the DNAT (and the hairpin " +
			"masquerade mark, KUBE-MARK-MASQ and KUBE-POSTROUTING); in filter, a KUBE-SERVICES chain jumped from FORWARD and OUTPUT " +
			"for new connections, holding `REJECT --reject-with icmp-port-unreachable` for every service that has no endpoints " +
			"(\"default/NAME has no endpoints\"). It syncs once at start, as if nothing changed afterwards, so a deleted rule stays " +
			"deleted until it restarts; it removes every KUBE-* rule and chain when it stops. `iptables -t nat -L KUBE-SERVICES -n` " +
			"lists the services and `iptables -t nat -vnL` counts the packets; curl to a VIP reaches a pod, or prints " +
			"\"Connection refused\" at once when the service has no endpoints.",
		NewParams: func() Params { return &KubeProxyParams{} },
		Run: func(ctx context.Context, p Params, log *slog.Logger) error {
			return runKubeProxy(ctx, p.(*KubeProxyParams), log)
		},
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			return pollReady(ctx, t, "kube-proxy rules", func(ctx context.Context) error {
				return t.Do(func() error {
					ipt, err := iptables.New(iptables.Timeout(5))
					if err != nil {
						return err
					}
					// The jumps are the last thing a sync adds.
					for _, j := range kubeJumps {
						ok, err := kubeJumpExists(ipt, j)
						if err != nil {
							return err
						}
						if !ok {
							return fmt.Errorf("no %s %s jump to %s yet", j.table, j.chain, j.rule[len(j.rule)-1])
						}
					}
					return nil
				})
			})
		},
	}
}

// KubeProxyMasqMark is the mark kube-proxy sets on packets to masquerade.
const KubeProxyMasqMark = "0x4000/0x4000"

type kubeJump struct {
	table, chain string
	rule         []string
}

// kubeJumps are the rules that hook kube-proxy's chains into the built-in
// ones, as kube-proxy writes them.
var kubeJumps = []kubeJump{
	{"nat", "PREROUTING", []string{"-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"}},
	{"nat", "OUTPUT", []string{"-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"}},
	{"nat", "POSTROUTING", []string{"-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"}},
	{"filter", "FORWARD", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"}},
	{"filter", "OUTPUT", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"}},
}

// kubeJumpExists reports whether a jump is in place. With the nf_tables
// backend, `iptables -C` of a rule whose target chain does not exist is an
// error, not a "no".
func kubeJumpExists(ipt *iptables.IPTables, j kubeJump) (bool, error) {
	ok, err := ipt.ChainExists(j.table, j.rule[len(j.rule)-1])
	if err != nil || !ok {
		return false, err
	}
	return ipt.Exists(j.table, j.chain, j.rule...)
}

// KubeChain is the name kube-proxy gives a service's (prefix KUBE-SVC-)
// or an endpoint's (KUBE-SEP-) chain: the prefix and 16 characters of the
// base32 SHA-256 of what it stands for.
func KubeChain(prefix, of string) string {
	h := sha256.Sum256([]byte(of))
	return prefix + base32.StdEncoding.EncodeToString(h[:])[:16]
}

// KubeSvcChain is the KUBE-SVC-* chain of a service port.
func KubeSvcChain(s KubeService) string {
	return KubeChain("KUBE-SVC-", "default/"+s.Name+":"+strconv.Itoa(s.Port)+s.protoName())
}

func (s KubeService) protoName() string {
	if s.Proto == "" {
		return "tcp"
	}
	return s.Proto
}

// KubeDNATRule is the nat KUBE-SERVICES rule that sends a service's VIP:port
// to its KUBE-SVC-* chain: the rule whose loss leaves the VIP un-NATed.
func KubeDNATRule(s KubeService) []string {
	return []string{"-d", s.VIP + "/32", "-p", s.protoName(), "-m", s.protoName(), "--dport", strconv.Itoa(s.Port),
		"-m", "comment", "--comment", "default/" + s.Name + " cluster IP", "-j", KubeSvcChain(s)}
}

// KubeRejectRule is the filter KUBE-SERVICES rule for a service that has no
// endpoints.
func KubeRejectRule(s KubeService) []string {
	return []string{"-d", s.VIP + "/32", "-p", s.protoName(), "-m", s.protoName(), "--dport", strconv.Itoa(s.Port),
		"-m", "comment", "--comment", "default/" + s.Name + " has no endpoints", "-j", "REJECT", "--reject-with", "icmp-port-unreachable"}
}

func runKubeProxy(ctx context.Context, p *KubeProxyParams, log *slog.Logger) error {
	ipt, err := iptables.New(iptables.Timeout(5))
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	// Whatever an earlier kube-proxy left (a SIGKILL) goes first.
	if err := kubeCleanup(ipt); err != nil {
		return fmt.Errorf("removing old rules: %w", err)
	}
	if err := kubeSync(ipt, p, log); err != nil {
		return errors.Join(fmt.Errorf("programming iptables: %w", err), kubeCleanup(ipt))
	}
	log.Info("synced", "services", len(p.Services))
	<-ctx.Done()
	if err := kubeCleanup(ipt); err != nil {
		return fmt.Errorf("removing rules: %w", err)
	}
	log.Info("rules removed")
	return nil
}

func kubeSync(ipt *iptables.IPTables, p *KubeProxyParams, log *slog.Logger) error {
	for _, c := range []struct{ table, chain string }{
		{"nat", "KUBE-SERVICES"}, {"nat", "KUBE-MARK-MASQ"}, {"nat", "KUBE-POSTROUTING"}, {"filter", "KUBE-SERVICES"},
	} {
		if err := ipt.NewChain(c.table, c.chain); err != nil {
			return fmt.Errorf("creating chain %s in %s: %w", c.chain, c.table, err)
		}
	}
	rules := []struct {
		table, chain string
		rule         []string
	}{
		{"nat", "KUBE-MARK-MASQ", []string{"-j", "MARK", "--set-xmark", KubeProxyMasqMark}},
		{"nat", "KUBE-POSTROUTING", []string{"-m", "mark", "!", "--mark", KubeProxyMasqMark, "-j", "RETURN"}},
		{"nat", "KUBE-POSTROUTING", []string{"-j", "MARK", "--xor-mark", "0x4000"}},
		{"nat", "KUBE-POSTROUTING", []string{"-m", "comment", "--comment", "kubernetes service traffic requiring SNAT", "-j", "MASQUERADE"}},
	}
	for _, r := range rules {
		if err := ipt.Append(r.table, r.chain, r.rule...); err != nil {
			return fmt.Errorf("%s %s: %w", r.table, r.chain, err)
		}
	}
	for _, s := range p.Services {
		if len(s.Endpoints) == 0 {
			if err := ipt.Append("filter", "KUBE-SERVICES", KubeRejectRule(s)...); err != nil {
				return fmt.Errorf("service %q: %w", s.Name, err)
			}
			log.Info("service", "name", s.Name, "vip", s.VIP, "port", s.Port, "proto", s.protoName(), "endpoints", 0)
			continue
		}
		svc := KubeSvcChain(s)
		if err := ipt.NewChain("nat", svc); err != nil {
			return fmt.Errorf("service %q: %w", s.Name, err)
		}
		n := len(s.Endpoints)
		for i, ep := range s.Endpoints {
			sep := KubeChain("KUBE-SEP-", "default/"+s.Name+":"+strconv.Itoa(s.Port)+s.protoName()+ep)
			if err := ipt.NewChain("nat", sep); err != nil {
				return fmt.Errorf("service %q endpoint %s: %w", s.Name, ep, err)
			}
			ip := ep[:strings.LastIndex(ep, ":")]
			comment := []string{"-m", "comment", "--comment", "default/" + s.Name}
			sepRules := [][]string{
				append(append([]string{"-s", ip + "/32"}, comment...), "-j", "KUBE-MARK-MASQ"),
				append(append([]string{"-p", s.protoName()}, comment...), "-m", s.protoName(), "-j", "DNAT", "--to-destination", ep),
			}
			for _, r := range sepRules {
				if err := ipt.Append("nat", sep, r...); err != nil {
					return fmt.Errorf("service %q endpoint %s: %w", s.Name, ep, err)
				}
			}
			pick := append([]string{}, "-m", "comment", "--comment", "default/"+s.Name+" -> "+ep)
			if i < n-1 {
				pick = append(pick, "-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%0.10f", 1/float64(n-i)))
			}
			if err := ipt.Append("nat", svc, append(pick, "-j", sep)...); err != nil {
				return fmt.Errorf("service %q endpoint %s: %w", s.Name, ep, err)
			}
		}
		if err := ipt.Append("nat", "KUBE-SERVICES", KubeDNATRule(s)...); err != nil {
			return fmt.Errorf("service %q: %w", s.Name, err)
		}
		log.Info("service", "name", s.Name, "vip", s.VIP, "port", s.Port, "proto", s.protoName(), "endpoints", n, "chain", svc)
	}
	// The jumps last: Ready waits for them.
	for _, j := range kubeJumps {
		if err := ipt.Insert(j.table, j.chain, 1, j.rule...); err != nil {
			return fmt.Errorf("%s %s: %w", j.table, j.chain, err)
		}
	}
	return nil
}

// kubeCleanup removes the jumps, then flushes every KUBE-* chain of nat and
// filter, then deletes them; it tries every step.
func kubeCleanup(ipt *iptables.IPTables) error {
	var errs []error
	for _, j := range kubeJumps {
		ok, err := kubeJumpExists(ipt, j)
		if err == nil && ok {
			err = ipt.Delete(j.table, j.chain, j.rule...)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	owned := map[string][]string{}
	for _, table := range []string{"nat", "filter"} {
		chains, err := ipt.ListChains(table)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range chains {
			if strings.HasPrefix(c, "KUBE-") {
				owned[table] = append(owned[table], c)
				if err := ipt.ClearChain(table, c); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	for table, chains := range owned {
		for _, c := range chains {
			if err := ipt.DeleteChain(table, c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
