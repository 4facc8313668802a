package checker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/netdojo/netdojo/sandbox"
)

// Progress is a learner's progress in a lab, kept in the lab's directory.
type Progress struct {
	Tasks map[string]*TaskProgress `json:"tasks"`
}

// TaskProgress is one task's record.
type TaskProgress struct {
	Passed     bool      `json:"passed"`
	PassedAt   time.Time `json:"passed_at,omitzero"`
	Checks     int       `json:"checks"`      // times judged
	HintsShown int       `json:"hints_shown"` // hints revealed so far
	// Answer is the answer that passed the task, or the last one given
	// while none has.
	Answer   []string `json:"answer,omitempty"`
	Observed string   `json:"observed,omitempty"` // the last observation
	// Attempts are every answer given to the task, in order.
	Attempts []Attempt `json:"attempts,omitempty"`
}

// Attempt is one answer given to a task, with its verdict.
type Attempt struct {
	At       time.Time `json:"at"`
	Answer   []string  `json:"answer"`
	Pass     bool      `json:"pass"`
	Observed string    `json:"observed,omitempty"`
}

// ProgressFile is the progress file's name in a lab's directory.
const ProgressFile = "progress.json"

// maxProgressBytes bounds the progress file, which is read as untrusted
// input; a scenario's largest needs a few kilobytes.
const maxProgressBytes = 16 << 20

// LoadProgress reads the progress kept in a lab directory; none yet is an
// empty progress.
func LoadProgress(labDir string) (*Progress, error) {
	p := &Progress{Tasks: map[string]*TaskProgress{}}
	data, err := sandbox.ReadRegularFile(filepath.Join(labDir, ProgressFile), maxProgressBytes)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading progress: %w", err)
	}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("reading progress: %w", err)
	}
	if p.Tasks == nil {
		p.Tasks = map[string]*TaskProgress{}
	}
	return p, nil
}

// Save writes the progress atomically.
func (p *Progress) Save(labDir string) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(labDir, ProgressFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("saving progress: %w", err)
	}
	return os.Rename(tmp, filepath.Join(labDir, ProgressFile))
}

// Task returns a task's record, creating it.
func (p *Progress) Task(id string) *TaskProgress {
	t, ok := p.Tasks[id]
	if !ok {
		t = &TaskProgress{}
		p.Tasks[id] = t
	}
	return t
}

// RecordAnswer stores an answer and its judgement. A task once answered
// right stays passed: a later wrong answer is recorded as an attempt and
// does not erase the right one.
func (t *TaskProgress) RecordAnswer(answer []string, o Outcome) {
	t.Checks++
	t.Attempts = append(t.Attempts, Attempt{At: time.Now().UTC(), Answer: answer, Pass: o.Pass, Observed: o.Observed})
	if t.Passed {
		return
	}
	t.Answer, t.Observed = answer, o.Observed
	if o.Pass {
		t.Passed, t.PassedAt = true, time.Now().UTC()
	}
}

// Record stores a judgement of a task judged on the live lab: the task is
// passed while its check passes.
func (t *TaskProgress) Record(o Outcome) {
	t.Checks++
	t.Observed = o.Observed
	if o.Pass && !t.Passed {
		t.Passed, t.PassedAt = true, time.Now().UTC()
	}
	if !o.Pass {
		t.Passed = false
	}
}
