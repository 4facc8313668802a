package probe

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// Test fixtures for the socket and capture tests, on sandboxtest's
// harness: namespaces named "ndsc-<random>", veth pairs created with the
// peer already in its namespace, and processes started inside them. Every
// fixture registers its own cleanup and a final check that nothing is left
// behind.

func scRequireRoot(t testing.TB) {
	t.Helper()
	sandboxtest.NeedRoot(t, "creates network namespaces for sockets and captures")
}

func scRandSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// scNewNetns creates a namespace with loopback up (sandboxtest.NewNetns).
func scNewNetns(t testing.TB) *sandbox.Netns {
	t.Helper()
	scRequireRoot(t)
	return sandboxtest.NewNetns(t, "ndsc-")
}

// The shared namespace helpers, under this suite's names.
var (
	scVeth     = sandboxtest.Link   // a veth pair, the peer born in its namespace
	scRun      = sandboxtest.Run    // `ip netns exec` a command that must succeed
	scStart    = sandboxtest.Start  // a long-running command, ended at cleanup
	scDialIn   = sandboxtest.Dial   // dial an IP literal from inside a namespace
	scListenIn = sandboxtest.Listen // listen inside a namespace
)

// scWaitFor polls cond until it holds (sandboxtest.WaitFor).
func scWaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	sandboxtest.WaitFor(t, what, func() (bool, string) { return cond(), "" })
}

func scMust(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}
