package checker_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/lab/labtest"
)

// TestAnswers judges answers that need no lab: a choice, an exact value,
// a number with a tolerance and a pattern.
func TestAnswers(t *testing.T) {
	c := &checker.Checker{}
	cases := []struct {
		name   string
		answer string // YAML of a scenarios.Answer
		given  []string
		pass   bool
		saw    string
	}{
		{"the right choice passes, in any case", `{choice: [interface, gateway, dns], correct: gateway}`, []string{"Gateway"}, true, `you chose "Gateway"`},
		{"another option fails", `{choice: [interface, gateway, dns], correct: gateway}`, []string{"dns"}, false, `you chose "dns"`},
		{"a word that is no option fails and lists the options", `{choice: [interface, gateway, dns], correct: gateway}`, []string{"router"}, false, `"router" is not one of the options: interface, gateway, dns`},
		{"no answer fails", `{choice: [interface, gateway, dns], correct: gateway}`, nil, false, "no answer given"},
		{"the exact value passes", `{correct: 10.0.1.1}`, []string{"10.0.1.1"}, true, `you answered "10.0.1.1"`},
		{"a near value fails", `{correct: 10.0.1.1}`, []string{"10.0.1.10"}, false, `you answered "10.0.1.10"`},
		{"an exact value of several words is given as several words", `{correct: "connection refused"}`, []string{"connection", "refused"}, true, "connection refused"},
		{"a number within the tolerance passes", `{number: 1400, tolerance: 28}`, []string{"1372"}, true, "you answered 1372"},
		{"a number just outside the tolerance fails", `{number: 1400, tolerance: 28}`, []string{"1371"}, false, "you answered 1371"},
		{"a number with no tolerance must be exact", `{number: 1400}`, []string{"1400.0"}, true, "you answered 1400"},
		{"a word where a number is wanted fails", `{number: 1400}`, []string{"big"}, false, `"big" is not a number`},
		{"an answer matching the pattern passes", `{pattern: '^10\.0\.2\.[0-9]+$'}`, []string{"10.0.2.2"}, true, `you answered "10.0.2.2"`},
		{"an answer not matching the pattern fails", `{pattern: '^10\.0\.2\.[0-9]+$'}`, []string{"10.0.3.2"}, false, `you answered "10.0.3.2"`},
		{"a pattern that does not compile fails and says why", `{pattern: '^(10'}`, []string{"10"}, false, "missing closing )"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := c.Answer(context.Background(), decodeAnswer(t, tc.answer), tc.given)
			if o.Pass != tc.pass || !strings.Contains(o.Observed, tc.saw) {
				t.Errorf("pass=%v observed %q; want pass=%v and %q", o.Pass, o.Observed, tc.pass, tc.saw)
			}
		})
	}
}

// seededLab is one lab of a seeded scenario with the right answer to a
// computed task, read with the learner's own tool.
type seededLab struct {
	e     *env
	value string // the drawn parameter
	right string // the right answer, by the oracle
}

// computedCase is a scenario whose only task is computed from the live
// lab, checked on two labs whose seeds draw different parameters.
type computedCase struct {
	name  string
	yml   string
	param string
	// prepare makes the lab show what the task asks (given the drawn
	// value) and returns the right answer as a real tool prints it.
	prepare func(t *testing.T, e *env, value string) string
	// alsoRight are other accepted answers (the drawn value may be used).
	alsoRight func(value string) []string
}

// squatterLab holds port ${port} with a squatter on server; the web server
// keeps 80, so a PID on another port is a wrong answer.
const squatterLab = `apiVersion: netdojo/v1
metadata: {name: ck-squat, title: Who holds the port}
params:
  - {name: port, choice: ["443", "8443", "4443", "9443"]}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
  server:
    interfaces: [{network: lan, ipv4: 10.0.1.80/24}]
    services:
      - {name: squatter, kind: squatter, params: {port: "${port}", name: nginx}}
      - {name: web, kind: http, params: {port: 80}}
networks:
  lan: {type: bridge}
tasks:
  - id: who
    prompt: Which PID holds port ${port} on server?
    answer: {computed: pid-of-port, host: server, port: "${port}"}
`

// mtuLab has a narrow link of a drawn MTU between two routers.
const mtuLab = `apiVersion: netdojo/v1
metadata: {name: ck-mtu, title: The narrow link}
params:
  - {name: mtu, choice: ["1280", "1400", "1450", "1360"]}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
    routes: [{to: default, via: 10.0.1.1}]
  r1:
    interfaces: [{network: lan, ipv4: 10.0.1.1/24}, {network: core, ipv4: 10.0.2.1/24}]
    routes: [{to: 203.0.113.0/24, via: 10.0.2.2}]
    sysctls: {net.ipv4.ip_forward: "1"}
  r2:
    interfaces: [{network: core, ipv4: 10.0.2.2/24}, {network: wan, ipv4: 203.0.113.1/24}]
    routes: [{to: 10.0.1.0/24, via: 10.0.2.1}]
    sysctls: {net.ipv4.ip_forward: "1"}
  server:
    interfaces: [{network: wan, ipv4: 203.0.113.80/24}]
    routes: [{to: default, via: 203.0.113.1}]
networks:
  lan: {type: bridge}
  core: {type: p2p, mtu: "${mtu}"}
  wan: {type: p2p}
tasks:
  - id: mtu
    prompt: What is the path MTU from client to server?
    answer: {computed: path-mtu, host: client, to: server}
`

// silentLab is mtuLab's path where a drawn router will drop its
// time-exceeded.
const silentLab = `apiVersion: netdojo/v1
metadata: {name: ck-silent, title: The silent hop}
params:
  - {name: silent, choice: [r1, r2]}
story: "Router ${silent} drops its time-exceeded."
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
    routes: [{to: default, via: 10.0.1.1}]
  r1:
    interfaces: [{network: lan, ipv4: 10.0.1.1/24}, {network: core, ipv4: 10.0.2.1/24}]
    routes: [{to: 203.0.113.0/24, via: 10.0.2.2}]
    sysctls: {net.ipv4.ip_forward: "1"}
  r2:
    interfaces: [{network: core, ipv4: 10.0.2.2/24}, {network: wan, ipv4: 203.0.113.1/24}]
    routes: [{to: 10.0.1.0/24, via: 10.0.2.1}]
    sysctls: {net.ipv4.ip_forward: "1"}
  server:
    interfaces: [{network: wan, ipv4: 203.0.113.80/24}]
    routes: [{to: default, via: 203.0.113.1}]
networks:
  lan: {type: bridge}
  core: {type: p2p}
  wan: {type: p2p}
tasks:
  - id: hop
    prompt: Which hop is silent?
    answer: {computed: silent-hop, host: client, to: server}
`

// leakLab has a server that closes at once (a squatter); a client
// process named by the seed keeps its end open, in CLOSE_WAIT.
const leakLab = `apiVersion: netdojo/v1
metadata: {name: ck-leak, title: Who leaks CLOSE_WAIT}
params:
  - {name: worker, choice: [billing-sync, report-agent, cache-warmer, mailer]}
story: "A worker on client, ${worker}, keeps connections it should close."
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
  server:
    interfaces: [{network: lan, ipv4: 10.0.1.80/24}]
    services:
      - {name: closer, kind: squatter, params: {port: 443}}
networks:
  lan: {type: bridge}
tasks:
  - id: leaker
    prompt: Which process leaks CLOSE_WAIT on client?
    answer: {computed: close-wait-process, host: client}
`

var computedCases = []computedCase{
	{
		name:  "pid-of-port is the PID ss shows on the drawn port",
		yml:   squatterLab,
		param: "port",
		prepare: func(t *testing.T, e *env, port string) string {
			return ssPID(t, e, "server", "-tlnp", "sport = :"+port)
		},
	},
	{
		name:  "path-mtu is the drawn MTU as tracepath finds it",
		yml:   mtuLab,
		param: "mtu",
		prepare: func(t *testing.T, e *env, mtu string) string {
			out := e.run("client", "tracepath -n 203.0.113.80 || true")
			m := regexp.MustCompile(`Resume: pmtu (\d+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("tracepath printed no pmtu:\n%s", out)
			}
			if m[1] != mtu {
				t.Fatalf("tracepath finds pmtu %s on a %s-byte link", m[1], mtu)
			}
			return m[1]
		},
	},
	{
		name:  "silent-hop is the hop of the drawn router, as traceroute shows it",
		yml:   silentLab,
		param: "silent",
		prepare: func(t *testing.T, e *env, router string) string {
			e.run(router, "iptables -A OUTPUT -p icmp --icmp-type time-exceeded -j DROP")
			out := e.run("client", "traceroute -n -q 1 -w 1 203.0.113.80")
			m := regexp.MustCompile(`(?m)^\s*(\d+)\s+\*\s*$`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("traceroute shows no silent hop:\n%s", out)
			}
			return m[1]
		},
		alsoRight: func(router string) []string {
			if router == "r1" {
				return []string{"r1", "10.0.1.1"}
			}
			return []string{"r2", "203.0.113.1"}
		},
	},
	{
		name:  "close-wait-process is the drawn worker, as ss shows it",
		yml:   leakLab,
		param: "worker",
		prepare: func(t *testing.T, e *env, worker string) string {
			startLeaker(t, e, worker)
			out := e.run("client", "ss -tanp state close-wait")
			m := regexp.MustCompile(`users:\(\("([^"]+)"`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("ss shows no CLOSE_WAIT socket with its process:\n%s", out)
			}
			return m[1]
		},
	},
}

// TestComputedAnswers starts, for each computed task, two labs whose seeds
// draw different parameters; each lab's right answer (read with the real
// tool) passes there and fails on the other lab.
func TestComputedAnswers(t *testing.T) {
	t.Parallel()
	for _, cc := range computedCases {
		t.Run(cc.name, func(t *testing.T) {
			t.Parallel()
			sa, sb := labtest.SeedsApart(t, cc.yml, cc.param)
			var labs [2]seededLab
			for i, seed := range []uint64{sa, sb} {
				s := labtest.Load(t, cc.yml, seed)
				e := start(t, s, false)
				v := s.Values[cc.param]
				labs[i] = seededLab{e: e, value: v}
				labs[i].right = cc.prepare(t, e, v)
			}
			if labs[0].value == labs[1].value {
				t.Fatalf("both seeds drew %s", labs[0].value)
			}
			if labs[0].right == labs[1].right {
				t.Fatalf("both labs have the right answer %q; the test cannot tell them apart", labs[0].right)
			}
			for i, l := range labs {
				other := labs[1-i]
				a := l.e.s.Tasks[0].Answer
				want, _, err := l.e.c.Computed(context.Background(), a)
				if err != nil {
					t.Fatalf("seed %d: computing the answer: %v", l.e.s.Seed, err)
				}
				if want != l.right {
					t.Errorf("seed %d (%s=%s): computed %q, the real tool says %q", l.e.s.Seed, cc.param, l.value, want, l.right)
				}
				right := []string{l.right}
				if cc.alsoRight != nil {
					right = append(right, cc.alsoRight(l.value)...)
				}
				for _, r := range right {
					if o := l.e.c.Answer(context.Background(), a, []string{r}); !o.Pass {
						t.Errorf("seed %d (%s=%s): the right answer %q fails: %s", l.e.s.Seed, cc.param, l.value, r, o.Observed)
					}
				}
				wrong := []string{other.right}
				if cc.alsoRight != nil {
					wrong = append(wrong, cc.alsoRight(other.value)...)
				}
				for _, w := range wrong {
					o := l.e.c.Answer(context.Background(), a, []string{w})
					if o.Pass {
						t.Errorf("seed %d (%s=%s): %q, right for the other seed (%s), passes", l.e.s.Seed, cc.param, l.value, w, other.value)
					}
					if strings.Contains(strings.ReplaceAll(o.Observed, w, ""), l.right) {
						t.Errorf("a wrong answer's observation gives the right one away: %s", o.Observed)
					}
				}
			}
		})
	}
}

// ssPID is the PID ss shows for the first socket matching a filter.
func ssPID(t *testing.T, e *env, host, flags, filter string) string {
	t.Helper()
	out := e.run(host, "ss -H "+flags+" '"+filter+"'")
	m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ss %s %q in %s shows no process:\n%s", flags, filter, host, out)
	}
	return m[1]
}

// startLeaker runs, in client, a process named worker that connects to
// the server's squatter (which closes at once) and never closes its end.
func startLeaker(t *testing.T, e *env, worker string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), worker)
	sleep, err := os.ReadFile("/usr/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, sleep, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, err := e.lab.Command("client", "bash", "-c", "exec 3<>/dev/tcp/10.0.1.80/443 && exec "+bin+" 300")
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Wait until ss shows it in CLOSE_WAIT (the close is immediate).
	ch := decodeCheck(t, `{sockets: {host: client, state: close-wait, process: `+worker+`, min: 1}, within: 5s}`)
	if o := e.c.Check(context.Background(), ch); !o.Pass {
		t.Fatalf("the leaker does not hold CLOSE_WAIT: %s", o.Observed)
	}
}
