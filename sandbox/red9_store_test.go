package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

// within fails the test if fn has not returned after a generous bound: a
// read of the store that blocks forever would hang every command.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s never returned: it blocks", what)
	}
}

// TestAFileOfTheStoreThatIsNotARegularFileIsRefused: a state.json that is
// a FIFO (open blocks until a writer comes, which never does) or a
// directory, and a lab's scenario.yaml that is a FIFO, are refused at once
// as a state that fails its checks, by Load, Stop, Clean and ReadLabFile;
// nothing hangs.
func TestAFileOfTheStoreThatIsNotARegularFileIsRefused(t *testing.T) {
	store := sandbox.Store{Dir: filepath.Join(t.TempDir(), "store")}
	fifo := "red9-fifo"
	os.MkdirAll(store.LabDir(fifo), 0o755)
	if err := syscall.Mkfifo(filepath.Join(store.LabDir(fifo), "state.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := "red9-dir"
	os.MkdirAll(filepath.Join(store.LabDir(dir), "state.json"), 0o755)
	dangling := "red9-dangling"
	os.MkdirAll(store.LabDir(dangling), 0o755)
	if err := os.Symlink("/nonexistent/state.json", filepath.Join(store.LabDir(dangling), "state.json")); err != nil {
		t.Fatal(err)
	}
	for _, lab := range []string{fifo, dir, dangling} {
		within(t, "Load of "+lab, func() {
			if _, err := store.Load(lab); !errors.Is(err, sandbox.ErrBadState) {
				t.Errorf("Load(%s): %v, want ErrBadState", lab, err)
			}
		})
		within(t, "Stop of "+lab, func() {
			if err := sandbox.Stop(store, lab); !errors.Is(err, sandbox.ErrBadState) {
				t.Errorf("Stop(%s): %v, want ErrBadState", lab, err)
			}
		})
	}
	within(t, "Clean", func() {
		reports, err := sandbox.Clean(store, true)
		if err == nil {
			t.Errorf("clean succeeded over a FIFO and a directory as states: %+v", reports)
		}
		for _, r := range reports {
			if r.Action != "failed" {
				t.Errorf("clean of %s: %+v, want failed", r.Lab, r)
			}
		}
	})
	scen := "red9-scen"
	sandboxtest.WriteState(t, store.LabDir(scen), map[string]any{"lab": scen, "status": "running", "switch_netns": sandbox.SwitchNetnsName(scen)})
	if err := syscall.Mkfifo(filepath.Join(store.LabDir(scen), sandbox.ScenarioFile), 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, "ReadLabFile of a FIFO", func() {
		if _, err := store.ReadLabFile(scen, sandbox.ScenarioFile, 1<<20); !errors.Is(err, sandbox.ErrBadState) {
			t.Errorf("ReadLabFile of a FIFO: %v, want ErrBadState", err)
		}
	})
	os.Remove(filepath.Join(store.LabDir(scen), sandbox.ScenarioFile))
	os.WriteFile(filepath.Join(store.LabDir(scen), sandbox.ScenarioFile), []byte(strings.Repeat("x", 100)), 0o644)
	if _, err := store.ReadLabFile(scen, sandbox.ScenarioFile, 99); !errors.Is(err, sandbox.ErrBadState) {
		t.Errorf("ReadLabFile of a file over its bound: %v, want ErrBadState", err)
	}
	if data, err := store.ReadLabFile(scen, sandbox.ScenarioFile, 100); err != nil || len(data) != 100 {
		t.Errorf("ReadLabFile of a file at its bound: %d bytes, %v", len(data), err)
	}
	if _, err := store.ReadLabFile(scen, "progress.json", 100); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadLabFile of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := store.ReadLabFile("../x", "state.json", 100); err == nil {
		t.Errorf("ReadLabFile of lab ../x: no error")
	}
}

// TestCleanReportsEveryEntryOfTheStoreItCannotUse: a lab directory that
// is a symbolic link out of the store, or a stray file, in the store's
// labs directory is reported by Clean (failed, exit 1) and left alone;
// clean never says there was nothing to clean while they are there.
func TestCleanReportsEveryEntryOfTheStoreItCannotUse(t *testing.T) {
	root := t.TempDir()
	store := sandbox.Store{Dir: filepath.Join(root, "store")}
	elsewhere := filepath.Join(root, "elsewhere", "red9-ln")
	sandboxtest.WriteState(t, elsewhere, map[string]any{"lab": "red9-ln", "status": "stopping", "switch_netns": sandbox.SwitchNetnsName("red9-ln")})
	os.MkdirAll(filepath.Join(store.Dir, "labs"), 0o755)
	if err := os.Symlink(elsewhere, store.LabDir("red9-ln")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store.LabDir("red9-stray"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	labs, err := store.Labs()
	if err != nil || strings.Join(labs, ",") != "red9-ln,red9-stray" {
		t.Errorf("Labs() = %v, %v; want both entries", labs, err)
	}
	reports, err := sandbox.Clean(store, true)
	if err == nil {
		t.Errorf("clean succeeded: %+v", reports)
	}
	got := map[string]string{}
	for _, r := range reports {
		got[r.Lab] = r.Action
	}
	for _, lab := range []string{"red9-ln", "red9-stray"} {
		if got[lab] != "failed" {
			t.Errorf("clean of %s: %q, want failed", lab, got[lab])
		}
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "state.json")); err != nil {
		t.Errorf("the state the link points to was touched: %v", err)
	}
	if fi, err := os.Lstat(store.LabDir("red9-ln")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link in the store was touched: %v", err)
	}
}

// TestStartNeverWritesThroughALeftoverLabDirectory: a lab directory with
// no state (a start killed before its first state, or planted) holds
// symbolic links where start writes: the scenario's copy to a file, a
// host's /etc directory to a directory, the logs to a directory. Start
// writes through none of them: what it finds there is a leftover, and it
// starts from an empty directory of its own.
func TestStartNeverWritesThroughALeftoverLabDirectory(t *testing.T) {
	before := sandboxtest.Take(t)
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("red9-pl")
	victims := t.TempDir()
	file := filepath.Join(victims, "file")
	os.WriteFile(file, []byte("precious\n"), 0o644)
	dir := filepath.Join(victims, "dir")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "hosts"), []byte("precious\n"), 0o644)
	labDir := store.LabDir(name)
	os.MkdirAll(filepath.Join(labDir, "etc"), 0o755)
	for link, target := range map[string]string{
		filepath.Join(labDir, sandbox.ScenarioFile): file,
		filepath.Join(labDir, "etc", "left"):        dir,
		filepath.Join(labDir, "logs"):               dir,
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		sandboxtest.AssertNoLeftovers(t, store, name)
		sandboxtest.AssertUnchanged(t, before)
	})
	lab, err := sandbox.Start(context.Background(), builtin(t, "p2p-pair"), sandbox.Options{Name: name, Store: store, ScenarioYAML: []byte("name: x\n")})
	if err != nil {
		t.Fatalf("start over a leftover lab directory: %v", err)
	}
	lab.Close()
	if _, err := lab.Spawn("left", "sleeper", "sleep", "60"); err != nil {
		t.Errorf("spawn: %v", err)
	}
	if err := sandbox.Stop(store, name); err != nil {
		t.Errorf("stop: %v", err)
	}
	if data, _ := os.ReadFile(file); string(data) != "precious\n" {
		t.Errorf("start wrote through a link to %s: %q", file, data)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "hosts")); string(data) != "precious\n" {
		t.Errorf("start wrote through a link to %s: hosts is %q", dir, data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("start wrote into %s through a link: %v", dir, names)
	}
}

// TestAStoreWhoseDirectoriesAreLinksIsRefused: the store's labs or locks
// directory is a symbolic link to another directory (labs -> a home
// directory). Clean, Stop, Load, Lock and Save refuse it and touch
// nothing there; before, clean removed every directory it found there.
func TestAStoreWhoseDirectoriesAreLinksIsRefused(t *testing.T) {
	for _, sub := range []string{"labs", "locks"} {
		t.Run(sub, func(t *testing.T) {
			root := t.TempDir()
			store := sandbox.Store{Dir: filepath.Join(root, "store")}
			home := filepath.Join(root, "home")
			thesis := filepath.Join(home, "alice", "thesis")
			os.MkdirAll(filepath.Dir(thesis), 0o755)
			os.WriteFile(thesis, []byte("precious\n"), 0o644)
			os.WriteFile(filepath.Join(home, "bob.lock"), []byte("precious\n"), 0o644)
			os.MkdirAll(store.Dir, 0o755)
			if err := os.Symlink(home, filepath.Join(store.Dir, sub)); err != nil {
				t.Fatal(err)
			}
			if reports, err := sandbox.Clean(store, true); !errors.Is(err, sandbox.ErrBadState) {
				t.Errorf("clean: %+v, %v; want ErrBadState", reports, err)
			}
			if err := sandbox.Stop(store, "alice"); err == nil {
				t.Errorf("stop alice: no error")
			}
			if _, err := store.Load("alice"); !errors.Is(err, sandbox.ErrBadState) {
				t.Errorf("Load: %v, want ErrBadState", err)
			}
			if l, err := store.Lock("carol"); !errors.Is(err, sandbox.ErrBadState) {
				l.ReleaseAndRemove()
				t.Errorf("Lock: %v, want ErrBadState", err)
			}
			if err := store.Save(&sandbox.State{Lab: "carol", Status: sandbox.StatusStarting}); !errors.Is(err, sandbox.ErrBadState) {
				t.Errorf("Save: %v, want ErrBadState", err)
			}
			if data, _ := os.ReadFile(thesis); string(data) != "precious\n" {
				t.Errorf("%s was removed or changed", thesis)
			}
			if data, _ := os.ReadFile(filepath.Join(home, "bob.lock")); string(data) != "precious\n" {
				t.Errorf("bob.lock was removed or changed")
			}
			if entries, _ := os.ReadDir(home); len(entries) != 2 {
				t.Errorf("%s holds %d entries, want the 2 it had", home, len(entries))
			}
		})
	}
}

// TestCleanReportsStrayLockEntriesItLeaves: the store's locks directory
// holds entries clean may not remove: a lock file whose name breaks the
// name rule, and a lock that is a symbolic link to a file elsewhere.
// Clean leaves both, and the file the link names, and reports each
// (failed, exit 1) instead of saying there was nothing to clean; a stray
// lock of a lab that is gone is removed, as before.
func TestCleanReportsStrayLockEntriesItLeaves(t *testing.T) {
	root := t.TempDir()
	store := sandbox.Store{Dir: filepath.Join(root, "store")}
	locks := filepath.Join(store.Dir, "locks")
	os.MkdirAll(locks, 0o755)
	victim := filepath.Join(root, "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o644)
	os.WriteFile(filepath.Join(locks, "BAD.lock"), []byte("1\n"), 0o644)
	os.Symlink(victim, filepath.Join(locks, "red9-sl.lock"))
	os.WriteFile(filepath.Join(locks, "red9-gone.lock"), []byte("1\n"), 0o644)
	reports, err := sandbox.Clean(store, true)
	if err == nil {
		t.Errorf("clean succeeded with stray entries left: %+v", reports)
	}
	got := map[string]sandbox.CleanReport{}
	for _, r := range reports {
		got[r.Lab] = r
	}
	for _, lab := range []string{"BAD", "red9-sl"} {
		if r := got[lab]; r.Action != "failed" || !strings.Contains(r.Error, "remove it by hand") {
			t.Errorf("clean of the lock of %s: %+v, want failed, saying to remove it by hand", lab, r)
		}
	}
	if _, err := os.Lstat(filepath.Join(locks, "red9-gone.lock")); err == nil {
		t.Errorf("the stray lock of lab red9-gone was kept")
	}
	if data, _ := os.ReadFile(victim); string(data) != "precious\n" {
		t.Errorf("the file a lock links to was changed: %q", data)
	}
	for _, name := range []string{"BAD.lock", "red9-sl.lock"} {
		if _, err := os.Lstat(filepath.Join(locks, name)); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
}

// TestAStateLargerThanAnyLabIsRefused: a crafted state that lists more
// hosts than a scenario may have, or a state file larger than the bound,
// is refused (ErrBadState) before anything it names is looked at.
func TestAStateLargerThanAnyLabIsRefused(t *testing.T) {
	store := sandbox.Store{Dir: filepath.Join(t.TempDir(), "store")}
	lab := "red9-many"
	var hosts []map[string]any
	for i := 0; i <= scenarios.MaxHosts; i++ {
		h := fmt.Sprintf("h%d", i)
		hosts = append(hosts, map[string]any{"name": h, "netns": sandbox.NetnsName(lab, h)})
	}
	sandboxtest.WriteState(t, store.LabDir(lab), map[string]any{"lab": lab, "status": "stopping", "switch_netns": sandbox.SwitchNetnsName(lab), "hosts": hosts})
	if _, err := store.Load(lab); !errors.Is(err, sandbox.ErrBadState) || !strings.Contains(err.Error(), "more than the 1000") {
		t.Errorf("Load of a state with %d hosts: %v, want ErrBadState naming the bound", len(hosts), err)
	}
	big := "red9-big"
	os.MkdirAll(store.LabDir(big), 0o755)
	f, err := os.Create(filepath.Join(store.LabDir(big), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(16<<20 + 1)
	f.Close()
	if _, err := store.Load(big); !errors.Is(err, sandbox.ErrBadState) {
		t.Errorf("Load of a state of 16 MiB and a byte: %v, want ErrBadState", err)
	}
}

// TestAStateWithTerminalEscapesIsRefused: text of a state that commands
// print (scenario, source, fault and process names) holding control
// characters (an escape sequence, a newline that fakes a line of output)
// fails the checks and is never printed as it is.
func TestAStateWithTerminalEscapesIsRefused(t *testing.T) {
	store := sandbox.Store{Dir: filepath.Join(t.TempDir(), "store")}
	for field, value := range map[string]any{
		"scenario": "x\x1b[31mRED",
		"source":   "a\x1b]0;title\x07\nfake line",
		"faults":   []string{"ok", "bad\rfault"},
	} {
		lab := "red9-esc-" + field
		st := map[string]any{"lab": lab, "status": "running", "switch_netns": sandbox.SwitchNetnsName(lab), field: value}
		sandboxtest.WriteState(t, store.LabDir(lab), st)
		if _, err := store.Load(lab); !errors.Is(err, sandbox.ErrBadState) {
			t.Errorf("a state whose %s holds control characters: %v, want ErrBadState", field, err)
		}
	}
	lab := "red9-esc-fine"
	sandboxtest.WriteState(t, store.LabDir(lab), map[string]any{"lab": lab, "status": "running", "switch_netns": sandbox.SwitchNetnsName(lab), "scenario": "first-lab", "source": "/home/ana/labs/my lab é.yaml"})
	if _, err := store.Load(lab); err != nil {
		t.Errorf("a state with a path holding a space and an accent: %v", err)
	}
}
