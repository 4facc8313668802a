package faults

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/netdojo/netdojo/sandbox"
	"golang.org/x/sys/unix"
)

// Shared helpers of the Cleared judgements: each looks where a fault is
// (a host's routing table, a chain's counters, the process behind a
// listener, a router's ICMP) rather than end to end, so that a workaround
// that makes the goal work while the fault stays is not taken for a fix.
//
// The errors they return are observations of what is still wrong at the
// fault's place, in the words of the traffic and of behaviour ("IPv4
// traffic for other networks still leaves straight out of the interface
// as if it were on-link, through no router"). They may name the ends of
// the traffic, never the host, interface, chain, rule, process or value
// where the fault is (finding it is often the task), a command or the
// fix.

// labProcesses are the lab's recorded processes as the state on disk has
// them now (another netdojo process may have restarted a service), or as
// this Lab holds them.
func (e *Env) labProcesses() []sandbox.Process {
	if st, err := e.Lab.Store().Load(e.Lab.Name); err == nil && st != nil {
		return st.Processes
	}
	return e.Lab.State.Processes
}

// recordedProcess is the lab's recorded, running process of a name on
// the env's host.
func (e *Env) recordedProcess(name string) (sandbox.Process, bool) {
	for _, p := range e.labProcesses() {
		if p.Host == e.Host && p.Name == name && p.Alive() {
			return p, true
		}
	}
	return sandbox.Process{}, false
}

// socketPID is the PID of a process that holds a socket inode (found
// through the socket:[INODE] links in /proc/PID/fd, as ss -p does), or 0.
func socketPID(inode uint32) int {
	want := fmt.Sprintf("socket:[%d]", inode)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && link == want {
				pid, _ := strconv.Atoi(filepath.Base(dir))
				return pid
			}
		}
	}
	return 0
}

// serviceListens is nil when the TCP listener on port of the env's host
// is held by the recorded process of the scenario's service name (not
// another program, even one that answers the same), bound where the
// scenario binds it (listen: its address; empty or unspecified: every
// address).
func (e *Env) serviceListens(name string, port int, listen string) error {
	proc, ok := e.recordedProcess(name)
	socks, err := e.tcpSockets(e.Host)
	if err != nil {
		return err
	}
	want, _ := netip.ParseAddr(listen)
	found := false
	for _, s := range socks {
		if s.State != unix.BPF_TCP_LISTEN || int(s.ID.SourcePort) != port {
			continue
		}
		found = true
		pid := socketPID(s.INode)
		if !ok || !proc.Runs(pid) {
			return fmt.Errorf("the port of the %s service is held by a process that is not the lab's %s service", name, name)
		}
		src, _ := netip.AddrFromSlice(s.ID.Source)
		src = src.Unmap()
		if (!want.IsValid() || want.IsUnspecified()) && !src.IsUnspecified() {
			return fmt.Errorf("the %s service listens on one address only, so other hosts cannot reach it", name)
		}
		if want.IsValid() && !want.IsUnspecified() && src != want.Unmap() && !src.IsUnspecified() {
			return fmt.Errorf("the %s service listens on another address than the one it serves on", name)
		}
	}
	if !found {
		return fmt.Errorf("nothing listens on the port of the %s service", name)
	}
	return nil
}

// hostsFileHas reports whether the host's hosts file maps name to addr.
func hostsFileHas(path, name string, addr netip.Addr) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil || a.Unmap() != addr.Unmap() {
			continue
		}
		for _, n := range f[1:] {
			if strings.TrimSuffix(strings.ToLower(n), ".") == name {
				return true, nil
			}
		}
	}
	return false, nil
}
