package checker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/lab/labtest"
)

// More forms people copy from their tools, beyond TestAnswerForms: a
// process name as a path, with its arguments, or as netstat -p prints it
// (PID/name); a PID in brackets; an MX answer with its type; ICMP port
// unreachable for a refusal; a layer with its name in brackets; a host by
// its address as ip addr prints it (with its prefix length) or by an IPv6
// address written another way. Near misses stay wrong.
func TestMoreAnswerForms(t *testing.T) {
	c := &checker.Checker{Scenario: labtest.Load(t, formsLab, 1)}
	const (
		errors3 = `{choice: [refused, timed-out, no-route], correct: %s}`
		layers  = `{choice: [physical, data-link, network, transport, application], correct: %s}`
	)
	choice := func(tmpl, correct string) string { return strings.Replace(tmpl, "%s", correct, 1) }
	for _, tc := range []struct {
		name, answer, given string
		pass                bool
	}{
		{"a process name as a path", `{pattern: "^ruby$"}`, "/usr/bin/ruby", true},
		{"a process name as netstat -p prints it", `{pattern: "^ruby$"}`, "658/ruby", true},
		{"a process name with its arguments, as ps prints it", `{pattern: "^ruby$"}`, "ruby /srv/orders/app.rb --port 8080", true},
		{"a path with arguments", `{pattern: "^ruby$"}`, "/usr/bin/ruby -w /srv/app.rb", true},
		{"an arrow is no option", `{pattern: "^ruby$"}`, "ruby -> node", false},
		{"two names at once are no answer", `{pattern: "^ruby$"}`, "ruby or node", false},
		{"another program as a path", `{pattern: "^ruby$"}`, "/usr/bin/node", false},
		{"a PID in brackets", `{correct: "658"}`, "[658]", true},
		{"a PID as netstat -p prints it", `{correct: "658"}`, "658/ruby", true},
		{"another PID in brackets", `{correct: "658"}`, "[659]", false},
		{"the MX answer with its type", `{pattern: "^(?i)mail\\.shop\\.example$"}`, "MX 10 mail.shop.example.", true},
		{"the MX answer with its class and type", `{pattern: "^(?i)mail\\.shop\\.example$"}`, "IN MX 10 mail.shop.example.", true},
		{"another MX host with its type", `{pattern: "^(?i)mail\\.shop\\.example$"}`, "MX 10 smtp.shop.example.", false},
		{"ICMP port unreachable is a refusal", choice(errors3, "refused"), "ICMP port unreachable", true},
		{"ping's Destination Port Unreachable is a refusal", choice(errors3, "refused"), "Destination Port Unreachable", true},
		{"port unreachable is no route to host", choice(errors3, "no-route"), "ICMP port unreachable", false},
		{"the layer's number and name", choice(layers, "data-link"), "Layer 2 (data link)", true},
		{"datalink in one word", choice(layers, "data-link"), "datalink", true},
		{"the layer's number and another name", choice(layers, "data-link"), "Layer 2 (network)", false},
		{"the nth hop in digits", `{pattern: "^(2|r2|10\\.0\\.2\\.1)$"}`, "the 2nd hop", true},
		{"the nth hop in words", `{pattern: "^(2|r2|10\\.0\\.2\\.1)$"}`, "the second hop", true},
		{"an ordinal alone", `{pattern: "^(2|r2|10\\.0\\.2\\.1)$"}`, "second", true},
		{"hop and a number in words", `{pattern: "^(2|r2|10\\.0\\.2\\.1)$"}`, "hop two", true},
		{"another hop in words", `{pattern: "^(2|r2|10\\.0\\.2\\.1)$"}`, "the third hop", false},
		{"a router with its address", `{pattern: "^(r1|10\\.0\\.1\\.1)$"}`, "R1 (10.0.1.1)", true},
		{"a router with another host's address", `{pattern: "^(r1|10\\.0\\.1\\.1)$"}`, "R1 (10.0.2.80)", false},
		{"a host's FQDN with its final dot", `{correct: 10.0.2.80}`, "www.shop.example.", true},
		{"an address as ip addr prints it", `{pattern: "^(www|10\\.0\\.2\\.80)$"}`, "10.0.2.80/24", true},
		{"an IPv6 address written in full", `{pattern: "^(www|10\\.0\\.2\\.80)$"}`, "fd00:2:0:0:0:0:0:80", true},
		{"another address with a prefix length", `{pattern: "^(www|10\\.0\\.2\\.80)$"}`, "10.0.2.81/24", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := c.Answer(context.Background(), decodeAnswer(t, tc.answer), strings.Fields(tc.given))
			if o.Pass != tc.pass {
				t.Errorf("answer %q: pass=%v observed %q; want pass=%v", tc.given, o.Pass, o.Observed, tc.pass)
			}
		})
	}
}
