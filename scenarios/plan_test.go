package scenarios_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

const planScenario = `apiVersion: netdojo/v1
metadata: {name: plan, title: plan}
networks:
  lan: {type: bridge}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.0.2/24}]
  server:
    interfaces: [{network: lan, ipv4: 10.0.0.10/24}]
    services:
      - {name: web, kind: http}
      - name: dns
        kind: dns
        params:
          zones: [{origin: corp.test., records: ["www A 10.0.0.10"]}]
faults:
  - {kind: firewall-drop, host: server, params: {port: 80}}
  - {name: lossy, kind: packet-loss, host: client}
`

func registries() scenarios.Options {
	return scenarios.Options{Services: services.Registry{}, Faults: faults.Registry{}}
}

// field reads an exported field of a parameter struct by its Go name.
func field(t *testing.T, p any, name string) reflect.Value {
	t.Helper()
	v := reflect.Indirect(reflect.ValueOf(p)).FieldByName(name)
	if !v.IsValid() {
		t.Fatalf("%T has no field %s", p, name)
	}
	return v
}

// sameType tells whether p has the type reg gives kind.
func sameType(reg scenarios.Registry, kind string, p any) bool {
	want, ok := reg.Params(kind)
	return ok && p != nil && reflect.TypeOf(p) == reflect.TypeOf(want)
}

func TestThePlanHoldsEveryParameterDecodedAndChecked(t *testing.T) {
	s, err := scenarios.Load("plan.yaml", []byte(planScenario), registries())
	if err != nil {
		t.Fatal(err)
	}
	srv := s.Host("server")
	for _, svc := range srv.Services {
		if !sameType(services.Registry{}, svc.Kind, svc.Params) {
			t.Errorf("service %s holds %T, not its kind's parameters", svc.Name, svc.Params)
		}
	}
	for _, f := range s.Faults {
		if !sameType(faults.Registry{}, f.Kind, f.Params) {
			t.Errorf("fault %s holds %T, not its kind's parameters", f.Kind, f.Params)
		}
	}
	t.Run("defaults are filled in by Check", func(t *testing.T) {
		web := srv.Services[0].Params.(scenarios.HTTPResponder)
		if web.HTTPPort() != 80 {
			t.Errorf("the http service's port is %d, want the default 80", web.HTTPPort())
		}
		if body, _ := web.HTTPBody("/"); body != "hello from netdojo\n" {
			t.Errorf("the http service's body is %q, want the default", body)
		}
		if body, _ := web.HTTPBody("/health"); body != "ok\n" {
			t.Errorf("the health path answers %q, want ok", body)
		}
		if got := field(t, s.Faults[0].Params, "Port").Int(); got != 80 {
			t.Errorf("firewall-drop port is %d, want 80", got)
		}
	})
	t.Run("a DNS server's zones are read through the plan's interface", func(t *testing.T) {
		zones := srv.Services[1].Params.(scenarios.DNSServer).DNSZones()
		if len(zones) != 1 || zones[0].Origin != "corp.test." || len(zones[0].Records) != 1 {
			t.Errorf("zones: %+v", zones)
		}
	})
	t.Run("without a registry the parameters are not decoded", func(t *testing.T) {
		bare, err := scenarios.Load("plan.yaml", []byte(planScenario), scenarios.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if p := bare.Host("server").Services[0].Params; p != nil {
			t.Errorf("params %T without a registry", p)
		}
	})
}

func TestACopyOfTheParametersIsTheCallersOwn(t *testing.T) {
	s, err := scenarios.Load("plan.yaml", []byte(planScenario), registries())
	if err != nil {
		t.Fatal(err)
	}
	dns := s.Host("server").Services[1]
	a, b := dns.ParamsCopy().(*services.DNSParams), dns.ParamsCopy().(*services.DNSParams)
	a.Zones[0].Records[0] = "www A 10.0.0.99"
	a.Zones = append(a.Zones, services.DNSZone{Origin: "x.test."})
	a.Faults = append(a.Faults, services.DNSFault{Name: "www.corp.test.", Mode: "servfail"})
	for what, p := range map[string]*services.DNSParams{"the plan's": dns.Params.(*services.DNSParams), "another copy's": b} {
		if len(p.Zones) != 1 || p.Zones[0].Records[0] != "www A 10.0.0.10" || len(p.Faults) != 0 {
			t.Errorf("changing a copy changed %s parameters: %+v", what, p)
		}
	}
	if err := a.Check(); err != nil {
		t.Errorf("a changed copy no longer checks: %v", err)
	}
	t.Run("each Resolve of a fault has its own parameters", func(t *testing.T) {
		r1, err := faults.Resolve(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := faults.Resolve(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		field(t, r1.Params, "Port").SetInt(443)
		if got := field(t, r2.Params, "Port").Int(); got != 80 {
			t.Errorf("a second Resolve sees port %d", got)
		}
		if got := field(t, s.Faults[0].Params, "Port").Int(); got != 80 {
			t.Errorf("the plan sees port %d", got)
		}
	})
	if scenarios.CopyParams(nil) != nil {
		t.Error("a copy of no parameters is not nil")
	}
}

func TestEveryDrillFaultHoldsItsCheckedParameters(t *testing.T) {
	for _, b := range drill.Library() {
		d, err := scenarios.LoadDrill(b.Path, b.Data, drill.LoadOptions(1))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, st := range d.Timeline {
			for _, f := range st.Faults {
				n++
				if !sameType(faults.Registry{}, f.Kind, f.Params) {
					t.Errorf("%s: inject %s: fault %s holds %T", b.Name, st.ID, f.FaultName(), f.Params)
				}
			}
		}
		for _, h := range d.Lab.Hosts {
			for _, svc := range h.Services {
				if !sameType(services.Registry{}, svc.Kind, svc.Params) {
					t.Errorf("%s: service %s on %s holds %T", b.Name, svc.Name, h.Name, svc.Params)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no fault in the timeline", b.Name)
		}
	}
}

func TestParseParamsReadsACommandLineAsAScenarioWould(t *testing.T) {
	reg := faults.Registry{}
	cases := []struct {
		name  string
		kind  string
		pairs []string
		field string
		want  any
	}{
		{"a number is a number", "firewall-drop", []string{"port=80"}, "Port", int64(80)},
		{"a comma makes a list", "wrong-search-domain", []string{"search=a.test,b.test", "name=www"}, "Search", []string{"a.test", "b.test"}},
		{"YAML flow is a list too", "wrong-search-domain", []string{"search=[a.test]", "name=www"}, "Search", []string{"a.test"}},
		{"a quoted comma is one string", "custom", []string{`inject="echo a,b"`, "revert=true", "symptom=true", "cleared=true"}, "Inject", "echo a,b"},
		{"text that YAML reads as a mapping stays text", "custom", []string{"inject=echo a: b", "revert=true", "symptom=true", "cleared=true"}, "Inject", "echo a: b"},
		{"no pairs give the kind's defaults", "packet-loss", nil, "Probability", 0.3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := scenarios.ParseParams(reg, c.kind, c.pairs)
			if err != nil {
				t.Fatal(err)
			}
			if !sameType(reg, c.kind, p) {
				t.Fatalf("%T is not the kind's parameters", p)
			}
			v := field(t, p, c.field)
			var got any
			switch v.Kind() {
			case reflect.Int:
				got = v.Int()
			default:
				got = v.Interface()
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s = %#v, want %#v", c.field, got, c.want)
			}
		})
	}
	bad := []struct {
		name  string
		kind  string
		pairs []string
		want  string
	}{
		{"a value of the wrong type names the parameter", "firewall-drop", []string{"port=http"}, `--param port: "http" is not an integer`},
		{"a missing required parameter is named", "firewall-drop", nil, "--param port: required"},
		{"a failed check names the parameter", "packet-loss", []string{"probability=2"}, "--param probability: 2 is out of range"},
		{"an unknown parameter suggests the near one", "firewall-drop", []string{"prot=tcp"}, `--param prot: unknown field "prot"; did you mean "proto"?`},
		{"a pair without = says how to write it", "firewall-drop", []string{"port"}, "write it as NAME=VALUE"},
		{"a parameter given twice is refused", "firewall-drop", []string{"port=80", "port=81"}, "--param port is given twice"},
		{"a list where one value goes is refused", "firewall-drop", []string{"port=80", "source=10.0.0.1,10.0.0.2"}, "--param source: must be a single value, not a list"},
		{"an unknown kind is refused", "no-such-kind", nil, `unknown kind "no-such-kind"`},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := scenarios.ParseParams(reg, c.kind, c.pairs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to say %q", err, c.want)
			}
		})
	}
}

func TestTheRawFileWritesParametersAsValuesInJSON(t *testing.T) {
	s, err := scenarios.Load("plan.yaml", []byte(planScenario), registries())
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(s.Raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Kind":"firewall-drop","Host":"server","Accepts":null,"Params":{"port":80}`, `"Params":{"zones":[{"origin":"corp.test.","records":["www A 10.0.0.10"]}]}`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("show -o json does not hold %s:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), `"Line"`) {
		t.Errorf("show -o json holds a YAML node:\n%s", data)
	}
}
