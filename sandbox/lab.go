package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netdojo/netdojo/scenarios"
	"golang.org/x/sys/unix"
)

// Lab is a lab that exists: made by Start or found by Open.
type Lab struct {
	Name     string
	Scenario *scenarios.Scenario // nil when opened from state alone
	State    *State

	store Store
	mu    sync.Mutex
	netns map[string]*Netns
	cgfd  int // the lab's cgroup, opened by cgroupFD; 0 when not open
}

// Open finds a lab by name. The name is checked before anything is read,
// and the state is checked as untrusted input (see Store.Load).
func Open(store Store, name string) (*Lab, error) {
	st, err := store.Load(name)
	if err != nil {
		return nil, err
	}
	return &Lab{Name: name, State: st, store: store, netns: map[string]*Netns{}}, nil
}

// Store is where the lab's state lives.
func (l *Lab) Store() Store { return l.store }

// Dir is the lab's state directory (logs, saved scenario).
func (l *Lab) Dir() string { return l.store.LabDir(l.Name) }

// Save writes the lab's state.
func (l *Lab) Save() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.store.Save(l.State)
}

// HostNames lists the lab's hosts in scenario order.
func (l *Lab) HostNames() []string {
	var names []string
	for _, h := range l.State.Hosts {
		names = append(names, h.Name)
	}
	return names
}

// Host opens the namespace of a host. The handle is cached and closed by
// Close.
func (l *Lab) Host(name string) (*Netns, error) {
	if err := scenarios.ValidName("host", name); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.State.Hosts {
		if h.Name != name {
			continue
		}
		if ns, ok := l.netns[h.Netns]; ok {
			return ns, nil
		}
		ns, err := OpenNetns(h.Netns)
		if err != nil {
			return nil, err
		}
		l.netns[h.Netns] = ns
		return ns, nil
	}
	return nil, fmt.Errorf("lab %q has no host %q; its hosts are: %s", l.Name, name, strings.Join(l.HostNames(), ", "))
}

// Close releases the namespace handles; the lab keeps running.
func (l *Lab) Close() error { return l.closeHandles() }

func (l *Lab) closeHandles() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for k, ns := range l.netns {
		errs = append(errs, ns.Close())
		delete(l.netns, k)
	}
	if l.cgfd > 0 {
		errs = append(errs, unix.Close(l.cgfd))
		l.cgfd = 0
	}
	return errors.Join(errs...)
}

// netnsOf returns the namespace name of a host.
func (l *Lab) netnsOf(host string) (string, error) {
	if err := scenarios.ValidName("host", host); err != nil {
		return "", err
	}
	for _, h := range l.State.Hosts {
		if h.Name == host {
			return h.Netns, nil
		}
	}
	return "", fmt.Errorf("lab %q has no host %q; its hosts are: %s", l.Name, host, strings.Join(l.HostNames(), ", "))
}

// Command prepares a command to run inside a host, with the host's own
// /etc/resolv.conf, /etc/hosts and hostname, as `ip netns exec` gives plus
// the hostname. The netdojo binary re-executes itself to enter the host
// (see EnterMain), so the caller's threads never switch. The command is
// created inside the lab's cgroup, so it and every process it forks are
// the lab's, ended by Stop, and it runs in the lab's PID namespace with
// its own /proc (see pidns.go). A caller that sets more attributes changes
// cmd.SysProcAttr rather than replacing it.
func (l *Lab) Command(host string, argv ...string) (*exec.Cmd, error) {
	ns, err := l.netnsOf(host)
	if err != nil {
		return nil, err
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("no command to run in host %q", host)
	}
	// Opening the host refuses a namespace path that is a symbolic link or
	// holds the machine's own network namespace, before anything runs.
	if _, err := l.Host(host); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the netdojo binary: %w", err)
	}
	args := []string{EnterCommand, "--netns", ns, "--hostname", host, "--hide", filepath.Join(l.store.Dir, "labs")}
	pidns, err := l.pidnsArg()
	if err != nil {
		return nil, err
	}
	if pidns != "" {
		args = append(args, "--pidns", pidns)
	}
	args = append(append(args, "--"), argv...)
	cmd := exec.Command(self, args...)
	// The marker is this lab's alone, even when netdojo runs from inside
	// another lab's host.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, LabMarker+"=") && !strings.HasPrefix(kv, "NETDOJO_HOST=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, LabMarker+"="+l.Name, "NETDOJO_HOST="+host)
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if err := l.intoCgroup(cmd.SysProcAttr); err != nil {
		return nil, err
	}
	return cmd, nil
}

// Spawn starts a long-running process inside a host, records it in the
// lab's state, and sends its output to a log file in the lab's directory.
// Stop ends it.
func (l *Lab) Spawn(host, name string, argv ...string) (Process, error) {
	cmd, err := l.Command(host, argv...)
	if err != nil {
		return Process{}, err
	}
	logDir := filepath.Join(l.Dir(), "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return Process{}, fmt.Errorf("creating log directory: %w", err)
	}
	logPath := filepath.Join(logDir, host+"-"+name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Process{}, fmt.Errorf("opening log of %q: %w", name, err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr.Setsid = true
	if err := cmd.Start(); err != nil {
		return Process{}, fmt.Errorf("starting %q in host %q: %w", name, host, err)
	}
	p := Process{Name: name, Host: host, PID: cmd.Process.Pid, Log: logPath}
	for i := 0; i < 100 && p.StartTime == 0; i++ {
		p.StartTime = ProcStartTime(p.PID)
	}
	// Reap it if it ends while this netdojo runs; it may outlive us.
	go cmd.Wait()
	l.mu.Lock()
	l.State.Processes = append(l.State.Processes, p)
	l.mu.Unlock()
	if err := l.Save(); err != nil {
		return p, err
	}
	return p, nil
}

// Alive reports whether a recorded process still runs.
func (p Process) Alive() bool {
	return p.PID > 0 && ProcStartTime(p.PID) == p.StartTime && processAlive(p.PID)
}

// Runs reports whether pid is the recorded process or runs under it. A
// process started in a host is recorded by its first stage, which enters
// the lab's PID namespace and waits for its child, the program itself
// (see EnterMain); the program is what owns sockets and files.
func (p Process) Runs(pid int) bool {
	if !p.Alive() {
		return false
	}
	for i := 0; i < 4 && pid > 1; i++ {
		if pid == p.PID {
			return true
		}
		pid = procParent(pid)
	}
	return false
}

// StopProcess ends a recorded process by its PID and forgets it.
func (l *Lab) StopProcess(host, name string) error {
	l.mu.Lock()
	var keep []Process
	var target *Process
	for i, p := range l.State.Processes {
		if p.Host == host && p.Name == name && target == nil {
			target = &l.State.Processes[i]
			continue
		}
		keep = append(keep, p)
	}
	l.mu.Unlock()
	if target == nil {
		return fmt.Errorf("host %q runs no process %q", host, name)
	}
	if target.Alive() && provablyLabs(*target, l.Name) {
		syscall.Kill(target.PID, syscall.SIGTERM)
		deadline := time.Now().Add(3 * time.Second)
		for target.Alive() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if target.Alive() {
			syscall.Kill(target.PID, syscall.SIGKILL)
		}
	}
	l.mu.Lock()
	l.State.Processes = keep
	l.mu.Unlock()
	return l.Save()
}
