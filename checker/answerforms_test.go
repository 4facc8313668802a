package checker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/lab/labtest"
)

// formsLab is a small lab with a DNS zone, used to judge answers that name
// hosts; it is never started.
const formsLab = `apiVersion: netdojo/v1
metadata: {name: forms, title: Forms}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
    routes: [{to: default, via: 10.0.1.1}]
  r1:
    interfaces: [{network: lan, ipv4: 10.0.1.1/24}, {network: core, ipv4: 10.0.2.1/24}]
    sysctls: {net.ipv4.ip_forward: "1"}
  www:
    interfaces: [{network: core, ipv4: 10.0.2.80/24, ipv6: "fd00:2::80/64"}]
    services:
      - name: dns
        kind: dns
        params:
          zones:
            - origin: shop.example.
              records: ["www A 10.0.2.80", "gw A 10.0.1.1", "@ MX 10 mail", "mail A 10.0.2.25"]
networks:
  lan: {type: bridge}
  core: {type: p2p}
`

// TestAnswerForms judges, per answer kind, the forms competent people
// write (right), the common near misses (wrong, with a word on what was
// mixed up, never the answer) and garbage. Nothing here needs root.
func TestAnswerForms(t *testing.T) {
	c := &checker.Checker{Scenario: labtest.Load(t, formsLab, 1)}
	const (
		errors3 = `{choice: [refused, timed-out, no-route], correct: %s}`
		layers  = `{choice: [physical, data-link, network, transport, application], correct: %s}`
	)
	type tc struct {
		name   string
		answer string
		given  string
		pass   bool
		saw    string // in the observation
	}
	choice := func(tmpl, correct string) string { return strings.Replace(tmpl, "%s", correct, 1) }
	cases := []tc{
		// Error classes, in the words the tools print.
		{"refused as the option", choice(errors3, "refused"), "refused", true, ""},
		{"refused in capitals with spaces", choice(errors3, "refused"), "  REFUSED ", true, ""},
		{"nc's Connection refused", choice(errors3, "refused"), "Connection refused", true, ""},
		{"nc -v's whole line", choice(errors3, "refused"), "nc: connect to 10.0.2.21 port 8080 (tcp) failed: Connection refused", true, ""},
		{"curl's failure with the errno", choice(errors3, "refused"), "curl: (7) Failed to connect to 10.0.2.21 port 8080: Connection refused", true, ""},
		{"telnet's words", choice(errors3, "refused"), "Unable to connect to remote host: Connection refused", true, ""},
		{"Go's error", choice(errors3, "refused"), "dial tcp 10.0.2.21:8080: connect: connection refused", true, ""},
		{"the errno name", choice(errors3, "refused"), "ECONNREFUSED", true, ""},
		{"timed out as two words", choice(errors3, "timed-out"), "timed out", true, ""},
		{"timeout as one word", choice(errors3, "timed-out"), "timeout", true, ""},
		{"nc's Connection timed out", choice(errors3, "timed-out"), "nc: connect to 10.0.2.22 port 8080 (tcp) timed out: Operation now in progress", true, ""},
		{"curl's timeout", choice(errors3, "timed-out"), "curl: (28) Connection timed out after 3001 milliseconds", true, ""},
		{"Go's i/o timeout", choice(errors3, "timed-out"), "dial tcp 10.0.2.22:8080: i/o timeout", true, ""},
		{"nc's No route to host", choice(errors3, "no-route"), "No route to host", true, ""},
		{"ping's Destination Host Unreachable", choice(errors3, "no-route"), "From 10.0.1.1 icmp_seq=1 Destination Host Unreachable", true, ""},
		{"EHOSTUNREACH", choice(errors3, "no-route"), "ehostunreach", true, ""},
		{"telnet's No route to host", choice(errors3, "no-route"), "Unable to connect to remote host: No route to host", true, ""},
		{"a refusal where the answer is a timeout is wrong", choice(errors3, "timed-out"), "Connection refused", false, "you chose"},
		{"a timeout where the answer is refused is wrong", choice(errors3, "refused"), "timed out", false, "you chose"},
		{"curl's Couldn't connect is no class and says why", choice(errors3, "refused"), "curl: (7) Couldn't connect to server", false, "nc -v or telnet"},
		{"two classes at once are no answer", choice(errors3, "refused"), "refused or timed out", false, "more than one"},
		{"garbage is not an option", choice(errors3, "refused"), "banana", false, "not one of the options"},
		// Layers.
		{"the layer's name", choice(layers, "physical"), "Physical", true, ""},
		{"L1", choice(layers, "physical"), "L1", true, ""},
		{"layer 1", choice(layers, "physical"), "layer 1", true, ""},
		{"the number alone", choice(layers, "physical"), "1", true, ""},
		{"physical layer", choice(layers, "physical"), "physical layer", true, ""},
		{"layer 2 is the wrong layer", choice(layers, "physical"), "layer 2", false, "you chose"},
		{"data link with a space", choice(layers, "data-link"), "data link", true, ""},
		{"L2 for data-link", choice(layers, "data-link"), "l2", true, ""},
		{"layer 9 does not exist", choice(layers, "physical"), "layer 9", false, "not one of the options"},
		// Filler words around an option.
		{"the default gateway", `{choice: [interface, address, gateway, gateway-ping, dns, service], correct: gateway}`, "the default gateway", true, ""},
		{"a DNS problem", `{choice: [interface, address, gateway, gateway-ping, dns, service], correct: dns}`, "a DNS problem", true, ""},
		{"gateway ping is its own option", `{choice: [interface, address, gateway, gateway-ping, dns, service], correct: gateway}`, "gateway ping", false, "you chose"},
		// Choices that are hosts: any name or address of the same host.
		{"the option's address", `{choice: [10.0.1.1, 10.0.2.80], correct: 10.0.1.1}`, "10.0.1.1", true, ""},
		{"the router's name", `{choice: [10.0.1.1, 10.0.2.80], correct: 10.0.1.1}`, "r1", true, ""},
		{"the router's other address", `{choice: [10.0.1.1, 10.0.2.80], correct: 10.0.1.1}`, "10.0.2.1", true, ""},
		{"the router's name in the lab's DNS", `{choice: [10.0.1.1, 10.0.2.80], correct: 10.0.1.1}`, "gw.shop.example.", true, ""},
		{"the other host", `{choice: [10.0.1.1, 10.0.2.80], correct: 10.0.1.1}`, "www", false, "you chose"},
		// Numbers with units.
		{"a bare number", `{number: 1400}`, "1400", true, ""},
		{"bytes", `{number: 1400}`, "1400 bytes", true, ""},
		{"B stuck to it", `{number: 1400}`, "1400B", true, ""},
		{"mtu before it", `{number: 1400}`, "mtu 1400", true, ""},
		{"MTU: before it", `{number: 1400}`, "MTU: 1400", true, ""},
		{"a thousands separator", `{number: 1400}`, "1,400", true, ""},
		{"a sentence's full stop", `{number: 1400}`, "1400.", true, ""},
		{"a decimal that is not the number", `{number: 1400}`, "1400.5", false, "you answered 1400.5"},
		{"the ping payload is a near miss", `{number: 1400}`, "1372", false, "28 bytes of IP and ICMP headers"},
		{"the Ethernet frame is a near miss", `{number: 1400}`, "1414", false, "Ethernet header"},
		{"the near-miss word never gives the number", `{number: 1400}`, "1372 bytes", false, "ping payload"},
		{"a number and garbage is no number", `{number: 1400}`, "1400 apples", false, "is not a number"},
		{"two numbers are no number", `{number: 1400}`, "1400 1500", false, "is not a number"},
		// Patterns: any case, a final dot, dig and ss lines.
		{"a process name in capitals", `{pattern: "^ruby$"}`, "Ruby", true, ""},
		{"a process name from ss -p", `{pattern: "^ruby$"}`, `users:(("ruby",pid=658,fd=3))`, true, ""},
		{"another process name from ss -p", `{pattern: "^ruby$"}`, `users:(("node",pid=658,fd=3))`, false, ""},
		{"the MX host with its final dot", `{pattern: "^(?i)mail\\.shop\\.example\\.?$"}`, "mail.shop.example.", true, ""},
		{"the MX answer as dig +short prints it", `{pattern: "^(?i)mail\\.shop\\.example$"}`, "10 mail.shop.example.", true, ""},
		{"the MX line of dig's answer section", `{pattern: "^(?i)mail\\.shop\\.example$"}`, "shop.example.		300	IN	MX	10 mail.shop.example.", true, ""},
		{"the MX line without TTL", `{pattern: "^(?i)mail\\.shop\\.example$"}`, "shop.example. IN MX 10 mail.shop.example.", true, ""},
		{"another MX host", `{pattern: "^(?i)mail\\.shop\\.example$"}`, "10 smtp.shop.example.", false, ""},
		{"a host named by another address", `{pattern: "^(r1|10\\.0\\.1\\.1)$"}`, "10.0.2.1", true, ""},
		{"a host named by its DNS name", `{pattern: "^(www|10\\.0\\.2\\.80)$"}`, "www.shop.example", true, ""},
		{"a host named by its IPv6 address", `{pattern: "^(www|10\\.0\\.2\\.80)$"}`, "fd00:2::80", true, ""},
		{"the client's own address is a near miss", `{pattern: "^(www|10\\.0\\.2\\.80)$"}`, "10.0.1.10", false, "client's own address"},
		{"a hop number with its label", `{pattern: "^(2|r2|10\\.0\\.2\\.1)$"}`, "hop 2", true, ""},
		{"another hop number", `{pattern: "^(2|r2|10\\.0\\.2\\.1)$"}`, "hop 3", false, ""},
		{"a router name in capitals", `{pattern: "^(2|r2|10\\.0\\.2\\.1)$"}`, "R2", true, ""},
		// Exact values.
		{"an exact value in any case", `{correct: WWW}`, "www", true, ""},
		{"an exact address named by its host", `{correct: 10.0.2.80}`, "www", true, ""},
		{"an exact number with a unit", `{correct: "1500"}`, "1500 bytes", true, ""},
		{"an exact value quoted", `{correct: "hosts-file"}`, `"hosts-file"`, true, ""},
		{"a wrong exact value", `{correct: 10.0.2.80}`, "10.0.2.81", false, "you answered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := c.Answer(context.Background(), decodeAnswer(t, tc.answer), strings.Fields(tc.given))
			if o.Pass != tc.pass || !strings.Contains(o.Observed, tc.saw) {
				t.Errorf("answer %q: pass=%v observed %q; want pass=%v and %q", tc.given, o.Pass, o.Observed, tc.pass, tc.saw)
			}
			if !o.Pass && strings.Contains(o.Observed, "1400") && !strings.Contains(tc.given, "1400") {
				t.Errorf("a wrong answer's observation gives the number away: %s", o.Observed)
			}
		})
	}
}

func TestProgressKeepsRightAnswers(t *testing.T) {
	var tp checker.TaskProgress
	tp.RecordAnswer([]string{"dns"}, checker.Outcome{Pass: false, Observed: `you chose "dns"`})
	tp.RecordAnswer([]string{"gateway"}, checker.Outcome{Pass: true, Observed: `you chose "gateway"`})
	tp.RecordAnswer([]string{"interface"}, checker.Outcome{Pass: false, Observed: `you chose "interface"`})
	if !tp.Passed || strings.Join(tp.Answer, " ") != "gateway" || tp.Observed != `you chose "gateway"` {
		t.Errorf("a wrong answer after a right one erased it: %+v", tp)
	}
	if len(tp.Attempts) != 3 || tp.Checks != 3 {
		t.Fatalf("attempts recorded: %+v", tp.Attempts)
	}
	for i, want := range []bool{false, true, false} {
		a := tp.Attempts[i]
		if a.Pass != want || a.At.IsZero() || len(a.Answer) != 1 {
			t.Errorf("attempt %d: %+v, want pass=%v with its time and answer", i, a, want)
		}
	}
}

// withholdLab asks which host is silent and to make it answer: the fix
// task's ping names the culprit's address.
const withholdLab = `apiVersion: netdojo/v1
metadata: {name: withhold, title: Withhold}
hosts:
  h1:
    interfaces: [{network: lan, ipv4: 10.1.0.1/24}]
  h37:
    interfaces: [{network: lan, ipv4: 10.1.0.37/24}]
networks:
  lan: {type: bridge}
tasks:
  - id: which-host
    prompt: Which host is silent?
    answer: {pattern: "^(h37|10\\.1\\.0\\.37)$"}
  - id: why
    prompt: What fails? (refused, timed-out)
    answer: {choice: [refused, timed-out], correct: refused}
  - id: bring-it-back
    prompt: Make it answer.
    check: {ping: {from: h1, to: 10.1.0.37}}
solution:
  - {task: which-host, answer: h37}
  - {task: why, answer: refused}
`

// TestWithheldAnswers: observations name no answer the learner has not
// given yet (the culprit host, by any of its names), and words a tool
// prints (refused) stay.
func TestWithheldAnswers(t *testing.T) {
	c := &checker.Checker{Scenario: labtest.Load(t, withholdLab, 1)}
	none := func(string) bool { return false }
	w := c.Withheld(context.Background(), none)
	obs := "ping from h1 to 10.1.0.37: 0 of 2 answered; h37 is down; 10.1.0.370 and h370 are others; tcp to 10.1.0.37:80: the connection is refused."
	got := checker.Redact(obs, w)
	want := "ping from h1 to (withheld): 0 of 2 answered; (withheld) is down; 10.1.0.370 and h370 are others; tcp to (withheld):80: the connection is refused."
	if got != want {
		t.Errorf("redacted:\n %s\nwant\n %s\n(withheld %q)", got, want, w)
	}
	answered := func(id string) bool { return id == "which-host" }
	if w := c.Withheld(context.Background(), answered); len(w) != 0 {
		t.Errorf("after the answer, still withheld: %q", w)
	}
}
