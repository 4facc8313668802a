package sandboxtest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

func TestMain(m *testing.M) { sandboxtest.Main(m, "sandboxtest", nil) }

// TestTheHarnessImportsNoSuiteItServes: probe, services, faults and
// checker tests import sandboxtest, some from inside their own package; if
// sandboxtest imported one of them, that suite would not build (an import
// cycle).
func TestTheHarnessImportsNoSuiteItServes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 2 {
		t.Fatalf("go list found no dependencies: %q", deps)
	}
	for _, d := range deps {
		for _, pkg := range []string{"probe", "services", "faults", "checker", "drill", "cmd/netdojo"} {
			if d == "github.com/netdojo/netdojo/"+pkg {
				t.Errorf("sandboxtest imports %s, whose tests import sandboxtest", d)
			}
		}
	}
}

// TestAPairPassesPacketsAndLeavesNothing: two namespaces joined by a veth
// answer pings at once; when the test that made them ends, the namespaces,
// their /etc/netns directories and a process left running in one are gone,
// and the machine's own namespace is as it was.
func TestAPairPassesPacketsAndLeavesNothing(t *testing.T) {
	before := sandboxtest.Take(t)
	var names []string
	t.Run("a pair", func(t *testing.T) {
		a, b := sandboxtest.Pair(t, "tests-pair-", "10.99.0.1/24", "10.99.0.2/24")
		names = []string{a.Name(), b.Name()}
		out := sandboxtest.Run(t, a, "ping", "-c", "1", "-W", "2", "10.99.0.2")
		if !strings.Contains(out, "1 received") {
			t.Errorf("ping across the pair:\n%s", out)
		}
		if _, code := sandboxtest.Exec(t, a, "ping", "-c", "1", "-W", "1", "10.99.0.3"); code == 0 {
			t.Error("ping of an address nobody holds succeeded")
		}
		sandboxtest.WriteEtc(t, b, "hosts", "10.99.0.1 a.test\n")
		if out := sandboxtest.Run(t, b, "getent", "hosts", "a.test"); !strings.Contains(out, "10.99.0.1") {
			t.Errorf("/etc/hosts in the namespace: %q", out)
		}
		sandboxtest.Start(t, b, "sleep", "600")
	})
	for _, n := range names {
		if sandbox.NetnsExists(n) {
			t.Errorf("namespace %s is left", n)
		}
		if _, err := os.Lstat(filepath.Join(sandbox.EtcNetnsDir, n)); err == nil {
			t.Errorf("/etc/netns/%s is left", n)
		}
	}
	if len(names) != 2 {
		t.Fatalf("the pair was not made: %q", names)
	}
	sandboxtest.AssertUnchanged(t, before)
}

// TestAStartedLabIsStoppedAtTheEnd: StartLab's cleanup stops the lab, so
// that nothing of it is left once the test that started it ends.
func TestAStartedLabIsStoppedAtTheEnd(t *testing.T) {
	b, err := scenarios.LookupBuiltin("p2p-pair")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenarios.Load(b.Path, b.Data, scenarios.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("tests-lab-")
	t.Run("a lab", func(t *testing.T) {
		lab := sandboxtest.StartLab(t, store, name, func(ctx context.Context, o sandbox.Options) (*sandbox.Lab, error) {
			return sandbox.Start(ctx, s, o)
		})
		if len(sandboxtest.Leftovers(store, name)) == 0 {
			t.Errorf("a running lab %s has nothing to leave: the leftover check sees nothing", lab.Name)
		}
	})
	if left := sandboxtest.Leftovers(store, name); len(left) > 0 {
		t.Errorf("lab %s left %q", name, left)
	}
}

// TestWaitForWaitsUntilTheConditionHolds: it returns once cond holds, and
// not before.
func TestWaitForWaitsUntilTheConditionHolds(t *testing.T) {
	n := 0
	sandboxtest.WaitFor(t, "the third call", func() (bool, string) {
		n++
		return n == 3, "call " + string(rune('0'+n))
	})
	if n != 3 {
		t.Errorf("WaitFor returned after %d calls, want 3", n)
	}
}
