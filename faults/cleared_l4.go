package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Cleared judgements of the transport faults: the firewall rules that
// match the traffic a fault targets (by their counters, under a fresh
// probe), the process behind a listener, and the behaviour of the
// service under an active probe.

// clearedProbeTimeout bounds the probe connection of a Cleared judgement:
// the rules' counters grow with the first packet, the outcome is not
// what is judged.
const clearedProbeTimeout = 300 * time.Millisecond

// statefulProbeTimeout covers a SYN retransmission, for the return
// traffic of stateful-firewall-drops-return.
const statefulProbeTimeout = 1500 * time.Millisecond

// judgeTraffic sends the traffic a fault targets (from a host to addr)
// and judges the rules of the fault's host and of the sender that match
// it: one that discards it, or a rewrite that steers it around, keeps the
// fault there.
func (e *Env) judgeTraffic(from, proto string, addr netip.AddrPort, what string) error {
	return e.judgeTrafficFor(from, proto, addr, what, clearedProbeTimeout)
}

// judgeTrafficFor is judgeTraffic with the probe's timeout: return
// traffic needs the server to answer, which a loaded server may do only
// after the client's first SYN retransmission (1 s).
func (e *Env) judgeTrafficFor(from, proto string, addr netip.AddrPort, what string, timeout time.Duration) error {
	ns, err := e.Netns(from)
	if err != nil {
		return err
	}
	hosts := []string{e.Host}
	if from != e.Host {
		hosts = append(hosts, from)
	}
	grown, err := e.rulesMatching(hosts, []string{"filter", "nat"}, addr.Addr().Is6(), func() error {
		_, err := probe.Reach(ns, addr, probe.ReachOptions{Proto: proto, Timeout: timeout})
		return err
	})
	if err != nil {
		return err
	}
	return judgeRules(grown, what)
}

func clearedFirewall(ctx context.Context, e *Env, p *FirewallParams) error {
	role := roleServer
	switch p.Chain {
	case "OUTPUT":
		role = roleClient
	case "FORWARD":
		role = roleRouter
	}
	from, to, err := e.connectionEnds(role, p.Port, p.Source, p.Destination, p.From, p.To)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("the %s traffic that was being stopped", strings.ToUpper(p.Proto))
	if err := e.judgeTraffic(from, p.Proto, netip.AddrPortFrom(to, uint16(p.Port)), what); err != nil {
		return err
	}
	if to6, ok := e.addr6Of(to); ok && p.mirrors6(e) {
		return e.judgeTraffic(from, p.Proto, netip.AddrPortFrom(to6, uint16(p.Port)), what+" over IPv6")
	}
	return nil
}

func clearedStateful(ctx context.Context, e *Env, p *StatefulParams) error {
	role := roleRouter
	if p.Chain == "INPUT" {
		role = roleClient
	}
	from, to, err := e.connectionEnds(role, p.Port, "", "", p.From, p.To)
	if err != nil {
		return err
	}
	what := "the answers to the connections that were failing"
	if err := e.judgeReturnTraffic(from, netip.AddrPortFrom(to, uint16(p.Port)), what); err != nil {
		return err
	}
	if to6, ok := e.addr6Of(to); ok && e.hasIPv6() {
		return e.judgeReturnTraffic(from, netip.AddrPortFrom(to6, uint16(p.Port)), what+" over IPv6")
	}
	return nil
}

// judgeReturnTraffic is judgeTraffic for the answers to a fresh
// connection: the rules that discard count only when the probe's own
// answer reached the fault's host. Answers to connections from before
// the fix (a server retransmits its SYN-ACKs for seconds) would
// otherwise keep the rule counting after the fault has stopped meeting
// new connections, as when the connection attempts are stopped on the
// way. When the fault's host has no record of the probe's connection,
// the rules are judged as they count.
func (e *Env) judgeReturnTraffic(from string, addr netip.AddrPort, what string) error {
	ns, err := e.Netns(from)
	if err != nil {
		return err
	}
	hosts := []string{e.Host}
	if from != e.Host {
		hosts = append(hosts, from)
	}
	var src netip.AddrPort
	grown, err := e.rulesMatching(hosts, []string{"filter", "nat"}, addr.Addr().Is6(), func() error {
		r, err := probe.Reach(ns, addr, probe.ReachOptions{Proto: "tcp", Timeout: statefulProbeTimeout})
		src = r.Src
		return err
	})
	if err != nil {
		return err
	}
	if answered, known := e.connectionAnswered(src, addr); known && !answered {
		var rewrites []grownRule
		for _, g := range grown {
			if !g.discards() {
				rewrites = append(rewrites, g)
			}
		}
		grown = rewrites
	}
	return judgeRules(grown, what)
}

// connectionAnswered looks up a TCP connection from src to dst in the
// fault host's connection tracking: answered is true once an answer to
// it went through the host; known is false when the host has no record
// of it (or its table cannot be read).
func (e *Env) connectionAnswered(src, dst netip.AddrPort) (answered, known bool) {
	if !src.IsValid() {
		return false, false
	}
	ns, err := e.Netns(e.Host)
	if err != nil {
		return false, false
	}
	family := netlink.FAMILY_V4
	if dst.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	h, err := ns.NetlinkHandle(unix.NETLINK_NETFILTER)
	if err != nil {
		return false, false
	}
	defer h.Close()
	flows, err := h.ConntrackTableList(netlink.ConntrackTable, netlink.InetFamily(family))
	if err != nil {
		return false, false
	}
	for _, f := range flows {
		if f.Forward.Protocol != unix.IPPROTO_TCP || f.Forward.SrcPort != src.Port() || f.Forward.DstPort != dst.Port() ||
			!f.Forward.DstIP.Equal(net.IP(dst.Addr().AsSlice())) {
			continue
		}
		tcp, ok := f.ProtoInfo.(*netlink.ProtoInfoTCP)
		if !ok {
			return false, false
		}
		// SYN_SENT (1): the first SYN, and no answer to it.
		return tcp.State != 1, true
	}
	return false, false
}

// clearedServiceListens wants the scenario's own service process on its
// port, bound where the scenario binds it: not another program, even
// one that answers the same.
func clearedServiceListens[P interface {
	Params
	service() string
}](ctx context.Context, e *Env, p P) error {
	name := p.service()
	hs, err := e.service(name)
	if err != nil {
		return err
	}
	return e.serviceListens(name, hs.port, hs.listen)
}

// clearedCloseWait opens connections to the service now, closes them,
// and wants the server side to close them too: a leak replaced by
// another leak fails at once. Sockets the old leak left behind must be
// gone as well.
func clearedCloseWait(ctx context.Context, e *Env, p *CloseWaitParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	target, err := e.serviceAddrFrom(hs)
	if err != nil {
		return err
	}
	ns, err := e.Netns(from)
	if err != nil {
		return err
	}
	ports := map[int]bool{}
	for range 3 {
		var c net.Conn
		if err := ns.Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp", target.String(), 2*time.Second)
			return err
		}); err != nil {
			return errors.New("the service does not take connections")
		}
		ports[c.LocalAddr().(*net.TCPAddr).Port] = true
		c.Close()
	}
	closeWait := func(fresh bool) error {
		socks, err := e.tcpSockets(e.Host)
		if err != nil {
			return err
		}
		for _, s := range socks {
			if s.State == unix.BPF_TCP_CLOSE_WAIT && int(s.ID.SourcePort) == hs.port && ports[int(s.ID.DestinationPort)] == fresh {
				if fresh {
					return errors.New("the service still leaves the connections its clients close open on its side")
				}
				return errors.New("connections to the service that their clients closed long ago are still held open")
			}
		}
		return nil
	}
	if err := poll(time.Second, func() error { return closeWait(true) }); err != nil {
		return err
	}
	if err := closeWait(false); err != nil {
		return err
	}
	// A service that closes its side sends a FIN: the client's socket
	// waits in TIME_WAIT. A connection killed from outside (a loop of
	// ss -K over CLOSE_WAIT) is reset and leaves nothing on the client.
	if err := poll(time.Second, func() error {
		socks, err := e.tcpSockets(from)
		if err != nil {
			return err
		}
		closed := 0
		for _, s := range socks {
			if s.State == unix.BPF_TCP_TIME_WAIT && int(s.ID.DestinationPort) == hs.port && ports[int(s.ID.SourcePort)] {
				closed++
			}
		}
		if closed < len(ports) {
			return errors.New("connections its clients closed are torn down by a reset, not closed by the service")
		}
		return nil
	}); err != nil {
		return err
	}
	// The leaker runs under the service's name, so the probe above tells
	// them apart; but another program that happens not to leak is not
	// the service either.
	return e.serviceListens(p.Service, hs.port, hs.listen)
}

func clearedTimeWait(ctx context.Context, e *Env, p *TimeWaitParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	host, sport, dport := p.closingSide(e, from, hs.port)
	n, err := e.countSockets(host, unix.BPF_TCP_TIME_WAIT, sport, dport)
	if err != nil {
		return err
	}
	if n >= p.Connections/2 {
		return errors.New("a pile of closed connections to the service is still in TIME_WAIT")
	}
	return nil
}

// clearedBacklog holds more connections open at once than the faulty
// backlog takes: a service that accepts them takes them all.
func clearedBacklog(ctx context.Context, e *Env, p *BacklogFaultParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	target, err := e.serviceAddrFrom(hs)
	if err != nil {
		return err
	}
	ns, err := e.Netns(from)
	if err != nil {
		return err
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range p.Backlog + 3 {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp", target.String(), time.Second)
			return err
		})
		if err != nil {
			return errors.New("the service still stops taking new connections after a few are open")
		}
		conns = append(conns, c)
	}
	return nil
}

// clearedLoss wants no rule of the host's firewall to throw away the
// packets of a burst (by the counters), and no random-drop rule left in
// the chain the fault used, for traffic the burst does not cross.
func clearedLoss(ctx context.Context, e *Env, p *LossParams) error {
	to, err := e.pingTarget(p.To)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	grown, err := e.rulesMatching([]string{e.Host}, []string{"filter"}, to.Is6(), func() error {
		_, err := probe.Ping(ns, to, probe.PingOptions{Count: 20, Interval: 5 * time.Millisecond, Timeout: time.Second})
		return err
	})
	if err != nil {
		return err
	}
	for _, g := range grown {
		if g.discards() {
			return errors.New("a firewall rule still throws away some of the packets of a burst of pings")
		}
	}
	for _, v6 := range []bool{false, true} {
		if v6 && !e.hasIPv6() {
			continue
		}
		rep, err := probe.Firewall(ns, v6, "filter", p.Chain)
		if err != nil {
			return err
		}
		if c, ok := rep.Chain(p.Chain); ok {
			for _, r := range c.Rules {
				if r.Target == "DROP" && strings.Contains(r.Spec, "statistic") {
					return errors.New("a firewall rule still throws away a share of the packets it handles")
				}
			}
		}
	}
	return nil
}

// clearedDelay wants no queue rule of the host to hold its packets: by
// the counters under a few pings, and by the chain for others.
func clearedDelay(ctx context.Context, e *Env, p *DelayParams) error {
	to, err := e.pingTarget(p.To)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	grown, err := e.rulesMatching([]string{e.Host}, []string{"filter"}, to.Is6(), func() error {
		_, err := probe.Ping(ns, to, probe.PingOptions{Count: 3, Interval: 5 * time.Millisecond, Timeout: p.delay + p.jitter + time.Second})
		return err
	})
	if err != nil {
		return err
	}
	for _, g := range grown {
		if g.Target == "NFQUEUE" {
			return errors.New("packets are still handed to a program that holds them before they leave")
		}
	}
	rep, err := probe.Firewall(ns, to.Is6(), "filter", "OUTPUT")
	if err != nil {
		return err
	}
	if c, ok := rep.Chain("OUTPUT"); ok {
		for _, r := range c.Rules {
			if r.Target == "NFQUEUE" && strings.Contains(r.Spec, fmt.Sprintf("--queue-num %d", p.Queue)) {
				return errors.New("some packets are still handed to a program that holds them before they leave")
			}
		}
	}
	return nil
}

func clearedBandwidth(ctx context.Context, e *Env, p *BandwidthParams) error {
	if observeBandwidth(ctx, e, p) == nil {
		return errors.New("an interface still sends no faster than a slow link would")
	}
	dev, err := e.shapedInterface(p)
	if err != nil {
		return err
	}
	h, err := e.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("interface %q of host %q: %w", dev, e.Host, err)
	}
	qdiscs, err := h.QdiscList(link)
	if err != nil {
		return fmt.Errorf("listing qdiscs of %q on host %q: %w", dev, e.Host, err)
	}
	for _, q := range qdiscs {
		if _, ok := q.(*netlink.Htb); ok && q.Attrs().Parent == netlink.HANDLE_ROOT {
			return errors.New("an interface still sends through a shaper")
		}
	}
	return nil
}
