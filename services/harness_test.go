package services

import (
	"context"
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
// given addresses (CIDR) on lo (sandboxtest.NewNetns). Its cleanup, which
// runs after every service started in it has been stopped, asserts that no
// process is left in it, deletes it and asserts that it is gone.
func testNetns(t testing.TB, addrs ...string) *sandbox.Netns {
	t.Helper()
	requireRoot(t)
	ns := sandboxtest.NewNetns(t, "ndsv-")
	for _, a := range addrs {
		sandboxtest.AddAddr(t, ns, "lo", a)
	}
	return ns
}

// The shared namespace helpers, under this suite's names.
var (
	writeEtc    = sandboxtest.WriteEtc // /etc/netns/NAME/FILE, seen as /etc/FILE
	inNetns     = sandboxtest.Exec     // `ip netns exec`: output and exit code
	mustInNetns = sandboxtest.Run      // inNetns for commands that must succeed
	waitFor     = sandboxtest.WaitFor  // poll until a condition holds, or fail after 10 s
)

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
