package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/netdojo/netdojo/scenarios"
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

// checkDirs refuses a store whose labs or locks directory is not a
// directory of its own: a symbolic link there would make every lab's
// directory and lock, and whatever clean removes, lie elsewhere (labs ->
// /home made clean remove every directory of /home).
func (s Store) checkDirs() error {
	for _, d := range []string{filepath.Join(s.Dir, "labs"), filepath.Join(s.Dir, "locks")} {
		if fi, err := os.Lstat(d); err == nil && !fi.IsDir() {
			return fmt.Errorf("the store's directory %s is not a directory (%s): %w; remove it by hand", d, fi.Mode().Type(), ErrBadState)
		}
	}
	return nil
}

func (s Store) hasState(lab string) bool {
	if ValidLabName(lab) != nil {
		return false
	}
	// Lstat: a state that is a link (even a dangling one) is there, and
	// Load refuses it; it is not a lab that does not exist.
	_, err := os.Lstat(s.statePath(lab))
	return err == nil
}

// writeFileNoFollow writes a file of the store, refusing to follow a
// symbolic link planted at its path.
func writeFileNoFollow(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
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
	if err := ValidLabName(st.Lab); err != nil {
		return err
	}
	if err := s.checkDirs(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state of lab %q: %w", st.Lab, err)
	}
	tmp := s.statePath(st.Lab) + ".tmp"
	if err := retryVanished(func() error {
		if err := os.MkdirAll(s.labDir(st.Lab), 0o755); err != nil {
			return err
		}
		return writeFileNoFollow(tmp, data)
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

// ErrBadState is a state file that fails the checks of checkState: it is
// reported and never acted on.
var ErrBadState = errors.New("state fails its checks")

// Load reads a lab's state. The lab's name is checked before anything is
// read, the lab's directory must be a directory of the store (not a
// symbolic link out of it), and the state is untrusted input: every name
// and path in it must be this lab's (see checkState), or Load refuses it
// with ErrBadState.
func (s Store) Load(lab string) (*State, error) {
	if err := ValidLabName(lab); err != nil {
		return nil, err
	}
	data, err := s.ReadLabFile(lab, "state.json", maxStateSize)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab %q: %w; 'netdojo status' lists the running labs", lab, ErrNoLab)
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("reading state of lab %q: %w", lab, err)
	}
	if err := s.checkState(lab, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// ReadLabFile reads one file of a lab's directory (its state, scenario,
// progress, fault records) as untrusted input: the lab's name is checked,
// the lab's directory must be a directory of the store (not a symbolic
// link out of it), and the file is opened without following a link and
// without blocking, must be a regular file (a FIFO would block every
// command that reads it, a device could be endless) and is read up to max
// bytes. A file that fails is refused with ErrBadState; a missing one
// gives an error that is os.ErrNotExist.
func (s Store) ReadLabFile(lab, name string, max int64) ([]byte, error) {
	if err := ValidLabName(lab); err != nil {
		return nil, err
	}
	if name != filepath.Base(name) || name == "." || name == ".." {
		return nil, fmt.Errorf("reading %q of lab %q: not a file name of the lab's directory", name, lab)
	}
	if err := s.checkDirs(); err != nil {
		return nil, err
	}
	dir := s.labDir(lab)
	if fi, err := os.Lstat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("state of lab %q: %s is not a directory: %w; remove it by hand", lab, dir, ErrBadState)
	}
	data, err := ReadRegularFile(filepath.Join(dir, name), max)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab %q: %w", lab, err)
	}
	return data, err
}

// ReadRegularFile reads a file netdojo wrote itself and reads back as
// untrusted input: opened without following a symbolic link and without
// blocking, it must be a regular file (a FIFO would block the reader
// forever, a device could be endless) of at most max bytes. A file that
// fails is refused with ErrBadState; a missing one gives an error that is
// os.ErrNotExist.
func ReadRegularFile(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("reading %s: it is a symbolic link: %w; remove it by hand", path, ErrBadState)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: it is not a regular file (%s): %w; remove it by hand", path, fi.Mode().Type(), ErrBadState)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w; remove it by hand", path, max, ErrBadState)
	}
	return data, nil
}

// ReadFile reads one file of the lab's directory with Store.ReadLabFile.
func (l *Lab) ReadFile(name string, max int64) ([]byte, error) {
	return l.store.ReadLabFile(l.Name, name, max)
}

// maxStateSize bounds a state file; a lab of the largest scenario needs a
// few hundred kilobytes (1000 hosts), and every process it may start fits
// many times over. A crafted state of 64 MiB took 550 MB to read.
const maxStateSize = 16 << 20

// checkState checks a state read from disk as untrusted input: it must be
// the state of the lab it is stored under, and every name and path in it
// must be one of that lab's own: namespaces LAB.HOST and LAB._switch under
// /run/netns, /etc/netns entries with those names, hosts and processes
// with valid names and PIDs, logs inside the lab's directory. A state that
// fails is reported with every problem, and nothing it names is touched.
func (s Store) checkState(lab string, st *State) error {
	var bad []string
	badf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if st.Lab != lab {
		badf("it names lab %q", st.Lab)
	}
	switch st.Status {
	case StatusStarting, StatusRunning, StatusStopping:
	default:
		badf("unknown status %q", st.Status)
	}
	// Text that status, show and stop print: no control characters (a
	// crafted state could otherwise drive the terminal with escape
	// sequences or fake lines of output).
	printable := func(what, s string) {
		if len(s) > 4096 || strings.ContainsFunc(s, unicode.IsControl) || !utf8.ValidString(s) {
			badf("%s %q is not printable text", what, s)
		}
	}
	printable("scenario", st.Scenario)
	printable("source", st.Source)
	for _, f := range st.Faults {
		printable("fault", f)
	}
	for _, p := range st.Processes {
		printable("process name", p.Name)
	}
	if st.SwitchNetns != SwitchNetnsName(lab) {
		badf("switch namespace %q is not %q", st.SwitchNetns, SwitchNetnsName(lab))
	}
	if len(st.Hosts) > scenarios.MaxHosts {
		// No scenario has more; checking each would only cost time.
		return fmt.Errorf("state of lab %q (%s) fails its checks: it lists %d hosts, more than the %d a scenario may have: %w; nothing it names was touched; remove what is left of the lab by hand, then the directory %s",
			lab, s.statePath(lab), len(st.Hosts), scenarios.MaxHosts, ErrBadState, s.labDir(lab))
	}
	hosts := map[string]bool{}
	owned := map[string]bool{SwitchNetnsName(lab): true}
	for _, h := range st.Hosts {
		switch {
		case scenarios.ValidName("host", h.Name) != nil:
			badf("host name %q is not valid", h.Name)
		case hosts[h.Name]:
			badf("host %q is listed twice", h.Name)
		case h.Netns != NetnsName(lab, h.Name):
			badf("host %q has namespace %q, not %q", h.Name, h.Netns, NetnsName(lab, h.Name))
		default:
			hosts[h.Name] = true
			owned[h.Netns] = true
		}
	}
	seen := map[string]bool{}
	for _, ns := range st.Namespaces {
		if !owned[ns] || seen[ns] {
			badf("namespace %q is not one of the lab's (%s or %s)", ns, SwitchNetnsName(lab), NetnsName(lab, "HOST"))
		}
		seen[ns] = true
	}
	seen = map[string]bool{}
	for _, dir := range st.EtcDirs {
		if filepath.Dir(dir) != EtcNetnsDir || !owned[filepath.Base(dir)] || filepath.Base(dir) == SwitchNetnsName(lab) || seen[dir] {
			badf("/etc/netns entry %q is not one of the lab's (%s)", dir, filepath.Join(EtcNetnsDir, NetnsName(lab, "HOST")))
		}
		seen[dir] = true
	}
	logs := filepath.Join(s.labDir(lab), "logs") + string(filepath.Separator)
	for _, p := range st.Processes {
		if p.PID <= 1 {
			badf("process %q has PID %d", p.Name, p.PID)
		}
		// A process with no host runs in the machine's namespace for the
		// lab (a drill's runner); it is still ended only when provably
		// the lab's.
		if p.Host != "" && !hosts[p.Host] {
			badf("process %q runs in host %q, which the lab does not have", p.Name, p.Host)
		}
		if p.Log != "" && (filepath.Clean(p.Log) != p.Log || !strings.HasPrefix(p.Log, logs)) {
			badf("log %q of process %q is not in %s", p.Log, p.Name, logs)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("state of lab %q (%s) fails its checks: %s: %w; nothing it names was touched; remove what is left of the lab by hand, then the directory %s",
			lab, s.statePath(lab), strings.Join(bad, "; "), ErrBadState, s.labDir(lab))
	}
	return nil
}

// Labs lists the labs that have a state, sorted by name.
// Names that break the name rule, and entries that are not directories,
// are listed too, so that Clean reports them; Load refuses them.
func (s Store) Labs() ([]string, error) {
	if err := s.checkDirs(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(s.Dir, "labs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing labs: %w", err)
	}
	var labs []string
	for _, e := range entries {
		// Every entry, not only directories: a symbolic link or a stray
		// file where a lab's directory belongs is reported by Load (and
		// so by clean and status), never silently passed over.
		labs = append(labs, e.Name())
	}
	sort.Strings(labs)
	return labs, nil
}

// remove deletes a lab's state directory and, if nothing else is left, the
// store's own directories.
func (s Store) remove(lab string) error {
	if err := ValidLabName(lab); err != nil {
		return fmt.Errorf("removing state: %w", err)
	}
	if err := s.checkDirs(); err != nil {
		return err
	}
	err := unmountEtc(s.labDir(lab))
	if err == nil {
		err = os.RemoveAll(s.labDir(lab))
	}
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
	if err := ValidLabName(lab); err != nil {
		return nil, err
	}
	if err := s.checkDirs(); err != nil {
		return nil, err
	}
	for {
		path := s.lockPath(lab)
		var f *os.File
		err := retryVanished(func() error {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			var err error
			f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("opening lock of lab %q: %w", lab, err)
		}
		if err := flockBriefly(f); err != nil {
			holder, _ := os.ReadFile(path)
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("lab %q is being changed by another netdojo (pid %s); wait for it to finish and try again: %w", lab, strings.TrimSpace(string(holder)), ErrLocked)
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

// LockLab takes the lock of an existing lab and reads its state: what
// every command that changes a lab does first. A lab with no state is
// refused with ErrNoLab before any lock file is made, and a lab whose
// state vanished while the lock was taken (stopped meanwhile) leaves no
// lock file either. A state that fails its checks is refused
// (ErrBadState); the lock file then stays, as the state does.
func (s Store) LockLab(lab string) (*Lock, *State, error) {
	if err := ValidLabName(lab); err != nil {
		return nil, nil, err
	}
	if !s.hasState(lab) {
		return nil, nil, fmt.Errorf("lab %q: %w; 'netdojo status' lists the running labs", lab, ErrNoLab)
	}
	lock, err := s.Lock(lab)
	if err != nil {
		return nil, nil, err
	}
	st, err := s.Load(lab)
	if errors.Is(err, ErrNoLab) {
		lock.ReleaseAndRemove()
		s.prune()
		return nil, nil, err
	}
	if err != nil {
		lock.Release()
		return nil, nil, err
	}
	return lock, st, nil
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
