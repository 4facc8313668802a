package probe

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// scAnalysisLab captures, on the client, real traffic of every kind the
// analysis knows: a complete handshake with an HTTP request, SYNs into a
// DROP rule, a RST from a closed port, DNS answered and NXDOMAIN by a
// miekg/dns server, a UDP port unreachable, and a fragmentation-needed
// from a router in front of a narrow link.
//
//	client 10.33.0.1 --- 10.33.0.2 router 10.34.0.1 --(mtu 1280)-- 10.34.0.2 far
func scAnalysisLab(t *testing.T) string {
	c, r, far := scNewNetns(t), scNewNetns(t), scNewNetns(t)
	sfx := scRandSuffix()
	scVeth(t, c, "scc"+sfx, "10.33.0.1/24", r, "scr"+sfx, "10.33.0.2/24")
	scVeth(t, r, "scf"+sfx, "10.34.0.1/24", far, "scg"+sfx, "10.34.0.2/24")
	scRun(t, r, "ip", "link", "set", "scf"+sfx, "mtu", "1280")
	scRun(t, far, "ip", "link", "set", "scg"+sfx, "mtu", "1280")
	scRun(t, r, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.icmp_ratelimit=0")
	scRun(t, c, "ip", "route", "add", "10.34.0.0/24", "via", "10.33.0.2")
	scRun(t, far, "ip", "route", "add", "10.33.0.0/24", "via", "10.34.0.1")
	scRun(t, r, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "81", "-j", "DROP")

	// HTTP on the router.
	hl := scListenIn(t, r, "tcp4", "10.33.0.2:80")
	hsrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintln(w, "hello")
	})}
	go hsrv.Serve(hl)
	t.Cleanup(func() { hsrv.Close() })
	// DNS on the router.
	var pc net.PacketConn
	scMust(t, r.Do(func() error {
		var err error
		pc, err = net.ListenPacket("udp4", "10.33.0.2:53")
		return err
	}), "dns socket")
	started := make(chan struct{})
	dsrv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(q)
			if q.Question[0].Name == "web.test." && q.Question[0].Qtype == dns.TypeA {
				rr, _ := dns.NewRR("web.test. 60 IN A 10.33.0.2")
				m.Answer = append(m.Answer, rr)
			} else {
				m.Rcode = dns.RcodeNameError
			}
			w.WriteMsg(m)
		})}
	go dsrv.ActivateAndServe()
	<-started
	t.Cleanup(func() { dsrv.Shutdown() })

	file := filepath.Join(t.TempDir(), "lab.pcap")
	f, err := os.Create(file)
	scMust(t, err, "creating pcap")
	capt, err := OpenCapture(c, CaptureOptions{Interface: "scc" + sfx, Pcap: f})
	scMust(t, err, "opening capture")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := capt.Run(ctx); done <- err }()

	// A complete handshake and an HTTP request.
	hc := scDialIn(t, c, "tcp4", "10.33.0.2:80")
	io.WriteString(hc, "GET /hello HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n")
	hc.SetReadDeadline(time.Now().Add(3 * time.Second))
	io.ReadAll(hc)
	hc.Close()
	// SYNs into the DROP rule: the first SYN is retransmitted after 1 s.
	scMust(t, c.Do(func() error {
		d := net.Dialer{Timeout: 1500 * time.Millisecond}
		conn, err := d.Dial("tcp4", "10.33.0.2:81")
		if err == nil {
			conn.Close()
			return fmt.Errorf("port 81 answered through a DROP rule")
		}
		return nil
	}), "dialing the dropped port")
	// A RST from a closed port.
	scMust(t, c.Do(func() error {
		conn, err := net.Dial("tcp4", "10.33.0.2:82")
		if err == nil {
			conn.Close()
			return fmt.Errorf("port 82 accepted")
		}
		return nil
	}), "dialing the closed port")
	// DNS through the real tool.
	scRun(t, c, "dig", "+tries=1", "+time=2", "@10.33.0.2", "web.test", "A")
	scRun(t, c, "dig", "+tries=1", "+time=2", "@10.33.0.2", "nope.test", "A")
	// UDP to a closed port: port unreachable.
	u := scDialIn(t, c, "udp4", "10.33.0.2:9")
	u.Write([]byte("x"))
	// A packet too big for the narrow link, with DF: fragmentation needed.
	exec.Command("ip", "netns", "exec", c.Name(), "ping", "-M", "do", "-s", "1400", "-c", "1", "-W", "1", "10.34.0.2").Run()

	time.Sleep(200 * time.Millisecond)
	cancel()
	scMust(t, <-done, "capture")
	scMust(t, capt.Close(), "closing capture")
	scMust(t, f.Close(), "closing pcap")
	return file
}

var scUpdatePcap = flag.Bool("sc.update-pcap", false, "store the capture of TestPcapAnalysisOfRealTraffic in testdata/sockcap/lab.pcap")

const scStoredPcap = "testdata/sockcap/lab.pcap"

func TestPcapAnalysisOfRealTraffic(t *testing.T) {
	file := scAnalysisLab(t)
	if *scUpdatePcap {
		b, err := os.ReadFile(file)
		scMust(t, err, "reading the capture")
		scMust(t, os.MkdirAll(filepath.Dir(scStoredPcap), 0o755), "creating testdata")
		scMust(t, os.WriteFile(scStoredPcap, b, 0o644), "storing the capture")
	}
	scCheckAnalysis(t, file)
}

// TestPcapAnalysisOfStoredCapture runs without root on a capture the lab
// above recorded (regenerate with -sc.update-pcap).
func TestPcapAnalysisOfStoredCapture(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump is not installed")
	}
	scCheckAnalysis(t, scStoredPcap)
}

func scCheckAnalysis(t *testing.T, file string) {
	a, err := AnalyzePcapFile(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(strings.Join(a.Summary(), "\n"))
	hsTo := func(port uint16) *TCPHandshake {
		for i := range a.Handshakes {
			if a.Handshakes[i].Server.Port() == port {
				return &a.Handshakes[i]
			}
		}
		t.Fatalf("no handshake to port %d in %+v", port, a.Handshakes)
		return nil
	}
	t.Run("the HTTP connection has a complete handshake", func(t *testing.T) {
		h := hsTo(80)
		if h.Result != HandshakeComplete || h.SYNs != 1 || h.RTT <= 0 {
			t.Errorf("%+v", h)
		}
	})
	t.Run("the SYNs into the DROP rule are unanswered and retransmitted", func(t *testing.T) {
		h := hsTo(81)
		if h.Result != HandshakeNoSynAck || h.SYNs < 2 {
			t.Errorf("%+v", h)
		}
		n := 0
		for _, r := range a.Retransmissions {
			if r.Dst.Port() == 81 && r.Kind == "syn" {
				n++
			}
		}
		if n != h.SYNs-1 {
			t.Errorf("%d SYN retransmissions for %d SYNs", n, h.SYNs)
		}
	})
	t.Run("the closed port answers with a reset", func(t *testing.T) {
		h := hsTo(82)
		if h.Result != HandshakeReset || h.ResetBy != "server" {
			t.Errorf("%+v", h)
		}
	})
	t.Run("the HTTP request is seen with its host and status", func(t *testing.T) {
		if len(a.HTTP) != 1 {
			t.Fatalf("%+v", a.HTTP)
		}
		h := a.HTTP[0]
		if h.Method != "GET" || h.Path != "/hello" || h.Host != "web.test" || h.Status != 200 || h.Server != netip.MustParseAddrPort("10.33.0.2:80") {
			t.Errorf("%+v", h)
		}
	})
	t.Run("the DNS queries are matched with their answers", func(t *testing.T) {
		var web, nope *DNSExchange
		for i := range a.DNS {
			switch a.DNS[i].Name {
			case "web.test.":
				web = &a.DNS[i]
			case "nope.test.":
				nope = &a.DNS[i]
			}
		}
		if web == nil || !web.Answered || web.Rcode != "NOERROR" || len(web.Answers) != 1 || !strings.HasSuffix(web.Answers[0], "A 10.33.0.2") || web.Latency <= 0 || web.Type != "A" {
			t.Errorf("web.test: %+v", web)
		}
		if nope == nil || !nope.Answered || nope.Rcode != "NXDOMAIN" || len(nope.Answers) != 0 {
			t.Errorf("nope.test: %+v", nope)
		}
	})
	t.Run("the ICMP errors name their sender, the packet and the MTU", func(t *testing.T) {
		var frag, port *PcapICMPError
		for i := range a.ICMPErrors {
			e := &a.ICMPErrors[i]
			switch {
			case e.Type == 3 && e.Code == 4:
				frag = e
			case e.Type == 3 && e.Code == 3:
				port = e
			}
		}
		if frag == nil || frag.MTU != 1280 || frag.From != netip.MustParseAddr("10.33.0.2") || frag.OrigDst.Addr() != netip.MustParseAddr("10.34.0.2") || frag.OrigProto != "icmp" {
			t.Errorf("fragmentation needed: %+v", frag)
		}
		if port == nil || port.OrigProto != "udp" || port.OrigDst != netip.MustParseAddrPort("10.33.0.2:9") {
			t.Errorf("port unreachable: %+v", port)
		}
	})
	t.Run("flows and packet counts agree with tcpdump -r", func(t *testing.T) {
		out, err := exec.Command("tcpdump", "-r", file, "-n", "-q").Output()
		scMust(t, err, "tcpdump -r")
		if n := strings.Count(string(out), "\n"); n != a.Packets {
			t.Errorf("%d packets, tcpdump -r reads %d", a.Packets, n)
		}
		total := 0
		for _, f := range a.Flows {
			total += f.Packets
			if f.ToServer+f.ToClient != f.Packets {
				t.Errorf("flow %+v", f)
			}
		}
		// ARP is not a flow; everything IP is in exactly one.
		arp := strings.Count(string(out), " ARP,")
		if total != a.Packets-arp {
			t.Errorf("flows hold %d packets, %d IP packets in the file", total, a.Packets-arp)
		}
		out, err = exec.Command("tcpdump", "-r", file, "-n", "-q", "udp port 53").Output()
		scMust(t, err, "tcpdump -r udp port 53")
		if n := strings.Count(string(out), "\n"); n != 2*len(a.DNS) {
			t.Errorf("tcpdump sees %d DNS packets for %d exchanges", n, len(a.DNS))
		}
	})
}
