// How the resolver file faults are judged cleared, and the lab's copies of /etc files they edit.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
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

// hostsFileHas reports whether the host's hosts file maps name to addr.
func hostsFileHas(path, name string, addr netip.Addr) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil || a.Unmap() != addr.Unmap() {
			continue
		}
		for _, n := range f[1:] {
			if strings.TrimSuffix(strings.ToLower(n), ".") == name {
				return true, nil
			}
		}
	}
	return false, nil
}

// --- the lab's copies of /etc files.

// hostEtcFile is the host's own /etc file; it refuses the machine's.
func hostEtcFile(e *Env, host, name string) (string, error) {
	ns, err := e.Netns(host)
	if err != nil {
		return "", err
	}
	p := ns.EtcFile(name)
	if filepath.Dir(filepath.Dir(p)) != sandbox.EtcNetnsDir {
		return "", fmt.Errorf("host %q has no /etc/%s of its own; refusing to change the machine's", ns.Name(), name)
	}
	return p, nil
}

// savedEtcPath is where a fault keeps a host's file as it was before.
func savedEtcPath(e *Env, host, name string) string {
	return filepath.Join(e.Lab.Dir(), "faults", host+"."+name)
}

// saveEtc keeps the host's file before a fault changes it; a second fault
// on the same file keeps the first copy.
func saveEtc(e *Env, name string) (path string, content []byte, err error) {
	path, err = hostEtcFile(e, "", name)
	if err != nil {
		return "", nil, err
	}
	content, err = os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("reading /etc/%s of host %q: %w", name, e.Host, err)
	}
	saved := savedEtcPath(e, e.Host, name)
	if _, err := os.Stat(saved); err == nil {
		return path, content, nil
	}
	if err := os.MkdirAll(filepath.Dir(saved), 0o755); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(saved, content, 0o644); err != nil {
		return "", nil, fmt.Errorf("keeping /etc/%s of host %q: %w", name, e.Host, err)
	}
	return path, content, nil
}

// restoreEtc writes the kept file back in place (shells have it
// bind-mounted: never rename over it) and forgets the copy.
func restoreEtc(e *Env, name string) error {
	path, err := hostEtcFile(e, "", name)
	if err != nil {
		return err
	}
	saved := savedEtcPath(e, e.Host, name)
	content, err := os.ReadFile(saved)
	if errors.Is(err, os.ErrNotExist) {
		return nil // never changed, or reverted already
	} else if err != nil {
		return err
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		return fmt.Errorf("restoring /etc/%s of host %q: %w", name, e.Host, err)
	}
	return os.Remove(saved)
}
