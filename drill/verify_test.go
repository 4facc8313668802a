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
