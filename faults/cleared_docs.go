package faults

// clearedWhen says, per kind, what its Cleared judgement looks at: the
// reference prints it, so that authors know which fixes pass and which
// workarounds do not.
var clearedWhen = map[string]string{
	"interface-down": "The interface is administratively up and the scenario's routes through it (IPv4 and IPv6) take the host's traffic again, each through its gateway.",
	"mtu-mismatch":   "Every end of the link has the network's MTU again: the host's raised back, not the other ends lowered to meet it.",
	"wrong-netmask":  "The host holds its address with its LAN's prefix again, and the routes through that interface go through their gateways.",
	"duplicate-ip": "The intruder no longer holds the address, only the owner's MAC answers an ARP request for it from the other hosts, " +
		"and their caches hold the owner's MAC.",
	"broken-neighbour": "No cache entry of the host gives the neighbour (the gateway, in each family) the wrong MAC, the entry it has is the owner's real MAC, " +
		"and the owner was not given the wrong MAC to match.",
	"bridge-port-down": "The switch port is up and the host's interface has carrier.",
	"no-default-route": "In every family the scenario gives the host a default route, a route lookup for an address off every local subnet goes " +
		"through the scenario's gateway: a default route without a gateway (with proxy ARP on the router), host routes or another next hop do not count.",
	"dead-gateway":   "As no-default-route: the default routes go through the scenario's gateways again, in every family.",
	"missing-route":  "A route lookup on the router for an address of the prefix goes through the scenario's next hop again.",
	"forwarding-off": "The router forwards again: net.ipv4.ip_forward and the forwarding of each of its interfaces are 1, and IPv6 forwarding when the scenario has it.",
	"blackhole-route": "No blackhole route covers the prefix, a route lookup into it finds a unicast route, and the scenario's route to it (if any) " +
		"goes through its gateway again; a more specific route around it does not count.",
	"unreachable-route": "As blackhole-route, for the unreachable route.",
	"prohibit-route":    "As blackhole-route, for the prohibit route.",
	"asymmetric-rp-filter": "The server's answers come back through this router (the path is symmetric), or the router's effective rp_filter " +
		"(the larger of all and the interface) is no longer strict on any of its interfaces.",
	"pmtu-blackhole": "From both ends of the flow, after the route caches are flushed, a full-size packet with Don't Fragment either arrives " +
		"(the link is as wide as the path again) or brings back \"fragmentation needed\"; and the ends' MTUs are the network's. " +
		"A smaller MTU at the ends or an MSS clamp hides the hole and does not count.",
	"silent-hop":      "A probe whose TTL runs out at the router gets its time-exceeded back, from the router itself (one that raises the TTL of what it forwards hides from traceroute, and does not count).",
	"icmp-rate-limit": "A burst of 20 probes whose TTL runs out at the router gets at least 18 time-exceeded answers from the router itself.",
	"missing-masquerade": "A ping from the private host to the public address makes a MASQUERADE or SNAT rule of the router's POSTROUTING chain " +
		"count it (its counter grows) and is answered; a route back to the private network from the public side does not count.",
	"port-range-exhaustion": "The host's local port range is at least as wide as it was when the lab started; tcp_tw_reuse or killing the client does not count.",
	"firewall-drop": "A fresh probe of the traffic the rule targeted (from the probe's client to the address and port) makes no DROP or REJECT " +
		"rule of the host's (or the client's) filter table count it, and no DNAT or REDIRECT rule of their nat tables rewrite it; over IPv6 too " +
		"when the rule was mirrored. An ACCEPT before the rule clears it, a REDIRECT around it does not.",
	"firewall-reject-tcp-reset":        "As firewall-drop: no rule rejects or drops the targeted traffic under a fresh probe, and no rewrite steers it around.",
	"firewall-reject-port-unreachable": "As firewall-drop.",
	"firewall-reject-host-prohibited":  "As firewall-drop.",
	"firewall-reject-admin-prohibited": "As firewall-drop.",
	"firewall-reject-net-unreachable":  "As firewall-drop.",
	"stateful-firewall-drops-return":   "A fresh connection from the client (waiting out one SYN retransmission) makes no DROP or REJECT rule of the host's filter table count its return traffic, in both families on a dual-stack host. The rules count against the fault only when that connection's own answer reached the host (its connection tracking says so): answers retransmitted to connections from before the fix do not keep it there once new connections no longer meet it.",
	"service-not-running": "The TCP listener on the service's port is the lab's recorded process of that service (as `netdojo service` starts it), " +
		"bound where the scenario binds it: another program on the port, even one that answers the same, does not count.",
	"service-localhost-only": "As service-not-running, and the listener is bound to the scenario's address (every address by default), not 127.0.0.1.",
	"port-conflict":          "As service-not-running: the squatter is gone and the lab's own service holds the port.",
	"close-wait-leak": "Three connections opened and closed now are closed by the server within a second (with a FIN: the client's side waits in TIME_WAIT, so CLOSE_WAIT reset from outside with ss -K does not count), no older CLOSE_WAIT socket is left on the port, " +
		"and the listener is the lab's recorded service process: a leak replaced by another leak fails at once.",
	"time-wait-pileup":     "Fewer than half the fault's connections are still in TIME_WAIT on the closing side.",
	"syn-backlog-overflow": "The service takes backlog+3 connections held open at once from another host.",
	"packet-loss": "A burst of pings makes no DROP or REJECT rule of the host's filter table count, and no random-drop rule (statistic match) " +
		"is left in the fault's chain.",
	"latency":         "A few pings make no NFQUEUE rule of the host count, and no NFQUEUE rule with the fault's queue is left in OUTPUT.",
	"jitter":          "As latency.",
	"bandwidth-limit": "The interface has no token bucket at its root that shapes to the fault's rate or below, and no htb shaper at its root.",
	"resolver-dead-server": "The first nameserver of the host's resolv.conf is the one it had before the fault (or the scenario's): " +
		"another server that happens to answer, or names pinned in /etc/hosts, do not count.",
	"dns-servfail": "The DNS server, asked directly, answers the name without SERVFAIL, its process is the lab's dns service, and it no longer runs " +
		"with the broken answer: pointing the client at another server does not count.",
	"dns-nxdomain":  "As dns-servfail: asked directly, the server no longer says the name does not exist.",
	"dns-slow":      "As dns-servfail: asked directly, the server answers in less than half the delay.",
	"dns-refused":   "As dns-servfail: asked directly, the server no longer refuses the name.",
	"dns-truncated": "As dns-servfail: asked directly over UDP, the answer is no longer truncated.",
	"wrong-search-domain": "The host's search list holds the domains it had before the fault (or the scenario's); without any, " +
		"the short name resolves through the search list by DNS (not the hosts file).",
	"wrong-record":      "As dns-servfail: asked directly, the server no longer gives the wrong address.",
	"stale-hosts-entry": "The host's hosts file no longer maps the name to the stale address.",
	"proxy-backend-down": "The backend's port is held by the lab's recorded backend process, bound where the scenario binds it: " +
		"another program answering there does not count.",
	"proxy-backend-hung": "Mode drop: a fresh connection from the proxy's host to the backend makes no DROP or REJECT rule count and no rewrite steer it. " +
		"Mode slow: the backend is the lab's recorded process and answers the proxy's host within 2 s.",
	"k8s-no-endpoints": "The node's kube-proxy knows the service's endpoints again, and a connection from the node to the virtual IP is DNATed " +
		"(a DNAT rule's counter grows) and rejected by no rule: clients going to a pod's own address do not count.",
	"k8s-missing-dnat":      "As k8s-no-endpoints: the node translates the service's virtual IP again.",
	"k8s-missing-pod-route": "A route lookup on the node for an address of the other node's pod CIDR goes through the scenario's overlay next hop again.",
	"k8s-cluster-dns-timeout": "The cluster DNS server, asked directly, answers at once (in less than half the delay in mode slow), its process is " +
		"the lab's dns service, and it no longer runs with the fault.",
	"k8s-bridge-netfilter-off": "net.bridge.bridge-nf-call-iptables is 1 on the node.",
	"custom":                   "The author's cleared command exits 0; while it does not, the judgement says still_wrong.",
}

// ClearedWhen is what a kind's Cleared judgement looks at, in words.
func ClearedWhen(kind string) string { return clearedWhen[kind] }
