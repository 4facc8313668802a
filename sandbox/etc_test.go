package sandbox_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"golang.org/x/sys/unix"
)

// mountedAt is the filesystem type mounted at path, "" when none is.
func mountedAt(t *testing.T, path string) string {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mi), "\n") {
		f := strings.Fields(l)
		if len(f) > 8 && f[4] == path {
			for i := 6; i < len(f)-1; i++ {
				if f[i] == "-" {
					return f[i+1]
				}
			}
		}
	}
	return ""
}

// TestTheEtcFilesLiveOnATmpfsOfTheLabsOwn: on a store that is not on
// tmpfs (t.TempDir() here is on disk), each host's /etc files are written
// to a tmpfs mounted on the lab's etc directory; ip netns exec and the
// lab's own commands see them, and stop unmounts it. A lab killed before
// its stop leaves the mount, which Leftovers names and Stop removes.
func TestTheEtcFilesLiveOnATmpfsOfTheLabsOwn(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts a lab of network namespaces")
	store := sandboxtest.NewStore(t)
	var fs unix.Statfs_t
	if err := unix.Statfs(store.Dir, &fs); err != nil || fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the test's store is on tmpfs already: no mount is made")
	}
	name := sandboxtest.LabName("etc-")
	lab := startLab(t, store, builtin(t, "first-lab"), name)
	etc := filepath.Join(store.LabDir(name), sandbox.EtcDir)
	if got := mountedAt(t, etc); got != "tmpfs" {
		t.Fatalf("mounted at %s: %q, want tmpfs", etc, got)
	}
	host := lab.Scenario.Hosts[0].Name
	if got := strings.TrimSpace(run(t, lab, host, "cat", "/etc/hostname")); got != host {
		t.Errorf("/etc/hostname in host %s reads %q", host, got)
	}
	out, err := exec.Command("ip", "netns", "exec", sandbox.NetnsName(name, host), "cat", "/etc/hostname").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != host {
		t.Errorf("ip netns exec %s cat /etc/hostname: %q, %v", sandbox.NetnsName(name, host), out, err)
	}
	lab.Close()
	left := sandbox.Leftovers(store, name)
	if !strings.Contains(strings.Join(left, "\n"), "mount "+etc) {
		t.Errorf("Leftovers of a running lab do not name its etc mount: %q", left)
	}
	if err := sandbox.Stop(store, name); err != nil {
		t.Fatal(err)
	}
	if got := mountedAt(t, etc); got != "" {
		t.Errorf("after stop, %s is still mounted (%s)", etc, got)
	}
}
