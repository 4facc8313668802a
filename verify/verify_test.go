package verify_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/lab/labtest"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/verify"
)

// verifyCase is a scenario and what Scenario must say of it: the phases that
// fail (every other phase must pass) and words each failure must contain.
type verifyCase struct {
	name string
	load func(t *testing.T) *scenarios.Scenario
	// failing maps a failing phase to a phrase its first problem contains.
	failing map[string]string
}

func loadTestdata(file string) func(t *testing.T) *scenarios.Scenario {
	return func(t *testing.T) *scenarios.Scenario {
		t.Helper()
		s, err := scenarios.LoadFile("testdata/"+file, labtest.Options(1))
		if err != nil {
			t.Fatalf("loading %s: %v", file, err)
		}
		return s
	}
}

// loadBuiltin loads a built-in scenario with seed 1.
func loadBuiltin(name string) func(t *testing.T) *scenarios.Scenario {
	return func(t *testing.T) *scenarios.Scenario { return labtest.Builtin(t, name, 1) }
}

var verifyCases = []verifyCase{
	{
		name: "first-lab passes every phase",
		load: loadBuiltin("first-lab"),
	},
	{
		name: "a wrong fix whose goal passes is caught because the task clears the fault",
		load: loadTestdata("sound/wrong-fix-caught-by-cleared.yaml"),
	},
	{
		name:    "a solution that does not fix the lab fails the solution phase",
		load:    loadTestdata("unsolvable.yaml"),
		failing: map[string]string{verify.PhaseSolution: "task reach-the-server still fails after the solution: tcp client to 203.0.113.80:80: Network is unreachable"},
	},
	{
		name:    "a check that passes while the lab is broken fails the broken phase",
		load:    loadTestdata("passes-while-broken.yaml"),
		failing: map[string]string{verify.PhaseBroken: "task ping-the-gateway passes while the lab is broken"},
	},
	{
		name:    "a wrong fix that passes fails its own wrong-fix phase",
		load:    loadTestdata("wrong-fix-passes.yaml"),
		failing: map[string]string{verify.PhaseWrongFix + " a route to the server's network only": `the wrong fix "a route to the server's network only" passes every task and invariant`},
	},
}

// TestVerify verifies the good and the bad scenarios together with
// All (two at a time), then checks each report and the JUnit XML of
// the whole run.
func TestVerify(t *testing.T) {
	sandboxtest.NeedRoot(t, "verifies scenarios on labs of network namespaces")
	t.Parallel()
	var ss []*scenarios.Scenario
	for _, c := range verifyCases {
		ss = append(ss, c.load(t))
	}
	store := sandbox.Store{Dir: t.TempDir()}
	prefix := labName()
	var labs []string
	reports := verify.All(context.Background(), ss, 2, func(i int) verify.Options {
		return verify.Options{Store: store, LabPrefix: fmt.Sprintf("%s-%d-", prefix, i)}
	})
	// Every lab Scenario can have made (at most healthy, broken and one per
	// wrong fix) must be gone.
	for i, s := range ss {
		for n := 1; n <= 2+len(s.WrongFixes); n++ {
			labs = append(labs, fmt.Sprintf("%s-%d-%d", prefix, i, n))
		}
	}
	t.Cleanup(func() {
		for _, lab := range labs {
			for _, l := range sandbox.Leftovers(store, lab) {
				t.Errorf("verify left %s of lab %s", l, lab)
			}
		}
	})
	if len(reports) != len(verifyCases) {
		t.Fatalf("All returned %d reports for %d scenarios", len(reports), len(verifyCases))
	}
	for i, c := range verifyCases {
		r := reports[i]
		t.Run(c.name, func(t *testing.T) {
			if r.Scenario != ss[i].Name {
				t.Fatalf("report %d is of %s, want %s (All must keep the order)", i, r.Scenario, ss[i].Name)
			}
			want := []string{verify.PhaseHealthy, verify.PhaseBroken, verify.PhaseSolution}
			for _, w := range ss[i].WrongFixes {
				want = append(want, verify.PhaseWrongFix+" "+w.Name)
			}
			want = append(want, verify.PhaseTeardown)
			var got []string
			for _, p := range r.Phases {
				got = append(got, p.Name)
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("phases = %q, want %q", got, want)
			}
			for _, p := range r.Phases {
				phrase, shouldFail := c.failing[p.Name]
				switch {
				case shouldFail && p.Pass:
					t.Errorf("phase %s passed; it must fail with %q\n%s", p.Name, phrase, strings.Join(p.Details, "\n"))
				case shouldFail && !strings.Contains(p.Problems[0], phrase):
					t.Errorf("phase %s fails with %q, want it to say %q", p.Name, p.Problems[0], phrase)
				case !shouldFail && !p.Pass:
					t.Errorf("phase %s fails: %s", p.Name, strings.Join(p.Problems, "; "))
				}
				if p.Pass && len(p.Problems) > 0 {
					t.Errorf("phase %s passes with problems %q", p.Name, p.Problems)
				}
				if p.Name != verify.PhaseTeardown && len(p.Details) == 0 {
					t.Errorf("phase %s says nothing of what it observed", p.Name)
				}
			}
			if r.Pass != (len(c.failing) == 0) {
				t.Errorf("report pass = %v, want %v", r.Pass, len(c.failing) == 0)
			}
			if r.Seed != 1 {
				t.Errorf("report seed = %d, want 1", r.Seed)
			}
		})
	}
	t.Run("the JUnit XML parses back with a suite per scenario and a case per phase", func(t *testing.T) {
		var buf bytes.Buffer
		if err := verify.JUnit(&buf, reports); err != nil {
			t.Fatal(err)
		}
		assertJUnit(t, buf.Bytes(), reports)
	})
}

// JUnit as CI systems read it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string  `xml:"name,attr"`
	Classname string  `xml:"classname,attr"`
	Time      float64 `xml:"time,attr"`
	Failure   *struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	} `xml:"failure"`
	SystemOut string `xml:"system-out"`
}

// assertJUnit parses JUnit XML and compares it with the reports.
func assertJUnit(t *testing.T, data []byte, reports []*verify.Report) {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("<?xml")) {
		t.Errorf("the JUnit file does not start with an XML header: %.40q", data)
	}
	var j junitSuites
	if err := xml.Unmarshal(data, &j); err != nil {
		t.Fatalf("parsing JUnit: %v\n%s", err, data)
	}
	if len(j.Suites) != len(reports) {
		t.Fatalf("%d suites for %d scenarios", len(j.Suites), len(reports))
	}
	total, totalFailed := 0, 0
	for i, r := range reports {
		s := j.Suites[i]
		if s.Name != r.Scenario {
			t.Errorf("suite %d is named %q, want %q", i, s.Name, r.Scenario)
		}
		failed := 0
		for _, p := range r.Phases {
			if !p.Pass {
				failed++
			}
		}
		if s.Tests != len(r.Phases) || len(s.Cases) != len(r.Phases) {
			t.Errorf("suite %s: tests=%d with %d cases, want %d phases", s.Name, s.Tests, len(s.Cases), len(r.Phases))
			continue
		}
		if s.Failures != failed {
			t.Errorf("suite %s: failures=%d, want %d", s.Name, s.Failures, failed)
		}
		n := 0
		for k, p := range r.Phases {
			c := s.Cases[k]
			if c.Name != p.Name || c.Classname != "netdojo.verify."+r.Scenario {
				t.Errorf("suite %s case %d is %q (class %q), want %q", s.Name, k, c.Name, c.Classname, p.Name)
			}
			if (c.Failure != nil) == p.Pass {
				t.Errorf("suite %s case %s: failure element present = %v, phase pass = %v", s.Name, p.Name, c.Failure != nil, p.Pass)
			}
			if c.Failure != nil {
				n++
				if c.Failure.Message != p.Problems[0] || !strings.Contains(c.Failure.Text, p.Problems[len(p.Problems)-1]) {
					t.Errorf("suite %s case %s: failure %q does not carry the problems %q", s.Name, p.Name, c.Failure.Message, p.Problems)
				}
			}
			if len(p.Details) > 0 && !strings.Contains(c.SystemOut, p.Details[0]) {
				t.Errorf("suite %s case %s: system-out lacks the observations", s.Name, p.Name)
			}
			if c.Time < 0 || (c.Time == 0 && p.Elapsed.Milliseconds() > 1) {
				t.Errorf("suite %s case %s: time %v for a phase of %s", s.Name, p.Name, c.Time, p.Elapsed)
			}
		}
		if n != s.Failures {
			t.Errorf("suite %s: %d failure elements but failures=%d", s.Name, n, s.Failures)
		}
		total += s.Tests
		totalFailed += s.Failures
	}
	if j.Tests != total || j.Failures != totalFailed {
		t.Errorf("testsuites: tests=%d failures=%d, want %d and %d", j.Tests, j.Failures, total, totalFailed)
	}
}

// seededScenario's port and process name are drawn from the seed; its solution
// answers the PID task with the value computed from the live lab.
const seededScenario = `apiVersion: netdojo/v1
metadata: {name: ck-seeded, title: "Who holds the port, drawn from the seed"}
params:
  - {name: port, choice: ["443", "8443", "4443", "9443"]}
  - {name: squatter, choice: [nginx, apache2, caddy, envoy]}
story: The client lost its default route, and something holds a port on the server.
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
      - {name: holder, kind: squatter, params: {port: "${port}", name: "${squatter}"}}
networks:
  lan: {type: bridge}
  wan: {type: p2p}
faults:
  - kind: no-default-route
    host: client
tasks:
  - id: reach-the-server
    prompt: Make the web server reachable from client.
    # clears nothing: the invariant on the drawn port is what must catch
    # the wrong fix here.
    clears: []
    check:
      reach: {from: client, to: server, port: 80, expect: open}
      within: 1s
  - id: who-holds-the-port
    prompt: Which PID holds TCP port ${port} on server?
    answer: {computed: pid-of-port, host: server, port: "${port}"}
invariants:
  - name: the squatter still holds its port
    check:
      sockets: {host: server, state: listen, port: "${port}", process: "${squatter}", min: 1}
  - name: the squatter's port still answers the router
    check:
      reach: {from: router, to: server, port: "${port}", expect: open}
      within: 1s
solution:
  - {host: client, run: ip route add default via 10.0.1.1}
  - {task: who-holds-the-port, answer: COMPUTED}
wrong_fixes:
  - name: routing the server's network only and closing the port asked about
    steps:
      - {host: client, run: ip route add 203.0.113.0/24 via 10.0.1.1}
      - {host: server, run: "iptables -A INPUT -p tcp --dport ${port} -j REJECT --reject-with tcp-reset"}
`

// TestVerifySeededScenario verifies a scenario under two seeds that draw
// different ports: both pass, the solution's ${computed} answer is the
// PID read from each live lab, and the wrong fix is caught by an
// invariant that follows the drawn port.
func TestVerifySeededScenario(t *testing.T) {
	sandboxtest.NeedRoot(t, "verifies a seeded scenario on labs of network namespaces")
	t.Parallel()
	sa, sb := labtest.SeedsApart(t, seededScenario, "port")
	for _, seed := range []uint64{sa, sb} {
		s := labtest.Load(t, seededScenario, seed)
		// The scenario format rejects ${computed} as an undefined
		// parameter, so it is set here, as the format documents it.
		for i := range s.Solution {
			if s.Solution[i].Answer == "COMPUTED" {
				s.Solution[i].Answer = "${computed}"
			}
		}
		store := sandbox.Store{Dir: t.TempDir()}
		prefix := labName()
		r := verify.Scenario(context.Background(), s, verify.Options{Store: store, LabPrefix: prefix + "-"})
		for n := 1; n <= 3; n++ {
			for _, l := range sandbox.Leftovers(store, fmt.Sprintf("%s-%d", prefix, n)) {
				t.Errorf("seed %d: verify left %s", seed, l)
			}
		}
		if !r.Pass || r.Seed != seed {
			for _, p := range r.Phases {
				t.Logf("%s pass=%v problems=%q details=%q", p.Name, p.Pass, p.Problems, p.Details)
			}
			t.Fatalf("seed %d (port %s): pass=%v, report seed %d", seed, s.Values["port"], r.Pass, r.Seed)
		}
		var solution, wrong string
		for _, p := range r.Phases {
			switch {
			case p.Name == verify.PhaseSolution:
				solution = strings.Join(p.Details, "\n")
			case strings.HasPrefix(p.Name, verify.PhaseWrongFix):
				wrong = strings.Join(p.Details, "\n")
			}
		}
		if !regexp.MustCompile(`task who-holds-the-port: you answered "\d+"`).MatchString(solution) {
			t.Errorf("seed %d: the solution did not answer a PID:\n%s", seed, solution)
		}
		if want := `invariant "the squatter's port still answers the router" is broken: tcp router to 203.0.113.80:` + s.Values["port"]; !strings.Contains(wrong, want) {
			t.Errorf("seed %d: the wrong fix was not caught by the invariant on the drawn port (%s):\n%s", seed, want, wrong)
		}
	}
}
