package checker

import (
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strings"

	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/scenarios"
)

// Workaround is one entry of the adversarial catalogue: a generic lazy or
// wrong fix, the things impatient people do, written for any scenario
// from its own hosts, links, addresses and services.
type Workaround struct {
	Name string
	// Does says what the entry does, for the docs.
	Does string
	// Variants returns the ways the entry applies to a scenario: each is a
	// list of steps tried on its own fresh broken lab. None when the entry
	// does not apply (a scenario with no router has no proxy ARP on it).
	Variants func(s *scenarios.Scenario) [][]scenarios.Step
}

// maxVariants bounds the labs one entry costs a scenario.
const maxVariants = 4

// Catalogue is the built-in adversarial catalogue, in the order verify
// tries it. docs/adversarial.md is generated from it.
func Catalogue() []Workaround {
	return []Workaround{
		// Firewalls.
		{"flush-filter", "Flush the filter table (iptables -F, ip6tables -F) on every host.",
			everyHost("iptables -F; iptables -X; ip6tables -F; ip6tables -X")},
		{"policy-accept", "Set every filter chain's policy to ACCEPT and flush it, on every host.",
			everyHost("for c in INPUT FORWARD OUTPUT; do iptables -P $c ACCEPT; ip6tables -P $c ACCEPT; done; iptables -F; ip6tables -F")},
		{"nft-flush-ruleset", "Flush the whole nftables ruleset (nft flush ruleset) on every host: filter, nat, mangle and raw.",
			everyHost("nft flush ruleset")},
		{"flush-nat", "Flush the nat table on every host.",
			everyHost("iptables -t nat -F; ip6tables -t nat -F")},
		{"flush-mangle-raw", "Flush the mangle and raw tables on every host.",
			everyHost("for t in mangle raw; do iptables -t $t -F; ip6tables -t $t -F; done")},
		{"accept-first", "Insert an ACCEPT rule at the top of INPUT, FORWARD and OUTPUT on every host, leaving the other rules in place.",
			everyHost("for c in INPUT FORWARD OUTPUT; do iptables -I $c 1 -j ACCEPT; ip6tables -I $c 1 -j ACCEPT; done")},
		{"accept-icmp", "Accept every ICMP packet first in INPUT, FORWARD and OUTPUT on every host.",
			everyHost("for c in INPUT FORWARD OUTPUT; do iptables -I $c 1 -p icmp -j ACCEPT; ip6tables -I $c 1 -p ipv6-icmp -j ACCEPT; done")},
		{"bridge-nf-off", "Stop bridged traffic from going through iptables (net.bridge.bridge-nf-call-iptables=0) on every host.",
			everyHost("for f in /proc/sys/net/bridge/bridge-nf-call-*; do echo 0 > $f; done")},
		{"masquerade-routers", "Masquerade everything leaving every router (iptables -t nat -A POSTROUTING -j MASQUERADE).",
			onRouters("iptables -t nat -A POSTROUTING -j MASQUERADE")},
		{"conntrack-loose", "Make conntrack accept mid-stream TCP and raise its table size on every host.",
			everyHost("echo 1 > /proc/sys/net/netfilter/nf_conntrack_tcp_loose; echo 262144 > /proc/sys/net/netfilter/nf_conntrack_max")},

		// Neighbours and routing.
		{"proxy-arp-routers", "Turn proxy ARP on for every interface of every router.",
			onRouters(proxyARP)},
		{"proxy-arp-everywhere", "Turn proxy ARP on for every interface of every host.",
			everyHost(proxyARP)},
		{"rp-filter-off", "Turn reverse-path filtering off on every interface of every host.",
			everyHost("for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done")},
		{"ip-forward-everywhere", "Turn IPv4 and IPv6 forwarding on in every host.",
			everyHost("echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv6/conf/all/forwarding")},
		{"default-route-dev", "Replace the default route of every end host with one straight out of its first interface, without a gateway.",
			onEnds(defaultDev)},
		{"default-route-dev-proxy-arp", "A default route without a gateway on every end host, plus proxy ARP on every router.",
			combine(onEnds(defaultDev), onRouters(proxyARP))},
		{"host-routes-dev", "Add a host route without a gateway, out of the first interface, to every address of the lab, on every host.",
			hostRoutes},
		{"host-routes-dev-proxy-arp", "Host routes without a gateway to every address of the lab on every host, plus proxy ARP on every router.",
			combine(hostRoutes, onRouters(proxyARP))},
		{"flush-reject-routes", "Delete every blackhole, unreachable and prohibit route on every host.",
			everyHost("for t in blackhole unreachable prohibit; do ip route flush type $t; ip -6 route flush type $t; done")},
		{"flush-caches", "Flush the route cache and every neighbour entry on every host.",
			everyHost("ip route flush cache; ip neigh flush all")},
		{"links-up", "Bring every interface of every host up.",
			everyHost(forEachLink("ip link set dev $i up"))},

		// MTU.
		{"mtu-1280-everywhere", "Set the MTU of every interface of every host to 1280.",
			everyHost(forEachLink("ip link set dev $i mtu 1280"))},
		{"mtu-1280-ends", "Set the MTU of every interface of every end host (not the routers) to 1280.",
			onEnds(forEachLink("ip link set dev $i mtu 1280"))},
		{"mtu-1500-everywhere", "Set the MTU of every interface of every host to 1500.",
			everyHost(forEachLink("ip link set dev $i mtu 1500"))},
		{"mtu-9000-everywhere", "Set the MTU of every interface of every host to 9000.",
			everyHost(forEachLink("ip link set dev $i mtu 9000"))},
		{"mss-clamp", "Clamp the TCP MSS to the path MTU on every host (mangle FORWARD and OUTPUT).",
			everyHost("iptables -t mangle -I FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu; iptables -t mangle -I OUTPUT -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200")},
		{"tcp-mtu-probing", "Turn TCP MTU probing on (net.ipv4.tcp_mtu_probing=1) in every host.",
			everyHost("echo 1 > /proc/sys/net/ipv4/tcp_mtu_probing")},

		// Sockets and sysctls.
		{"port-range-wide", "Widen the local port range (net.ipv4.ip_local_port_range=1024 65535) and reuse TIME_WAIT sockets, in every host.",
			everyHost("echo '1024 65535' > /proc/sys/net/ipv4/ip_local_port_range; echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse")},
		{"backlog-up", "Raise somaxconn and the SYN backlog and turn SYN cookies on, in every host.",
			everyHost("echo 65535 > /proc/sys/net/core/somaxconn; echo 65535 > /proc/sys/net/ipv4/tcp_max_syn_backlog; echo 1 > /proc/sys/net/ipv4/tcp_syncookies")},
		{"short-timeouts", "Shorten FIN_WAIT and keepalive timers (tcp_fin_timeout=1, tcp_keepalive_time=1) in every host.",
			everyHost("echo 1 > /proc/sys/net/ipv4/tcp_fin_timeout; echo 1 > /proc/sys/net/ipv4/tcp_keepalive_time; echo 1 > /proc/sys/net/ipv4/tcp_keepalive_intvl")},
		{"icmp-open", "Answer every ping and send ICMP errors without a rate limit (icmp_echo_ignore_all=0, icmp_ratelimit=0), in every host.",
			everyHost("echo 0 > /proc/sys/net/ipv4/icmp_echo_ignore_all; echo 0 > /proc/sys/net/ipv4/icmp_ratelimit; echo 0 > /proc/sys/net/ipv4/icmp_echo_ignore_broadcasts")},
		{"tc-clear", "Delete every queueing discipline (root and ingress) on every interface of every host.",
			everyHost(forEachLink("tc qdisc del dev $i root; tc qdisc del dev $i ingress"))},

		// Around a rule: NAT.
		{"redirect-to-first-port", "On every host with several TCP services, REDIRECT every other service port to the first one (nat PREROUTING and OUTPUT).",
			redirectPorts(false)},
		{"redirect-to-last-port", "On every host with several TCP services, REDIRECT every other service port to the last one.",
			redirectPorts(true)},
		{"dnat-to-service", "On every host, DNAT each service port to the first lab host that serves it (nat OUTPUT and PREROUTING), around whatever was in the way.",
			dnatToService},
		{"bypass-vip", "Bypass each service virtual IP: DNAT VIP:port straight to a pod (an endpoint, or a lab service on that protocol) on every host.",
			bypassVIP},

		// Services.
		{"restart-every-service", "Restart every service of the lab, as systemctl restart would.",
			restartAll},
		{"kill-port-holders", "Kill whatever holds each service's port on its host, then restart every service.",
			killHolders},
		{"replace-with-python-http", "Kill whatever holds each HTTP service's port and serve the port with python3 -m http.server instead.",
			replaceHTTP},
		{"replace-with-nc", "Kill whatever holds each TCP service's port and listen on it with nc -lk instead.",
			replaceNC},

		// Names.
		{"pin-hosts", "Pin every name of the lab's DNS zones to its address in /etc/hosts on every host.",
			pinHosts},
		{"resolv-other-server", "Point every host's resolv.conf at another DNS server of the lab (one variant per server).",
			otherResolver},
	}
}

// CatalogueEntry returns the entry of that name, or nil.
func CatalogueEntry(name string) *Workaround {
	for _, w := range Catalogue() {
		if w.Name == name {
			return &w
		}
	}
	return nil
}

const proxyARP = "for f in /proc/sys/net/ipv4/conf/*/proxy_arp; do echo 1 > $f; done"

const defaultDev = `i=$(ip -o link show | awk -F': ' '$2 != "lo" {print $2; exit}' | cut -d@ -f1); ip route replace default dev $i; ip -6 route replace default dev $i`

// forEachLink runs cmd with $i set to each interface but lo.
func forEachLink(cmd string) string {
	return `for i in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do [ "$i" = lo ] && continue; ` + cmd + `; done`
}

type stepsFn = func(s *scenarios.Scenario) [][]scenarios.Step

func hostsWhere(s *scenarios.Scenario, keep func(*scenarios.Host) bool) []string {
	var out []string
	for _, h := range s.Hosts {
		if keep(h) {
			out = append(out, h.Name)
		}
	}
	return out
}

// isRouter is true for a host that forwards.
func isRouter(h *scenarios.Host) bool {
	for _, sc := range h.Sysctls {
		if (sc.Key == "net.ipv4.ip_forward" || sc.Key == "net.ipv4.conf.all.forwarding") && sc.Value == "1" {
			return true
		}
	}
	return false
}

func runOn(hosts []string, cmd string) [][]scenarios.Step {
	if len(hosts) == 0 {
		return nil
	}
	var steps []scenarios.Step
	for _, h := range hosts {
		steps = append(steps, scenarios.Step{Host: h, Run: cmd})
	}
	return [][]scenarios.Step{steps}
}

func everyHost(cmd string) stepsFn {
	return func(s *scenarios.Scenario) [][]scenarios.Step {
		return runOn(hostsWhere(s, func(*scenarios.Host) bool { return true }), cmd)
	}
}

func onRouters(cmd string) stepsFn {
	return func(s *scenarios.Scenario) [][]scenarios.Step { return runOn(hostsWhere(s, isRouter), cmd) }
}

func onEnds(cmd string) stepsFn {
	return func(s *scenarios.Scenario) [][]scenarios.Step {
		return runOn(hostsWhere(s, func(h *scenarios.Host) bool { return !isRouter(h) }), cmd)
	}
}

// combine applies every variant of a with every variant of b, in one lab.
func combine(a, b stepsFn) stepsFn {
	return func(s *scenarios.Scenario) [][]scenarios.Step {
		va, vb := a(s), b(s)
		if len(va) == 0 || len(vb) == 0 {
			return nil
		}
		var out [][]scenarios.Step
		for _, x := range va {
			for _, y := range vb {
				out = append(out, append(append([]scenarios.Step{}, x...), y...))
			}
		}
		return limit(out)
	}
}

func limit(v [][]scenarios.Step) [][]scenarios.Step {
	if len(v) > maxVariants {
		return v[:maxVariants]
	}
	return v
}

// labAddrs lists every address of the lab's interfaces.
func labAddrs(s *scenarios.Scenario) []netip.Addr {
	var out []netip.Addr
	for _, h := range s.Hosts {
		for _, i := range h.Interfaces {
			if i.IPv4.IsValid() {
				out = append(out, i.IPv4.Addr())
			}
			if i.IPv6.IsValid() {
				out = append(out, i.IPv6.Addr())
			}
		}
	}
	return out
}

func hostRoutes(s *scenarios.Scenario) [][]scenarios.Step {
	var steps []scenarios.Step
	for _, h := range s.Hosts {
		if len(h.Interfaces) == 0 {
			continue
		}
		var cmds []string
		for _, a := range labAddrs(s) {
			mine := false
			for _, i := range h.Interfaces {
				mine = mine || i.IPv4.IsValid() && i.IPv4.Contains(a) || i.IPv6.IsValid() && i.IPv6.Contains(a)
			}
			if mine {
				continue
			}
			bits := 32
			if a.Is6() {
				bits = 128
			}
			cmds = append(cmds, fmt.Sprintf("ip route replace %s/%d dev %s", a, bits, h.Interfaces[0].Name))
		}
		if len(cmds) > 0 {
			steps = append(steps, scenarios.Step{Host: h.Name, Run: strings.Join(cmds, "; ")})
		}
	}
	if len(steps) == 0 {
		return nil
	}
	return [][]scenarios.Step{steps}
}

// svc is a service of the scenario with the port it serves.
type svc struct {
	host, name, kind string
	port             int
	proto            string // tcp or udp
	addr             netip.Addr
	params           any
}

func scenarioServices(s *scenarios.Scenario) []svc {
	var out []svc
	for _, h := range s.Hosts {
		for _, sv := range h.Services {
			p := sv.Params
			if p == nil {
				continue
			}
			port := intField(p, "Port")
			if port == 0 && sv.Kind != "kube-proxy" {
				continue
			}
			proto := "tcp"
			if sv.Kind == "dns" || strings.Contains(sv.Kind, "udp") {
				proto = "udp"
			}
			if port == 0 {
				out = append(out, svc{host: h.Name, name: sv.Name, kind: sv.Kind, params: p})
				continue
			}
			out = append(out, svc{host: h.Name, name: sv.Name, kind: sv.Kind, port: port, proto: proto, addr: h.Addr4(), params: p})
		}
	}
	return out
}

func intField(p any, name string) int {
	v := reflect.ValueOf(p)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0
	}
	f := v.FieldByName(name)
	if !f.IsValid() || f.Kind() != reflect.Int {
		return 0
	}
	return int(f.Int())
}

func redirectPorts(last bool) stepsFn {
	return func(s *scenarios.Scenario) [][]scenarios.Step {
		byHost := map[string][]int{}
		var order []string
		for _, sv := range scenarioServices(s) {
			if sv.proto != "tcp" {
				continue
			}
			if _, ok := byHost[sv.host]; !ok {
				order = append(order, sv.host)
			}
			byHost[sv.host] = append(byHost[sv.host], sv.port)
		}
		var steps []scenarios.Step
		for _, h := range order {
			ports := byHost[h]
			if len(ports) < 2 {
				continue
			}
			to := ports[0]
			if last {
				to = ports[len(ports)-1]
			}
			var cmds []string
			for _, p := range ports {
				if p == to {
					continue
				}
				for _, chain := range []string{"PREROUTING", "OUTPUT"} {
					cmds = append(cmds, fmt.Sprintf("iptables -t nat -I %s -p tcp --dport %d -j REDIRECT --to-ports %d", chain, p, to))
				}
			}
			steps = append(steps, scenarios.Step{Host: h, Run: strings.Join(cmds, "; ")})
		}
		if len(steps) == 0 {
			return nil
		}
		return [][]scenarios.Step{steps}
	}
}

func dnatToService(s *scenarios.Scenario) [][]scenarios.Step {
	seen := map[string]bool{}
	var rules []string
	for _, sv := range scenarioServices(s) {
		key := fmt.Sprintf("%s/%d", sv.proto, sv.port)
		if seen[key] || !sv.addr.IsValid() || sv.port == 0 {
			continue
		}
		seen[key] = true
		for _, chain := range []string{"OUTPUT", "PREROUTING"} {
			rules = append(rules, fmt.Sprintf("iptables -t nat -I %s -p %s --dport %d ! -d %s -j DNAT --to-destination %s:%d", chain, sv.proto, sv.port, sv.addr, sv.addr, sv.port))
		}
	}
	if len(rules) == 0 {
		return nil
	}
	return everyHost(strings.Join(rules, "; "))(s)
}

func bypassVIP(s *scenarios.Scenario) [][]scenarios.Step {
	all := scenarioServices(s)
	var rules []string
	for _, sv := range all {
		kp, ok := sv.params.(scenarios.ServiceVIPs)
		if !ok {
			continue
		}
		for _, ks := range kp.VirtualServices() {
			proto := ks.Proto
			if proto == "" {
				proto = "tcp"
			}
			target := ""
			if len(ks.Endpoints) > 0 {
				target = ks.Endpoints[0]
			} else {
				for _, o := range all {
					if o.proto == proto && o.addr.IsValid() && o.kind != "kube-proxy" {
						target = fmt.Sprintf("%s:%d", o.addr, o.port)
						break
					}
				}
			}
			if target == "" {
				continue
			}
			for _, chain := range []string{"OUTPUT", "PREROUTING"} {
				rules = append(rules, fmt.Sprintf("iptables -t nat -I %s -d %s -p %s --dport %d -j DNAT --to-destination %s", chain, ks.VIP, proto, ks.Port, target))
			}
		}
	}
	if len(rules) == 0 {
		return nil
	}
	return everyHost(strings.Join(rules, "; "))(s)
}

func restartAll(s *scenarios.Scenario) [][]scenarios.Step {
	var steps []scenarios.Step
	for _, h := range s.Hosts {
		for _, sv := range h.Services {
			steps = append(steps, scenarios.Step{Host: h.Name, Service: sv.Name, Action: "restart"})
		}
	}
	if len(steps) == 0 {
		return nil
	}
	return [][]scenarios.Step{steps}
}

// killPort kills whatever holds a port in the host and waits for it to go.
func killPort(proto string, port int) string {
	flag := "-Htlnp"
	if proto == "udp" {
		flag = "-Hulnp"
	}
	return fmt.Sprintf(`for p in $(ss %s 'sport = :%d' | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | sort -u); do kill -9 $p; done; n=0; while ss %s 'sport = :%d' | grep -q . && [ $n -lt 40 ]; do sleep 0.05; n=$((n+1)); done`, flag, port, flag, port)
}

func killHolders(s *scenarios.Scenario) [][]scenarios.Step {
	var steps []scenarios.Step
	for _, sv := range scenarioServices(s) {
		if sv.port == 0 {
			continue
		}
		steps = append(steps, scenarios.Step{Host: sv.host, Run: killPort(sv.proto, sv.port)})
	}
	if len(steps) == 0 {
		return nil
	}
	r := restartAll(s)
	if len(r) > 0 {
		steps = append(steps, r[0]...)
	}
	return [][]scenarios.Step{steps}
}

func replaceHTTP(s *scenarios.Scenario) [][]scenarios.Step {
	var steps []scenarios.Step
	for _, sv := range scenarioServices(s) {
		if sv.kind != "http" && sv.kind != "proxy" && sv.kind != "reverse-proxy" {
			continue
		}
		steps = append(steps, scenarios.Step{Host: sv.host, Run: killPort("tcp", sv.port) + fmt.Sprintf("; cd /tmp; setsid python3 -m http.server %d --bind :: >/dev/null 2>&1 < /dev/null & sleep 0.5", sv.port)})
	}
	if len(steps) == 0 {
		return nil
	}
	return [][]scenarios.Step{steps}
}

func replaceNC(s *scenarios.Scenario) [][]scenarios.Step {
	var steps []scenarios.Step
	for _, sv := range scenarioServices(s) {
		if sv.proto != "tcp" {
			continue
		}
		steps = append(steps, scenarios.Step{Host: sv.host, Run: killPort("tcp", sv.port) + fmt.Sprintf("; setsid nc -lk %d >/dev/null 2>&1 < /dev/null & sleep 0.2", sv.port)})
	}
	if len(steps) == 0 {
		return nil
	}
	return [][]scenarios.Step{steps}
}

// zoneAddrs reads the A and AAAA records of every zone of the lab's DNS
// servers: name -> addresses.
func zoneAddrs(s *scenarios.Scenario) map[string][]string {
	out := map[string][]string{}
	for _, sv := range scenarioServices(s) {
		p, ok := sv.params.(scenarios.DNSServer)
		if !ok {
			continue
		}
		for _, z := range p.DNSZones() {
			for _, rec := range z.Records {
				zp := dns.NewZoneParser(strings.NewReader(rec), dns.Fqdn(z.Origin), "")
				zp.SetDefaultTTL(300)
				for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
					name := strings.TrimSuffix(rr.Header().Name, ".")
					switch r := rr.(type) {
					case *dns.A:
						out[name] = append(out[name], r.A.String())
					case *dns.AAAA:
						out[name] = append(out[name], r.AAAA.String())
					}
				}
			}
		}
	}
	return out
}

func pinHosts(s *scenarios.Scenario) [][]scenarios.Step {
	names := zoneAddrs(s)
	if len(names) == 0 {
		return nil
	}
	var keys []string
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lines []string
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s %s", names[k][0], k))
	}
	return everyHost(fmt.Sprintf("printf '%%s\\n' %s >> /etc/hosts", shellWords(lines)))(s)
}

func shellWords(ws []string) string {
	var q []string
	for _, w := range ws {
		q = append(q, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
	}
	return strings.Join(q, " ")
}

func otherResolver(s *scenarios.Scenario) [][]scenarios.Step {
	var out [][]scenarios.Step
	seen := map[netip.Addr]bool{}
	for _, sv := range scenarioServices(s) {
		if sv.kind != "dns" || !sv.addr.IsValid() || seen[sv.addr] {
			continue
		}
		seen[sv.addr] = true
		out = append(out, runOn(hostsWhere(s, func(*scenarios.Host) bool { return true }),
			fmt.Sprintf("echo 'nameserver %s' > /etc/resolv.conf", sv.addr))...)
	}
	return limit(out)
}
