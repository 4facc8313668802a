package services

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCommandLineHidesTheConfiguration: a service's /proc/PID/cmdline and
// comm show its program name only, never its parameters (a fault mode, a
// squatter's name), whether the parameters came as JSON or as a file.
func TestCommandLineHidesTheConfiguration(t *testing.T) {
	ns := testNetns(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "cfg.json")
	if err := writeConfig(path, Config{Kind: "dns", Process: "coredns", Params: []byte(`{"port":5353,"zones":[{"origin":"corp.test.","records":["www A 10.0.0.1"]}],"faults":[{"name":"www.corp.test.","mode":"nxdomain"}]}`)}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, kind, arg, want string
	}{
		{"parameters from a configuration file", "dns", "@" + path, "coredns"},
		{"parameters as JSON on the command line", "squatter", `{"port":8443,"name":"ruby"}`, "ruby"},
		{"an HTTP server", "http", `{"port":8080,"body":"secret-body"}`, "httpd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := spawnArgs(t, ns, tc.kind, tc.arg)
			waitFor(t, "the command line to be the program name", func() (bool, string) {
				cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.pid()))
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c.pid()))
				got := string(bytes.TrimRight(cl, "\x00"))
				return got == tc.want && strings.TrimSpace(string(comm)) == tc.want, fmt.Sprintf("cmdline %q comm %q", cl, comm)
			})
			cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.pid()))
			for _, secret := range []string{"nxdomain", "mode", "{", "port", "__service", "secret-body"} {
				if bytes.Contains(cl, []byte(secret)) && secret != tc.want {
					t.Errorf("/proc/PID/cmdline shows %q: %q", secret, cl)
				}
			}
			ps := mustInNetns(t, ns, "ps", "-o", "args=", "-p", fmt.Sprint(c.pid()))
			if strings.TrimSpace(ps) != tc.want {
				t.Errorf("ps -o args shows %q, want %q", ps, tc.want)
			}
		})
	}
}

// TestReadyWithLoopbackBlocked: a firewall that drops everything on
// loopback makes the dialled health check fail, but a service that holds
// its listening socket is ready (sock_diag); one that holds none is not.
func TestReadyWithLoopbackBlocked(t *testing.T) {
	ns := testNetns(t)
	mustInNetns(t, ns, "iptables", "-A", "INPUT", "-i", "lo", "-j", "DROP")
	c := spawnArgs(t, ns, "tcp-echo", `{"port":7070}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ownedListenerReady(ctx, ns, "tcp-echo", c.pid(), is(c.pid()), "tcp"); err != nil {
		t.Errorf("a listening tcp-echo behind a loopback DROP is not ready: %v", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel2()
	if err := tcpReady(short, ns, "tcp-echo", "", 7070); err == nil {
		t.Fatal("the dialled health check passes through a loopback DROP: the test shows nothing")
	}
	short3, cancel3 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel3()
	if err := ownedListenerReady(short3, ns, "tcp-echo", os.Getpid(), is(os.Getpid()), "tcp"); err == nil {
		t.Error("a process with no listening socket is ready")
	}
}

// TestSIGHUPRestartsWithTheSameConfiguration: SIGHUP restarts a service in
// place (same PID, listening again) with the configuration it had.
func TestSIGHUPRestartsWithTheSameConfiguration(t *testing.T) {
	ns := testNetns(t)
	c := spawnArgs(t, ns, "http", `{"port":8081,"body":"same body\n"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ownedListenerReady(ctx, ns, "http", c.pid(), is(c.pid()), "tcp"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(c.pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restarted server to answer with its body", func() (bool, string) {
		out, _ := inNetns(t, ns, "curl", "-s", "--max-time", "1", "http://127.0.0.1:8081/")
		return out == "same body\n", out
	})
	if !strings.Contains(c.log(), "restarting on SIGHUP") {
		t.Errorf("the log does not say it restarted:\n%s", c.log())
	}
	ssShowsProcess(t, ns, "-tlnp", 8081, "httpd", c.pid())
}

// is matches one PID.
func is(pid int) func(int) bool { return func(p int) bool { return p == pid } }

// TestConfigurationFromAnInheritedFile: inside a host the store is hidden
// and a service gets its configuration as an open file (@/dev/fd/N). It
// closes the file once read (no /proc/PID/fd/N leads to it) and still
// restarts on SIGHUP with the same configuration.
func TestConfigurationFromAnInheritedFile(t *testing.T) {
	ns := testNetns(t)
	path := filepath.Join(t.TempDir(), "cfg.json")
	if err := writeConfig(path, Config{Kind: "http", Process: "httpd", Params: []byte(`{"port":8082,"body":"fd body\n"}`)}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := spawnArgsWith(t, ns, "http", "@/dev/fd/3", []*os.File{f})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ownedListenerReady(ctx, ns, "http", c.pid(), is(c.pid()), "tcp"); err != nil {
		t.Fatalf("%v\n%s", err, c.log())
	}
	openFiles := func() string {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.pid()))
		var out []string
		for _, e := range ents {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", c.pid(), e.Name()))
			out = append(out, l)
		}
		return strings.Join(out, " ")
	}
	if of := openFiles(); strings.Contains(of, path) || strings.Contains(of, "memfd") {
		t.Errorf("the service keeps its configuration open: %s", of)
	}
	if err := syscall.Kill(c.pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restarted server to answer with its body", func() (bool, string) {
		out, _ := inNetns(t, ns, "curl", "-s", "--max-time", "1", "http://127.0.0.1:8082/")
		return out == "fd body\n", out
	})
	if of := openFiles(); strings.Contains(of, path) || strings.Contains(of, "memfd") {
		t.Errorf("the restarted service keeps its configuration open: %s", of)
	}
}

// TestTheLogNamesTheProgramNotTheKind: a service's log, which a learner can
// read through /proc/PID/fd/1, names the program (as ps does), never the
// kind that says what the lab made it do (close-wait-leaker, squatter).
func TestTheLogNamesTheProgramNotTheKind(t *testing.T) {
	ns := testNetns(t)
	c := spawnArgs(t, ns, "squatter", `{"port":8444,"name":"ruby"}`)
	waitFor(t, "the squatter to log that it listens", func() (bool, string) {
		return strings.Contains(c.log(), "listening"), c.log()
	})
	if l := c.log(); strings.Contains(l, "squatter") || !strings.Contains(l, "service=ruby") {
		t.Errorf("the log names the kind, or not the program:\n%s", l)
	}
}
