package scenarios_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/scenarios"
)

// badParams has a bad fault parameter, a bad service parameter and a bad
// record nested in a service parameter, each on its own line.
const badParams = `apiVersion: netdojo/v1
metadata: {name: kit-bad, title: bad params}
networks:
  lan: {type: bridge}
hosts:
  server:
    interfaces: [{network: lan, ipv4: 10.0.0.10/24}]
    services:
      - name: sq
        kind: squatter
        params:
          port: 8443
          name: a-very-long-daemon-name
      - name: dns
        kind: dns
        params:
          zones:
            - origin: corp.test.
              records:
                - www A 10.0.0.10
                - www.other.test. A 10.0.0.11
faults:
  - kind: mtu-mismatch
    host: server
    params:
      mtu: 1400
      dev: averyveryverylongname
`

func TestParamProblemsAreReportedAtTheFieldsOwnLine(t *testing.T) {
	_, err := scenarios.Load("bad.yaml", []byte(badParams), registries())
	var ps scenarios.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("loading gave %v; want problems", err)
	}
	// lineOf is the line of badParams that holds text.
	lineOf := func(text string) int {
		for i, l := range strings.Split(badParams, "\n") {
			if strings.Contains(l, text) {
				return i + 1
			}
		}
		t.Fatalf("%q is not in the scenario", text)
		return 0
	}
	cases := []struct {
		name, line, path, msg string
	}{
		{"a service's bad process name is at its name line", "name: a-very-long-daemon-name", "hosts.server.services[0].params.name", "is 23 characters"},
		{"a record outside its zone is at the record's line", "- www.other.test. A", "hosts.server.services[1].params.zones[0].records[1]", "is outside the zone"},
		{"a fault's long interface name is at its dev line", "dev: averyveryverylongname", "faults[0].params.dev", "is longer than 15 characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at := fmt.Sprintf("bad.yaml:%d:", lineOf(c.line))
			want := fmt.Sprintf(" %s: ", c.path)
			for _, p := range ps {
				s := p.String()
				if strings.HasPrefix(s, at) && strings.Contains(s, want) && strings.Contains(p.Msg, c.msg) {
					return
				}
			}
			t.Errorf("no problem at %s with path %s saying %q; got:\n%v", at, c.path, c.msg, err)
		})
	}
	if len(ps) != len(cases) {
		t.Errorf("%d problems; want %d:\n%v", len(ps), len(cases), err)
	}
}

func TestKitChecks(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string // "" for none
	}{
		{"a nested field error keeps its field under the outer one", scenarios.WithinField("zones[0]", scenarios.FieldErrorf("origin", "x")), "zones[0].origin: x"},
		{"an index joins without a dot", scenarios.WithinField("faults", scenarios.FieldErrorf("[2]", "x")), "faults[2]: x"},
		{"a plain error becomes the outer field's", scenarios.WithinField("answer[1]", errors.New("bad")), "answer[1]: bad"},
		{"a negative count is refused", scenarios.CheckNonNegative("n", -1), "n: -1 is negative; give zero or more"},
		{"zero is not negative", scenarios.CheckNonNegative("n", 0), ""},
		{"an interface name of 16 characters is refused", scenarios.CheckIfName("dev", "abcdefghijklmnop"), `dev: "abcdefghijklmnop" is longer than 15 characters`},
		{"an interface name of 15 characters passes", scenarios.CheckIfName("dev", "abcdefghijklmno"), ""},
		{"a domain name with an empty label is refused", scenarios.CheckDNSName("name", "www..corp.test"), `name: "www..corp.test" is not a domain name`},
		{"a process name with a slash is refused", scenarios.CheckProcessName("name", "a/b"), `name: "a/b" must be printable ASCII`},
		{"a process name of 16 characters is refused", scenarios.CheckProcessName("name", "abcdefghijklmnop"), "is 16 characters; the kernel keeps at most 15"},
		{"an empty process name is refused", scenarios.CheckProcessName("name", ""), "name: must not be empty"},
	}
	dur := func(s string, def, max time.Duration) error {
		_, err := scenarios.CheckDurationUpTo("delay", s, def, max)
		return err
	}
	cases = append(cases, []struct {
		name string
		err  error
		want string
	}{
		{"a zero duration is refused", dur("0s", 2*time.Second, time.Minute), `delay: "0s" is out of range; give more than 0 and at most 1m, such as "2s"`},
		{"a duration over the maximum is refused", dur("2m", 2*time.Second, time.Minute), `delay: "2m" is out of range`},
		{"no maximum means any positive duration", dur("2h", time.Minute, 0), ""},
		{"a zero duration without a maximum is refused", dur("0s", time.Minute, 0), `delay: "0s" is out of range; give more than 0, such as "1m"`},
		{"a duration that does not parse says how to write one", dur("soon", time.Second, 0), `delay: "soon" is not a duration`},
	}...)
	prefix := func(v string) error { _, err := scenarios.CheckPrefix("to", v, "10.0.1.0/24"); return err }
	servers := func(vs ...string) error { _, err := scenarios.CheckAddrPorts("forwarders", vs, 53); return err }
	ipv4 := func(v string) error { _, err := scenarios.CheckIPv4("to", v, "10.0.1.1"); return err }
	ipv4port := func(v string) error { _, err := scenarios.CheckIPv4Port("to", v, "10.0.1.1:80"); return err }
	cases = append(cases, []struct {
		name string
		err  error
		want string
	}{
		{"a prefix with host bits says which was meant", prefix("10.0.1.5/24"), "to: 10.0.1.5/24 has host bits set; did you mean 10.0.1.0/24?"},
		{"an address is not a prefix", prefix("10.0.1.5"), `to: "10.0.1.5" is not a network prefix; give one such as "10.0.1.0/24"`},
		{"a list of servers names the bad item", servers("10.0.0.1", "10.0.0.2:5353", "ns1"), `forwarders[2]: "ns1" is not an IP address or IP:port`},
		{"an IPv6 address is not IPv4", ipv4("2001:db8::1"), `to: "2001:db8::1" is not an IPv4 address; give one such as "10.0.1.1"`},
		{"an empty IPv4 address is nothing", ipv4(""), ""},
		{"an IPv4 address without a port is refused", ipv4port("10.0.1.1"), `to: "10.0.1.1" is not IPv4:port`},
	}...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			switch {
			case c.want == "" && c.err != nil:
				t.Errorf("unexpected error: %v", c.err)
			case c.want != "" && c.err == nil:
				t.Errorf("no error; want one containing %q", c.want)
			case c.want != "" && !strings.Contains(c.err.Error(), c.want):
				t.Errorf("error %q; want it to contain %q", c.err, c.want)
			}
			var fe *scenarios.FieldError
			if c.err != nil && !errors.As(c.err, &fe) {
				t.Errorf("%v is not a FieldError", c.err)
			}
		})
	}
	var fwd []string
	fwd, _ = scenarios.CheckAddrPorts("forwarders", []string{"10.0.0.1", "10.0.0.2:5353"}, 53)
	if strings.Join(fwd, " ") != "10.0.0.1:53 10.0.0.2:5353" {
		t.Errorf("servers read as %v; want the default port filled in", fwd)
	}
}
