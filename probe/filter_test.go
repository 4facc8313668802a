package probe

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// scTaughtFilters are the filters the curriculum teaches, plus a few that
// exercise other instructions (IPv6, VLAN, lengths, ICMP types, fragments).
var scTaughtFilters = []string{
	"host 10.0.0.1",
	"port 80",
	"port 80 or port 443",
	"tcp",
	"udp",
	"icmp",
	"src host 10.0.0.1",
	"dst port 53",
	"tcp port 80 and host 10.0.0.2",
	"tcp[tcpflags] & (tcp-syn) != 0",
	"tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
	"tcp[tcpflags] == tcp-syn",
	"tcp port 80 and tcp[32:4] = 0x47455420",
	"udp port 53",
	"",
	"ip6 and tcp",
	"vlan and udp",
	"less 100",
	"greater 1000",
	"icmp[icmptype] == icmp-echo",
	"ip[6:2] & 0x1fff != 0",
	"net 192.168.0.0/16 and not arp",
	"ether host 02:00:00:00:00:01",
	"tcp[13] & 2 != 0 and tcp[2:2] * 2 > 100",
}

func TestCaptureDisassemblyMatchesTcpdump(t *testing.T) {
	ns := scNewNetns(t)
	for _, snaplen := range []int{0, 1500} {
		for _, expr := range scTaughtFilters {
			name := "the program for '" + expr + "' is what tcpdump -d prints"
			if snaplen != 0 {
				name += " with snaplen " + strconv.Itoa(snaplen)
			}
			t.Run(name, func(t *testing.T) {
				args := []string{"tcpdump", "-y", "EN10MB", "-d"}
				if snaplen != 0 {
					args = append(args, "-s", strconv.Itoa(snaplen))
				}
				want := scRun(t, ns, append(args, expr)...)
				p, err := CompileFilter(expr, layers.LinkTypeEthernet, snaplen)
				if err != nil {
					t.Fatal(err)
				}
				if got := p.Disassemble(); got != want {
					t.Errorf("netdojo:\n%s\ntcpdump -d:\n%s", got, want)
				}
			})
		}
	}
	t.Run("a filter with a syntax error is refused with libpcap's message", func(t *testing.T) {
		_, err := CompileFilter("tcp port eighty", layers.LinkTypeEthernet, 0)
		if err == nil || !strings.Contains(err.Error(), "eighty") {
			t.Errorf("error %v", err)
		}
	})
}

// scSyntheticPackets builds one packet of each kind the taught filters
// tell apart.
func scSyntheticPackets(t *testing.T) [][]byte {
	t.Helper()
	macA, _ := net.ParseMAC("02:00:00:00:00:01")
	macB, _ := net.ParseMAC("02:00:00:00:00:02")
	ip4 := func(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4(), Flags: layers.IPv4DontFragment}
	}
	eth := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: typ}
	}
	tsOpt := []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}}
	var out [][]byte
	add := func(payload []byte, ls ...gopacket.SerializableLayer) {
		for _, l := range ls {
			if tcp, ok := l.(*layers.TCP); ok {
				for _, n := range ls {
					if nl, ok := n.(gopacket.NetworkLayer); ok {
						tcp.SetNetworkLayerForChecksum(nl)
					}
				}
			}
			if udp, ok := l.(*layers.UDP); ok {
				for _, n := range ls {
					if nl, ok := n.(gopacket.NetworkLayer); ok {
						udp.SetNetworkLayerForChecksum(nl)
					}
				}
			}
		}
		buf := gopacket.NewSerializeBuffer()
		all := append(ls, gopacket.Payload(payload))
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, all...); err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), buf.Bytes()...))
	}
	add(nil, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40000, DstPort: 80, SYN: true, Window: 64240, Options: tsOpt})
	add(nil, eth(layers.EthernetTypeIPv4), ip4("10.0.0.2", "10.0.0.1", layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 80, DstPort: 40000, SYN: true, ACK: true, Window: 64240, Options: tsOpt})
	add([]byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"), eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40000, DstPort: 80, ACK: true, PSH: true, Window: 502, Options: tsOpt})
	add(nil, eth(layers.EthernetTypeIPv4), ip4("10.0.0.3", "10.0.0.2", layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40001, DstPort: 443, FIN: true, ACK: true, Window: 502})
	add(nil, eth(layers.EthernetTypeIPv4), ip4("10.0.0.2", "10.0.0.3", layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 443, DstPort: 40001, RST: true, Window: 0})
	add([]byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.53", layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 53000, DstPort: 53})
	add(make([]byte, 56), eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "192.168.1.1", layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1})
	add(make([]byte, 1200), eth(layers.EthernetTypeIPv4), ip4("192.168.1.1", "10.0.0.1", layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 5000, DstPort: 5001})
	add(nil, eth(layers.EthernetTypeIPv6), &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}, &layers.TCP{SrcPort: 40002, DstPort: 80, SYN: true, Window: 64800})
	add(nil, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: net.ParseIP("192.168.1.1").To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: net.ParseIP("192.168.1.2").To4()})
	add([]byte("hello"), eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4},
		ip4("10.0.0.1", "10.0.0.9", layers.IPProtocolUDP), &layers.UDP{SrcPort: 1000, DstPort: 53})
	frag := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
	frag.Flags, frag.FragOffset = 0, 185
	add(make([]byte, 64), eth(layers.EthernetTypeIPv4), frag)
	return out
}

func TestFilterMatchesAgreesWithTcpdumpReadingAPcap(t *testing.T) {
	packets := scSyntheticPackets(t)
	file := filepath.Join(t.TempDir(), "synthetic.pcap")
	f, err := os.Create(file)
	scMust(t, err, "creating pcap")
	w := pcapgo.NewWriter(f)
	scMust(t, w.WriteFileHeader(DefaultSnaplen, layers.LinkTypeEthernet), "pcap header")
	for i, p := range packets {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)*1000), CaptureLength: len(p), Length: len(p)}
		scMust(t, w.WritePacket(ci, p), "writing packet")
	}
	scMust(t, f.Close(), "closing pcap")
	for _, expr := range scTaughtFilters {
		t.Run("'"+expr+"' accepts the packets tcpdump -r accepts", func(t *testing.T) {
			// The timestamp is 1700000000 plus the packet index in microseconds.
			args := []string{"-r", file, "-n", "-tt", "-q"}
			if expr != "" {
				args = append(args, expr)
			}
			out, err := exec.Command("tcpdump", args...).Output()
			scMust(t, err, "tcpdump -r")
			want := make([]bool, len(packets))
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Fields(line)
				if len(f) == 0 {
					continue
				}
				_, usec, _ := strings.Cut(f[0], ".")
				n, err := strconv.Atoi(usec)
				if err != nil || n >= len(packets) {
					t.Fatalf("unexpected tcpdump line %q", line)
				}
				want[n] = true
			}
			got, err := FilterMatches(expr, layers.LinkTypeEthernet, packets)
			if err != nil {
				t.Fatal(err)
			}
			for i := range packets {
				if got[i] != want[i] {
					t.Errorf("packet %d: netdojo says %v, tcpdump says %v", i+1, got[i], want[i])
				}
			}
		})
	}
	t.Run("the taught filters do not all agree by accident", func(t *testing.T) {
		all, _ := FilterMatches("", layers.LinkTypeEthernet, packets)
		syn, _ := FilterMatches("tcp[tcpflags] == tcp-syn", layers.LinkTypeEthernet, packets)
		n := 0
		for i := range syn {
			if syn[i] {
				n++
			}
			if !all[i] {
				t.Errorf("the empty filter refused packet %d", i+1)
			}
		}
		if n != 1 {
			t.Errorf("%d packets are a bare IPv4 SYN, want 1", n)
		}
	})
}
