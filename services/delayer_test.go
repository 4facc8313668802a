package services

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
)

var pingRTT = regexp.MustCompile(`rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms`)

// pingLoopback pings 127.0.0.1 inside the namespace and returns the minimum
// RTT and ping's output; it fails the test when a reply is missing.
func pingLoopback(t *testing.T, ns *sandbox.Netns) (time.Duration, string) {
	t.Helper()
	out := mustInNetns(t, ns, "ping", "-n", "-c", "4", "-i", "0.2", "-W", "3", "127.0.0.1")
	if !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("ping lost packets:\n%s", out)
	}
	m := pingRTT.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no rtt line in ping output:\n%s", out)
	}
	ms, _ := strconv.ParseFloat(m[1], 64)
	return time.Duration(ms * float64(time.Millisecond)), out
}

func TestDelayer(t *testing.T) {
	ns := testNetns(t)
	const queue = 7
	const delay, jitter = 100 * time.Millisecond, 10 * time.Millisecond
	// The rule a fault will install: every ICMP packet leaving the host goes
	// through the queue; --queue-bypass lets packets pass when no one serves it.
	mustInNetns(t, ns, "iptables", "-A", "OUTPUT", "-p", "icmp", "-j", "NFQUEUE", "--queue-num", strconv.Itoa(queue), "--queue-bypass")

	base, baseOut := pingLoopback(t, ns)
	t.Logf("without a delayer (rule bypassed): min rtt %v", base)

	d := startService(t, ns, "delayer", &DelayerParams{Queue: queue, Delay: delay.String(), Jitter: jitter.String()})
	t.Run("the kernel lists the queue as bound", func(t *testing.T) {
		out := mustInNetns(t, ns, "cat", "/proc/net/netfilter/nfnetlink_queue")
		if !strings.HasPrefix(strings.TrimSpace(out), strconv.Itoa(queue)+" ") {
			t.Errorf("nfnetlink_queue does not list queue %d:\n%s", queue, out)
		}
	})
	t.Run("ping's RTT grows by the delay for each direction", func(t *testing.T) {
		rtt, out := pingLoopback(t, ns)
		t.Logf("with the delayer (%v±%v each way): min rtt %v", delay, jitter, rtt)
		// The request and the reply both leave through OUTPUT, so each waits
		// delay±jitter; claim only one delay minus the jitter as the floor.
		if floor := delay - jitter; rtt < floor || rtt <= base {
			t.Errorf("min rtt %v with the delayer; want at least %v (and more than %v without):\n%s\nwithout:\n%s", rtt, floor, base, out, baseOut)
		}
	})
	t.Run("the rule counts the queued packets", func(t *testing.T) {
		out := mustInNetns(t, ns, "iptables", "-vnxL", "OUTPUT")
		if !regexp.MustCompile(`(?m)^\s*([1-9]\d*)\s+\d+\s+NFQUEUE`).MatchString(out) {
			t.Errorf("iptables -vnxL OUTPUT shows no queued packets:\n%s", out)
		}
	})
	t.Run("after the delayer stops, packets bypass the queue undelayed", func(t *testing.T) {
		if code := d.stop(); code != ExitOK {
			t.Fatalf("delayer exited %d; log:\n%s", code, d.log())
		}
		pingLoopback(t, ns) // fails the test on any loss
		if !strings.Contains(d.log(), "msg=released") {
			t.Errorf("log lacks the release summary:\n%s", d.log())
		}
	})
}
