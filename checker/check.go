// Package checker judges a learner's work on a running lab: it turns a
// scenario's tasks and invariants into probe calls against the live lab
// and compares, judges answers (values, computed values from the live lab,
// tcpdump filters, pcap files) and keeps the learner's progress. Whether a
// fault is cleared it asks through Faults, which the lab package answers.
//
// It observes labs only through the probe engine and never starts, stops
// or changes a lab: the lab package does that, and verify drives both. A
// failing judgement says what was observed and never gives the fix away.
package checker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// DefaultWithin is the settle window of a check: it is retried until it
// passes or this much time has passed.
const DefaultWithin = 3 * time.Second

// DefaultHTTPTimeout bounds an http check's request when it sets no
// timeout: a lab service answers within milliseconds unless it is told to
// wait (then the task sets its own timeout).
const DefaultHTTPTimeout = 1500 * time.Millisecond

// Checker judges checks against a running lab.
type Checker struct {
	Lab      *sandbox.Lab
	Scenario *scenarios.Scenario
	// Once disables retries: each check is judged on one observation (used
	// to prove that a broken lab fails, where waiting cannot help).
	Once bool
	// MaxWithin, when set, caps every check's settle window.
	MaxWithin time.Duration
	// Faults judges the scenario's faults on the lab (lab.NewFaults): a
	// task that clears faults needs it.
	Faults Faults

	names map[string][]netip.Addr // the lab's DNS names, read once
}

// Outcome is a judged check.
type Outcome struct {
	Pass bool `json:"pass"`
	// Observed says what the probe saw, in a learner's words.
	Observed string `json:"observed"`
	// Attempts is how many observations were made.
	Attempts int           `json:"attempts"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// judgement is one observation: pass, and what was seen.
type judgement struct {
	pass     bool
	observed string
}

// Check judges one check, retrying within its settle window.
func (c *Checker) Check(ctx context.Context, ch *scenarios.Check) Outcome {
	return c.retry(ctx, ch.Within, func() (judgement, error) { return c.observe(ctx, ch) })
}

func (c *Checker) observe(ctx context.Context, ch *scenarios.Check) (judgement, error) {
	switch {
	case ch.Reach != nil:
		return c.reach(ch.Reach)
	case ch.Ping != nil:
		return c.ping(ch.Ping)
	case ch.DNS != nil:
		return c.dns(ch.DNS)
	case ch.HTTP != nil:
		return c.http(ch.HTTP)
	case ch.Route != nil:
		return c.route(ch.Route)
	case ch.Link != nil:
		return c.link(ch.Link)
	case ch.PathMTU != nil:
		return c.pathMTU(ch.PathMTU)
	case ch.Trace != nil:
		return c.trace(ch.Trace)
	case ch.Sockets != nil:
		return c.sockets(ch.Sockets)
	case ch.Rule != nil:
		return c.rule(ch.Rule)
	case ch.Counter != nil:
		return c.counter(ch.Counter)
	case ch.Capture != nil:
		return c.capture(ctx, ch.Capture)
	case ch.Listener != nil:
		return c.listener(ch.Listener)
	case ch.SameProcess != nil:
		return c.sameProcess(ch.SameProcess)
	}
	return judgement{}, errors.New("the check has no kind")
}

// host is the probe target of a lab host.
func (c *Checker) host(name string) (probe.Target, error) {
	return c.Lab.Host(name)
}

// path is a probe's start and destination: a lab host, and an address
// or a host name of the scenario.
func (c *Checker) path(from, to string) (probe.Target, netip.Addr, error) {
	t, err := c.host(from)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	dst, err := c.addr(to)
	return t, dst, err
}

// addr resolves an address or a host name of the scenario (its first IPv4
// address).
func (c *Checker) addr(s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	if h := c.Scenario.Host(s); h != nil {
		if a := h.Addr4(); a.IsValid() {
			return a, nil
		}
		return netip.Addr{}, fmt.Errorf("host %q has no IPv4 address", s)
	}
	return netip.Addr{}, fmt.Errorf("%q is neither an address nor a host of the lab", s)
}

// reachClasses maps the scenario's expected classes to probe outcomes.
var reachClasses = map[string][]probe.ReachOutcome{
	"open":             {probe.ReachOpen},
	"refused":          {probe.ReachRefusedRST, probe.ReachRefusedICMP},
	"refused-rst":      {probe.ReachRefusedRST},
	"refused-icmp":     {probe.ReachRefusedICMP},
	"filtered":         {probe.ReachFiltered, probe.ReachOpenOrFiltered},
	"host-unreachable": {probe.ReachHostUnreachable},
	"net-unreachable":  {probe.ReachNetUnreachable},
	"prohibited":       {probe.ReachAdminProhibited},
	"no-route":         {probe.ReachNoRoute},
	"addr-unavailable": {probe.ReachAddrUnavailable},
	"blocked-locally":  {probe.ReachBlockedLocally},
	"unreachable":      {probe.ReachHostUnreachable, probe.ReachNetUnreachable, probe.ReachAdminProhibited, probe.ReachNoRoute},
}

// reachWords says what a learner's tool would print for an outcome.
var reachWords = map[probe.ReachOutcome]string{
	probe.ReachOpen:            "the connection is accepted",
	probe.ReachRefusedRST:      "the connection is refused (a TCP reset comes back)",
	probe.ReachRefusedICMP:     "the connection is refused (ICMP port unreachable comes back)",
	probe.ReachFiltered:        "the connection times out: nothing comes back",
	probe.ReachOpenOrFiltered:  "nothing comes back",
	probe.ReachHostUnreachable: "No route to host (host unreachable)",
	probe.ReachNetUnreachable:  "Network is unreachable (an ICMP net unreachable comes back)",
	probe.ReachAdminProhibited: "an ICMP administratively prohibited comes back",
	probe.ReachNoRoute:         "Network is unreachable: the sending host has no route",
	probe.ReachAddrUnavailable: "Cannot assign requested address",
	probe.ReachBlockedLocally:  "Operation not permitted: the sending host drops it itself",
}

func (c *Checker) reach(r *scenarios.ReachCheck) (judgement, error) {
	t, dst, err := c.path(r.From, r.To)
	if err != nil {
		return judgement{}, err
	}
	proto := r.Proto
	if proto == "" {
		proto = "tcp"
	}
	res, err := probe.Reach(t, netip.AddrPortFrom(dst, uint16(r.Port)), probe.ReachOptions{Proto: proto, Timeout: reachTimeout(r.Expect)})
	if err != nil {
		return judgement{}, err
	}
	want, ok := reachClasses[r.Expect]
	if !ok {
		want = []probe.ReachOutcome{probe.ReachOutcome(r.Expect)}
	}
	pass := false
	for _, w := range want {
		pass = pass || res.Outcome == w
	}
	words := reachWords[res.Outcome]
	if words == "" {
		words = string(res.Outcome) + " " + res.Errno
	}
	obs := fmt.Sprintf("%s %s to %s: %s", proto, r.From, netip.AddrPortFrom(dst, uint16(r.Port)), words)
	if res.From.IsValid() && res.Outcome != probe.ReachOpen && res.From != dst {
		obs += fmt.Sprintf(" (answered by %s)", res.From)
	}
	return judgement{pass, obs}, nil
}

// reachTimeout is how long a reach probe waits for an answer. Telling
// "filtered" from "host unreachable" needs the kernel to give up on ARP
// (about 3 s); an open or refused port answers a lab host within
// milliseconds, so a check that expects one of those knows sooner.
func reachTimeout(expect string) time.Duration {
	switch expect {
	case "open", "refused", "refused-rst", "refused-icmp", "addr-unavailable":
		return 1500 * time.Millisecond
	}
	return 3500 * time.Millisecond
}

func (c *Checker) ping(p *scenarios.PingCheck) (judgement, error) {
	t, dst, err := c.path(p.From, p.To)
	if err != nil {
		return judgement{}, err
	}
	res, err := probe.Ping(t, dst, probe.PingOptions{Count: 2, Size: p.Size, DontFragment: p.DontFrag, Interval: 100 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		return judgement{}, err
	}
	kinds := map[probe.PingReplyKind]int{}
	var from netip.Addr
	for _, r := range res.Replies {
		kinds[r.Kind]++
		if r.From.IsValid() && r.Kind != probe.PingEchoReply {
			from = r.From
		}
	}
	expect := p.Expect
	if expect == "" {
		expect = "reply"
	}
	var pass bool
	switch expect {
	case "reply":
		pass = res.Received > 0
	case "no-reply":
		pass = res.Received == 0
	case "unreachable":
		pass = kinds[probe.PingDestUnreach] > 0 || kinds[probe.PingLocalError] > 0
	case "time-exceeded":
		pass = kinds[probe.PingTimeExceeded] > 0
	case "frag-needed":
		pass = kinds[probe.PingFragNeeded] > 0
	}
	size := ""
	if p.Size > 0 {
		size = fmt.Sprintf(" with %d-byte payloads", p.Size)
		if p.DontFrag {
			size += " and don't-fragment"
		}
	}
	var seen []string
	for k, n := range kinds {
		seen = append(seen, fmt.Sprintf("%d %s", n, k))
	}
	obs := fmt.Sprintf("ping from %s to %s%s: %d of %d answered (%s)", p.From, dst, size, res.Received, res.Sent, strings.Join(sortedStrings(seen), ", "))
	if from.IsValid() {
		obs += fmt.Sprintf(", errors from %s", from)
	}
	return judgement{pass, obs}, nil
}

func (c *Checker) dns(d *scenarios.DNSCheck) (judgement, error) {
	t, err := c.host(d.From)
	if err != nil {
		return judgement{}, err
	}
	opt := probe.DNSOptions{Type: d.Type, Timeout: 2 * time.Second, Attempts: 1}
	var via netip.Addr
	if d.Via != "" {
		if via, err = c.addr(d.Via); err != nil {
			return judgement{}, err
		}
	}
	if d.Server != "" {
		a, err := c.addr(d.Server)
		if err != nil {
			return judgement{}, err
		}
		opt.Server = netip.AddrPortFrom(a, 53)
	}
	res, err := probe.DNSQuery(t, d.Name, opt)
	if err != nil && !res.TimedOut {
		return judgement{}, err
	}
	rcode := res.Rcode
	if res.TimedOut {
		rcode = "timeout"
	}
	if !(res.Rcode == "NOERROR" && len(res.Answer) > 0) {
		if rc, ok := askedRcode(res, d.Name); ok {
			rcode = rc
		}
	}
	want := strings.ToUpper(d.Rcode)
	if want == "" {
		want = "NOERROR"
	}
	pass := strings.EqualFold(rcode, want)
	var got []string
	for _, rr := range res.Answer {
		got = append(got, rr.Data)
	}
	for _, w := range d.Answers {
		found := false
		for _, g := range got {
			found = found || strings.TrimSuffix(g, ".") == strings.TrimSuffix(w, ".")
		}
		pass = pass && found
	}
	obs := fmt.Sprintf("%s %s from %s: %s", typeOr(d.Type), d.Name, d.From, rcode)
	if len(got) > 0 {
		obs += " " + strings.Join(got, " ")
	}
	if via.IsValid() && !res.TimedOut && res.Server.Addr().Unmap() != via {
		pass = false
		obs += fmt.Sprintf(", answered by %s", res.Server.Addr())
	}
	if !res.TimedOut {
		obs += fmt.Sprintf(" in %s", res.Latency.Round(time.Millisecond))
		if d.MaxLatency != "" {
			if max, err := time.ParseDuration(d.MaxLatency); err == nil && res.Latency > max {
				pass = false
				obs += fmt.Sprintf(" (slower than %s)", max)
			}
		}
	}
	return judgement{pass, obs}, nil
}

// askedRcode is the answer to the name as the check asks it, when the
// search list tried other names too: a resolver that fails the name
// asked (SERVFAIL) must not be reported by the NXDOMAIN of a search
// domain tried after it. Short names (no dot), meant to go through the
// search list, keep the resolver's verdict.
func askedRcode(res probe.DNSResult, name string) (string, bool) {
	if !strings.Contains(strings.TrimSuffix(name, "."), ".") || len(res.Search) < 2 {
		return "", false
	}
	asked := strings.ToLower(strings.TrimSuffix(name, ".") + ".")
	seen, rcode := false, ""
	for _, at := range res.Attempts {
		if strings.ToLower(at.Name) != asked {
			continue
		}
		seen = true
		if at.Rcode == "" {
			continue
		}
		// A definitive answer ends the name's resolution; a failure
		// (SERVFAIL, REFUSED) stands until one comes.
		if rcode == "" || rcode != "NOERROR" && rcode != "NXDOMAIN" {
			rcode = at.Rcode
		}
	}
	if !seen {
		return "", false
	}
	if rcode == "" {
		return "timeout", true
	}
	return rcode, true
}

func typeOr(t string) string {
	if t == "" {
		return "A"
	}
	return strings.ToUpper(t)
}

func (c *Checker) http(h *scenarios.HTTPCheck) (judgement, error) {
	t, err := c.host(h.From)
	if err != nil {
		return judgement{}, err
	}
	timeout := DefaultHTTPTimeout
	if h.Within != "" {
		if d, err := time.ParseDuration(h.Within); err == nil {
			timeout = d
		}
	}
	want := h.Status
	if want == 0 {
		want = 200
	}
	opt := probe.HTTPOptions{Timeout: timeout}
	if h.Stall != "" {
		if d, err := time.ParseDuration(h.Stall); err == nil {
			opt.Stall = d
		}
	}
	res, err := probe.HTTP(t, h.URL, opt)
	if err != nil {
		// The probe's error repeats the URL and names the host by its
		// namespace; the learner knows the host by its name.
		msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("http %s from %s: ", h.URL, t.Name()))
		return judgement{false, fmt.Sprintf("GET %s from %s: %s", h.URL, h.From, msg)}, nil
	}
	obs := fmt.Sprintf("GET %s from %s: %d %s, %d bytes", h.URL, h.From, res.Status, res.StatusText, res.BodySize)
	if res.Status != want {
		return judgement{false, obs}, nil
	}
	ok, why := c.identity(t, h, res, want)
	if !ok {
		obs += ", but " + why
	}
	return judgement{ok, obs}, nil
}

func (c *Checker) route(r *scenarios.RouteCheck) (judgement, error) {
	t, dst, err := c.path(r.Host, r.To)
	if err != nil {
		return judgement{}, err
	}
	res, err := probe.RouteGet(t, dst)
	var rerr *probe.RouteError
	if errors.As(err, &rerr) {
		// Say what ip route get says, without the namespace name.
		err = errors.New(rerr.Errno.Error())
	}
	routed := err == nil && res.Type == "unicast"
	expect := r.Expect
	if expect == "" {
		expect = "routed"
	}
	if expect == "unreachable" {
		obs := fmt.Sprintf("route lookup in %s for %s: ", r.Host, dst)
		if err != nil {
			return judgement{true, obs + err.Error()}, nil
		}
		return judgement{!routed, obs + fmt.Sprintf("%s via %s dev %s", res.Type, res.Gateway, res.Dev)}, nil
	}
	if err != nil {
		return judgement{false, fmt.Sprintf("route lookup in %s for %s: %v", r.Host, dst, err)}, nil
	}
	pass := routed && (r.Dev == "" || r.Dev == res.Dev)
	if r.Via != "" {
		via, perr := netip.ParseAddr(r.Via)
		pass = pass && perr == nil && via == res.Gateway
	}
	obs := fmt.Sprintf("route lookup in %s for %s: %s dev %s", r.Host, dst, res.Type, res.Dev)
	if res.Gateway.IsValid() {
		obs += " via " + res.Gateway.String()
	}
	return judgement{pass, obs}, nil
}

func (c *Checker) link(l *scenarios.LinkCheck) (judgement, error) {
	t, err := c.host(l.Host)
	if err != nil {
		return judgement{}, err
	}
	rep, err := probe.Links(t)
	if err != nil {
		return judgement{}, err
	}
	for _, ln := range rep.Links {
		if ln.Name != l.Dev {
			continue
		}
		up := ln.AdminUp && ln.LowerUp
		pass := (l.Up == nil || *l.Up == up) && (l.MTU == 0 || l.MTU == ln.MTU)
		// Say the state that was judged: the kernel's operstate lags the
		// flags by up to a second (linkwatch) after a change.
		state := "up"
		switch {
		case !ln.AdminUp:
			state = "down"
		case !ln.LowerUp:
			state = "down (no carrier)"
		}
		return judgement{pass, fmt.Sprintf("%s on %s: state %s, mtu %d", l.Dev, l.Host, state, ln.MTU)}, nil
	}
	return judgement{false, fmt.Sprintf("%s has no interface %s", l.Host, l.Dev)}, nil
}

func (c *Checker) pathMTU(p *scenarios.PathMTUCheck) (judgement, error) {
	t, dst, err := c.path(p.From, p.To)
	if err != nil {
		return judgement{}, err
	}
	// Whether there is a black hole is known from the first size that
	// vanishes; its size is searched only when the check asks an MTU.
	res, err := c.measurePathMTU(t, dst, p.MTU == 0)
	if err != nil {
		return judgement{}, err
	}
	pass := (p.MTU == 0 || res.PathMTU == p.MTU) && (p.BlackHole == nil || *p.BlackHole == res.Blackhole)
	return judgement{pass, mtuWords(p.From, dst, res, p.MTU, pass)}, nil
}

// mtuWords says what a don't-fragment packet of the first link's size did
// on the way, as ping -M do shows it, without the path MTU: that number is
// what a learner is asked to find.
func mtuWords(from string, dst netip.Addr, res probe.MTUResult, want int, pass bool) string {
	obs := fmt.Sprintf("a %d-byte don't-fragment packet from %s to %s", res.LocalMTU, from, dst)
	switch {
	case res.Blackhole:
		obs += " vanished, and no fragmentation-needed came back"
	case res.PathMTU >= res.LocalMTU:
		obs += " got through"
	case res.ReportedBy.IsValid():
		obs += fmt.Sprintf(" got fragmentation-needed back from %s", res.ReportedBy)
	default:
		obs += " did not get through"
	}
	if want != 0 {
		if res.PathMTU == want {
			obs += fmt.Sprintf("; the path MTU is %d as expected", want)
		} else {
			obs += fmt.Sprintf("; the path MTU is not %d", want)
		}
	}
	return obs
}

func (c *Checker) trace(tr *scenarios.TraceCheck) (judgement, error) {
	t, dst, err := c.path(tr.From, tr.To)
	if err != nil {
		return judgement{}, err
	}
	res, err := probe.Traceroute(t, dst, probe.TraceOptions{Mode: tr.Mode})
	if err != nil {
		return judgement{}, err
	}
	silent := false
	quiet := 0
	for _, h := range res.Hops {
		if h.Silent {
			if h.TTL < len(res.Hops) || !res.Reached {
				silent = silent || res.Reached || h.TTL < len(res.Hops)
			}
			quiet++
		}
	}
	pass := (tr.Reaches == nil || *tr.Reaches == res.Reached) && (tr.SilentHops == nil || *tr.SilentHops == silent)
	if tr.HopAddress != "" {
		want, _ := netip.ParseAddr(tr.HopAddress)
		found := false
		for _, h := range res.Hops {
			for _, a := range h.Addrs {
				if a == want && (tr.HopPosition == 0 || tr.HopPosition == h.TTL) {
					found = true
				}
			}
		}
		pass = pass && found
	}
	// Which hop is silent is what a learner may be asked: say how many.
	obs := fmt.Sprintf("traceroute from %s to %s: ", tr.From, dst)
	if res.Reached {
		obs += fmt.Sprintf("the destination answered at hop %d", len(res.Hops))
	} else {
		obs += fmt.Sprintf("the destination did not answer within %d hops", len(res.Hops))
	}
	switch {
	case quiet == 0:
		obs += "; every hop answered"
	case quiet == 1:
		obs += "; 1 hop sent no time-exceeded"
	default:
		obs += fmt.Sprintf("; %d hops sent no time-exceeded", quiet)
	}
	if tr.HopAddress != "" && !pass {
		obs += fmt.Sprintf("; %s is not at the hop expected", tr.HopAddress)
	}
	return judgement{pass, obs}, nil
}

func (c *Checker) rule(r *scenarios.RuleCheck) (judgement, error) {
	t, err := c.host(r.Host)
	if err != nil {
		return judgement{}, err
	}
	table := r.Table
	if table == "" {
		table = "filter"
	}
	rep, err := probe.Firewall(t, false, table, r.Chain)
	if err != nil {
		// iptables fails on a chain that does not exist; say so rather
		// than pass its error on, when the whole table reads fine.
		all, aerr := probe.Firewall(t, false, table)
		if aerr != nil || hasChain(all, r.Chain) {
			return judgement{}, err
		}
		rep = all
	}
	for _, ch := range rep.Chains {
		if ch.Name != r.Chain {
			continue
		}
		pass := true
		var obs []string
		if r.Policy != "" {
			pass = pass && strings.EqualFold(ch.Policy, r.Policy)
			obs = append(obs, "policy "+ch.Policy)
		}
		if r.Rule != "" {
			present := false
			for _, rl := range ch.Rules {
				present = present || ruleMatches(rl.Spec, r.Rule)
			}
			want := r.Present == nil || *r.Present
			pass = pass && present == want
			if present {
				obs = append(obs, "a rule matching the check is present")
			} else {
				obs = append(obs, "no rule matching the check")
			}
		}
		return judgement{pass, fmt.Sprintf("%s %s chain on %s: %s, %d rules", table, r.Chain, r.Host, strings.Join(obs, ", "), len(ch.Rules))}, nil
	}
	return judgement{false, fmt.Sprintf("%s has no %s chain in table %s", r.Host, r.Chain, table)}, nil
}

func hasChain(rep probe.FirewallReport, name string) bool {
	for _, ch := range rep.Chains {
		if ch.Name == name {
			return true
		}
	}
	return false
}

// ruleMatches is true when every word of want appears in spec in order
// (iptables -S adds words such as "-m tcp" that authors leave out).
func ruleMatches(spec, want string) bool {
	have := strings.Fields(spec)
	i := 0
	for _, w := range strings.Fields(want) {
		for i < len(have) && have[i] != w {
			i++
		}
		if i == len(have) {
			return false
		}
		i++
	}
	return true
}

func (c *Checker) counter(k *scenarios.CounterCheck) (judgement, error) {
	t, err := c.host(k.Host)
	if err != nil {
		return judgement{}, err
	}
	snmp, err := probe.SNMP(t)
	if err != nil {
		return judgement{}, err
	}
	v, ok := snmp.Counters[k.Name]
	if !ok {
		return judgement{false, fmt.Sprintf("%s has no counter %s", k.Host, k.Name)}, nil
	}
	pass := (k.Min == nil || int64(v) >= *k.Min) && (k.Max == nil || int64(v) <= *k.Max)
	return judgement{pass, fmt.Sprintf("%s on %s is %d", k.Name, k.Host, v)}, nil
}

// measurePathMTU probes the path MTU from a clean cache, and forgets what
// the probe taught the kernel afterwards: a cached path MTU would make the
// host's later connections work around a black hole the learner has not
// fixed.
//
// A veth accepts frames up to 4 bytes over its MTU (room for a VLAN tag),
// so a size found by silence alone, where the narrow link is a receiving
// veth, overshoots its MTU by 4: the result is the MTU of that link, as
// ip link shows it, when one of the lab's interfaces has that MTU.
func (c *Checker) measurePathMTU(t probe.Target, dst netip.Addr, noSearch bool) (probe.MTUResult, error) {
	flushRouteCache(t)
	defer flushRouteCache(t)
	res, err := probe.PathMTU(t, dst, probe.MTUOptions{Timeout: 500 * time.Millisecond, NoSearch: noSearch})
	if err != nil || res.ReportedBy.IsValid() || res.PathMTU >= res.LocalMTU || res.PathMTU == 0 {
		return res, err
	}
	mtus := c.labMTUs()
	if !mtus[res.PathMTU] && mtus[res.PathMTU-vlanSlack] {
		res.PathMTU -= vlanSlack
	}
	return res, nil
}

// vlanSlack is how far over its MTU a veth still accepts a frame.
const vlanSlack = 4

// labMTUs are the MTUs of every interface of the lab's hosts, as they
// are now.
func (c *Checker) labMTUs() map[int]bool {
	mtus := map[int]bool{}
	if c.Scenario == nil {
		return mtus
	}
	for _, h := range c.Scenario.Hosts {
		t, err := c.host(h.Name)
		if err != nil {
			continue
		}
		rep, err := probe.Links(t)
		if err != nil {
			continue
		}
		for _, l := range rep.Links {
			mtus[l.MTU] = true
		}
	}
	return mtus
}

// flushRouteCache forgets cached path MTUs in a host, so that a check
// measures the path as it is now (a cached PMTU hides a black hole).
func flushRouteCache(t probe.Target) {
	t.Do(func() error {
		return writeFile("/proc/sys/net/ipv4/route/flush", "1")
	})
}
