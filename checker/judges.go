package checker

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/miekg/dns"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
)

// refPacket is one packet of a reference traffic set, with what it is.
type refPacket struct {
	data  []byte
	kinds []string // syn, synack, ack, fin, rst, get, post, dns-query, dns-response, icmp, ntp, port443
}

func (p refPacket) is(kind string) bool {
	for _, k := range p.kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// FilterWants are the packet sets a filter answer can be asked to select
// exactly, each as a predicate on a reference packet.
var FilterWants = map[string]func(refPacket) bool{
	"syn-any":        func(p refPacket) bool { return p.is("syn") || p.is("synack") },
	"syn-only":       func(p refPacket) bool { return p.is("syn") },
	"syn-not-synack": func(p refPacket) bool { return p.is("syn") },
	"syn-or-fin":     func(p refPacket) bool { return p.is("syn") || p.is("synack") || p.is("fin") },
	"http-get":       func(p refPacket) bool { return p.is("get") },
	"http-post":      func(p refPacket) bool { return p.is("post") },
	"http":           func(p refPacket) bool { return p.is("port80") },
	"https":          func(p refPacket) bool { return p.is("port443") },
	"web":            func(p refPacket) bool { return p.is("port80") || p.is("port443") },
	"dns":            func(p refPacket) bool { return p.is("dns-query") || p.is("dns-response") },
	"dns-queries":    func(p refPacket) bool { return p.is("dns-query") },
	"icmp":           func(p refPacket) bool { return p.is("icmp") },
	"rst":            func(p refPacket) bool { return p.is("rst") },
}

// Reference traffic sets; addresses: client 10.0.0.10, web server
// 10.0.0.80, resolver 10.0.0.53 (which asks 198.51.100.53 upstream), time
// server 10.0.0.123, flooders in 198.51.100.0/24.
var trafficSets = map[string]func() []refPacket{
	"web-mix":   webMix,
	"syn-flood": synFlood,
}

var (
	client   = netip.MustParseAddr("10.0.0.10")
	server   = netip.MustParseAddr("10.0.0.80")
	resolver = netip.MustParseAddr("10.0.0.53")
	upstream = netip.MustParseAddr("198.51.100.53")
	ntp      = netip.MustParseAddr("10.0.0.123")
)

func webMix() []refPacket {
	var ps []refPacket
	// A GET on port 80: handshake, request, answer, close.
	ps = append(ps, tcpConversation(client, 40001, server, 80, "GET / HTTP/1.1\r\nHost: www.shop.example\r\n\r\n", "get")...)
	// A POST on port 80.
	ps = append(ps, tcpConversation(client, 40002, server, 80, "POST /cart HTTP/1.1\r\nHost: www.shop.example\r\nContent-Length: 2\r\n\r\n{}", "post")...)
	// A connection to 443 refused with a reset.
	ps = append(ps, tcpPacket(client, 40003, server, 443, "S", "", "syn", "port443"))
	ps = append(ps, tcpPacket(server, 443, client, 40003, "RA", "", "rst", "port443"))
	// DNS as it is on the wire: the client asks the resolver (A and
	// AAAA), the resolver asks upstream on a port of its own, and every
	// answer has the QR bit set (0x80 in the third byte of the DNS header,
	// udp[10]), with RA and the records.
	for i, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		port := uint16(50000 + i)
		ps = append(ps, udpPacket(client, port, resolver, 53, dnsQuery(uint16(0x1234+i), qt), "dns-query"))
		if qt == dns.TypeA {
			ps = append(ps, udpPacket(resolver, 41000, upstream, 53, dnsQuery(0x7777, qt), "dns-query"))
			ps = append(ps, udpPacket(upstream, 53, resolver, 41000, dnsResponse(0x7777, qt), "dns-response"))
		}
		ps = append(ps, udpPacket(resolver, 53, client, port, dnsResponse(uint16(0x1234+i), qt), "dns-response"))
	}
	// Other UDP: a time query, whose third payload byte has the top bit
	// clear, as a DNS query's has.
	ps = append(ps, udpPacket(client, 123, ntp, 123, ntpQuery(), "ntp"))
	// ICMP echo.
	ps = append(ps, icmpPacket(client, server, layers.ICMPv4TypeEchoRequest), icmpPacket(server, client, layers.ICMPv4TypeEchoReply))
	return ps
}

func synFlood() []refPacket {
	ps := webMix()
	for i := 0; i < 12; i++ {
		src := netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)})
		ps = append(ps, tcpPacket(src, uint16(30000+i), server, 80, "S", "", "syn", "port80"))
		if i%3 == 0 {
			ps = append(ps, tcpPacket(server, 80, src, uint16(30000+i), "SA", "", "synack", "port80"))
		}
	}
	return ps
}

func tcpConversation(c netip.Addr, cport uint16, s netip.Addr, sport uint16, request, kind string) []refPacket {
	tag := fmt.Sprintf("port%d", sport)
	return []refPacket{
		tcpPacket(c, cport, s, sport, "S", "", "syn", tag),
		tcpPacket(s, sport, c, cport, "SA", "", "synack", tag),
		tcpPacket(c, cport, s, sport, "A", "", "ack", tag),
		tcpPacket(c, cport, s, sport, "PA", request, kind, "ack", tag),
		tcpPacket(s, sport, c, cport, "PA", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "response", "ack", tag),
		tcpPacket(c, cport, s, sport, "FA", "", "fin", "ack", tag),
		tcpPacket(s, sport, c, cport, "FA", "", "fin", "ack", tag),
		tcpPacket(c, cport, s, sport, "A", "", "ack", tag),
	}
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err) // the reference packets are fixed; a failure is a bug
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ipv4(src, dst netip.Addr, proto layers.IPProtocol) (*layers.Ethernet, *layers.IPv4) {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// tcpPacket carries timestamp options, as Linux sends them, so that the
// TCP header is 32 bytes and tcp[32:4] is the first word of the payload.
func tcpPacket(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, flags, payload string, kinds ...string) refPacket {
	eth, ip := ipv4(src, dst, layers.IPProtocolTCP)
	ts := make([]byte, 8)
	binary.BigEndian.PutUint32(ts, 1000)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1, Ack: 1, Window: 64240,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F"),
		RST: strings.Contains(flags, "R"), PSH: strings.Contains(flags, "P"),
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: ts}}}
	tcp.SetNetworkLayerForChecksum(ip)
	return refPacket{data: serialize(eth, ip, tcp, gopacket.Payload(payload)), kinds: kinds}
}

func udpPacket(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, payload []byte, kinds ...string) refPacket {
	eth, ip := ipv4(src, dst, layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	return refPacket{data: serialize(eth, ip, udp, gopacket.Payload(payload)), kinds: kinds}
}

func icmpPacket(src, dst netip.Addr, typ uint8) refPacket {
	eth, ip := ipv4(src, dst, layers.IPProtocolICMPv4)
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: 7, Seq: 1}
	return refPacket{data: serialize(eth, ip, icmp, gopacket.Payload("netdojo")), kinds: []string{"icmp"}}
}

// dnsQuery is a recursive query for www.shop.example.
func dnsQuery(id, qtype uint16) []byte {
	m := new(dns.Msg)
	m.SetQuestion("www.shop.example.", qtype)
	m.Id = id
	return pack(m)
}

// dnsResponse is the answer to dnsQuery: QR, RD and RA set, one record.
func dnsResponse(id, qtype uint16) []byte {
	q := new(dns.Msg)
	q.SetQuestion("www.shop.example.", qtype)
	q.Id = id
	r := new(dns.Msg)
	r.SetReply(q)
	r.RecursionAvailable = true
	hdr := dns.RR_Header{Name: "www.shop.example.", Rrtype: qtype, Class: dns.ClassINET, Ttl: 300}
	if qtype == dns.TypeAAAA {
		r.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.ParseIP("2001:db8::80")}}
	} else {
		r.Answer = []dns.RR{&dns.A{Hdr: hdr, A: net.ParseIP("10.0.0.80").To4()}}
	}
	return pack(r)
}

func pack(m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		panic(err) // the reference packets are fixed; a failure is a bug
	}
	return b
}

// ntpQuery is an NTPv4 client request (48 bytes, mode 3).
func ntpQuery() []byte {
	b := make([]byte, 48)
	b[0] = 0x23 // LI 0, version 4, mode 3 (client)
	b[2] = 0x06 // poll
	return b
}

// judgeFilter runs the learner's filter, compiled by libpcap as tcpdump
// compiles it, over the reference traffic, and requires exactly the
// wanted packets.
func judgeFilter(fa *scenarios.FilterAnswer, expr string) (judgement, error) {
	set, ok := trafficSets[fa.Traffic]
	if !ok {
		return judgement{}, fmt.Errorf("unknown reference traffic %q", fa.Traffic)
	}
	want, ok := FilterWants[fa.Want]
	if !ok {
		return judgement{}, fmt.Errorf("unknown packet set %q", fa.Want)
	}
	if strings.TrimSpace(expr) == "" {
		return judgement{false, "no filter given"}, nil
	}
	ps := set()
	data := make([][]byte, len(ps))
	for i, p := range ps {
		data[i] = p.data
	}
	got, err := probe.FilterMatches(expr, layers.LinkTypeEthernet, data)
	if err != nil {
		return judgement{false, fmt.Sprintf("tcpdump would not accept the filter: %v", err)}, nil
	}
	extra, missed := map[string]int{}, map[string]int{}
	selected := 0
	for i, p := range ps {
		w := want(p)
		if got[i] {
			selected++
		}
		switch {
		case got[i] && !w:
			extra[describe(p)]++
		case !got[i] && w:
			missed[describe(p)]++
		}
	}
	obs := fmt.Sprintf("the filter selects %d of %d reference packets", selected, len(ps))
	if len(extra) > 0 {
		obs += "; it also catches " + counts(extra)
	}
	if len(missed) > 0 {
		obs += "; it misses " + counts(missed)
	}
	return judgement{len(extra) == 0 && len(missed) == 0, obs}, nil
}

func describe(p refPacket) string {
	for _, k := range []string{"synack", "syn", "rst", "get", "post", "response", "fin", "dns-query", "dns-response", "icmp", "ntp"} {
		if p.is(k) {
			return k
		}
	}
	return "ack"
}

func counts(m map[string]int) string {
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// judgePcap reads a capture the learner made and judges what it proves.
func (c *Checker) judgePcap(pa *scenarios.PcapAnswer, path string) (judgement, error) {
	if path == "" {
		return judgement{false, "no pcap file given"}, nil
	}
	an, err := probe.AnalyzePcapFile(path)
	if err != nil {
		return judgement{false, fmt.Sprintf("%s is not a pcap file netdojo can read: %v", path, err)}, nil
	}
	var host netip.Addr
	if pa.Host != "" {
		if host, err = c.addr(pa.Host); err != nil {
			return judgement{}, err
		}
	}
	concerns := func(a netip.Addr) bool { return !host.IsValid() || a == host }
	summary := fmt.Sprintf("%s holds %d packets, %d TCP handshakes, %d DNS exchanges, %d ICMP errors", path, an.Packets, len(an.Handshakes), len(an.DNS), len(an.ICMPErrors))
	switch pa.Proves {
	case "syn-no-synack":
		for _, h := range an.Handshakes {
			if h.Result == probe.HandshakeNoSynAck && concerns(h.Server.Addr()) {
				return judgement{true, summary + fmt.Sprintf("; %s sent %d SYNs to %s and nothing came back", h.Client, h.SYNs, h.Server)}, nil
			}
		}
	case "rst":
		for _, h := range an.Handshakes {
			if (h.Result == probe.HandshakeReset || h.ResetBy != "") && (concerns(h.Server.Addr()) || concerns(h.Client.Addr())) {
				return judgement{true, summary + fmt.Sprintf("; the connection %s -> %s was reset", h.Client, h.Server)}, nil
			}
		}
	case "dns-no-answer":
		for _, d := range an.DNS {
			if !d.Answered && concerns(d.Server.Addr()) {
				return judgement{true, summary + fmt.Sprintf("; the query for %s to %s got no answer", d.Name, d.Server)}, nil
			}
		}
	case "frag-needed-missing":
		frag := false
		for _, e := range an.ICMPErrors {
			frag = frag || e.Type == 3 && e.Code == 4
		}
		if !frag && len(an.Retransmissions) > 0 {
			return judgement{true, summary + fmt.Sprintf("; %d retransmissions and no fragmentation-needed", len(an.Retransmissions))}, nil
		}
	default:
		return judgement{}, fmt.Errorf("unknown proof %q", pa.Proves)
	}
	return judgement{false, summary + "; it does not show what the task asks"}, nil
}
