package probe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"golang.org/x/sys/unix"
)

const scSenderEnv = "NDSC_SEND_UDP"

// TestSCHelperSendUDP is not a test: it runs only as the traffic sender of
// BenchmarkCaptureCPU, in its own process inside the sending namespace, so
// that its CPU is not counted against either capture. It sends
// "DST COUNT SIZE PPS" UDP datagrams paced in 1 ms slices.
func TestSCHelperSendUDP(t *testing.T) {
	spec := os.Getenv(scSenderEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	var dst string
	var count, size, pps int
	if _, err := fmt.Sscan(spec, &dst, &count, &size, &pps); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp4", dst)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	payload := bytes.Repeat([]byte{'p'}, size)
	perSlice := max(pps/1000, 1)
	start := time.Now()
	for sent := 0; sent < count; {
		for i := 0; i < perSlice && sent < count; i++ {
			c.Write(payload)
			sent++
		}
		next := start.Add(time.Duration(sent/perSlice) * time.Millisecond)
		time.Sleep(time.Until(next))
	}
	os.Exit(0)
}

// scSend runs the sender in ns and waits for it.
func scSend(b *testing.B, ns *sandbox.Netns, dst string, count, size, pps int) {
	self, err := os.Executable()
	scMust(b, err, "finding the test binary")
	cmd := exec.Command(self, "-test.run=^TestSCHelperSendUDP$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %d", scSenderEnv, dst, count, size, pps))
	scMust(b, ns.Do(cmd.Start), "starting the sender")
	scMust(b, cmd.Wait(), "sender")
}

// scRxPackets reads (and zeroes) the counter of the DROP rule for the
// benchmark's datagrams: the packets that passed the capture point.
func scRxPackets(b *testing.B, ns *sandbox.Netns, ifname string) int {
	out := scRun(b, ns, "iptables", "-w", "-L", "INPUT", "-v", "-x", "-n", "-Z")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "DROP" && strings.Contains(line, "dpt:9000") {
			n, _ := strconv.Atoi(f[0])
			return n
		}
	}
	b.Fatalf("no counter for the DROP rule in\n%s", out)
	return 0
}

func scCPU(ru *unix.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var scTcpdumpDrops = regexp.MustCompile(`(\d+) packets dropped by kernel`)

// BenchmarkCaptureCPU compares, in one run on the same traffic (UDP from a
// sender process in one namespace over a veth to the capturing namespace),
// the CPU time per packet of Capture writing a pcap with that of
// `tcpdump -w` with the same filter. Both must see every packet.
func BenchmarkCaptureCPU(b *testing.B) {
	const (
		packets = 200000
		size    = 100
		pps     = 50000
		filter  = "udp port 9000"
	)
	p := scNewPair(b, "10.32.0")
	dst := "10.32.0.2:9000"
	scRun(b, p.b, "iptables", "-w", "-A", "INPUT", "-p", "udp", "--dport", "9000", "-j", "DROP")
	scSend(b, p.a, dst, 10, size, pps) // ARP resolved before measuring
	dir := b.TempDir()

	b.Run("netdojo capture -w", func(b *testing.B) {
		var cpu time.Duration
		var drops uint64
		var captured, lost int
		for i := 0; i < b.N; i++ {
			f, err := os.Create(filepath.Join(dir, "netdojo.pcap"))
			scMust(b, err, "creating pcap")
			var before, after unix.Rusage
			unix.Getrusage(unix.RUSAGE_SELF, &before)
			c, err := OpenCapture(p.b, CaptureOptions{Interface: p.ifB, Filter: filter, Pcap: f})
			scMust(b, err, "opening the capture")
			done := make(chan *CaptureStats)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				st, err := c.Run(ctx)
				if err != nil {
					b.Error(err)
				}
				done <- st
			}()
			scRxPackets(b, p.b, p.ifB)
			scSend(b, p.a, dst, packets, size, pps)
			time.Sleep(time.Second) // tcpdump too waits up to its 1 s block timeout
			cancel()
			st := <-done
			arrived := scRxPackets(b, p.b, p.ifB)
			scMust(b, c.Close(), "closing the capture")
			unix.Getrusage(unix.RUSAGE_SELF, &after)
			f.Close()
			if st.Packets != arrived {
				b.Errorf("captured %d of the %d packets that arrived (kernel drops %d)", st.Packets, arrived, st.KernelDrops)
			}
			cpu += scCPU(&after) - scCPU(&before)
			drops += st.KernelDrops
			captured += st.Packets
			lost += packets - arrived
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(captured), "cpu-ns/pkt")
		b.ReportMetric(float64(drops), "drops")
		b.ReportMetric(float64(lost), "lost-before-capture")
	})

	b.Run("tcpdump -w", func(b *testing.B) {
		var cpu time.Duration
		var drops int
		var captured, lost int
		for i := 0; i < b.N; i++ {
			file := filepath.Join(dir, "tcpdump.pcap")
			cmd := exec.Command("ip", "netns", "exec", p.b.Name(), "tcpdump", "-Z", "root", "-n", "-i", p.ifB,
				"-w", file, filter)
			stderr, err := cmd.StderrPipe()
			scMust(b, err, "tcpdump stderr")
			scMust(b, cmd.Start(), "starting tcpdump")
			pid := cmd.Process.Pid
			sc := bufio.NewScanner(stderr)
			var lines []string
			for sc.Scan() {
				lines = append(lines, sc.Text())
				if strings.Contains(sc.Text(), "listening on") {
					break
				}
			}
			scRxPackets(b, p.b, p.ifB)
			scSend(b, p.a, dst, packets, size, pps)
			time.Sleep(time.Second) // its 1 s block timeout hands over the last block
			arrived := scRxPackets(b, p.b, p.ifB)
			cmd.Process.Signal(syscall.SIGINT)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			if err := cmd.Wait(); err != nil {
				b.Fatalf("tcpdump: %v\n%s", err, strings.Join(lines, "\n"))
			}
			if syscall.Kill(pid, 0) == nil {
				b.Errorf("tcpdump %d left running", pid)
			}
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			out := strings.Join(lines, "\n")
			m := scTcpdumpDrops.FindStringSubmatch(out)
			if m == nil || !strings.Contains(out, strconv.Itoa(arrived)+" packets captured") {
				b.Errorf("tcpdump did not capture the %d packets that arrived:\n%s", arrived, out)
			}
			n, _ := strconv.Atoi(m[1])
			drops += n
			captured += arrived
			lost += packets - arrived
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(captured), "cpu-ns/pkt")
		b.ReportMetric(float64(drops), "drops")
		b.ReportMetric(float64(lost), "lost-before-capture")
	})
}
