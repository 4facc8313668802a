package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Stop removes a running lab and everything it made, and returns once the
// namespaces' names are free for an immediate start of the same lab. A
// lab that does not exist is refused (ErrNoLab) and leaves no lock file; a
// state that fails its checks (ErrBadState) is refused and nothing it
// names is touched. If any step fails, Stop returns an error that says
// what is left, and the state stays for 'netdojo clean'.
func Stop(store Store, lab string) error {
	lock, st, err := store.LockLab(lab)
	if err != nil {
		return err
	}
	st.Status, st.PID = StatusStopping, os.Getpid()
	if err := store.Save(st); err != nil {
		lock.Release()
		return err
	}
	if err := teardown(store, st); err != nil {
		lock.Release()
		return leftError(store, st, fmt.Errorf("stopping lab %q: %w", lab, err))
	}
	err = lock.ReleaseAndRemove()
	store.prune()
	return err
}

// leftError adds to a failed stop or clean what is left of the lab, and
// the next step.
func leftError(store Store, st *State, err error) error {
	left := Remains(store, st)
	if len(left) == 0 {
		return fmt.Errorf("%w; run 'netdojo clean' to retry", err)
	}
	return fmt.Errorf("%w; left: %s; run 'netdojo clean' to retry", err, strings.Join(left, ", "))
}

// Remains lists what a checked state records that still exists: its
// namespaces, /etc/netns entries, recorded processes that are provably
// the lab's, and the state itself.
func Remains(store Store, st *State) []string {
	var left []string
	for _, ns := range st.Namespaces {
		if NetnsExists(ns) {
			left = append(left, "namespace "+ns)
		}
	}
	for _, dir := range st.EtcDirs {
		if _, err := os.Lstat(dir); err == nil {
			left = append(left, dir)
		}
	}
	for _, p := range st.Processes {
		if provablyLabs(p, st.Lab) && processAlive(p.PID) {
			left = append(left, fmt.Sprintf("process %d (%s on %s)", p.PID, p.Name, p.Host))
		}
	}
	if _, err := os.Lstat(store.statePath(st.Lab)); err == nil {
		left = append(left, "state "+store.labDir(st.Lab))
	}
	return left
}

// CleanReport says what Clean did with each lab it found.
type CleanReport struct {
	Lab    string `json:"lab"`
	Action string `json:"action"` // removed, skipped-running, skipped-busy, failed
	Error  string `json:"error,omitempty"`
}

// Clean removes what interrupted labs left: labs whose start or stop was
// killed. With all, running labs are stopped too. A lab another netdojo is
// working on is left alone. Only what a lab's state records is removed.
func Clean(store Store, all bool) ([]CleanReport, error) {
	labs, err := store.Labs()
	if err != nil {
		return nil, err
	}
	var reports []CleanReport
	var errs []error
	for _, lab := range labs {
		r := CleanReport{Lab: lab}
		if err := ValidLabName(lab); err != nil {
			// Not a directory netdojo made: reported, never touched.
			err = fmt.Errorf("%s in the store: %w; remove it by hand", store.labDir(lab), err)
			r.Action, r.Error = "failed", err.Error()
			errs = append(errs, err)
			reports = append(reports, r)
			continue
		}
		lock, err := store.Lock(lab)
		if err != nil {
			r.Action = "skipped-busy"
			if !errors.Is(err, ErrLocked) {
				r.Action, r.Error = "failed", err.Error()
				errs = append(errs, err)
			}
			reports = append(reports, r)
			continue
		}
		st, err := store.Load(lab)
		switch {
		case errors.Is(err, ErrNoLab):
			// Killed before its first state was written: the state is
			// written before anything is made, so nothing else exists.
			if err := store.remove(lab); err != nil {
				r.Action, r.Error = "failed", err.Error()
				errs = append(errs, err)
				lock.Release()
				break
			}
			r.Action = "removed"
			lock.ReleaseAndRemove()
			store.prune()
		case err != nil:
			r.Action, r.Error = "failed", err.Error()
			errs = append(errs, err)
			lock.Release()
		case st.Status == StatusRunning && !all:
			r.Action = "skipped-running"
			lock.Release()
		default:
			if err := teardown(store, st); err != nil {
				err = leftError(store, st, fmt.Errorf("cleaning lab %q: %w", lab, err))
				r.Action, r.Error = "failed", err.Error()
				errs = append(errs, err)
				lock.Release()
			} else {
				r.Action = "removed"
				lock.ReleaseAndRemove()
				store.prune()
			}
		}
		reports = append(reports, r)
	}
	// Lock files of labs that no longer have a state (a start killed before
	// it wrote one). An entry clean may not remove (a name that is no
	// lab's lock, a lock that is not a file) is reported and left alone.
	locks, _ := os.ReadDir(filepath.Join(store.Dir, "locks"))
	for _, e := range locks {
		l := filepath.Join(store.Dir, "locks", e.Name())
		lab, isLock := strings.CutSuffix(e.Name(), ".lock")
		if !isLock || ValidLabName(lab) != nil {
			err := fmt.Errorf("%s in the store is no lab's lock: remove it by hand", l)
			reports = append(reports, CleanReport{Lab: lab, Action: "failed", Error: err.Error()})
			errs = append(errs, err)
			continue
		}
		if _, err := os.Lstat(store.labDir(lab)); err == nil {
			continue // the lab's own lock; reported with the lab if need be
		}
		lock, err := store.Lock(lab)
		if errors.Is(err, ErrLocked) {
			continue // a start is making the lab now
		}
		if err != nil {
			err = fmt.Errorf("lock %s of lab %q, which has no state: %w; remove it by hand", l, lab, err)
			reports = append(reports, CleanReport{Lab: lab, Action: "failed", Error: err.Error()})
			errs = append(errs, err)
			continue
		}
		lock.ReleaseAndRemove()
	}
	// /etc/netns links into this store whose lab is gone (the machine
	// rebooted, emptying /run): only links that point into the store, of
	// a lab that has no directory in the store, under that lab's lock. A
	// start links its hosts before it writes what the links point to: a
	// dangling link of a lab being made is not a leftover.
	if entries, err := os.ReadDir(EtcNetnsDir); err == nil {
		for _, e := range entries {
			lab, _, ok := ParseNetnsName(e.Name())
			if !ok {
				continue
			}
			link := filepath.Join(EtcNetnsDir, e.Name())
			target, err := os.Readlink(link)
			if err != nil || !strings.HasPrefix(target, filepath.Join(store.Dir, "labs")+"/") {
				continue
			}
			if _, err := os.Lstat(store.labDir(lab)); err == nil {
				continue // the lab's own; its stop or clean removes it
			}
			lock, err := store.Lock(lab)
			if err != nil {
				continue // a start is making the lab now
			}
			if _, err := os.Lstat(store.labDir(lab)); errors.Is(err, os.ErrNotExist) {
				if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
					os.Remove(link)
				}
			}
			lock.ReleaseAndRemove()
		}
		os.Remove(EtcNetnsDir) // only when empty
	}
	store.prune()
	return reports, errors.Join(errs...)
}

// teardown removes everything a checked state records, trying every step
// and joining the errors. It removes the state only when everything else
// is gone.
func teardown(store Store, st *State) error {
	var errs []error
	inodes := map[uint64]bool{}
	own := map[uint64]bool{nsInode("/proc/self/ns/net"): true, nsInode("/proc/1/ns/net"): true}
	for _, ns := range st.Namespaces {
		path := filepath.Join(NetnsDir, ns)
		var sb unix.Stat_t
		// Lstat: a link under the lab's name (to another lab's namespace)
		// is not the lab's; DeleteNetns reports it.
		if unix.Lstat(path, &sb) != nil || sb.Mode&unix.S_IFMT == unix.S_IFLNK || !isNsfs(path) {
			continue
		}
		if own[sb.Ino] {
			// Someone mounted the machine's own namespace under the lab's
			// name: its processes are not the lab's.
			errs = append(errs, fmt.Errorf("namespace %q is the machine's own network namespace; its processes are left alone", ns))
			continue
		}
		inodes[sb.Ino] = true
	}
	errs = append(errs, dropShared(st.Lab, inodes))
	errs = append(errs, killProcesses(st, inodes), removeCgroup(st.Lab))

	// Host namespaces first; the kernel then frees their veths, whose
	// switch-side ports vanish; then the switch namespace.
	var (
		sw    *Netns
		ports []string
	)
	if n, err := OpenNetns(st.SwitchNetns); err == nil {
		sw, ports = n, switchPorts(n)
	}
	// The /etc/netns links are on disk: removed while the kernel works.
	etc := make(chan error, 1)
	go func() { etc <- unlinkEtc(store, st) }()
	hasSwitch := false
	for _, ns := range st.Namespaces {
		if ns == st.SwitchNetns {
			hasSwitch = true
			continue
		}
		errs = append(errs, DeleteNetns(ns))
	}
	errs = append(errs, <-etc)
	if sw != nil {
		waitPortsGone(sw, ports)
		sw.Close()
	}
	// Only a switch namespace the state records: a start that found the
	// name taken did not make it, and must not remove it.
	if hasSwitch {
		errs = append(errs, DeleteNetns(st.SwitchNetns))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return store.remove(st.Lab)
}

// unlinkEtc removes the lab's /etc/netns links: only symbolic links that
// point to the host's directory in this lab's state. Anything else found
// under the lab's names is someone else's, and is reported and kept.
func unlinkEtc(store Store, st *State) error {
	var errs []error
	for _, link := range st.EtcDirs {
		lab, host, ok := ParseNetnsName(filepath.Base(link))
		if filepath.Dir(link) != EtcNetnsDir || !ok || lab != st.Lab || host == "" {
			errs = append(errs, fmt.Errorf("refusing to remove %q: not one of lab %q's /etc/netns entries", link, st.Lab))
			continue
		}
		fi, err := os.Lstat(link)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		want := filepath.Join(store.labDir(st.Lab), "etc", host)
		if err == nil && fi.Mode()&os.ModeSymlink == 0 {
			errs = append(errs, fmt.Errorf("keeping %s: it is not netdojo's link to %s; remove it by hand", link, want))
			continue
		}
		if target, err := os.Readlink(link); err == nil && target != want {
			errs = append(errs, fmt.Errorf("keeping %s: it points to %s, not to lab %q's %s; remove it by hand", link, target, st.Lab, want))
			continue
		}
		if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing %s: %w", link, err))
		}
	}
	os.Remove(EtcNetnsDir) // only when empty
	return errors.Join(errs...)
}

func nsInode(path string) uint64 {
	var sb unix.Stat_t
	if unix.Stat(path, &sb) != nil {
		return 0
	}
	return sb.Ino
}

func isNsfs(path string) bool {
	var fs unix.Statfs_t
	return unix.Statfs(path, &fs) == nil && fs.Type == unix.NSFS_MAGIC
}

// killProcesses ends the lab's recorded processes, every process in its
// cgroup and every other process living in one of its namespaces (a
// learner's shell, a child of a service): SIGTERM, a grace period, then
// SIGKILL. removeCgroup then kills whatever was forked meanwhile.
func killProcesses(st *State, inodes map[uint64]bool) error {
	targets := map[int]bool{}
	for _, p := range st.Processes {
		if provablyLabs(p, st.Lab) {
			targets[p.PID] = true
		}
	}
	for _, pid := range PIDsInNamespaces(inodes) {
		targets[pid] = true
	}
	// The cgroup finds those whose namespace is gone (deleted by hand).
	// A PID 1 there (the lab init) ignores SIGTERM: cgroup.kill ends it.
	for _, pid := range cgroupPIDs(CgroupPath(st.Lab)) {
		if NSPID(pid) != 1 {
			targets[pid] = true
		}
	}
	// The lab init ignores SIGTERM: it is killed, with whatever is left in
	// its PID namespace, once the others had their grace period.
	if st.Init != nil {
		delete(targets, st.Init.PID)
		defer killInit(st.Init, st.Lab)
	}
	if len(targets) == 0 {
		return nil
	}
	for pid := range targets {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		alive := 0
		for pid := range targets {
			if processAlive(pid) {
				alive++
			}
		}
		if alive == 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	var errs []error
	for pid := range targets {
		if processAlive(pid) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("killing process %d: %w", pid, err))
			}
		}
	}
	deadline = time.Now().Add(2 * time.Second)
	for pid := range targets {
		for processAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// LabMarker is the environment entry every process started in a lab's
// host carries (Lab.Command sets it): NETDOJO_LAB=LAB.
const LabMarker = "NETDOJO_LAB"

// provablyLabs reports whether a recorded process is provably the lab's,
// so that it may be signalled: its PID still runs the process that was
// started (the same start time, so a reused PID is never signalled) and
// it carries the lab's marker. A state file is untrusted: a PID it names
// that fails either is left alone. (Later markers, such as a cgroup per
// lab, belong here.)
func provablyLabs(p Process, lab string) bool {
	if p.PID <= 1 || p.PID == os.Getpid() || p.StartTime == 0 || ProcStartTime(p.PID) != p.StartTime {
		return false
	}
	return hasLabMarker(p.PID, lab) || InLabCgroup(p.PID, lab)
}

// hasLabMarker reads a process's initial environment for NETDOJO_LAB=LAB.
func hasLabMarker(pid int, lab string) bool {
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	want := LabMarker + "=" + lab
	for _, kv := range strings.Split(string(env), "\x00") {
		if kv == want {
			return true
		}
	}
	return false
}

// procStat is the fields of /proc/PID/stat after the command name (the
// first is the state, field 3), nil when the process is gone.
func procStat(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// processAlive is true for a process that exists and is not a zombie.
func processAlive(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && f[0] != "Z"
}

// ProcStartTime is a process's start time (field 22 of /proc/PID/stat, in
// clock ticks since boot), 0 when it is gone: with the PID, what tells a
// recorded process from a later one that reused its PID.
func ProcStartTime(pid int) uint64 {
	f := procStat(pid)
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// procParent is the parent of a process, 0 when it is gone.
func procParent(pid int) int {
	f := procStat(pid)
	if len(f) < 2 {
		return 0
	}
	v, _ := strconv.Atoi(f[1])
	return v
}

// PIDsInNamespaces lists the processes (this one aside) whose network
// namespace is one of the inodes: what stop ends besides the recorded
// processes, and what tests check is gone.
func PIDsInNamespaces(inodes map[uint64]bool) []int {
	if len(inodes) == 0 {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var sb unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &sb) == nil && inodes[sb.Ino] {
			pids = append(pids, pid)
		}
	}
	return pids
}

func switchPorts(sw *Netns) []string {
	h, err := sw.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil
	}
	var ports []string
	for _, l := range links {
		if l.Type() == "veth" {
			ports = append(ports, l.Attrs().Name)
		}
	}
	return ports
}

// waitPortsGone waits until the kernel has destroyed the host namespaces,
// which it does asynchronously: their veths' switch-side peers vanish.
// The names are free already (a new lab makes new namespaces); this only
// spares the machine a pile of dying namespaces. A namespace whose TCP
// sockets still hold unsent data lingers for a while, so the wait is
// bounded.
func waitPortsGone(sw *Netns, ports []string) {
	if len(ports) == 0 {
		return
	}
	h, err := sw.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return
	}
	defer h.Close()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		links, err := h.LinkList()
		if err != nil {
			return
		}
		left := 0
		for _, l := range links {
			if _, ok := l.(*netlink.Veth); ok {
				left++
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}
