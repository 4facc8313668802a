package verify_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// TestMain lets the test binary stand in for netdojo inside lab hosts:
// lab.Command re-executes it as `__enter`, services as `__service`.
func TestMain(m *testing.M) {
	sandboxtest.Main(m, "verify", map[string]func([]string) int{services.ServiceCommand: services.Main})
}

// labName is a fresh lab name prefix for this suite.
func labName() string { return fmt.Sprintf("lab-v%04x", rand.IntN(1<<16)) }

func loadOptions(seed uint64) scenarios.Options {
	return scenarios.Options{Seed: seed, Services: services.Registry{}, Faults: faults.Registry{}}
}

// load checks and resolves a scenario given as YAML.
func load(t *testing.T, yml string, seed uint64) *scenarios.Scenario {
	t.Helper()
	s, err := scenarios.Load("test.yaml", []byte(yml), loadOptions(seed))
	if err != nil {
		t.Fatalf("test scenario: %v", err)
	}
	return s
}

// seedsApart finds two seeds that draw different values of a parameter,
// so that two labs of the same scenario have different right answers.
func seedsApart(t *testing.T, yml, param string) (a, b uint64) {
	t.Helper()
	first := load(t, yml, 1).Values[param]
	for s := uint64(2); s < 100; s++ {
		if load(t, yml, s).Values[param] != first {
			return 1, s
		}
	}
	t.Fatalf("seeds 1 to 99 all draw %s = %s", param, first)
	return 0, 0
}
