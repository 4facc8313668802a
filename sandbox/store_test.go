package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

func TestNamespaceNamesNeverCollideBetweenLabs(t *testing.T) {
	// Every pair of (lab, host) that used to share LAB-HOST.
	pairs := [][2][2]string{
		{{"x", "y-z"}, {"x-y", "z"}},
		{{"a", "b-c-d"}, {"a-b-c", "d"}},
		{{"lab", "switch"}, {"lab", ""}}, // a host named switch and the lab's switch
	}
	for _, p := range pairs {
		a := sandbox.NetnsName(p[0][0], p[0][1])
		b := sandbox.SwitchNetnsName(p[1][0])
		if p[1][1] != "" {
			b = sandbox.NetnsName(p[1][0], p[1][1])
		}
		if a == b {
			t.Errorf("lab %q host %q and lab %q host %q share the namespace %q", p[0][0], p[0][1], p[1][0], p[1][1], a)
		}
	}
	for _, c := range []struct{ ns, lab, host string }{
		{"x.y-z", "x", "y-z"},
		{"x-y.z", "x-y", "z"},
		{"x._switch", "x", ""},
	} {
		lab, host, ok := sandbox.ParseNetnsName(c.ns)
		if !ok || lab != c.lab || host != c.host {
			t.Errorf("ParseNetnsName(%q) = %q, %q, %v; want %q, %q", c.ns, lab, host, ok, c.lab, c.host)
		}
	}
	for _, ns := range []string{"x-y-z", "x.y.z", "x._other", ".x", "x.", "X.y", "x/y.z", "x.y_z"} {
		if lab, host, ok := sandbox.ParseNetnsName(ns); ok {
			t.Errorf("ParseNetnsName(%q) = %q, %q: it is no lab's namespace", ns, lab, host)
		}
	}
}

func TestEveryStoreEntryPointRefusesABadLabName(t *testing.T) {
	root := t.TempDir()
	store := sandbox.Store{Dir: filepath.Join(root, "store")}
	for _, name := range []string{"", ".", "..", "../x", "../../elsewhere/x", "a/b", "A", "a.b", "a_b", "-a", "a-", "a b", strings.Repeat("a", 33)} {
		var ne *scenarios.NameError
		if _, err := store.Load(name); !errors.As(err, &ne) {
			t.Errorf("Load(%q) = %v, want a name error", name, err)
		}
		if _, err := store.Lock(name); !errors.As(err, &ne) {
			t.Errorf("Lock(%q) = %v, want a name error", name, err)
		}
		if _, _, err := store.LockLab(name); !errors.As(err, &ne) {
			t.Errorf("LockLab(%q) = %v, want a name error", name, err)
		}
		if err := store.Save(&sandbox.State{Lab: name}); !errors.As(err, &ne) {
			t.Errorf("Save(%q) = %v, want a name error", name, err)
		}
		if _, err := sandbox.Open(store, name); !errors.As(err, &ne) {
			t.Errorf("Open(%q) = %v, want a name error", name, err)
		}
		if err := sandbox.Stop(store, name); !errors.As(err, &ne) {
			t.Errorf("Stop(%q) = %v, want a name error", name, err)
		}
	}
	// Nothing was made, inside the store or beside it.
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("bad names made %v in %s", entries, root)
	}
}

func TestStopOfALabThatDoesNotExistLeavesNoLockFile(t *testing.T) {
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("store-n")
	if err := sandbox.Stop(store, name); !errors.Is(err, sandbox.ErrNoLab) {
		t.Errorf("stop of no lab: %v, want ErrNoLab", err)
	}
	if entries, _ := os.ReadDir(store.Dir); len(entries) != 0 {
		t.Errorf("stop of no lab left %v in the store", entries)
	}
}

// TestACraftedStateIsNeverActedOn: a state reached through a lab name with
// ../, and crafted states in the store, name a file, a directory and an
// unrelated process; stop and clean refuse and touch none of them.
func TestACraftedStateIsNeverActedOn(t *testing.T) {
	sandboxtest.NeedRoot(t, "writes links under /etc/netns and runs stop and clean over them")
	v := sandboxtest.NewVictims(t)
	root := t.TempDir()
	store := sandbox.Store{Dir: filepath.Join(root, "store")}
	pid := v.PID()
	// Outside the store, reached with ../ (netdojo stop ../../elsewhere/x).
	outside := "../../elsewhere/x"
	sandboxtest.WriteState(t, filepath.Join(root, "elsewhere", "x"), v.Crafted(outside))
	var ne *scenarios.NameError
	if err := sandbox.Stop(store, outside); !errors.As(err, &ne) {
		t.Errorf("stop %s: %v, want a name error", outside, err)
	}
	if _, err := os.Stat(filepath.Join(root, "elsewhere", "x.lock")); err == nil {
		t.Errorf("stop %s left a lock file outside the store", outside)
	}
	v.AssertAlive(t)

	// In the store, under valid names.
	evil := sandboxtest.LabName("store-evil")
	sandboxtest.WriteState(t, store.LabDir(evil), v.Crafted(evil))
	if err := sandbox.Stop(store, evil); !errors.Is(err, sandbox.ErrBadState) {
		t.Errorf("stop of a crafted state: %v, want ErrBadState", err)
	}
	// Names that are this lab's, but processes that are not: their start
	// time is right and they carry no lab marker.
	plausible := sandboxtest.LabName("store-plaus")
	sandboxtest.WriteState(t, store.LabDir(plausible), map[string]any{
		"lab": plausible, "status": "stopping", "switch_netns": sandbox.SwitchNetnsName(plausible),
		"hosts":      []map[string]any{{"name": "h", "netns": sandbox.NetnsName(plausible, "h")}},
		"namespaces": []string{sandbox.SwitchNetnsName(plausible), sandbox.NetnsName(plausible, "h")},
		"etc_dirs":   []string{filepath.Join(sandbox.EtcNetnsDir, sandbox.NetnsName(plausible, "h"))},
		"processes": []map[string]any{
			{"name": "p", "host": "h", "pid": pid, "start_time": v.Start, "log": filepath.Join(store.LabDir(plausible), "logs", "h-p.log")},
			// A process with no host (a drill's runner) passes the check,
			// and is still ended only when it carries the lab's marker.
			{"name": "drill-runner", "host": "", "pid": pid, "start_time": v.Start},
		},
	})
	// A lab's /etc/netns name that is someone else's link.
	foreign := sandboxtest.LabName("store-link")
	link := filepath.Join(sandbox.EtcNetnsDir, sandbox.NetnsName(foreign, "h"))
	os.MkdirAll(sandbox.EtcNetnsDir, 0o755)
	if err := os.Symlink(v.Dir, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(link); os.Remove(sandbox.EtcNetnsDir) })
	sandboxtest.WriteState(t, store.LabDir(foreign), map[string]any{
		"lab": foreign, "status": "stopping", "switch_netns": sandbox.SwitchNetnsName(foreign),
		"hosts":      []map[string]any{{"name": "h", "netns": sandbox.NetnsName(foreign, "h")}},
		"namespaces": []string{sandbox.SwitchNetnsName(foreign), sandbox.NetnsName(foreign, "h")},
		"etc_dirs":   []string{link},
	})
	reports, err := sandbox.Clean(store, true)
	if err == nil {
		t.Errorf("clean of crafted states succeeded: %+v", reports)
	}
	t.Logf("clean: %v", err)
	actions := map[string]sandbox.CleanReport{}
	for _, r := range reports {
		actions[r.Lab] = r
	}
	if r := actions[evil]; r.Action != "failed" || !strings.Contains(r.Error, "fails its checks") {
		t.Errorf("clean of %s: %+v, want failed saying the state fails its checks", evil, r)
	}
	if r := actions[plausible]; r.Action != "removed" {
		t.Errorf("clean of %s: %+v, want removed (its process is not the lab's, and left alone)", plausible, r)
	}
	if r := actions[foreign]; r.Action != "failed" || !strings.Contains(r.Error, "keeping "+link) {
		t.Errorf("clean of %s: %+v, want failed, keeping %s", foreign, r, link)
	}
	if target, err := os.Readlink(link); err != nil || target != v.Dir {
		t.Errorf("someone else's link %s was changed: %q, %v", link, target, err)
	}
	v.AssertAlive(t)
}

// sharedPrefixScenario is lab LAB with hosts h0..h20 and y-z, or (second)
// lab LAB-y with hosts z and h0..h3: under the old LAB-HOST naming both
// had a namespace LAB-y-z.
func sharedPrefixScenario(t *testing.T, second bool) *scenarios.Scenario {
	var b strings.Builder
	b.WriteString("apiVersion: netdojo/v1\nmetadata: {name: store-prefix, title: Shared prefixes}\nhosts:\n")
	hosts := []string{"y-z"}
	n := 21
	if second {
		hosts, n = []string{"z"}, 4
	}
	for i := 0; i < n; i++ {
		hosts = append(hosts, fmt.Sprintf("h%d", i))
	}
	for i, h := range hosts {
		fmt.Fprintf(&b, "  %s: {interfaces: [{network: lan, ipv4: 10.0.0.%d/24}]}\n", h, i+10)
	}
	b.WriteString("networks:\n  lan: {type: bridge}\n")
	s, err := scenarios.Load("prefix.yaml", []byte(b.String()), scenarios.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLabsWhoseNamesSharePrefixesRunSideBySide starts and stops lab L
// (hosts h0..h20 and y-z) and lab L-y (hosts z, h0..h3) concurrently, 20
// times each: neither is ever disturbed, and nothing is left.
func TestLabsWhoseNamesSharePrefixesRunSideBySide(t *testing.T) {
	before := sandboxtest.Take(t)
	store := sandboxtest.NewStore(t)
	first := sandboxtest.LabName("store-x")
	names := []string{first, first + "-y"}
	scens := []*scenarios.Scenario{sharedPrefixScenario(t, false), sharedPrefixScenario(t, true)}
	t.Cleanup(func() {
		sandbox.Clean(store, true)
		for _, n := range names {
			sandboxtest.AssertNoLeftovers(t, store, n)
		}
		sandboxtest.AssertUnchanged(t, before)
	})
	const rounds = 20
	var wg sync.WaitGroup
	for i := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, s := names[i], scens[i]
			for r := 0; r < rounds; r++ {
				time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
				lab, err := sandbox.Start(context.Background(), s, sandbox.Options{Name: name, Store: store})
				if err != nil {
					t.Errorf("round %d: starting %s: %v", r, name, err)
					return
				}
				st, err := store.Load(name)
				if err != nil || st.Status != sandbox.StatusRunning || len(st.Hosts) != len(s.Hosts) {
					t.Errorf("round %d: status of %s: %+v, %v", r, name, st, err)
				}
				for _, h := range s.Hosts {
					c, err := lab.Command(h.Name, "cat", "/etc/hostname")
					if err != nil {
						t.Errorf("round %d: %v", r, err)
						continue
					}
					if out, err := c.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != h.Name {
						t.Errorf("round %d: exec in %s/%s: %q, %v", r, name, h.Name, out, err)
					}
				}
				// The network inside is whole: the first host reaches the last.
				last := s.Hosts[len(s.Hosts)-1].Interfaces[0].IPv4.Addr().String()
				if c, err := lab.Command(s.Hosts[0].Name, "ping", "-c", "1", "-W", "2", last); err == nil {
					if out, err := c.CombinedOutput(); err != nil {
						t.Errorf("round %d: ping in %s: %v\n%s", r, name, err, out)
					}
				}
				lab.Close()
				if err := sandbox.Stop(store, name); err != nil {
					t.Errorf("round %d: stopping %s: %v", r, name, err)
					return
				}
				if left := sandbox.Leftovers(store, name); len(left) > 0 {
					t.Errorf("round %d: %s left %v", r, name, left)
				}
			}
		}()
	}
	wg.Wait()
}

// TestAFailedStartRemovesOnlyWhatItsRunMade: a namespace and an /etc/netns
// link under the lab's names that someone else made fail the start, and
// its rollback keeps them while removing what it made itself.
func TestAFailedStartRemovesOnlyWhatItsRunMade(t *testing.T) {
	before := sandboxtest.Take(t)
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("store-rb")
	s := builtin(t, "p2p-pair") // hosts left and right
	theirs, err := sandbox.CreateNetns(sandbox.NetnsName(name, "right"))
	if err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	link := filepath.Join(sandbox.EtcNetnsDir, sandbox.NetnsName(name, "left"))
	os.MkdirAll(sandbox.EtcNetnsDir, 0o755)
	if err := os.Symlink("/nonexistent/theirs", link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sandbox.DeleteNetns(sandbox.NetnsName(name, "right"))
		os.Remove(link)
		os.Remove(sandbox.EtcNetnsDir)
		sandboxtest.AssertNoLeftovers(t, store, name)
		sandboxtest.AssertUnchanged(t, before)
	})
	_, err = sandbox.Start(context.Background(), s, sandbox.Options{Name: name, Store: store})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("start over someone else's namespace: %v, want an error saying it exists", err)
	}
	t.Logf("start: %v", err)
	if !sandbox.NetnsExists(sandbox.NetnsName(name, "right")) {
		t.Error("the rollback removed a namespace its run did not make")
	}
	if target, err := os.Readlink(link); err != nil || target != "/nonexistent/theirs" {
		t.Errorf("the rollback removed or changed a link its run did not make: %q, %v", target, err)
	}
	for _, ns := range []string{sandbox.NetnsName(name, "left"), sandbox.SwitchNetnsName(name)} {
		if sandbox.NetnsExists(ns) {
			t.Errorf("the rollback left namespace %s, which its run made", ns)
		}
	}
	if _, err := store.Load(name); !errors.Is(err, sandbox.ErrNoLab) {
		t.Errorf("a state is left after the rollback: %v", err)
	}
}
