package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// Inside a host the lab store is hidden: a learner's shell or exec lists
// no lab, cannot read the lab's state (its faults, its scenario and
// solution), not even through /proc/1/root (the lab init), while a
// command given a file of the lab directory by name (a service's @config,
// the shell's rc file) still reads it.
func TestTheLabStoreIsHiddenInHosts(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts a lab of network namespaces and a PID namespace")
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("red8-hide")
	lab, err := sandbox.Start(context.Background(), builtin(t, "p2p-pair"), sandbox.Options{Name: name, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		lab.Close()
		if err := sandbox.Stop(store, name); err != nil {
			t.Error(err)
		}
		sandboxtest.AssertNoLeftovers(t, store, name)
	}()
	secret := filepath.Join(lab.Dir(), "given.json")
	if err := os.WriteFile(secret, []byte(`{"kind":"given"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	labs := filepath.Join(store.Dir, "labs")
	run := func(argv ...string) string {
		t.Helper()
		cmd, err := lab.Command("left", argv...)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := run("sh", "-c", "ls -A "+labs+" /proc/1/root"+labs+" 2>&1; cat "+lab.Dir()+"/state.json /proc/1/root"+lab.Dir()+"/state.json 2>/dev/null"); strings.Contains(out, name) || strings.Contains(out, `"hosts"`) {
		t.Errorf("the lab store is visible inside a host:\n%s", out)
	}
	if out := run("cat", secret); out != `{"kind":"given"}` {
		t.Errorf("a file of the lab named on the command line was not passed: %q", out)
	}
	// The machine's own view is untouched.
	if _, err := os.Stat(filepath.Join(sandbox.NetnsDir, sandbox.NetnsName(name, "left"))); err != nil {
		t.Errorf("the machine lost the lab's namespace: %v", err)
	}
	if _, err := os.Stat(filepath.Join(lab.Dir(), "state.json")); err != nil {
		t.Errorf("the machine lost the lab's state: %v", err)
	}
}
