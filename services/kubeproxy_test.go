package services

import (
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// TestKubeProxy runs kube-proxy in a node namespace with two http
// endpoints behind one service VIP and a second service without
// endpoints, and uses them from a client namespace routed through the node.
func TestKubeProxy(t *testing.T) {
	client, node := sandboxtest.Pair(t, "ndsv-", "10.0.0.1/24", "10.0.0.2/24")
	mustInNetns(t, client, "ip", "route", "add", "10.96.0.0/12", "via", "10.0.0.2")
	mustInNetns(t, node, "ip", "route", "add", "default", "via", "10.0.0.1")
	// Forwarding back out eth0 sends an ICMP redirect first, and the default
	// per-host ICMP rate limit would then swallow the REJECT's error.
	mustInNetns(t, node, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.icmp_ratelimit=0", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0")

	startService(t, node, "http", &HTTPParams{Port: 8080, Body: "endpoint a\n"})
	startService(t, node, "http", &HTTPParams{Port: 8081, Body: "endpoint b\n"})
	web := KubeService{Name: "web", VIP: "10.96.0.20", Port: 80, Endpoints: []string{"10.0.0.2:8080", "10.0.0.2:8081"}}
	empty := KubeService{Name: "empty", VIP: "10.96.0.30", Port: 80}
	kp := startService(t, node, "kube-proxy", &KubeProxyParams{Services: []KubeService{web, empty}})

	t.Run("curl to the service VIP reaches both endpoints", func(t *testing.T) {
		seen := map[string]int{}
		for i := 0; i < 24; i++ {
			out := mustInNetns(t, client, "curl", "-sS", "--max-time", "3", "http://10.96.0.20/")
			seen[strings.TrimSpace(out)]++
		}
		if seen["endpoint a"] == 0 || seen["endpoint b"] == 0 || len(seen) != 2 {
			t.Errorf("24 requests to the VIP got %v; want both endpoints", seen)
		}
	})
	t.Run("the nat table holds kube-proxy's chains as iptables shows them", func(t *testing.T) {
		nat := mustInNetns(t, node, "iptables", "-t", "nat", "-S")
		for _, want := range []string{
			`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
			`-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
			`-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -m comment --comment "default/web cluster IP" -j ` + KubeSvcChain(web),
			`-m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-`,
			`-j DNAT --to-destination 10.0.0.2:8081`,
		} {
			if !strings.Contains(nat, want) {
				t.Errorf("iptables -t nat -S lacks %q:\n%s", want, nat)
			}
		}
	})
	t.Run("a service without endpoints is refused at once", func(t *testing.T) {
		out, code := inNetns(t, client, "curl", "-sS", "--max-time", "3", "http://10.96.0.30/")
		if code != 7 || !strings.Contains(out, "Couldn't connect to server") {
			t.Errorf("curl to the empty service: exit %d, want 7 (refused):\n%s\n%s\n%s", code, out, mustInNetns(t, node, "iptables", "-vnL"), mustInNetns(t, node, "sysctl", "net.ipv4.ip_forward"))
		}
		filter := mustInNetns(t, node, "iptables", "-S", "KUBE-SERVICES")
		if !strings.Contains(filter, `--comment "default/empty has no endpoints" -j REJECT --reject-with icmp-port-unreachable`) {
			t.Errorf("filter KUBE-SERVICES lacks the REJECT:\n%s", filter)
		}
	})
	t.Run("stopping kube-proxy removes every rule it made", func(t *testing.T) {
		if code := kp.stop(); code != ExitOK {
			t.Fatalf("kube-proxy exited %d:\n%s", code, kp.log())
		}
		for _, table := range []string{"nat", "filter"} {
			if out := mustInNetns(t, node, "iptables", "-t", table, "-S"); strings.Contains(out, "KUBE-") {
				t.Errorf("iptables -t %s -S still has KUBE- rules:\n%s", table, out)
			}
		}
		if _, code := inNetns(t, client, "curl", "-sS", "--max-time", "1", "http://10.96.0.20/"); code == 0 {
			t.Errorf("the VIP still answers without kube-proxy")
		}
	})
}

func TestKubeProxyParams(t *testing.T) {
	cases := []struct {
		name string
		p    KubeProxyParams
		want string
	}{
		{"a VIP that is not an address is rejected", KubeProxyParams{Services: []KubeService{{Name: "a", VIP: "x", Port: 80}}}, "services[0].vip"},
		{"a port out of range is rejected", KubeProxyParams{Services: []KubeService{{Name: "a", VIP: "10.96.0.1", Port: 70000}}}, "services[0].port"},
		{"an endpoint without a port is rejected", KubeProxyParams{Services: []KubeService{{Name: "a", VIP: "10.96.0.1", Port: 80, Endpoints: []string{"10.0.0.1"}}}}, "services[0].endpoints[0]"},
		{"an unknown protocol is rejected", KubeProxyParams{Services: []KubeService{{Name: "a", VIP: "10.96.0.1", Port: 80, Proto: "sctp"}}}, "services[0].proto"},
		{"the same VIP and port twice is rejected", KubeProxyParams{Services: []KubeService{{Name: "a", VIP: "10.96.0.1", Port: 80}, {Name: "b", VIP: "10.96.0.1", Port: 80}}}, "given twice"},
		{"a good service passes with tcp filled in", KubeProxyParams{Services: []KubeService{{Name: "a", VIP: "10.96.0.1", Port: 80, Endpoints: []string{"10.244.1.10:8080"}}}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Check()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v; want one containing %q", err, c.want)
			case c.want == "" && c.p.Services[0].Proto != "tcp":
				t.Errorf("proto not filled in: %q", c.p.Services[0].Proto)
			}
		})
	}
}
