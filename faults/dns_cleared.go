// How the DNS server faults are judged cleared: the server asked directly.

package faults

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/services"
)

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
	if running, err := services.RunningDNSFaults(e.Lab, e.Host, name); err == nil {
		for _, f := range faults {
			if slices.ContainsFunc(running, func(g services.DNSFault) bool { return reflect.DeepEqual(f, g) }) {
				return errors.New("a DNS server of the lab still runs with its broken answers")
			}
		}
	}
	return nil
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

// probeName is a concrete name for a fault's name: a wildcard's "*" is
// replaced by a label.
func probeName(name string) string {
	name = dns.Fqdn(name)
	if strings.HasPrefix(name, "*.") {
		return "netdojo-probe" + name[1:]
	}
	return name
}

func queryType(t string) string {
	if t == "" {
		return "A"
	}
	return strings.ToUpper(t)
}
