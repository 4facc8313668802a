package checker

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

func (c *Checker) sockets(s *scenarios.SocketsCheck) (judgement, error) {
	t, err := c.host(s.Host)
	if err != nil {
		return judgement{}, err
	}
	f := probe.SocketFilter{Processes: s.Process != "", SrcPort: uint16(s.Port)}
	if s.Proto == "udp" {
		f.UDP = true
	} else {
		f.TCP = true
	}
	if s.State != "" {
		states, err := probe.ParseSocketStates(s.State)
		if err != nil {
			return judgement{}, err
		}
		f.States = states
	}
	table, err := probe.ListSockets(t, f)
	if err != nil {
		return judgement{}, err
	}
	n := 0
	for _, sk := range table.Sockets {
		if s.Process != "" && !ownedBy(sk, s.Process) {
			continue
		}
		n++
	}
	pass := (s.Min == nil || n >= *s.Min) && (s.Max == nil || n <= *s.Max)
	what := "sockets"
	if s.State != "" {
		what = s.State + " sockets"
	}
	var where []string
	if s.Port != 0 {
		where = append(where, fmt.Sprintf("on port %d", s.Port))
	}
	if s.Process != "" {
		// The process is not named: it may be the culprit a task asks for.
		where = append(where, "of the process the check looks for")
	}
	return judgement{pass, strings.TrimSpace(fmt.Sprintf("%s has %d %s %s", s.Host, n, what, strings.Join(where, " ")))}, nil
}

func ownedBy(sk probe.Socket, process string) bool {
	for _, p := range sk.Processes {
		if p.Name == process || fmt.Sprint(p.PID) == process || fmt.Sprint(sandbox.NSPID(p.PID)) == process {
			return true
		}
	}
	return false
}

// capture watches an interface while the inner check runs, and judges
// whether a packet matching the filter was seen.
func (c *Checker) capture(ctx context.Context, k *scenarios.CaptureCheck) (judgement, error) {
	t, err := c.host(k.Host)
	if err != nil {
		return judgement{}, err
	}
	cp, err := probe.OpenCapture(t, probe.CaptureOptions{Interface: k.Dev, Filter: k.Filter, Count: 1})
	if err != nil {
		return judgement{}, err
	}
	defer cp.Close()
	inner := *c
	inner.Once = true
	during := inner.Check(ctx, &k.During)
	rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	stats, err := cp.Run(rctx)
	cancel()
	if err != nil && stats == nil {
		return judgement{}, err
	}
	seen := stats.Packets > 0
	word := "no packet"
	if seen {
		word = "a packet"
	}
	return judgement{seen == k.Seen, fmt.Sprintf("on %s of %s, %s matching %q while %s", k.Dev, k.Host, word, k.Filter, during.Observed)}, nil
}

// pidOfPort is the PID of the process that listens on a TCP port, as the
// learner sees it inside the lab (`ss -tlnp`, `ps` in its PID namespace).
func (c *Checker) pidOfPort(host string, port int) (string, error) {
	t, err := c.host(host)
	if err != nil {
		return "", err
	}
	table, err := probe.ListSockets(t, probe.SocketFilter{TCP: true, States: []probe.SocketState{probe.StateListen}, SrcPort: uint16(port), Processes: true})
	if err != nil {
		return "", err
	}
	for _, sk := range table.Sockets {
		for _, p := range sk.Processes {
			return fmt.Sprint(sandbox.NSPID(p.PID)), nil
		}
	}
	return "", fmt.Errorf("nothing listens on TCP port %d on %s", port, host)
}

// closeWaitProcess is the process holding the most CLOSE_WAIT sockets.
func (c *Checker) closeWaitProcess(host string) (string, error) {
	t, err := c.host(host)
	if err != nil {
		return "", err
	}
	table, err := probe.ListSockets(t, probe.SocketFilter{TCP: true, States: []probe.SocketState{probe.StateCloseWait}, Processes: true})
	if err != nil {
		return "", err
	}
	counts := map[string]int{}
	for _, sk := range table.Sockets {
		for _, p := range sk.Processes {
			counts[p.Name]++
		}
	}
	if len(counts) == 0 {
		return "", fmt.Errorf("no socket is in CLOSE_WAIT on %s", host)
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return counts[names[i]] > counts[names[j]] })
	return names[0], nil
}

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o644)
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}
