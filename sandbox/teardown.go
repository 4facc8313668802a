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
// namespaces' names are free for an immediate start of the same lab.
func Stop(store Store, lab string) error {
	lock, err := store.Lock(lab)
	if err != nil {
		return err
	}
	st, err := store.Load(lab)
	if err != nil {
		lock.Release()
		return err
	}
	st.Status, st.PID = StatusStopping, os.Getpid()
	if err := store.Save(st); err != nil {
		lock.Release()
		return err
	}
	if err := teardown(store, st); err != nil {
		lock.Release()
		return fmt.Errorf("stopping lab %q: %w; run 'netdojo clean' to retry", lab, err)
	}
	err = lock.ReleaseAndRemove()
	store.prune()
	return err
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
		lock, err := store.Lock(lab)
		if err != nil {
			r.Action = "skipped-busy"
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
				r.Action, r.Error = "failed", err.Error()
				errs = append(errs, fmt.Errorf("cleaning lab %q: %w", lab, err))
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
	// it wrote one).
	locks, _ := filepath.Glob(filepath.Join(store.Dir, "locks", "*.lock"))
	for _, l := range locks {
		lab := strings.TrimSuffix(filepath.Base(l), ".lock")
		if _, err := os.Stat(store.statePath(lab)); err == nil {
			continue
		}
		if lock, err := store.Lock(lab); err == nil {
			lock.ReleaseAndRemove()
		}
	}
	// /etc/netns links into this store whose lab is gone (the machine
	// rebooted, emptying /run): only links that point into the store.
	if entries, err := os.ReadDir(EtcNetnsDir); err == nil {
		for _, e := range entries {
			link := filepath.Join(EtcNetnsDir, e.Name())
			target, err := os.Readlink(link)
			if err != nil || !strings.HasPrefix(target, filepath.Join(store.Dir, "labs")+"/") {
				continue
			}
			if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
				os.Remove(link)
			}
		}
		os.Remove(EtcNetnsDir) // only when empty
	}
	store.prune()
	return reports, errors.Join(errs...)
}

// teardown removes everything a state records, trying every step and
// joining the errors. It removes the state only when everything is gone.
func teardown(store Store, st *State) error {
	var errs []error
	inodes := map[uint64]bool{}
	for _, ns := range st.Namespaces {
		var sb unix.Stat_t
		if unix.Stat(filepath.Join(NetnsDir, ns), &sb) == nil && sb.Dev != 0 {
			if isNsfs(filepath.Join(NetnsDir, ns)) {
				inodes[sb.Ino] = true
			}
		}
	}
	errs = append(errs, killProcesses(st, inodes), removeCgroup(st.Lab))

	// Host namespaces first; the kernel then frees their veths, whose
	// switch-side ports vanish; then the switch namespace.
	var ports []string
	if sw, err := OpenNetns(st.SwitchNetns); err == nil {
		ports = switchPorts(sw)
		defer func() {
			waitPortsGone(sw, ports)
			sw.Close()
			errs = append(errs, DeleteNetns(st.SwitchNetns))
			finish(store, st, &errs)
		}()
	} else {
		defer finish(store, st, &errs)
	}
	// The /etc/netns links are on disk: removed while the kernel works.
	etc := make(chan error, 1)
	go func() { etc <- unlinkEtc(st.EtcDirs) }()
	for _, ns := range st.Namespaces {
		if ns == st.SwitchNetns {
			continue
		}
		errs = append(errs, DeleteNetns(ns))
	}
	errs = append(errs, <-etc)
	return errors.Join(errs...)
}

func unlinkEtc(links []string) error {
	var errs []error
	for _, link := range links {
		if filepath.Dir(link) != EtcNetnsDir {
			errs = append(errs, fmt.Errorf("refusing to remove %q: not under %s", link, EtcNetnsDir))
			continue
		}
		if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing %s: %w", link, err))
		}
	}
	os.Remove(EtcNetnsDir) // only when empty
	return errors.Join(errs...)
}

// finish removes the state once everything else is gone. It runs deferred,
// after the switch namespace, so the state outlives every object.
func finish(store Store, st *State, errs *[]error) {
	if errors.Join(*errs...) != nil {
		return
	}
	if err := store.remove(st.Lab); err != nil {
		*errs = append(*errs, err)
	}
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
		if p.PID > 0 && procStartTime(p.PID) == p.StartTime {
			targets[p.PID] = true
		}
	}
	for _, pid := range pidsInNamespaces(inodes) {
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

// processAlive is true for a process that exists and is not a zombie.
func processAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// procStartTime is field 22 of /proc/PID/stat, 0 when the process is gone.
func procStartTime(pid int) uint64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(fields[19], 10, 64)
	return v
}

// pidsInNamespaces lists processes whose network namespace is one of the
// inodes.
func pidsInNamespaces(inodes map[uint64]bool) []int {
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
	h, err := sw.NetlinkHandle()
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
	h, err := sw.NetlinkHandle()
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
