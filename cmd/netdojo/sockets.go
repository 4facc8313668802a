package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

// socketsOptions are the flags of `netdojo sockets`.
type socketsOptions struct {
	in        string
	states    []string
	port      uint16
	sport     uint16
	dport     uint16
	addr      string
	tcp, udp  bool
	summary   bool
	noProcess bool
}

func newSocketsCmd(g *globalOptions) *cobra.Command {
	o := &socketsOptions{}
	cmd := &cobra.Command{
		Use:   "sockets [--in LAB/HOST] [--state S] [--port P] [--summary]",
		Short: "Show the TCP and UDP socket table with owning processes, and explain it",
		Long: `Show the socket table as 'ss -tuanp' does, read from the kernel through
sock_diag: state, queues, timers, TCP info, and the processes that hold each
socket. States, ports and addresses are filtered in the kernel.

After the table, netdojo explains what it sees: CLOSE-WAIT sockets piling up
under one process (it does not close its sockets), TIME-WAIT and how full the
local port range is, full accept queues, unanswered SYNs, retransmissions.

Without --in it reads the machine's own sockets; with --in LAB/HOST those of
a lab host.`,
		Example: `  netdojo sockets --in web-1/server --state close-wait
  netdojo sockets --state listening
  netdojo sockets --port 443 --summary
  netdojo sockets --in web-1/client --summary --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSockets(g, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.in, "in", "", "a lab host, as LAB/HOST (default: this machine)")
	f.StringSliceVar(&o.states, "state", nil, "keep sockets in this state (established, listening, close-wait, time-wait, syn-sent, connected, ...); repeatable")
	f.Uint16Var(&o.port, "port", 0, "keep sockets with this local or remote port")
	f.Uint16Var(&o.sport, "sport", 0, "keep sockets with this local port")
	f.Uint16Var(&o.dport, "dport", 0, "keep sockets with this remote port")
	f.StringVar(&o.addr, "addr", "", "keep sockets with a local or remote address in this address or prefix")
	f.BoolVarP(&o.tcp, "tcp", "t", false, "TCP only")
	f.BoolVarP(&o.udp, "udp", "u", false, "UDP only")
	f.BoolVar(&o.summary, "summary", false, "counts by state, remote address and process instead of every socket")
	f.BoolVar(&o.noProcess, "no-processes", false, "do not look up the owning processes (faster on busy hosts)")
	return cmd
}

// sockcapTarget resolves --in LAB/HOST to a lab host, or the machine's own
// network when in is empty. The returned function releases the lab.
func sockcapTarget(g *globalOptions, in, what string) (probe.Target, func() error, error) {
	if in == "" {
		return probe.Local{}, func() error { return nil }, nil
	}
	labName, host, ok := strings.Cut(in, "/")
	if !ok || labName == "" || host == "" {
		return nil, nil, withCode(exitUsage, fmt.Errorf("--in wants LAB/HOST, not %q", in))
	}
	if err := checkLabHost(labName, host); err != nil {
		return nil, nil, err
	}
	if err := needRoot(what + " --in"); err != nil {
		return nil, nil, err
	}
	lab, err := sandbox.Open(g.store(), labName)
	if err != nil {
		return nil, nil, err
	}
	ns, err := lab.Host(host)
	if err != nil {
		return nil, nil, errors.Join(err, lab.Close())
	}
	return ns, lab.Close, nil
}

func (o *socketsOptions) filter() (probe.SocketFilter, error) {
	f := probe.SocketFilter{
		TCP: o.tcp, UDP: o.udp, Port: o.port, SrcPort: o.sport, DstPort: o.dport,
		Processes: !o.noProcess, TCPInfo: true, PortRange: true,
	}
	for _, s := range o.states {
		st, err := probe.ParseSocketStates(s)
		if err != nil {
			return f, withCode(exitUsage, err)
		}
		f.States = append(f.States, st...)
	}
	if o.addr != "" {
		p, err := netip.ParsePrefix(o.addr)
		if err != nil {
			a, aerr := netip.ParseAddr(o.addr)
			if aerr != nil {
				return f, withCode(exitUsage, fmt.Errorf("--addr wants an address or a prefix, not %q", o.addr))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		f.Addr = p
	}
	return f, nil
}

// socketsReport is the JSON output of `netdojo sockets`.
type socketsReport struct {
	Table     *probe.SocketTable  `json:"table"`
	ByState   []probe.SocketCount `json:"by_state"`
	ByRemote  []probe.SocketCount `json:"by_remote"`
	ByProcess []probe.SocketCount `json:"by_process,omitempty"`
	Explain   []string            `json:"explain"`
}

func runSockets(g *globalOptions, o *socketsOptions, w io.Writer) (err error) {
	f, err := o.filter()
	if err != nil {
		return err
	}
	t, release, err := sockcapTarget(g, o.in, "netdojo sockets")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, release()) }()
	return writeSockets(g, o, f, t, w)
}

// writeSockets lists the sockets of t and prints them.
func writeSockets(g *globalOptions, o *socketsOptions, f probe.SocketFilter, t probe.Target, w io.Writer) error {
	tab, err := probe.ListSockets(t, f)
	if err != nil {
		return err
	}
	// PIDs as a lab's PID namespace numbers them, as ss shows them inside.
	for i := range tab.Sockets {
		for j, p := range tab.Sockets[i].Processes {
			if n := sandbox.NSPID(p.PID); n > 0 {
				tab.Sockets[i].Processes[j].PID = n
			}
		}
	}
	rep := socketsReport{Table: tab, ByState: tab.ByState(), ByRemote: tab.ByRemote(), Explain: tab.Explain()}
	if f.Processes {
		rep.ByProcess = tab.ByProcess()
	}
	if g.json() {
		if o.summary {
			rep.Table = &probe.SocketTable{Target: tab.Target, PortRange: tab.PortRange, Took: tab.Took}
		}
		return writeJSON(w, rep)
	}
	if o.summary {
		fmt.Fprintf(w, "%d sockets on %s\n", len(tab.Sockets), tab.Target)
		sockcapCounts(w, "STATE", rep.ByState, 0)
		sockcapCounts(w, "REMOTE ADDRESS", rep.ByRemote, 10)
		if f.Processes {
			sockcapCounts(w, "PROCESS", rep.ByProcess, 10)
		}
		if pr := tab.PortRange; pr != nil {
			fmt.Fprintf(w, "\nlocal port range %d-%d: %d ports in use; busiest destination %s with %d (%.0f%% of the range)\n",
				pr.Low, pr.High, pr.InUse, pr.BusiestRemote, pr.BusiestCount, 100*pr.Fullness)
		}
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NETID\tSTATE\tRECV-Q\tSEND-Q\tLOCAL\tPEER\tTIMER\tPROCESS")
		for _, s := range tab.Sockets {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Proto, s.State, s.RecvQ, s.SendQ,
				sockcapAddr(s.Local, s.V6Only), sockcapAddr(s.Remote, s.V6Only), sockcapTimer(s.Timer), sockcapProcs(s.Processes))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	for _, line := range rep.Explain {
		fmt.Fprintln(w, "* "+line)
	}
	return nil
}

func sockcapCounts(w io.Writer, title string, counts []probe.SocketCount, limit int) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tSOCKETS\n", title)
	for i, c := range counts {
		if limit > 0 && i == limit {
			fmt.Fprintf(tw, "(%d more)\t\n", len(counts)-limit)
			break
		}
		fmt.Fprintf(tw, "%s\t%d\n", c.Key, c.Count)
	}
	tw.Flush()
}

// sockcapAddr prints an address as ss does: "*" for the dual-stack
// wildcard and for port 0, brackets around IPv6.
func sockcapAddr(ap netip.AddrPort, v6only bool) string {
	a := ap.Addr()
	host := a.String()
	if a.Is6() {
		host = "[" + host + "]"
		if a.IsUnspecified() && !v6only {
			host = "*"
		}
	}
	port := "*"
	if ap.Port() != 0 {
		port = strconv.Itoa(int(ap.Port()))
	}
	return host + ":" + port
}

func sockcapTimer(t probe.SocketTimer) string {
	if t.Kind == "" {
		return "-"
	}
	return fmt.Sprintf("%s,%s,%d", t.Kind, t.Expires, t.Retrans)
}

func sockcapProcs(ps []probe.SocketProcess) string {
	if len(ps) == 0 {
		return "-"
	}
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s(pid=%d,fd=%d)", p.Name, p.PID, p.FD))
	}
	return strings.Join(parts, ",")
}
