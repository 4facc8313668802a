package probe

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ICMPError is an ICMP error that the kernel tied to one of our sockets:
// read from the socket's error queue (IP_RECVERR), or matched by a raw
// ICMP listener against the packet it quotes.
type ICMPError struct {
	// From is the address that sent the ICMP error (the offender): a
	// router, the destination, or one of our own addresses when the kernel
	// generated the error locally (a neighbour that never answered ARP).
	From netip.Addr `json:"from"`
	// Local is true when the error never crossed the wire (SO_EE_ORIGIN_LOCAL).
	Local bool `json:"local,omitempty"`
	Type  int  `json:"type"`
	Code  int  `json:"code"`
	V6    bool `json:"v6,omitempty"`
	// MTU is the next-hop MTU of a "fragmentation needed" (IPv4) or
	// "packet too big" (IPv6) error, or the local MTU of a local EMSGSIZE.
	MTU   int        `json:"mtu,omitempty"`
	Errno unix.Errno `json:"errno"`
	Name  string     `json:"name"` // "port-unreachable", "time-exceeded", ...
}

func (e ICMPError) String() string {
	return fmt.Sprintf("%s (type %d code %d) from %s", e.Name, e.Type, e.Code, pnStr(e.From))
}

// ICMPv4 and ICMPv6 types and codes the probes classify.
const (
	pnICMPEchoReply    = 0
	pnICMPDestUnreach  = 3
	pnICMPEcho         = 8
	pnICMPTimeExceeded = 11

	pnICMP6DestUnreach  = 1
	pnICMP6PacketTooBig = 2
	pnICMP6TimeExceeded = 3
	pnICMP6Echo         = 128
	pnICMP6EchoReply    = 129
)

// pnICMPName names an ICMP type and code the way iptables' REJECT
// --reject-with and ping do.
func pnICMPName(v6 bool, typ, code int) string {
	if v6 {
		switch typ {
		case pnICMP6DestUnreach:
			switch code {
			case 0:
				return "no-route"
			case 1:
				return "admin-prohibited"
			case 3:
				return "addr-unreachable"
			case 4:
				return "port-unreachable"
			case 5:
				return "policy-fail"
			case 6:
				return "reject-route"
			}
			return "dest-unreachable"
		case pnICMP6PacketTooBig:
			return "packet-too-big"
		case pnICMP6TimeExceeded:
			return "time-exceeded"
		case pnICMP6EchoReply:
			return "echo-reply"
		}
		return fmt.Sprintf("icmp6-type-%d", typ)
	}
	switch typ {
	case pnICMPDestUnreach:
		switch code {
		case 0:
			return "net-unreachable"
		case 1:
			return "host-unreachable"
		case 2:
			return "protocol-unreachable"
		case 3:
			return "port-unreachable"
		case 4:
			return "fragmentation-needed"
		case 6:
			return "net-unknown"
		case 7:
			return "host-unknown"
		case 9:
			return "net-prohibited"
		case 10:
			return "host-prohibited"
		case 13:
			return "admin-prohibited"
		}
		return "dest-unreachable"
	case pnICMPTimeExceeded:
		return "time-exceeded"
	case pnICMPEchoReply:
		return "echo-reply"
	}
	return fmt.Sprintf("icmp-type-%d", typ)
}

// pnReadErrQueue reads one entry of a socket's error queue (IP_RECVERR or
// IPV6_RECVERR must be set). ok is false when the queue is empty.
func pnReadErrQueue(fd int) (ICMPError, bool) {
	buf := make([]byte, 2048)
	oob := make([]byte, 512)
	_, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
	if err != nil {
		return ICMPError{}, false
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return ICMPError{}, false
	}
	for _, m := range msgs {
		v4 := m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR
		v6 := m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR
		if !v4 && !v6 {
			continue
		}
		var ee unix.SockExtendedErr
		sz := int(unsafe.Sizeof(ee))
		if len(m.Data) < sz {
			continue
		}
		ee = *(*unix.SockExtendedErr)(unsafe.Pointer(&m.Data[0]))
		e := ICMPError{
			Type:  int(ee.Type),
			Code:  int(ee.Code),
			Errno: unix.Errno(ee.Errno),
			Local: ee.Origin == unix.SO_EE_ORIGIN_LOCAL,
			V6:    ee.Origin == unix.SO_EE_ORIGIN_ICMP6 || v6,
		}
		e.From = pnSockaddrAddr(m.Data[sz:])
		switch {
		case e.Local:
			e.Name = "local-error"
			if e.Errno == unix.EMSGSIZE {
				e.MTU = int(ee.Info)
			}
		default:
			e.Name = pnICMPName(ee.Origin == unix.SO_EE_ORIGIN_ICMP6, e.Type, e.Code)
			if (!e.V6 && e.Type == pnICMPDestUnreach && e.Code == 4) || (e.V6 && e.Type == pnICMP6PacketTooBig) {
				e.MTU = int(ee.Info)
			}
		}
		return e, true
	}
	return ICMPError{}, false
}

// pnSockaddrAddr decodes the address of a raw struct sockaddr_in or
// sockaddr_in6 (SO_EE_OFFENDER).
func pnSockaddrAddr(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) >= 8 {
			return netip.AddrFrom4([4]byte(b[4:8]))
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			return netip.AddrFrom16([16]byte(b[8:24]))
		}
	}
	return netip.Addr{}
}

// pnSockaddr converts an address and port into a unix.Sockaddr.
func pnSockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

func pnAddrPortOf(sa unix.Sockaddr) netip.AddrPort {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(s.Addr), uint16(s.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(s.Addr).Unmap(), uint16(s.Port))
	}
	return netip.AddrPort{}
}

// pnPoll waits until fd has one of events, the deadline passes (ok is
// false), or poll fails.
func pnPoll(fd int, events int16, deadline time.Time) (revents int16, ok bool, err error) {
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return 0, false, nil
		}
		ms := int(left / time.Millisecond)
		if ms == 0 {
			ms = 1
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		if n > 0 {
			return fds[0].Revents, true, nil
		}
	}
}

// pnICMPPacket is an ICMP message read from a raw socket, with the header
// of the packet it quotes when it is an error.
type pnICMPPacket struct {
	From     netip.Addr
	TTL      int // of the IPv4 packet carrying the ICMP message; -1 when unknown
	Type     int
	Code     int
	V6       bool
	ID, Seq  int  // echo request/reply identifier and sequence
	MTU      int  // fragmentation needed / packet too big
	Size     int  // ICMP message length
	Quoted   bool // an error quoting an original packet
	QProto   int  // protocol of the quoted packet
	QSrc     netip.Addr
	QDst     netip.Addr
	QSrcPort int // quoted UDP/TCP ports, or the echo ID of a quoted echo
	QDstPort int // quoted destination port, or the echo sequence
	QTTL     int // TTL left in the quoted packet
	QLen     int // total length of the quoted original packet
}

// pnParseICMPv4 parses an IPv4 packet (header included, as a raw IPv4
// ICMP socket delivers it).
func pnParseICMPv4(b []byte) (pnICMPPacket, bool) {
	var p pnICMPPacket
	if len(b) < 20 || b[0]>>4 != 4 {
		return p, false
	}
	ihl := int(b[0]&0x0f) * 4
	if len(b) < ihl+8 || b[9] != unix.IPPROTO_ICMP {
		return p, false
	}
	p.From = netip.AddrFrom4([4]byte(b[12:16]))
	p.TTL = int(b[8])
	m := b[ihl:]
	p.Size = len(m)
	p.Type, p.Code = int(m[0]), int(m[1])
	switch p.Type {
	case pnICMPEchoReply, pnICMPEcho:
		p.ID = int(binary.BigEndian.Uint16(m[4:6]))
		p.Seq = int(binary.BigEndian.Uint16(m[6:8]))
	case pnICMPDestUnreach, pnICMPTimeExceeded:
		if p.Type == pnICMPDestUnreach && p.Code == 4 {
			p.MTU = int(binary.BigEndian.Uint16(m[6:8]))
		}
		q := m[8:]
		if len(q) < 28 || q[0]>>4 != 4 {
			return p, true
		}
		qihl := int(q[0]&0x0f) * 4
		if len(q) < qihl+8 {
			return p, true
		}
		p.Quoted = true
		p.QLen = int(binary.BigEndian.Uint16(q[2:4]))
		p.QTTL = int(q[8])
		p.QProto = int(q[9])
		p.QSrc = netip.AddrFrom4([4]byte(q[12:16]))
		p.QDst = netip.AddrFrom4([4]byte(q[16:20]))
		l4 := q[qihl:]
		switch p.QProto {
		case unix.IPPROTO_ICMP:
			p.QSrcPort = int(binary.BigEndian.Uint16(l4[4:6])) // echo ID
			p.QDstPort = int(binary.BigEndian.Uint16(l4[6:8])) // echo seq
		default:
			p.QSrcPort = int(binary.BigEndian.Uint16(l4[0:2]))
			p.QDstPort = int(binary.BigEndian.Uint16(l4[2:4]))
		}
	}
	return p, true
}

// pnParseICMPv6 parses an ICMPv6 message (a raw ICMPv6 socket delivers it
// without the IPv6 header).
func pnParseICMPv6(m []byte, from netip.Addr) (pnICMPPacket, bool) {
	p := pnICMPPacket{From: from, V6: true, TTL: -1}
	if len(m) < 8 {
		return p, false
	}
	p.Size = len(m)
	p.Type, p.Code = int(m[0]), int(m[1])
	switch p.Type {
	case pnICMP6EchoReply, pnICMP6Echo:
		p.ID = int(binary.BigEndian.Uint16(m[4:6]))
		p.Seq = int(binary.BigEndian.Uint16(m[6:8]))
	case pnICMP6DestUnreach, pnICMP6TimeExceeded, pnICMP6PacketTooBig:
		if p.Type == pnICMP6PacketTooBig {
			p.MTU = int(binary.BigEndian.Uint32(m[4:8]))
		}
		q := m[8:]
		if len(q) < 48 || q[0]>>4 != 6 {
			return p, true
		}
		p.Quoted = true
		p.QLen = int(binary.BigEndian.Uint16(q[4:6])) + 40
		p.QProto = int(q[6])
		p.QTTL = int(q[7])
		p.QSrc = netip.AddrFrom16([16]byte(q[8:24]))
		p.QDst = netip.AddrFrom16([16]byte(q[24:40]))
		l4 := q[40:]
		switch p.QProto {
		case unix.IPPROTO_ICMPV6:
			p.QSrcPort = int(binary.BigEndian.Uint16(l4[4:6]))
			p.QDstPort = int(binary.BigEndian.Uint16(l4[6:8]))
		default:
			p.QSrcPort = int(binary.BigEndian.Uint16(l4[0:2]))
			p.QDstPort = int(binary.BigEndian.Uint16(l4[2:4]))
		}
	}
	return p, true
}

// pnChecksum is the Internet checksum (RFC 1071).
func pnChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
