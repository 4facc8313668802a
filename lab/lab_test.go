package lab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/lab/labtest"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

// TestMain lets the test binary stand in for netdojo inside lab hosts.
func TestMain(m *testing.M) {
	labtest.Main(m, "lab")
}

// orderLab proves the order of a start in its own setup: the server's
// setup fails unless its web service already listens and the scenario's
// fault (a DROP of port 80) is not yet there.
const orderLab = `
apiVersion: netdojo/v1
metadata: {name: order, title: Order}
hosts:
  client:
    interfaces: [{network: wire, ipv4: 10.0.9.1/24}]
  server:
    interfaces: [{network: wire, ipv4: 10.0.9.2/24}]
    services:
      - {name: web, kind: http, params: {port: 80, body: "hi\n"}}
    setup:
      - "ss -Htln 'sport = :80' | grep -q ."
      - "! iptables -S INPUT | grep -q -- '-j DROP'"
networks:
  wire: {type: p2p}
faults:
  - kind: firewall-drop
    host: server
    params: {chain: INPUT, port: 80}
tasks:
  - id: reach
    prompt: Reach the web server.
    check:
      reach: {from: client, to: server, port: 80, expect: open}
`

// start starts a lab named lab-XXXX of s (labtest.Start).
func start(t *testing.T, s *scenarios.Scenario, withFaults bool) *sandbox.Lab {
	t.Helper()
	return labtest.Start(t, sandboxtest.LabName("lab-"), s, withFaults)
}

func TestStartRunsServicesThenSetupThenFaultsThenTheBaseline(t *testing.T) {
	s := labtest.Load(t, orderLab, 1)
	l := start(t, s, true)
	fs := lab.NewFaults(l, s)
	t.Run("the fault is injected after the setup, which saw the service listening", func(t *testing.T) {
		if err := fs.Observe(context.Background(), 0); err != nil {
			t.Errorf("the fault's symptom is not observed after start: %v", err)
		}
		if err := fs.Cleared(context.Background(), 0); err == nil {
			t.Error("the fault is judged cleared right after start")
		}
		if name, err := fs.Name(0); err != nil || name != "firewall-drop" {
			t.Errorf("fault 0 is named %q (%v), want firewall-drop", name, err)
		}
	})
	t.Run("the baseline records the processes as they were at start", func(t *testing.T) {
		if lab.BaselineFile != checker.BaselineFile {
			t.Fatalf("lab writes %s but the checker reads %s", lab.BaselineFile, checker.BaselineFile)
		}
		data, err := os.ReadFile(filepath.Join(l.Dir(), lab.BaselineFile))
		if err != nil {
			t.Fatal(err)
		}
		var ps []sandbox.Process
		if err := json.Unmarshal(data, &ps); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ps, l.State.Processes) {
			t.Errorf("baseline %+v, want the lab's processes %+v", ps, l.State.Processes)
		}
		if len(ps) == 0 || ps[len(ps)-1].Name != "web" {
			t.Errorf("the baseline does not name the web service: %+v", ps)
		}
	})
	t.Run("reverting the scenario's fault clears it", func(t *testing.T) {
		a, err := lab.Revert(context.Background(), l, s, "firewall-drop")
		if err != nil {
			t.Fatal(err)
		}
		if a.Name != "firewall-drop" || len(l.State.Faults) != 0 {
			t.Errorf("reverted %q, faults left in the state: %q", a.Name, l.State.Faults)
		}
		if err := fs.Cleared(context.Background(), 0); err != nil {
			t.Errorf("the fault is not judged cleared once reverted: %v", err)
		}
	})
}

func TestStartWithoutFaultsThenInjectAndRevert(t *testing.T) {
	s := labtest.Load(t, orderLab, 1)
	l := start(t, s, false)
	fs := lab.NewFaults(l, s)
	if err := fs.Cleared(context.Background(), 0); err != nil {
		t.Errorf("a lab started without its faults has fault 0 not cleared: %v", err)
	}
	params, err := scenarios.ParseParams(faults.Registry{}, "firewall-drop", []string{"port=80"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := lab.Inject(context.Background(), l, s, "drop-web", "firewall-drop", "server", params)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := faults.Records(l)
	if err != nil || len(rs) != 1 || rs[0].Name != "drop-web" || rs[0].Origin != faults.OriginInject {
		t.Fatalf("records after inject: %+v (%v), want drop-web injected", rs, err)
	}
	if err := fs.Cleared(context.Background(), 0); err == nil {
		t.Error("the scenario's fault kind is judged cleared while an injected one drops the same port")
	}
	if _, err := lab.Inject(context.Background(), l, s, "drop-web", "firewall-drop", "server", params); err == nil || !strings.Contains(err.Error(), "already has a fault named") {
		t.Errorf("a second inject under the same name: %v", err)
	}
	if _, err := lab.Revert(context.Background(), l, s, a.Name); err != nil {
		t.Fatal(err)
	}
	if rs, err := faults.Records(l); err != nil || len(rs) != 0 {
		t.Errorf("records after revert: %+v (%v), want none", rs, err)
	}
	if err := fs.Cleared(context.Background(), 0); err != nil {
		t.Errorf("not cleared after revert: %v", err)
	}
}

func TestStartRollsBackAFailingSetup(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts a lab of network namespaces")
	s := labtest.Load(t, strings.Replace(orderLab, `      - "ss -Htln 'sport = :80' | grep -q ."`, `      - "echo broken; exit 3"`, 1), 1)
	store := sandbox.Store{Dir: t.TempDir()}
	name := fmt.Sprintf("lab-%04x", rand.IntN(1<<16))
	l, err := lab.Start(context.Background(), s, sandbox.Options{Name: name, Store: store}, true)
	if err == nil {
		l.Close()
		lab.Stop(store, name)
		t.Fatal("a start whose setup fails succeeded")
	}
	want := `setup of host "server": "echo broken; exit 3": exit status 3: broken`
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	sandboxtest.AssertNoLeftovers(t, store, name)
}

// runIn runs a shell command in a host of a running lab.
func runIn(t *testing.T, l *sandbox.Lab, host, script string) (string, error) {
	t.Helper()
	cmd, err := l.Command(host, "sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestRunStep(t *testing.T) {
	s := labtest.Load(t, orderLab, 1)
	l := start(t, s, false)
	ctx := context.Background()
	t.Run("a step ends with its shell, whatever it leaves in the background", func(t *testing.T) {
		out, err := lab.RunStep(ctx, l, scenarios.Step{Host: "client", Run: "sleep 91 & echo started"})
		if err != nil || out != "started\n" {
			t.Errorf("step: %q, %v; want started and no error", out, err)
		}
	})
	t.Run("a failing step returns its output and exit status", func(t *testing.T) {
		out, err := lab.RunStep(ctx, l, scenarios.Step{Host: "client", Run: "echo oops >&2; exit 4"})
		if err == nil || err.Error() != "exit status 4" || out != "oops\n" {
			t.Errorf("step: %q, %v; want oops and exit status 4", out, err)
		}
	})
	t.Run("an interrupted step is killed with its process group", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			for {
				if out, _ := runIn(t, l, "client", "pgrep -fx 'sleep 92' || true"); strings.TrimSpace(out) != "" {
					cancel()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		_, err := lab.RunStep(cctx, l, scenarios.Step{Host: "client", Run: "sleep 92; echo not killed"})
		if err == nil || !strings.HasPrefix(err.Error(), "interrupted: ") {
			t.Fatalf("interrupted step: %v, want interrupted", err)
		}
		var left string
		for i := 0; i < 50; i++ {
			if left, _ = runIn(t, l, "client", "pgrep -fx 'sleep 92' || true"); strings.TrimSpace(left) == "" {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if strings.TrimSpace(left) != "" {
			t.Errorf("the step's child still runs after the interruption: PID %s", left)
		}
	})
	t.Run("a step in an unknown host fails", func(t *testing.T) {
		if _, err := lab.RunStep(ctx, l, scenarios.Step{Host: "nowhere", Run: "true"}); err == nil {
			t.Error("a step in an unknown host ran")
		}
	})
}

func TestService(t *testing.T) {
	s := labtest.Load(t, orderLab, 1)
	l := start(t, s, false)
	ctx := context.Background()
	pid := func() int {
		for _, p := range l.State.Processes {
			if p.Host == "server" && p.Name == "web" && p.Alive() {
				return p.PID
			}
		}
		return 0
	}
	first := pid()
	if first == 0 {
		t.Fatal("the web service does not run after start")
	}
	if err := lab.Service(ctx, l, s, "server", "web", "stop"); err != nil {
		t.Fatal(err)
	}
	if p := pid(); p != 0 {
		t.Errorf("web still runs as PID %d after stop", p)
	}
	// A service step goes through the lab's own scenario.
	l.Scenario = s
	if _, err := lab.RunStep(ctx, l, scenarios.Step{Host: "server", Service: "web", Action: "start"}); err != nil {
		t.Fatal(err)
	}
	if out, err := runIn(t, l, "server", "ss -Htln 'sport = :80'"); err != nil || strings.TrimSpace(out) == "" {
		t.Errorf("nothing listens on port 80 after the service started again: %q %v", out, err)
	}
	if second := pid(); second == 0 || second == first {
		t.Errorf("web runs as PID %d after start, was %d", second, first)
	}
	if err := lab.Service(ctx, l, s, "server", "web", "reload"); err == nil || err.Error() != `"reload" is not start, stop or restart` {
		t.Errorf("reload: %v", err)
	}
	if err := lab.CheckService(s, "server", "db"); err == nil || err.Error() != `host "server" runs no service "db"` {
		t.Errorf("an unknown service: %v", err)
	}
	if err := lab.CheckService(s, "server", "web"); err != nil {
		t.Errorf("the web service: %v", err)
	}
}
