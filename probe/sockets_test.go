package probe

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
)

// scSSRow is one line of `ss -H -[tu]anp -[46]` parsed.
type scSSRow struct {
	state        string
	recvQ, sendQ uint32
	local, peer  string
	pids         []int
	names        []string
}

var scSSUsers = regexp.MustCompile(`\("([^"]*)",pid=(\d+),fd=(\d+)\)`)

func scParseSS(t *testing.T, out string) map[string]scSSRow {
	t.Helper()
	rows := map[string]scSSRow{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		rq, _ := strconv.ParseUint(f[1], 10, 32)
		sq, _ := strconv.ParseUint(f[2], 10, 32)
		r := scSSRow{state: f[0], recvQ: uint32(rq), sendQ: uint32(sq), local: f[3], peer: f[4]}
		if len(f) > 5 {
			for _, m := range scSSUsers.FindAllStringSubmatch(strings.Join(f[5:], " "), -1) {
				pid, _ := strconv.Atoi(m[2])
				r.pids = append(r.pids, pid)
				r.names = append(r.names, m[1])
			}
		}
		slices.Sort(r.pids)
		r.pids = slices.Compact(r.pids)
		key := r.local + " " + r.peer
		if _, dup := rows[key]; dup {
			t.Fatalf("ss shows %s twice", key)
		}
		rows[key] = r
	}
	return rows
}

// scSSAddr renders an address and port the way ss does.
func scSSAddr(ap netip.AddrPort, family string, v6only bool) string {
	a := ap.Addr()
	host := a.String()
	if family == "inet6" {
		if a.IsUnspecified() && !v6only {
			host = "*"
		} else {
			host = "[" + host + "]"
		}
	}
	port := "*"
	if ap.Port() != 0 {
		port = strconv.Itoa(int(ap.Port()))
	}
	return host + ":" + port
}

// scLab is the two-namespace lab of the socket tests: a is observed, b is
// its peer across a veth.
type scLab struct {
	a, b         *sandbox.Netns
	ifA, ifB     string
	held         []net.Conn
	closeWaitN   int
	timeWaitN    int
	pendingN     int
	ncPID        int
	portRangeLow int
}

const (
	scAddrA  = "10.31.0.1"
	scAddrB  = "10.31.0.2"
	scAddr6A = "fd31::1"
	scAddr6B = "fd31::2"
)

func scNewSocketLab(t *testing.T) *scLab {
	l := &scLab{closeWaitN: 12, timeWaitN: 16, pendingN: 2, portRangeLow: 40000}
	l.a, l.b = scNewNetns(t), scNewNetns(t)
	sfx := scRandSuffix()
	l.ifA, l.ifB = "sca"+sfx, "scb"+sfx
	scVeth(t, l.a, l.ifA, scAddrA+"/24", l.b, l.ifB, scAddrB+"/24")
	ha, err := l.a.NetlinkHandle()
	scMust(t, err, "handle")
	defer ha.Close()
	hb, err := l.b.NetlinkHandle()
	scMust(t, err, "handle")
	defer hb.Close()
	scRun(t, l.a, "ip", "addr", "add", scAddr6A+"/64", "dev", l.ifA, "nodad")
	scRun(t, l.b, "ip", "addr", "add", scAddr6B+"/64", "dev", l.ifB, "nodad")
	// A small ephemeral range makes its fullness visible.
	scRun(t, l.a, "sysctl", "-qw", fmt.Sprintf("net.ipv4.ip_local_port_range=%d %d", l.portRangeLow, l.portRangeLow+19))

	hold := func(c net.Conn) { l.held = append(l.held, c) }
	t.Cleanup(func() {
		for _, c := range l.held {
			c.Close()
		}
	})

	// CLOSE-WAIT: a server in a that never closes what b has closed.
	srv := scListenIn(t, l.a, "tcp4", scAddrA+":7001")
	for i := 0; i < l.closeWaitN; i++ {
		c := scDialIn(t, l.b, "tcp4", scAddrA+":7001")
		s, err := srv.Accept()
		scMust(t, err, "accept")
		hold(s)
		c.Close()
	}
	// A server in b for a's clients: it closes when the client does.
	bsrv := scListenIn(t, l.b, "tcp4", scAddrB+":7002")
	go func() {
		for {
			c, err := bsrv.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	// TIME-WAIT: a closes first.
	for i := 0; i < l.timeWaitN; i++ {
		c := scDialIn(t, l.a, "tcp4", scAddrB+":7002")
		c.Close()
	}
	// ESTAB: a keeps one connection to b, over IPv4 and IPv6.
	hold(scDialIn(t, l.a, "tcp4", scAddrB+":7002"))
	b6 := scListenIn(t, l.b, "tcp6", "["+scAddr6B+"]:7012")
	hold(scDialIn(t, l.a, "tcp6", "["+scAddr6B+"]:7012"))
	s6, err := b6.Accept()
	scMust(t, err, "accept v6")
	hold(s6)
	// A dual-stack listener (an IPv6 socket) and an IPv4 client to it.
	ds := scListenIn(t, l.a, "tcp", ":7003")
	hold(scDialIn(t, l.a, "tcp4", "127.0.0.1:7003"))
	dsc, err := ds.Accept()
	scMust(t, err, "accept dual stack")
	hold(dsc)
	// A listener that never accepts: its accept queue fills.
	scListenIn(t, l.a, "tcp4", scAddrA+":7008")
	for i := 0; i < l.pendingN; i++ {
		hold(scDialIn(t, l.b, "tcp4", scAddrA+":7008"))
	}
	// Another process: a netcat listener.
	nc := scStart(t, l.a, "nc", "-lk", scAddrA, "7004")
	l.ncPID = nc.Process.Pid
	// UDP: unconnected, connected, IPv6.
	err = l.a.Do(func() error {
		u1, err := net.ListenPacket("udp4", scAddrA+":7005")
		if err != nil {
			return err
		}
		hold(u1.(net.Conn))
		u2, err := net.Dial("udp4", scAddrB+":7006")
		if err != nil {
			return err
		}
		hold(u2)
		u3, err := net.ListenPacket("udp6", "["+scAddr6A+"]:7007")
		if err != nil {
			return err
		}
		hold(u3.(net.Conn))
		return nil
	})
	scMust(t, err, "udp sockets")
	scWaitFor(t, "nc to listen", func() bool {
		return strings.Contains(scRun(t, l.a, "ss", "-tlnH"), scAddrA+":7004")
	})
	scWaitFor(t, "the CLOSE-WAIT sockets", func() bool {
		return strings.Count(scRun(t, l.a, "ss", "-tanH", "state", "close-wait"), "\n") == l.closeWaitN
	})
	return l
}

func TestSocketTableMatchesSS(t *testing.T) {
	l := scNewSocketLab(t)
	tab, err := ListSockets(l.a, SocketFilter{Processes: true, TCPInfo: true, PortRange: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ proto, family, ssFlags, famFlag string }{
		{"tcp", "inet", "-tanpH", "-4"},
		{"tcp", "inet6", "-tanpH", "-6"},
		{"udp", "inet", "-uanpH", "-4"},
		{"udp", "inet6", "-uanpH", "-6"},
	} {
		t.Run(fmt.Sprintf("%s %s sockets are those of ss %s %s", c.proto, c.family, c.ssFlags, c.famFlag), func(t *testing.T) {
			want := scParseSS(t, scRun(t, l.a, "ss", c.ssFlags, c.famFlag))
			got := map[string]Socket{}
			for _, s := range tab.Sockets {
				if s.Proto == c.proto && s.Family == c.family {
					got[scSSAddr(s.Local, s.Family, s.V6Only)+" "+scSSAddr(s.Remote, s.Family, s.V6Only)] = s
				}
			}
			if len(want) == 0 {
				t.Fatal("ss shows no sockets; the lab was not built")
			}
			for k, w := range want {
				g, ok := got[k]
				if !ok {
					t.Errorf("ss shows %s %s, the table does not", w.state, k)
					continue
				}
				if g.State.String() != w.state {
					t.Errorf("%s: state %s, ss says %s", k, g.State, w.state)
				}
				if g.RecvQ != w.recvQ || g.SendQ != w.sendQ {
					t.Errorf("%s: queues %d/%d, ss says %d/%d", k, g.RecvQ, g.SendQ, w.recvQ, w.sendQ)
				}
				var pids []int
				for _, p := range g.Processes {
					pids = append(pids, p.PID)
				}
				slices.Sort(pids)
				pids = slices.Compact(pids)
				if !slices.Equal(pids, w.pids) {
					t.Errorf("%s: owners %v, ss says %v", k, pids, w.pids)
				}
				for i, p := range g.Processes {
					if i < len(w.names) && !slices.Contains(w.names, p.Name) {
						t.Errorf("%s: owner name %q, ss says %v", k, p.Name, w.names)
					}
				}
			}
			for k, g := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("the table shows %s %s, ss does not", g.State, k)
				}
			}
		})
	}

	t.Run("every state the lab built is present", func(t *testing.T) {
		counts := map[string]int{}
		for _, c := range tab.ByState() {
			counts[c.Key] = c.Count
		}
		for key, min := range map[string]int{
			"tcp CLOSE-WAIT": l.closeWaitN, "tcp TIME-WAIT": l.timeWaitN, "tcp LISTEN": 4,
			"tcp ESTAB": 4, "udp UNCONN": 2, "udp ESTAB": 1,
		} {
			if counts[key] < min {
				t.Errorf("%s: %d sockets, want at least %d (summary %v)", key, counts[key], min, tab.ByState())
			}
		}
	})

	t.Run("the nc listener belongs to the nc process", func(t *testing.T) {
		found := false
		for _, s := range tab.Sockets {
			if s.State == StateListen && s.Local.Port() == 7004 {
				found = true
				if len(s.Processes) != 1 || s.Processes[0].PID != l.ncPID || s.Processes[0].Name != "nc" {
					t.Errorf("owners %+v, want nc pid %d", s.Processes, l.ncPID)
				}
			}
		}
		if !found {
			t.Error("no listener on port 7004")
		}
	})

	t.Run("the dual-stack listener is an IPv6 socket on the wildcard", func(t *testing.T) {
		for _, s := range tab.Sockets {
			if s.State == StateListen && s.Local.Port() == 7003 {
				if s.Family != "inet6" || !s.Local.Addr().IsUnspecified() {
					t.Errorf("listener %s family %s", s.Local, s.Family)
				}
				return
			}
		}
		t.Error("no listener on port 7003")
	})

	t.Run("the established connection over the veth reports TCP info", func(t *testing.T) {
		for _, s := range tab.Sockets {
			if s.State == StateEstablished && s.Remote.Port() == 7002 {
				if s.TCP == nil || s.TCP.PMTU != 1500 || s.TCP.RTT <= 0 || s.TCP.SndMSS == 0 {
					t.Errorf("tcp info %+v, want pmtu 1500 and a measured rtt", s.TCP)
				}
				return
			}
		}
		t.Error("no ESTAB socket to port 7002")
	})

	t.Run("the accept queue of a listener that never accepts is its Recv-Q", func(t *testing.T) {
		for _, s := range tab.Sockets {
			if s.State == StateListen && s.Local.Port() == 7008 {
				if int(s.RecvQ) != l.pendingN || s.SendQ == 0 {
					t.Errorf("Recv-Q %d Send-Q %d, want %d pending and the backlog", s.RecvQ, s.SendQ, l.pendingN)
				}
				return
			}
		}
		t.Error("no listener on port 7008")
	})

	t.Run("summaries count by process and by remote address", func(t *testing.T) {
		self := fmt.Sprintf("/%d", os.Getpid())
		var mine int
		for _, c := range tab.ByProcess() {
			if strings.HasSuffix(c.Key, self) {
				mine = c.Count
			}
		}
		if mine < l.closeWaitN+4 {
			t.Errorf("this process holds %d sockets in the summary %v", mine, tab.ByProcess())
		}
		var toB int
		for _, c := range tab.ByRemote() {
			if c.Key == scAddrB {
				toB = c.Count
			}
		}
		// TIME-WAIT, the ESTAB client, the connected UDP socket, and the
		// CLOSE-WAIT and pending server sides whose peer is b.
		if want := l.timeWaitN + 2 + l.closeWaitN + l.pendingN; toB != want {
			t.Errorf("%d sockets towards %s, want %d", toB, scAddrB, want)
		}
	})

	t.Run("the port range usage counts the sockets to the busiest destination", func(t *testing.T) {
		pr := tab.PortRange
		if pr == nil || pr.Size != 20 || pr.Low != l.portRangeLow {
			t.Fatalf("port range %+v", pr)
		}
		want := strings.Count(scRun(t, l.a, "ss", "-tanH", "-4", "dst", scAddrB+":7002"), "\n")
		if pr.BusiestCount != want || pr.BusiestRemote.String() != scAddrB+":7002" {
			t.Errorf("busiest %s with %d, ss counts %d towards %s:7002", pr.BusiestRemote, pr.BusiestCount, want, scAddrB)
		}
	})

	t.Run("explain blames the process that leaks CLOSE-WAIT and warns about the port range", func(t *testing.T) {
		text := strings.Join(tab.Explain(), "\n")
		wantCW := fmt.Sprintf("%d sockets in CLOSE-WAIT belong to %s (pid %d)", l.closeWaitN, scProcName(os.Getpid()), os.Getpid())
		if !strings.Contains(text, wantCW) || !strings.Contains(text, "never calls close()") {
			t.Errorf("explanation lacks %q:\n%s", wantCW, text)
		}
		if !strings.Contains(text, "TIME-WAIT") || !strings.Contains(text, "nearly used up") {
			t.Errorf("explanation does not warn about the port range:\n%s", text)
		}
	})
}

func TestSocketKernelFilters(t *testing.T) {
	l := scNewSocketLab(t)
	states := func(names ...string) []SocketState {
		var out []SocketState
		for _, n := range names {
			s, err := ParseSocketStates(n)
			scMust(t, err, "state %s", n)
			out = append(out, s...)
		}
		return out
	}
	for _, c := range []struct {
		name   string
		filter SocketFilter
		ss     []string
	}{
		{"state close-wait keeps only CLOSE-WAIT", SocketFilter{TCP: true, States: states("close-wait")},
			[]string{"-tanH", "state", "close-wait"}},
		{"state time-wait keeps only TIME-WAIT", SocketFilter{TCP: true, States: states("time-wait")},
			[]string{"-tanH", "state", "time-wait"}},
		{"listening over both families", SocketFilter{TCP: true, States: states("listening")},
			[]string{"-tlnH"}},
		{"a port on either side", SocketFilter{TCP: true, Port: 7002},
			[]string{"-tanH", "( sport = :7002 or dport = :7002 )"}},
		{"a source port", SocketFilter{TCP: true, SrcPort: 7001},
			[]string{"-tanH", "sport = :7001"}},
		{"a destination port and a state", SocketFilter{TCP: true, DstPort: 7002, States: states("established")},
			[]string{"-tanH", "state", "established", "dport = :7002"}},
		{"a destination address", SocketFilter{TCP: true, DstAddr: netip.MustParsePrefix(scAddrB + "/32")},
			[]string{"-tanH", "dst", scAddrB}},
		{"an address on either side with a port", SocketFilter{TCP: true, Addr: netip.MustParsePrefix("10.31.0.0/24"), Port: 7008},
			[]string{"-tanH", "( src 10.31.0.0/24 or dst 10.31.0.0/24 ) and ( sport = :7008 or dport = :7008 )"}},
		{"an IPv6 destination", SocketFilter{TCP: true, DstAddr: netip.MustParsePrefix(scAddr6B + "/128")},
			[]string{"-tanH", "dst", "[" + scAddr6B + "]"}},
		{"UDP on a port", SocketFilter{UDP: true, SrcPort: 7005},
			[]string{"-uanH", "sport = :7005"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tab, err := ListSockets(l.a, c.filter)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Count(scRun(t, l.a, append([]string{"ss"}, c.ss...)...), "\n")
			if want == 0 {
				t.Fatal("ss finds nothing: the case tests nothing")
			}
			if len(tab.Sockets) != want {
				t.Errorf("%d sockets, ss %v finds %d", len(tab.Sockets), c.ss, want)
			}
		})
	}
}
