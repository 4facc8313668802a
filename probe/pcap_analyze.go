package probe

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/miekg/dns"
)

// PcapAnalysis is what a capture file shows: flows, TCP handshakes,
// retransmissions, ICMP errors, DNS exchanges and HTTP requests.
type PcapAnalysis struct {
	LinkType        layers.LinkType  `json:"link_type"`
	Packets         int              `json:"packets"`
	Bytes           int64            `json:"bytes"`
	First           time.Time        `json:"first"`
	Last            time.Time        `json:"last"`
	Flows           []Flow           `json:"flows"`
	Handshakes      []TCPHandshake   `json:"handshakes"`
	Retransmissions []Retransmission `json:"retransmissions"`
	ICMPErrors      []PcapICMPError      `json:"icmp_errors"`
	DNS             []DNSExchange    `json:"dns"`
	HTTP            []HTTPRequest    `json:"http"`
}

// Flow is the traffic of one 5-tuple in both directions. Client is the
// side that sent first (for TCP, the side that sent the SYN).
type Flow struct {
	Proto   string         `json:"proto"` // tcp, udp, icmp, icmp6, or the IP protocol number
	Client  netip.AddrPort `json:"client"`
	Server  netip.AddrPort `json:"server"`
	Packets int            `json:"packets"`
	Bytes   int64          `json:"bytes"`
	// ToServer and ToClient count packets in each direction.
	ToServer int       `json:"to_server"`
	ToClient int       `json:"to_client"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

// Handshake results.
const (
	HandshakeComplete      = "complete"       // SYN, SYN-ACK, ACK
	HandshakeNoSynAck      = "syn-unanswered" // SYN(s), nothing back: filtered or host down
	HandshakeReset         = "reset"          // SYN answered by RST: nothing listening or REJECT tcp-reset
	HandshakeNoFinalAck    = "synack-no-ack"  // SYN-ACK never acknowledged
	HandshakeMidConnection = "mid-connection" // the capture started after the handshake
)

// TCPHandshake is how a TCP connection began (and whether it was reset).
type TCPHandshake struct {
	Client netip.AddrPort `json:"client"`
	Server netip.AddrPort `json:"server"`
	Result string         `json:"result"`
	// SYNs counts SYN transmissions: more than one means the first went
	// unanswered and was retransmitted.
	SYNs int `json:"syns"`
	// RTT is the time from the first SYN to the SYN-ACK.
	RTT   time.Duration `json:"rtt_ns,omitempty"`
	Start time.Time     `json:"start"`
	// ResetBy is "client" or "server" when a RST was seen, at any time.
	ResetBy string `json:"reset_by,omitempty"`
}

// Retransmission is a TCP segment sent again with the same sequence
// number and length.
type Retransmission struct {
	Time time.Time      `json:"time"`
	Src  netip.AddrPort `json:"src"`
	Dst  netip.AddrPort `json:"dst"`
	Seq  uint32         `json:"seq"`
	Len  int            `json:"len"`
	Kind string         `json:"kind"` // syn, syn-ack, data, fin
}

// PcapICMPError is an ICMP or ICMPv6 error message and the packet it is about.
type PcapICMPError struct {
	Time        time.Time  `json:"time"`
	From        netip.Addr `json:"from"` // the router or host that sent it
	To          netip.Addr `json:"to"`
	Type        int        `json:"type"`
	Code        int        `json:"code"`
	Description string     `json:"description"`
	// MTU is the next-hop MTU of a fragmentation-needed (or ICMPv6 packet
	// too big) message.
	MTU int `json:"mtu,omitempty"`
	// The offending packet, from the header the error quotes.
	OrigProto string         `json:"orig_proto,omitempty"`
	OrigSrc   netip.AddrPort `json:"orig_src"`
	OrigDst   netip.AddrPort `json:"orig_dst"`
}

// DNSExchange is a DNS query and, when one came, its answer.
type DNSExchange struct {
	Time     time.Time      `json:"time"`
	Client   netip.AddrPort `json:"client"`
	Server   netip.AddrPort `json:"server"`
	ID       uint16         `json:"id"`
	Name     string         `json:"name"`
	Type     string         `json:"type"`
	Answered bool           `json:"answered"`
	Rcode    string         `json:"rcode,omitempty"`
	Answers  []string       `json:"answers,omitempty"`
	Latency  time.Duration  `json:"latency_ns,omitempty"`
}

// HTTPRequest is an HTTP/1.x request seen in a TCP stream, with the
// status of the response when one was seen.
type HTTPRequest struct {
	Time   time.Time      `json:"time"`
	Client netip.AddrPort `json:"client"`
	Server netip.AddrPort `json:"server"`
	Method string         `json:"method"`
	Path   string         `json:"path"`
	Host   string         `json:"host,omitempty"`
	Status int            `json:"status,omitempty"`
}

// AnalyzePcapFile reads a pcap or pcapng file and analyses it.
func AnalyzePcapFile(path string) (*PcapAnalysis, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening capture %s: %w", path, err)
	}
	defer f.Close()
	a, err := AnalyzePcap(f)
	if err != nil {
		return nil, fmt.Errorf("analysing capture %s: %w", path, err)
	}
	return a, nil
}

type scPacketSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// AnalyzePcap reads a pcap or pcapng stream and analyses it.
func AnalyzePcap(r io.Reader) (*PcapAnalysis, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("reading the file header: %w", err)
	}
	var src scPacketSource
	var lt layers.LinkType
	if binary.LittleEndian.Uint32(magic) == 0x0a0d0d0a {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, err
		}
		src, lt = ng, ng.LinkType()
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, err
		}
		src, lt = pr, pr.LinkType()
	}
	an := scNewAnalyzer(lt)
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading packet %d: %w", an.res.Packets+1, err)
		}
		an.add(ci, data)
	}
	return an.finish(), nil
}

type scFlowKey struct {
	proto    uint8
	src, dst netip.AddrPort
}

type scTCPConn struct {
	hs      int // index in Handshakes
	synAck  bool
	synTime time.Time
	acked   bool
	// seenDir holds the (seq, len) pairs already sent, per direction
	// (0: to the server).
	seenDir [2]map[[2]uint32]bool
	reqs    []int // indexes into HTTP awaiting a status
}

type scAnalyzer struct {
	res    PcapAnalysis
	flows  map[scFlowKey]int // canonical key -> index in res.Flows
	tcp    map[scFlowKey]*scTCPConn
	dnsQ   map[string]int // client|server|id -> index in res.DNS
	parser gopacket.Decoder
}

func scNewAnalyzer(lt layers.LinkType) *scAnalyzer {
	return &scAnalyzer{
		res:    PcapAnalysis{LinkType: lt},
		flows:  map[scFlowKey]int{},
		tcp:    map[scFlowKey]*scTCPConn{},
		dnsQ:   map[string]int{},
		parser: lt,
	}
}

func scAddr(ip []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func (an *scAnalyzer) add(ci gopacket.CaptureInfo, data []byte) {
	an.res.Packets++
	an.res.Bytes += int64(ci.Length)
	if an.res.First.IsZero() || ci.Timestamp.Before(an.res.First) {
		an.res.First = ci.Timestamp
	}
	if ci.Timestamp.After(an.res.Last) {
		an.res.Last = ci.Timestamp
	}
	pkt := gopacket.NewPacket(data, an.parser, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var src, dst netip.Addr
	var proto uint8
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		if ip.FragOffset != 0 {
			return
		}
		src, dst, proto = scAddr(ip.SrcIP), scAddr(ip.DstIP), uint8(ip.Protocol)
	case *layers.IPv6:
		src, dst, proto = scAddr(ip.SrcIP), scAddr(ip.DstIP), uint8(ip.NextHeader)
		if l := pkt.Layer(layers.LayerTypeTCP); l != nil {
			proto = uint8(layers.IPProtocolTCP)
		} else if l := pkt.Layer(layers.LayerTypeUDP); l != nil {
			proto = uint8(layers.IPProtocolUDP)
		} else if l := pkt.Layer(layers.LayerTypeICMPv6); l != nil {
			proto = uint8(layers.IPProtocolICMPv6)
		}
	default:
		return
	}
	var sport, dport uint16
	var tcp *layers.TCP
	var udp *layers.UDP
	switch l := pkt.TransportLayer().(type) {
	case *layers.TCP:
		tcp, sport, dport = l, uint16(l.SrcPort), uint16(l.DstPort)
	case *layers.UDP:
		udp, sport, dport = l, uint16(l.SrcPort), uint16(l.DstPort)
	}
	s, d := netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	toServer := an.flow(proto, s, d, tcp, ci)
	switch {
	case tcp != nil:
		an.tcpSegment(tcp, s, d, toServer, ci)
	case udp != nil:
		if sport == 53 || dport == 53 || sport == 5353 || dport == 5353 {
			an.dnsMessage(udp.Payload, s, d, ci)
		}
	}
	if l := pkt.Layer(layers.LayerTypeICMPv4); l != nil {
		an.icmp4(l.(*layers.ICMPv4), src, dst, ci)
	}
	if l := pkt.Layer(layers.LayerTypeICMPv6); l != nil {
		an.icmp6(l.(*layers.ICMPv6), src, dst, ci)
	}
}

func scProtoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "icmp6"
	}
	return strconv.Itoa(int(p))
}

// flow records the packet in its flow and reports whether it goes from
// client to server.
func (an *scAnalyzer) flow(proto uint8, s, d netip.AddrPort, tcp *layers.TCP, ci gopacket.CaptureInfo) bool {
	fwd, rev := scFlowKey{proto, s, d}, scFlowKey{proto, d, s}
	if i, ok := an.flows[fwd]; ok {
		f := &an.res.Flows[i]
		f.Packets++
		f.Bytes += int64(ci.Length)
		f.Last = ci.Timestamp
		f.ToServer++
		return true
	}
	if i, ok := an.flows[rev]; ok {
		f := &an.res.Flows[i]
		f.Packets++
		f.Bytes += int64(ci.Length)
		f.Last = ci.Timestamp
		f.ToClient++
		return false
	}
	client, server := s, d
	toServer := true
	if tcp != nil && tcp.SYN && tcp.ACK {
		// The capture missed the SYN: the receiver of the SYN-ACK is the client.
		client, server, toServer = d, s, false
	}
	f := Flow{Proto: scProtoName(proto), Client: client, Server: server, Packets: 1, Bytes: int64(ci.Length), First: ci.Timestamp, Last: ci.Timestamp}
	if toServer {
		f.ToServer = 1
	} else {
		f.ToClient = 1
	}
	an.flows[scFlowKey{proto, client, server}] = len(an.res.Flows)
	an.res.Flows = append(an.res.Flows, f)
	return toServer
}

func (an *scAnalyzer) tcpSegment(t *layers.TCP, s, d netip.AddrPort, toServer bool, ci gopacket.CaptureInfo) {
	key := scFlowKey{6, s, d}
	if !toServer {
		key = scFlowKey{6, d, s}
	}
	c := an.tcp[key]
	if c == nil {
		c = &scTCPConn{hs: len(an.res.Handshakes)}
		c.seenDir[0], c.seenDir[1] = map[[2]uint32]bool{}, map[[2]uint32]bool{}
		an.res.Handshakes = append(an.res.Handshakes, TCPHandshake{Client: key.src, Server: key.dst, Start: ci.Timestamp, Result: HandshakeMidConnection})
		an.tcp[key] = c
	}
	hs := &an.res.Handshakes[c.hs]
	switch {
	case t.SYN && !t.ACK && toServer:
		hs.SYNs++
		if hs.SYNs == 1 {
			c.synTime = ci.Timestamp
			hs.Result = HandshakeNoSynAck
		}
	case t.SYN && t.ACK && !toServer:
		if !c.synAck && hs.SYNs > 0 {
			hs.RTT = ci.Timestamp.Sub(c.synTime)
			hs.Result = HandshakeNoFinalAck
		}
		c.synAck = true
	case t.RST:
		if toServer {
			hs.ResetBy = "client"
		} else {
			hs.ResetBy = "server"
		}
		if hs.SYNs > 0 && !c.synAck && !toServer {
			hs.Result = HandshakeReset
		}
	case t.ACK && toServer && c.synAck && !c.acked:
		c.acked = true
		if hs.SYNs > 0 {
			hs.Result = HandshakeComplete
		}
	}
	// Retransmissions: the same sequence number and length sent again.
	segLen := len(t.Payload)
	kind := "data"
	switch {
	case t.SYN && t.ACK:
		kind, segLen = "syn-ack", segLen+1
	case t.SYN:
		kind, segLen = "syn", segLen+1
	case t.FIN:
		kind, segLen = "fin", segLen+1
	}
	if segLen > 0 && !t.RST {
		dir := 0
		if !toServer {
			dir = 1
		}
		k := [2]uint32{t.Seq, uint32(segLen)}
		if c.seenDir[dir][k] {
			an.res.Retransmissions = append(an.res.Retransmissions, Retransmission{Time: ci.Timestamp, Src: s, Dst: d, Seq: t.Seq, Len: len(t.Payload), Kind: kind})
		} else {
			c.seenDir[dir][k] = true
		}
	}
	if len(t.Payload) > 0 {
		if toServer {
			if req, ok := scParseHTTPRequest(t.Payload); ok {
				req.Time, req.Client, req.Server = ci.Timestamp, s, d
				c.reqs = append(c.reqs, len(an.res.HTTP))
				an.res.HTTP = append(an.res.HTTP, req)
			}
		} else if status, ok := scParseHTTPStatus(t.Payload); ok && len(c.reqs) > 0 {
			an.res.HTTP[c.reqs[0]].Status = status
			c.reqs = c.reqs[1:]
		}
		if s.Port() == 53 || d.Port() == 53 {
			// DNS over TCP: a two-byte length, then the message.
			if len(t.Payload) > 2 {
				an.dnsMessage(t.Payload[2:], s, d, ci)
			}
		}
	}
}

var scHTTPMethods = []string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE"}

func scParseHTTPRequest(p []byte) (HTTPRequest, bool) {
	line, rest, _ := bytes.Cut(p, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) != 3 || !slices.Contains(scHTTPMethods, f[0]) || !strings.HasPrefix(f[2], "HTTP/1.") {
		return HTTPRequest{}, false
	}
	req := HTTPRequest{Method: f[0], Path: f[1]}
	for _, h := range strings.Split(string(rest), "\r\n") {
		if h == "" {
			break
		}
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "host") {
			req.Host = strings.TrimSpace(v)
		}
	}
	return req, true
}

func scParseHTTPStatus(p []byte) (int, bool) {
	if !bytes.HasPrefix(p, []byte("HTTP/1.")) || len(p) < 12 {
		return 0, false
	}
	n, err := strconv.Atoi(string(p[9:12]))
	return n, err == nil
}

func (an *scAnalyzer) dnsMessage(payload []byte, s, d netip.AddrPort, ci gopacket.CaptureInfo) {
	var m dns.Msg
	if err := m.Unpack(payload); err != nil || len(m.Question) == 0 {
		return
	}
	q := m.Question[0]
	if !m.Response {
		an.dnsQ[fmt.Sprintf("%s|%s|%d", s, d, m.Id)] = len(an.res.DNS)
		an.res.DNS = append(an.res.DNS, DNSExchange{
			Time: ci.Timestamp, Client: s, Server: d, ID: m.Id,
			Name: q.Name, Type: dns.TypeToString[q.Qtype],
		})
		return
	}
	key := fmt.Sprintf("%s|%s|%d", d, s, m.Id)
	i, ok := an.dnsQ[key]
	if !ok {
		// An answer whose query the capture missed.
		i = len(an.res.DNS)
		an.res.DNS = append(an.res.DNS, DNSExchange{Time: ci.Timestamp, Client: d, Server: s, ID: m.Id, Name: q.Name, Type: dns.TypeToString[q.Qtype]})
	} else {
		delete(an.dnsQ, key)
	}
	x := &an.res.DNS[i]
	x.Answered = true
	x.Rcode = dns.RcodeToString[m.Rcode]
	if ok {
		x.Latency = ci.Timestamp.Sub(x.Time)
	}
	for _, rr := range m.Answer {
		x.Answers = append(x.Answers, strings.ReplaceAll(rr.String(), "\t", " "))
	}
}

var scICMP4Names = map[[2]int]string{
	{3, 0}: "net unreachable", {3, 1}: "host unreachable", {3, 2}: "protocol unreachable",
	{3, 3}: "port unreachable", {3, 4}: "fragmentation needed", {3, 5}: "source route failed",
	{3, 6}: "destination network unknown", {3, 7}: "destination host unknown",
	{3, 9}: "network administratively prohibited", {3, 10}: "host administratively prohibited",
	{3, 13}: "communication administratively prohibited",
	{11, 0}: "TTL exceeded in transit", {11, 1}: "fragment reassembly time exceeded",
	{12, 0}: "parameter problem", {5, 0}: "redirect for network", {5, 1}: "redirect for host",
}

func (an *scAnalyzer) icmp4(l *layers.ICMPv4, src, dst netip.Addr, ci gopacket.CaptureInfo) {
	typ, code := int(l.TypeCode.Type()), int(l.TypeCode.Code())
	if typ != 3 && typ != 11 && typ != 12 && typ != 5 {
		return
	}
	e := PcapICMPError{Time: ci.Timestamp, From: src, To: dst, Type: typ, Code: code, Description: scICMP4Names[[2]int{typ, code}]}
	if e.Description == "" {
		e.Description = fmt.Sprintf("type %d code %d", typ, code)
	}
	if typ == 3 && code == 4 {
		e.MTU = int(l.Seq) // the next-hop MTU is in the second half of the header
	}
	scQuoted(&e, gopacket.NewPacket(l.Payload, layers.LayerTypeIPv4, gopacket.DecodeOptions{Lazy: true, NoCopy: true}))
	an.res.ICMPErrors = append(an.res.ICMPErrors, e)
}

var scICMP6Names = map[[2]int]string{
	{1, 0}: "no route to destination", {1, 1}: "administratively prohibited", {1, 3}: "address unreachable",
	{1, 4}: "port unreachable", {1, 5}: "source address failed policy", {1, 6}: "reject route",
	{2, 0}: "packet too big", {3, 0}: "hop limit exceeded in transit", {3, 1}: "fragment reassembly time exceeded",
	{4, 0}: "erroneous header field", {4, 1}: "unrecognized next header", {4, 2}: "unrecognized IPv6 option",
}

func (an *scAnalyzer) icmp6(l *layers.ICMPv6, src, dst netip.Addr, ci gopacket.CaptureInfo) {
	typ, code := int(l.TypeCode.Type()), int(l.TypeCode.Code())
	if typ < 1 || typ > 4 || len(l.Payload) < 4 {
		return
	}
	e := PcapICMPError{Time: ci.Timestamp, From: src, To: dst, Type: typ, Code: code, Description: scICMP6Names[[2]int{typ, code}]}
	if e.Description == "" {
		e.Description = fmt.Sprintf("type %d code %d", typ, code)
	}
	// gopacket leaves the 4 bytes after the checksum (MTU, pointer or
	// unused) at the front of the payload.
	if typ == 2 {
		e.MTU = int(binary.BigEndian.Uint32(l.Payload[:4]))
	}
	scQuoted(&e, gopacket.NewPacket(l.Payload[4:], layers.LayerTypeIPv6, gopacket.DecodeOptions{Lazy: true, NoCopy: true}))
	an.res.ICMPErrors = append(an.res.ICMPErrors, e)
}

// scQuoted reads the offending packet's header quoted in an ICMP error.
func scQuoted(e *PcapICMPError, p gopacket.Packet) {
	var src, dst netip.Addr
	var proto uint8
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		src, dst, proto = scAddr(ip.SrcIP), scAddr(ip.DstIP), uint8(ip.Protocol)
	case *layers.IPv6:
		src, dst, proto = scAddr(ip.SrcIP), scAddr(ip.DstIP), uint8(ip.NextHeader)
	default:
		return
	}
	var sp, dp uint16
	// The quote holds at least 8 bytes of the transport header: the ports.
	if pl := p.NetworkLayer().LayerPayload(); (proto == 6 || proto == 17) && len(pl) >= 4 {
		sp, dp = binary.BigEndian.Uint16(pl[0:]), binary.BigEndian.Uint16(pl[2:])
	}
	e.OrigProto = scProtoName(proto)
	e.OrigSrc, e.OrigDst = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
}

func (an *scAnalyzer) finish() *PcapAnalysis {
	r := &an.res
	slices.SortStableFunc(r.Flows, func(a, b Flow) int { return a.First.Compare(b.First) })
	slices.SortStableFunc(r.Handshakes, func(a, b TCPHandshake) int { return a.Start.Compare(b.Start) })
	slices.SortStableFunc(r.DNS, func(a, b DNSExchange) int { return cmp.Compare(a.Time.UnixNano(), b.Time.UnixNano()) })
	return r
}

// Summary is the analysis in a few lines for an operator.
func (a *PcapAnalysis) Summary() []string {
	var out []string
	out = append(out, fmt.Sprintf("%d packets, %d bytes, %d flows over %s", a.Packets, a.Bytes, len(a.Flows), a.Last.Sub(a.First).Round(time.Millisecond)))
	for _, h := range a.Handshakes {
		line := fmt.Sprintf("TCP %s -> %s: %s", h.Client, h.Server, h.Result)
		switch h.Result {
		case HandshakeComplete:
			line += fmt.Sprintf(" (SYN-ACK after %s)", h.RTT.Round(time.Microsecond))
		case HandshakeNoSynAck:
			line += fmt.Sprintf(" after %d SYN(s): something drops the SYNs or the host is down", h.SYNs)
		case HandshakeReset:
			line += ": refused (nothing listens, or a firewall rejects with tcp-reset)"
		}
		if h.ResetBy != "" && h.Result != HandshakeReset {
			line += ", later reset by the " + h.ResetBy
		}
		out = append(out, line)
	}
	if n := len(a.Retransmissions); n > 0 {
		out = append(out, fmt.Sprintf("%d TCP retransmission(s)", n))
	}
	for _, e := range a.ICMPErrors {
		orig := func(ap netip.AddrPort) string {
			if ap.Port() == 0 {
				return ap.Addr().String()
			}
			return ap.String()
		}
		line := fmt.Sprintf("ICMP %s from %s about %s %s -> %s", e.Description, e.From, e.OrigProto, orig(e.OrigSrc), orig(e.OrigDst))
		if e.MTU > 0 {
			line += fmt.Sprintf(" (next-hop MTU %d)", e.MTU)
		}
		out = append(out, line)
	}
	for _, d := range a.DNS {
		line := fmt.Sprintf("DNS %s %s from %s to %s: ", d.Type, d.Name, d.Client, d.Server)
		if d.Answered {
			line += fmt.Sprintf("%s, %d answer(s) in %s", d.Rcode, len(d.Answers), d.Latency.Round(time.Microsecond))
		} else {
			line += "no answer"
		}
		out = append(out, line)
	}
	for _, h := range a.HTTP {
		line := fmt.Sprintf("HTTP %s %s%s from %s", h.Method, h.Host, h.Path, h.Client)
		if h.Status != 0 {
			line += fmt.Sprintf(": %d", h.Status)
		}
		out = append(out, line)
	}
	return out
}
