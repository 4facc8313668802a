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
func (c *Checker) Answer(ctx context.Context, a *scenarios.Answer, values []string) Outcome {
	start := time.Now()
	j, err := c.answer(ctx, a, values)
	if err != nil {
		j = judgement{observed: err.Error()}
	}
	return Outcome{Pass: j.pass, Observed: j.observed, Attempts: 1, Elapsed: time.Since(start)}
}

func (c *Checker) answer(ctx context.Context, a *scenarios.Answer, values []string) (judgement, error) {
	given := strings.TrimSpace(strings.Join(values, " "))
	switch {
	case a.Filter != nil:
		return judgeFilter(a.Filter, given)
	case a.Pcap != nil:
		return c.judgePcap(a.Pcap, given)
	}
	if given == "" {
		return judgement{}, errors.New("no answer given")
	}
	switch {
	case a.Choice != nil:
		if !oneOfFold(given, a.Choice) {
			return judgement{false, fmt.Sprintf("%q is not one of the options: %s", given, strings.Join(a.Choice, ", "))}, nil
		}
		return judgement{strings.EqualFold(given, a.Correct), fmt.Sprintf("you chose %q", given)}, nil
	case a.Number != nil:
		n, err := strconv.ParseFloat(given, 64)
		if err != nil {
			return judgement{false, fmt.Sprintf("%q is not a number", given)}, nil
		}
		return judgement{math.Abs(n-*a.Number) <= a.Tolerance, fmt.Sprintf("you answered %s", given)}, nil
	case a.Pattern != "":
		re, err := regexp.Compile(a.Pattern)
		if err != nil {
			return judgement{}, err
		}
		return judgement{re.MatchString(given), fmt.Sprintf("you answered %q", given)}, nil
	case a.Computed != "":
		want, alts, err := c.Computed(ctx, a)
		if err != nil {
			return judgement{}, fmt.Errorf("the lab cannot tell the right answer now: %w", err)
		}
		pass := strings.EqualFold(given, want)
		for _, alt := range alts {
			pass = pass || strings.EqualFold(given, alt)
		}
		if a.Computed == "path-mtu" {
			if n, err := strconv.Atoi(given); err == nil {
				w, _ := strconv.Atoi(want)
				pass = math.Abs(float64(n-w)) <= a.Tolerance
			}
		}
		return judgement{pass, fmt.Sprintf("you answered %q", given)}, nil
	default:
		return judgement{strings.TrimSpace(a.Correct) == given, fmt.Sprintf("you answered %q", given)}, nil
	}
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
		res, err := measurePathMTU(t, dst)
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
// with the addresses of the router at that hop (found by following the
// lab's routing tables hop by hop) as other accepted answers.
func (c *Checker) silentHop(from, to string) (string, []string, error) {
	t, dst, err := c.path(from, to)
	if err != nil {
		return "", nil, err
	}
	res, err := probe.Traceroute(t, dst, probe.TraceOptions{Mode: "icmp"})
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

func oneOfFold(v string, options []string) bool {
	for _, o := range options {
		if strings.EqualFold(v, o) {
			return true
		}
	}
	return false
}
