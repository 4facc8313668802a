package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

// targetOptions is the --in flag shared by probe and triage.
type targetOptions struct {
	in string // LAB/HOST, "" for this machine
}

// labTarget is a lab host as a probe target, named LAB/HOST in reports.
type labTarget struct {
	*sandbox.Netns
	name string
}

func (l labTarget) Name() string { return l.name }

// open returns the probe target and a function that releases it.
func (o *targetOptions) open(g *globalOptions) (probe.Target, func(), error) {
	if o.in == "" {
		return probe.Local{}, func() {}, nil
	}
	labName, host, ok := strings.Cut(o.in, "/")
	if !ok || labName == "" || host == "" {
		return nil, nil, withCode(exitUsage, fmt.Errorf("--in wants LAB/HOST, not %q; see 'netdojo status' for labs and hosts", o.in))
	}
	if err := checkLabHost(labName, host); err != nil {
		return nil, nil, err
	}
	if err := needRoot("probing a lab host"); err != nil {
		return nil, nil, err
	}
	lab, err := sandbox.Open(g.store(), labName)
	if err != nil {
		return nil, nil, err
	}
	ns, err := lab.Host(host)
	if err != nil {
		lab.Close()
		return nil, nil, err
	}
	return labTarget{Netns: ns, name: labName + "/" + host}, func() { lab.Close() }, nil
}

// resolveArg turns an IP or a host name into an address, from the target.
func resolveArg(t probe.Target, s string) (netip.Addr, error) {
	addrs, _, err := probe.LookupHost(t, s)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if a.Is4() {
			return a, nil
		}
	}
	return addrs[0], nil
}

// failed is returned after a probe printed a negative result: exit 1.
var failed = &silentError{code: exitFailed}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func newProbeCmd(g *globalOptions) *cobra.Command {
	o := &targetOptions{}
	cmd := &cobra.Command{
		Use:   "probe SUBCOMMAND",
		Short: "Probe the network of this machine or of a lab host",
		Long: `Probe the network of this machine, or of a lab host with --in LAB/HOST:
ping, reach a TCP/UDP port, query DNS, fetch a URL, trace a path, find the
path MTU, look up routes, and read links, neighbours, firewall counters and
kernel counters. Every probe reads the kernel directly; none parses the
output of a tool. A negative result (no reply, refused, NXDOMAIN) exits 1.`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&o.in, "in", "", "probe from lab host LAB/HOST instead of this machine")
	cmd.AddCommand(
		newProbePingCmd(g, o), newProbeReachCmd(g, o), newProbeDNSCmd(g, o), newProbeHTTPCmd(g, o),
		newProbeTraceCmd(g, o), newProbeMTUCmd(g, o), newProbeRouteCmd(g, o), newProbeLinksCmd(g, o),
		newProbeNeighCmd(g, o), newProbeFirewallCmd(g, o), newProbeSNMPCmd(g, o),
	)
	return cmd
}

// withTarget opens the target and runs fn with it.
func withTarget(g *globalOptions, o *targetOptions, fn func(t probe.Target, w io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		t, done, err := o.open(g)
		if err != nil {
			return err
		}
		defer done()
		return fn(t, cmd.OutOrStdout())
	}
}

func newProbePingCmd(g *globalOptions, o *targetOptions) *cobra.Command {
	var opt probe.PingOptions
	cmd := &cobra.Command{
		Use:     "ping DEST",
		Short:   "Send ICMP echo requests and classify every answer",
		Example: "  netdojo probe --in first-lab/client ping -c 3 203.0.113.80\n  netdojo probe --in first-lab/client ping --df -s 1472 203.0.113.80",
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().IntVarP(&opt.Count, "count", "c", 3, "echo requests to send")
	cmd.Flags().IntVarP(&opt.Size, "size", "s", 56, "ICMP payload bytes, as ping -s")
	cmd.Flags().BoolVar(&opt.DontFragment, "df", false, "set don't-fragment (ping -M probe)")
	cmd.Flags().IntVarP(&opt.TTL, "ttl", "t", 0, "IP TTL (default the kernel's)")
	cmd.Flags().DurationVarP(&opt.Interval, "interval", "i", 200*time.Millisecond, "time between requests")
	cmd.Flags().DurationVarP(&opt.Timeout, "timeout", "W", time.Second, "wait after the last request")
	cmd.RunE = func(c *cobra.Command, args []string) error {
		return withTarget(g, o, func(t probe.Target, w io.Writer) error {
			dst, err := resolveArg(t, args[0])
			if err != nil {
				return err
			}
			r, err := probe.Ping(t, dst, opt)
			if err != nil {
				return err
			}
			if g.json() {
				err = writeJSON(w, r)
			} else {
				fmt.Fprintf(w, "PING %s from %s: %d bytes of payload, df %v\n", r.Dst, r.Target, r.Size, r.DF)
				for _, rp := range r.Replies {
					switch rp.Kind {
					case probe.PingEchoReply:
						fmt.Fprintf(w, "seq %d: echo reply from %s, %d bytes, ttl %d, %s\n", rp.Seq, rp.From, rp.Bytes, rp.TTL, ms(rp.RTT))
					case probe.PingNothing:
						fmt.Fprintf(w, "seq %d: no answer\n", rp.Seq)
					case probe.PingLocalError:
						fmt.Fprintf(w, "seq %d: local error %s (mtu %d)\n", rp.Seq, rp.Errno, rp.MTU)
					case probe.PingFragNeeded:
						fmt.Fprintf(w, "seq %d: fragmentation needed from %s, mtu %d\n", rp.Seq, rp.From, rp.MTU)
					default:
						fmt.Fprintf(w, "seq %d: %s (%s, type %d code %d) from %s\n", rp.Seq, rp.Kind, rp.Name, rp.Type, rp.Code, rp.From)
					}
				}
				fmt.Fprintf(w, "%d sent, %d received, %d errors, %.0f%% loss", r.Sent, r.Received, r.Errors, r.Loss)
				if r.Received > 0 {
					fmt.Fprintf(w, "; rtt min/avg/max/mdev %s/%s/%s/%s", ms(r.MinRTT), ms(r.AvgRTT), ms(r.MaxRTT), ms(r.MdevRTT))
				}
				fmt.Fprintln(w)
			}
			if err == nil && r.Received == 0 {
				return failed
			}
			return err
		})(c, args)
	}
	return cmd
}

func newProbeReachCmd(g *globalOptions, o *targetOptions) *cobra.Command {
	var opt probe.ReachOptions
	var udp bool
	var source, observe string
	cmd := &cobra.Command{
		Use:   "reach DEST:PORT",
		Short: "Try a TCP (or UDP) port and say open, refused, filtered or unreachable",
		Long: `Try a TCP connection (or send a UDP datagram) and classify the outcome:
open, refused-rst, refused-icmp-port-unreachable, filtered, host-unreachable,
net-unreachable, admin-prohibited, no-local-route, local-address-unavailable,
blocked-locally, with who answered and how long it took. With --observe LAB/HOST (the
destination, a lab host) its firewall counters are read before and after,
so a REJECT or DROP rule that took the packet is named: that tells a
REJECT with tcp-reset from nothing listening.`,
		Example: "  netdojo probe --in first-lab/client reach 203.0.113.80:80\n  netdojo probe --in first-lab/client reach --udp 10.0.1.1:53",
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVarP(&udp, "udp", "u", false, "send a UDP datagram instead of a TCP connect")
	cmd.Flags().DurationVar(&opt.Timeout, "timeout", 5*time.Second, "give up after this long (filtered)")
	cmd.Flags().StringVar(&source, "source", "", "local address to send from")
	cmd.Flags().StringVar(&observe, "observe", "", "watch the firewall counters of lab host LAB/HOST (the destination)")
	cmd.RunE = func(c *cobra.Command, args []string) error {
		return withTarget(g, o, func(t probe.Target, w io.Writer) error {
			if observe != "" {
				ot, done, err := (&targetOptions{in: observe}).open(g)
				if err != nil {
					return err
				}
				defer done()
				opt.Observe = ot
			}
			host, port, err := splitHostPort(args[0])
			if err != nil {
				return err
			}
			dst, err := resolveArg(t, host)
			if err != nil {
				return err
			}
			if udp {
				opt.Proto = "udp"
			}
			if source != "" {
				if opt.Source, err = netip.ParseAddr(source); err != nil {
					return withCode(exitUsage, fmt.Errorf("--source %q is not an IP address", source))
				}
			}
			r, err := probe.Reach(t, netip.AddrPortFrom(dst, port), opt)
			if err != nil {
				return err
			}
			if g.json() {
				err = writeJSON(w, r)
			} else {
				fmt.Fprintf(w, "%s %s from %s: %s after %s", r.Proto, r.Dst, pnzOr(r.Src.String(), r.Target), r.Outcome, ms(r.Elapsed))
				if r.From.IsValid() {
					fmt.Fprintf(w, ", answered by %s", r.From)
				}
				if r.ICMP != nil {
					fmt.Fprintf(w, " (ICMP %s)", r.ICMP.Name)
				}
				if r.MatchedRule != nil {
					fmt.Fprintf(w, "; firewall rule: %s", r.MatchedRule.Spec)
				}
				fmt.Fprintf(w, "\n  %s\n", r.Meaning)
			}
			if err == nil && r.Outcome != probe.ReachOpen {
				return failed
			}
			return err
		})(c, args)
	}
	return cmd
}

func pnzOr(s, def string) string {
	if s == "" || s == "invalid AddrPort" {
		return def
	}
	return s
}

func splitHostPort(s string) (string, uint16, error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 {
		return "", 0, withCode(exitUsage, fmt.Errorf("%q has no port; write HOST:PORT", s))
	}
	var p uint16
	if _, err := fmt.Sscanf(s[i+1:], "%d", &p); err != nil || p == 0 {
		return "", 0, withCode(exitUsage, fmt.Errorf("bad port in %q", s))
	}
	return strings.Trim(s[:i], "[]"), p, nil
}

func newProbeDNSCmd(g *globalOptions, o *targetOptions) *cobra.Command {
	var opt probe.DNSOptions
	var server string
	var trace bool
	var roots []string
	cmd := &cobra.Command{
		Use:   "dns NAME [TYPE]",
		Short: "Query DNS like dig: the host's resolvers or a given server, or +trace",
		Long: `Query DNS from the target. Without --server the target's resolv.conf is
used as glibc uses it (search list, ndots, every nameserver in turn); every
attempt is shown. TYPE is any record type (A, AAAA, MX, TXT, NS, SOA, PTR,
...); for PTR an IP address is turned into its reverse name. --trace
resolves iteratively from the given root servers, as dig +trace.`,
		Example: "  netdojo probe --in first-lab/client dns www.shop.example\n  netdojo probe dns --server 127.0.0.53 example.test MX\n  netdojo probe --in LAB/client dns --trace --root 10.53.0.11 www.example.test",
		Args:    cobra.RangeArgs(1, 2),
	}
	cmd.Flags().StringVar(&server, "server", "", "ask this server (IP or IP:PORT) only, as dig @SERVER")
	cmd.Flags().DurationVar(&opt.Timeout, "timeout", 0, "per server and attempt (default resolv.conf's, 2 s with --server)")
	cmd.Flags().BoolVar(&opt.TCP, "tcp", false, "query over TCP")
	cmd.Flags().BoolVar(&opt.NoRecurse, "norecurse", false, "clear the RD bit")
	cmd.Flags().BoolVar(&trace, "trace", false, "resolve iteratively from --root servers")
	cmd.Flags().StringSliceVar(&roots, "root", nil, "root server addresses for --trace")
	cmd.RunE = func(c *cobra.Command, args []string) error {
		return withTarget(g, o, func(t probe.Target, w io.Writer) error {
			if len(args) == 2 {
				opt.Type = strings.ToUpper(args[1])
			}
			if trace {
				var rs []netip.Addr
				for _, r := range roots {
					a, err := netip.ParseAddr(r)
					if err != nil {
						return withCode(exitUsage, fmt.Errorf("--root %q is not an IP address", r))
					}
					rs = append(rs, a)
				}
				if len(rs) == 0 {
					return withCode(exitUsage, fmt.Errorf("--trace needs --root with the root servers' addresses"))
				}
				r, err := probe.DNSTrace(t, args[0], opt.Type, rs, opt.Timeout)
				if g.json() {
					if jerr := writeJSON(w, r); jerr != nil {
						return jerr
					}
				} else {
					for _, s := range r.Steps {
						fmt.Fprintf(w, "%-16s %-15s %s", s.Zone, s.Server, ms(s.Latency))
						switch {
						case s.Timeout:
							fmt.Fprint(w, "  no answer")
						case s.NextZone != "":
							fmt.Fprintf(w, "  refers to %s: %s", s.NextZone, strings.Join(s.Referral, " "))
						default:
							fmt.Fprintf(w, "  %s", s.Rcode)
						}
						fmt.Fprintln(w)
					}
					printRRs(w, r.Answer)
				}
				if err != nil {
					return err
				}
				if r.Rcode != "NOERROR" || len(r.Answer) == 0 {
					return failed
				}
				return nil
			}
			if server != "" {
				ap, err := netip.ParseAddrPort(server)
				if err != nil {
					a, aerr := netip.ParseAddr(server)
					if aerr != nil {
						return withCode(exitUsage, fmt.Errorf("--server %q is not IP or IP:PORT", server))
					}
					ap = netip.AddrPortFrom(a, 53)
				}
				opt.Server = ap
			}
			r, err := probe.DNSQuery(t, args[0], opt)
			if err != nil {
				return err
			}
			if g.json() {
				err = writeJSON(w, r)
			} else {
				for _, a := range r.Attempts {
					status := a.Rcode
					if status == "" {
						status = "no answer: " + a.Err
					}
					fmt.Fprintf(w, ";; %s %s @%s (%s): %s, %d answers, %s\n", a.Name, r.Type, a.Server, a.Proto, status, a.Answers, ms(a.Latency))
				}
				if r.TimedOut {
					fmt.Fprintln(w, ";; no server answered")
				} else {
					flags := []string{}
					if r.Authoritative {
						flags = append(flags, "aa")
					}
					if r.RecursionAvailable {
						flags = append(flags, "ra")
					}
					fmt.Fprintf(w, ";; status %s from %s in %s, flags [%s]\n", r.Rcode, r.Server, ms(r.Latency), strings.Join(flags, " "))
					fmt.Fprintln(w, ";; ANSWER")
					printRRs(w, r.Answer)
					if len(r.Authority) > 0 {
						fmt.Fprintln(w, ";; AUTHORITY")
						printRRs(w, r.Authority)
					}
				}
			}
			if err == nil && (r.Rcode != "NOERROR" || len(r.Answer) == 0) {
				return failed
			}
			return err
		})(c, args)
	}
	return cmd
}

func printRRs(w io.Writer, rrs []probe.DNSRR) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, rr := range rrs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", rr.Name, rr.TTL, rr.Class, rr.Type, rr.Data)
	}
	tw.Flush()
}

func newProbeHTTPCmd(g *globalOptions, o *targetOptions) *cobra.Command {
	var opt probe.HTTPOptions
	var headers bool
	cmd := &cobra.Command{
		Use:     "http URL",
		Short:   "Fetch a URL and show status, size and timings (DNS, connect, first byte, total)",
		Example: "  netdojo probe --in first-lab/client http http://www.shop.example/",
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().StringVarP(&opt.Method, "request", "X", "GET", "HTTP method")
	cmd.Flags().DurationVar(&opt.Timeout, "timeout", 10*time.Second, "whole exchange")
	cmd.Flags().BoolVarP(&opt.InsecureTLS, "insecure", "k", false, "accept any TLS certificate")
	cmd.Flags().BoolVarP(&headers, "include", "i", false, "print the response headers")
	cmd.RunE = func(c *cobra.Command, args []string) error {
		return withTarget(g, o, func(t probe.Target, w io.Writer) error {
			r, err := probe.HTTP(t, args[0], opt)
			if g.json() {
				if jerr := writeJSON(w, r); jerr != nil {
					return jerr
				}
			} else {
				if r.Status != 0 {
					fmt.Fprintf(w, "%s %d %s from %s, %d bytes\n", r.Proto, r.Status, r.StatusText, r.Remote, r.BodySize)
				}
				if headers {
					for k, vs := range r.Header {
						for _, v := range vs {
							fmt.Fprintf(w, "  %s: %s\n", k, v)
						}
					}
				}
				fmt.Fprintf(w, "dns %s  connect %s  first byte %s  total %s\n", ms(r.DNS), ms(r.Connect), ms(r.FirstByte), ms(r.Total))
				if r.Error != "" {
					fmt.Fprintf(w, "error: %s\n", r.Error)
				}
				if r.Reach != nil {
					fmt.Fprintf(w, "  %s: %s\n", r.Reach.Outcome, r.Reach.Meaning)
				}
			}
			if err != nil || r.Status >= 400 {
				return failed
			}
			return nil
		})(c, args)
	}
	return cmd
}

func newProbeTraceCmd(g *globalOptions, o *targetOptions) *cobra.Command {
	var opt probe.TraceOptions
	cmd := &cobra.Command{
		Use:     "trace DEST",
		Short:   "Trace the path hop by hop (UDP, ICMP or TCP SYN probes), like traceroute -n",
		Example: "  netdojo probe --in first-lab/client trace 203.0.113.80\n  netdojo probe --in first-lab/client trace --mode tcp -p 80 203.0.113.80",
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&opt.Mode, "mode", "udp", "probe type: udp, icmp or tcp")
	cmd.Flags().IntVarP(&opt.Port, "port", "p", 0, "UDP base port (33434) or TCP port (80)")
	cmd.Flags().IntVarP(&opt.MaxHops, "max-hops", "m", 30, "largest TTL")
	cmd.Flags().IntVarP(&opt.Queries, "queries", "q", 3, "probes per hop")
	cmd.Flags().DurationVarP(&opt.Wait, "wait", "w", time.Second, "wait for the answers of a hop")
	cmd.RunE = func(c *cobra.Command, args []string) error {
		return withTarget(g, o, func(t probe.Target, w io.Writer) error {
			dst, err := resolveArg(t, args[0])
			if err != nil {
				return err
			}
			r, err := probe.Traceroute(t, dst, opt)
			if err != nil {
				return err
			}
			if g.json() {
				err = writeJSON(w, r)
			} else {
				fmt.Fprintf(w, "trace to %s from %s, %s probes\n", r.Dst, r.Target, r.Mode)
				for _, h := range r.Hops {
					fmt.Fprintf(w, "%2d ", h.TTL)
					var last netip.Addr
					for _, p := range h.Probes {
						if !p.From.IsValid() {
							fmt.Fprint(w, " *")
							continue
						}
						if p.From != last {
							fmt.Fprintf(w, " %s", p.From)
							last = p.From
						}
						fmt.Fprintf(w, "  %s", ms(p.RTT))
					}
					fmt.Fprintln(w)
				}
			}
			if err == nil && !r.Reached {
				return failed
			}
			return err
		})(c, args)
	}
	return cmd
}

func newProbeMTUCmd(g *globalOptions, o *targetOptions) *cobra.Command {
	var opt probe.MTUOptions
	cmd := &cobra.Command{
		Use:     "mtu DEST",
		Short:   "Discover the path MTU with don't-fragment pings, and detect PMTU black holes",
		Example: "  netdojo probe --in LAB/client mtu 203.0.113.80",
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().DurationVar(&opt.Timeout, "timeout", time.Second, "wait per probe")
	cmd.RunE = func(c *cobra.Command, args []string) error {
		return withTarget(g, o, func(t probe.Target, w io.Writer) error {
			dst, err := resolveArg(t, args[0])
			if err != nil {
				return err
			}
			r, err := probe.PathMTU(t, dst, opt)
			if err != nil {
				return err
			}
			if g.json() {
				err = writeJSON(w, r)
			} else {
				for _, p := range r.Probes {
					fmt.Fprintf(w, "  %5d bytes: %s", p.Size, p.Result)
					if p.MTU > 0 {
						fmt.Fprintf(w, " (mtu %d from %s)", p.MTU, p.From)
					}
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "path mtu to %s: %d (first link %d), black hole: %v\n  %s\n", r.Dst, r.PathMTU, r.LocalMTU, r.Blackhole, r.Meaning)
			}
			if err == nil && r.Blackhole {
				return failed
			}
			return err
		})(c, args)
	}
	return cmd
}

func newProbeRouteCmd(g *globalOptions, o *targetOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "route [DEST]",
		Short:   "Show the routing table, or the route to DEST as ip route get",
		Example: "  netdojo probe --in first-lab/client route\n  netdojo probe --in first-lab/client route 203.0.113.80",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withTarget(g, o, func(t probe.Target, w io.Writer) error {
				if len(args) == 0 {
					rs, err := probe.Routes(t)
					if err != nil {
						return err
					}
					if g.json() {
						return writeJSON(w, rs)
					}
					for _, r := range rs {
						dst := r.Dst.String()
						if r.Default {
							dst = "default"
						}
						line := dst
						if r.Type != "unicast" {
							line = r.Type + " " + dst
						}
						if r.Gateway.IsValid() {
							line += " via " + r.Gateway.String()
						}
						if r.Dev != "" {
							line += " dev " + r.Dev
						}
						line += " proto " + r.Protocol + " scope " + r.Scope
						if r.Src.IsValid() {
							line += " src " + r.Src.String()
						}
						if r.Metric != 0 {
							line += fmt.Sprintf(" metric %d", r.Metric)
						}
						fmt.Fprintln(w, line)
					}
					return nil
				}
				dst, err := resolveArg(t, args[0])
				if err != nil {
					return err
				}
				r, err := probe.RouteGet(t, dst)
				if err != nil {
					return err
				}
				if g.json() {
					return writeJSON(w, r)
				}
				line := r.Dst.String()
				if r.Type != "unicast" {
					line = r.Type + " " + line
				}
				if r.Gateway.IsValid() {
					line += " via " + r.Gateway.String()
				}
				fmt.Fprintf(w, "%s dev %s src %s\n", line, r.Dev, r.Src)
				return nil
			})(c, args)
		},
	}
}

func newProbeLinksCmd(g *globalOptions, o *targetOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "links",
		Short: "Show links with state, MTU, MAC, counters and addresses",
		Args:  cobra.NoArgs,
		RunE: withTarget(g, o, func(t probe.Target, w io.Writer) error {
			r, err := probe.Links(t)
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(w, r)
			}
			for _, l := range r.Links {
				fmt.Fprintf(w, "%d: %s (%s) state %s mtu %d %s\n", l.Index, l.Name, l.Kind, l.OperState, l.MTU, l.MAC)
				fmt.Fprintf(w, "    rx %d pkts %d bytes %d errors %d dropped; tx %d pkts %d bytes %d errors %d dropped\n",
					l.Stats.RxPackets, l.Stats.RxBytes, l.Stats.RxErrors, l.Stats.RxDropped, l.Stats.TxPackets, l.Stats.TxBytes, l.Stats.TxErrors, l.Stats.TxDropped)
				for _, a := range r.AddrsOf(l.Name) {
					fmt.Fprintf(w, "    %s %s scope %s\n", a.Family, a.Prefix, a.Scope)
				}
			}
			return nil
		}),
	}
}

func newProbeNeighCmd(g *globalOptions, o *targetOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "neigh",
		Short: "Show the ARP and NDP tables",
		Args:  cobra.NoArgs,
		RunE: withTarget(g, o, func(t probe.Target, w io.Writer) error {
			ns, err := probe.Neighbours(t)
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(w, ns)
			}
			for _, n := range ns {
				fmt.Fprintf(w, "%s dev %s lladdr %s %s\n", n.IP, n.Dev, pnzOr(n.MAC, "-"), n.State)
			}
			return nil
		}),
	}
}

func newProbeFirewallCmd(g *globalOptions, o *targetOptions) *cobra.Command {
	var table string
	var ipv6 bool
	cmd := &cobra.Command{
		Use:     "firewall [CHAIN...]",
		Short:   "Show firewall rules with packet and byte counters",
		Example: "  netdojo probe --in first-lab/server firewall INPUT",
		RunE: func(c *cobra.Command, args []string) error {
			return withTarget(g, o, func(t probe.Target, w io.Writer) error {
				r, err := probe.Firewall(t, ipv6, table, args...)
				if err != nil {
					return err
				}
				if g.json() {
					return writeJSON(w, r)
				}
				fmt.Fprintf(w, "table %s (%s, iptables %s, %s backend)\n", r.Table, r.Family, r.Version, r.Backend)
				for _, ch := range r.Chains {
					fmt.Fprintf(w, "chain %s", ch.Name)
					if ch.Policy != "" {
						fmt.Fprintf(w, " (policy %s %d packets %d bytes)", ch.Policy, ch.PolicyPackets, ch.PolicyBytes)
					}
					fmt.Fprintln(w)
					for _, rl := range ch.Rules {
						fmt.Fprintf(w, "  %3d %8d pkts %10d bytes  %s\n", rl.Num, rl.Packets, rl.Bytes, rl.Spec)
					}
				}
				return nil
			})(c, args)
		},
	}
	cmd.Flags().StringVarP(&table, "table", "t", "filter", "table")
	cmd.Flags().BoolVarP(&ipv6, "ipv6", "6", false, "the IPv6 firewall (ip6tables)")
	return cmd
}

func newProbeSNMPCmd(g *globalOptions, o *targetOptions) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     "snmp [PATTERN...]",
		Short:   "Show kernel network counters as nstat names them",
		Example: "  netdojo probe --in LAB/server snmp TcpExtListenDrops TcpExtIPReversePathFilter",
		RunE: func(c *cobra.Command, args []string) error {
			return withTarget(g, o, func(t probe.Target, w io.Writer) error {
				r, err := probe.SNMP(t)
				if err != nil {
					return err
				}
				out := map[string]uint64{}
				for _, n := range r.Names() {
					v := r.Counters[n]
					if !all && v == 0 && len(args) == 0 {
						continue
					}
					if len(args) > 0 && !matchesAny(n, args) {
						continue
					}
					out[n] = v
				}
				if g.json() {
					return writeJSON(w, out)
				}
				for _, n := range r.Names() {
					if v, ok := out[n]; ok {
						fmt.Fprintf(w, "%-32s %d\n", n, v)
					}
				}
				return nil
			})(c, args)
		},
	}
	cmd.Flags().BoolVarP(&all, "zeros", "z", false, "show counters that are zero too")
	return cmd
}

func matchesAny(name string, pats []string) bool {
	for _, p := range pats {
		if strings.Contains(strings.ToLower(name), strings.ToLower(p)) {
			return true
		}
	}
	return false
}
