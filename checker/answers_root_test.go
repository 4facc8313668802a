package checker_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/lab/labtest"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

// startAnswers builds a lab named answers-XXXX (this helper's prefix, so
// that labs of parallel suites never collide) and registers its stop.
func startAnswers(t testing.TB, s *scenarios.Scenario, withFaults bool) *env {
	t.Helper()
	sandboxtest.NeedRoot(t, "starts a lab of network namespaces to answer about")
	return startNamed(t, sandboxtest.LabName("answers-"), s, withFaults)
}

// jumboLab is a jumbo-frame client and a 1500-byte server on one cable:
// the server's veth takes frames up to 4 bytes over its MTU (VLAN room).
const jumboLab = `apiVersion: netdojo/v1
metadata: {name: answers-jumbo, title: A jumbo sender}
hosts:
  client:
    interfaces: [{network: cable, ipv4: 10.0.1.10/24, mtu: 9000}]
  server:
    interfaces: [{network: cable, ipv4: 10.0.1.80/24}]
networks:
  cable: {type: p2p}
tasks:
  - id: mtu
    prompt: What is the largest packet from client that server takes?
    answer: {computed: path-mtu, host: client, to: server}
`

// TestPathMTUOfAVeth: the computed path MTU towards a 1500-byte veth is
// 1500, the MTU ip link shows on the receiving end (it was 1504: the
// search found the VLAN room), and the check output does not state it.
func TestPathMTUOfAVeth(t *testing.T) {
	t.Parallel()
	s := labtest.Load(t, jumboLab, 1)
	e := startAnswers(t, s, false)
	out := e.run("server", "ip -o link show eth0")
	m := regexp.MustCompile(`mtu (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ip link: %s", out)
	}
	got, _, err := e.c.Computed(context.Background(), s.Tasks[0].Answer)
	if err != nil {
		t.Fatal(err)
	}
	if got != m[1] {
		t.Errorf("computed path MTU %s; the receiving veth's MTU (ip link) is %s", got, m[1])
	}
	for _, a := range []string{"1500", "1500 bytes", "mtu 1500"} {
		if o := e.c.Answer(context.Background(), s.Tasks[0].Answer, strings.Fields(a)); !o.Pass {
			t.Errorf("the right answer %q fails: %s", a, o.Observed)
		}
	}
	o := e.c.Answer(context.Background(), s.Tasks[0].Answer, []string{"1472"})
	if o.Pass || !strings.Contains(o.Observed, "28 bytes") || strings.Contains(o.Observed, "1500") {
		t.Errorf("the ping payload as an answer: pass=%v %s", o.Pass, o.Observed)
	}
	ch := decodeCheck(t, `{path_mtu: {from: client, to: server, black_hole: true}, within: 1ms}`)
	if o := e.c.Check(context.Background(), ch); strings.Contains(o.Observed, "1500") || strings.Contains(o.Observed, "1504") {
		t.Errorf("a path_mtu check states the path MTU: %s", o.Observed)
	}
}

// BenchmarkSilentHopAnswer measures judging a silent-hop answer, in the
// worst case for the trace: the destination never answers, so every hop
// up to the limit is waited for (it took 30 s with traceroute's defaults;
// the lab's own size bounds it now).
func BenchmarkSilentHopAnswer(b *testing.B) {
	t := &testing.T{}
	s := labtest.Load(t, silentLab, 1)
	e := startAnswers(b, s, false)
	e.run(s.Values["silent"], "iptables -A OUTPUT -p icmp --icmp-type time-exceeded -j DROP")
	e.run("server", "iptables -A INPUT -p icmp --icmp-type echo-request -j DROP")
	a := s.Tasks[0].Answer
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if o := e.c.Answer(context.Background(), a, []string{"3"}); o.Observed == "" {
			b.Fatal("no observation")
		}
	}
}
