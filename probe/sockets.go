package probe

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// SocketState is a socket's state as the kernel reports it (the TCP state
// machine; UDP sockets are UNCONN or ESTAB).
type SocketState uint8

// The kernel's socket states (include/net/tcp_states.h).
const (
	StateEstablished SocketState = 1
	StateSynSent     SocketState = 2
	StateSynRecv     SocketState = 3
	StateFinWait1    SocketState = 4
	StateFinWait2    SocketState = 5
	StateTimeWait    SocketState = 6
	StateClose       SocketState = 7
	StateCloseWait   SocketState = 8
	StateLastAck     SocketState = 9
	StateListen      SocketState = 10
	StateClosing     SocketState = 11
)

var scStateNames = [...]string{
	0:                "UNKNOWN",
	StateEstablished: "ESTAB",
	StateSynSent:     "SYN-SENT",
	StateSynRecv:     "SYN-RECV",
	StateFinWait1:    "FIN-WAIT-1",
	StateFinWait2:    "FIN-WAIT-2",
	StateTimeWait:    "TIME-WAIT",
	StateClose:       "UNCONN",
	StateCloseWait:   "CLOSE-WAIT",
	StateLastAck:     "LAST-ACK",
	StateListen:      "LISTEN",
	StateClosing:     "CLOSING",
}

// String is the state as `ss` prints it.
func (s SocketState) String() string {
	if int(s) < len(scStateNames) {
		return scStateNames[s]
	}
	return "UNKNOWN-" + strconv.Itoa(int(s))
}

// MarshalJSON writes the state as its ss name.
func (s SocketState) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a state written by MarshalJSON.
func (s *SocketState) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	states, err := ParseSocketStates(name)
	if err != nil || len(states) != 1 {
		return fmt.Errorf("socket state %q: not a single state", name)
	}
	*s = states[0]
	return nil
}

// ParseSocketStates reads a state name the way `ss state NAME` does:
// established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait,
// closed (unconn), close-wait, last-ack, listening (listen), closing, and
// the groups all, connected, synchronized, bucket and big. ss's printed
// names (ESTAB, CLOSE-WAIT, ...) are accepted too, with any case and with
// '_' for '-'.
func ParseSocketStates(name string) ([]SocketState, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", "-")
	switch n {
	case "established", "estab":
		return []SocketState{StateEstablished}, nil
	case "syn-sent":
		return []SocketState{StateSynSent}, nil
	case "syn-recv", "syn-received":
		return []SocketState{StateSynRecv}, nil
	case "fin-wait-1":
		return []SocketState{StateFinWait1}, nil
	case "fin-wait-2":
		return []SocketState{StateFinWait2}, nil
	case "time-wait":
		return []SocketState{StateTimeWait}, nil
	case "closed", "close", "unconn":
		return []SocketState{StateClose}, nil
	case "close-wait":
		return []SocketState{StateCloseWait}, nil
	case "last-ack":
		return []SocketState{StateLastAck}, nil
	case "listening", "listen":
		return []SocketState{StateListen}, nil
	case "closing":
		return []SocketState{StateClosing}, nil
	case "all":
		return []SocketState{StateEstablished, StateSynSent, StateSynRecv, StateFinWait1, StateFinWait2,
			StateTimeWait, StateClose, StateCloseWait, StateLastAck, StateListen, StateClosing}, nil
	case "connected":
		return []SocketState{StateEstablished, StateSynSent, StateSynRecv, StateFinWait1, StateFinWait2,
			StateCloseWait, StateLastAck, StateClosing}, nil
	case "synchronized":
		return []SocketState{StateEstablished, StateSynRecv, StateFinWait1, StateFinWait2,
			StateCloseWait, StateLastAck, StateClosing}, nil
	case "bucket":
		return []SocketState{StateSynRecv, StateTimeWait}, nil
	case "big":
		return []SocketState{StateEstablished, StateSynSent, StateFinWait1, StateFinWait2,
			StateClose, StateCloseWait, StateLastAck, StateListen, StateClosing}, nil
	}
	return nil, fmt.Errorf("unknown socket state %q (try established, listening, close-wait, time-wait, syn-sent or all)", name)
}

// SocketTimer is the timer running on a socket, as `ss -o` shows it.
type SocketTimer struct {
	// Kind is "on" (retransmission), "keepalive", "timewait", "persist"
	// (zero-window probe), or empty when no timer runs.
	Kind    string        `json:"kind,omitempty"`
	Expires time.Duration `json:"expires_ns,omitempty"`
	Retrans int           `json:"retrans,omitempty"`
}

// TCPInfo is the part of the kernel's struct tcp_info that explains a
// connection's health.
type TCPInfo struct {
	RTT              time.Duration `json:"rtt_ns"`
	RTTVar           time.Duration `json:"rttvar_ns"`
	RTO              time.Duration `json:"rto_ns"`
	Retransmits      int           `json:"retransmits"`       // consecutive, unrecovered
	TotalRetransmits uint32        `json:"total_retransmits"` // over the connection's life
	RetransOut       uint32        `json:"retrans_out"`
	Lost             uint32        `json:"lost"`
	Unacked          uint32        `json:"unacked"`
	PMTU             uint32        `json:"pmtu"`
	SndMSS           uint32        `json:"snd_mss"`
	RcvMSS           uint32        `json:"rcv_mss"`
	SndCwnd          uint32        `json:"snd_cwnd"`
}

// SocketProcess is a process holding a socket open.
type SocketProcess struct {
	PID  int    `json:"pid"`
	Name string `json:"name"`
	FD   int    `json:"fd"`
}

// Socket is one row of the socket table.
type Socket struct {
	Proto  string      `json:"proto"`  // "tcp" or "udp"
	Family string      `json:"family"` // "inet" or "inet6"
	State  SocketState `json:"state"`
	// Local and Remote are as the kernel holds them: an IPv6 socket that
	// talks IPv4 has IPv4-mapped addresses (::ffff:10.0.0.1).
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	// V6Only is set on an IPv6 socket that refuses IPv4 (IPV6_V6ONLY).
	V6Only bool `json:"v6only,omitempty"`
	// Interface is the index of the device the socket is bound to, or 0.
	Interface int `json:"interface,omitempty"`
	// RecvQ and SendQ are the queues as ss shows them: for a listener,
	// the accept queue's length and its limit (the backlog); otherwise
	// the bytes not yet read by the application and not yet acknowledged
	// by the peer.
	RecvQ     uint32          `json:"recv_q"`
	SendQ     uint32          `json:"send_q"`
	Timer     SocketTimer     `json:"timer"`
	UID       uint32          `json:"uid"`
	Inode     uint32          `json:"inode"`
	TCP       *TCPInfo        `json:"tcp_info,omitempty"`
	Processes []SocketProcess `json:"processes,omitempty"`
}

// SocketFilter selects sockets. States, ports and addresses are evaluated
// by the kernel (a state mask and inet_diag bytecode), so a filtered query
// on a busy host costs only what it returns. Zero values select everything.
type SocketFilter struct {
	// TCP and UDP choose the protocols; neither means both.
	TCP, UDP bool
	// IPv4 and IPv6 choose the address families; neither means both.
	// An IPv6 socket carrying IPv4 (dual stack) is an IPv6 socket.
	IPv4, IPv6 bool
	// States keeps sockets in one of these states; empty means all.
	States []SocketState
	// Port keeps sockets whose local or remote port is Port.
	Port uint16
	// SrcPort and DstPort keep sockets whose local / remote port matches.
	SrcPort, DstPort uint16
	// Addr keeps sockets whose local or remote address is in the prefix.
	Addr netip.Prefix
	// SrcAddr and DstAddr keep sockets whose local / remote address is in
	// the prefix. IPv4 prefixes also match IPv4-mapped addresses.
	SrcAddr, DstAddr netip.Prefix
	// Processes resolves the owning processes through /proc/*/fd.
	Processes bool
	// TCPInfo asks the kernel for struct tcp_info (rtt, retransmits, pmtu).
	TCPInfo bool
	// PortRange measures how full net.ipv4.ip_local_port_range is, with a
	// separate unfiltered query.
	PortRange bool
}

// PortRangeUsage is how full the ephemeral port range is.
type PortRangeUsage struct {
	Low  int `json:"low"`
	High int `json:"high"`
	Size int `json:"size"`
	// InUse counts distinct local ports inside the range held by TCP
	// sockets that are not listening (TIME-WAIT included).
	InUse int `json:"in_use"`
	// A connection needs a local port unused towards its destination, so
	// the busiest destination is what runs out first.
	BusiestRemote netip.AddrPort `json:"busiest_remote"`
	BusiestCount  int            `json:"busiest_count"`
	// Fullness is BusiestCount/Size: 1 means the next connect() to that
	// destination fails with EADDRNOTAVAIL.
	Fullness float64 `json:"fullness"`
}

// SocketTable is the result of ListSockets.
type SocketTable struct {
	Target    string          `json:"target"`
	Sockets   []Socket        `json:"sockets"`
	PortRange *PortRangeUsage `json:"port_range,omitempty"`
	Took      time.Duration   `json:"took_ns"`
}

// ListSockets reads the TCP and UDP socket table of the target through
// sock_diag, as `ss -tuan` does, with the filter applied in the kernel.
func ListSockets(t Target, f SocketFilter) (*SocketTable, error) {
	start := time.Now()
	tab := &SocketTable{Target: t.Name()}
	bc := f.scBytecode()
	families := []uint8{unix.AF_INET, unix.AF_INET6}
	if f.IPv4 != f.IPv6 {
		if f.IPv4 {
			families = []uint8{unix.AF_INET}
		} else {
			families = []uint8{unix.AF_INET6}
		}
	}
	type protoReq struct {
		name  string
		proto uint8
	}
	protos := []protoReq{{"tcp", unix.IPPROTO_TCP}, {"udp", unix.IPPROTO_UDP}}
	if f.TCP != f.UDP {
		if f.TCP {
			protos = protos[:1]
		} else {
			protos = protos[1:]
		}
	}
	states := uint32(0x1fff)
	if len(f.States) > 0 {
		states = 0
		for _, s := range f.States {
			states |= 1 << s
		}
		if states&(1<<StateSynRecv) != 0 {
			states |= 1 << 12 // TCP_NEW_SYN_RECV: request sockets
		}
	}
	// One sock_diag socket per (protocol, family): the kernel walks its
	// tables for each, so the dumps run in parallel, each into a
	// pointer-free buffer; the table is then allocated once and decoded.
	type job struct {
		proto string
		req   scDiagRequest
		raw   []byte
		n     int
		err   error
	}
	// Filling a message costs the kernel far more than walking past a
	// socket, so on more than one CPU each dump is split by local port
	// (below and from 32768, roughly servers and clients) to spread the
	// filling over two CPUs.
	halves := []scBC{bc}
	if runtime.GOMAXPROCS(0) > 1 {
		halves = []scBC{scBCAnd(scBCSportRange(0, 32767), bc), scBCAnd(scBCSportRange(32768, 65535), bc)}
	}
	var jobs []*job
	for _, p := range protos {
		for _, fam := range families {
			for _, h := range halves {
				jobs = append(jobs, &job{proto: p.name, req: scDiagRequest{family: fam, protocol: p.proto, states: states, tcpInfo: f.TCPInfo && p.name == "tcp", bytecode: h}})
			}
		}
	}
	conns, err := scOpenDiags(t, len(jobs))
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j.raw, j.n, j.err = conns[i].dumpRaw(j.req, nil)
		}()
	}
	wg.Wait()
	total := 0
	for _, j := range jobs {
		if j.err != nil {
			return nil, fmt.Errorf("listing %s sockets on %s: %w", j.proto, t.Name(), j.err)
		}
		total += j.n
	}
	tab.Sockets = make([]Socket, total)
	off := 0
	for _, j := range jobs {
		wg.Add(1)
		go func(socks []Socket) {
			defer wg.Done()
			scDecodeRaw(j.raw, j.proto, socks)
			for i := range socks {
				if socks[i].State == 12 {
					socks[i].State = StateSynRecv
				}
			}
		}(tab.Sockets[off : off+j.n])
		off += j.n
	}
	wg.Wait()
	if f.Processes {
		if err := scAttachOwners(tab.Sockets); err != nil {
			return nil, fmt.Errorf("finding the processes behind sockets on %s: %w", t.Name(), err)
		}
	}
	if f.PortRange {
		u, err := scPortRangeUsage(t, conns[0])
		if err != nil {
			return nil, err
		}
		tab.PortRange = u
	}
	tab.Took = time.Since(start)
	return tab, nil
}

// scBytecode compiles the port and address conditions for the kernel.
func (f SocketFilter) scBytecode() []byte {
	var bc scBC
	if f.Port != 0 {
		bc = scBCAnd(bc, scBCOr(scBCPort(true, f.Port), scBCPort(false, f.Port)))
	}
	if f.SrcPort != 0 {
		bc = scBCAnd(bc, scBCPort(true, f.SrcPort))
	}
	if f.DstPort != 0 {
		bc = scBCAnd(bc, scBCPort(false, f.DstPort))
	}
	if f.Addr.IsValid() {
		bc = scBCAnd(bc, scBCOr(scBCAddr(true, f.Addr), scBCAddr(false, f.Addr)))
	}
	if f.SrcAddr.IsValid() {
		bc = scBCAnd(bc, scBCAddr(true, f.SrcAddr))
	}
	if f.DstAddr.IsValid() {
		bc = scBCAnd(bc, scBCAddr(false, f.DstAddr))
	}
	return bc
}

// PortRange reads net.ipv4.ip_local_port_range of the target and measures
// how full it is.
func PortRange(t Target) (*PortRangeUsage, error) {
	c, err := scOpenDiag(t)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return scPortRangeUsage(t, c)
}

func scPortRangeUsage(t Target, c *scDiagConn) (*PortRangeUsage, error) {
	var raw []byte
	err := t.Do(func() error {
		var err error
		// /proc/sys/net answers for the reading thread's namespace.
		raw, err = os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading ip_local_port_range on %s: %w", t.Name(), err)
	}
	fields := strings.Fields(string(raw))
	if len(fields) != 2 {
		return nil, fmt.Errorf("reading ip_local_port_range on %s: unexpected %q", t.Name(), raw)
	}
	low, err1 := strconv.Atoi(fields[0])
	high, err2 := strconv.Atoi(fields[1])
	if err1 != nil || err2 != nil || high < low {
		return nil, fmt.Errorf("reading ip_local_port_range on %s: unexpected %q", t.Name(), raw)
	}
	u := &PortRangeUsage{Low: low, High: high, Size: high - low + 1}
	inUse := map[uint16]struct{}{}
	perRemote := map[netip.AddrPort]int{}
	var s Socket
	states := uint32(0x1fff) &^ (1 << StateListen) &^ (1 << StateClose)
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		err := c.dump(scDiagRequest{family: fam, protocol: unix.IPPROTO_TCP, states: states}, func(msg, attrs []byte) {
			scDecodeSocket(&s, "tcp", msg, attrs)
			p := int(s.Local.Port())
			if p < low || p > high {
				return
			}
			inUse[uint16(p)] = struct{}{}
			r := netip.AddrPortFrom(s.Remote.Addr().Unmap(), s.Remote.Port())
			perRemote[r]++
		})
		if err != nil {
			return nil, fmt.Errorf("measuring the local port range on %s: %w", t.Name(), err)
		}
	}
	u.InUse = len(inUse)
	for r, n := range perRemote {
		if n > u.BusiestCount || (n == u.BusiestCount && r.String() < u.BusiestRemote.String()) {
			u.BusiestRemote, u.BusiestCount = r, n
		}
	}
	u.Fullness = float64(u.BusiestCount) / float64(u.Size)
	return u, nil
}

// SocketCount is one line of a summary.
type SocketCount struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

func scCount(socks []Socket, key func(*Socket) []string) []SocketCount {
	m := map[string]int{}
	for i := range socks {
		for _, k := range key(&socks[i]) {
			m[k]++
		}
	}
	out := make([]SocketCount, 0, len(m))
	for k, n := range m {
		out = append(out, SocketCount{Key: k, Count: n})
	}
	slices.SortFunc(out, func(a, b SocketCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out
}

// ByState counts sockets per protocol and state ("tcp ESTAB").
func (t *SocketTable) ByState() []SocketCount {
	return scCount(t.Sockets, func(s *Socket) []string { return []string{s.Proto + " " + s.State.String()} })
}

// ByRemote counts connected sockets per remote address (listeners and
// unconnected UDP sockets have none and are left out).
func (t *SocketTable) ByRemote() []SocketCount {
	return scCount(t.Sockets, func(s *Socket) []string {
		if !s.Remote.Addr().IsValid() || s.Remote.Addr().IsUnspecified() {
			return nil
		}
		return []string{s.Remote.Addr().Unmap().String()}
	})
}

// ByProcess counts sockets per owning process ("name/pid"); sockets that
// no process holds (TIME-WAIT, orphans) count under "-". It needs a table
// listed with Processes.
func (t *SocketTable) ByProcess() []SocketCount {
	return scCount(t.Sockets, func(s *Socket) []string {
		if len(s.Processes) == 0 {
			return []string{"-"}
		}
		seen := make([]string, 0, 1)
		for _, p := range s.Processes {
			k := fmt.Sprintf("%s/%d", p.Name, p.PID)
			if !slices.Contains(seen, k) {
				seen = append(seen, k)
			}
		}
		return seen
	})
}

// Thresholds used by Explain.
const (
	scCloseWaitPile    = 10   // CLOSE-WAIT sockets under one process that make a pile
	scPortRangeWarning = 0.75 // fullness of the ephemeral range worth a warning
)

// Explain turns the table into sentences an operator can act on: which
// process leaks CLOSE-WAIT sockets, whether TIME-WAIT matters, full accept
// queues, retransmitting connections, and how full the port range is.
func (t *SocketTable) Explain() []string {
	var out []string
	closeWait := map[string]int{}
	var timeWait, orphanCW int
	for i := range t.Sockets {
		s := &t.Sockets[i]
		switch s.State {
		case StateCloseWait:
			if len(s.Processes) == 0 {
				orphanCW++
			}
			for _, p := range s.Processes {
				closeWait[fmt.Sprintf("%s (pid %d)", p.Name, p.PID)]++
			}
		case StateTimeWait:
			timeWait++
		}
	}
	procs := make([]string, 0, len(closeWait))
	for p := range closeWait {
		procs = append(procs, p)
	}
	slices.SortFunc(procs, func(a, b string) int {
		if c := cmp.Compare(closeWait[b], closeWait[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, p := range procs {
		n := closeWait[p]
		if n >= scCloseWaitPile {
			out = append(out, fmt.Sprintf("%d sockets in CLOSE-WAIT belong to %s: the peer has closed and this process never calls close() on them. It leaks sockets; fix its code (close the connection when read returns EOF) or restart it to release them.", n, p))
		} else {
			out = append(out, fmt.Sprintf("%d socket(s) in CLOSE-WAIT belong to %s: the peer has closed and the process has not closed yet. A few are normal; a number that only grows means the process does not close its sockets.", n, p))
		}
	}
	if orphanCW > 0 {
		out = append(out, fmt.Sprintf("%d socket(s) in CLOSE-WAIT have no owning process in view (list with processes, or run as root, to see who holds them).", orphanCW))
	}
	if timeWait > 0 {
		msg := fmt.Sprintf("%d socket(s) in TIME-WAIT: the kernel keeps a connection there for 60 s after this side closed first. That is normal and no process holds them", timeWait)
		if pr := t.PortRange; pr != nil {
			msg += fmt.Sprintf("; the local port range %d-%d (%d ports) is %.0f%% used towards the busiest destination %s (%d sockets)", pr.Low, pr.High, pr.Size, 100*pr.Fullness, pr.BusiestRemote, pr.BusiestCount)
			if pr.Fullness >= scPortRangeWarning {
				msg += ". That is nearly used up: new connections to that destination will soon fail with \"Cannot assign requested address\" (EADDRNOTAVAIL); reuse connections (keep-alive, pooling), widen net.ipv4.ip_local_port_range or let the server close first"
			} else {
				msg += ", which leaves room"
			}
		} else {
			msg += " unless the local port range is nearly used up"
		}
		out = append(out, msg+".")
	} else if pr := t.PortRange; pr != nil && pr.Fullness >= scPortRangeWarning {
		out = append(out, fmt.Sprintf("The local port range %d-%d is %.0f%% used towards %s: new connections there will soon fail with EADDRNOTAVAIL.", pr.Low, pr.High, 100*pr.Fullness, pr.BusiestRemote))
	}
	for i := range t.Sockets {
		s := &t.Sockets[i]
		if s.Proto == "tcp" && s.State == StateListen && s.SendQ > 0 && s.RecvQ >= s.SendQ {
			out = append(out, fmt.Sprintf("The listener on %s has a full accept queue (%d of %d): the application does not call accept() fast enough, and new connections are dropped or delayed.", s.Local, s.RecvQ, s.SendQ))
		}
	}
	var synSent, retrans int
	for i := range t.Sockets {
		s := &t.Sockets[i]
		if s.State == StateSynSent {
			synSent++
		}
		if s.TCP != nil && s.TCP.Retransmits > 0 && s.State != StateSynSent {
			retrans++
		}
	}
	if synSent > 0 {
		out = append(out, fmt.Sprintf("%d connection(s) in SYN-SENT: SYNs left and no answer came back yet; a firewall that drops, or a dead host, makes them time out.", synSent))
	}
	if retrans > 0 {
		out = append(out, fmt.Sprintf("%d established connection(s) are retransmitting: packets or their acknowledgements are being lost on the path.", retrans))
	}
	if len(out) == 0 {
		out = append(out, fmt.Sprintf("%d socket(s), nothing unusual.", len(t.Sockets)))
	}
	return out
}
