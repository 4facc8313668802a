package probe

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// TraceOptions tune Traceroute. Zero values take the defaults.
type TraceOptions struct {
	// Mode is "udp" (default, like traceroute), "icmp" (traceroute -I) or
	// "tcp" (SYN probes, traceroute -T).
	Mode string
	// Port is the first UDP destination port (default 33434, one more per
	// probe, as traceroute) or the TCP port (default 80).
	Port     int
	FirstTTL int           // default 1
	MaxHops  int           // default 30
	Queries  int           // probes per hop, default 3
	Wait     time.Duration // for the answers of one hop, default 1 s
}

// TraceProbe is the answer to one probe.
type TraceProbe struct {
	From netip.Addr    `json:"from,omitzero"` // zero: nothing came back ("*")
	RTT  time.Duration `json:"rtt_ns,omitempty"`
	// Kind is "time-exceeded", "port-unreachable", "echo-reply",
	// "syn-ack", "rst", another ICMP unreachable name, or "" for nothing.
	Kind string `json:"kind,omitempty"`
}

// TraceHop is one TTL of the trace.
type TraceHop struct {
	TTL    int          `json:"ttl"`
	Probes []TraceProbe `json:"probes"`
	// Addrs are the distinct addresses that answered, in order.
	Addrs []netip.Addr `json:"addrs"`
	// Silent is true when no probe of this hop got an answer.
	Silent bool `json:"silent"`
}

// TraceResult is a traceroute.
type TraceResult struct {
	Target  string        `json:"target"`
	Dst     netip.Addr    `json:"dst"`
	Mode    string        `json:"mode"`
	Hops    []TraceHop    `json:"hops"`
	Reached bool          `json:"reached"` // the destination itself answered
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Traceroute sends probes with growing TTL from the target and records
// who answers each hop: routers with ICMP time exceeded, the destination
// with port unreachable (UDP), an echo reply (ICMP) or a SYN-ACK or RST
// (TCP). A raw ICMP socket created inside the target hears the errors,
// matched to each probe by the header they quote. IPv4 only.
func Traceroute(t Target, dst netip.Addr, opt TraceOptions) (TraceResult, error) {
	start := time.Now()
	dst = dst.Unmap()
	if opt.Mode == "" {
		opt.Mode = "udp"
	}
	if opt.FirstTTL <= 0 {
		opt.FirstTTL = 1
	}
	if opt.MaxHops <= 0 {
		opt.MaxHops = 30
	}
	if opt.Queries <= 0 {
		opt.Queries = 3
	}
	if opt.Wait <= 0 {
		opt.Wait = time.Second
	}
	if opt.Port <= 0 {
		opt.Port = 33434
		if opt.Mode == "tcp" {
			opt.Port = 80
		}
	}
	res := TraceResult{Target: t.Name(), Dst: dst, Mode: opt.Mode}
	if !dst.Is4() {
		return res, fmt.Errorf("traceroute %s: only IPv4 is supported", dst)
	}
	if opt.Mode != "udp" && opt.Mode != "icmp" && opt.Mode != "tcp" {
		return res, fmt.Errorf("traceroute %s: unknown mode %q (udp, icmp or tcp)", dst, opt.Mode)
	}
	tr := &pnTracer{t: t, dst: dst, opt: opt}
	if err := t.Do(tr.open); err != nil {
		tr.close()
		return res, fmt.Errorf("traceroute %s from %s: %w", dst, t.Name(), err)
	}
	defer tr.close()
	var idb [2]byte
	rand.Read(idb[:])
	tr.id = int(binary.BigEndian.Uint16(idb[:]))
	seq := 0
	for ttl := opt.FirstTTL; ttl <= opt.MaxHops; ttl++ {
		if err := tr.hop(ttl, &seq); err != nil {
			return res, fmt.Errorf("traceroute %s from %s, hop %d: %w", dst, t.Name(), ttl, err)
		}
		if tr.reachedAt() >= 0 {
			break
		}
	}
	last := len(tr.all) - 1
	if r := tr.reachedAt(); r >= 0 {
		last, res.Reached = r, true
	}
	for i := 0; i <= last; i++ {
		res.Hops = append(res.Hops, pnHopOf(opt.FirstTTL+i, tr.all[i]))
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// reachedAt is the index of the first hop the destination answered (or
// that got an ICMP error other than time exceeded), -1 if none.
func (tr *pnTracer) reachedAt() int {
	for i, probes := range tr.all {
		for _, p := range probes {
			if p.answer != nil && (p.answer.From == tr.dst || p.answer.Kind != "time-exceeded") {
				return i
			}
		}
	}
	return -1
}

func pnHopOf(ttl int, probes []*pnTraceProbe) TraceHop {
	hop := TraceHop{TTL: ttl, Silent: true}
	seen := map[netip.Addr]bool{}
	for _, p := range probes {
		a := TraceProbe{}
		if p.answer != nil {
			a = *p.answer
			hop.Silent = false
			if !seen[a.From] {
				seen[a.From] = true
				hop.Addrs = append(hop.Addrs, a.From)
			}
		}
		hop.Probes = append(hop.Probes, a)
	}
	return hop
}

type pnTracer struct {
	t     Target
	dst   netip.Addr
	opt   TraceOptions
	icmp  int // raw ICMP socket: hears errors, sends ICMP probes
	udp   int // UDP probe socket
	lport int // its local port
	id    int
	// all holds the probes of every hop so far: an answer that comes
	// late, during a later hop's wait, still fills in its own hop.
	all [][]*pnTraceProbe
}

// open runs inside the target and creates the sockets.
func (tr *pnTracer) open() error {
	tr.icmp, tr.udp = -1, -1
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("creating raw ICMP socket: %w", err)
	}
	tr.icmp = fd
	mask := ^uint32(1<<pnICMPEchoReply | 1<<pnICMPDestUnreach | 1<<pnICMPTimeExceeded)
	if err := unix.SetsockoptInt(fd, unix.SOL_RAW, 1, int(int32(mask))); err != nil {
		return fmt.Errorf("setting ICMP_FILTER: %w", err)
	}
	if tr.opt.Mode == "udp" {
		u, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("creating UDP socket: %w", err)
		}
		tr.udp = u
		if err := unix.Bind(u, &unix.SockaddrInet4{}); err != nil {
			return fmt.Errorf("binding UDP socket: %w", err)
		}
		sa, err := unix.Getsockname(u)
		if err != nil {
			return err
		}
		tr.lport = sa.(*unix.SockaddrInet4).Port
	}
	return nil
}

func (tr *pnTracer) close() {
	for _, fd := range []int{tr.icmp, tr.udp} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// pnTraceProbe is one probe in flight.
type pnTraceProbe struct {
	idx    int
	sent   time.Time
	port   int // UDP destination port / TCP local port
	seq    int // ICMP sequence
	tcpFd  int
	answer *TraceProbe
}

func (tr *pnTracer) hop(ttl int, seq *int) error {
	probes := make([]*pnTraceProbe, tr.opt.Queries)
	tr.all = append(tr.all, probes)
	defer func() {
		for _, p := range probes {
			if p != nil && p.tcpFd >= 0 {
				unix.Close(p.tcpFd)
			}
		}
	}()
	for i := range probes {
		*seq++
		p := &pnTraceProbe{idx: i, seq: *seq, tcpFd: -1}
		probes[i] = p
		if err := tr.send(p, ttl); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(tr.opt.Wait)
	for {
		done := true
		for _, p := range probes {
			if p.answer == nil {
				done = false
			}
		}
		if done {
			break
		}
		fds := []unix.PollFd{{Fd: int32(tr.icmp), Events: unix.POLLIN}}
		for _, p := range probes {
			if p.tcpFd >= 0 && p.answer == nil {
				fds = append(fds, unix.PollFd{Fd: int32(p.tcpFd), Events: unix.POLLOUT})
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		now := time.Now()
		if fds[0].Revents&unix.POLLIN != 0 {
			tr.readICMP(now)
		}
		for _, f := range fds[1:] {
			if f.Revents == 0 {
				continue
			}
			for _, p := range probes {
				if p.tcpFd == int(f.Fd) && p.answer == nil {
					soErr, _ := unix.GetsockoptInt(p.tcpFd, unix.SOL_SOCKET, unix.SO_ERROR)
					switch unix.Errno(soErr) {
					case 0:
						p.answer = &TraceProbe{From: tr.dst, RTT: now.Sub(p.sent), Kind: "syn-ack"}
					case unix.ECONNREFUSED:
						p.answer = &TraceProbe{From: tr.dst, RTT: now.Sub(p.sent), Kind: "rst"}
					default:
						// An ICMP error aborted the connect: the raw socket
						// reports who sent it.
						unix.Close(p.tcpFd)
						p.tcpFd = -1
					}
				}
			}
		}
	}
	return nil
}

func (tr *pnTracer) send(p *pnTraceProbe, ttl int) error {
	switch tr.opt.Mode {
	case "udp":
		p.port = tr.opt.Port + p.seq - 1
		if err := unix.SetsockoptInt(tr.udp, unix.SOL_IP, unix.IP_TTL, ttl); err != nil {
			return err
		}
		p.sent = time.Now()
		err := unix.Sendto(tr.udp, make([]byte, 32), 0, pnSockaddr(netip.AddrPortFrom(tr.dst, uint16(p.port))))
		if err != nil && err != unix.ECONNREFUSED {
			return fmt.Errorf("sending UDP probe: %w", err)
		}
	case "icmp":
		if err := unix.SetsockoptInt(tr.icmp, unix.SOL_IP, unix.IP_TTL, ttl); err != nil {
			return err
		}
		msg := make([]byte, 40)
		msg[0] = pnICMPEcho
		binary.BigEndian.PutUint16(msg[4:6], uint16(tr.id))
		binary.BigEndian.PutUint16(msg[6:8], uint16(p.seq))
		binary.BigEndian.PutUint16(msg[2:4], pnChecksum(msg))
		p.sent = time.Now()
		if err := unix.Sendto(tr.icmp, msg, 0, pnSockaddr(netip.AddrPortFrom(tr.dst, 0))); err != nil {
			return fmt.Errorf("sending ICMP probe: %w", err)
		}
	case "tcp":
		var fd int
		err := tr.t.Do(func() error {
			var err error
			fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			return err
		})
		if err != nil {
			return fmt.Errorf("creating TCP probe socket: %w", err)
		}
		p.tcpFd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_TTL, ttl); err != nil {
			return err
		}
		// Bind first so the local port is known before the SYN leaves.
		if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
			return fmt.Errorf("binding TCP probe socket: %w", err)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return err
		}
		p.port = sa.(*unix.SockaddrInet4).Port
		p.sent = time.Now()
		err = unix.Connect(fd, pnSockaddr(netip.AddrPortFrom(tr.dst, uint16(tr.opt.Port))))
		if err != nil && err != unix.EINPROGRESS {
			return fmt.Errorf("sending TCP probe: %w", err)
		}
	}
	return nil
}

func (tr *pnTracer) readICMP(now time.Time) {
	buf := make([]byte, 2048)
	for {
		n, _, err := unix.Recvfrom(tr.icmp, buf, unix.MSG_DONTWAIT)
		if err != nil {
			return
		}
		pk, ok := pnParseICMPv4(buf[:n])
		if !ok {
			continue
		}
		for _, p := range pnFlatten(tr.all) {
			if p.answer != nil || !tr.matches(pk, p) {
				continue
			}
			kind := pnICMPName(false, pk.Type, pk.Code)
			p.answer = &TraceProbe{From: pk.From, RTT: now.Sub(p.sent), Kind: kind}
			if p.tcpFd >= 0 {
				unix.Close(p.tcpFd)
				p.tcpFd = -1
			}
		}
	}
}

func (tr *pnTracer) matches(pk pnICMPPacket, p *pnTraceProbe) bool {
	if pk.Type == pnICMPEchoReply {
		return tr.opt.Mode == "icmp" && pk.ID == tr.id && pk.Seq == p.seq && pk.From == tr.dst
	}
	if !pk.Quoted || pk.QDst != tr.dst {
		return false
	}
	switch tr.opt.Mode {
	case "udp":
		return pk.QProto == unix.IPPROTO_UDP && pk.QSrcPort == tr.lport && pk.QDstPort == p.port
	case "icmp":
		return pk.QProto == unix.IPPROTO_ICMP && pk.QSrcPort == tr.id && pk.QDstPort == p.seq
	case "tcp":
		return pk.QProto == unix.IPPROTO_TCP && pk.QSrcPort == p.port && pk.QDstPort == tr.opt.Port
	}
	return false
}

func pnFlatten(hops [][]*pnTraceProbe) []*pnTraceProbe {
	var out []*pnTraceProbe
	for _, h := range hops {
		out = append(out, h...)
	}
	return out
}
