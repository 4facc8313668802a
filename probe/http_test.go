package probe

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestHTTPAgreesWithCurl(t *testing.T) {
	l := pnChain(t)
	l.dnsLab("client")
	l.httpServer("server", "10.3.0.2:8080")
	l.etcFile("client", "hosts", "127.0.0.1 localhost\n10.3.0.2 web.lab.test\n")
	cases := []struct {
		name, url  string
		status     int
		size       int64
		resolvedBy string
		outcome    ReachOutcome // for a failed connect
	}{
		{"a page by a name from DNS", "http://www.corp.test:8080/size/12345", 200, 12345, "dns", ""},
		{"a page by a name from the hosts file", "http://web.lab.test:8080/", 200, 6, "hosts", ""},
		{"a page by address", "http://10.3.0.2:8080/size/0", 200, 0, "", ""},
		{"a closed port is refused", "http://10.3.0.2:8081/", 0, 0, "", ReachRefusedRST},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := HTTP(l.ns("client"), c.url, HTTPOptions{})
			out, _ := l.run("client", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "--max-time", "5", c.url)
			if c.outcome != "" {
				if err == nil || got.Reach == nil || got.Reach.Outcome != c.outcome {
					t.Fatalf("got %+v, %v; want a connect failure classified %s", got, err, c.outcome)
				}
				if !strings.HasPrefix(out, "000") {
					t.Errorf("curl says %q, expected no response", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("%d %d", c.status, c.size); out != want || got.Status != c.status || got.BodySize != c.size {
				t.Errorf("status %d size %d, curl says %q, want %q", got.Status, got.BodySize, out, want)
			}
			if got.ResolvedBy != c.resolvedBy || got.Header["X-Lab"] == nil || got.Remote.String() != "10.3.0.2:8080" {
				t.Errorf("resolved by %q, header %v, remote %s", got.ResolvedBy, got.Header, got.Remote)
			}
			if !(got.DNS <= got.Connect && got.Connect <= got.FirstByte && got.FirstByte <= got.Total) || got.Connect == 0 {
				t.Errorf("timings out of order: dns %v connect %v first byte %v total %v", got.DNS, got.Connect, got.FirstByte, got.Total)
			}
		})
	}
	t.Run("a dropped port times out and is classified filtered", func(t *testing.T) {
		// The classification probe has only what is left of the
		// request's timeout (nothing, after a time-out): it still says
		// filtered, as the first probe saw.
		l.mustRun("server", "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "8082", "-j", "DROP")
		got, err := HTTP(l.ns("client"), "http://10.3.0.2:8082/", HTTPOptions{Timeout: time.Second})
		if err == nil || got.Reach == nil || got.Reach.Outcome != ReachFiltered {
			t.Fatalf("got %+v, %v; want a connect failure classified %s", got, err, ReachFiltered)
		}
	})
	t.Run("a download that stops fails on its stall, not its timeout", func(t *testing.T) {
		// Full-sized segments vanish, as behind a path MTU black hole.
		l.mustRun("server", "iptables", "-A", "OUTPUT", "-p", "tcp", "--sport", "8080", "-m", "length", "--length", "1000:", "-j", "DROP")
		defer l.mustRun("server", "iptables", "-D", "OUTPUT", "-p", "tcp", "--sport", "8080", "-m", "length", "--length", "1000:", "-j", "DROP")
		got, err := HTTP(l.ns("client"), "http://10.3.0.2:8080/size/100000", HTTPOptions{Timeout: 20 * time.Second, Stall: 300 * time.Millisecond})
		if err == nil || !strings.Contains(got.Error, "no data from the server for 300ms") {
			t.Fatalf("got %+v, %v; want the exchange to fail on its stall", got, err)
		}
		if small, err := HTTP(l.ns("client"), "http://10.3.0.2:8080/size/10", HTTPOptions{Stall: 300 * time.Millisecond}); err != nil || small.BodySize != 10 {
			t.Errorf("a small answer with a stall bound: %+v, %v", small, err)
		}
	})
}
