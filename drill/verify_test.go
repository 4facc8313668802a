package drill

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

// verifyBuiltin verifies one built-in drill and fails the test with the
// report's problems.
func verifyBuiltin(t *testing.T, name string) {
	needRoot(t)
	before := sandboxtest.Take(t)
	b, err := LookupBuiltin(name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := scenarios.LoadDrill(b.Path, b.Data, LoadOptions(1))
	if err != nil {
		t.Fatal(err)
	}
	store := sandbox.Store{Dir: t.TempDir()}
	var log strings.Builder
	rep := Verify(context.Background(), d, VerifyOptions{Store: store, LabPrefix: labPrefix(), Log: &log})
	for _, p := range rep.Phases {
		t.Logf("%s pass=%v %s", p.Name, p.Pass, p.Elapsed)
		for _, d := range p.Details {
			t.Logf("   . %s", d)
		}
		for _, pr := range p.Problems {
			t.Errorf("%s: %s", p.Name, pr)
		}
	}
	if !rep.Pass && os.Getenv("DRILL_LOG") != "" {
		t.Log(log.String())
	}
	sandboxtest.AssertUnchanged(t, before)
}

func TestVerifyGateway502(t *testing.T)         { verifyBuiltin(t, "gateway-502") }
func TestVerifyCheckoutPMTU(t *testing.T)       { verifyBuiltin(t, "checkout-pmtu") }
func TestVerifyAPICloseWait(t *testing.T)       { verifyBuiltin(t, "api-close-wait") }
func TestVerifyK8sDeployEndpoints(t *testing.T) { verifyBuiltin(t, "k8s-deploy-endpoints") }

// TestVerifyRefusesAnInvariantThatNeverHolds: the engine counts an
// invariant as damage only once it has held, so an invariant naming a
// process that never runs would pass every drill unseen; verify judges
// every invariant after the reference response.
func TestVerifyRefusesAnInvariantThatNeverHolds(t *testing.T) {
	needRoot(t)
	b, err := LookupBuiltin("gateway-502")
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Replace(string(b.Data), "process: proxyd,", "process: no-such-proxy,", 1)
	if data == string(b.Data) {
		t.Fatal("gateway-502 has no invariant on the proxyd process any more; pick another")
	}
	d, err := scenarios.LoadDrill(b.Path, []byte(data), LoadOptions(1))
	if err != nil {
		t.Fatal(err)
	}
	rep := Verify(context.Background(), d, VerifyOptions{Store: sandbox.Store{Dir: t.TempDir()}, LabPrefix: labPrefix()})
	if rep.Pass {
		t.Fatal("verify passed a drill whose invariant never holds")
	}
	found := false
	for _, p := range rep.Phases {
		for _, pr := range p.Problems {
			found = found || strings.Contains(pr, "does not hold after the reference response")
		}
	}
	if !found {
		t.Errorf("verify failed, but not for the invariant: %+v", rep.Phases)
	}
}
