package probe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/netdojo/netdojo/sandbox"
)

// scPair is two namespaces joined by a veth: a (10.32.0.1) and b (10.32.0.2).
type scPair struct {
	a, b     *sandbox.Netns
	ifA, ifB string
}

func scNewPair(t testing.TB, subnet string) *scPair {
	p := &scPair{a: scNewNetns(t), b: scNewNetns(t)}
	// No IPv6: router solicitations and MLD reports would arrive at any
	// moment and make two captures started apart differ.
	for _, ns := range []*sandbox.Netns{p.a, p.b} {
		scRun(t, ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	sfx := scRandSuffix()
	p.ifA, p.ifB = "sca"+sfx, "scb"+sfx
	scVeth(t, p.a, p.ifA, subnet+".1/24", p.b, p.ifB, subnet+".2/24")
	return p
}

// scStartTcpdump runs tcpdump -w in the namespace and waits until it
// listens; the returned function stops it (SIGINT by PID) and returns the
// file.
func scStartTcpdump(t testing.TB, ns *sandbox.Netns, args ...string) func() string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tcpdump.pcap")
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name(), "tcpdump", "-Z", "root", "--immediate-mode", "-n", "-U", "-w", file}, args...)...)
	stderr, err := cmd.StderrPipe()
	scMust(t, err, "tcpdump stderr")
	scMust(t, cmd.Start(), "starting tcpdump")
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("tcpdump %d left running", pid)
		}
	})
	ready := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		var seen []byte
		for {
			n, err := stderr.Read(buf)
			seen = append(seen, buf[:n]...)
			if bytes.Contains(seen, []byte("listening on")) {
				close(ready)
				io.Copy(io.Discard, stderr)
				return
			}
			if err != nil {
				close(ready)
				return
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start")
	}
	return func() string {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		return file
	}
}

// scReadPcap returns the packets of a pcap file and its link type.
func scReadPcap(t testing.TB, file string) ([][]byte, []int, layers.LinkType) {
	t.Helper()
	f, err := os.Open(file)
	scMust(t, err, "opening %s", file)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	scMust(t, err, "reading %s", file)
	var pkts [][]byte
	var lens []int
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		scMust(t, err, "reading a packet of %s", file)
		pkts = append(pkts, data)
		lens = append(lens, ci.Length)
	}
	return pkts, lens, r.LinkType()
}

// scTraffic makes ICMP, TCP and UDP traffic from a to b.
func scTraffic(t testing.TB, p *scPair, port int) {
	t.Helper()
	scRun(t, p.a, "ping", "-c", "3", "-i", "0.05", "-W", "1", "10.32.0.2")
	l := scListenIn(t, p.b, "tcp4", fmt.Sprintf("10.32.0.2:%d", port))
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
		io.Copy(io.Discard, c)
		c.Close()
	}()
	c := scDialIn(t, p.a, "tcp4", fmt.Sprintf("10.32.0.2:%d", port))
	c.Write([]byte("GET / HTTP/1.1\r\nHost: web.test\r\n\r\n"))
	buf := make([]byte, 100)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.ReadAtLeast(c, buf, 10)
	c.Close()
	u := scDialIn(t, p.a, "udp4", "10.32.0.2:9999")
	for i := 0; i < 3; i++ {
		u.Write(bytes.Repeat([]byte{'x'}, 300))
	}
}

func TestCaptureSeesWhatTcpdumpSees(t *testing.T) {
	p := scNewPair(t, "10.32.0")
	for i, c := range []struct {
		name, iface, filter string
		snaplen             int
	}{
		{"a TCP port filter on the veth keeps the same packets as tcpdump", "", "tcp port %d", 0},
		{"no filter on the veth keeps the same packets as tcpdump", "", "", 0},
		{"icmp on the veth keeps the pings", "", "icmp", 0},
		{"a snaplen of 64 cuts packets as tcpdump -s 64 does", "", "udp or tcp", 64},
		{"a payload filter keeps the GET request only", "", "tcp port %d and tcp[32:4] = 0x47455420", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			port := 7100 + i
			filter := c.filter
			if strings.Contains(filter, "%d") {
				filter = fmt.Sprintf(filter, port)
			}
			iface := p.ifA
			args := []string{"-i", iface}
			if c.snaplen > 0 {
				args = append(args, "-s", fmt.Sprint(c.snaplen))
			}
			if filter != "" {
				args = append(args, filter)
			}
			stop := scStartTcpdump(t, p.a, args...)
			file := filepath.Join(t.TempDir(), "netdojo.pcap")
			f, err := os.Create(file)
			scMust(t, err, "creating pcap")
			capt, err := OpenCapture(p.a, CaptureOptions{Interface: iface, Filter: filter, Snaplen: c.snaplen, Pcap: f})
			scMust(t, err, "opening the capture")
			done := make(chan *CaptureStats)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				st, err := capt.Run(ctx)
				if err != nil {
					t.Error(err)
				}
				done <- st
			}()
			scTraffic(t, p, port)
			time.Sleep(300 * time.Millisecond) // let the last packets reach both
			cancel()
			st := <-done
			scMust(t, capt.Close(), "closing the capture")
			scMust(t, f.Close(), "closing the pcap")
			want, wantLens, _ := scReadPcap(t, stop())
			got, gotLens, lt := scReadPcap(t, file)
			if lt != layers.LinkTypeEthernet {
				t.Errorf("link type %v", lt)
			}
			if len(want) == 0 {
				t.Fatal("tcpdump saw nothing: the case tests nothing")
			}
			if len(got) != len(want) {
				t.Fatalf("%d packets, tcpdump saw %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) || gotLens[i] != wantLens[i] {
					t.Errorf("packet %d differs from tcpdump's (%d/%d bytes vs %d/%d)", i, len(got[i]), gotLens[i], len(want[i]), wantLens[i])
				}
			}
			if st.Packets != len(got) || st.KernelDrops != 0 || st.KernelPackets < uint64(st.Packets) {
				t.Errorf("stats %+v for %d packets", st, len(got))
			}
			// The file is one tcpdump reads.
			out, err := exec.Command("tcpdump", "-r", file, "-n").Output()
			scMust(t, err, "tcpdump -r")
			if n := strings.Count(string(out), "\n"); n != len(got) {
				t.Errorf("tcpdump -r prints %d lines for %d packets", n, len(got))
			}
		})
	}
}

func TestCaptureLimits(t *testing.T) {
	p := scNewPair(t, "10.32.0")
	t.Run("a count of 4 stops after four packets", func(t *testing.T) {
		ping := scStart(t, p.a, "ping", "-i", "0.05", "10.32.0.2")
		defer ping.Process.Kill()
		var buf bytes.Buffer
		st, err := Capture(context.Background(), p.a, CaptureOptions{Interface: p.ifA, Filter: "icmp", Count: 4, Pcap: &buf})
		scMust(t, err, "capture")
		if st.Packets != 4 {
			t.Errorf("%d packets", st.Packets)
		}
		r, err := pcapgo.NewReader(&buf)
		scMust(t, err, "reading the pcap")
		n := 0
		for {
			if _, _, err := r.ReadPacketData(); err != nil {
				break
			}
			n++
		}
		if n != 4 {
			t.Errorf("the pcap holds %d packets", n)
		}
	})
	t.Run("a duration stops a capture that sees nothing", func(t *testing.T) {
		st, err := Capture(context.Background(), p.a, CaptureOptions{Interface: p.ifA, Filter: "udp port 1", Duration: 200 * time.Millisecond})
		scMust(t, err, "capture")
		if st.Packets != 0 || st.Took < 200*time.Millisecond {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("loopback traffic is captured once per packet", func(t *testing.T) {
		done := make(chan *CaptureStats)
		c, err := OpenCapture(p.a, CaptureOptions{Interface: "lo", Filter: "icmp", Duration: time.Second})
		scMust(t, err, "open")
		defer c.Close()
		go func() { st, _ := c.Run(context.Background()); done <- st }()
		scRun(t, p.a, "ping", "-c", "3", "-i", "0.05", "127.0.0.1")
		if st := <-done; st.Packets != 6 {
			t.Errorf("%d packets for 3 pings on loopback, want 6", st.Packets)
		}
	})
	t.Run("capturing on all interfaces sees the veth", func(t *testing.T) {
		done := make(chan *CaptureStats)
		c, err := OpenCapture(p.a, CaptureOptions{Filter: "icmp and host 10.32.0.2", Duration: time.Second})
		scMust(t, err, "open")
		defer c.Close()
		go func() { st, _ := c.Run(context.Background()); done <- st }()
		scRun(t, p.a, "ping", "-c", "2", "-i", "0.05", "10.32.0.2")
		if st := <-done; st.Packets != 4 {
			t.Errorf("%d packets for 2 pings, want 4", st.Packets)
		}
	})
	t.Run("an unknown interface is refused with its name", func(t *testing.T) {
		_, err := OpenCapture(p.a, CaptureOptions{Interface: "nosuch0"})
		if err == nil || !strings.Contains(err.Error(), "nosuch0") {
			t.Errorf("error %v", err)
		}
	})
}
