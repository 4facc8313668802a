package sandboxtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
)

// Victims are what a crafted (hostile) lab state names that is no lab's
// and must survive every command run over it: a file, a directory with a
// file inside, and a process.
type Victims struct {
	File, Dir string
	Sleep     *exec.Cmd // the process: `sleep 600`, ended by the test's cleanup
	Start     uint64    // its start time, as a state records it
}

// NewVictims makes the victims in a directory of the test's own.
func NewVictims(t testing.TB) *Victims {
	t.Helper()
	tmp := t.TempDir()
	v := &Victims{File: filepath.Join(tmp, "file"), Dir: filepath.Join(tmp, "dir")}
	for _, err := range []error{
		os.WriteFile(v.File, []byte("keep"), 0o644),
		os.MkdirAll(v.Dir, 0o755),
		os.WriteFile(filepath.Join(v.Dir, "inside"), []byte("keep"), 0o644),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	v.Sleep = exec.Command("sleep", "600")
	if err := v.Sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Sleep.Process.Kill(); v.Sleep.Wait() })
	for i := 0; i < 100 && v.Start == 0; i++ {
		v.Start = sandbox.ProcStartTime(v.Sleep.Process.Pid)
	}
	if v.Start == 0 {
		t.Fatalf("reading the start time of process %d", v.Sleep.Process.Pid)
	}
	return v
}

// PID is the victim process.
func (v *Victims) PID() int { return v.Sleep.Process.Pid }

// AssertAlive fails the test if a victim is gone: the file, the file in
// the directory, or the process (ended, or its PID now another's).
func (v *Victims) AssertAlive(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(v.File); err != nil {
		t.Errorf("the file a crafted state named is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(v.Dir, "inside")); err != nil {
		t.Errorf("the directory a crafted state named is gone: %v", err)
	}
	if v.Sleep.ProcessState != nil || sandbox.ProcStartTime(v.PID()) != v.Start {
		t.Errorf("the process %d a crafted state named was ended", v.PID())
	}
}

// Crafted is a state of lab whose every name leads out of the lab to the
// victims: namespaces and the switch reached with ../, /etc/netns entries
// that are the victims themselves or climb out of /etc/netns, and the
// victim process with its true start time.
func (v *Victims) Crafted(lab string) map[string]any {
	return map[string]any{
		"lab": lab, "status": "stopping", "switch_netns": "../../.." + v.Dir,
		"hosts":      []map[string]any{{"name": "h", "netns": "../../.." + v.Dir}},
		"namespaces": []string{"../../.." + v.Dir, "../../.." + v.File},
		"etc_dirs":   []string{v.File, v.Dir, filepath.Join(sandbox.EtcNetnsDir, "..", "..", v.File)},
		"processes":  []map[string]any{{"name": "p", "host": "h", "pid": v.PID(), "start_time": v.Start, "log": v.File}},
	}
}

// WriteState writes st as DIR/state.json, the file a lab's directory in a
// store holds (sandbox.Store.LabDir), making DIR.
func WriteState(t testing.TB, dir string, st map[string]any) {
	t.Helper()
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
