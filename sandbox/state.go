package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStateDir is where labs are recorded. It is on tmpfs, so a reboot,
// which also ends every namespace, forgets every lab.
const DefaultStateDir = "/run/netdojo"

// Lab statuses. Only a lab whose start finished is running; a lab found
// starting or stopping with nobody holding its lock was interrupted, and
// `netdojo clean` (or the next start) finishes removing it.
const (
	StatusStarting = "starting"
	StatusRunning  = "running"
	StatusStopping = "stopping"
)

// State is what a lab made, written before each object is created.
type State struct {
	Lab      string    `json:"lab"`
	Scenario string    `json:"scenario"`
	Source   string    `json:"source"` // file path, or builtin:NAME
	Seed     uint64    `json:"seed"`
	Status   string    `json:"status"`
	PID      int       `json:"pid"` // the netdojo process that last changed the lab
	Started  time.Time `json:"started"`
	// SwitchNetns holds the lab's bridges, never the machine's own namespace.
	SwitchNetns string      `json:"switch_netns"`
	Hosts       []HostState `json:"hosts"`
	// Namespaces and EtcDirs are recorded before they are created.
	Namespaces []string    `json:"namespaces"`
	EtcDirs    []string    `json:"etc_dirs"`
	Processes  []Process   `json:"processes,omitempty"`
	Faults     []string    `json:"faults,omitempty"`
	Extra      interface{} `json:"extra,omitempty"`

	// Init is PID 1 of the lab's PID namespace (see pidns.go).
	Init *Process `json:"init,omitempty"`
}

// HostState maps a scenario host to its namespace.
type HostState struct {
	Name  string `json:"name"`
	Netns string `json:"netns"`
}

// Process is a long-running process started inside a host.
type Process struct {
	Name      string `json:"name"`
	Host      string `json:"host"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"` // from /proc/PID/stat, so a reused PID is never signalled
	Log       string `json:"log"`
}

// Store is the directory of lab states and locks.
type Store struct {
	Dir string
}

// DefaultStore is the store in /run/netdojo.
func DefaultStore() Store { return Store{Dir: DefaultStateDir} }

func (s Store) labDir(lab string) string    { return filepath.Join(s.Dir, "labs", lab) }
func (s Store) statePath(lab string) string { return filepath.Join(s.labDir(lab), "state.json") }
func (s Store) lockPath(lab string) string  { return filepath.Join(s.Dir, "locks", lab+".lock") }

// LabDir is the directory of a lab's state, logs and files.
func (s Store) LabDir(lab string) string { return s.labDir(lab) }

func (s Store) hasState(lab string) bool {
	_, err := os.Stat(s.statePath(lab))
	return err == nil
}

// retryVanished runs fn again while it fails because a directory it made
// vanished: another lab's stop or clean removes the store's (and
// /etc/netns's) directories when they are empty, at any moment.
func retryVanished(fn func() error) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = fn(); !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return err
}

// Save writes the state atomically.
func (s Store) Save(st *State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state of lab %q: %w", st.Lab, err)
	}
	tmp := s.statePath(st.Lab) + ".tmp"
	if err := retryVanished(func() error {
		if err := os.MkdirAll(s.labDir(st.Lab), 0o755); err != nil {
			return err
		}
		return os.WriteFile(tmp, data, 0o644)
	}); err != nil {
		return fmt.Errorf("writing state of lab %q: %w", st.Lab, err)
	}
	if err := os.Rename(tmp, s.statePath(st.Lab)); err != nil {
		return fmt.Errorf("writing state of lab %q: %w", st.Lab, err)
	}
	return nil
}

// ErrNoLab is returned for a lab that has no state.
var ErrNoLab = errors.New("no such lab")

// Load reads a lab's state.
func (s Store) Load(lab string) (*State, error) {
	data, err := os.ReadFile(s.statePath(lab))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab %q: %w; 'netdojo status' lists the running labs", lab, ErrNoLab)
	}
	if err != nil {
		return nil, fmt.Errorf("reading state of lab %q: %w", lab, err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("reading state of lab %q: %w", lab, err)
	}
	return &st, nil
}

// Labs lists the labs that have a state, sorted by name.
func (s Store) Labs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, "labs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing labs: %w", err)
	}
	var labs []string
	for _, e := range entries {
		if e.IsDir() {
			labs = append(labs, e.Name())
		}
	}
	sort.Strings(labs)
	return labs, nil
}

// remove deletes a lab's state directory and, if nothing else is left, the
// store's own directories.
func (s Store) remove(lab string) error {
	if lab == "" {
		return fmt.Errorf("removing state: no lab named")
	}
	err := os.RemoveAll(s.labDir(lab))
	s.prune()
	if err != nil {
		return fmt.Errorf("removing state of lab %q: %w", lab, err)
	}
	return nil
}

// prune removes the store's own directories when they are empty.
func (s Store) prune() {
	for _, d := range []string{filepath.Join(s.Dir, "labs"), filepath.Join(s.Dir, "locks"), s.Dir} {
		os.Remove(d) // only succeeds when empty
	}
}

// Lock is an exclusive hold on a lab: only one netdojo starts, stops or
// cleans a lab at a time.
type Lock struct {
	f    *os.File
	path string
}

// ErrLocked means another netdojo holds the lab.
var ErrLocked = errors.New("lab is locked")

// Lock takes the lab's lock without waiting. The lock file holds the
// holder's PID so the refusal can name it.
func (s Store) Lock(lab string) (*Lock, error) {
	for {
		path := s.lockPath(lab)
		var f *os.File
		err := retryVanished(func() error {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			var err error
			f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("opening lock of lab %q: %w", lab, err)
		}
		if err := flockBriefly(f); err != nil {
			holder, _ := os.ReadFile(path)
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("lab %q is being started, stopped or cleaned by another netdojo (pid %s); wait for it to finish: %w", lab, strings.TrimSpace(string(holder)), ErrLocked)
			}
			return nil, fmt.Errorf("locking lab %q: %w", lab, err)
		}
		// The holder before us may have removed the file after we opened
		// it; then our lock is on a dead inode and we try again.
		var st1, st2 unix.Stat_t
		if unix.Fstat(int(f.Fd()), &st1) != nil || unix.Stat(path, &st2) != nil || st1.Ino != st2.Ino {
			f.Close()
			continue
		}
		f.Truncate(0)
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		return &Lock{f: f, path: path}, nil
	}
}

// Release drops the lock and keeps the lock file.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// ReleaseAndRemove deletes the lock file while still holding it, then
// drops it; used when the lab is gone.
func (l *Lock) ReleaseAndRemove() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := os.Remove(l.path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return errors.Join(err, l.Release())
}

// Locked reports whether someone holds the lab's lock now.
func (s Store) Locked(lab string) bool {
	l, err := s.Lock(lab)
	if err != nil {
		return errors.Is(err, ErrLocked)
	}
	l.Release()
	return false
}

// flockBriefly takes the lock, retrying for a moment: a process this
// netdojo forks (a service, the lab init) holds a copy of every open
// descriptor between fork and exec, so a lock just released by another
// goroutine can still be held for that long.
func flockBriefly(f *os.File) error {
	var err error
	for try := 0; try < 50; try++ {
		if err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
	return err
}
