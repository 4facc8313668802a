package drill

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAFileSourceSignalsEachRewriteOfTheRecord(t *testing.T) {
	dir := t.TempDir()
	src := FileSource(dir)
	defer src.Close()
	changed := src.Changed()
	for i, status := range []string{StatusRunning, StatusPaused, StatusEnded} {
		if err := writeJSONFile(filepath.Join(dir, RecordFile), &Record{Drill: "d", Status: status, Elapsed: float64(i)}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
		case <-time.After(5 * time.Second):
			t.Fatalf("no change signalled after write %d", i)
		}
		r, err := src.Record()
		if err != nil || r.Status != status {
			t.Fatalf("after write %d: %+v, %v", i, r, err)
		}
	}
	select {
	case <-changed:
		t.Error("a change was signalled with nothing written")
	case <-time.After(3 * PollInterval):
	}
}

// TestTheJoinShellRecordsEveryCommandLine runs bash with the join rc file
// (in this process's own namespaces: it only echoes) and reads back what it
// recorded.
func TestTheJoinShellRecordsEveryCommandLine(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	rc := filepath.Join(dir, "rc")
	if err := writeFile(rc, JoinRC(dir, "drill-x", "ana", "client")); err != nil {
		t.Fatal(err)
	}
	script := "echo one\n\necho one\nfor i in 1 2; do\n  echo $i\ndone\ntrue | cat\nexit\n"
	cmd := exec.Command(bash, "--rcfile", rc, "-i")
	cmd.Stdin = strings.NewReader(script)
	cmd.Dir = dir
	before := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	tl := &tail{path: filepath.Join(dir, CommandsFile)}
	lines, err := tl.lines()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines {
		when, who, host, c, err := parseCommand(string(l))
		if err != nil {
			t.Fatal(err)
		}
		if who != "ana" || host != "client" || when.Before(before.Add(-time.Second)) || when.After(time.Now()) {
			t.Errorf("line %q: %s on %s at %s", l, who, host, when)
		}
		got = append(got, c)
	}
	want := []string{"echo one", "echo one", "for i in 1 2; do   echo $i; done", "true | cat", "exit"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("recorded:\n%q\nwant:\n%q", got, want)
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
