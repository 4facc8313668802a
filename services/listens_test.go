package services_test

import (
	"strings"
	"testing"

	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// TestTwoServicesOnOneSocketAreRefused: two services of one host that
// would listen on the same socket validate no more (start used to report
// success with one of them dead: the second could not bind, and its
// readiness probe was answered by the first); the same port on another
// protocol, another listen address or another host is fine.
func TestTwoServicesOnOneSocketAreRefused(t *testing.T) {
	const head = `apiVersion: netdojo/v1
metadata: {name: red9-svc, title: t}
networks:
  lan: {type: bridge}
hosts:
  b:
    interfaces:
      - {network: lan, ipv4: 10.9.0.2/24}
      - {name: eth1, network: lan, ipv4: 10.9.0.3/24}
    services:
`
	for _, c := range []struct {
		name, services, want string
	}{
		{"two http servers on port 80", "      - {name: w1, kind: http}\n      - {name: w2, kind: http, params: {port: 80}}\n", `service "w2" listens on tcp port 80, as service "w1" does`},
		{"http on every address and a proxy on one", "      - {name: w1, kind: http, params: {port: 8080}}\n      - {name: p, kind: proxy, params: {listen: 10.9.0.2, port: 8080, backend: \"10.9.0.9:80\"}}\n", `service "p" listens on tcp port 8080`},
		{"dns and a udp squatter on 53", "      - {name: d, kind: dns}\n      - {name: s, kind: squatter, params: {port: 53, protocol: udp}}\n", `service "s" listens on udp port 53`},
		{"two udp echoes", "      - {name: e1, kind: udp-echo}\n      - {name: e2, kind: udp-echo}\n", `service "e2" listens on udp port 7`},
		{"tcp and udp echo on port 7", "      - {name: e1, kind: tcp-echo}\n      - {name: e2, kind: udp-echo}\n", ""},
		{"two addresses, one port", "      - {name: w1, kind: http, params: {listen: 10.9.0.2}}\n      - {name: w2, kind: http, params: {listen: 10.9.0.3}}\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := scenarios.Load("svc.yaml", []byte(head+c.services), scenarios.Options{Services: services.Registry{}})
			switch {
			case c.want == "" && err != nil && strings.Contains(err.Error(), "listens on"):
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want an error saying %s", err, c.want)
			}
		})
	}
}
