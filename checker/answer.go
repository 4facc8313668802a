package checker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
)

// Answer judges what a learner answered to a task judged by an answer.
// values are the words the learner gave (a file path for a pcap answer).
//
// Answers are taken in the forms a competent engineer writes them (see
// docs/learners.md, "Answering"): any case and spacing, units after a
// number, the words a tool prints for an error class, layer numbers, a
// line copied from ss -p or dig, and any name or address of the host
// meant. A wrong answer that is a common near miss says what was mixed up,
// without the right answer.
func (c *Checker) Answer(ctx context.Context, a *scenarios.Answer, values []string) Outcome {
	start := time.Now()
	j, err := c.answer(ctx, a, values)
	if err != nil {
		j = judgement{observed: err.Error()}
	}
	return Outcome{Pass: j.pass, Observed: j.observed, Attempts: 1, Elapsed: time.Since(start)}
}

func (c *Checker) answer(ctx context.Context, a *scenarios.Answer, values []string) (judgement, error) {
	given := clean(strings.Join(values, " "))
	switch {
	case a.Filter != nil:
		return judgeFilter(a.Filter, strings.TrimSpace(strings.Join(values, " ")))
	case a.Pcap != nil:
		return c.judgePcap(a.Pcap, strings.TrimSpace(strings.Join(values, " ")))
	}
	if given == "" {
		return judgement{}, errors.New("no answer given")
	}
	said := fmt.Sprintf("you answered %q", given)
	switch {
	case a.Choice != nil:
		opt, ok, why := c.matchChoice(given, a.Choice)
		if !ok {
			return judgement{false, fmt.Sprintf("%q is not one of the options: %s%s", given, strings.Join(a.Choice, ", "), why)}, nil
		}
		obs := fmt.Sprintf("you chose %q", given)
		if !strings.EqualFold(opt, given) {
			obs = fmt.Sprintf("you chose %q (%s)", given, opt)
		}
		return judgement{strings.EqualFold(opt, a.Correct), obs}, nil
	case a.Number != nil:
		n, ok := parseNumber(given)
		if !ok {
			return judgement{false, fmt.Sprintf("%q is not a number", given)}, nil
		}
		pass := math.Abs(n-*a.Number) <= a.Tolerance
		obs := fmt.Sprintf("you answered %s", strconv.FormatFloat(n, 'f', -1, 64))
		if !pass {
			obs += nearMTU(n, *a.Number, a.Tolerance)
		}
		return judgement{pass, obs}, nil
	case a.Pattern != "":
		re, err := regexp.Compile(a.Pattern)
		if err != nil {
			return judgement{}, err
		}
		fold, _ := regexp.Compile("(?i)" + a.Pattern)
		for _, f := range c.hostForms(c.forms(given)) {
			if re.MatchString(f) || fold != nil && fold.MatchString(f) {
				return judgement{true, said}, nil
			}
		}
		return judgement{false, said + c.nearHost(given, "")}, nil
	case a.Computed != "":
		return c.judgeComputed(ctx, a, given)
	default:
		want := clean(a.Correct)
		for _, f := range c.forms(given) {
			if strings.EqualFold(f, want) || c.sameHost(f, want) {
				return judgement{true, said}, nil
			}
		}
		if n, ok := parseNumber(given); ok {
			if w, err := strconv.ParseFloat(want, 64); err == nil && n == w {
				return judgement{true, said}, nil
			}
		}
		return judgement{false, said + c.nearHost(given, "")}, nil
	}
}

// judgeComputed compares an answer with the value read from the live lab.
func (c *Checker) judgeComputed(ctx context.Context, a *scenarios.Answer, given string) (judgement, error) {
	want, alts, err := c.Computed(ctx, a)
	if err != nil {
		return judgement{}, fmt.Errorf("the lab cannot tell the right answer now: %w", err)
	}
	said := fmt.Sprintf("you answered %q", given)
	switch a.Computed {
	case "path-mtu":
		n, ok := parseNumber(given)
		if !ok {
			return judgement{false, fmt.Sprintf("%q is not a number of bytes", given)}, nil
		}
		w, _ := strconv.Atoi(want)
		if math.Abs(n-float64(w)) <= a.Tolerance {
			return judgement{true, said}, nil
		}
		return judgement{false, said + nearMTU(n, float64(w), a.Tolerance)}, nil
	case "pid-of-port":
		for _, f := range c.forms(given) {
			if f == want {
				return judgement{true, said}, nil
			}
		}
		if n, ok := parseNumber(given); ok && int(n) == a.Port {
			return judgement{false, said + ": that is the port; the task asks for the process ID that holds it"}, nil
		}
		return judgement{false, said}, nil
	case "silent-hop":
		for _, f := range c.forms(given) {
			if f == want {
				return judgement{true, said}, nil
			}
			if n, ok := parseNumber(f); ok && strconv.Itoa(int(n)) == want && float64(int(n)) == n {
				return judgement{true, said}, nil
			}
			for _, alt := range alts {
				if strings.EqualFold(f, alt) || c.sameHost(f, alt) {
					return judgement{true, said}, nil
				}
			}
		}
		return judgement{false, said}, nil
	}
	// close-wait-process and anything else: a name, in any case.
	for _, f := range c.forms(given) {
		if strings.EqualFold(f, want) {
			return judgement{true, said}, nil
		}
		for _, alt := range alts {
			if strings.EqualFold(f, alt) {
				return judgement{true, said}, nil
			}
		}
	}
	if _, ok := parseNumber(given); ok && a.Computed == "close-wait-process" {
		return judgement{false, said + ": the task asks for the program's name, as ss -p shows it in users:((\"NAME\",...))"}, nil
	}
	return judgement{false, said}, nil
}

// nearMTU names the common near misses of an MTU answer: the ping payload
// (the MTU less the 20-byte IP and 8-byte ICMP headers) and the Ethernet
// frame (the MTU plus its 14-byte header). It never states the MTU.
func nearMTU(n, want, tol float64) string {
	switch {
	case math.Abs(n+28-want) <= tol:
		return ": that is the ping payload size; the MTU counts the whole IP packet, and ping's payload leaves out 28 bytes of IP and ICMP headers"
	case math.Abs(n-14-want) <= tol:
		return ": that counts the 14-byte Ethernet header; the MTU is the largest IP packet"
	}
	return ""
}

// Computed is the right answer of a computed task, read from the live lab
// now, with other accepted spellings.
func (c *Checker) Computed(ctx context.Context, a *scenarios.Answer) (string, []string, error) {
	switch a.Computed {
	case "pid-of-port":
		pid, err := c.pidOfPort(a.Host, a.Port)
		return pid, nil, err
	case "close-wait-process":
		name, err := c.closeWaitProcess(a.Host)
		return name, nil, err
	case "path-mtu":
		t, dst, err := c.path(a.Host, a.To)
		if err != nil {
			return "", nil, err
		}
		res, err := c.measurePathMTU(t, dst, false)
		if err != nil {
			return "", nil, err
		}
		return strconv.Itoa(res.PathMTU), nil, nil
	case "silent-hop":
		return c.silentHop(a.Host, a.To)
	}
	return "", nil, fmt.Errorf("unknown computed value %q", a.Computed)
}

// silentHop is the number of the first hop that sends no time-exceeded,
// with the name and addresses of the router at that hop (found by
// following the lab's routing tables hop by hop) as other accepted
// answers.
func (c *Checker) silentHop(from, to string) (string, []string, error) {
	t, dst, err := c.path(from, to)
	if err != nil {
		return "", nil, err
	}
	res, err := probe.Traceroute(t, dst, silentHopTrace(c.Scenario))
	if err != nil {
		return "", nil, err
	}
	for _, h := range res.Hops {
		if !h.Silent || (h.TTL == len(res.Hops) && !res.Reached) {
			continue
		}
		router, err := c.routerAtHop(from, dst, h.TTL)
		if err != nil {
			return strconv.Itoa(h.TTL), nil, nil
		}
		alts := []string{router.Name}
		for _, i := range router.Interfaces {
			if i.IPv4.IsValid() {
				alts = append(alts, i.IPv4.Addr().String())
			}
		}
		return strconv.Itoa(h.TTL), alts, nil
	}
	return "", nil, errors.New("no hop is silent")
}

// silentHopTrace is a quick traceroute over a lab: labs lift the ICMP rate
// limit, so one probe per hop with a short wait tells a silent hop from a
// talking one, and no lab path is longer than its host count.
func silentHopTrace(s *scenarios.Scenario) probe.TraceOptions {
	hops := 30
	if s != nil && len(s.Hosts) > 0 && len(s.Hosts) < hops {
		hops = len(s.Hosts) + 1
	}
	return probe.TraceOptions{Mode: "icmp", Queries: 2, Wait: 500 * time.Millisecond, MaxHops: hops}
}

func (c *Checker) routerAtHop(from string, dst netip.Addr, hop int) (*scenarios.Host, error) {
	cur := c.Scenario.Host(from)
	for i := 0; i < hop; i++ {
		t, err := c.host(cur.Name)
		if err != nil {
			return nil, err
		}
		rt, err := probe.RouteGet(t, dst)
		if err != nil || !rt.Gateway.IsValid() {
			return nil, fmt.Errorf("no gateway from %s", cur.Name)
		}
		next := c.Scenario.IfaceWithAddr(rt.Gateway)
		if next == nil {
			return nil, fmt.Errorf("no lab host has %s", rt.Gateway)
		}
		cur = next.Host
	}
	return cur, nil
}
