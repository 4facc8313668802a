package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/netdojo/netdojo/probe"
	"github.com/spf13/cobra"
)

// captureOptions are the flags of `netdojo capture`.
type captureOptions struct {
	in       string
	iface    string
	count    int
	duration time.Duration
	write    string
	snaplen  int
	dump     bool
	read     string
	analyze  bool
}

func newCaptureCmd(g *globalOptions) *cobra.Command {
	o := &captureOptions{}
	cmd := &cobra.Command{
		Use:   "capture [--in LAB/HOST] -i IF [-c N] [--duration D] [-w FILE] [FILTER...]",
		Short: "Capture packets with a tcpdump filter, show a compiled filter, or analyse a pcap",
		Long: `Capture packets on an interface (AF_PACKET, TPACKET_V3) with a filter in
tcpdump syntax, compiled by libpcap exactly as tcpdump compiles it and run by
the kernel. Without -w each packet is printed on one line; with -w a pcap file
is written that tcpdump -r and Wireshark read. Stop with -c, --duration or
Ctrl-C; the kernel's drop count is printed at the end.

  capture -d FILTER           prints the compiled program as 'tcpdump -d' does
  capture --read FILE         prints the packets of a pcap (FILTER applies)
  capture --read FILE --analyze
                              flows, TCP handshakes, retransmissions, ICMP
                              errors, DNS exchanges and HTTP requests`,
		Example: `  netdojo capture --in web-1/client -i eth0 -c 20 'tcp port 80'
  netdojo capture --in web-1/client -i eth0 --duration 10s -w /tmp/web.pcap 'tcp[tcpflags] & (tcp-syn) != 0'
  netdojo capture -d 'tcp port 80 and host 10.0.0.2'
  netdojo capture --read /tmp/web.pcap --analyze`,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter := strings.Join(args, " ")
			w := cmd.OutOrStdout()
			switch {
			case o.dump:
				return runCaptureDump(g, filter, o.snaplen, w)
			case o.read != "":
				return runCaptureRead(g, o, filter, w)
			}
			return runCapture(g, o, filter, w, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.in, "in", "", "a lab host, as LAB/HOST (default: this machine)")
	f.StringVarP(&o.iface, "interface", "i", "", "interface to capture on (default: all, read as Ethernet)")
	f.IntVarP(&o.count, "count", "c", 0, "stop after this many packets")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (for example 10s)")
	f.StringVarP(&o.write, "write", "w", "", "write the packets to this pcap file")
	f.IntVarP(&o.snaplen, "snaplen", "s", 0, "keep at most this many bytes of each packet (default 262144)")
	f.BoolVarP(&o.dump, "dump", "d", false, "print the compiled filter as 'tcpdump -d' does and exit")
	f.StringVar(&o.read, "read", "", "read packets from this pcap file instead of capturing")
	f.BoolVar(&o.analyze, "analyze", false, "with --read: analyse the file instead of listing packets")
	return cmd
}

func runCaptureDump(g *globalOptions, filter string, snaplen int, w io.Writer) error {
	p, err := probe.CompileFilter(filter, layers.LinkTypeEthernet, snaplen)
	if err != nil {
		return withCode(exitUsage, err)
	}
	if g.json() {
		return writeJSON(w, struct {
			*probe.BPFProgram
			Text string `json:"text"`
		}{p, p.Disassemble()})
	}
	_, err = io.WriteString(w, p.Disassemble())
	return err
}

func runCapture(g *globalOptions, o *captureOptions, filter string, w, stderr io.Writer) (err error) {
	if err := needRoot("netdojo capture"); err != nil {
		return err
	}
	t, release, err := sockcapTarget(g, o.in, "netdojo capture")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, release()) }()
	opt := probe.CaptureOptions{Interface: o.iface, Filter: filter, Count: o.count, Duration: o.duration, Snaplen: o.snaplen}
	var file *os.File
	if o.write != "" {
		file, err = os.Create(o.write)
		if err != nil {
			return fmt.Errorf("creating %s: %w", o.write, err)
		}
		defer func() { err = errors.Join(err, file.Close()) }()
		opt.Pcap = file
	}
	lt := layers.LinkTypeEthernet // set once the interface is known
	if o.write == "" && !g.json() {
		opt.OnPacket = func(ci gopacket.CaptureInfo, data []byte) { fmt.Fprintln(w, captureLine(ci, data, lt)) }
	}
	c, err := probe.OpenCapture(t, opt)
	if err != nil {
		return err
	}
	lt = c.Program().LinkType
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	iface := o.iface
	if iface == "" {
		iface = "any"
	}
	fmt.Fprintf(stderr, "capturing on %s of %s, filter %q\n", iface, t.Name(), filter)
	st, err := c.Run(ctx)
	err = errors.Join(err, c.Close())
	if err != nil {
		return err
	}
	if g.json() {
		return writeJSON(w, st)
	}
	fmt.Fprintf(stderr, "%d packets captured, %d passed the filter in the kernel, %d dropped by the kernel\n", st.Packets, st.KernelPackets, st.KernelDrops)
	if o.write != "" {
		fmt.Fprintf(stderr, "wrote %s (read it with: netdojo capture --read %s --analyze, or tcpdump -r %s)\n", o.write, o.write, o.write)
	}
	return nil
}

func runCaptureRead(g *globalOptions, o *captureOptions, filter string, w io.Writer) error {
	if o.analyze {
		a, err := probe.AnalyzePcapFile(o.read)
		if err != nil {
			return err
		}
		if g.json() {
			return writeJSON(w, a)
		}
		for _, line := range a.Summary() {
			fmt.Fprintln(w, line)
		}
		return nil
	}
	f, err := os.Open(o.read)
	if err != nil {
		return fmt.Errorf("opening capture %s: %w", o.read, err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return fmt.Errorf("reading capture %s: %w", o.read, err)
	}
	var prog *probe.BPFProgram
	if filter != "" {
		if prog, err = probe.CompileFilter(filter, r.LinkType(), 0); err != nil {
			return withCode(exitUsage, err)
		}
	}
	vmMatch := func([]byte) bool { return true }
	if prog != nil {
		vm, err := prog.VM()
		if err != nil {
			return err
		}
		vmMatch = func(b []byte) bool { n, err := vm.Run(b); return err == nil && n > 0 }
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading capture %s: %w", o.read, err)
		}
		if vmMatch(data) {
			fmt.Fprintln(w, captureLine(ci, data, r.LinkType()))
		}
	}
}

// captureLine summarises one packet on one line, tcpdump-like.
func captureLine(ci gopacket.CaptureInfo, data []byte, lt layers.LinkType) string {
	p := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	ts := ci.Timestamp.Format("15:04:05.000000")
	var src, dst string
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		src, dst = ip.SrcIP.String(), ip.DstIP.String()
	case *layers.IPv6:
		src, dst = ip.SrcIP.String(), ip.DstIP.String()
	default:
		if arp, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
			if arp.Operation == layers.ARPRequest {
				return fmt.Sprintf("%s ARP who-has %d.%d.%d.%d tell %d.%d.%d.%d, length %d", ts,
					arp.DstProtAddress[0], arp.DstProtAddress[1], arp.DstProtAddress[2], arp.DstProtAddress[3],
					arp.SourceProtAddress[0], arp.SourceProtAddress[1], arp.SourceProtAddress[2], arp.SourceProtAddress[3], ci.Length)
			}
			return fmt.Sprintf("%s ARP reply %d.%d.%d.%d, length %d", ts,
				arp.SourceProtAddress[0], arp.SourceProtAddress[1], arp.SourceProtAddress[2], arp.SourceProtAddress[3], ci.Length)
		}
		return fmt.Sprintf("%s length %d", ts, ci.Length)
	}
	switch l := p.TransportLayer().(type) {
	case *layers.TCP:
		var flags []string
		for _, f := range []struct {
			on   bool
			name string
		}{{l.SYN, "S"}, {l.FIN, "F"}, {l.RST, "R"}, {l.PSH, "P"}, {l.ACK, "."}} {
			if f.on {
				flags = append(flags, f.name)
			}
		}
		return fmt.Sprintf("%s TCP %s.%d > %s.%d: Flags [%s], seq %d, ack %d, win %d, length %d", ts,
			src, l.SrcPort, dst, l.DstPort, strings.Join(flags, ""), l.Seq, l.Ack, l.Window, len(l.Payload))
	case *layers.UDP:
		return fmt.Sprintf("%s UDP %s.%d > %s.%d: length %d", ts, src, l.SrcPort, dst, l.DstPort, len(l.Payload))
	}
	if icmp, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		return fmt.Sprintf("%s ICMP %s > %s: %s, length %d", ts, src, dst, icmp.TypeCode, ci.Length)
	}
	if icmp, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		return fmt.Sprintf("%s ICMP6 %s > %s: %s, length %d", ts, src, dst, icmp.TypeCode, ci.Length)
	}
	return fmt.Sprintf("%s IP %s > %s: length %d", ts, src, dst, ci.Length)
}
