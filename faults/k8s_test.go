package faults_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/services"
)

// k8sNodeLab is one node holding the pod bridge cni0, with kube-proxy, a
// web pod behind the service VIP 10.96.0.20, a cluster DNS pod behind
// 10.96.0.10, a client pod, and an upstream router that does not forward
// (what the node's default route leads to: packets for elsewhere vanish).
const k8sNodeLab = `apiVersion: netdojo/v1
metadata: {name: k8s, title: K8s}
hosts:
  node:
    interfaces:
      - {network: cni0, ipv4: 10.244.1.1/24}
      - {network: uplink, ipv4: 172.16.0.11/24}
    routes: [{to: default, via: 172.16.0.1}]
    sysctls: {net.ipv4.ip_forward: "1"}
    services:
      - name: kube-proxy
        kind: kube-proxy
        params:
          services:
            - {name: web, vip: 10.96.0.20, port: 80, endpoints: ["10.244.1.11:8080", "10.244.1.12:8080"]}
            - {name: kube-dns, vip: 10.96.0.10, port: 53, proto: udp, endpoints: ["10.244.1.53:53"]}
            - {name: kube-dns-tcp, vip: 10.96.0.10, port: 53, proto: tcp, endpoints: ["10.244.1.53:53"]}
  upstream:
    interfaces: [{network: uplink, ipv4: 172.16.0.1/24}]
  pod-a:
    interfaces: [{network: cni0, ipv4: 10.244.1.10/24}]
    routes: [{to: default, via: 10.244.1.1}]
    dns:
      nameservers: [10.96.0.10]
      search: [default.svc.cluster.local, svc.cluster.local, cluster.local]
      options: ["ndots:5", "timeout:1", "attempts:1"]
  web-1:
    interfaces: [{network: cni0, ipv4: 10.244.1.11/24}]
    routes: [{to: default, via: 10.244.1.1}]
    services: [{name: web, kind: http, params: {port: 8080, body: "web-1\n"}}]
  web-2:
    interfaces: [{network: cni0, ipv4: 10.244.1.12/24}]
    routes: [{to: default, via: 10.244.1.1}]
    services: [{name: web, kind: http, params: {port: 8080, body: "web-2\n"}}]
  coredns:
    interfaces: [{network: cni0, ipv4: 10.244.1.53/24}]
    routes: [{to: default, via: 10.244.1.1}]
    services:
      - name: coredns
        kind: dns
        params:
          zones:
            - origin: cluster.local.
              records: ["web.default.svc A 10.96.0.20", "kube-dns.kube-system.svc A 10.96.0.10"]
networks:
  cni0: {type: bridge, host: node}
  uplink: {type: bridge}
`

// k8sWeb is the web service as kube-proxy has it in k8sNodeLab.
var k8sWeb = services.KubeService{Name: "web", VIP: "10.96.0.20", Port: 80, Proto: "tcp", Endpoints: []string{"10.244.1.11:8080", "10.244.1.12:8080"}}

// k8sProxyJSON is the node's kube-proxy parameters, for fixes that start
// it again.
func k8sProxyJSON(t *testing.T) string {
	p := services.KubeProxyParams{Services: []services.KubeService{k8sWeb,
		{Name: "kube-dns", VIP: "10.96.0.10", Port: 53, Proto: "udp", Endpoints: []string{"10.244.1.53:53"}},
		{Name: "kube-dns-tcp", VIP: "10.96.0.10", Port: 53, Proto: "tcp", Endpoints: []string{"10.244.1.53:53"}},
	}}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// kubeProxyRestartFix ends the kube-proxy of the node (found among the
// processes of this network namespace by name: it has no socket for ss to
// show) and starts it again with its services, as restarting the
// kube-proxy pod does.
func kubeProxyRestartFix(t *testing.T) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`node: me=$(readlink /proc/self/ns/net)
for p in /proc/[0-9]*; do
  [ "$(readlink $p/ns/net 2>/dev/null)" = "$me" ] && [ "$(cat $p/comm 2>/dev/null)" = kube-proxy ] && kill ${p#/proc/} && pid=${p#/proc/}
done
i=0; while [ -n "$pid" ] && [ -d /proc/$pid ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
setsid %s __service kube-proxy '%s' </dev/null >/dev/null 2>&1 &
i=0; while [ $i -lt 100 ]; do iptables -t nat -C PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES 2>/dev/null && exit 0; sleep 0.05; i=$((i+1)); done; exit 1`,
		self, k8sProxyJSON(t))
}

// twoNodeLab is two nodes on an underlay joined by a vxlan overlay, each
// with a pod bridge and a route to the other's pod CIDR via the overlay.
const twoNodeLab = `apiVersion: netdojo/v1
metadata: {name: k8s2, title: K8s two nodes}
hosts:
  node1:
    interfaces:
      - {network: underlay, ipv4: 172.16.0.11/24}
      - {name: vxlan42, network: overlay, ipv4: 10.244.0.1/24}
      - {network: cni1, ipv4: 10.244.1.1/24}
    routes: [{to: 10.244.2.0/24, via: 10.244.0.2}]
    sysctls: {net.ipv4.ip_forward: "1"}
  node2:
    interfaces:
      - {network: underlay, ipv4: 172.16.0.12/24}
      - {name: vxlan42, network: overlay, ipv4: 10.244.0.2/24}
      - {network: cni2, ipv4: 10.244.2.1/24}
    routes: [{to: 10.244.1.0/24, via: 10.244.0.1}]
    sysctls: {net.ipv4.ip_forward: "1"}
  pod1:
    interfaces: [{network: cni1, ipv4: 10.244.1.10/24, mtu: 1450}]
    routes: [{to: default, via: 10.244.1.1}]
  pod2:
    interfaces: [{network: cni2, ipv4: 10.244.2.10/24, mtu: 1450}]
    routes: [{to: default, via: 10.244.2.1}]
    services: [{name: web, kind: http, params: {port: 8080, body_size: 1000000}}]
networks:
  underlay: {type: bridge, mtu: 1500}
  overlay: {type: vxlan, vni: 42, underlay: underlay}
  cni1: {type: bridge, host: node1}
  cni2: {type: bridge, host: node2}
`

func TestK8sFaults(t *testing.T) {
	podCurl := func(l *labEnv, maxTime, url string) string {
		out, _ := l.run("pod-a", "curl", "-sS", "-I", "--max-time", maxTime, url)
		return out
	}
	cases := []faultCase{
		{
			kind: "k8s-no-endpoints", scenario: k8sNodeLab, host: "node", params: "{name: web}",
			symptom: func(t *testing.T, l *labEnv) error {
				out := podCurl(l, "5", "http://10.96.0.20/")
				if strings.Contains(out, "timed out") {
					return fmt.Errorf("curl timed out instead of being refused:\n%s", out)
				}
				return expect(out, "Couldn't connect to server")
			},
			fix: []string{kubeProxyRestartFix(t)},
		},
		{
			kind: "k8s-missing-dnat", scenario: k8sNodeLab, host: "node", params: "{name: web}",
			symptom: func(t *testing.T, l *labEnv) error {
				return expect(podCurl(l, "2", "http://10.96.0.20/"), "curl: (28) Connection timed out after")
			},
			fix: []string{"node: iptables -t nat -A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j " + services.KubeSvcChain(k8sWeb)},
		},
		{
			kind: "k8s-cluster-dns-timeout", scenario: k8sNodeLab, host: "coredns",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("pod-a", "dig", "+time=1", "+tries=1", "@10.96.0.10", "web.default.svc.cluster.local")
				return expect(out, ";; communications error to 10.96.0.10#53: timed out")
			},
			restart: []string{"coredns: coredns"},
		},
		{
			kind: "k8s-bridge-netfilter-off", scenario: k8sNodeLab, host: "node", params: "{from: pod-a, to: \"10.96.0.20:80\"}",
			symptom: func(t *testing.T, l *labEnv) error {
				if out, err := l.run("pod-a", "curl", "-sS", "-I", "--max-time", "2", "http://10.244.1.11:8080/"); err != nil {
					return fmt.Errorf("the endpoint's own address fails too: %v\n%s", err, out)
				}
				return expect(podCurl(l, "2", "http://10.96.0.20/"), "curl: (28) Connection timed out after")
			},
			fix: []string{"node: sysctl -w net.bridge.bridge-nf-call-iptables=1"},
		},
		{
			kind: "k8s-missing-pod-route", scenario: twoNodeLab, host: "node1", params: "{cidr: 10.244.2.0/24}",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("pod1", "ping", "-c", "1", "-W", "1", "10.244.2.10")
				return expect(out, "From 10.244.1.1 icmp_seq=1 Destination Net Unreachable")
			},
			fix: []string{"node1: ip route add 10.244.2.0/24 via 10.244.0.2"},
		},
	}
	for _, c := range cases {
		t.Run(c.kind+" "+c.params+" shows its symptom and goes away when fixed or reverted", func(t *testing.T) {
			runFaultCase(t, c)
		})
	}
}
