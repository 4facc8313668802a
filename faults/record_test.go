package faults_test

import (
	"context"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

// rules lists a host's filter rules as iptables -S prints them.
func rules(t *testing.T, l *labEnv, host string) string {
	t.Helper()
	out, err := l.run(host, "iptables", "-S")
	if err != nil {
		t.Fatalf("iptables -S: %v\n%s", err, out)
	}
	return out
}

func TestInjectRecordsAndRevertUndoesExactlyThat(t *testing.T) {
	before := sandboxtest.Take(t)
	l := startTestLab(t, routedLab)
	ctx := context.Background()
	const rule = "-A INPUT -p tcp -m tcp --dport 80 -j DROP"
	const second = "-A INPUT -p tcp -m tcp --dport 22 -j REJECT --reject-with tcp-reset"

	if _, err := faults.Inject(ctx, l.lab, l.s, "", "firewall-drop", "server", typedParams(t, "firewall-drop", "{port: 80}")); err != nil {
		t.Fatal(err)
	}
	if _, err := faults.Inject(ctx, l.lab, l.s, "ssh", "firewall-reject-tcp-reset", "server", typedParams(t, "firewall-reject-tcp-reset", "{port: 22}")); err != nil {
		t.Fatal(err)
	}
	if got := rules(t, l, "server"); !strings.Contains(got, rule) || !strings.Contains(got, second) {
		t.Fatalf("the server's rules lack the injected ones:\n%s", got)
	}
	if got := strings.Join(l.lab.State.Faults, ","); got != "firewall-drop,ssh" {
		t.Errorf("the lab's state names the faults %q", got)
	}
	t.Run("the same name twice is refused and changes nothing", func(t *testing.T) {
		_, err := faults.Inject(ctx, l.lab, l.s, "", "firewall-drop", "server", typedParams(t, "firewall-drop", "{port: 443}"))
		if err == nil || !strings.Contains(err.Error(), `already has a fault named "firewall-drop"`) {
			t.Errorf("second injection under the same name: %v", err)
		}
		if got := rules(t, l, "server"); strings.Contains(got, "443") {
			t.Errorf("a refused injection added a rule:\n%s", got)
		}
	})
	t.Run("bad parameters, an unknown host or service are refused and record nothing", func(t *testing.T) {
		bad := []struct{ kind, host, params, want string }{
			{"firewall-drop", "server", "{port: 0, chain: INPUT}", "port: required"},
			{"firewall-drop", "server", "{port: 80, chain: PREROUTING}", `chain: "PREROUTING" is not one of`},
			{"firewall-drop", "nowhere", "{port: 80}", `no host "nowhere"`},
			{"service-not-running", "server", "{service: nope}", `has no service "nope"`},
			{"no-such-kind", "server", "{}", "unknown fault kind"},
		}
		for _, b := range bad {
			var p any
			var err error
			if _, known := faults.Lookup(b.kind); known {
				p, err = scenarios.ParamsFromYAML(faults.Registry{}, b.kind, b.params)
			}
			if err == nil {
				_, err = faults.Inject(ctx, l.lab, l.s, "bad", b.kind, b.host, p)
			}
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Errorf("%s on %s %s: error %v, want it to say %q", b.kind, b.host, b.params, err, b.want)
			}
		}
		rs, err := faults.Records(l.lab)
		if err != nil || len(rs) != 2 {
			t.Errorf("records after refused injections: %+v, %v", rs, err)
		}
	})

	// Another netdojo process: the lab opened from its state alone.
	other, err := sandbox.Open(l.lab.Store(), l.lab.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	a, err := faults.RevertByName(ctx, other, l.s, "firewall-drop")
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind.Name != "firewall-drop" || a.Host != "server" || a.Params.(*faults.FirewallParams).Port != 80 {
		t.Errorf("reverted %+v", a)
	}
	if got := rules(t, l, "server"); strings.Contains(got, rule) || !strings.Contains(got, second) {
		t.Errorf("revert of firewall-drop did not remove exactly its rule:\n%s", got)
	}
	// By kind, when one fault of that kind is left.
	if _, err := faults.RevertByName(ctx, other, l.s, "firewall-reject-tcp-reset"); err != nil {
		t.Fatal(err)
	}
	if got := rules(t, l, "server"); strings.Contains(got, second) {
		t.Errorf("revert by kind left the rule:\n%s", got)
	}
	if _, err := faults.RevertByName(ctx, other, l.s, "ssh"); err == nil || !strings.Contains(err.Error(), "has no fault applied") {
		t.Errorf("reverting twice: %v", err)
	}
	if rs, err := faults.Records(other); err != nil || len(rs) != 0 {
		t.Errorf("records after both reverts: %+v, %v", rs, err)
	}
	if st, err := l.lab.Store().Load(l.lab.Name); err != nil || len(st.Faults) != 0 {
		t.Errorf("the saved state after both reverts names %v (%v)", st.Faults, err)
	}
	sandboxtest.AssertUnchanged(t, before)
}

func TestAScenarioFaultIsRevertedByNameOrKind(t *testing.T) {
	before := sandboxtest.Take(t)
	yml := routedLab + "faults:\n  - {name: web-blocked, kind: firewall-reject-port-unreachable, host: router, params: {chain: FORWARD, port: 80}}\n"
	l := startTestLab(t, yml)
	ctx := context.Background()
	if err := faults.ApplyAll(ctx, l.lab, l.s); err != nil {
		t.Fatal(err)
	}
	if out := nc(l, "client", serverAddress, "80"); !strings.Contains(out, ncRefused) {
		t.Fatalf("the scenario's fault does not show: %s", out)
	}
	if _, err := faults.RevertByName(ctx, l.lab, l.s, "firewall-reject-port-unreachable"); err != nil {
		t.Fatal(err)
	}
	if out := nc(l, "client", serverAddress, "80"); !strings.Contains(out, ncSucceeded) {
		t.Errorf("after revert: %s", out)
	}
	if len(l.lab.State.Faults) != 0 {
		t.Errorf("the lab's state still lists %v", l.lab.State.Faults)
	}
	sandboxtest.AssertUnchanged(t, before)
}
