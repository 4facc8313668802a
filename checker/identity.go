package checker

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// BaselineFile, in a lab's directory, records the lab's processes as they
// were once the lab was started and broken: what same_process compares.
const BaselineFile = "baseline.json"

func loadBaseline(lab *sandbox.Lab) ([]sandbox.Process, error) {
	data, err := os.ReadFile(filepath.Join(lab.Dir(), BaselineFile))
	if err != nil {
		return nil, fmt.Errorf("reading the lab's processes at start: %w; the lab was started by an older netdojo, start it again", err)
	}
	var ps []sandbox.Process
	if err := json.Unmarshal(data, &ps); err != nil {
		return nil, fmt.Errorf("reading the lab's processes at start: %w", err)
	}
	return ps, nil
}

func (c *Checker) sameProcess(sp *scenarios.SameProcessCheck) (judgement, error) {
	base, err := loadBaseline(c.Lab)
	if err != nil {
		return judgement{}, err
	}
	for _, p := range base {
		if p.Host != sp.Host || p.Name != sp.Service {
			continue
		}
		if p.Alive() {
			return judgement{true, fmt.Sprintf("service %s on %s is still PID %d, the process that ran when the lab started", sp.Service, sp.Host, p.PID)}, nil
		}
		return judgement{false, fmt.Sprintf("service %s on %s is no longer the process that ran when the lab started (PID %d has gone)", sp.Service, sp.Host, p.PID)}, nil
	}
	return judgement{false, fmt.Sprintf("service %s on %s was not running when the lab started", sp.Service, sp.Host)}, nil
}

func (c *Checker) listener(l *scenarios.ListenerCheck) (judgement, error) {
	t, err := c.host(l.Host)
	if err != nil {
		return judgement{}, err
	}
	f := probe.SocketFilter{SrcPort: uint16(l.Port), Processes: l.Process != ""}
	proto := "tcp"
	if l.Proto == "udp" {
		f.UDP, proto = true, "udp"
	} else {
		f.TCP = true
		st, err := probe.ParseSocketStates("listen")
		if err != nil {
			return judgement{}, err
		}
		f.States = st
	}
	table, err := probe.ListSockets(t, f)
	if err != nil {
		return judgement{}, err
	}
	var want netip.Addr
	wild := l.Address == "*"
	if l.Address != "" && !wild {
		if want, err = c.addr(l.Address); err != nil {
			return judgement{}, err
		}
	}
	var bound []string
	found := false
	for _, sk := range table.Sockets {
		if proto == "udp" && sk.Remote.IsValid() && sk.Remote.Port() != 0 {
			continue // a connected UDP socket does not listen
		}
		if l.Process != "" && !ownedBy(sk, l.Process) {
			continue
		}
		a := sk.Local.Addr().Unmap()
		bound = append(bound, netip.AddrPortFrom(a, sk.Local.Port()).String())
		switch {
		case wild:
			found = found || a.IsUnspecified()
		case want.IsValid():
			found = found || a == want
		default:
			found = true
		}
	}
	expect := l.Present == nil || *l.Present
	who := ""
	if l.Process != "" {
		who = " of " + l.Process
	}
	obs := fmt.Sprintf("%s has no %s listener%s on port %d", l.Host, proto, who, l.Port)
	if len(bound) > 0 {
		obs = fmt.Sprintf("%s listens%s on %s %s", l.Host, who, proto, strings.Join(sortedStrings(bound), ", "))
	}
	return judgement{found == expect, obs}, nil
}

// expectedBodies is what the answer of an HTTP check must be: the bodies
// (or, for filler, the sizes) of the services that should answer. Empty
// when any body will do.
type expectedBody struct {
	body string // exact body
	size int    // filler of this size, when body is empty
	what string // the service, in words
}

func (c *Checker) expectedBodies(h *scenarios.HTTPCheck, status int) []expectedBody {
	if h.Service == "none" || h.Body != "" || status < 200 || status > 299 {
		return nil
	}
	type cand struct {
		host, name string
		p          scenarios.HTTPResponder
	}
	var all []cand
	for _, host := range c.Scenario.Hosts {
		for _, svc := range host.Services {
			if h.Service != "" && h.Service != host.Name+"/"+svc.Name {
				continue
			}
			if p, ok := svc.Params.(scenarios.HTTPResponder); ok {
				all = append(all, cand{host.Name, svc.Name, p})
			}
		}
	}
	port := urlPort(h.URL)
	var onPort []cand
	for _, cd := range all {
		if cd.p.HTTPPort() == port {
			onPort = append(onPort, cd)
		}
	}
	if len(onPort) > 0 && h.Service == "" {
		all = onPort
	}
	path := ""
	if u, err := url.Parse(h.URL); err == nil {
		path = u.Path
	}
	var out []expectedBody
	for _, cd := range all {
		body, size := cd.p.HTTPBody(path)
		out = append(out, expectedBody{body: body, size: size, what: fmt.Sprintf("service %s on %s", cd.name, cd.host)})
	}
	return out
}

func urlPort(raw string) int {
	u, err := url.Parse(raw)
	if err != nil {
		return 0
	}
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return n
	}
	if u.Scheme == "https" {
		return 443
	}
	return 80
}

// identity judges that an HTTP answer is the scenario's service: its
// body is the one a service is configured with (or contains h.Body).
func (c *Checker) identity(t probe.Target, h *scenarios.HTTPCheck, res probe.HTTPResult, status int) (bool, string) {
	want := c.expectedBodies(h, status)
	if len(want) == 0 && h.Body == "" {
		return true, ""
	}
	sizeOnly := h.Body == ""
	for _, w := range want {
		sizeOnly = sizeOnly && w.body == ""
	}
	if sizeOnly {
		for _, w := range want {
			if int64(w.size) == res.BodySize {
				return true, ""
			}
		}
		return false, "not the size the service serves"
	}
	body, err := fetchBody(t, res.Remote, h.URL, 64<<10)
	if err != nil {
		return false, "the body could not be read again: " + err.Error()
	}
	if h.Body != "" {
		if strings.Contains(body, h.Body) {
			return true, ""
		}
		return false, "the body is not the expected page (it starts " + strconv.Quote(firstLine(body)) + ")"
	}
	for _, w := range want {
		if w.body != "" && body == w.body || w.body == "" && len(body) == w.size {
			return true, ""
		}
	}
	return false, "the answer is not the lab's own service (the body starts " + strconv.Quote(firstLine(body)) + ")"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// fetchBody asks the address an HTTP probe connected to for the URL again
// and returns up to max bytes of the body. The socket is made inside the
// target's namespace; the exchange happens outside it.
func fetchBody(t probe.Target, remote netip.AddrPort, rawURL string, max int64) (string, error) {
	if !remote.IsValid() {
		return "", errors.New("no address was connected to")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("only http bodies are compared, not %s", u.Scheme)
	}
	var conn net.Conn
	err = t.Do(func() error {
		var derr error
		conn, derr = net.DialTimeout("tcp", remote.String(), 2*time.Second)
		return derr
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	path := u.RequestURI()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: netdojo-check\r\n\r\n", path, u.Host); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max))
	return string(b), err
}
