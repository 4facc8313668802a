package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Leftovers lists what remains of a lab: a namespace or its mount, a
// mount in its state directory (its etc tmpfs), an
// /etc/netns entry, a state or lock file, a process started in one of its
// hosts (they carry NETDOJO_LAB in their environment), its cgroup (with
// any process in it). Tests and verify
// use it to prove that stop leaves nothing behind.
func Leftovers(store Store, lab string) []string {
	var left []string
	owned := func(name string) bool { return labOwns(lab, name) }
	if entries, err := os.ReadDir(NetnsDir); err == nil {
		for _, e := range entries {
			if owned(e.Name()) {
				left = append(left, "namespace "+e.Name())
			}
		}
	}
	if entries, err := os.ReadDir(EtcNetnsDir); err == nil {
		for _, e := range entries {
			if owned(e.Name()) {
				left = append(left, "/etc/netns/"+e.Name())
			}
		}
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(mi), "\n") {
			f := strings.Fields(l)
			if len(f) > 4 && strings.HasPrefix(f[4], NetnsDir+"/") && owned(filepath.Base(f[4])) {
				left = append(left, "mount "+f[4])
			}
			if len(f) > 4 && strings.HasPrefix(f[4], store.LabDir(lab)+"/") {
				left = append(left, "mount "+f[4])
			}
		}
	}
	for _, p := range []string{store.LabDir(lab), filepath.Join(store.Dir, "locks", lab+".lock")} {
		if _, err := os.Lstat(p); err == nil {
			left = append(left, "state "+p)
		}
	}
	if cg := CgroupPath(lab); cg != "" {
		if _, err := os.Stat(cg); err == nil {
			left = append(left, "cgroup "+cg)
		}
	}
	marker := []byte("NETDOJO_LAB=" + lab + "\x00")
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", p.Name(), "environ"))
		if err == nil && bytes.Contains(env, marker) {
			stat, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
			if !bytes.Contains(stat, []byte(") Z ")) && !bytes.Contains(stat, []byte(") X ")) {
				left = append(left, fmt.Sprintf("process %d", pid))
			}
		}
	}
	return left
}
