package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// HTTPOptions tune an HTTP probe. Zero values take the defaults.
type HTTPOptions struct {
	Method  string        // default GET
	Timeout time.Duration // whole exchange, default 10 s
	Header  http.Header
	// InsecureTLS accepts any certificate (lab servers have no real ones).
	InsecureTLS bool
	// ResolvConf overrides the target's resolver file for the host name.
	ResolvConf string
	// Stall, when set, fails the exchange as soon as no byte has come
	// from the server for this long (a download that stops, as behind a
	// path MTU black hole), instead of waiting out Timeout.
	Stall time.Duration
}

// HTTPResult is one HTTP exchange with its timings. The phases are
// durations from the start: DNS is the name lookup alone, Connect ends when
// the TCP connection is up, TLS when the handshake is done, FirstByte when
// the first response byte arrived, Total when the body was read.
type HTTPResult struct {
	Target     string              `json:"target"`
	URL        string              `json:"url"`
	Method     string              `json:"method"`
	Addrs      []netip.Addr        `json:"addrs,omitempty"`       // what the host name resolved to
	ResolvedBy string              `json:"resolved_by,omitempty"` // "hosts", "dns" or "" for a literal
	Remote     netip.AddrPort      `json:"remote,omitzero"`       // the address connected to
	Status     int                 `json:"status"`
	StatusText string              `json:"status_text,omitempty"`
	Proto      string              `json:"proto,omitempty"`
	Header     map[string][]string `json:"header,omitempty"`
	BodySize   int64               `json:"body_size"`
	DNS        time.Duration       `json:"dns_ns"`
	Connect    time.Duration       `json:"connect_ns"`
	TLS        time.Duration       `json:"tls_ns,omitempty"`
	FirstByte  time.Duration       `json:"first_byte_ns"`
	Total      time.Duration       `json:"total_ns"`
	// Error is what went wrong, in the words of the phase that failed.
	Error string `json:"error,omitempty"`
	// Reach classifies a failed connect (refused, filtered, unreachable).
	Reach *ReachResult `json:"reach,omitempty"`
}

// HTTP fetches a URL from the target. The host name is resolved with the
// target's hosts file and resolvers, and the transport dials inside the
// target. A failed exchange returns the result so far and an error.
func HTTP(t Target, rawURL string, opt HTTPOptions) (HTTPResult, error) {
	start := time.Now()
	if opt.Method == "" {
		opt.Method = http.MethodGet
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	res := HTTPResult{Target: t.Name(), URL: rawURL, Method: opt.Method}
	fail := func(phase string, err error) (HTTPResult, error) {
		res.Total = time.Since(start)
		res.Error = fmt.Sprintf("%s: %v", phase, err)
		return res, fmt.Errorf("http %s from %s: %s: %w", rawURL, t.Name(), phase, err)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		if err == nil {
			err = fmt.Errorf("no host in URL")
		}
		return fail("parsing the URL", err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		res.Addrs = []netip.Addr{a}
	} else {
		res.Addrs, res.ResolvedBy, err = pnLookupHost(t, host, opt.ResolvConf)
		res.DNS = time.Since(start)
		if err != nil {
			return fail("resolving "+host, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), opt.Timeout)
	defer cancel()
	var connectDone, tlsDone, firstByte time.Duration
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var c net.Conn
		var lastErr error
		for _, a := range res.Addrs {
			ap := netip.AddrPortFrom(a, pnPort(port))
			err := t.Do(func() error {
				var err error
				d := net.Dialer{}
				c, err = d.DialContext(ctx, "tcp", ap.String())
				return err
			})
			if err == nil {
				res.Remote = ap
				connectDone = time.Since(start)
				if opt.Stall > 0 {
					c = pnStallConn{Conn: c, stall: opt.Stall}
				}
				return c, nil
			}
			lastErr = err
		}
		return nil, lastErr
	}
	tr := &http.Transport{
		DialContext:       dial,
		DisableKeepAlives: true,
		Proxy:             nil,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: opt.InsecureTLS, ServerName: host},
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, opt.Method, rawURL, nil)
	if err != nil {
		return fail("building the request", err)
	}
	for k, vs := range opt.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	trace := &httptrace.ClientTrace{
		TLSHandshakeDone:     func(tls.ConnectionState, error) { tlsDone = time.Since(start) },
		GotFirstResponseByte: func() { firstByte = time.Since(start) },
	}
	req = req.WithContext(httptrace.WithClientTrace(ctx, trace))
	resp, err := tr.RoundTrip(req)
	res.Connect, res.TLS, res.FirstByte = connectDone, tlsDone, firstByte
	if err != nil {
		if connectDone == 0 && len(res.Addrs) > 0 {
			// The failed connection is classified by a second probe,
			// bounded by what is left of the first one's timeout: a
			// connection that timed out has had its answer already, and
			// a second wait as long would only double the time to
			// report it. The floor is ample for a refusal or an ICMP
			// error, which come back at once.
			left := classifyFloor
			if dl, ok := ctx.Deadline(); ok {
				left = max(time.Until(dl), classifyFloor)
			}
			r, rerr := Reach(t, netip.AddrPortFrom(res.Addrs[0], pnPort(port)), ReachOptions{Timeout: min(left, 5*time.Second)})
			if rerr == nil {
				res.Reach = &r
			}
			return fail("connecting", err)
		}
		return fail("exchanging", err)
	}
	defer resp.Body.Close()
	res.Status, res.Proto = resp.StatusCode, resp.Proto
	res.StatusText = http.StatusText(resp.StatusCode)
	res.Header = resp.Header
	n, err := io.Copy(io.Discard, resp.Body)
	res.BodySize = n
	res.FirstByte = firstByte
	res.Total = time.Since(start)
	if err != nil {
		return fail("reading the body", err)
	}
	return res, nil
}

// pnStallConn fails a read that gets no byte within stall.
type pnStallConn struct {
	net.Conn
	stall time.Duration
}

func (c pnStallConn) Read(b []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.stall))
	n, err := c.Conn.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = pnStalled{c.stall}
	}
	return n, err
}

// pnStalled is the error of a read that waited its stall out.
type pnStalled struct{ d time.Duration }

func (e pnStalled) Error() string   { return fmt.Sprintf("no data from the server for %s", e.d) }
func (e pnStalled) Timeout() bool   { return true }
func (e pnStalled) Temporary() bool { return true }

// classifyFloor is the least time the classification of a failed
// connection waits for an answer.
const classifyFloor = 200 * time.Millisecond

func pnPort(s string) uint16 {
	var p uint16
	fmt.Sscanf(s, "%d", &p)
	return p
}

// pnLookupHost resolves a host name as glibc does with "files dns": the
// target's hosts file first, then its resolvers (A records).
func pnLookupHost(t Target, host, resolvConf string) ([]netip.Addr, string, error) {
	if addrs := pnHostsLookup(t.EtcFile("hosts"), host); len(addrs) > 0 {
		return addrs, "hosts", nil
	}
	r, err := DNSQuery(t, host, DNSOptions{Type: "A", ResolvConf: resolvConf})
	if err != nil {
		return nil, "dns", err
	}
	if r.TimedOut {
		return nil, "dns", fmt.Errorf("no DNS server answered for %s", host)
	}
	addrs := r.Addrs()
	if len(addrs) == 0 {
		return nil, "dns", fmt.Errorf("%s: %s with no address", host, r.Rcode)
	}
	return addrs, "dns", nil
}

// pnHostsLookup reads the addresses of a name from a hosts file.
func pnHostsLookup(path, name string) []netip.Addr {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	var out []netip.Addr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil || !a.Is4() {
			continue
		}
		for _, n := range f[1:] {
			if strings.ToLower(n) == name {
				out = append(out, a)
			}
		}
	}
	return out
}

// LookupHost resolves a host name from the target as glibc does with
// "hosts: files dns": the target's hosts file, then its resolvers. It
// returns the addresses and where they came from ("hosts" or "dns"). An IP
// literal is returned as is.
func LookupHost(t Target, host string) ([]netip.Addr, string, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, "", nil
	}
	return pnLookupHost(t, host, "")
}
