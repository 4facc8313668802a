package faults_test

import (
	"context"
	"testing"
)

// BenchmarkLinkNetworkFaults measures inject+revert, and observing the
// injected fault, for kinds of each mechanism: netlink (links, routes,
// addresses), sysctls, iptables and ethtool run in the host.
func BenchmarkLinkNetworkFaults(b *testing.B) {
	l := startTestLab(b, chainLab)
	ctx := context.Background()
	for _, c := range []struct{ kind, host, params string }{
		{"interface-down", "client", "dev: eth0"},
		{"wrong-netmask", "client", "prefix: 32"},
		{"blackhole-route", "r2", "to: 203.0.113.0/24"},
		{"forwarding-off", "r2", ""},
		{"silent-hop", "r2", ""},
		{"pmtu-blackhole", "r1", "{dev: eth1, from: client, to: 203.0.113.80}"},
		{"mtu-mismatch", "server", "dev: eth0"},
	} {
		a := newFault(b, c.kind, c.host, c.params)
		b.Run(c.kind+"/inject-revert", func(b *testing.B) {
			for b.Loop() {
				if err := a.Apply(ctx, l.lab, l.s); err != nil {
					b.Fatal(err)
				}
				if err := a.Revert(ctx, l.lab, l.s); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.kind+"/observe", func(b *testing.B) {
			if err := a.Apply(ctx, l.lab, l.s); err != nil {
				b.Fatal(err)
			}
			defer a.Revert(ctx, l.lab, l.s)
			for b.Loop() {
				if err := a.Observe(ctx, l.lab, l.s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
