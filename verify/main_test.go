package verify_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/netdojo/netdojo/lab/labtest"
)

// TestMain lets the test binary stand in for netdojo inside lab hosts.
func TestMain(m *testing.M) {
	labtest.Main(m, "verify")
}

// labName is a fresh lab name prefix for this suite.
func labName() string { return fmt.Sprintf("lab-v%04x", rand.IntN(1<<16)) }
