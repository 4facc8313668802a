package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

func TestInjectShowsTheSymptomAndRevertRemovesIt(t *testing.T) {
	before := sandboxtest.Take(t)
	state := t.TempDir()
	lab := name("fi")
	if out, code := nd(t, state, "start", "first-lab", "--no-faults", "--name", lab); code != 0 {
		t.Fatalf("start: exit %d\n%s", code, out)
	}
	// A test that stops early must not leave its lab behind.
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(state, "labs", lab)); err == nil {
			nd(t, state, "stop", lab)
		}
	})
	ncArgs := []string{"exec", lab, "client", "--", "nc", "-zv", "-w", "2", "203.0.113.80", "80"}
	if out, code := nd(t, state, ncArgs...); code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("before injection nc: exit %d\n%s", code, out)
	}
	out, code := nd(t, state, "inject", lab, "firewall-reject-host-prohibited", "--host", "server", "--param", "port=80", "--param", "chain=INPUT", "--name", "web-blocked")
	if code != 0 || !strings.Contains(out, `injected firewall-reject-host-prohibited as "web-blocked" on host server`) {
		t.Fatalf("inject: exit %d\n%s", code, out)
	}
	if out, code := nd(t, state, ncArgs...); code == 0 || !strings.Contains(out, "No route to host") {
		t.Errorf("after injection nc: exit %d\n%s", code, out)
	}
	if out, code := nd(t, state, "status", lab); code != 0 || strings.Contains(out, "web-blocked") || strings.Contains(out, "firewall-reject") {
		t.Errorf("status names the injected fault to a learner: exit %d\n%s", code, out)
	}
	if out, code := nd(t, state, "status", lab, "--reveal"); code != 0 || !strings.Contains(out, "web-blocked") {
		t.Errorf("status --reveal does not list the injected fault: exit %d\n%s", code, out)
	}
	data, err := os.ReadFile(filepath.Join(state, "labs", lab, "faults.json"))
	var rec []map[string]any
	if err != nil || json.Unmarshal(data, &rec) != nil || len(rec) != 1 || rec[0]["name"] != "web-blocked" || rec[0]["host"] != "server" {
		t.Errorf("the lab's fault record: %v\n%s", err, data)
	}

	t.Run("a second fault of the same name, a bad parameter or an unknown kind is a usage error", func(t *testing.T) {
		for _, args := range [][]string{
			{"inject", lab, "firewall-drop", "--host", "server", "--param", "port=80", "--name", "web-blocked"},
			{"inject", lab, "firewall-drop", "--host", "server", "--param", "port=http"},
			{"inject", lab, "firewall-drop", "--host", "server", "--param", "port"},
			{"inject", lab, "firewall-drop", "--param", "port=80"},
			{"inject", lab, "no-such-fault", "--host", "server"},
		} {
			if out, code := nd(t, state, args...); code != exitUsage {
				t.Errorf("%v: exit %d, want %d\n%s", args, code, exitUsage, out)
			}
		}
	})

	if out, code := nd(t, state, "-o", "json", "revert", lab, "firewall-reject-host-prohibited"); code != 0 || !strings.Contains(out, `"status": "reverted"`) {
		t.Fatalf("revert by kind: exit %d\n%s", code, out)
	}
	if out, code := nd(t, state, ncArgs...); code != 0 || !strings.Contains(out, "succeeded") {
		t.Errorf("after revert nc: exit %d\n%s", code, out)
	}
	if out, code := nd(t, state, "exec", lab, "server", "--", "iptables", "-S", "INPUT"); code != 0 || strings.TrimSpace(out) != "-P INPUT ACCEPT" {
		t.Errorf("the server's INPUT chain after revert: exit %d\n%s", code, out)
	}
	if out, code := nd(t, state, "revert", lab, "web-blocked"); code != exitFailed || !strings.Contains(out, "has no fault \"web-blocked\" injected") {
		t.Errorf("a second revert: exit %d\n%s", code, out)
	}
	if out, code := nd(t, state, "stop", lab); code != 0 {
		t.Fatalf("stop: exit %d\n%s", code, out)
	}
	sandboxtest.AssertNoLeftovers(t, sandbox.Store{Dir: state}, lab)
	sandboxtest.AssertUnchanged(t, before)
}

func TestFaultsListsAndShowsKinds(t *testing.T) {
	state := t.TempDir()
	out, code := nd(t, state, "faults", "--layer", "transport")
	if code != 0 || !strings.Contains(out, "firewall-drop") || !strings.Contains(out, "chain,proto,port") || strings.Contains(out, "no-default-route") {
		t.Errorf("faults --layer transport: exit %d\n%s", code, out)
	}
	out, code = nd(t, state, "faults", "service-localhost-only")
	if code != 0 || !strings.Contains(out, "symptom\n") || !strings.Contains(out, "127.0.0.1:PORT") || !strings.Contains(out, "parameters (--param NAME=VALUE)") {
		t.Errorf("faults service-localhost-only: exit %d\n%s", code, out)
	}
	out, code = nd(t, state, "-o", "json", "faults")
	var list []struct {
		Name   string `json:"name"`
		Layer  string `json:"layer"`
		Params []struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("faults --output json: exit %d\n%s", code, out)
	}
	found := map[string]string{}
	for _, k := range list {
		if len(k.Params) > 0 {
			found[k.Name] = k.Layer + " " + k.Params[0].Name
		} else {
			found[k.Name] = k.Layer
		}
	}
	if found["firewall-drop"] != "transport chain" || found["no-default-route"] != "network" {
		t.Errorf("faults --output json lists %v", found)
	}
	for _, bad := range [][]string{{"faults", "nope"}, {"faults", "--layer", "session"}} {
		if out, code := nd(t, state, bad...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", bad, code, exitUsage, out)
		}
	}
}
