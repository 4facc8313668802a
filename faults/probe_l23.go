package faults

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"golang.org/x/sys/unix"
)

// Small observers for the link and network faults: ICMP echo, TCP
// reachability and kernel counters through the probe engine, and what it
// lacks: ARP requests over a packet socket and namespace sysctls. Every
// socket is created inside the host's namespace (sandbox.Netns.Do) and
// used from outside it; no tool output is parsed.

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

// pingMany sends n echo requests in a quick burst from a host with the
// probe engine and reduces the answer to each to a pingResult.
func pingMany(ns *sandbox.Netns, dst netip.Addr, o pingOpts, n int) ([]pingResult, error) {
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	pr, err := probe.Ping(ns, dst, probe.PingOptions{Count: n, Size: o.Size, DontFragment: o.DF, TTL: o.TTL,
		Interval: time.Millisecond, Timeout: o.Timeout})
	if err != nil {
		return nil, err
	}
	out := make([]pingResult, 0, n)
	for _, r := range pr.Replies {
		res := pingResult{Type: -1, From: r.From}
		switch r.Kind {
		case probe.PingEchoReply:
			res.Reply = true
		case probe.PingLocalError:
			// ENOBUFS is a veth dropping the frame as it leaves (the
			// peer's MTU is smaller): on the wire nothing happens, and
			// ping prints nothing, so neither do we.
			if r.Errno != "ENOBUFS" {
				res.SendErr = errnoByName(r.Errno)
			}
		case probe.PingTimeExceeded:
			res.Type, res.Code = 11, r.Code
		case probe.PingDestUnreach, probe.PingFragNeeded:
			res.Type, res.Code = 3, r.Code
		}
		out = append(out, res)
	}
	for len(out) < n {
		out = append(out, pingResult{Type: -1})
	}
	return out, nil
}

func errnoByName(name string) error {
	for i := 1; i < 256; i++ {
		if unix.ErrnoName(unix.Errno(i)) == name {
			return unix.Errno(i)
		}
	}
	return errors.New(name)
}

// reach is the probe engine's TCP reachability from a host.
func reach(ns *sandbox.Netns, to netip.AddrPort, timeout time.Duration) (probe.ReachResult, error) {
	return probe.Reach(ns, to, probe.ReachOptions{Timeout: timeout})
}

// counter reads a kernel counter of a host as nstat names it, such as
// TcpExtIPReversePathFilter.
func counter(ns *sandbox.Netns, name string) (uint64, error) {
	c, err := probe.SNMP(ns)
	if err != nil {
		return 0, err
	}
	return c.Get(name), nil
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
