package probe

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/vishvananda/netlink"
)

// pnLab is a test network of named namespaces joined by veth pairs, on
// sandboxtest's harness. Every namespace is named "ndpn-<random>-<host>-
// <random>", so labs of parallel tests and of other engineers never
// collide; each one's cleanup removes it and its /etc/netns directory and
// asserts that nothing of it is left.
type pnLab struct {
	t      testing.TB
	prefix string
	hosts  map[string]*sandbox.Netns
}

// pnNewLab starts an empty lab (skipping the test without root).
func pnNewLab(t testing.TB) *pnLab {
	t.Helper()
	sandboxtest.NeedRoot(t, "builds a test network of namespaces and veths")
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return &pnLab{t: t, prefix: "ndpn-" + hex.EncodeToString(b) + "-", hosts: map[string]*sandbox.Netns{}}
}

// host creates a namespace for a host, with loopback up and ICMP error rate
// limiting off (field notes: otherwise error-based checks are flaky).
func (l *pnLab) host(name string) *sandbox.Netns {
	l.t.Helper()
	ns := sandboxtest.NewNetns(l.t, l.prefix+name+"-")
	l.hosts[name] = ns
	l.sysctl(name, "net/ipv4/icmp_ratelimit", "0")
	l.sysctl(name, "net/ipv6/icmp/ratelimit", "0")
	// No duplicate address detection: link-local addresses (which NDP
	// needs) would be unusable for the first second of every link.
	l.sysctl(name, "net/ipv6/conf/default/accept_dad", "0")
	l.sysctl(name, "net/ipv6/conf/all/accept_dad", "0")
	// The namespace-wide ICMP error budget too (1000/s, bursts of 50).
	l.sysctl(name, "net/ipv4/icmp_msgs_per_sec", "100000")
	l.sysctl(name, "net/ipv4/icmp_msgs_burst", "10000")
	return ns
}

func (l *pnLab) ns(name string) *sandbox.Netns {
	l.t.Helper()
	ns, ok := l.hosts[name]
	if !ok {
		l.t.Fatalf("no host %q in lab", name)
	}
	return ns
}

func (l *pnLab) handle(name string) *netlink.Handle {
	l.t.Helper()
	h, err := l.ns(name).NetlinkHandle()
	if err != nil {
		l.t.Fatal(err)
	}
	return h
}

// sysctl writes /proc/sys/KEY inside the host's namespace.
func (l *pnLab) sysctl(host, key, value string) {
	l.t.Helper()
	sandboxtest.Sysctl(l.t, l.ns(host), key, value)
}

// link joins two hosts with a veth pair created in host a, with the peer
// born in host b's namespace. Addresses are CIDR strings ("" for none);
// both ends are brought up.
func (l *pnLab) link(a, aIf, aAddr, b, bIf, bAddr string) {
	l.t.Helper()
	sandboxtest.Link(l.t, l.ns(a), aIf, aAddr, l.ns(b), bIf, bAddr)
}

// route adds a route ("default" or a CIDR) via a gateway on a host.
func (l *pnLab) route(host, dst, gw string) {
	l.t.Helper()
	h := l.handle(host)
	defer h.Close()
	r := &netlink.Route{Gw: net.ParseIP(gw)}
	if dst != "default" {
		_, n, err := net.ParseCIDR(dst)
		if err != nil {
			l.t.Fatal(err)
		}
		r.Dst = n
	}
	if err := h.RouteAdd(r); err != nil {
		l.t.Fatalf("adding route %s via %s on %q: %v", dst, gw, host, err)
	}
}

// router turns a host into a router.
func (l *pnLab) router(host string) {
	l.sysctl(host, "net/ipv4/ip_forward", "1")
	l.sysctl(host, "net/ipv6/conf/all/forwarding", "1")
}

// run runs a command inside a host with `ip netns exec`, the way a learner
// would, and returns its combined output, with an error when it exits
// non-zero.
func (l *pnLab) run(host string, args ...string) (string, error) {
	l.t.Helper()
	out, code := sandboxtest.Exec(l.t, l.ns(host), args...)
	if code != 0 {
		return out, fmt.Errorf("%s on %q: exit status %d: %s", strings.Join(args, " "), host, code, out)
	}
	return out, nil
}

func (l *pnLab) mustRun(host string, args ...string) string {
	l.t.Helper()
	return sandboxtest.Run(l.t, l.ns(host), args...)
}

// etcFile writes /etc/netns/<ns>/NAME for a host, which `ip netns exec`
// and Target.EtcFile both see as /etc/NAME.
func (l *pnLab) etcFile(host, name, content string) {
	l.t.Helper()
	sandboxtest.WriteEtc(l.t, l.ns(host), name, content)
}

// listenTCP opens a TCP listener inside a host and accepts (and closes)
// connections until the test ends.
func (l *pnLab) listenTCP(host, addr string) net.Listener {
	l.t.Helper()
	ln := l.listenTCPOnly(host, addr)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// pnChain builds client - r1 - r2 - server:
//
//	client eth0 10.1.0.2/24 -- r1 eth0 10.1.0.1/24
//	r1 eth1 10.2.0.1/24     -- r2 eth0 10.2.0.2/24
//	r2 eth1 10.3.0.1/24     -- server eth0 10.3.0.2/24
//
// with default routes towards the server on the left and towards the
// client on the right.
func pnChain(t testing.TB) *pnLab {
	l := pnNewLab(t)
	for _, h := range []string{"client", "r1", "r2", "server"} {
		l.host(h)
	}
	l.link("client", "eth0", "10.1.0.2/24", "r1", "eth0", "10.1.0.1/24")
	l.link("r1", "eth1", "10.2.0.1/24", "r2", "eth0", "10.2.0.2/24")
	l.link("r2", "eth1", "10.3.0.1/24", "server", "eth0", "10.3.0.2/24")
	l.router("r1")
	l.router("r2")
	l.route("client", "default", "10.1.0.1")
	l.route("r1", "default", "10.2.0.2")
	l.route("r2", "default", "10.2.0.1")
	l.route("server", "default", "10.3.0.1")
	return l
}

// mtu sets a link's MTU on a host.
func (l *pnLab) mtu(host, ifname string, mtu int) {
	l.t.Helper()
	h := l.handle(host)
	defer h.Close()
	link, err := h.LinkByName(ifname)
	if err == nil {
		err = h.LinkSetMTU(link, mtu)
	}
	if err != nil {
		l.t.Fatalf("setting mtu %d on %s of %q: %v", mtu, ifname, host, err)
	}
}

// specialRoute adds a route of a type without next hop ("unreachable",
// "blackhole", "prohibit") on a host.
func (l *pnLab) specialRoute(host, typ, dst string) {
	l.t.Helper()
	l.mustRun(host, "ip", "route", "add", typ, dst)
}

// pnZone is the data a test DNS server holds. It answers from its records,
// refers to delegated zones (NS records below an apex it serves) with glue,
// and otherwise says NODATA or NXDOMAIN with the apex SOA. Rcode forces an
// answer code for every query (SERVFAIL, REFUSED) when non-zero.
type pnZone struct {
	Apex      string // "." for a root server
	Records   []string
	Recursive bool // set RA, as a recursive resolver does
	Rcode     int
}

func (z pnZone) handler(t testing.TB) dns.HandlerFunc {
	var rrs []dns.RR
	for _, s := range z.Records {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("bad test record %q: %v", s, err)
		}
		rrs = append(rrs, rr)
	}
	soa, err := dns.NewRR(z.Apex + " 300 IN SOA ns.invalid. host.invalid. 1 60 60 60 60")
	if err != nil {
		t.Fatal(err)
	}
	return func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.RecursionAvailable = z.Recursive
		defer w.WriteMsg(m)
		if z.Rcode != 0 {
			m.Rcode = z.Rcode
			return
		}
		qn, qt := strings.ToLower(q.Question[0].Name), q.Question[0].Qtype
		// A delegation below the apex that covers the name: refer.
		if !z.Recursive {
			var cut string
			for _, rr := range rrs {
				n := strings.ToLower(rr.Header().Name)
				if rr.Header().Rrtype == dns.TypeNS && n != z.Apex && dns.IsSubDomain(n, qn) && len(n) > len(cut) {
					cut = n
				}
			}
			if cut != "" {
				for _, rr := range rrs {
					if rr.Header().Rrtype == dns.TypeNS && strings.ToLower(rr.Header().Name) == cut {
						m.Ns = append(m.Ns, rr)
						for _, g := range rrs {
							if g.Header().Rrtype == dns.TypeA && strings.EqualFold(g.Header().Name, rr.(*dns.NS).Ns) {
								m.Extra = append(m.Extra, g)
							}
						}
					}
				}
				return
			}
		}
		m.Authoritative = !z.Recursive
		exists := false
		for _, rr := range rrs {
			if strings.ToLower(rr.Header().Name) != qn {
				continue
			}
			exists = true
			if rr.Header().Rrtype == qt || qt == dns.TypeANY {
				m.Answer = append(m.Answer, rr)
			}
		}
		if len(m.Answer) > 0 {
			for _, a := range m.Answer {
				if ns, ok := a.(*dns.NS); ok {
					for _, g := range rrs {
						if g.Header().Rrtype == dns.TypeA && strings.EqualFold(g.Header().Name, ns.Ns) {
							m.Extra = append(m.Extra, g)
						}
					}
				}
			}
			return
		}
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, soa)
	}
}

// dnsServer serves a zone on addr (UDP and TCP, port 53) inside a host,
// from sockets created in the host's namespace.
func (l *pnLab) dnsServer(host, addr string, z pnZone) {
	l.t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	err := l.ns(host).Do(func() error {
		var err error
		if pc, err = net.ListenPacket("udp", addr+":53"); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", addr+":53")
		return err
	})
	if err != nil {
		l.t.Fatalf("dns server on %s in %q: %v", addr, host, err)
	}
	h := z.handler(l.t)
	us := &dns.Server{PacketConn: pc, Handler: h}
	ts := &dns.Server{Listener: ln, Handler: h}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	l.t.Cleanup(func() {
		us.Shutdown()
		ts.Shutdown()
		pc.Close()
		ln.Close()
	})
}

// addAddr adds an extra address to a host's interface.
func (l *pnLab) addAddr(host, ifname, cidr string) {
	l.t.Helper()
	sandboxtest.AddAddr(l.t, l.ns(host), ifname, cidr)
}

// pnDNSData is the lab's DNS: a root (10.53.0.11), the test. TLD
// (10.53.0.12), example.test. (10.53.0.13), and a recursive resolver
// (10.53.0.1) that knows every name, plus a reverse zone.
var pnDNSData = struct{ root, tld, auth, extra []string }{
	root: []string{
		". 300 IN NS a.root.test.",
		"a.root.test. 300 IN A 10.53.0.11",
		"test. 300 IN NS ns.nic.test.",
		"ns.nic.test. 300 IN A 10.53.0.12",
	},
	tld: []string{
		"test. 300 IN NS ns.nic.test.",
		"ns.nic.test. 300 IN A 10.53.0.12",
		"a.root.test. 300 IN A 10.53.0.11",
		"example.test. 300 IN NS ns1.example.test.",
		"ns1.example.test. 300 IN A 10.53.0.13",
	},
	auth: []string{
		"example.test. 300 IN NS ns1.example.test.",
		"ns1.example.test. 300 IN A 10.53.0.13",
		"www.example.test. 300 IN A 192.0.2.80",
		"www.example.test. 300 IN AAAA 2001:db8::80",
		"example.test. 300 IN MX 10 mail.example.test.",
		"mail.example.test. 300 IN A 192.0.2.25",
		"example.test. 300 IN TXT \"v=lab\"",
	},
	extra: []string{
		"80.2.0.192.in-addr.arpa. 300 IN PTR www.example.test.",
		"www.corp.test. 300 IN A 10.3.0.2",
	},
}

// dnsLab adds a "dns" host linked to `client` on 10.53.0.0/24 serving the
// lab's DNS. The client's own address on that link is 10.53.0.2.
func (l *pnLab) dnsLab(client string) {
	l.t.Helper()
	l.host("dns")
	l.link(client, "dns0", "10.53.0.2/24", "dns", "eth0", "10.53.0.1/24")
	for _, a := range []string{"10.53.0.11/24", "10.53.0.12/24", "10.53.0.13/24", "10.53.0.14/24", "10.53.0.98/24"} {
		l.addAddr("dns", "eth0", a)
	}
	all := append(append(append(append([]string{}, pnDNSData.root[1:]...), pnDNSData.tld...), pnDNSData.auth...), pnDNSData.extra...)
	l.dnsServer("dns", "10.53.0.1", pnZone{Apex: ".", Records: all, Recursive: true})
	l.dnsServer("dns", "10.53.0.11", pnZone{Apex: ".", Records: pnDNSData.root})
	l.dnsServer("dns", "10.53.0.12", pnZone{Apex: "test.", Records: pnDNSData.tld})
	l.dnsServer("dns", "10.53.0.13", pnZone{Apex: "example.test.", Records: pnDNSData.auth})
	l.dnsServer("dns", "10.53.0.14", pnZone{Apex: ".", Rcode: dns.RcodeServerFailure, Recursive: true})
	// The client's resolver file, so that no tool in it ever reads the
	// machine's own.
	l.etcFile(client, "resolv.conf", "nameserver 10.53.0.1\n")
	// 10.53.0.98 is a resolver that never answers.
	l.mustRun("dns", "iptables", "-A", "INPUT", "-d", "10.53.0.98", "-p", "udp", "--dport", "53", "-j", "DROP")
}

// httpServer serves HTTP on addr inside a host: /size/N answers N bytes,
// everything else "hello\n", each with an X-Lab header.
func (l *pnLab) httpServer(host, addr string) {
	l.t.Helper()
	ln := l.listenTCPOnly(host, addr)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Lab", "netdojo")
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/size/%d", &n); err == nil {
			w.Write(make([]byte, n))
			return
		}
		fmt.Fprintln(w, "hello")
	})}
	go srv.Serve(ln)
	l.t.Cleanup(func() { srv.Close() })
}

// listenTCPOnly opens a TCP listener inside a host without accepting.
func (l *pnLab) listenTCPOnly(host, addr string) net.Listener {
	l.t.Helper()
	return sandboxtest.Listen(l.t, l.ns(host), "tcp", addr)
}
