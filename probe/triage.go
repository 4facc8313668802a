package probe

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TriageOptions say what the triage should reach. Everything is optional:
// without a destination the last two steps are skipped.
type TriageOptions struct {
	// Target is NAME, IP, NAME:PORT or IP:PORT. With a port the last step
	// is a TCP connect, without one a ping.
	Target string
	// URL, when set, makes the last step an HTTP request (and its host the
	// name DNS must resolve).
	URL string
	// ResolvConf overrides the target's resolver file.
	ResolvConf string
	// DNSTimeout per resolver (default 2 s, one attempt: a triage must not
	// take glibc's 22 s to say that DNS is dead).
	DNSTimeout time.Duration
	// ReachTimeout for the last step (default 3 s).
	ReachTimeout time.Duration
}

// TriageStatus is the verdict on one step.
type TriageStatus string

// Step verdicts. A warning does not make a step the failing layer.
const (
	TriagePass TriageStatus = "pass"
	TriageWarn TriageStatus = "warn"
	TriageFail TriageStatus = "fail"
	TriageSkip TriageStatus = "skip"
)

// The triage steps, lowest layer first.
const (
	StepInterface        = "interface"
	StepAddress          = "address"
	StepGateway          = "gateway"
	StepGatewayReachable = "gateway-reachable"
	StepDNS              = "dns"
	StepTarget           = "target"
)

// TriageStep is one layer of the triage, with what was seen.
type TriageStep struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Status   TriageStatus  `json:"status"`
	Summary  string        `json:"summary"`
	Evidence []string      `json:"evidence"`
	Meaning  string        `json:"meaning,omitempty"` // for a failed or warned step
	Next     []string      `json:"next,omitempty"`    // commands to run next
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// TriageReport is the whole triage: every step, and the lowest failing one.
type TriageReport struct {
	Target      string       `json:"target"`
	Destination string       `json:"destination,omitempty"`
	Steps       []TriageStep `json:"steps"`
	// Failing is the ID of the lowest failing step, "" when none failed.
	Failing string `json:"failing"`
	// Meaning and Next repeat the failing step's, for the headline.
	Meaning string        `json:"meaning,omitempty"`
	Next    []string      `json:"next,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Step returns a step by ID.
func (r TriageReport) Step(id string) (TriageStep, bool) {
	for _, s := range r.Steps {
		if s.ID == id {
			return s, true
		}
	}
	return TriageStep{}, false
}

// pnTriage carries what the steps learn for the later ones.
type pnTriage struct {
	t        Target
	opt      TriageOptions
	links    LinkReport
	linksErr error
	defaults []Route
	dev      string     // interface of the default route
	gateway  netip.Addr // default gateway
	name     string     // the name DNS must resolve
	dstIP    netip.Addr
	port     uint16
	addrs    []netip.Addr // resolved
}

// Triage runs the layered protocol on a target: interface up, address
// assigned, default gateway, gateway reachable, DNS answers, destination
// reachable. It runs every step whatever the earlier ones found, and names
// the lowest failing one with what it means and what to run next.
func Triage(t Target, opt TriageOptions) (TriageReport, error) {
	start := time.Now()
	if opt.DNSTimeout <= 0 {
		opt.DNSTimeout = 2 * time.Second
	}
	if opt.ReachTimeout <= 0 {
		opt.ReachTimeout = 3 * time.Second
	}
	tr := &pnTriage{t: t, opt: opt}
	rep := TriageReport{Target: t.Name()}
	if err := tr.parseDestination(); err != nil {
		return rep, err
	}
	rep.Destination = opt.URL
	if rep.Destination == "" {
		rep.Destination = opt.Target
	}
	tr.links, tr.linksErr = Links(t)
	if ds, err := DefaultRoutes(t); err == nil {
		for _, d := range ds {
			if d.Family == "inet" && d.Type == "unicast" {
				tr.defaults = append(tr.defaults, d)
			}
		}
		if len(tr.defaults) > 0 {
			tr.dev, tr.gateway = tr.defaults[0].Dev, tr.defaults[0].Gateway
		}
	}
	steps := []func() TriageStep{tr.stepInterface, tr.stepAddress, tr.stepGateway, tr.stepGatewayReachable, tr.stepDNS, tr.stepTarget}
	for _, f := range steps {
		s0 := time.Now()
		s := f()
		s.Elapsed = time.Since(s0)
		if s.Status == TriageFail || s.Status == TriageWarn {
			s.Next = pnNextCommands(s.ID, tr)
		}
		rep.Steps = append(rep.Steps, s)
		if s.Status == TriageFail && rep.Failing == "" {
			rep.Failing, rep.Meaning, rep.Next = s.ID, s.Meaning, s.Next
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

func (tr *pnTriage) parseDestination() error {
	host := ""
	if tr.opt.URL != "" {
		u, err := url.Parse(tr.opt.URL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("triage: bad URL %q", tr.opt.URL)
		}
		host = u.Hostname()
		p := u.Port()
		if p == "" {
			p = "80"
			if u.Scheme == "https" {
				p = "443"
			}
		}
		tr.port = pnPort(p)
	} else if tr.opt.Target != "" {
		host = tr.opt.Target
		if h, p, err := net.SplitHostPort(tr.opt.Target); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				return fmt.Errorf("triage: bad port in %q", tr.opt.Target)
			}
			host, tr.port = h, uint16(n)
		}
	}
	if host == "" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		tr.dstIP = a.Unmap()
	} else {
		tr.name = host
	}
	return nil
}

func (tr *pnTriage) stepInterface() TriageStep {
	s := TriageStep{ID: StepInterface, Title: "interface up"}
	if tr.linksErr != nil {
		s.Status, s.Summary = TriageFail, "cannot list links: "+tr.linksErr.Error()
		return s
	}
	var down, up []string
	for _, l := range tr.links.Links {
		if l.Loopback || (tr.dev != "" && l.Name != tr.dev) {
			continue
		}
		s.Evidence = append(s.Evidence, pnLinkLine(l))
		if l.Up() {
			up = append(up, l.Name)
		} else {
			down = append(down, l.Name)
		}
	}
	switch {
	case len(up) == 0 && len(down) == 0:
		s.Status, s.Summary = TriageFail, "no network interface besides loopback"
		s.Meaning = "the host has no interface to send on: the cable (veth) is missing"
	case len(down) > 0:
		s.Status = TriageFail
		s.Summary = fmt.Sprintf("%s down", strings.Join(down, ", "))
		s.Meaning = "an interface is down: administratively (ip link set DEV up fixes it) or without carrier (the other end is down); routes through it are gone"
	default:
		s.Status, s.Summary = TriagePass, fmt.Sprintf("%s up", strings.Join(up, ", "))
	}
	return s
}

func pnLinkLine(l Link) string {
	state := "admin up"
	if !l.AdminUp {
		state = "admin down"
	}
	carrier := "carrier"
	if !l.LowerUp {
		carrier = "no carrier"
	}
	return fmt.Sprintf("%s: %s, %s, state %s, mtu %d, rx %d pkts (%d dropped), tx %d pkts (%d dropped)",
		l.Name, state, carrier, l.OperState, l.MTU, l.Stats.RxPackets, l.Stats.RxDropped, l.Stats.TxPackets, l.Stats.TxDropped)
}

func (tr *pnTriage) stepAddress() TriageStep {
	s := TriageStep{ID: StepAddress, Title: "address assigned"}
	if tr.linksErr != nil {
		s.Status, s.Summary = TriageFail, "cannot list addresses: "+tr.linksErr.Error()
		return s
	}
	var good []string
	for _, a := range tr.links.Addrs {
		l, _ := tr.links.Link(a.Link)
		if l.Loopback || (tr.dev != "" && a.Link != tr.dev) {
			continue
		}
		line := fmt.Sprintf("%s: %s scope %s", a.Link, a.Prefix, a.Scope)
		if a.Tentative {
			line += " (tentative)"
		}
		s.Evidence = append(s.Evidence, line)
		if a.Family == "inet" && a.Scope == "global" && !a.Tentative {
			good = append(good, a.Prefix.String()+" on "+a.Link)
		}
	}
	if len(good) == 0 {
		s.Status, s.Summary = TriageFail, "no IPv4 address on any interface"
		s.Meaning = "without an address the host cannot send IP: DHCP failed or the address was never configured"
		return s
	}
	s.Status, s.Summary = TriagePass, strings.Join(good, ", ")
	return s
}

func (tr *pnTriage) stepGateway() TriageStep {
	s := TriageStep{ID: StepGateway, Title: "default gateway"}
	if rs, err := Routes(tr.t); err == nil {
		for _, r := range rs {
			if r.Family != "inet" {
				continue
			}
			line := "route " + r.Dst.String()
			if r.Default {
				line = "route default"
			}
			if r.Gateway.IsValid() {
				line += " via " + r.Gateway.String()
			}
			s.Evidence = append(s.Evidence, line+" dev "+r.Dev)
		}
	}
	if tr.dstIP.IsValid() {
		s.Evidence = append(s.Evidence, pnRouteLine(tr.t, tr.dstIP))
	}
	switch {
	case len(tr.defaults) > 0:
		s.Status = TriagePass
		s.Summary = fmt.Sprintf("default via %s dev %s", pnStr(tr.gateway), tr.dev)
	case tr.dstIP.IsValid():
		if _, err := RouteGet(tr.t, tr.dstIP); err == nil {
			s.Status = TriageWarn
			s.Summary = "no default route, but a route to " + tr.dstIP.String()
			s.Meaning = "only networks with explicit routes are reachable"
			return s
		}
		fallthrough
	default:
		s.Status, s.Summary = TriageFail, "no default route"
		s.Meaning = "packets to other networks have nowhere to go: connections fail at once with \"Network is unreachable\""
	}
	return s
}

func pnRouteLine(t Target, dst netip.Addr) string {
	r, err := RouteGet(t, dst)
	if err != nil {
		return fmt.Sprintf("route get %s: %v", dst, err)
	}
	via := ""
	if r.Gateway.IsValid() {
		via = " via " + r.Gateway.String()
	}
	return fmt.Sprintf("route get %s:%s dev %s src %s", dst, via, r.Dev, pnStr(r.Src))
}

func (tr *pnTriage) stepGatewayReachable() TriageStep {
	s := TriageStep{ID: StepGatewayReachable, Title: "gateway reachable"}
	if !tr.gateway.IsValid() {
		s.Status, s.Summary = TriageSkip, "no gateway to ping"
		return s
	}
	p, err := Ping(tr.t, tr.gateway, PingOptions{Count: 3, Interval: 100 * time.Millisecond, Timeout: 700 * time.Millisecond})
	if err != nil {
		s.Status, s.Summary = TriageFail, err.Error()
		return s
	}
	s.Evidence = append(s.Evidence, fmt.Sprintf("ping %s: %d sent, %d received, rtt avg %v", tr.gateway, p.Sent, p.Received, p.AvgRTT.Round(time.Microsecond)))
	for _, r := range p.Replies {
		if r.Kind != PingEchoReply {
			s.Evidence = append(s.Evidence, fmt.Sprintf("seq %d: %s %s", r.Seq, r.Kind, pnStr(r.From)))
		}
	}
	neigh := ""
	if ns, err := Neighbours(tr.t); err == nil {
		for _, n := range ns {
			if n.IP == tr.gateway {
				neigh = n.State
				s.Evidence = append(s.Evidence, fmt.Sprintf("neighbour %s dev %s lladdr %s %s", n.IP, n.Dev, n.MAC, n.State))
			}
		}
	}
	switch {
	case p.Received > 0:
		s.Status, s.Summary = TriagePass, fmt.Sprintf("%s answers ping (%d/%d)", tr.gateway, p.Received, p.Sent)
	case neigh == "REACHABLE" || neigh == "STALE" || neigh == "DELAY" || neigh == "PROBE" || neigh == "PERMANENT":
		s.Status = TriageWarn
		s.Summary = fmt.Sprintf("%s answers ARP but not ping", tr.gateway)
		s.Meaning = "the gateway is alive on the link but drops or rejects ICMP echo; not a fault by itself"
	default:
		s.Status = TriageFail
		s.Summary = fmt.Sprintf("%s does not answer (neighbour state %s)", tr.gateway, pnOr(neigh, "none"))
		s.Meaning = "the default gateway is down or has another address: nothing beyond the local network is reachable (\"No route to host\" after about 3 s)"
	}
	return s
}

func pnOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (tr *pnTriage) stepDNS() TriageStep {
	s := TriageStep{ID: StepDNS, Title: "DNS answers"}
	if tr.name == "" {
		s.Status, s.Summary = TriageSkip, "no name to resolve"
		return s
	}
	if addrs := pnHostsLookup(tr.t.EtcFile("hosts"), tr.name); len(addrs) > 0 {
		tr.addrs = addrs
		s.Status, s.Summary = TriagePass, fmt.Sprintf("%s is %v in %s", tr.name, addrs, tr.t.EtcFile("hosts"))
		return s
	}
	r, err := DNSQuery(tr.t, tr.name, DNSOptions{Type: "A", ResolvConf: tr.opt.ResolvConf, Timeout: tr.opt.DNSTimeout, Attempts: 1})
	if err != nil {
		s.Status, s.Summary = TriageFail, err.Error()
		s.Meaning = "the resolver configuration cannot be read"
		return s
	}
	for _, a := range r.Attempts {
		line := fmt.Sprintf("%s from %s: ", a.Name, a.Server)
		switch {
		case a.Rcode != "":
			line += fmt.Sprintf("%s, %d answers, %v", a.Rcode, a.Answers, a.Latency.Round(time.Microsecond))
		case a.TimedOut:
			line += "no answer (timeout)"
		default:
			line += a.Err
		}
		s.Evidence = append(s.Evidence, line)
	}
	tr.addrs = r.Addrs()
	switch {
	case len(tr.addrs) > 0:
		s.Status, s.Summary = TriagePass, fmt.Sprintf("%s is %v (from %s in %v)", r.Name, tr.addrs, r.Server, r.Latency.Round(time.Microsecond))
	case r.TimedOut && len(r.Attempts) > 0 && !r.Attempts[len(r.Attempts)-1].TimedOut:
		s.Status, s.Summary = TriageFail, "no DNS server reachable: "+r.Attempts[len(r.Attempts)-1].Err
		s.Meaning = "the resolvers in resolv.conf cannot be reached from here (no route, or an ICMP error came back)"
	case r.TimedOut:
		s.Status, s.Summary = TriageFail, "no DNS server answered"
		s.Meaning = "the resolvers in resolv.conf are unreachable, down, or filtered: every name lookup hangs, then fails"
	case r.Rcode == "NXDOMAIN":
		s.Status, s.Summary = TriageFail, fmt.Sprintf("%s does not exist (NXDOMAIN from %s)", tr.name, r.Server)
		s.Meaning = "the name is wrong, or missing from its zone, or the search list does not complete it"
	case r.Rcode == "NOERROR":
		s.Status, s.Summary = TriageFail, fmt.Sprintf("%s has no A record (from %s)", tr.name, r.Server)
		s.Meaning = "the name exists without an IPv4 address"
	default:
		s.Status, s.Summary = TriageFail, fmt.Sprintf("%s answered %s", r.Server, r.Rcode)
		s.Meaning = "the resolver is broken (SERVFAIL: it cannot reach the authoritative servers; REFUSED: it does not serve this client)"
	}
	return s
}

func (tr *pnTriage) stepTarget() TriageStep {
	s := TriageStep{ID: StepTarget, Title: "destination reachable"}
	dst := tr.dstIP
	if !dst.IsValid() && len(tr.addrs) > 0 {
		dst = tr.addrs[0]
	}
	if !dst.IsValid() {
		if tr.name == "" {
			s.Status, s.Summary = TriageSkip, "no destination given"
		} else {
			s.Status, s.Summary = TriageSkip, tr.name+" did not resolve"
		}
		return s
	}
	s.Evidence = append(s.Evidence, pnRouteLine(tr.t, dst))
	if tr.opt.URL != "" {
		h, err := HTTP(tr.t, tr.opt.URL, HTTPOptions{Timeout: tr.opt.ReachTimeout, ResolvConf: tr.opt.ResolvConf})
		if err == nil {
			s.Evidence = append(s.Evidence, fmt.Sprintf("HTTP %d %s, %d bytes, connect %v, first byte %v", h.Status, h.StatusText, h.BodySize, h.Connect.Round(time.Microsecond), h.FirstByte.Round(time.Microsecond)))
			if h.Status >= 500 {
				s.Status, s.Summary = TriageFail, fmt.Sprintf("%s answers HTTP %d", tr.opt.URL, h.Status)
				s.Meaning = "the network works; the service behind it fails (a proxy whose backend is down, or an application error)"
				return s
			}
			s.Status, s.Summary = TriagePass, fmt.Sprintf("%s answers HTTP %d", tr.opt.URL, h.Status)
			return s
		}
		s.Evidence = append(s.Evidence, h.Error)
		if h.Reach != nil {
			return tr.reachVerdict(s, *h.Reach)
		}
		s.Status, s.Summary = TriageFail, h.Error
		s.Meaning = "the connection opened but the HTTP exchange failed"
		return s
	}
	if tr.port != 0 {
		r, err := Reach(tr.t, netip.AddrPortFrom(dst, tr.port), ReachOptions{Timeout: tr.opt.ReachTimeout})
		if err != nil {
			s.Status, s.Summary = TriageFail, err.Error()
			return s
		}
		return tr.reachVerdict(s, r)
	}
	p, err := Ping(tr.t, dst, PingOptions{Count: 3, Interval: 100 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		s.Status, s.Summary = TriageFail, err.Error()
		return s
	}
	s.Evidence = append(s.Evidence, fmt.Sprintf("ping %s: %d sent, %d received", dst, p.Sent, p.Received))
	for _, r := range p.Replies {
		if r.Kind != PingEchoReply {
			s.Evidence = append(s.Evidence, fmt.Sprintf("seq %d: %s %s from %s", r.Seq, r.Kind, r.Name, pnStr(r.From)))
		}
	}
	if p.Received > 0 {
		s.Status, s.Summary = TriagePass, fmt.Sprintf("%s answers ping", dst)
		return s
	}
	s.Status, s.Summary = TriageFail, fmt.Sprintf("%s does not answer ping", dst)
	s.Meaning = "the destination or the path to it drops ICMP echo; give a port to test the service itself"
	return s
}

func (tr *pnTriage) reachVerdict(s TriageStep, r ReachResult) TriageStep {
	s.Evidence = append(s.Evidence, fmt.Sprintf("tcp %s: %s after %v (answered by %s)", r.Dst, r.Outcome, r.Elapsed.Round(time.Microsecond), pnOr(pnStr(r.From), "nobody")))
	if r.Outcome == ReachOpen {
		s.Status, s.Summary = TriagePass, fmt.Sprintf("%s is open", r.Dst)
		return s
	}
	s.Status, s.Summary, s.Meaning = TriageFail, fmt.Sprintf("%s: %s", r.Dst, r.Outcome), r.Meaning
	return s
}

// pnNextCommands are what an operator runs next for a failed step.
func pnNextCommands(id string, tr *pnTriage) []string {
	dev := pnOr(tr.dev, "DEV")
	dst := "DEST"
	if tr.dstIP.IsValid() {
		dst = tr.dstIP.String()
	} else if len(tr.addrs) > 0 {
		dst = tr.addrs[0].String()
	}
	gw := pnOr(pnStr(tr.gateway), "GATEWAY")
	switch id {
	case StepInterface:
		return []string{"ip -s link show", "ip link set " + dev + " up", "ethtool " + dev}
	case StepAddress:
		return []string{"ip addr show", "ip addr add ADDRESS/PREFIX dev " + dev}
	case StepGateway:
		return []string{"ip route show", "ip route get " + dst, "ip route add default via GATEWAY dev " + dev}
	case StepGatewayReachable:
		return []string{"ping -c 3 " + gw, "ip neigh show " + gw, "tcpdump -n -i " + dev + " arp or icmp"}
	case StepDNS:
		name := pnOr(tr.name, "NAME")
		return []string{"cat /etc/resolv.conf", "dig " + name, "dig @SERVER " + name + " +tries=1 +time=2", "tcpdump -n -i any udp port 53"}
	case StepTarget:
		port := "PORT"
		if tr.port != 0 {
			port = strconv.Itoa(int(tr.port))
		}
		cmds := []string{"nc -vz -w 3 " + dst + " " + port, "traceroute -n " + dst, "tcpdump -n -i any host " + dst}
		if tr.opt.URL != "" {
			cmds = append([]string{"curl -v " + tr.opt.URL}, cmds...)
		}
		return append(cmds, "on "+dst+": ss -tlnp; iptables -L -n -v")
	}
	return nil
}
