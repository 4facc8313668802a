package services

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// childEnv makes the test binary run as a service child (services.Main).
const childEnv = "NETDOJO_SERVICE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func requireRoot(t testing.TB) {
	t.Helper()
	sandboxtest.NeedRoot(t, "runs services in network namespaces")
}

// testNetns makes a namespace named ndsv-RANDOM with loopback up and the
// given addresses (CIDR) on lo. Its cleanup, which runs after every service
// started in it has been stopped, asserts that no process is left in it,
// deletes it and asserts that it is gone.
func testNetns(t testing.TB, addrs ...string) *sandbox.Netns {
	t.Helper()
	requireRoot(t)
	if err := sandbox.EnsureNetnsDir(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	rand.Read(buf)
	name := "ndsv-" + hex.EncodeToString(buf)
	ns, err := sandbox.CreateNetns(name)
	if err != nil {
		t.Fatal(err)
	}
	etcDir := filepath.Join(sandbox.EtcNetnsDir, name)
	t.Cleanup(func() {
		if pids := pidsInNetns(t, ns); len(pids) > 0 {
			t.Errorf("processes left in namespace %s: %v", name, pids)
			for _, pid := range pids { // ours: started by this test in this namespace
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		err := errors.Join(ns.Close(), sandbox.DeleteNetns(name), os.RemoveAll(etcDir))
		if err != nil {
			t.Errorf("removing namespace %s: %v", name, err)
		}
		if sandbox.NetnsExists(name) {
			t.Errorf("namespace %s is left behind", name)
		}
		if _, err := os.Stat(etcDir); err == nil {
			t.Errorf("%s is left behind", etcDir)
		}
	})
	h, err := ns.NetlinkHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		addr, err := netlink.ParseAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.AddrAdd(lo, addr); err != nil {
			t.Fatalf("adding %s to lo in %s: %v", a, name, err)
		}
	}
	return ns
}

// writeEtc writes /etc/netns/NAME/FILE, which `ip netns exec` shows as /etc/FILE.
func writeEtc(t testing.TB, ns *sandbox.Netns, file, content string) {
	t.Helper()
	dir := filepath.Join(sandbox.EtcNetnsDir, ns.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pidsInNetns lists the processes whose network namespace is ns.
func pidsInNetns(t testing.TB, ns *sandbox.Netns) []int {
	t.Helper()
	var want syscall.Stat_t
	if err := syscall.Stat(ns.Path(), &want); err != nil {
		t.Errorf("stat %s: %v", ns.Path(), err)
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Errorf("reading /proc: %v", err)
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			// This test process is skipped: sandbox.CreateNetns may strand
			// its main thread (the thread group leader) in the namespace.
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
			continue
		}
		if st.Ino == want.Ino && st.Dev == want.Dev {
			pids = append(pids, pid)
		}
	}
	return pids
}

// child is a service process started by a test.
type child struct {
	t       testing.TB
	kind    string
	cmd     *exec.Cmd
	logPath string
	once    sync.Once
	code    int
	waitErr error
}

// startService starts KIND as a child process inside ns, waits until its
// Ready check passes and registers a cleanup that stops it and asserts a
// clean exit.
func startService(t testing.TB, ns *sandbox.Netns, kind string, p Params) *child {
	t.Helper()
	c := spawnService(t, ns, kind, p)
	k, _ := Lookup(kind)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.Ready(ctx, ns, p); err != nil {
		t.Fatalf("%s service not ready: %v\nlog:\n%s", kind, err, c.log())
	}
	return c
}

// spawnService starts the child without waiting for readiness.
func spawnService(t testing.TB, ns *sandbox.Netns, kind string, p Params) *child {
	t.Helper()
	if err := p.Check(); err != nil {
		t.Fatalf("params for %s: %v", kind, err)
	}
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return spawnArgs(t, ns, kind, string(js))
}

// spawnArgs starts a service child with its configuration argument
// (parameters as JSON, or @FILE) without waiting for readiness.
func spawnArgs(t testing.TB, ns *sandbox.Netns, kind, arg string) *child {
	t.Helper()
	return spawnArgsWith(t, ns, kind, arg, nil)
}

// spawnArgsWith is spawnArgs with files the child inherits as fd 3, 4...
func spawnArgsWith(t testing.TB, ns *sandbox.Netns, kind, arg string, extra []*os.File) *child {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), kind+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], kind, arg)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.ExtraFiles = extra
	if err := ns.Do(cmd.Start); err != nil {
		t.Fatalf("starting %s service: %v", kind, err)
	}
	c := &child{t: t, kind: kind, cmd: cmd, logPath: logPath}
	t.Cleanup(func() {
		if code := c.stop(); code != ExitOK {
			t.Errorf("%s service (pid %d) exited with %d (%v); log:\n%s", kind, c.pid(), code, c.waitErr, c.log())
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", c.pid())); err == nil {
			t.Errorf("%s service (pid %d) is still running", kind, c.pid())
		}
		if t.Failed() {
			t.Logf("%s service log:\n%s", kind, c.log())
		}
	})
	return c
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

// stop sends SIGTERM to the child by its PID and waits; after 5 s it kills
// it. It returns the exit code (-1 when killed).
func (c *child) stop() int { return c.end(true) }

// exited waits for the child to exit on its own (killing it after 5 s) and
// returns its exit code.
func (c *child) exited() int { return c.end(false) }

func (c *child) end(term bool) int {
	c.once.Do(func() {
		done := make(chan error, 1)
		if term {
			c.cmd.Process.Signal(syscall.SIGTERM)
		}
		go func() { done <- c.cmd.Wait() }()
		select {
		case c.waitErr = <-done:
		case <-time.After(5 * time.Second):
			c.cmd.Process.Kill()
			c.waitErr = errors.Join(errors.New("did not stop within 5s; killed"), <-done)
		}
		c.code = c.cmd.ProcessState.ExitCode()
	})
	return c.code
}

// inNetns runs a command inside the namespace with `ip netns exec`, the way a
// learner would, and returns its combined output and exit code.
func inNetns(t testing.TB, ns *sandbox.Netns, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name()}, args...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	default:
		t.Fatalf("running %v in %s: %v", args, ns.Name(), err)
		return "", -1
	}
}

// mustInNetns is inNetns for commands that must succeed.
func mustInNetns(t testing.TB, ns *sandbox.Netns, args ...string) string {
	t.Helper()
	out, code := inNetns(t, ns, args...)
	if code != 0 {
		t.Fatalf("%s in %s exited %d:\n%s", strings.Join(args, " "), ns.Name(), code, out)
	}
	return out
}

// ssShowsProcess asserts that `ss FLAGS` in the namespace lists a socket on
// port owned by the process name and pid.
func ssShowsProcess(t testing.TB, ns *sandbox.Netns, flags string, port int, name string, pid int) {
	t.Helper()
	out := mustInNetns(t, ns, "ss", flags, "-H", "sport", "= :"+strconv.Itoa(port))
	want := fmt.Sprintf(`users:(("%s",pid=%d,`, name, pid)
	if !strings.Contains(out, want) {
		t.Errorf("ss %s for port %d does not show %s; got:\n%s", flags, port, want, out)
	}
}

// waitFor polls cond every 20 ms until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after 10s; last saw:\n%s", what, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ssCount counts the lines `ss -Htan ARGS...` prints in the namespace.
func ssCount(t testing.TB, ns *sandbox.Netns, args ...string) (int, string) {
	t.Helper()
	out := mustInNetns(t, ns, append([]string{"ss", "-Htan"}, args...)...)
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n, out
}

var digStatus = regexp.MustCompile(`status: ([A-Z]+)`)
var digFlags = regexp.MustCompile(`;; flags: ([a-z ]*);`)
