package probe

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// PingReplyKind classifies what came back for one echo request.
type PingReplyKind string

// The kinds of PingReply.
const (
	PingEchoReply    PingReplyKind = "echo-reply"
	PingDestUnreach  PingReplyKind = "dest-unreachable" // Code and Name say which
	PingTimeExceeded PingReplyKind = "time-exceeded"    // From is the router where TTL ran out
	PingFragNeeded   PingReplyKind = "frag-needed"      // MTU is the next hop's MTU
	PingNothing      PingReplyKind = "none"             // nothing before the timeout
	PingLocalError   PingReplyKind = "local-error"      // the kernel refused to send; Errno says why
)

// PingOptions are ping's knobs. Zero values take the defaults.
type PingOptions struct {
	Count int // echo requests, default 3
	// Size is the ICMP payload in bytes, as `ping -s` (default 56: an IPv4
	// packet of 84 bytes).
	Size int
	// DontFragment sets DF on every packet, like `ping -M probe`: each
	// packet is sent at its full size whatever path MTU the kernel has
	// cached, so every probe tests the path.
	DontFragment bool
	TTL          int           // IP TTL / hop limit, default the kernel's (64)
	Interval     time.Duration // between requests, default 200 ms
	Timeout      time.Duration // wait after the last request, default 1 s
	Source       netip.Addr    // send from this address
}

// PingReply is what came back for one echo request.
type PingReply struct {
	Seq  int           `json:"seq"`
	Kind PingReplyKind `json:"kind"`
	From netip.Addr    `json:"from,omitzero"`
	// Type, Code and Name of an ICMP error ("host-unreachable", ...).
	Type  int           `json:"type,omitempty"`
	Code  int           `json:"code,omitempty"`
	Name  string        `json:"name,omitempty"`
	MTU   int           `json:"mtu,omitempty"`
	TTL   int           `json:"ttl,omitempty"`   // of the reply packet (IPv4)
	Bytes int           `json:"bytes,omitempty"` // ICMP bytes received
	RTT   time.Duration `json:"rtt_ns,omitempty"`
	Errno string        `json:"errno,omitempty"`
}

// PingResult is a ping run, with ping's summary numbers.
type PingResult struct {
	Target   string        `json:"target"`
	Dst      netip.Addr    `json:"dst"`
	Size     int           `json:"size"`
	DF       bool          `json:"df"`
	TTL      int           `json:"ttl,omitempty"`
	Sent     int           `json:"sent"`
	Received int           `json:"received"` // echo replies
	Errors   int           `json:"errors"`   // ICMP errors and local errors
	Loss     float64       `json:"loss_percent"`
	Replies  []PingReply   `json:"replies"`
	MinRTT   time.Duration `json:"min_rtt_ns"`
	AvgRTT   time.Duration `json:"avg_rtt_ns"`
	MaxRTT   time.Duration `json:"max_rtt_ns"`
	MdevRTT  time.Duration `json:"mdev_rtt_ns"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Ping sends ICMP echo requests from the target through a raw ICMP socket
// created inside it, and classifies the answer to each: echo reply,
// destination unreachable (code, sender), time exceeded (sender),
// fragmentation needed (MTU), a local error, or nothing.
func Ping(t Target, dst netip.Addr, opt PingOptions) (PingResult, error) {
	dst = dst.Unmap()
	if opt.Count <= 0 {
		opt.Count = 3
	}
	if opt.Size <= 0 {
		opt.Size = 56
	}
	if opt.Interval <= 0 {
		opt.Interval = 200 * time.Millisecond
	}
	if opt.Timeout <= 0 {
		opt.Timeout = time.Second
	}
	res := PingResult{Target: t.Name(), Dst: dst, Size: opt.Size, DF: opt.DontFragment, TTL: opt.TTL}
	var fd int
	err := t.Do(func() error {
		var err error
		fd, err = pnPingSocket(dst.Is6(), opt)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("ping %s from %s: %w", dst, t.Name(), err)
	}
	defer unix.Close(fd)
	s := &pnPinger{fd: fd, dst: dst, v6: dst.Is6(), opt: opt, sentAt: map[int]time.Time{}, got: map[int]*PingReply{}}
	var idb [2]byte
	rand.Read(idb[:])
	s.id = int(binary.BigEndian.Uint16(idb[:]))
	start := time.Now()
	s.run()
	res.Elapsed = time.Since(start)
	res.Sent = opt.Count
	var rtts []time.Duration
	for seq := 1; seq <= opt.Count; seq++ {
		r, ok := s.got[seq]
		if !ok {
			r = &PingReply{Seq: seq, Kind: PingNothing}
		}
		switch r.Kind {
		case PingEchoReply:
			res.Received++
			rtts = append(rtts, r.RTT)
		case PingNothing:
		default:
			res.Errors++
		}
		res.Replies = append(res.Replies, *r)
	}
	res.Loss = 100 * float64(res.Sent-res.Received) / float64(res.Sent)
	res.MinRTT, res.AvgRTT, res.MaxRTT, res.MdevRTT = pnRTTStats(rtts)
	return res, nil
}

// pnRTTStats computes min, avg, max and mdev as ping does.
func pnRTTStats(rtts []time.Duration) (lo, avg, hi, mdev time.Duration) {
	if len(rtts) == 0 {
		return
	}
	lo, hi = rtts[0], rtts[0]
	var sum, sum2 float64
	for _, r := range rtts {
		lo, hi = min(lo, r), max(hi, r)
		sum += float64(r)
		sum2 += float64(r) * float64(r)
	}
	n := float64(len(rtts))
	mean := sum / n
	avg = time.Duration(mean)
	mdev = time.Duration(math.Sqrt(math.Max(0, sum2/n-mean*mean)))
	return
}

// pnPingSocket runs inside the target and makes the raw ICMP socket.
func pnPingSocket(v6 bool, opt PingOptions) (int, error) {
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if v6 {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, fmt.Errorf("creating raw ICMP socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	if v6 {
		pmtu := unix.IPV6_PMTUDISC_DONT
		if opt.DontFragment {
			pmtu = unix.IPV6_PMTUDISC_PROBE
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_MTU_DISCOVER, pmtu); err != nil {
			return fail("setting IPV6_MTU_DISCOVER", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_RECVERR, 1); err != nil {
			return fail("setting IPV6_RECVERR", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
			return fail("setting IPV6_RECVHOPLIMIT", err)
		}
		if opt.TTL > 0 {
			if err := unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_UNICAST_HOPS, opt.TTL); err != nil {
				return fail("setting the hop limit", err)
			}
		}
	} else {
		pmtu := unix.IP_PMTUDISC_DONT
		if opt.DontFragment {
			pmtu = unix.IP_PMTUDISC_PROBE
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_MTU_DISCOVER, pmtu); err != nil {
			return fail("setting IP_MTU_DISCOVER", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_RECVERR, 1); err != nil {
			return fail("setting IP_RECVERR", err)
		}
		if opt.TTL > 0 {
			if err := unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_TTL, opt.TTL); err != nil {
				return fail("setting the TTL", err)
			}
		}
		// ICMP_FILTER: deliver only echo replies, unreachables and time
		// exceeded to this socket.
		mask := ^uint32(1<<pnICMPEchoReply | 1<<pnICMPDestUnreach | 1<<pnICMPTimeExceeded)
		if err := unix.SetsockoptInt(fd, unix.SOL_RAW, 1, int(int32(mask))); err != nil {
			return fail("setting ICMP_FILTER", err)
		}
	}
	if opt.Source.IsValid() {
		if err := unix.Bind(fd, pnSockaddr(netip.AddrPortFrom(opt.Source, 0))); err != nil {
			return fail(fmt.Sprintf("binding to %s", opt.Source), err)
		}
	}
	return fd, nil
}

type pnPinger struct {
	fd     int
	id     int
	dst    netip.Addr
	v6     bool
	opt    PingOptions
	sentAt map[int]time.Time
	got    map[int]*PingReply
}

func (s *pnPinger) run() {
	next := time.Now()
	seq := 0
	var last time.Time
	for {
		now := time.Now()
		if seq < s.opt.Count && !now.Before(next) {
			seq++
			s.send(seq)
			next = now.Add(s.opt.Interval)
			if seq == s.opt.Count {
				last = now
			}
		}
		if seq == s.opt.Count && len(s.got) == s.opt.Count {
			return
		}
		deadline := next
		if seq == s.opt.Count {
			deadline = last.Add(s.opt.Timeout)
			if !time.Now().Before(deadline) {
				return
			}
		}
		s.receive(deadline)
	}
}

func (s *pnPinger) send(seq int) {
	msg := make([]byte, 8+s.opt.Size)
	msg[0] = pnICMPEcho
	if s.v6 {
		msg[0] = pnICMP6Echo
	}
	binary.BigEndian.PutUint16(msg[4:6], uint16(s.id))
	binary.BigEndian.PutUint16(msg[6:8], uint16(seq))
	for i := 8; i < len(msg); i++ {
		msg[i] = byte(i)
	}
	if !s.v6 {
		binary.BigEndian.PutUint16(msg[2:4], pnChecksum(msg))
	}
	s.sentAt[seq] = time.Now()
	err := unix.Sendto(s.fd, msg, 0, pnSockaddr(netip.AddrPortFrom(s.dst, 0)))
	if err == nil {
		return
	}
	r := &PingReply{Seq: seq, Kind: PingLocalError}
	if errno, ok := err.(unix.Errno); ok {
		r.Errno = pnErrnoName(errno)
	} else {
		r.Errno = err.Error()
	}
	if e, ok := pnReadErrQueue(s.fd); ok && e.MTU > 0 {
		r.MTU = e.MTU
	}
	s.got[seq] = r
}

// receive waits until the deadline for one of our answers, and records
// the first answer to each request.
func (s *pnPinger) receive(deadline time.Time) {
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for {
		rev, ok, err := pnPoll(s.fd, unix.POLLIN, deadline)
		if err != nil || !ok {
			return
		}
		if rev&unix.POLLERR != 0 {
			pnReadErrQueue(s.fd) // a local error already reported by sendto
		}
		n, oobn, _, from, err := unix.Recvmsg(s.fd, buf, oob, unix.MSG_DONTWAIT)
		if err != nil {
			continue
		}
		at := time.Now()
		var p pnICMPPacket
		if s.v6 {
			p, ok = pnParseICMPv6(buf[:n], pnAddrPortOf(from).Addr())
			p.TTL = pnHopLimit(oob[:oobn])
		} else {
			p, ok = pnParseICMPv4(buf[:n])
		}
		if !ok {
			continue
		}
		if s.match(p, at) {
			return
		}
	}
}

func (s *pnPinger) match(p pnICMPPacket, at time.Time) bool {
	var r *PingReply
	echoReply := (!s.v6 && p.Type == pnICMPEchoReply) || (s.v6 && p.Type == pnICMP6EchoReply)
	switch {
	case echoReply:
		if p.ID != s.id || p.From != s.dst {
			return false
		}
		r = &PingReply{Seq: p.Seq, Kind: PingEchoReply, From: p.From, TTL: p.TTL, Bytes: p.Size}
	case p.Quoted:
		wantProto := unix.IPPROTO_ICMP
		if s.v6 {
			wantProto = unix.IPPROTO_ICMPV6
		}
		if p.QProto != wantProto || p.QSrcPort != s.id || p.QDst != s.dst {
			return false
		}
		r = &PingReply{Seq: p.QDstPort, From: p.From, Type: p.Type, Code: p.Code, TTL: p.TTL, Bytes: p.Size,
			Name: pnICMPName(s.v6, p.Type, p.Code)}
		switch {
		case (!s.v6 && p.Type == pnICMPDestUnreach && p.Code == 4) || (s.v6 && p.Type == pnICMP6PacketTooBig):
			r.Kind, r.MTU = PingFragNeeded, p.MTU
		case (!s.v6 && p.Type == pnICMPTimeExceeded) || (s.v6 && p.Type == pnICMP6TimeExceeded):
			r.Kind = PingTimeExceeded
		default:
			r.Kind = PingDestUnreach
		}
	default:
		return false
	}
	sent, ok := s.sentAt[r.Seq]
	if !ok {
		return false
	}
	if _, dup := s.got[r.Seq]; dup {
		return false
	}
	r.RTT = at.Sub(sent)
	s.got[r.Seq] = r
	return true
}

// pnHopLimit reads IPV6_HOPLIMIT from control messages, -1 if absent.
func pnHopLimit(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_HOPLIMIT && len(m.Data) >= 4 {
			return int(binary.NativeEndian.Uint32(m.Data))
		}
	}
	return -1
}
