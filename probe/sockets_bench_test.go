package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"golang.org/x/sys/unix"
)

const scBenchPairs = 20000 // connected pairs: 40,000 sockets and a listener

// The machine's hard RLIMIT_NOFILE may be below 40,000 and raising it
// needs CAP_SYS_RESOURCE, so the pairs are held by helper processes (this
// test binary run again as TestSCHelperHoldPairs), each with its own
// listener and a share of the pairs small enough for its limit.
const scHelperEnv = "NDSC_HOLD_PAIRS"

// TestSCHelperHoldPairs is not a test: it runs only as a helper process
// started by scLoopbackPairs, opens "N PORT" loopback pairs in its own
// namespace, prints "ready" and holds them until its stdin closes.
func TestSCHelperHoldPairs(t *testing.T) {
	spec := os.Getenv(scHelperEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	var n, port int
	if _, err := fmt.Sscan(spec, &n, &port); err != nil {
		t.Fatal(err)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	fds, err := scOpenPairs(n, port)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, fd := range fds {
		unix.Close(fd)
	}
	os.Exit(0)
}

// scOpenPairs opens n connected TCP pairs to 127.0.0.1:port in the
// calling thread's namespace.
func scOpenPairs(n, port int) ([]int, error) {
	fds := make([]int, 0, 2*n+1)
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fds, err
	}
	fds = append(fds, lfd)
	addr := &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(lfd, addr); err != nil {
		return fds, err
	}
	if err := unix.Listen(lfd, 4096); err != nil {
		return fds, err
	}
	for i := 0; i < n; i++ {
		cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fds, err
		}
		fds = append(fds, cfd)
		if err := unix.Connect(cfd, addr); err != nil {
			return fds, err
		}
		afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err != nil {
			return fds, err
		}
		fds = append(fds, afd)
	}
	return fds, nil
}

// scLoopbackPairs has helper processes inside ns open n connected pairs
// on loopback; cleanup ends them (by closing their stdin, then by PID).
func scLoopbackPairs(b *testing.B, ns *sandbox.Netns, n int) {
	b.Helper()
	self, err := os.Executable()
	scMust(b, err, "finding the test binary")
	const perHelper = 5000
	for i := 0; n > 0; i++ {
		k := min(n, perHelper)
		n -= k
		cmd := exec.Command(self, "-test.run=^TestSCHelperHoldPairs$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %d", scHelperEnv, k, 5000+i))
		stdin, err := cmd.StdinPipe()
		scMust(b, err, "helper stdin")
		stdout, err := cmd.StdoutPipe()
		scMust(b, err, "helper stdout")
		// Started on a thread inside the namespace, the helper lives there.
		scMust(b, ns.Do(cmd.Start), "starting helper %d", i)
		pid := cmd.Process.Pid
		b.Cleanup(func() {
			stdin.Close()
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			if unix.Kill(pid, 0) == nil {
				b.Errorf("helper %d left running", pid)
			}
		})
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			b.Fatalf("helper %d: %q %v", i, line, err)
		}
	}
}

// BenchmarkSocketTable compares, in one run on the same 40,000 sockets,
// the socket table read through sock_diag with `ss -tan` run inside the
// same namespace (its output to /dev/null, the cheapest place for ss).
func BenchmarkSocketTable(b *testing.B) {
	ns := scNewNetns(b)
	scLoopbackPairs(b, ns, scBenchPairs)
	tab, err := ListSockets(ns, SocketFilter{TCP: true})
	scMust(b, err, "listing sockets")
	if len(tab.Sockets) < 2*scBenchPairs {
		b.Fatalf("%d sockets, want %d", len(tab.Sockets), 2*scBenchPairs)
	}
	b.Run("netdojo ListSockets tcp", func(b *testing.B) {
		for b.Loop() {
			if _, err := ListSockets(ns, SocketFilter{TCP: true}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(tab.Sockets)), "sockets")
	})
	b.Run("netdojo ListSockets tcp with tcp_info", func(b *testing.B) {
		for b.Loop() {
			if _, err := ListSockets(ns, SocketFilter{TCP: true, TCPInfo: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("netdojo ListSockets tcp with owning processes", func(b *testing.B) {
		for b.Loop() {
			if _, err := ListSockets(ns, SocketFilter{TCP: true, Processes: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ss -tan", func(b *testing.B) {
		for b.Loop() {
			err := ns.Do(func() error { return exec.Command("ss", "-tan").Run() })
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ss -tanp", func(b *testing.B) {
		for b.Loop() {
			err := ns.Do(func() error { return exec.Command("ss", "-tanp").Run() })
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("netdojo ListSockets close-wait filtered in the kernel", func(b *testing.B) {
		cw, _ := ParseSocketStates("close-wait")
		for b.Loop() {
			t, err := ListSockets(ns, SocketFilter{TCP: true, States: cw})
			if err != nil {
				b.Fatal(err)
			}
			if len(t.Sockets) != 0 {
				b.Fatal(errors.New("CLOSE-WAIT sockets in a table of established pairs"))
			}
		}
	})
}
