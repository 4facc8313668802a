package drill

import (
	"strings"
	"testing"

	"github.com/netdojo/netdojo/scenarios"
)

func TestEveryBuiltinDrillLoads(t *testing.T) {
	lib := Library()
	if len(lib) < 4 {
		t.Fatalf("%d built-in drills; want at least 4", len(lib))
	}
	for _, b := range lib {
		for _, seed := range []uint64{0, 1, 2} {
			d, err := scenarios.LoadDrill(b.Path, b.Data, LoadOptions(seed))
			if err != nil {
				t.Errorf("%s (seed %d): %v", b.Name, seed, err)
				continue
			}
			if d.Name != b.Name {
				t.Errorf("%s: metadata.name is %q; name the file after the drill", b.Path, d.Name)
			}
			faults := 0
			for _, s := range d.Timeline {
				faults += len(s.Faults)
			}
			if faults == 0 {
				t.Errorf("%s: no fault in the timeline", b.Name)
			}
		}
	}
}

func TestAPoolDrawsByTheSeed(t *testing.T) {
	b, err := LookupBuiltin("k8s-deploy-endpoints")
	if err != nil {
		t.Fatal(err)
	}
	drawn := map[string]bool{}
	for seed := uint64(1); seed <= 16; seed++ {
		d, err := scenarios.LoadDrill(b.Path, b.Data, LoadOptions(seed))
		if err != nil {
			t.Fatal(err)
		}
		again, _ := scenarios.LoadDrill(b.Path, b.Data, LoadOptions(seed))
		got, want := d.Step("deploy").Faults[0].FaultName(), again.Step("deploy").Faults[0].FaultName()
		if got != want {
			t.Fatalf("seed %d drew %s, then %s", seed, got, want)
		}
		drawn[got] = true
	}
	if len(drawn) != 2 {
		t.Errorf("16 seeds drew only %v from a pool of two", drawn)
	}
}

func TestABadDrillGetsEveryProblemWithItsPlace(t *testing.T) {
	bad := `apiVersion: netdojo/v1
kind: Drill
metadata: {name: bad, title: Bad}
lab: {scenario: first-lab}
service:
  every: often
  check:
    sockets: {host: client, state: listen}
limit: 20m
timelime: []
timeline:
  - id: one
    at: 1m
    after_red: 2m
    message: {text: hi, to: boss}
  - id: two
    after_cleared: one
    fault:
      kind: interface-dwn
      host: nowhere
      declare: x
      fix: []
      diagnosis: {pattern: x}
`
	_, err := scenarios.LoadDrill("bad.yaml", []byte(bad), LoadOptions(0))
	if err == nil {
		t.Fatal("a bad drill loaded")
	}
	msg := err.Error()
	for _, want := range []string{
		`bad.yaml:10:1: timelime: unknown field "timelime"; did you mean "timeline"?`,
		`bad.yaml:6:10: service.every: "often" is not a duration`,
		`service.check: the service probe is a synthetic user`,
		`timeline[0]: an inject has exactly one trigger`,
		`timeline[0].message.to: role "boss" is not defined`,
		`timeline[1].after_cleared: "one" is not an earlier inject with a fault or pool`,
		`timeline[1].fault.kind: unknown fault kind "interface-dwn"; did you mean "interface-down"?`,
		`timeline[1].fault.host: host "nowhere" is not defined`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the problems lack %q:\n%s", want, msg)
		}
	}
}

func TestADrillFileLoadsAsItsLabForScenarioCommands(t *testing.T) {
	b, _ := LookupBuiltin("gateway-502")
	s, err := scenarios.Load(b.Path, b.Data, LoadOptions(1))
	if err != nil {
		t.Fatal(err)
	}
	if s.Host("gw") == nil || len(s.Faults) != 0 || len(s.Invariants) != 1 {
		t.Errorf("the lab of gateway-502: hosts %d, faults %d, invariants %d", len(s.Hosts), len(s.Faults), len(s.Invariants))
	}
}
