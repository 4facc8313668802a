package drill

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/services"
)

// TestMain lets the test binary stand in for netdojo inside lab hosts
// (lab.Command re-executes it as __enter, services as __service).
// Tests that need root skip themselves without it.
func TestMain(m *testing.M) {
	sandboxtest.Main(m, "drill", map[string]func([]string) int{services.ServiceCommand: services.Main})
}

func needRoot(t *testing.T) {
	t.Helper()
	sandboxtest.NeedRoot(t, "runs drills on labs of network namespaces")
}

// labPrefix is a fresh lab name prefix: this helper's labs start with drill-.
func labPrefix() string { return fmt.Sprintf("drill-%04x-", rand.IntN(1<<16)) }
