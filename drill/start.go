package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// RunnerName is the runner's name among the lab's processes.
const RunnerName = "drill-runner"

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// CheckName refuses a team, participant or lab name that is not a plain
// lower-case name (it goes into file names, shell rc files and the board).
func CheckName(what, name string) error {
	if !nameRE.MatchString(name) || len(name) > scenarios.MaxNameLen {
		return fmt.Errorf("%q is not a valid %s name; use lower-case letters, digits and dashes", name, what)
	}
	return nil
}

// StartOptions say what to start and how.
type StartOptions struct {
	Store  sandbox.Store
	Drill  *scenarios.Drill
	Data   []byte // the drill file as loaded
	Source string // a file path, or builtin:NAME
	Team   string
	// Lab names the lab; DRILL-TEAM when empty.
	Lab   string
	Scale float64 // drill seconds per real second; 1 when 0
	// Runner is the command that runs the drill's runner for a lab; the
	// lab's name is appended (netdojo: [BINARY --state-dir DIR drill __run]).
	Runner []string
}

// LabName is the lab a team's drill runs in.
func LabName(drill, team string) string { return drill + "-" + team }

// Start builds the drill's lab (with a lab scenario's faults only when the
// drill keeps them), writes the drill's directory and starts its runner,
// recorded among the lab's processes so that stopping the lab ends it.
// It returns once the runner has written the first record.
func Start(ctx context.Context, o StartOptions) (*Meta, error) {
	d := o.Drill
	if o.Team == "" {
		o.Team = "team"
	}
	if err := CheckName("team", o.Team); err != nil {
		return nil, err
	}
	if o.Lab == "" {
		o.Lab = LabName(d.Name, o.Team)
	}
	if err := sandbox.ValidLabName(o.Lab); err != nil {
		return nil, err
	}
	if o.Scale <= 0 {
		o.Scale = 1
	}
	dir := Dir(o.Store, o.Lab)
	if r, err := ReadRecord(dir); err == nil && r.Status != StatusEnded {
		return nil, fmt.Errorf("drill %q is already running in lab %s (%w); end it with 'netdojo drill end %s'", r.Drill, o.Lab, sandbox.ErrRunning, o.Lab)
	}
	if lab, err := sandbox.Open(o.Store, o.Lab); err == nil {
		lab.Close()
		return nil, fmt.Errorf("lab %s of the last drill still runs: %w; end it with 'netdojo drill end %s' (its report stays until the next start)", o.Lab, sandbox.ErrRunning, o.Lab)
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("removing the record of the last drill in %s: %w", o.Lab, err)
	}
	lab, err := labpkg.Start(ctx, d.Lab, sandbox.Options{Name: o.Lab, Store: o.Store, Source: o.Source, ScenarioYAML: o.Data}, true)
	if err != nil {
		return nil, err
	}
	defer lab.Close()
	fail := func(err error) (*Meta, error) {
		return nil, errors.Join(err, labpkg.Stop(o.Store, o.Lab))
	}
	meta := &Meta{Drill: d.Name, Source: o.Source, Team: o.Team, Lab: o.Lab, Seed: d.Seed, Scale: o.Scale, Started: time.Now()}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(fmt.Errorf("creating the drill's directory: %w", err))
	}
	if err := os.WriteFile(filepath.Join(dir, DrillFile), o.Data, 0o644); err != nil {
		return fail(err)
	}
	if err := writeJSONFile(filepath.Join(dir, MetaFile), meta); err != nil {
		return fail(err)
	}
	if err := spawnRunner(lab, dir, append(append([]string(nil), o.Runner...), o.Lab)); err != nil {
		return fail(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := ReadRecord(dir); err == nil {
			return meta, nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, RunnerLog))
			return fail(fmt.Errorf("the drill's runner wrote no record in 15s: %s", strings.TrimSpace(string(log))))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// spawnRunner starts the runner in its own session, logging to the drill's
// directory, and records it among the lab's processes: with no host (it
// runs in the machine's namespace) and with the lab's marker in its
// environment, so that stopping the lab provably ends it. Its log is not
// recorded in the lab's state (a state names only logs in the lab's
// directory; the runner's outlives the lab, in the drill's directory).
func spawnRunner(lab *sandbox.Lab, dir string, argv []string) error {
	logf, err := os.OpenFile(filepath.Join(dir, RunnerLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, sandbox.LabMarker+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, sandbox.LabMarker+"="+lab.Name)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the drill's runner: %w", err)
	}
	p := sandbox.Process{Name: RunnerName, PID: cmd.Process.Pid}
	for i := 0; i < 100 && p.StartTime == 0; i++ {
		p.StartTime = sandbox.ProcStartTime(p.PID)
	}
	go cmd.Wait()
	lab.State.Processes = append(lab.State.Processes, p)
	return lab.Save()
}

// RunMain is the runner: it loads the drill its directory names, opens the
// lab and runs the engine until the drill ends or ctx is done (the lab is
// stopped: SIGTERM).
func RunMain(ctx context.Context, store sandbox.Store, labName string) error {
	dir := Dir(store, labName)
	meta, err := ReadMeta(dir)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(dir, DrillFile))
	if err != nil {
		return err
	}
	d, err := scenarios.LoadDrill(meta.Source, data, LoadOptions(meta.Seed))
	if err != nil {
		return err
	}
	lab, err := sandbox.Open(store, labName)
	if err != nil {
		return err
	}
	defer lab.Close()
	lab.Scenario = d.Lab
	e := NewEngine(Options{Dir: dir, Drill: d, Lab: lab, Meta: *meta, Clock: NewClock(meta.Started, meta.Scale), Log: os.Stderr})
	_, err = e.Run(ctx)
	return err
}
