package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// startBenchLab is startTestLab for benchmarks.
func startBenchLab(b *testing.B, yml string) *labEnv {
	b.Helper()
	s, err := scenarios.Load("bench.yaml", []byte(yml), scenarios.Options{Services: services.Registry{}, Faults: faults.Registry{}})
	if err != nil {
		b.Fatal(err)
	}
	store := sandbox.Store{Dir: b.TempDir()}
	name := fmt.Sprintf("ft%04x", rand.IntN(1<<16))
	lab, err := sandbox.Start(context.Background(), s, sandbox.Options{Name: name, Store: store,
		AfterNetwork: func(ctx context.Context, lab *sandbox.Lab) error { return services.StartAll(ctx, lab, s) }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		lab.Close()
		if err := sandbox.Stop(store, name); err != nil {
			b.Errorf("stopping lab: %v", err)
		}
		sandboxtest.AssertNoLeftovers(b, store, name)
	})
	return &labEnv{lab: lab, s: s}
}

// BenchmarkLinkNetworkFaults measures inject+revert, and observing the
// injected fault, for kinds of each mechanism: netlink (links, routes,
// addresses), sysctls, iptables and ethtool run in the host.
func BenchmarkLinkNetworkFaults(b *testing.B) {
	l := startBenchLab(b, chainLab)
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
		a, err := faults.New(c.kind, c.host, typedParams(b, c.kind, c.params))
		if err != nil {
			b.Fatal(err)
		}
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
