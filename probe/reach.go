package probe

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// ReachOutcome classifies a reachability probe.
type ReachOutcome string

// The outcomes of Reach. The first word is what a learner's tool prints:
// "open" (connected), "refused" (Connection refused), "filtered" (timed
// out), "unreachable" (No route to host / Network is unreachable).
const (
	// ReachOpen: the TCP handshake completed, or a UDP answer came back.
	ReachOpen ReachOutcome = "open"
	// ReachRefusedRST: the destination answered the SYN with a TCP RST.
	// Nothing listening on that address and port, and an iptables REJECT
	// --reject-with tcp-reset, look the same on the wire.
	ReachRefusedRST ReachOutcome = "refused-rst"
	// ReachRefusedICMP: an ICMP port-unreachable came back (REJECT with
	// the default icmp-port-unreachable, or a closed UDP port).
	ReachRefusedICMP ReachOutcome = "refused-icmp-port-unreachable"
	// ReachFiltered: nothing came back before the timeout (DROP).
	ReachFiltered ReachOutcome = "filtered"
	// ReachOpenOrFiltered: UDP only, nothing came back: either a service
	// that does not answer this payload, or a DROP.
	ReachOpenOrFiltered ReachOutcome = "open|filtered"
	// ReachHostUnreachable: ICMP host-unreachable from a router, or the
	// next hop never answered ARP/NDP (the error is then local).
	ReachHostUnreachable ReachOutcome = "host-unreachable"
	// ReachNetUnreachable: ICMP net-unreachable from a router.
	ReachNetUnreachable ReachOutcome = "net-unreachable"
	// ReachAdminProhibited: ICMP administratively prohibited
	// (icmp-host-prohibited, icmp-net-prohibited, icmp-admin-prohibited).
	ReachAdminProhibited ReachOutcome = "admin-prohibited"
	// ReachNoRoute: the local routing table has no route to the
	// destination (ENETUNREACH at once; no packet left).
	ReachNoRoute ReachOutcome = "no-local-route"
	// ReachAddrUnavailable: no local address or port to send from
	// (EADDRNOTAVAIL: a source address not on the host, or the local port
	// range used up).
	ReachAddrUnavailable ReachOutcome = "local-address-unavailable"
	// ReachBlockedLocally: the host's own firewall dropped the packet as
	// it left (an OUTPUT DROP makes send fail with EPERM): no packet was
	// sent and no ICMP came back.
	ReachBlockedLocally ReachOutcome = "blocked-locally"
	// ReachError: any other failure; Errno says which.
	ReachError ReachOutcome = "error"
)

// ReachOptions tune Reach. Zero values take the defaults.
type ReachOptions struct {
	Proto   string        // "tcp" (default) or "udp"
	Timeout time.Duration // default 5 s: longer than ARP's 3 s give-up
	Source  netip.Addr    // bind to this local address
	// Payload is the UDP datagram sent. Default: a DNS query for port 53,
	// otherwise a single zero byte.
	Payload []byte
	// Observe, when set, is the destination host seen from the inside (a
	// lab host). Its IPv4 filter table counters are read before and after
	// the attempt, so a REJECT or DROP rule that took the packet is named:
	// that tells "REJECT --reject-with tcp-reset" from "nothing listening",
	// which look the same on the wire.
	Observe Target
}

// ReachResult is the outcome of a reachability probe.
type ReachResult struct {
	Target  string         `json:"target"`
	Proto   string         `json:"proto"`
	Dst     netip.AddrPort `json:"dst"`
	Src     netip.AddrPort `json:"src,omitzero"` // the local address and port used
	Outcome ReachOutcome   `json:"outcome"`
	// From is the address that answered: the destination for open and RST,
	// the sender of the ICMP error otherwise (a router, the destination,
	// or an own address for a local error). Zero when nothing answered.
	From  netip.Addr `json:"from,omitzero"`
	Errno string     `json:"errno,omitempty"` // "ECONNREFUSED", "EHOSTUNREACH", ...
	// ICMP is the ICMP error that ended the attempt, when one did.
	ICMP *ICMPError `json:"icmp,omitempty"`
	// NextHop is where the kernel sent the packets, and NextHopState its
	// neighbour state after the attempt ("FAILED" when ARP got no answer).
	NextHop      netip.Addr `json:"next_hop,omitzero"`
	NextHopState string     `json:"next_hop_state,omitempty"`
	// MatchedRule is the REJECT or DROP rule of the observed destination
	// whose counter grew during the attempt (with ReachOptions.Observe).
	MatchedRule *FirewallRule `json:"matched_rule,omitempty"`
	// Observed is true when the destination's firewall was watched.
	Observed bool          `json:"observed,omitempty"`
	Meaning  string        `json:"meaning"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Reach tries to reach dst over TCP (a connect) or UDP (a datagram) from
// the target, and classifies what came back. The socket is created inside
// the target with IP_RECVERR, so ICMP errors arrive on its error queue with
// their sender, type and code: that is how refused-by-ICMP, unreachable and
// prohibited are told apart from refused-by-RST.
func Reach(t Target, dst netip.AddrPort, opt ReachOptions) (ReachResult, error) {
	if opt.Proto == "" {
		opt.Proto = "tcp"
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	res := ReachResult{Target: t.Name(), Proto: opt.Proto, Dst: dst}
	if opt.Proto != "tcp" && opt.Proto != "udp" {
		return res, fmt.Errorf("reach %s: unknown protocol %q (tcp or udp)", dst, opt.Proto)
	}
	if rl, err := RouteGet(t, dst.Addr()); err == nil {
		res.NextHop = rl.Gateway
		if !res.NextHop.IsValid() && rl.Type == "unicast" {
			res.NextHop = dst.Addr()
		}
	}
	var before FirewallReport
	if opt.Observe != nil {
		var err error
		if before, err = Firewall(opt.Observe, false, "filter"); err != nil {
			return res, err
		}
	}
	start := time.Now()
	fd := -1
	var connErr error
	err := t.Do(func() error {
		var err error
		fd, connErr, err = pnReachSocket(dst, opt)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("reach %s %s from %s: %w", opt.Proto, dst, t.Name(), err)
	}
	if fd >= 0 {
		defer unix.Close(fd)
	}
	deadline := start.Add(opt.Timeout)
	if connErr == nil {
		if opt.Proto == "tcp" {
			connErr = pnWaitConnect(fd, deadline)
		} else {
			connErr = pnWaitUDP(fd, deadline)
		}
	}
	res.Elapsed = time.Since(start)
	if fd >= 0 {
		if sa, err := unix.Getsockname(fd); err == nil {
			res.Src = pnAddrPortOf(sa)
		}
	}
	pnClassify(&res, fd, connErr)
	if opt.Observe != nil {
		after, err := Firewall(opt.Observe, false, "filter")
		if err != nil {
			return res, err
		}
		res.Observed = true
		res.MatchedRule = pnGrownRule(before, after)
		res.Meaning = pnReachMeaning(res)
	}
	if res.NextHop.IsValid() && res.Outcome != ReachOpen {
		if ns, err := Neighbours(t); err == nil {
			for _, n := range ns {
				if n.IP == res.NextHop {
					res.NextHopState = n.State
				}
			}
		}
		if res.Outcome == ReachFiltered && (res.NextHopState == "FAILED" || res.NextHopState == "INCOMPLETE") {
			res.Outcome = ReachHostUnreachable
		}
		res.Meaning = pnReachMeaning(res)
	}
	return res, nil
}

var pnErrTimeout = errors.New("timed out")

// pnReachSocket runs inside the target: it creates the socket, binds it,
// and starts the connect (TCP) or sends the datagram (UDP). A setup error
// is err; an error the network gave at once is connErr.
func pnReachSocket(dst netip.AddrPort, opt ReachOptions) (fd int, connErr, err error) {
	family, level, recverr := unix.AF_INET, unix.SOL_IP, unix.IP_RECVERR
	if dst.Addr().Is6() {
		family, level, recverr = unix.AF_INET6, unix.SOL_IPV6, unix.IPV6_RECVERR
	}
	typ := unix.SOCK_STREAM
	if opt.Proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err = unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fmt.Errorf("creating socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, level, recverr, 1); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("setting IP_RECVERR: %w", err)
	}
	if opt.Source.IsValid() {
		if err := unix.Bind(fd, pnSockaddr(netip.AddrPortFrom(opt.Source, 0))); err != nil {
			return fd, err, nil
		}
	}
	err = unix.Connect(fd, pnSockaddr(dst))
	if err != nil && err != unix.EINPROGRESS {
		return fd, err, nil
	}
	if opt.Proto == "udp" {
		payload := opt.Payload
		if payload == nil {
			payload = []byte{0}
			if dst.Port() == 53 {
				// A DNS query for the root NS set, so a DNS server answers.
				payload = []byte{0x6e, 0x64, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1}
			}
		}
		if _, err := unix.Write(fd, payload); err != nil {
			return fd, err, nil
		}
	}
	return fd, nil, nil
}

// pnWaitConnect waits for a non-blocking connect to finish.
func pnWaitConnect(fd int, deadline time.Time) error {
	_, ok, err := pnPoll(fd, unix.POLLOUT, deadline)
	if err != nil {
		return err
	}
	if !ok {
		return pnErrTimeout
	}
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if soErr != 0 {
		return unix.Errno(soErr)
	}
	return nil
}

// pnWaitUDP waits for an answer or an error to a sent datagram.
func pnWaitUDP(fd int, deadline time.Time) error {
	rev, ok, err := pnPoll(fd, unix.POLLIN, deadline)
	if err != nil {
		return err
	}
	if !ok {
		return pnErrTimeout
	}
	if rev&unix.POLLERR != 0 {
		soErr, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if soErr != 0 {
			return unix.Errno(soErr)
		}
		return unix.EIO
	}
	buf := make([]byte, 2048)
	if _, err := unix.Read(fd, buf); err != nil {
		return err
	}
	return nil
}

func pnClassify(res *ReachResult, fd int, err error) {
	defer func() { res.Meaning = pnReachMeaning(*res) }()
	if err == nil {
		res.Outcome = ReachOpen
		res.From = res.Dst.Addr()
		return
	}
	if err == pnErrTimeout {
		if res.Proto == "udp" {
			res.Outcome = ReachOpenOrFiltered
		} else {
			res.Outcome = ReachFiltered
		}
		return
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		res.Outcome = ReachError
		res.Errno = err.Error()
		return
	}
	res.Errno = pnErrnoName(errno)
	if fd >= 0 {
		if e, ok := pnReadErrQueue(fd); ok {
			// An error the kernel sent itself (a neighbour that never
			// answered) comes from one of our own addresses.
			if e.From == res.Src.Addr() {
				e.Local = true
			}
			res.ICMP = &e
			res.From = e.From
		}
	}
	switch errno {
	case unix.ECONNREFUSED:
		if res.ICMP != nil && !res.ICMP.Local {
			res.Outcome = ReachRefusedICMP
		} else {
			res.Outcome = ReachRefusedRST
			res.From = res.Dst.Addr()
		}
		return
	case unix.EADDRNOTAVAIL:
		res.Outcome = ReachAddrUnavailable
		return
	}
	if res.ICMP != nil && !res.ICMP.Local {
		switch res.ICMP.Name {
		case "net-unreachable", "net-unknown", "no-route":
			res.Outcome = ReachNetUnreachable
		case "host-unreachable", "host-unknown", "addr-unreachable":
			res.Outcome = ReachHostUnreachable
		case "net-prohibited", "host-prohibited", "admin-prohibited":
			res.Outcome = ReachAdminProhibited
		case "port-unreachable":
			res.Outcome = ReachRefusedICMP
		default:
			res.Outcome = ReachError
		}
		return
	}
	switch errno {
	case unix.ENETUNREACH:
		res.Outcome = ReachNoRoute
		if res.ICMP != nil {
			res.Outcome = ReachNetUnreachable
		}
	case unix.EHOSTUNREACH:
		res.Outcome = ReachHostUnreachable
	case unix.EPERM:
		// No ICMP on the error queue: the local firewall refused the send.
		res.Outcome = ReachBlockedLocally
	case unix.EACCES:
		res.Outcome = ReachAdminProhibited
	case unix.ETIMEDOUT:
		res.Outcome = ReachFiltered
	default:
		res.Outcome = ReachError
	}
}

func pnReachMeaning(r ReachResult) string {
	switch r.Outcome {
	case ReachOpen:
		if r.Proto == "udp" {
			return fmt.Sprintf("%s answered the datagram", r.Dst)
		}
		return fmt.Sprintf("%s accepts TCP connections", r.Dst)
	case ReachRefusedRST:
		if r.Observed && r.MatchedRule != nil {
			return fmt.Sprintf("%s answered with a TCP RST (\"Connection refused\") made by its firewall rule %q", r.Dst.Addr(), r.MatchedRule.Spec)
		}
		if r.Observed {
			return fmt.Sprintf("%s answered with a TCP RST (\"Connection refused\") and no firewall rule of its filter table took the packet: nothing listens on port %d at %s (or the listener is bound to another address, such as 127.0.0.1)", r.Dst.Addr(), r.Dst.Port(), r.Dst.Addr())
		}
		return fmt.Sprintf("%s answered with a TCP RST (\"Connection refused\"): nothing listens on port %d at that address, or a firewall rejects with tcp-reset; both look the same on the wire, so look at the listener table (ss -tlnp) and the firewall counters (iptables -L -n -v) on %s", r.Dst.Addr(), r.Dst.Port(), r.Dst.Addr())
	case ReachRefusedICMP:
		return fmt.Sprintf("%s sent ICMP port-unreachable (\"Connection refused\"): for TCP that is a firewall REJECT (the default icmp-port-unreachable), for UDP a closed port or a REJECT", pnStr(r.From))
	case ReachFiltered:
		if r.MatchedRule != nil {
			return fmt.Sprintf("no answer within the timeout (\"Connection timed out\"): the destination's firewall rule %q drops it", r.MatchedRule.Spec)
		}
		return fmt.Sprintf("no answer within the timeout (\"Connection timed out\"): packets to %s are dropped on the way or at the host (iptables DROP), or the reply is lost", r.Dst)
	case ReachOpenOrFiltered:
		return "no answer to the datagram: a service that ignored it, or a firewall DROP; UDP cannot tell them apart without a reply"
	case ReachHostUnreachable:
		if r.ICMP == nil || r.ICMP.Local || r.From == r.Src.Addr() {
			return fmt.Sprintf("the next hop %s never answered ARP/neighbour solicitation (state %s): it is down, or has another address (\"No route to host\")", pnStr(r.NextHop), r.NextHopState)
		}
		return fmt.Sprintf("router %s says the host is unreachable (\"No route to host\"): it could not deliver to %s on its last hop", r.From, r.Dst.Addr())
	case ReachNetUnreachable:
		return fmt.Sprintf("router %s has no route to %s (\"Network is unreachable\")", pnStr(r.From), r.Dst.Addr())
	case ReachAdminProhibited:
		name := "administratively prohibited"
		if r.ICMP != nil {
			name = r.ICMP.Name
		}
		return fmt.Sprintf("%s rejected the packet with ICMP %s (\"No route to host\"): a firewall REJECT rule", pnStr(r.From), name)
	case ReachBlockedLocally:
		return fmt.Sprintf("this host's own firewall dropped the packet to %s as it left (\"Operation not permitted\", nothing was sent): an OUTPUT rule", r.Dst)
	case ReachNoRoute:
		return fmt.Sprintf("the local routing table has no route to %s (\"Network is unreachable\", no packet sent): add a default route or a route to that network", r.Dst.Addr())
	case ReachAddrUnavailable:
		return "no usable local address or port (\"Cannot assign requested address\"): the source address is not on this host, or the local port range is used up (TIME_WAIT)"
	}
	return fmt.Sprintf("connection failed: %s", r.Errno)
}

func pnErrnoName(e unix.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return e.Error()
}

// pnGrownRule finds the REJECT or DROP rule whose packet counter grew
// between two reads of the same table.
func pnGrownRule(before, after FirewallReport) *FirewallRule {
	for _, ch := range after.Chains {
		old, _ := before.Chain(ch.Name)
		for i, r := range ch.Rules {
			if r.Target != "REJECT" && r.Target != "DROP" {
				continue
			}
			if i < len(old.Rules) && old.Rules[i].Spec == r.Spec && r.Packets <= old.Rules[i].Packets {
				continue
			}
			if i >= len(old.Rules) && r.Packets == 0 {
				continue
			}
			rule := r
			return &rule
		}
	}
	return nil
}
