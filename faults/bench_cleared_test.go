package faults_test

import (
	"context"
	"testing"
)

// BenchmarkCleared measures a Cleared judgement that fails (the fault is
// there: what a failing check pays) and one that passes (after revert),
// for kinds of each mechanism: route lookups, DF probes, rule counters
// under a probe, the process behind a listener, an active leak probe.
func BenchmarkCleared(b *testing.B) {
	ctx := context.Background()
	for _, lab := range []struct {
		yml   string
		kinds []struct{ kind, host, params string }
	}{
		{chainLab, []struct{ kind, host, params string }{
			{"no-default-route", "client", ""},
			{"pmtu-blackhole", "r1", "{dev: eth1, from: client, to: 203.0.113.80}"},
			{"silent-hop", "r2", ""},
		}},
		{routedLab, []struct{ kind, host, params string }{
			{"firewall-drop", "server", "{chain: INPUT, port: 80}"},
			{"port-conflict", "server", "{service: web}"},
			{"close-wait-leak", "server", "{service: web, connections: 3}"},
		}},
	} {
		l := startTestLab(b, lab.yml)
		for _, c := range lab.kinds {
			a := newFault(b, c.kind, c.host, c.params)
			if err := a.Apply(ctx, l.lab, l.s); err != nil {
				b.Fatal(err)
			}
			b.Run(c.kind+"/not-cleared", func(b *testing.B) {
				for b.Loop() {
					if err := a.Cleared(ctx, l.lab, l.s); err == nil {
						b.Fatal("cleared while the fault is there")
					}
				}
			})
			if err := a.Revert(ctx, l.lab, l.s); err != nil {
				b.Fatal(err)
			}
			b.Run(c.kind+"/cleared", func(b *testing.B) {
				for b.Loop() {
					if err := a.Cleared(ctx, l.lab, l.s); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
