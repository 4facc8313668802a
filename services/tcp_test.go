package services

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHTTP(t *testing.T) {
	ns := testNetns(t)
	const port = 8080
	c := startService(t, ns, "http", &HTTPParams{Port: port, Status: 503, Delay: "300ms", BodySize: 200000})
	ssShowsProcess(t, ns, "-tlnp", port, "httpd", c.pid())

	curl := func(path string) []string {
		t.Helper()
		out := mustInNetns(t, ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_starttransfer}",
			"http://127.0.0.1:"+strconv.Itoa(port)+path)
		return strings.Fields(out)
	}
	t.Run("a request gets the chosen status and body size after the delay", func(t *testing.T) {
		got := curl("/")
		ttfb, _ := strconv.ParseFloat(got[2], 64)
		if got[0] != "503" || got[1] != "200000" || ttfb < 0.3 {
			t.Errorf("curl: got status %s, %s bytes, first byte after %ss; want 503, 200000 bytes, at least 0.3s", got[0], got[1], got[2])
		}
	})
	t.Run("/health answers 200 whatever the status", func(t *testing.T) {
		if got := curl("/health"); got[0] != "200" {
			t.Errorf("curl /health: status %s, want 200", got[0])
		}
	})
	t.Run("every request is logged", func(t *testing.T) {
		if !strings.Contains(c.log(), "msg=request") || !strings.Contains(c.log(), "status=503 bytes=200000") {
			t.Errorf("log lacks the request:\n%s", c.log())
		}
	})
}

func TestTCPEchoBannerAndUDPEcho(t *testing.T) {
	ns := testNetns(t)
	echo := startService(t, ns, "tcp-echo", &ListenParams{defPort: 7, name: "echod"})
	udp := startService(t, ns, "udp-echo", &ListenParams{defPort: 7, name: "nd-udp-echo"})
	banner := startService(t, ns, "banner", &BannerParams{Port: 2222, Text: "SSH-2.0-netdojo"})
	closer := startService(t, ns, "banner", &BannerParams{Port: 2525, Text: "220 mail.corp.test ESMTP", Close: true})

	t.Run("ss shows each service with its pid and name", func(t *testing.T) {
		ssShowsProcess(t, ns, "-tlnp", 7, "echod", echo.pid())
		ssShowsProcess(t, ns, "-ulnp", 7, "echod", udp.pid())
		ssShowsProcess(t, ns, "-tlnp", 2222, "sshd", banner.pid())
		ssShowsProcess(t, ns, "-tlnp", 2525, "smtpd", closer.pid())
	})
	t.Run("tcp-echo sends back what nc sends", func(t *testing.T) {
		out := ncWithInput(t, ns, "hello tcp\n", "-N", "127.0.0.1", "7")
		if out != "hello tcp\n" {
			t.Errorf("nc got %q, want %q", out, "hello tcp\n")
		}
	})
	t.Run("udp-echo sends back a datagram", func(t *testing.T) {
		out := ncWithInput(t, ns, "hello udp\n", "-u", "-w1", "127.0.0.1", "7")
		if out != "hello udp\n" {
			t.Errorf("nc -u got %q, want %q", out, "hello udp\n")
		}
	})
	t.Run("banner sends its line on connect and waits for the client to close", func(t *testing.T) {
		out := ncWithInput(t, ns, "", "-N", "127.0.0.1", "2222")
		if out != "SSH-2.0-netdojo\r\n" {
			t.Errorf("nc got %q, want the banner line", out)
		}
	})
	t.Run("banner with close closes first", func(t *testing.T) {
		out := ncWithInput(t, ns, "", "127.0.0.1", "2525")
		if out != "220 mail.corp.test ESMTP\r\n" {
			t.Errorf("nc got %q, want the banner line", out)
		}
		n, seen := ssCount(t, ns, "state", "time-wait", "sport", "= :2525")
		if n < 1 {
			t.Errorf("want the server side in TIME_WAIT after it closed first; ss shows:\n%s", seen)
		}
	})
}

// ncWithInput runs nc in the namespace with stdin and returns its stdout.
func ncWithInput(t *testing.T, ns interface{ Name() string }, input string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name(), "nc"}, args...)...)
	cmd.Stdin = strings.NewReader(input)
	cmd.WaitDelay = 5 * time.Second
	done := make(chan struct{})
	timer := time.AfterFunc(10*time.Second, func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill() // our own nc, by its pid
		}
	})
	defer timer.Stop()
	out, err := cmd.Output()
	close(done)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("nc %v: %v: %s", args, err, ee.Stderr)
		}
		t.Fatalf("nc %v: %v", args, err)
	}
	return string(out)
}

func TestCloseWaitLeaker(t *testing.T) {
	ns := testNetns(t)
	const port = 8080
	c := startService(t, ns, "close-wait-leaker", &ListenParams{Port: port, defPort: 8080, name: ""})
	ssShowsProcess(t, ns, "-tlnp", port, "close-wait-leak", c.pid())
	for i := 1; i <= 3; i++ {
		mustInNetns(t, ns, "nc", "-z", "127.0.0.1", strconv.Itoa(port))
		waitFor(t, "CLOSE_WAIT count "+strconv.Itoa(i), func() (bool, string) {
			n, out := ssCount(t, ns, "state", "close-wait", "sport", "= :"+strconv.Itoa(port))
			return n == i, out
		})
	}
	t.Run("the CLOSE_WAIT sockets belong to the leaker", func(t *testing.T) {
		out := mustInNetns(t, ns, "ss", "-Htanp", "state", "close-wait", "sport", "= :"+strconv.Itoa(port))
		if strings.Count(out, `("close-wait-leak",pid=`+strconv.Itoa(c.pid())+",") != 3 {
			t.Errorf("want 3 CLOSE_WAIT sockets owned by close-wait-leak; ss shows:\n%s", out)
		}
	})
	t.Run("stopping the leaker closes them", func(t *testing.T) {
		if code := c.stop(); code != ExitOK {
			t.Fatalf("exit code %d", code)
		}
		n, out := ssCount(t, ns, "state", "close-wait", "sport", "= :"+strconv.Itoa(port))
		if n != 0 {
			t.Errorf("CLOSE_WAIT sockets left after stop:\n%s", out)
		}
	})
}

func TestSquatter(t *testing.T) {
	ns := testNetns(t)
	sq := startService(t, ns, "squatter", &SquatterParams{Port: 443, Name: "nginx"})
	sqUDP := startService(t, ns, "squatter", &SquatterParams{Port: 5353, Protocol: "udp", Name: "avahi-daemon"})
	t.Run("ss answers who holds the port with the chosen name", func(t *testing.T) {
		ssShowsProcess(t, ns, "-tlnp", 443, "nginx", sq.pid())
		ssShowsProcess(t, ns, "-ulnp", 5353, "avahi-daemon", sqUDP.pid())
	})
	t.Run("ps shows the chosen name for the pid", func(t *testing.T) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(sq.pid()) + "/comm")
		if err != nil || strings.TrimSpace(string(b)) != "nginx" {
			t.Errorf("comm is %q (%v), want nginx", b, err)
		}
	})
	t.Run("a service started on the held port fails with address already in use", func(t *testing.T) {
		web := spawnService(t, ns, "http", &HTTPParams{Port: 443})
		code := web.exited()
		if code != ExitError || !strings.Contains(web.log(), "address already in use") {
			t.Errorf("want exit %d and \"address already in use\"; exit %d, log:\n%s", ExitError, code, web.log())
		}
		web.code = ExitOK // the failure was the point; let the cleanup pass
	})
}

func TestBacklog(t *testing.T) {
	ns := testNetns(t)
	const port, backlog = 8090, 2
	b := startService(t, ns, "backlog", &BacklogParams{Port: port, Backlog: backlog})
	listener := func() []string {
		out := mustInNetns(t, ns, "ss", "-Htlnp", "sport", "= :"+strconv.Itoa(port))
		return strings.Fields(out)
	}
	t.Run("ss shows the backlog as Send-Q and the owner", func(t *testing.T) {
		f := listener()
		if len(f) < 6 || f[2] != strconv.Itoa(backlog) || !strings.Contains(f[5], `"backlog",pid=`+strconv.Itoa(b.pid())) {
			t.Errorf("ss -tlnp: want Send-Q %d owned by backlog; got %v", backlog, f)
		}
	})
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	t.Run("backlog+1 clients connect and wait in the accept queue", func(t *testing.T) {
		for i := 0; i < backlog+1; i++ {
			c, err := dialTest(ns, "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
			if err != nil {
				t.Fatalf("client %d: %v", i+1, err)
			}
			conns = append(conns, c)
		}
		waitFor(t, "Recv-Q = backlog+1", func() (bool, string) {
			f := listener()
			return len(f) > 1 && f[1] == strconv.Itoa(backlog+1), strings.Join(f, " ")
		})
	})
	t.Run("the next client's SYN is dropped and it times out", func(t *testing.T) {
		c, err := dialTest(ns, "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			t.Fatal("connected; want a timeout with the accept queue full")
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("got %v; want a timeout", err)
		}
	})
}

// dialTest opens a TCP connection from inside the namespace.
func dialTest(ns interface{ Do(func() error) error }, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}

func TestSlowReader(t *testing.T) {
	ns := testNetns(t)
	const port = 9000
	s := startService(t, ns, "slow-reader", &SlowReaderParams{Port: port, ReadBytes: 1, Interval: "1s"})
	ssShowsProcess(t, ns, "-tlnp", port, "slow-reader", s.pid())
	c, err := dialTest(ns, "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const sent = 50000
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(make([]byte, sent)); err != nil {
		t.Fatalf("writing %d bytes: %v", sent, err)
	}
	t.Run("the server's receive queue holds what it has not read", func(t *testing.T) {
		waitFor(t, "Recv-Q to build up on the server socket", func() (bool, string) {
			out := mustInNetns(t, ns, "ss", "-Htn", "state", "established", "sport", "= :"+strconv.Itoa(port))
			f := strings.Fields(out)
			if len(f) < 2 {
				return false, out
			}
			q, _ := strconv.Atoi(f[0])
			return q >= sent-1000, out
		})
	})
}

func TestProxy(t *testing.T) {
	ns := testNetns(t)
	startService(t, ns, "http", &HTTPParams{Port: 8081, Body: "from the backend\n"})
	startService(t, ns, "close-wait-leaker", &ListenParams{Port: 8082, defPort: 8080, name: ""})
	// A backend whose SYNs are dropped: a firewall rule inside the test namespace.
	mustInNetns(t, ns, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "8083", "-j", "DROP")
	proxies := []struct {
		name, backend, status, why string
	}{
		{"a healthy backend's answer is passed through", "127.0.0.1:8081", "200", ""},
		{"a refused connection is 502 at once", "127.0.0.1:8089", "502", "backend connect failed: connection refused"},
		{"a hung backend is 504 after the header timeout", "127.0.0.1:8082", "504", "backend response headers timed out"},
		{"a dropped SYN is 504 after the dial timeout", "127.0.0.1:8083", "504", "backend connect timed out"},
	}
	for i, tc := range proxies {
		port := 8000 + i
		p := startService(t, ns, "proxy", &ProxyParams{Port: port, Backend: tc.backend, DialTimeout: "300ms", HeaderTimeout: "300ms"})
		t.Run(tc.name, func(t *testing.T) {
			ssShowsProcess(t, ns, "-tlnp", port, "proxyd", p.pid())
			out := mustInNetns(t, ns, "curl", "-s", "-D", "-", "http://127.0.0.1:"+strconv.Itoa(port)+"/")
			if !strings.HasPrefix(out, "HTTP/1.1 "+tc.status+" ") {
				t.Errorf("curl: want status %s; got:\n%s", tc.status, out)
			}
			if tc.why != "" && !strings.Contains(out, "X-Netdojo-Proxy-Error: "+tc.why) {
				t.Errorf("curl: want reason %q; got:\n%s", tc.why, out)
			}
			if tc.status == "200" && !strings.Contains(out, "from the backend") {
				t.Errorf("curl: want the backend's body; got:\n%s", out)
			}
		})
	}
}

func TestChurner(t *testing.T) {
	ns := testNetns(t)
	startService(t, ns, "tcp-echo", &ListenParams{Port: 7, defPort: 7, name: "echod"})
	startService(t, ns, "banner", &BannerParams{Port: 2525, Close: true})
	const n = 5
	cases := []struct {
		name, target, closer, filter string
	}{
		{"a client that closes first leaves TIME_WAIT on the client", "127.0.0.1:7", "client", "dport = :7"},
		{"a server that closes first leaves TIME_WAIT on the server", "127.0.0.1:2525", "server", "sport = :2525"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := ssCount(t, ns, "state", "time-wait", tc.filter)
			c := startService(t, ns, "churner", &ChurnerParams{Target: tc.target, Count: n, Rate: 50, Closer: tc.closer})
			waitFor(t, "the churner to finish", func() (bool, string) {
				return strings.Contains(c.log(), "msg=done"), c.log()
			})
			if !strings.Contains(c.log(), "ok=5 failed=0") {
				t.Errorf("want 5 connections without failures; log:\n%s", c.log())
			}
			got, out := ssCount(t, ns, "state", "time-wait", tc.filter)
			if got-before != n {
				t.Errorf("ss -tan state time-wait %s: want %d more sockets than the %d before; got %d:\n%s", tc.filter, n, before, got, out)
			}
		})
	}
	t.Run("connections to a closed port fail with connection refused and are counted", func(t *testing.T) {
		c := startService(t, ns, "churner", &ChurnerParams{Target: "127.0.0.1:9", Count: 3, Rate: 50})
		waitFor(t, "the churner to finish", func() (bool, string) {
			return strings.Contains(c.log(), "msg=done"), c.log()
		})
		if !strings.Contains(c.log(), "ok=0 failed=3") || !strings.Contains(c.log(), "connection refused") {
			t.Errorf("want 3 refused connections; log:\n%s", c.log())
		}
	})
	t.Run("TIME_WAIT stays off the side that closed second", func(t *testing.T) {
		for _, filter := range []string{"sport = :7", "dport = :2525"} {
			if got, out := ssCount(t, ns, "state", "time-wait", filter); got != 0 {
				t.Errorf("ss -tan state time-wait %s: want none; got:\n%s", filter, out)
			}
		}
	})
}
