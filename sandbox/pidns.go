package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Every lab has a PID namespace of its own, held by a lab init: a tiny
// netdojo process (`netdojo __enter --lab-init`) that is PID 1 there and
// reaps orphans. Every command run in a host (Lab.Command: services,
// steps, `netdojo shell` and `exec`) enters it and mounts a /proc of its
// own, so `ps` and `ss -p` inside a host list the lab's processes only,
// with the PIDs of the lab's namespace. Killing the lab init ends every
// process in the namespace: a guarantee of stop besides the cgroup.
//
// Entering takes two stages, because joining a PID namespace (setns)
// only affects the children of the caller: __enter (stage 1, outside)
// prepares the network, mount and UTS namespaces, joins the PID namespace
// and starts `__enter --proc` (stage 2, inside), which mounts /proc and
// executes the command. Stage 1 waits, forwards SIGTERM, SIGHUP, SIGUSR1
// and SIGUSR2, and exits with the command's status; if stage 1 is killed,
// the command is killed too. Terminal signals (Ctrl-C) reach the command
// directly.
//
// `ip netns exec LAB-HOST CMD` still works but shows the machine's
// processes: netdojo shell and exec are the confined way in.

// labInitArg and procArg select the lab init and stage 2 in EnterMain.
const (
	labInitArg = "--lab-init"
	procArg    = "--proc"
)

// The first PID of a lab's processes is drawn from
// [firstPIDMin, firstPIDMin+firstPIDSpan).
const (
	firstPIDMin  = 300
	firstPIDSpan = 30000
)

// LabInitName is the process name of a lab init, as `ps` shows it inside
// a lab: PID 1.
const LabInitName = "netdojo-init"

// startInit starts the lab init in a new PID namespace, inside the lab's
// cgroup, and records it in the state.
func (l *Lab) startInit() error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the netdojo binary: %w", err)
	}
	cmd := &exec.Cmd{Path: self, Args: []string{LabInitName, EnterCommand, labInitArg, filepath.Join(l.store.Dir, "labs")}, Dir: "/"}
	cmd.Env = append(os.Environ(), "NETDOJO_LAB="+l.Name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	if err := l.intoCgroup(cmd.SysProcAttr); err != nil {
		return err
	}
	ready, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("starting the process namespace of lab %q: %w", l.Name, err)
	}
	defer ready.Close()
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("starting the process namespace of lab %q: %w", l.Name, err)
	}
	p := &Process{Name: LabInitName, PID: cmd.Process.Pid}
	for i := 0; i < 100 && p.StartTime == 0; i++ {
		p.StartTime = ProcStartTime(p.PID)
	}
	go cmd.Wait() // reaped if it ends while this netdojo runs
	l.mu.Lock()
	l.State.Init = p
	l.mu.Unlock()
	if err := l.Save(); err != nil {
		return err
	}
	// Nothing enters the namespace before the init has set its first PID.
	ready.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(ready).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		return fmt.Errorf("the init of lab %q did not start: %q", l.Name, strings.TrimSpace(line))
	}
	return nil
}

// initAlive reports whether p is still the lab's init, so a reused PID,
// or a PID written into a crafted state, is never entered or signalled.
func initAlive(p *Process, lab string) bool {
	return provablyInit(p, lab) && processAlive(p.PID)
}

// provablyInit reports whether p is the lab's init: the recorded start
// time, PID 1 of its own PID namespace, started as netdojo-init with the
// lab's marker in its environment, and in the lab's cgroup when there is
// one.
func provablyInit(p *Process, lab string) bool {
	if p == nil || p.PID <= 0 || ProcStartTime(p.PID) != p.StartTime || NSPID(p.PID) != 1 {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil || !strings.HasPrefix(string(cmdline), LabInitName+"\x00") {
		return false
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.PID))
	if err != nil || !strings.Contains("\x00"+string(env), "\x00NETDOJO_LAB="+lab+"\x00") {
		return false
	}
	return CgroupPath(lab) == "" || InLabCgroup(p.PID, lab)
}

// killInit ends the lab init, and with it every process of its PID
// namespace.
func killInit(p *Process, lab string) {
	if !provablyInit(p, lab) {
		return
	}
	syscall.Kill(p.PID, syscall.SIGKILL)
	deadline := time.Now().Add(2 * time.Second)
	for threadsAlive(p.PID) && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
}

// threadsAlive is true while any thread of the process is not dead. The
// lab init is multi-threaded: its main thread can be a zombie while its
// last thread is still ending the rest of the PID namespace.
func threadsAlive(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false
	}
	for _, t := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		if err != nil {
			continue
		}
		s := string(data)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X' {
			return true
		}
	}
	return false
}

// pidnsArg is how Lab.Command tells stage 1 which namespace to join:
// PID:STARTTIME of the lab init; "" when the lab has none.
func (l *Lab) pidnsArg() (string, error) {
	l.mu.Lock()
	p := l.State.Init
	l.mu.Unlock()
	if p == nil {
		return "", nil
	}
	if !initAlive(p, l.Name) {
		return "", fmt.Errorf("the process namespace of lab %q is gone (its init, pid %d, ended); stop the lab and start it again", l.Name, p.PID)
	}
	return fmt.Sprintf("%d:%d", p.PID, p.StartTime), nil
}

// labInitMain is PID 1 of a lab's PID namespace: it ignores the signals a
// process of the lab could send it (the kernel only lets through those
// with a handler) and reaps every orphan until SIGKILL.
func labInitMain(args []string) error {
	if os.Getpid() != 1 {
		return errors.New("the lab init must be PID 1 of a new PID namespace")
	}
	// In a mount namespace of its own, the store hidden as in every
	// host (see hideStore): /proc/1/root in a host leads nowhere.
	if len(args) > 0 {
		if err := unix.Mount("", "/", "none", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			fmt.Printf("making / a slave mount: %v\n", err)
			return err
		}
		if _, err := hideStore(args[0], nil); err != nil {
			fmt.Println(err)
			return err
		}
	}
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGTSTP)
	// The lab's processes get PIDs from a random point, as on a machine
	// that has been up for a while: two labs of a scenario do not share
	// their PIDs (a PID is an answer). ns_last_pid is the writer's own
	// namespace's.
	first := firstPIDMin + rand.IntN(firstPIDSpan)
	if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(first)), 0); err != nil {
		fmt.Printf("setting the first PID: %v\n", err)
		return err
	}
	fmt.Println("ready")
	os.Stdout.Close()
	chld := make(chan os.Signal, 16)
	signal.Notify(chld, syscall.SIGCHLD)
	for {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		select {
		case <-chld:
		case <-time.After(time.Second): // a missed SIGCHLD costs a second at most
		}
	}
}

// joinPidns is stage 1's last step: join the lab's PID namespace (for the
// children of this thread), run stage 2 there and wait for it. It returns
// only on error; otherwise it exits with the command's status.
func joinPidns(arg, path string, argv []string) error {
	pidStr, startStr, ok := strings.Cut(arg, ":")
	pid, err1 := strconv.Atoi(pidStr)
	start, err2 := strconv.ParseUint(startStr, 10, 64)
	if !ok || err1 != nil || err2 != nil || pid <= 0 {
		return fmt.Errorf("bad --pidns %q: want PID:STARTTIME", arg)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/pid", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the lab's process namespace: %w", err)
	}
	// Checked after opening: the descriptor is the init's namespace.
	if ProcStartTime(pid) != start {
		return fmt.Errorf("the lab's init (pid %d) has ended; stop the lab and start it again", pid)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWPID); err != nil {
		return fmt.Errorf("entering the lab's process namespace: %w", err)
	}
	unix.Close(fd)
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the netdojo binary: %w", err)
	}
	cmd := &exec.Cmd{Path: self, Args: append([]string{argv[0], EnterCommand, procArg, path, "--"}, argv...)}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	fwd := make(chan os.Signal, 4)
	signal.Notify(fwd, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	// Caught, not ignored: an ignored signal would stay ignored in the
	// command. The terminal sends them to the command itself.
	drop := make(chan os.Signal, 4)
	signal.Notify(drop, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGPIPE)
	go func() {
		for range drop {
		}
	}()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s in the lab's process namespace: %w", argv[0], err)
	}
	go func() {
		for s := range fwd {
			cmd.Process.Signal(s)
		}
	}()
	cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		os.Exit(128 + int(ws.Signal()))
	default:
		os.Exit(ws.ExitStatus())
	}
	return nil
}

// procMain is stage 2, inside the lab's PID namespace: a /proc of the
// namespace over the machine's (in the command's private mount
// namespace), then the command.
func procMain(args []string) error {
	if len(args) < 3 || args[1] != "--" {
		return errors.New("usage: netdojo __enter --proc PATH -- CMD [ARG...]")
	}
	path, argv := args[0], args[2:]
	// Killed with stage 1 (set here: Go's own Pdeathsig check reads the
	// parent's PID, which is 0 seen from inside the namespace). The parent
	// is outside, so getppid is 0 until stage 1 is gone.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("tying the command to netdojo: %w", err)
	}
	if os.Getppid() != 0 {
		os.Exit(128 + int(unix.SIGKILL))
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc of the lab: %w", err)
	}
	return syscall.Exec(path, argv, os.Environ())
}

// NSPID is the PID of a process as its own PID namespace numbers it (the
// last NSpid field of /proc/PID/status): inside a lab, what `ps` and
// `ss -p` show. It is pid itself for a process of the machine's
// namespace, and 0 when the process is gone.
func NSPID(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return pid
			}
			n, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				return pid
			}
			return n
		}
	}
	return pid
}
