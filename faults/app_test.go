package faults_test

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// appLab is a LAN with a client, a DNS server, a reverse proxy and its
// backend. The client's resolver gives up fast (timeout:1 attempts:1).
const appLab = `apiVersion: netdojo/v1
metadata: {name: app, title: App}
hosts:
  client:
    interfaces: [{network: lan, ipv4: 10.0.1.10/24}]
    dns:
      nameservers: [10.0.1.53]
      search: [corp.test]
      options: ["timeout:1", "attempts:1"]
  ns1:
    interfaces: [{network: lan, ipv4: 10.0.1.53/24}]
    services:
      - name: resolver
        kind: dns
        params:
          zones:
            - origin: corp.test.
              records: ["www A 10.0.1.80", "app A 10.0.1.90"]
  web:
    interfaces: [{network: lan, ipv4: 10.0.1.80/24}]
    services:
      - {name: front, kind: proxy, params: {port: 80, backend: "10.0.1.90:8080", dial_timeout: 1s, header_timeout: 1s}}
  app:
    interfaces: [{network: lan, ipv4: 10.0.1.90/24}]
    services:
      - {name: backend, kind: http, params: {port: 8080}}
networks:
  lan: {type: bridge}
`

// resolverJSON is the ns1 dns service's parameters, for fixes that start
// the server again.
const resolverJSON = `{"zones":[{"origin":"corp.test.","records":["www A 10.0.1.80","app A 10.0.1.90"]}]}`

// restartFix is the shell a learner would run on host to restart the
// service behind a port: find its PID with ss, end it, start the server
// again with its right configuration (the netdojo binary, here the test
// binary), and wait until ready answers.
func restartFix(t *testing.T, host, proto string, port int, kind, params, ready string) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ssArgs := "-Hlnp" + proto + " 'sport = :" + strconv.Itoa(port) + "'"
	return fmt.Sprintf(`%s: pid=$(ss %s | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
[ -n "$pid" ] && kill $pid
i=0; while ss %s | grep -q . && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
setsid %s __service %s '%s' </dev/null >/dev/null 2>&1 &
i=0; while [ $i -lt 100 ]; do %s && exit 0; sleep 0.05; i=$((i+1)); done; exit 1`,
		host, ssArgs, ssArgs, self, kind, params, ready)
}

var queryTime = regexp.MustCompile(`Query time: (\d+) msec`)

func TestAppFaults(t *testing.T) {
	dig := func(l *labEnv, args ...string) string {
		out, _ := l.run("client", append([]string{"dig", "+time=5", "+tries=1"}, args...)...)
		return out
	}
	curl := func(l *labEnv, url string) string {
		out, _ := l.run("client", "curl", "-sS", "-I", "--max-time", "5", url)
		return out
	}
	cases := []faultCase{
		{
			kind: "resolver-dead-server", scenario: appLab, host: "client", params: "{name: www.corp.test.}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "dig", "+time=1", "+tries=1", "www.corp.test")
				if err := expect(out, ";; communications error to 10.0.1.254#53: timed out"); err != nil {
					return err
				}
				return expect(out, ";; no servers could be reached")
			},
			fix: []string{`client: printf 'nameserver 10.0.1.53\nsearch corp.test\noptions timeout:1 attempts:1\n' > /etc/resolv.conf`},
		},
		{
			kind: "dns-servfail", scenario: appLab, host: "ns1", params: "{name: www.corp.test.}",
			symptom: func(t *testing.T, l *labEnv) error {
				return expect(dig(l, "www.corp.test"), "status: SERVFAIL")
			},
			restart: []string{"ns1: resolver"},
		},
		{
			kind: "dns-nxdomain", scenario: appLab, host: "ns1", params: "{name: www.corp.test., type: A}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "getent", "hosts", "www.corp.test")
				if strings.Contains(out, "10.0.1.80") {
					return fmt.Errorf("getent still resolves: %s", out)
				}
				return expect(dig(l, "www.corp.test"), "status: NXDOMAIN")
			},
			restart: []string{"ns1: resolver"},
		},
		{
			kind: "dns-slow", scenario: appLab, host: "ns1", params: "{name: www.corp.test., delay: 1s}",
			symptom: func(t *testing.T, l *labEnv) error {
				out := dig(l, "www.corp.test")
				m := queryTime.FindStringSubmatch(out)
				if m == nil {
					return fmt.Errorf("dig printed no query time:\n%s", out)
				}
				if ms, _ := strconv.Atoi(m[1]); ms < 500 {
					return fmt.Errorf("dig's query time is %d msec:\n%s", ms, out)
				}
				return expect(out, "10.0.1.80")
			},
			restart: []string{"ns1: resolver"},
		},
		{
			kind: "dns-refused", scenario: appLab, host: "ns1", params: "{name: www.corp.test.}",
			symptom: func(t *testing.T, l *labEnv) error {
				return expect(dig(l, "www.corp.test"), "status: REFUSED")
			},
			restart: []string{"ns1: resolver"},
		},
		{
			kind: "dns-truncated", scenario: appLab, host: "ns1", params: "{name: www.corp.test.}",
			symptom: func(t *testing.T, l *labEnv) error {
				return expect(dig(l, "www.corp.test"), ";; Truncated, retrying in TCP mode.")
			},
			restart: []string{"ns1: resolver"},
		},
		{
			kind: "wrong-search-domain", scenario: appLab, host: "client", params: "{name: www, search: [corp.example]}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, err := l.run("client", "getent", "hosts", "www")
				if err == nil || strings.TrimSpace(out) != "" {
					return fmt.Errorf("getent hosts www resolves: %v %s", err, out)
				}
				if full, err := l.run("client", "getent", "hosts", "www.corp.test"); err != nil {
					return fmt.Errorf("the full name does not resolve either: %v %s", err, full)
				}
				return nil
			},
			fix: []string{`client: echo 'search corp.test' >> /etc/resolv.conf`},
		},
		{
			kind: "wrong-record", scenario: appLab, host: "ns1", params: "{name: www.corp.test., address: 10.0.1.99}",
			symptom: func(t *testing.T, l *labEnv) error {
				out := curl(l, "http://www.corp.test/")
				if strings.Contains(out, "HTTP/1.1 200") {
					return fmt.Errorf("curl reaches the web server:\n%s", out)
				}
				return expect(out, "curl: (")
			},
			restart: []string{"ns1: resolver"},
		},
		{
			kind: "stale-hosts-entry", scenario: appLab, host: "client", params: "{name: www.corp.test, address: 10.0.1.99}",
			symptom: func(t *testing.T, l *labEnv) error {
				if err := expect(dig(l, "+short", "www.corp.test"), "10.0.1.80"); err != nil {
					return fmt.Errorf("dig is wrong too: %w", err)
				}
				out, _ := l.run("client", "getent", "hosts", "www.corp.test")
				return expect(out, "10.0.1.99")
			},
			fix: []string{`client: h=$(grep -v 'www.corp.test' /etc/hosts); echo "$h" > /etc/hosts`},
		},
		{
			kind: "proxy-backend-down", scenario: appLab, host: "app", params: "{service: backend}",
			symptom: func(t *testing.T, l *labEnv) error {
				return expect(curl(l, "http://10.0.1.80/"), "HTTP/1.1 502 Bad Gateway")
			},
			restart: []string{"app: backend"},
		},
		{
			kind: "proxy-backend-hung", scenario: appLab, host: "app", params: "{service: backend, mode: slow}",
			symptom: func(t *testing.T, l *labEnv) error {
				return expect(curl(l, "http://10.0.1.80/"), "HTTP/1.1 504 Gateway Timeout")
			},
			restart: []string{"app: backend"},
		},
		{
			kind: "proxy-backend-hung", scenario: appLab, host: "app", params: "{service: backend, mode: drop}",
			symptom: func(t *testing.T, l *labEnv) error {
				return expect(curl(l, "http://10.0.1.80/"), "HTTP/1.1 504 Gateway Timeout")
			},
			fix: []string{`app: iptables -D INPUT -p tcp --dport 8080 -m comment --comment "netdojo fault proxy-backend-hung" -j DROP`},
		},
	}
	for _, c := range cases {
		t.Run(c.kind+" "+c.params+" shows its symptom and goes away when fixed or reverted", func(t *testing.T) {
			runFaultCase(t, c)
		})
	}
}
