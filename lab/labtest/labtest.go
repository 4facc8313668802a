// Package labtest is what the tests of the packages above lab share
// (checker, verify, lab, drill): scenarios loaded with the real service and
// fault tables, labs started through lab.Start and stopped with the
// nothing-left check, and the test binary standing in for netdojo inside
// lab hosts. It builds on sandboxtest, and like it never switches a
// thread's namespace itself.
//
// It imports services and faults, so their own in-package tests cannot use
// it; they use sandboxtest.
package labtest

import (
	"context"
	"testing"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// Main lets the test binary stand in for netdojo inside lab hosts:
// sandbox re-executes it as `__enter`, services as `__service`.
func Main(m *testing.M, suite string) {
	sandboxtest.Main(m, suite, map[string]func([]string) int{services.ServiceCommand: services.Main})
}

// Options loads with the real service and fault tables and seed.
func Options(seed uint64) scenarios.Options {
	return scenarios.Options{Seed: seed, Services: services.Registry{}, Faults: faults.Registry{}}
}

// Load checks and resolves a scenario given as YAML.
func Load(t testing.TB, yml string, seed uint64) *scenarios.Scenario {
	t.Helper()
	s, err := scenarios.Load("test.yaml", []byte(yml), Options(seed))
	if err != nil {
		t.Fatalf("test scenario: %v", err)
	}
	return s
}

// Builtin loads a built-in scenario.
func Builtin(t testing.TB, name string, seed uint64) *scenarios.Scenario {
	t.Helper()
	b, err := scenarios.LookupBuiltin(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenarios.Load(b.Path, b.Data, Options(seed))
	if err != nil {
		t.Fatalf("loading %s: %v", name, err)
	}
	return s
}

// SeedsApart finds two seeds that draw different values of a parameter,
// so that two labs of the same scenario have different right answers.
func SeedsApart(t testing.TB, yml, param string) (a, b uint64) {
	t.Helper()
	first := Load(t, yml, 1).Values[param]
	for s := uint64(2); s < 100; s++ {
		if Load(t, yml, s).Values[param] != first {
			return 1, s
		}
	}
	t.Fatalf("seeds 1 to 99 all draw %s = %s", param, first)
	return 0, 0
}

// Start starts lab name of s through lab.Start (with its faults when
// withFaults) in a store of the test's own, skipping the test without
// root; its cleanup stops the lab unless the test did and fails the test
// if anything of it is left (sandboxtest.StartLab).
func Start(t testing.TB, name string, s *scenarios.Scenario, withFaults bool) *sandbox.Lab {
	t.Helper()
	return sandboxtest.StartLab(t, sandboxtest.NewStore(t), name, func(ctx context.Context, o sandbox.Options) (*sandbox.Lab, error) {
		return lab.Start(ctx, s, o, withFaults)
	})
}
