package faults_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// TestMain lets the test binary stand in for netdojo inside lab hosts.
func TestMain(m *testing.M) {
	sandboxtest.Main(m, "fault", map[string]func([]string) int{services.ServiceCommand: services.Main})
}

// faultCase proves one fault: injected, its symptom shows (Observe and
// the learner's tool); reverted, it is gone; injected again and fixed the
// documented way, it is gone.
type faultCase struct {
	kind     string
	scenario string // a scenario YAML without faults
	host     string
	params   string // YAML mapping
	// symptom runs the learner's tool and returns nil when it shows the
	// fault, or an error saying what it printed.
	symptom func(t *testing.T, l *labEnv) error
	// fix is the documented fix: commands run in hosts, "host: cmd".
	fix []string
	// restart are services started through the lab after fix, as
	// `netdojo service LAB HOST NAME restart` does: "host: name".
	restart []string
}

type labEnv struct {
	lab *sandbox.Lab
	s   *scenarios.Scenario
}

// run runs a command in a host and returns its output and error.
func (l *labEnv) run(host string, argv ...string) (string, error) {
	c, err := l.lab.Command(host, argv...)
	if err != nil {
		return "", err
	}
	out, err := c.CombinedOutput()
	return string(out), err
}

// startTestLab starts a lab of the scenario under a fresh name.
func startTestLab(t testing.TB, yml string) *labEnv {
	t.Helper()
	return startNamedLab(t, yml, sandboxtest.LabName("ft"))
}

// startNamedLab starts a lab of the scenario, with its services, under a
// given name (sandboxtest.StartLab: its stop must leave nothing behind).
func startNamedLab(t testing.TB, yml, name string) *labEnv {
	t.Helper()
	sandboxtest.NeedRoot(t, "starts a lab of network namespaces to break")
	s, err := scenarios.Load("test.yaml", []byte(yml), scenarios.Options{Services: services.Registry{}, Faults: faults.Registry{}})
	if err != nil {
		t.Fatalf("test scenario: %v", err)
	}
	lab := sandboxtest.StartLab(t, sandboxtest.NewStore(t), name, func(ctx context.Context, o sandbox.Options) (*sandbox.Lab, error) {
		o.AfterNetwork = func(ctx context.Context, lab *sandbox.Lab) error { return services.StartAll(ctx, lab, s) }
		return sandbox.Start(ctx, s, o)
	})
	return &labEnv{lab: lab, s: s}
}

// typedParams decodes a kind's parameters written as in a scenario
// ("{port: 80}", or "" for none) into its checked parameter struct.
func typedParams(t testing.TB, kind, text string) any {
	t.Helper()
	p, err := scenarios.ParamsFromYAML(faults.Registry{}, kind, text)
	if err != nil {
		t.Fatalf("parameters %q of %s: %v", text, kind, err)
	}
	return p
}

// newFault is the fault of a kind on a host with parameters written as a
// YAML mapping ("" for none).
func newFault(t testing.TB, kind, host, params string) *faults.Applied {
	t.Helper()
	a, err := faults.New(kind, host, typedParams(t, kind, params))
	if err != nil {
		t.Fatalf("fault %s on %s: %v", kind, host, err)
	}
	return a
}

func runFaultCase(t *testing.T, c faultCase) {
	t.Helper()
	before := sandboxtest.Take(t)
	l := startTestLab(t, c.scenario)
	a := newFault(t, c.kind, c.host, c.params)
	ctx := context.Background()
	healthy := func(when string) {
		t.Helper()
		if err := a.Observe(ctx, l.lab, l.s); err == nil {
			t.Errorf("%s: the probe still observes the symptom", when)
		}
		if err := c.symptom(t, l); err == nil {
			t.Errorf("%s: the learner's tool still shows the symptom", when)
		}
		if err := a.Cleared(ctx, l.lab, l.s); err != nil {
			t.Errorf("%s: the fault is not judged cleared: %v", when, err)
		}
	}
	broken := func(when string) {
		t.Helper()
		if err := a.Observe(ctx, l.lab, l.s); err != nil {
			t.Errorf("%s: the probe does not observe the symptom: %v", when, err)
		}
		if err := c.symptom(t, l); err != nil {
			t.Errorf("%s: the learner's tool does not show the symptom: %v", when, err)
		}
		if err := a.Cleared(ctx, l.lab, l.s); err == nil {
			t.Errorf("%s: the fault is judged cleared", when)
		} else {
			t.Logf("%s: not cleared: %v", when, err)
		}
	}
	healthy("before injection")
	if err := a.Apply(ctx, l.lab, l.s); err != nil {
		t.Fatal(err)
	}
	broken("after injection")
	if err := a.Revert(ctx, l.lab, l.s); err != nil {
		t.Fatal(err)
	}
	healthy("after revert")
	if err := a.Apply(ctx, l.lab, l.s); err != nil {
		t.Fatal(err)
	}
	broken("after the second injection")
	for _, f := range c.fix {
		host, cmd, _ := strings.Cut(f, ": ")
		if out, err := l.run(host, "sh", "-c", cmd); err != nil {
			t.Fatalf("fix %q: %v\n%s", f, err, out)
		}
	}
	restartServices(t, l, c.restart)
	healthy("after the documented fix")
	sandboxtest.AssertUnchanged(t, before)
}

// restartServices starts services through the lab, as `netdojo service
// LAB HOST NAME restart` does: the lab records the new process.
func restartServices(t *testing.T, l *labEnv, restart []string) {
	t.Helper()
	for _, r := range restart {
		host, name, _ := strings.Cut(r, ": ")
		var svc *scenarios.Service
		for i, s := range l.s.Host(host).Services {
			if s.Name == name {
				svc = &l.s.Host(host).Services[i]
			}
		}
		if svc == nil {
			t.Fatalf("restart %q: no such service", r)
		}
		if err := l.lab.StopProcess(host, name); err != nil {
			t.Logf("restart %q: stopping: %v", r, err)
		}
		if err := services.Start(context.Background(), l.lab, host, *svc); err != nil {
			t.Fatalf("restart %q: %v", r, err)
		}
	}
}

// expect returns nil when out contains want, else an error quoting out.
func expect(out, want string) error {
	if strings.Contains(out, want) {
		return nil
	}
	return fmt.Errorf("output does not contain %q:\n%s", want, out)
}

// routedLab is a client on a LAN behind a router, a server beyond it.
const routedLab = `apiVersion: netdojo/v1
metadata: {name: routed, title: Routed}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
    routes: [{to: default, via: 10.0.1.1}]
  router:
    interfaces: [{network: lan, ipv4: 10.0.1.1/24}, {network: wan, ipv4: 203.0.113.1/24}]
    sysctls: {net.ipv4.ip_forward: "1"}
  server:
    interfaces: [{network: wan, ipv4: 203.0.113.80/24}]
    routes: [{to: default, via: 203.0.113.1}]
    services:
      - {name: web, kind: http, params: {port: 80}}
networks:
  lan: {type: bridge}
  wan: {type: p2p}
`
