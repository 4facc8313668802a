package drill

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/services"
)

// TestMain lets the test binary stand in for netdojo inside lab hosts
// (lab.Command re-executes it as __enter, services as __service).
// Tests that need root skip themselves without it.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case sandbox.EnterCommand:
			fmt.Fprintln(os.Stderr, sandbox.EnterMain(os.Args[2:]))
			os.Exit(4)
		case services.ServiceCommand:
			os.Exit(services.Main(os.Args[2:]))
		}
	}
	if os.Geteuid() == 0 {
		if err := sandbox.EnsureNetnsDir(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces")
	}
}

// labPrefix is a fresh lab name prefix: this helper's labs start with drill-.
func labPrefix() string { return fmt.Sprintf("drill-%04x-", rand.IntN(1<<16)) }
