package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Every lab has a cgroup, netdojo/LAB under the machine's cgroup2 mount
// (/sys/fs/cgroup on a unified layout, /sys/fs/cgroup/unified on a hybrid
// one). Every process a lab starts is created inside it (clone with
// CLONE_INTO_CGROUP), so its children are there too, whatever namespace
// they move to or however often they fork: the cgroup is the lab marker
// that survives a namespace deleted by hand. Stop ends everything in it
// (cgroup.kill) and removes it. The cgroup uses no controller: it limits
// nothing, it only marks.
//
// Without a writable cgroup2 mount there is no lab cgroup; processes are
// then found through the lab's namespaces, its recorded processes and its
// PID namespace (see pidns.go).

// CgroupParent is the directory of the labs' cgroups under the cgroup2 mount.
const CgroupParent = "netdojo"

var (
	cgroupRootOnce sync.Once
	cgroupRoot     string
)

// CgroupRoot is where cgroup2 is mounted, "" when it is not (or only
// read-only).
func CgroupRoot() string {
	cgroupRootOnce.Do(func() { cgroupRoot = findCgroup2() })
	return cgroupRoot
}

func findCgroup2() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	var found string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER
		line := sc.Text()
		i := strings.Index(line, " - ")
		if i < 0 {
			continue
		}
		fields, tail := strings.Fields(line[:i]), strings.Fields(line[i+3:])
		if len(fields) < 6 || len(tail) < 1 || tail[0] != "cgroup2" || fields[3] != "/" {
			continue
		}
		// A read-only hierarchy (a container's) cannot hold lab cgroups.
		if opts := "," + fields[5] + ","; strings.Contains(opts, ",ro,") || unix.Access(fields[4], unix.W_OK) != nil {
			continue
		}
		// Prefer /sys/fs/cgroup (unified) over a second mount elsewhere.
		if found == "" || fields[4] == "/sys/fs/cgroup" {
			found = fields[4]
		}
	}
	return found
}

// CgroupPath is the directory of a lab's cgroup, "" when the machine has no
// cgroup2 or the name could leave the netdojo directory.
func CgroupPath(lab string) string {
	root := CgroupRoot()
	if root == "" || lab == "" || lab == "." || lab == ".." || strings.ContainsAny(lab, "/\x00") {
		return ""
	}
	return filepath.Join(root, CgroupParent, lab)
}

// createCgroup makes the lab's cgroup. One left by an interrupted run of
// the same lab is kept (Start tore down that run first).
func createCgroup(lab string) error {
	path := CgroupPath(lab)
	if path == "" {
		return nil
	}
	// Another lab's stop removes netdojo/ once it is empty, which can
	// happen between the two mkdirs: then both are made again.
	return retryVanished(func() error {
		if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating cgroup %s: %w", filepath.Dir(path), err)
		}
		if err := os.Mkdir(path, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating cgroup of lab %q: %w", lab, err)
		}
		return nil
	})
}

// cgroupFD opens the lab's cgroup for CLONE_INTO_CGROUP; -1 without
// cgroup2. The descriptor is cached and closed by Close.
func (l *Lab) cgroupFD() (int, error) {
	path := CgroupPath(l.Name)
	if path == "" {
		return -1, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cgfd > 0 {
		return l.cgfd, nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening the cgroup of lab %q (%s): %w; stop the lab and start it again", l.Name, path, err)
	}
	l.cgfd = fd
	return fd, nil
}

// intoCgroup makes cmd start inside the lab's cgroup.
func (l *Lab) intoCgroup(attr *syscall.SysProcAttr) error {
	fd, err := l.cgroupFD()
	if err != nil || fd < 0 {
		return err
	}
	attr.UseCgroupFD, attr.CgroupFD = true, fd
	return nil
}

// cgroupPIDs lists the processes in a cgroup and its descendants.
func cgroupPIDs(path string) []int {
	if path == "" {
		return nil
	}
	var pids []int
	filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// removeCgroup kills every process left in the lab's cgroup (cgroup.kill,
// or SIGKILL to each member on kernels without it), waits for them to be
// gone, and removes the cgroup and any cgroup made inside it.
func removeCgroup(lab string) error {
	path := CgroupPath(lab)
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := os.WriteFile(filepath.Join(path, "cgroup.kill"), []byte("1"), 0); err != nil {
			for _, pid := range cgroupPIDs(path) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if len(cgroupPIDs(path)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v of lab %q survive in cgroup %s", cgroupPIDs(path), lab, path)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Children first: a process of the lab may have made sub-cgroups.
	var dirs []string
	filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		var err error
		// A killed process leaves its cgroup a moment after it is reaped.
		for try := 0; try < 200; try++ {
			if err = unix.Rmdir(dirs[i]); err == nil || errors.Is(err, unix.ENOENT) || !errors.Is(err, unix.EBUSY) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dirs[i], err))
		}
	}
	unix.Rmdir(filepath.Dir(path)) // only when no other lab has a cgroup
	return errors.Join(errs...)
}

// InLabCgroup reports whether a process is in the lab's cgroup (or one
// made inside it): the lab marker that survives a lost namespace. It is
// false without cgroup2, for a process that is gone, and for any other.
func InLabCgroup(pid int, lab string) bool {
	root, path := CgroupRoot(), CgroupPath(lab)
	if path == "" || pid <= 0 {
		return false
	}
	rel := strings.TrimPrefix(path, root) // "/netdojo/LAB"
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if cg, ok := strings.CutPrefix(line, "0::"); ok {
			return cg == rel || strings.HasPrefix(cg, rel+"/")
		}
	}
	return false
}
