package faults

// Small observers for the link and network faults: ICMP echo with a
// chosen size, TTL and DF bit over a raw socket, ARP requests over a
// packet socket, TCP dials, sysctls and kernel counters. Every socket is
// created inside the host's namespace (sandbox.Netns.Do) and used from
// outside it; no tool output is parsed.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"golang.org/x/sys/unix"
)

// pingOpts shapes one echo request.
type pingOpts struct {
	Size    int           // ICMP payload bytes, as ping -s (default 56)
	DF      bool          // set Don't Fragment, as ping -M do
	TTL     int           // 0 for the default
	Timeout time.Duration // default 1s
}

// pingResult is what came back for one echo request.
type pingResult struct {
	Reply   bool       // an echo reply from the target
	From    netip.Addr // who sent the reply or the ICMP error
	Type    int        // ICMP type of an error (3 unreachable, 11 time exceeded), -1 for none
	Code    int
	SendErr error // the kernel refused to send (ENETUNREACH, EMSGSIZE, ...)
}

// Silent is true when nothing at all came back.
func (r pingResult) Silent() bool { return !r.Reply && r.Type < 0 && r.SendErr == nil }

func (r pingResult) String() string {
	switch {
	case r.SendErr != nil:
		return "send failed: " + r.SendErr.Error()
	case r.Reply:
		return "echo reply from " + r.From.String()
	case r.Type >= 0:
		return fmt.Sprintf("ICMP %s from %s", icmpName(r.Type, r.Code), r.From)
	}
	return "no answer"
}

func icmpName(typ, code int) string {
	switch {
	case typ == 3 && code == 0:
		return "net unreachable"
	case typ == 3 && code == 1:
		return "host unreachable"
	case typ == 3 && code == 3:
		return "port unreachable"
	case typ == 3 && code == 4:
		return "fragmentation needed"
	case typ == 3 && code == 13:
		return "administratively prohibited"
	case typ == 11:
		return "time exceeded"
	}
	return fmt.Sprintf("type %d code %d", typ, code)
}

// ping sends one ICMP echo request from a host and classifies the answer.
func ping(ns *sandbox.Netns, dst netip.Addr, o pingOpts) (pingResult, error) {
	rs, err := pingMany(ns, dst, o, 1)
	if err != nil {
		return pingResult{Type: -1}, err
	}
	return rs[0], nil
}

// pingMany sends n echo requests at once from a host (sequence numbers
// 0..n-1, one socket) and collects the answer to each until the timeout.
func pingMany(ns *sandbox.Netns, dst netip.Addr, o pingOpts, n int) ([]pingResult, error) {
	res := make([]pingResult, n)
	for i := range res {
		res[i].Type = -1
	}
	if o.Size == 0 {
		o.Size = 56
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	var fd int
	err := ns.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening an ICMP socket in namespace %q: %w", ns.Name(), err)
	}
	defer unix.Close(fd)
	pmtu := unix.IP_PMTUDISC_DONT
	if o.DF {
		pmtu = unix.IP_PMTUDISC_DO
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, pmtu); err != nil {
		return nil, fmt.Errorf("setting IP_MTU_DISCOVER: %w", err)
	}
	if o.TTL > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, o.TTL); err != nil {
			return nil, fmt.Errorf("setting IP_TTL: %w", err)
		}
	}
	id := uint16(rand.IntN(1 << 16))
	to := &unix.SockaddrInet4{Addr: dst.As4()}
	pending := 0
	for seq := range n {
		msg := make([]byte, 8+o.Size)
		msg[0] = 8
		binary.BigEndian.PutUint16(msg[4:], id)
		binary.BigEndian.PutUint16(msg[6:], uint16(seq))
		for i := 8; i < len(msg); i++ {
			msg[i] = byte(i)
		}
		binary.BigEndian.PutUint16(msg[2:], checksum(msg))
		if err := unix.Sendto(fd, msg, 0, to); err != nil {
			res[seq].SendErr = err
			continue
		}
		pending++
	}
	deadline := time.Now().Add(o.Timeout)
	buf := make([]byte, 65536)
	for pending > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, fmt.Errorf("setting a receive timeout: %w", err)
		}
		nr, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			// EAGAIN is the timeout; any other error is a pending socket
			// error (an ICMP error turned into errno), reported once,
			// while the ICMP packet itself still arrives.
			continue
		}
		src, ok := from.(*unix.SockaddrInet4)
		if !ok {
			continue
		}
		typ, code, body, ok := parseICMP(buf[:nr])
		if !ok {
			continue
		}
		var seq int
		switch typ {
		case 0:
			if len(body) < 4 || binary.BigEndian.Uint16(body[0:]) != id {
				continue
			}
			seq = int(binary.BigEndian.Uint16(body[2:]))
			if seq >= n || res[seq].Reply || res[seq].Type >= 0 {
				continue
			}
			res[seq].Reply, res[seq].From = true, netip.AddrFrom4(src.Addr)
		case 3, 11, 12:
			// body: 4 unused bytes, then the offending IP header and 8 bytes.
			if len(body) < 4 {
				continue
			}
			etyp, _, ebody, ok := parseICMP(body[4:])
			if !ok || etyp != 8 || len(ebody) < 4 || binary.BigEndian.Uint16(ebody[0:]) != id {
				continue
			}
			seq = int(binary.BigEndian.Uint16(ebody[2:]))
			if seq >= n || res[seq].Reply || res[seq].Type >= 0 {
				continue
			}
			res[seq].Type, res[seq].Code, res[seq].From = typ, code, netip.AddrFrom4(src.Addr)
		default:
			continue
		}
		pending--
	}
	return res, nil
}

// parseICMP takes an IPv4 packet carrying ICMP and returns the ICMP type,
// code and the bytes after the first four of the ICMP header.
func parseICMP(p []byte) (typ, code int, body []byte, ok bool) {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_ICMP {
		return 0, 0, nil, false
	}
	ihl := int(p[0]&0x0f) * 4
	if len(p) < ihl+8 {
		return 0, 0, nil, false
	}
	return int(p[ihl]), int(p[ihl+1]), p[ihl+4:], true
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// dial opens a TCP connection from a host and closes it; the error is the
// kernel's (ECONNREFUSED, EHOSTUNREACH, EADDRNOTAVAIL, a timeout, ...).
func dial(ns *sandbox.Netns, to netip.AddrPort, timeout time.Duration) error {
	var conn net.Conn
	err := ns.Do(func() error {
		var err error
		d := net.Dialer{Timeout: timeout}
		conn, err = d.Dial("tcp4", to.String())
		return err
	})
	if conn != nil {
		conn.Close()
	}
	return err
}

// sysctl reads a namespace sysctl such as net.ipv4.ip_forward.
func sysctl(ns *sandbox.Netns, key string) (string, error) {
	var v []byte
	err := ns.Do(func() error {
		var err error
		v, err = os.ReadFile(sysctlPath(key))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("reading sysctl %s in namespace %q: %w", key, ns.Name(), err)
	}
	return strings.Join(strings.Fields(string(v)), " "), nil
}

// setSysctl writes a namespace sysctl.
func setSysctl(ns *sandbox.Netns, key, value string) error {
	if !strings.HasPrefix(key, "net.") {
		return fmt.Errorf("refusing sysctl %q: only net.* sysctls belong to a namespace", key)
	}
	err := ns.Do(func() error { return os.WriteFile(sysctlPath(key), []byte(value+"\n"), 0) })
	if err != nil {
		return fmt.Errorf("setting sysctl %s=%s in namespace %q: %w", key, value, ns.Name(), err)
	}
	return nil
}

func sysctlPath(key string) string {
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

// flushRouteCache drops cached path MTUs and redirects, as
// `ip route flush cache`.
func flushRouteCache(ns *sandbox.Netns) error {
	return setSysctl(ns, "net.ipv4.route.flush", "1")
}

// counter reads a kernel SNMP counter such as TcpExt:IPReversePathFilter
// or Icmp:OutTimeExcds from the host's /proc/net/netstat and snmp.
func counter(ns *sandbox.Netns, name string) (int64, error) {
	group, field, ok := strings.Cut(name, ":")
	if !ok {
		return 0, fmt.Errorf("counter %q is not GROUP:FIELD", name)
	}
	var files [][]byte
	err := ns.Do(func() error {
		// /proc/net follows the main thread; thread-self follows this one.
		for _, f := range []string{"/proc/thread-self/net/netstat", "/proc/thread-self/net/snmp"} {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			files = append(files, b)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading counters in namespace %q: %w", ns.Name(), err)
	}
	for _, b := range files {
		sc := bufio.NewScanner(bytes.NewReader(b))
		var head []string
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 0 || fields[0] != group+":" {
				continue
			}
			if head == nil {
				head = fields
				continue
			}
			for i := 1; i < len(head) && i < len(fields); i++ {
				if head[i] == field {
					return strconv.ParseInt(fields[i], 10, 64)
				}
			}
			head = nil
		}
	}
	return 0, fmt.Errorf("no counter %s in namespace %q", name, ns.Name())
}

// arpWho sends an ARP request for addr out of dev and returns the
// distinct MAC addresses that answer within the wait, as `arping -D`.
func arpWho(ns *sandbox.Netns, dev string, addr netip.Addr, wait time.Duration) ([]net.HardwareAddr, error) {
	ifc, fd, err := arpSocket(ns, dev)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// Sender 0.0.0.0, as a duplicate address probe: no cache is changed.
	if err := sendARP(fd, ifc, 1, netip.IPv4Unspecified(), addr, net.HardwareAddr{0, 0, 0, 0, 0, 0}); err != nil {
		return nil, err
	}
	var macs []net.HardwareAddr
	deadline := time.Now().Add(wait)
	buf := make([]byte, 1500)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return macs, nil
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, err
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		p := buf[:n]
		// ARP over Ethernet: op at 6, sender MAC at 8, sender IP at 14.
		if len(p) < 28 || binary.BigEndian.Uint16(p[6:]) != 2 || netip.AddrFrom4([4]byte(p[14:18])) != addr {
			continue
		}
		mac := net.HardwareAddr(bytes.Clone(p[8:14]))
		seen := false
		for _, m := range macs {
			seen = seen || bytes.Equal(m, mac)
		}
		if !seen {
			macs = append(macs, mac)
		}
	}
}

// announce sends gratuitous ARP requests for addr from dev, so that the
// neighbours' caches take dev's MAC for it (as `arping -U`).
func announce(ns *sandbox.Netns, dev string, addr netip.Addr) error {
	ifc, fd, err := arpSocket(ns, dev)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for range 2 {
		if err := sendARP(fd, ifc, 1, addr, addr, net.HardwareAddr{0, 0, 0, 0, 0, 0}); err != nil {
			return err
		}
		if err := sendARP(fd, ifc, 2, addr, addr, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}); err != nil {
			return err
		}
	}
	return nil
}

func arpSocket(ns *sandbox.Netns, dev string) (*net.Interface, int, error) {
	var (
		ifc *net.Interface
		fd  int
	)
	err := ns.Do(func() error {
		var err error
		if ifc, err = net.InterfaceByName(dev); err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, -1, fmt.Errorf("opening an ARP socket on %q in namespace %q: %w", dev, ns.Name(), err)
	}
	return ifc, fd, nil
}

func sendARP(fd int, ifc *net.Interface, op uint16, sender, target netip.Addr, targetMAC net.HardwareAddr) error {
	p := make([]byte, 28)
	binary.BigEndian.PutUint16(p[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(p[2:], 0x0800) // IPv4
	p[4], p[5] = 6, 4
	binary.BigEndian.PutUint16(p[6:], op)
	copy(p[8:14], ifc.HardwareAddr)
	s4, t4 := sender.As4(), target.As4()
	copy(p[14:18], s4[:])
	copy(p[18:24], targetMAC)
	copy(p[24:28], t4[:])
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifc.Index, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(fd, p, 0, to); err != nil {
		return fmt.Errorf("sending ARP on %q: %w", ifc.Name, err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// poll calls fn until it returns nil or the deadline passes, and returns
// its last error.
func poll(d time.Duration, fn func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
