package probe

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// CaptureOptions describe a packet capture.
type CaptureOptions struct {
	// Interface is the device to capture on; "" or "any" captures on all
	// of the target's devices (each read as Ethernet: veth, bridges, vxlan
	// and loopback are; see the operator guide for the limits).
	Interface string
	// Filter is a tcpdump filter expression, compiled by libpcap and run
	// by the kernel; "" keeps every packet.
	Filter string
	// Count stops the capture after this many packets (0: no limit).
	Count int
	// Duration stops the capture after this long (0: no limit).
	Duration time.Duration
	// Snaplen is the most bytes kept of each packet (0: DefaultSnaplen).
	Snaplen int
	// Pcap, when set, receives a pcap file (nanosecond timestamps) that
	// tcpdump and Wireshark read.
	Pcap io.Writer
	// OnPacket, when set, is called for each packet; data is only valid
	// during the call.
	OnPacket func(ci gopacket.CaptureInfo, data []byte)
	// RingBytes is the size of the kernel ring (0: 8 MiB).
	RingBytes int
}

// CaptureStats is what a capture saw.
type CaptureStats struct {
	Target    string          `json:"target"`
	Interface string          `json:"interface"`
	Filter    string          `json:"filter"`
	LinkType  layers.LinkType `json:"link_type"`
	// Packets were delivered (written and passed to OnPacket).
	Packets int   `json:"packets"`
	Bytes   int64 `json:"bytes"`
	// KernelPackets passed the filter in the kernel; KernelDrops of them
	// were lost because the ring was full (PACKET_STATISTICS).
	KernelPackets uint64        `json:"kernel_packets"`
	KernelDrops   uint64        `json:"kernel_drops"`
	Took          time.Duration `json:"took_ns"`
}

// Capturer is an open AF_PACKET socket with a TPACKET_V3 ring and the
// filter attached. It is born in the target's namespace; once open,
// packets are queued until Run reads them.
type Capturer struct {
	fd        int
	ring      []byte
	blockSize int
	blockNr   int
	block     int
	opt       CaptureOptions
	prog      *BPFProgram
	stats     CaptureStats
	pcap      *pcapgo.Writer
	pcapBuf   *bufio.Writer
	scratch   []byte
	loIndex   int
	closed    bool
}

// Capture opens a capture on the target and runs it until the count or
// duration is reached or ctx ends.
func Capture(ctx context.Context, t Target, opt CaptureOptions) (*CaptureStats, error) {
	c, err := OpenCapture(t, opt)
	if err != nil {
		return nil, err
	}
	stats, err := c.Run(ctx)
	return stats, errors.Join(err, c.Close())
}

const (
	scTPStatusUser      = 1 << 0 // TP_STATUS_USER
	scTPStatusVLANValid = 1 << 4 // TP_STATUS_VLAN_VALID
	scTPStatusTPIDValid = 1 << 6 // TP_STATUS_VLAN_TPID_VALID
	scTPacket3HdrLen    = 48     // TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
	scARPHRDLoopback    = 772
	scARPHRDNone        = 0xfffe
)

func scHtons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenCapture resolves the interface, compiles the filter and opens the
// socket inside the target. Close releases it.
func OpenCapture(t Target, opt CaptureOptions) (*Capturer, error) {
	if opt.Snaplen <= 0 {
		opt.Snaplen = DefaultSnaplen
	}
	if opt.RingBytes <= 0 {
		opt.RingBytes = 8 << 20
	}
	ifname := opt.Interface
	if ifname == "" {
		ifname = "any"
	}
	c := &Capturer{fd: -1, opt: opt}
	c.stats = CaptureStats{Target: t.Name(), Interface: ifname, Filter: opt.Filter, LinkType: layers.LinkTypeEthernet}
	ifindex := 0
	sockType := unix.SOCK_RAW
	h, err := t.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	if ifname != "any" {
		link, err := h.LinkByName(ifname)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("capturing on %q on %s: %w", ifname, t.Name(), err)
		}
		ifindex = link.Attrs().Index
		switch link.Attrs().EncapType {
		case "ether", "loopback":
		case "none":
			// tun and other devices without a link header: read from the
			// IP header, as tcpdump does (DLT_RAW).
			sockType = unix.SOCK_DGRAM
			c.stats.LinkType = layers.LinkTypeRaw
		default:
			h.Close()
			return nil, fmt.Errorf("capturing on %q on %s: link type %q is not supported", ifname, t.Name(), link.Attrs().EncapType)
		}
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		c.loIndex = lo.Attrs().Index
	}
	h.Close()
	prog, err := CompileFilter(opt.Filter, c.stats.LinkType, opt.Snaplen)
	if err != nil {
		return nil, err
	}
	c.prog = prog
	err = t.Do(func() error {
		// Protocol 0: the socket receives nothing until it is bound, after
		// the filter is attached.
		fd, err := unix.Socket(unix.AF_PACKET, sockType|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("opening a packet socket on %s: %w", t.Name(), err)
	}
	if err := c.setup(ifindex); err != nil {
		c.Close()
		return nil, fmt.Errorf("capturing on %q on %s: %w", ifname, t.Name(), err)
	}
	if opt.Pcap != nil {
		c.pcapBuf = bufio.NewWriterSize(opt.Pcap, 1<<18)
		c.pcap = pcapgo.NewWriterNanos(c.pcapBuf)
		if err := c.pcap.WriteFileHeader(uint32(opt.Snaplen), c.stats.LinkType); err != nil {
			c.Close()
			return nil, fmt.Errorf("writing the pcap header: %w", err)
		}
	}
	return c, nil
}

func (c *Capturer) setup(ifindex int) error {
	if err := unix.SetsockoptInt(c.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("selecting TPACKET_V3: %w", err)
	}
	filter := make([]unix.SockFilter, len(c.prog.Insns))
	for i, in := range c.prog.Insns {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(c.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attaching the filter: %w", err)
	}
	c.blockSize = 1 << 20
	c.blockNr = max(c.opt.RingBytes/c.blockSize, 2)
	frameSize := 1 << 11
	req := unix.TpacketReq3{
		Block_size:     uint32(c.blockSize),
		Block_nr:       uint32(c.blockNr),
		Frame_size:     uint32(frameSize),
		Frame_nr:       uint32(c.blockSize / frameSize * c.blockNr),
		Retire_blk_tov: 50, // ms: a partly filled block is handed over after this
	}
	if err := unix.SetsockoptTpacketReq3(c.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("setting up the ring: %w", err)
	}
	ring, err := unix.Mmap(c.fd, 0, c.blockSize*c.blockNr, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mapping the ring: %w", err)
	}
	c.ring = ring
	sa := &unix.SockaddrLinklayer{Protocol: scHtons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(c.fd, sa); err != nil {
		return fmt.Errorf("binding: %w", err)
	}
	return nil
}

// Program is the compiled filter attached to the socket.
func (c *Capturer) Program() *BPFProgram { return c.prog }

// Close releases the ring and the socket and flushes the pcap output.
func (c *Capturer) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	if c.pcapBuf != nil {
		if err := c.pcapBuf.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("writing the pcap: %w", err))
		}
	}
	if c.ring != nil {
		if err := unix.Munmap(c.ring); err != nil {
			errs = append(errs, fmt.Errorf("unmapping the ring: %w", err))
		}
		c.ring = nil
	}
	if c.fd >= 0 {
		if err := unix.Close(c.fd); err != nil {
			errs = append(errs, fmt.Errorf("closing the packet socket: %w", err))
		}
		c.fd = -1
	}
	return errors.Join(errs...)
}

// Run reads packets until the count or the duration is reached or ctx
// ends, and returns the statistics so far. It may be called again.
func (c *Capturer) Run(ctx context.Context) (*CaptureStats, error) {
	start := time.Now()
	var deadline time.Time
	if c.opt.Duration > 0 {
		deadline = start.Add(c.opt.Duration)
	}
	pfd := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN | unix.POLLERR}}
	var runErr error
	for {
		if c.opt.Count > 0 && c.stats.Packets >= c.opt.Count {
			break
		}
		if ctx.Err() != nil {
			break
		}
		wait := 100 * time.Millisecond
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			wait = min(wait, left)
		}
		if c.readBlock() {
			continue
		}
		_, err := unix.Poll(pfd, int(wait/time.Millisecond)+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			runErr = fmt.Errorf("waiting for packets: %w", err)
			break
		}
	}
	// Deliver what is already in the ring up to the count, so that a
	// duration-limited capture does not lose what arrived last.
	for (c.opt.Count == 0 || c.stats.Packets < c.opt.Count) && c.readBlock() {
	}
	if err := c.readStats(); err != nil && runErr == nil {
		runErr = err
	}
	if c.pcapBuf != nil {
		if err := c.pcapBuf.Flush(); err != nil && runErr == nil {
			runErr = fmt.Errorf("writing the pcap: %w", err)
		}
	}
	c.stats.Took += time.Since(start)
	s := c.stats
	return &s, runErr
}

func (c *Capturer) readStats() error {
	st, err := unix.GetsockoptTpacketStatsV3(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return fmt.Errorf("reading capture statistics: %w", err)
	}
	// The kernel resets its counters on every read.
	c.stats.KernelPackets += uint64(st.Packets)
	c.stats.KernelDrops += uint64(st.Drops)
	return nil
}

// readBlock delivers the packets of the current block if the kernel has
// handed it over, returns it to the kernel and moves on.
func (c *Capturer) readBlock() bool {
	blk := c.ring[c.block*c.blockSize : (c.block+1)*c.blockSize]
	status := (*uint32)(unsafe.Pointer(&blk[8]))
	if atomic.LoadUint32(status)&scTPStatusUser == 0 {
		return false
	}
	ne := binary.NativeEndian
	num := int(ne.Uint32(blk[12:]))
	off := int(ne.Uint32(blk[16:]))
	for i := 0; i < num && off+scTPacket3HdrLen <= len(blk); i++ {
		p := blk[off:]
		next := int(ne.Uint32(p[0:]))
		if c.opt.Count == 0 || c.stats.Packets < c.opt.Count {
			c.deliver(p)
		}
		if next == 0 {
			break
		}
		off += next
	}
	atomic.StoreUint32(status, 0) // TP_STATUS_KERNEL
	c.block = (c.block + 1) % c.blockNr
	return true
}

func (c *Capturer) deliver(p []byte) {
	ne := binary.NativeEndian
	sec := ne.Uint32(p[4:])
	nsec := ne.Uint32(p[8:])
	snap := int(ne.Uint32(p[12:]))
	wire := int(ne.Uint32(p[16:]))
	status := ne.Uint32(p[20:])
	mac := int(ne.Uint16(p[24:]))
	if mac+snap > len(p) {
		return
	}
	sll := p[scTPacket3HdrLen:]
	// On loopback every packet is seen leaving and arriving; keep one
	// copy, as libpcap does.
	if sll[10] == unix.PACKET_OUTGOING && int(int32(ne.Uint32(sll[4:]))) == c.loIndex && c.loIndex != 0 {
		return
	}
	data := p[mac : mac+snap]
	if status&scTPStatusVLANValid != 0 && c.stats.LinkType == layers.LinkTypeEthernet && len(data) >= 12 {
		tci := uint16(ne.Uint32(p[32:]))
		tpid := uint16(0x8100)
		if status&scTPStatusTPIDValid != 0 {
			tpid = ne.Uint16(p[36:])
		}
		c.scratch = append(c.scratch[:0], data[:12]...)
		c.scratch = binary.BigEndian.AppendUint16(c.scratch, tpid)
		c.scratch = binary.BigEndian.AppendUint16(c.scratch, tci)
		c.scratch = append(c.scratch, data[12:]...)
		data = c.scratch
		snap += 4
		wire += 4
	}
	ci := gopacket.CaptureInfo{
		Timestamp:      time.Unix(int64(sec), int64(nsec)),
		CaptureLength:  snap,
		Length:         wire,
		InterfaceIndex: int(int32(ne.Uint32(sll[4:]))),
	}
	c.stats.Packets++
	c.stats.Bytes += int64(wire)
	if c.pcap != nil {
		c.pcap.WritePacket(ci, data)
	}
	if c.opt.OnPacket != nil {
		c.opt.OnPacket(ci, data)
	}
}
