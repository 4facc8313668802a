package drill

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/netdojo/netdojo/sandbox"
)

// Files of a drill's directory, STATE/drills/LAB/. It outlives the lab, so
// the report can be rendered after the lab is stopped.
const (
	RecordFile   = "record.json"   // the Record, rewritten after every change
	MetaFile     = "meta.json"     // what the drill was started from (Meta)
	DrillFile    = "drill.yaml"    // the drill file as started
	ControlFile  = "control.jsonl" // game master and participant events, one JSON object a line
	CommandsFile = "commands.log"  // commands run in join shells, one a line
	RunnerLog    = "runner.log"    // the runner's own log
)

// Meta is what a drill was started from: enough for the runner (and later
// commands) to load the same drill with the same draw.
type Meta struct {
	Drill   string    `json:"drill"`
	Source  string    `json:"source"` // a file path, or builtin:NAME
	Team    string    `json:"team"`
	Lab     string    `json:"lab"`
	Seed    uint64    `json:"seed"`
	Scale   float64   `json:"scale"`
	Started time.Time `json:"started"`
}

// Dir is the directory of the drill that runs (or ran) in lab.
func Dir(store sandbox.Store, lab string) string {
	return filepath.Join(store.Dir, "drills", lab)
}

// ReadMeta reads a drill directory's Meta.
func ReadMeta(dir string) (*Meta, error) {
	data, err := os.ReadFile(filepath.Join(dir, MetaFile))
	if err != nil {
		return nil, fmt.Errorf("reading drill %q: %w", filepath.Base(dir), err)
	}
	var m Meta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reading drill %q: %w", filepath.Base(dir), err)
	}
	return &m, nil
}

// ReadRecord reads a drill directory's record.json.
func ReadRecord(dir string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if err != nil {
		return nil, fmt.Errorf("reading the record of drill %q: %w", filepath.Base(dir), err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reading the record of drill %q: %w", filepath.Base(dir), err)
	}
	return &r, nil
}

// writeJSONFile writes v atomically (a temporary file renamed over the
// old one), so a reader never sees half a document.
func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// List names the drills kept in the store (running or ended), sorted.
func List(store sandbox.Store) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(store.Dir, "drills"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing drills: %w", err)
	}
	var out []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(store.Dir, "drills", e.Name(), MetaFile)); err == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// MarkEnded ends the record of a drill whose runner is gone, so that the
// board and the report do not show it running forever.
func MarkEnded(dir, why string) error {
	r, err := ReadRecord(dir)
	if err != nil {
		return err
	}
	if r.Status == StatusEnded {
		return nil
	}
	r.Status, r.Ended = StatusEnded, time.Now()
	r.Messages = append(r.Messages, Message{T: r.Elapsed, From: "netdojo", Text: "The drill has ended: " + why + "."})
	r.Measures = ComputeMeasures(r)
	return writeJSONFile(filepath.Join(dir, RecordFile), r)
}
