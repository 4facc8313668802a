package sandboxtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
)

// NewStore is a lab store of the test's own (under t.TempDir()), apart
// from real labs and other tests'.
func NewStore(t testing.TB) sandbox.Store { return sandbox.Store{Dir: t.TempDir()} }

// LabName is prefix and four random hex digits. Lab names are global on
// the machine (/run/netns): each suite keeps a prefix of its own.
func LabName(prefix string) string { return fmt.Sprintf("%s%04x", prefix, rand.IntN(1<<16)) }

// Starter starts a lab with the given options: sandbox.Start of a
// scenario, or a lifecycle that wraps it (services, setup, faults).
type Starter func(ctx context.Context, opts sandbox.Options) (*sandbox.Lab, error)

// StartLab starts lab name in store with start, skipping the test without
// root. Its cleanup closes the lab, stops it unless the test already did,
// and fails the test if anything of the lab is left (AssertNoLeftovers).
func StartLab(t testing.TB, store sandbox.Store, name string, start Starter) *sandbox.Lab {
	t.Helper()
	NeedRoot(t, "starts a lab of network namespaces")
	lab, err := start(context.Background(), sandbox.Options{Name: name, Store: store})
	if err != nil {
		t.Fatalf("starting lab %s: %v", name, err)
	}
	t.Cleanup(func() {
		lab.Close()
		if _, err := store.Load(name); err == nil {
			if err := sandbox.Stop(store, name); err != nil {
				t.Errorf("stopping lab %s: %v", name, err)
			}
		}
		AssertNoLeftovers(t, store, name)
	})
	return lab
}

// RunDir is a directory of the test's own under /run, beside
// /run/netdojo: benchmarks keep their lab stores there, so that they
// measure the filesystem netdojo's own store is on (tmpfs on most
// machines), not t.TempDir()'s. It is removed when the test ends.
func RunDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/run", "netdojo-bench-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
