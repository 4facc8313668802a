package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// This file speaks sock_diag (NETLINK_SOCK_DIAG, the interface `ss` uses)
// directly: one request per protocol and address family, the state set and
// a bytecode filter for ports and addresses evaluated by the kernel, and a
// hand-written decoder that turns each inet_diag_msg into a Socket without
// intermediate copies.

const (
	scSockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY

	scSizeofReqV2   = 56 // struct inet_diag_req_v2
	scSizeofDiagMsg = 72 // struct inet_diag_msg

	scInetDiagReqBytecode = 1  // INET_DIAG_REQ_BYTECODE
	scInetDiagInfo        = 2  // INET_DIAG_INFO
	scInetDiagSkV6Only    = 11 // INET_DIAG_SKV6ONLY

	// inet_diag bytecode operations (include/uapi/linux/inet_diag.h).
	scBcJmp   = 1
	scBcSGe   = 2
	scBcSLe   = 3
	scBcSCond = 7
	scBcDCond = 8
	scBcSEq   = 11
	scBcDEq   = 12
)

// scDiagRequest is one sock_diag dump request.
type scDiagRequest struct {
	family   uint8
	protocol uint8
	states   uint32
	tcpInfo  bool
	bytecode []byte
}

// scMarshal builds the netlink message: header, inet_diag_req_v2 and the
// optional bytecode attribute.
func (r scDiagRequest) scMarshal(seq uint32) []byte {
	attrLen := 0
	if len(r.bytecode) > 0 {
		attrLen = unix.NLA_HDRLEN + len(r.bytecode)
	}
	total := unix.NLMSG_HDRLEN + scSizeofReqV2 + scAlign4(attrLen)
	b := make([]byte, total)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(total))
	ne.PutUint16(b[4:], scSockDiagByFamily)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(b[8:], seq)
	req := b[unix.NLMSG_HDRLEN:]
	req[0] = r.family
	req[1] = r.protocol
	if r.tcpInfo {
		req[2] = 1 << (scInetDiagInfo - 1)
	}
	ne.PutUint32(req[4:], r.states)
	if attrLen > 0 {
		a := req[scSizeofReqV2:]
		ne.PutUint16(a[0:], uint16(attrLen))
		ne.PutUint16(a[2:], scInetDiagReqBytecode)
		copy(a[unix.NLA_HDRLEN:], r.bytecode)
	}
	return b
}

func scAlign4(n int) int { return (n + 3) &^ 3 }

// scDiagConn is a NETLINK_SOCK_DIAG socket. It is created inside the
// target's namespace and answers for that namespace from any thread.
type scDiagConn struct {
	fd  int
	seq uint32
	buf []byte
}

func scOpenDiag(t Target) (*scDiagConn, error) {
	cs, err := scOpenDiags(t, 1)
	if err != nil {
		return nil, err
	}
	return cs[0], nil
}

// scOpenDiags opens n sock_diag sockets in the target with one namespace
// entry, so that independent dumps can run in parallel.
func scOpenDiags(t Target, n int) ([]*scDiagConn, error) {
	cs := make([]*scDiagConn, 0, n)
	closeAll := func() {
		for _, c := range cs {
			c.Close()
		}
	}
	err := t.Do(func() error {
		for i := 0; i < n; i++ {
			fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
			if err != nil {
				return err
			}
			cs = append(cs, &scDiagConn{fd: fd})
		}
		return nil
	})
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("opening sock_diag socket on %s: %w", t.Name(), err)
	}
	for _, c := range cs {
		if err := unix.Bind(c.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			closeAll()
			return nil, fmt.Errorf("binding sock_diag socket on %s: %w", t.Name(), err)
		}
		// A larger receive buffer lets the kernel put more sockets in
		// each read; failure only costs speed.
		_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
		c.buf = make([]byte, 1<<16)
	}
	return cs, nil
}

// dumpRaw collects the answers to one request as length-prefixed
// inet_diag messages in one pointer-free buffer, and counts them, so that
// the caller can size the table once.
func (c *scDiagConn) dumpRaw(r scDiagRequest, raw []byte) ([]byte, int, error) {
	n := 0
	err := c.dump(r, func(msg, attrs []byte) {
		n++
		raw = binary.NativeEndian.AppendUint32(raw, uint32(len(msg)+len(attrs)))
		raw = append(raw, msg...)
		raw = append(raw, attrs...)
	})
	return raw, n, err
}

// scDecodeRaw decodes what dumpRaw collected into socks.
func scDecodeRaw(raw []byte, proto string, socks []Socket) {
	ne := binary.NativeEndian
	for i := 0; len(raw) >= 4 && i < len(socks); i++ {
		l := int(ne.Uint32(raw))
		body := raw[4 : 4+l]
		raw = raw[4+l:]
		scDecodeSocket(&socks[i], proto, body[:scSizeofDiagMsg], body[scSizeofDiagMsg:])
	}
}

func (c *scDiagConn) Close() error {
	if c == nil || c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// dump sends one request and calls fn for every inet_diag_msg with its
// attributes. The slices passed to fn are only valid during the call.
func (c *scDiagConn) dump(r scDiagRequest, fn func(msg, attrs []byte)) error {
	c.seq++
	seq := c.seq
	if err := unix.Sendto(c.fd, r.scMarshal(seq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending sock_diag request: %w", err)
	}
	ne := binary.NativeEndian
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("reading sock_diag answer: %w", err)
		}
		b := c.buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(ne.Uint32(b[0:]))
			typ := ne.Uint16(b[4:])
			mseq := ne.Uint32(b[8:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("reading sock_diag answer: truncated message")
			}
			body := b[unix.NLMSG_HDRLEN:l]
			next := scAlign4(l)
			if next > len(b) {
				next = len(b)
			}
			b = b[next:]
			if mseq != seq {
				continue
			}
			switch typ {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(body) >= 4 {
					if e := int32(ne.Uint32(body)); e != 0 {
						return fmt.Errorf("sock_diag request refused: %w", unix.Errno(-e))
					}
				}
				return nil
			case scSockDiagByFamily:
				if len(body) < scSizeofDiagMsg {
					continue
				}
				fn(body[:scSizeofDiagMsg], body[scSizeofDiagMsg:])
			}
		}
	}
}

// scDecodeSocket fills s from one inet_diag_msg and its attributes.
func scDecodeSocket(s *Socket, proto string, msg, attrs []byte) {
	ne := binary.NativeEndian
	family := msg[0]
	s.Proto = proto
	s.State = SocketState(msg[1])
	if family == unix.AF_INET6 {
		s.Family = "inet6"
	} else {
		s.Family = "inet"
	}
	id := msg[4:52]
	sport := binary.BigEndian.Uint16(id[0:])
	dport := binary.BigEndian.Uint16(id[2:])
	s.Local = netip.AddrPortFrom(scDiagAddr(family, id[4:20]), sport)
	s.Remote = netip.AddrPortFrom(scDiagAddr(family, id[20:36]), dport)
	s.Interface = int(ne.Uint32(id[36:]))
	s.Timer = SocketTimer{}
	if timer := msg[2]; timer != 0 {
		s.Timer = SocketTimer{
			Kind:    scTimerName(timer),
			Expires: time.Duration(ne.Uint32(msg[52:])) * time.Millisecond,
			Retrans: int(msg[3]),
		}
	}
	s.RecvQ = ne.Uint32(msg[56:])
	s.SendQ = ne.Uint32(msg[60:])
	s.UID = ne.Uint32(msg[64:])
	s.Inode = ne.Uint32(msg[68:])
	s.TCP = nil
	s.V6Only = false
	for len(attrs) >= unix.NLA_HDRLEN {
		l := int(ne.Uint16(attrs[0:]))
		typ := ne.Uint16(attrs[2:]) & 0x3fff
		if l < unix.NLA_HDRLEN || l > len(attrs) {
			break
		}
		if typ == scInetDiagInfo && proto == "tcp" {
			s.TCP = scDecodeTCPInfo(attrs[unix.NLA_HDRLEN:l])
		}
		if typ == scInetDiagSkV6Only && l > unix.NLA_HDRLEN {
			s.V6Only = attrs[unix.NLA_HDRLEN] != 0
		}
		next := scAlign4(l)
		if next > len(attrs) {
			break
		}
		attrs = attrs[next:]
	}
}

func scDiagAddr(family uint8, b []byte) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16([16]byte(b[:16]))
}

func scTimerName(t uint8) string {
	switch t {
	case 1:
		return "on"
	case 2:
		return "keepalive"
	case 3:
		return "timewait"
	case 4:
		return "persist"
	}
	return "unknown"
}

// scDecodeTCPInfo reads the fields of struct tcp_info that operators use.
func scDecodeTCPInfo(b []byte) *TCPInfo {
	if len(b) < 104 {
		return nil
	}
	ne := binary.NativeEndian
	return &TCPInfo{
		Retransmits:      int(b[2]),
		RTO:              time.Duration(ne.Uint32(b[8:])) * time.Microsecond,
		SndMSS:           ne.Uint32(b[16:]),
		RcvMSS:           ne.Uint32(b[20:]),
		Unacked:          ne.Uint32(b[24:]),
		Lost:             ne.Uint32(b[32:]),
		RetransOut:       ne.Uint32(b[36:]),
		PMTU:             ne.Uint32(b[60:]),
		RTT:              time.Duration(ne.Uint32(b[68:])) * time.Microsecond,
		RTTVar:           time.Duration(ne.Uint32(b[72:])) * time.Microsecond,
		SndCwnd:          ne.Uint32(b[80:]),
		TotalRetransmits: ne.Uint32(b[100:]),
	}
}

// The bytecode compiler follows ss: a leaf is a comparison that falls
// through on success and jumps past the end of the program on failure;
// AND is concatenation; OR puts a JMP between its branches.

// scBC is a piece of bytecode whose failure jumps are relative to its end:
// every "no" offset that lands at len(code)+4 means "reject".
type scBC []byte

func scPutOp(b []byte, code uint8, yes uint8, no uint16) {
	b[0] = code
	b[1] = yes
	binary.NativeEndian.PutUint16(b[2:], no)
}

// scBCPort is "sport == p" or "dport == p".
func scBCPort(src bool, port uint16) scBC {
	b := make([]byte, 8)
	code := uint8(scBcDEq)
	if src {
		code = scBcSEq
	}
	scPutOp(b, code, 8, 12)
	scPutOp(b[4:], 0, 0, port)
	return b
}

// scBCSportRange is "lo <= sport <= hi".
func scBCSportRange(lo, hi uint16) scBC {
	b := make([]byte, 16)
	scPutOp(b, scBcSGe, 8, 20)
	scPutOp(b[4:], 0, 0, lo)
	scPutOp(b[8:], scBcSLe, 8, 12)
	scPutOp(b[12:], 0, 0, hi)
	return b
}

// scBCAddr is "src in prefix" or "dst in prefix" (any port).
func scBCAddr(src bool, p netip.Prefix) scBC {
	a := p.Addr()
	alen := 4
	fam := uint8(unix.AF_INET)
	if a.Is6() && !a.Is4In6() {
		alen = 16
		fam = unix.AF_INET6
	} else {
		a = a.Unmap()
	}
	size := 4 + 8 + alen // op + hostcond header + address
	b := make([]byte, size)
	code := uint8(scBcDCond)
	if src {
		code = scBcSCond
	}
	scPutOp(b, code, uint8(size), uint16(size+4))
	hc := b[4:]
	hc[0] = fam
	bits := p.Bits()
	if p.Addr().Is4In6() && bits >= 96 {
		bits -= 96
	}
	hc[1] = uint8(bits)
	binary.NativeEndian.PutUint32(hc[4:], 0xffffffff) // port -1: any
	copy(hc[8:], a.AsSlice())
	return b
}

// scBCAnd runs a then b.
func scBCAnd(a, b scBC) scBC {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := make([]byte, len(a)+len(b))
	copy(out, a)
	copy(out[len(a):], b)
	scBCPatchReject(out[:len(a)], len(b))
	return out
}

// scBCOr accepts if a or b accepts.
func scBCOr(a, b scBC) scBC {
	if a == nil || b == nil {
		return nil
	}
	out := make([]byte, len(a)+4+len(b))
	copy(out, a)
	scPutOp(out[len(a):], scBcJmp, 4, uint16(len(b)+4))
	copy(out[len(a)+4:], b)
	return out
}

// scBCPatchReject extends the reject jumps of code by extra bytes, so that
// they still land past the end once more code follows.
func scBCPatchReject(code []byte, extra int) {
	ne := binary.NativeEndian
	for off := 0; off < len(code); {
		op := code[off:]
		no := int(ne.Uint16(op[2:]))
		if off+no == len(code)+4 {
			ne.PutUint16(op[2:], uint16(no+extra))
		}
		switch op[0] {
		case scBcSEq, scBcDEq, scBcSGe, scBcSLe:
			off += 8
		case scBcSCond, scBcDCond:
			if op[4] == unix.AF_INET6 {
				off += 28
			} else {
				off += 16
			}
		default:
			off += 4
		}
	}
}
