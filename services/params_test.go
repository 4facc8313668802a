package services

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Catalog() {
		t.Run(k.Name+" is complete and unique", func(t *testing.T) {
			if k.Name == "" || k.Summary == "" || k.Doc == "" || k.NewParams == nil || k.Run == nil || k.Ready == nil {
				t.Errorf("kind %q lacks a field: %+v", k.Name, k)
			}
			if seen[k.Name] {
				t.Errorf("kind %q is listed twice", k.Name)
			}
			seen[k.Name] = true
			if got, ok := Lookup(k.Name); !ok || got.Name != k.Name {
				t.Errorf("Lookup(%q) = %v, %v", k.Name, got, ok)
			}
			if n := k.NewParams().ProcessName(); len(n) > 15 {
				t.Errorf("process name %q is longer than 15 characters", n)
			}
			if reflect.TypeOf(k.NewParams()).Kind() != reflect.Pointer {
				t.Errorf("NewParams must return a pointer")
			}
		})
	}
	if _, ok := Lookup("telnetd"); ok {
		t.Error("Lookup found a kind that does not exist")
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func TestEveryParameterIsTaggedAndDocumented(t *testing.T) {
	var check func(t *testing.T, typ reflect.Type)
	check = func(t *testing.T, typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			y, j, doc := f.Tag.Get("yaml"), f.Tag.Get("json"), f.Tag.Get("doc")
			name, opts, _ := strings.Cut(y, ",")
			if !snakeCase.MatchString(name) || opts != "omitempty" || j != y {
				t.Errorf("%s.%s: want yaml and json tags \"snake_case,omitempty\" alike; got yaml %q json %q", typ.Name(), f.Name, y, j)
			}
			if doc == "" || !strings.HasSuffix(doc, ".") || strings.ToUpper(doc[:1]) != doc[:1] {
				t.Errorf("%s.%s: want a doc tag with one sentence; got %q", typ.Name(), f.Name, doc)
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				check(t, f.Type.Elem())
			}
		}
	}
	for _, k := range Catalog() {
		t.Run(k.Name, func(t *testing.T) { check(t, reflect.TypeOf(k.NewParams()).Elem()) })
	}
}

func TestDecodeParams(t *testing.T) {
	cases := []struct {
		name, kind, json, wantErr string
	}{
		{"good parameters decode and get defaults", "http", `{"port": 8080}`, ""},
		{"empty parameters take every default", "tcp-echo", ``, ""},
		{"an unknown parameter is an error", "http", `{"prot": 8080}`, `unknown field "prot"`},
		{"trailing data is an error", "http", `{} {}`, "trailing data"},
		{"an unknown kind names the known ones", "telnetd", `{}`, `unknown service kind "telnetd"; known kinds: [dns http`},
		{"a bad port names the field", "http", `{"port": 70000}`, "port: 70000 is not a port; give 1-65535"},
		{"a bad duration says how to write one", "http", `{"delay": "3 seconds"}`, `delay: "3 seconds" is not a duration; write it like "200ms" or "2s"`},
		{"a bad listen address names the field", "tcp-echo", `{"listen": "eth0"}`, `listen: "eth0" is not an IP address`},
		{"a status out of range is an error", "http", `{"status": 42}`, "status: 42 is out of range; give 100 to 599"},
		{"body and body_size exclude each other", "http", `{"body": "x", "body_size": 10}`, "body: give body or body_size, not both"},
		{"a proxy needs a backend", "proxy", `{}`, "backend: required"},
		{"a proxy backend must be IP:port", "proxy", `{"backend": "web:80"}`, `backend: "web:80" is not IP:port`},
		{"a zone record must parse", "dns", `{"zones": [{"origin": "corp.test.", "records": ["www 300 IN A not-an-ip"]}]}`, `zones[0].records[0]: "www 300 IN A not-an-ip"`},
		{"a zone record must lie inside its zone", "dns", `{"zones": [{"origin": "corp.test.", "records": ["www.other.test. 300 IN A 10.0.0.1"]}]}`, `zones[0].records[0]: "www.other.test." is outside the zone "corp.test."`},
		{"a zone needs an origin", "dns", `{"zones": [{"records": []}]}`, "zones[0].origin: required"},
		{"a fault mode must be known", "dns", `{"faults": [{"name": "www.corp.test.", "mode": "explode"}]}`, `faults[0].mode: "explode" is not a fault mode; give one of nxdomain, servfail, refused, timeout, slow, truncated, wrong`},
		{"mode wrong needs an answer", "dns", `{"faults": [{"name": "www.corp.test.", "mode": "wrong"}]}`, "faults[0].answer: mode wrong needs the records"},
		{"delay only goes with slow", "dns", `{"faults": [{"name": "www.corp.test.", "mode": "servfail", "delay": "1s"}]}`, `faults[0].delay: only mode "slow" uses it`},
		{"a fault type must be a record type", "dns", `{"faults": [{"name": "www.corp.test.", "type": "AAAAA", "mode": "servfail"}]}`, `faults[0].type: "AAAAA" is not a record type`},
		{"forwarders must be addresses", "dns", `{"forwarders": ["ns1.corp.test"]}`, `forwarders[0]: "ns1.corp.test" is not an IP address or IP:port`},
		{"forwarders and roots exclude each other", "dns", `{"forwarders": ["10.0.0.1"], "roots": ["10.0.0.2"]}`, "forwarders: give forwarders or roots, not both"},
		{"a squatter name is at most 15 characters", "squatter", `{"name": "a-very-long-daemon-name"}`, `name: "a-very-long-daemon-name" is 23 characters; the kernel keeps at most 15`},
		{"a squatter protocol is tcp or udp", "squatter", `{"protocol": "sctp"}`, `protocol: "sctp" is not one of tcp, udp`},
		{"a churner needs a target", "churner", `{}`, "target: required"},
		{"a churner closer is client or server", "churner", `{"target": "10.0.0.1:80", "closer": "both"}`, `closer: "both" is not one of client, server`},
		{"a delayer queue is 0-65535", "delayer", `{"queue": 70000}`, "queue: 70000 is out of range; give 0 to 65535"},
		{"a delayer jitter is no larger than the delay", "delayer", `{"delay": "10ms", "jitter": "20ms"}`, "delay: 10ms±20ms (delay±jitter) is out of range"},
		{"a slow reader reads at least a byte", "slow-reader", `{"read_bytes": -1}`, "read_bytes: -1 is out of range"},
		{"a backlog is 1-4096", "backlog", `{"backlog": 100000}`, "backlog: 100000 is out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeParams(tc.kind, []byte(tc.json))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("no error; want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %q; want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestCheckFillsDefaults(t *testing.T) {
	cases := []struct {
		name string
		p    Params
		want Params
	}{
		{"dns listens on 53", &DNSParams{}, &DNSParams{Port: 53}},
		{"http answers 200 on 80", &HTTPParams{}, &HTTPParams{Port: 80, Status: 200, Body: "hello from netdojo\n"}},
		{"a squatter holds tcp 443 as nc", &SquatterParams{}, &SquatterParams{Port: 443, Protocol: "tcp", Name: "nc"}},
		{"a churner makes 100 connections at 10/s and closes first", &ChurnerParams{Target: "10.0.0.1:80"}, &ChurnerParams{Target: "10.0.0.1:80", Count: 100, Rate: 10, Closer: "client"}},
		{"a backlog is 1 on 8090", &BacklogParams{}, &BacklogParams{Port: 8090, Backlog: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Check(); err != nil {
				t.Fatal(err)
			}
			if err := tc.want.Check(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tc.p, tc.want) {
				t.Errorf("got %+v, want %+v", tc.p, tc.want)
			}
		})
	}
	t.Run("the echo services default to port 7", func(t *testing.T) {
		for _, kind := range []string{"tcp-echo", "udp-echo"} {
			p, err := DecodeParams(kind, nil)
			if err != nil || p.(*ListenParams).Port != 7 {
				t.Errorf("%s: port %d, err %v; want 7", kind, p.(*ListenParams).Port, err)
			}
		}
	})
}

func TestMainRejectsBadArguments(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"no arguments is a usage error", nil},
		{"an unknown kind is a usage error", []string{"telnetd", "{}"}},
		{"bad parameters are a usage error", []string{"http", `{"prot": 1}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if code := Main(tc.args); code != ExitUsage {
				t.Errorf("Main(%q) = %d, want %d", tc.args, code, ExitUsage)
			}
		})
	}
}

func TestReference(t *testing.T) {
	ref := Reference()
	if ref != Reference() {
		t.Fatal("Reference is not deterministic")
	}
	for _, k := range Catalog() {
		t.Run(k.Name+" is documented with every parameter", func(t *testing.T) {
			if !strings.Contains(ref, "\n## "+k.Name+"\n") || !strings.Contains(ref, k.Doc) {
				t.Errorf("no section for %s", k.Name)
			}
			for _, f := range Fields(k.NewParams()) {
				row := "| `" + f.Path + "` | " + f.Type + " | "
				if !strings.Contains(ref, row) {
					t.Errorf("no row %q", row)
				}
			}
		})
	}
	t.Run("nested dns parameters are flattened", func(t *testing.T) {
		for _, path := range []string{"zones[].origin", "zones[].records", "faults[].mode", "faults[].answer"} {
			if !strings.Contains(ref, "`"+path+"`") {
				t.Errorf("no row for %s", path)
			}
		}
	})
}
