package services

import (
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// TestServicesAcrossALink runs services on one host and uses them from
// another over a veth link, as a lab does: HTTP, DNS, and the delayer on the
// server's outgoing ICMP.
func TestServicesAcrossALink(t *testing.T) {
	client, server := sandboxtest.Pair(t, "ndsv-", "10.0.0.1/24", "10.0.0.2/24")

	web := startService(t, server, "http", &HTTPParams{Listen: "10.0.0.2", Port: 80, Body: "served over the link\n"})
	startService(t, server, "dns", &DNSParams{Listen: "10.0.0.2", Zones: []DNSZone{{Origin: "corp.test.", Records: []string{"www 60 IN A 10.0.0.2"}}}})

	t.Run("curl from the client reaches the server's http", func(t *testing.T) {
		out := mustInNetns(t, client, "curl", "-s", "http://10.0.0.2/")
		if out != "served over the link\n" {
			t.Errorf("curl got %q", out)
		}
		ss := mustInNetns(t, server, "ss", "-Htlnp", "sport", "= :80")
		if !strings.Contains(ss, "10.0.0.2:80") || !strings.Contains(ss, `"httpd",pid=`) {
			t.Errorf("ss -tlnp on the server: want httpd on 10.0.0.2:80; got:\n%s", ss)
		}
		if !strings.Contains(web.log(), "client=10.0.0.1:") {
			t.Errorf("the server did not log the client's address:\n%s", web.log())
		}
	})
	t.Run("dig from the client gets the server's answer", func(t *testing.T) {
		d := parseDig(inNetns(t, client, "dig", "+time=1", "+tries=1", "@10.0.0.2", "www.corp.test"))
		if d.status != "NOERROR" || !d.answers("www.corp.test. 60 IN A 10.0.0.2") {
			t.Errorf("dig: got:\n%s", d.out)
		}
	})
	t.Run("a delayer on the server slows its ping replies by the delay", func(t *testing.T) {
		const delay = 150 * time.Millisecond
		mustInNetns(t, server, "iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "echo-reply", "-j", "NFQUEUE", "--queue-num", "3", "--queue-bypass")
		startService(t, server, "delayer", &DelayerParams{Queue: 3, Delay: delay.String()})
		out := mustInNetns(t, client, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "3", "10.0.0.2")
		m := pingRTT.FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, " 0% packet loss") {
			t.Fatalf("ping:\n%s", out)
		}
		rtt, _ := time.ParseDuration(m[1] + "ms")
		t.Logf("ping across the link with %v on the replies: min rtt %v", delay, rtt)
		if rtt < delay {
			t.Errorf("min rtt %v; want at least the delay %v:\n%s", rtt, delay, out)
		}
	})
}
