package services

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"golang.org/x/sys/unix"
)

// ListenParams are the parameters of a service that only listens: an
// address and a port.
type ListenParams struct {
	Listen string `yaml:"listen,omitempty" json:"listen,omitempty" doc:"IP address to listen on; every address of the host when left out."`
	Port   int    `yaml:"port,omitempty" json:"port,omitempty" doc:"Port to listen on (the kind's default when left out)."`

	defPort int
	name    string
	proto   string // udp for udp-echo; tcp when empty
}

// Check implements Params.
func (p *ListenParams) Check() error {
	if err := scenarios.CheckAddr("listen", p.Listen); err != nil {
		return err
	}
	return scenarios.CheckPort("port", &p.Port, p.defPort)
}

// ProcessName implements Params.
func (p *ListenParams) ProcessName() string { return p.name }

// --- tcp-echo -------------------------------------------------------------

func tcpEchoKind() Kind {
	return Kind{
		Name:    "tcp-echo",
		Summary: "TCP echo server: sends back every byte it receives.",
		Doc: "Echoes every byte back until the client closes (port 7 by default). " +
			"`echo hi | nc -N HOST 7` prints hi; `ss -tlnp` shows echod on the port.",
		NewParams: func() Params { return &ListenParams{defPort: 7, name: "echod"} },
		Run: func(ctx context.Context, p Params, log *slog.Logger) error {
			l := p.(*ListenParams)
			return serveTCP(ctx, log, listenAddress(l.Listen, l.Port), func(ctx context.Context, c net.Conn) {
				n, err := io.Copy(c, c)
				log.Info("closed", "client", c.RemoteAddr().String(), "bytes", n, "err", err)
			})
		},
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			l := p.(*ListenParams)
			return tcpReady(ctx, t, "tcp-echo", l.Listen, l.Port)
		},
	}
}

// --- udp-echo -------------------------------------------------------------

func udpEchoKind() Kind {
	return Kind{
		Name:    "udp-echo",
		Summary: "UDP echo server: sends every datagram back to its sender.",
		Doc: "Sends every datagram back to where it came from (port 7 by default). " +
			"`echo hi | nc -u -w1 HOST 7` prints hi; `ss -ulnp` shows echod on the port.",
		NewParams: func() Params { return &ListenParams{defPort: 7, name: "echod", proto: "udp"} },
		Run: func(ctx context.Context, p Params, log *slog.Logger) error {
			l := p.(*ListenParams)
			return runUDPEcho(ctx, listenAddress(l.Listen, l.Port), log)
		},
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			l := p.(*ListenParams)
			addr := dialAddress(l.Listen, l.Port)
			return pollReady(ctx, t, "udp-echo at "+addr, func(ctx context.Context) error {
				c, err := dialIn(ctx, t, "udp", addr)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := c.Write([]byte("netdojo-ready")); err != nil {
					return err
				}
				buf := make([]byte, 64)
				n, err := c.Read(buf)
				if err != nil {
					return err
				}
				if string(buf[:n]) != "netdojo-ready" {
					return fmt.Errorf("echo answered %q", buf[:n])
				}
				return nil
			})
		},
	}
}

func runUDPEcho(ctx context.Context, addr string, log *slog.Logger) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listening on udp %s: %w", addr, err)
	}
	log.Info("listening", "proto", "udp", "addr", pc.LocalAddr().String())
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	defer pc.Close()
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading on udp %s: %w", addr, err)
		}
		_, werr := pc.WriteTo(buf[:n], from)
		log.Info("datagram", "client", from.String(), "bytes", n, "err", werr)
	}
}

// --- banner ---------------------------------------------------------------

// BannerParams configure the banner service.
type BannerParams struct {
	Listen string `yaml:"listen,omitempty" json:"listen,omitempty" doc:"IP address to listen on; every address of the host when left out."`
	Port   int    `yaml:"port,omitempty" json:"port,omitempty" doc:"TCP port to listen on (default 22)."`
	Text   string `yaml:"text,omitempty" json:"text,omitempty" doc:"The line sent on connect, without the line ending (default an SSH server greeting)."`
	Close  bool   `yaml:"close,omitempty" json:"close,omitempty" doc:"Close the connection right after the line, so the server closes first; otherwise wait for the client to close."`
}

// Check implements Params.
func (p *BannerParams) Check() error {
	if err := scenarios.CheckAddr("listen", p.Listen); err != nil {
		return err
	}
	if err := scenarios.CheckPort("port", &p.Port, 22); err != nil {
		return err
	}
	if p.Text == "" {
		p.Text = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
	}
	if strings.ContainsAny(p.Text, "\r\n") {
		return scenarios.FieldErrorf("text", "must be one line; the service adds the CRLF line ending")
	}
	return nil
}

// ProcessName implements Params.
func (p *BannerParams) ProcessName() string {
	switch {
	case p.Text == "" || strings.HasPrefix(p.Text, "SSH-"):
		return "sshd"
	case strings.HasPrefix(p.Text, "220"):
		return "smtpd"
	}
	return "bannerd"
}

func bannerKind() Kind {
	return Kind{
		Name:    "banner",
		Summary: "TCP service that sends a line on connect, like an SSH or SMTP server.",
		Doc: "Sends its line (CRLF-terminated) as soon as a client connects, then waits for the client to close " +
			"or, with close, closes first. `nc HOST 22` prints the line; `ss -tlnp` shows sshd (smtpd for a 220 greeting, bannerd otherwise) on the port.",
		NewParams: func() Params { return &BannerParams{} },
		Run: func(ctx context.Context, p Params, log *slog.Logger) error {
			b := p.(*BannerParams)
			return serveTCP(ctx, log, listenAddress(b.Listen, b.Port), func(ctx context.Context, c net.Conn) {
				if _, err := io.WriteString(c, b.Text+"\r\n"); err != nil {
					log.Info("closed", "client", c.RemoteAddr().String(), "err", err)
					return
				}
				if b.Close {
					return
				}
				n, err := io.Copy(io.Discard, c)
				log.Info("closed", "client", c.RemoteAddr().String(), "bytes", n, "err", err)
			})
		},
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			b := p.(*BannerParams)
			addr := dialAddress(b.Listen, b.Port)
			return pollReady(ctx, t, "banner at "+addr, func(ctx context.Context) error {
				c, err := dialIn(ctx, t, "tcp", addr)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return err
				}
				if strings.TrimRight(line, "\r\n") != b.Text {
					return fmt.Errorf("banner is %q", line)
				}
				return nil
			})
		},
	}
}

// --- close-wait-leaker ----------------------------------------------------

func closeWaitLeakerKind() Kind {
	return Kind{
		Name:    "close-wait-leaker",
		Summary: "TCP server that reads to end of stream and never closes: CLOSE_WAIT piles up.",
		Doc: "Accepts (port 8080 by default), reads until the client closes, and never closes its side, like a server with a missing " +
			"close(). `ss -tan state close-wait` grows by one per client connection, each owned by " +
			"the service's name in `ss -tanp`; clients see no reply (a request hangs until its own timeout).",
		NewParams: func() Params { return &ListenParams{defPort: 8080, name: ""} },
		Run: func(ctx context.Context, p Params, log *slog.Logger) error {
			l := p.(*ListenParams)
			return serveTCP(ctx, log, listenAddress(l.Listen, l.Port), func(ctx context.Context, c net.Conn) {
				n, err := io.Copy(io.Discard, c)
				log.Info("request read", "client", c.RemoteAddr().String(), "bytes", n, "err", err)
				<-ctx.Done() // never close while running
			})
		},
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			l := p.(*ListenParams)
			return listenerReady(ctx, t, "close-wait-leaker", l.Listen, l.Port)
		},
	}
}

// --- slow-reader ----------------------------------------------------------

// SlowReaderParams configure the slow-reader service.
type SlowReaderParams struct {
	Listen    string `yaml:"listen,omitempty" json:"listen,omitempty" doc:"IP address to listen on; every address of the host when left out."`
	Port      int    `yaml:"port,omitempty" json:"port,omitempty" doc:"TCP port to listen on (default 9000)."`
	ReadBytes int    `yaml:"read_bytes,omitempty" json:"read_bytes,omitempty" doc:"Bytes read from each connection per interval (default 1)."`
	Interval  string `yaml:"interval,omitempty" json:"interval,omitempty" doc:"Time between reads, such as \"1s\" (default 1s)."`

	interval time.Duration
}

// Check implements Params.
func (p *SlowReaderParams) Check() error {
	if err := scenarios.CheckAddr("listen", p.Listen); err != nil {
		return err
	}
	if err := scenarios.CheckPort("port", &p.Port, 9000); err != nil {
		return err
	}
	if err := scenarios.CheckRange("read_bytes", &p.ReadBytes, 1, 1, 1048576); err != nil {
		return err
	}
	var err error
	if p.interval, err = scenarios.CheckDuration("interval", p.Interval, time.Second); err != nil {
		return err
	}
	if p.interval < time.Millisecond {
		return scenarios.FieldErrorf("interval", "%q is too short to be slow; give at least \"1ms\", such as \"1s\"", p.Interval)
	}
	return nil
}

// ProcessName implements Params.
func (p *SlowReaderParams) ProcessName() string { return "" }

func slowReaderKind() Kind {
	return Kind{
		Name:    "slow-reader",
		Summary: "TCP server that reads slowly, so the receive queue builds up.",
		Doc: "Accepts and reads only read_bytes per interval from each connection. A client that sends more " +
			"fills the server's receive queue: `ss -tn` shows a growing Recv-Q on the server socket and, once the " +
			"window is full, a Send-Q on the client; the client's writes block and tcpdump shows zero-window probes.",
		NewParams: func() Params { return &SlowReaderParams{} },
		Run: func(ctx context.Context, p Params, log *slog.Logger) error {
			s := p.(*SlowReaderParams)
			return serveTCP(ctx, log, listenAddress(s.Listen, s.Port), func(ctx context.Context, c net.Conn) {
				buf := make([]byte, s.ReadBytes)
				tick := time.NewTicker(s.interval)
				defer tick.Stop()
				total := 0
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
					n, err := c.Read(buf)
					total += n
					if err != nil {
						log.Info("closed", "client", c.RemoteAddr().String(), "bytes", total, "err", err)
						return
					}
				}
			})
		},
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			s := p.(*SlowReaderParams)
			return listenerReady(ctx, t, "slow-reader", s.Listen, s.Port)
		},
	}
}

// --- backlog --------------------------------------------------------------

// BacklogParams configure the backlog service.
type BacklogParams struct {
	Listen  string `yaml:"listen,omitempty" json:"listen,omitempty" doc:"IP address to listen on; every IPv4 address of the host when left out."`
	Port    int    `yaml:"port,omitempty" json:"port,omitempty" doc:"TCP port to listen on (default 8090)."`
	Backlog int    `yaml:"backlog,omitempty" json:"backlog,omitempty" doc:"The listen() backlog (default 1); the kernel queues backlog+1 connections, then drops SYNs."`
}

// Check implements Params.
func (p *BacklogParams) Check() error {
	if err := scenarios.CheckAddr("listen", p.Listen); err != nil {
		return err
	}
	if err := scenarios.CheckPort("port", &p.Port, 8090); err != nil {
		return err
	}
	if err := scenarios.CheckRange("backlog", &p.Backlog, 1, 1, 4096); err != nil {
		return err
	}
	return nil
}

// ProcessName implements Params.
func (p *BacklogParams) ProcessName() string { return "" }

func backlogKind() Kind {
	return Kind{
		Name:    "backlog",
		Summary: "TCP listener with a small backlog that never accepts: the accept queue overflows.",
		Doc: "Listens with a small backlog and never calls accept(). The first backlog+1 clients connect and then " +
			"hang with no reply; later SYNs are dropped, so clients time out. `ss -tln` shows the listener with " +
			"Send-Q = backlog and Recv-Q = connections waiting; `nstat -az TcpExtListenOverflows` counts the drops.",
		NewParams: func() Params { return &BacklogParams{} },
		Run: func(ctx context.Context, p Params, log *slog.Logger) error {
			return runBacklog(ctx, p.(*BacklogParams), log)
		},
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			// Dialing would take a place in the queue, so look for the socket instead.
			b := p.(*BacklogParams)
			return listenerReady(ctx, t, "backlog", b.Listen, b.Port)
		},
	}
}

func runBacklog(ctx context.Context, p *BacklogParams, log *slog.Logger) error {
	addr := netip.IPv4Unspecified()
	if p.Listen != "" {
		addr = netip.MustParseAddr(p.Listen)
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if addr.Is4() {
		sa = &unix.SockaddrInet4{Port: p.Port, Addr: addr.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: p.Port, Addr: addr.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("creating the listening socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("setting SO_REUSEADDR: %w", err)
	}
	where := net.JoinHostPort(addr.String(), fmt.Sprint(p.Port))
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("binding tcp %s: %w", where, os.NewSyscallError("bind", err))
	}
	if err := unix.Listen(fd, p.Backlog); err != nil {
		return fmt.Errorf("listening on tcp %s: %w", where, err)
	}
	log.Info("listening", "proto", "tcp", "addr", where, "backlog", p.Backlog)
	<-ctx.Done()
	return nil
}

// --- squatter -------------------------------------------------------------

// SquatterParams configure the squatter service.
type SquatterParams struct {
	Listen   string `yaml:"listen,omitempty" json:"listen,omitempty" doc:"IP address to hold the port on; every address of the host when left out."`
	Port     int    `yaml:"port,omitempty" json:"port,omitempty" doc:"Port to hold (default 443)."`
	Protocol string `yaml:"protocol,omitempty" json:"protocol,omitempty" doc:"Protocol of the port: tcp or udp (default tcp)."`
	Name     string `yaml:"name,omitempty" json:"name,omitempty" doc:"Process name ss and ps show, at most 15 characters, such as \"nginx\" (default nc)."`
}

// Check implements Params.
func (p *SquatterParams) Check() error {
	if err := scenarios.CheckAddr("listen", p.Listen); err != nil {
		return err
	}
	if err := scenarios.CheckPort("port", &p.Port, 443); err != nil {
		return err
	}
	if err := scenarios.CheckOneOf("protocol", &p.Protocol, "tcp", false, "tcp", "udp"); err != nil {
		return err
	}
	if p.Name == "" {
		p.Name = "nc"
	}
	return scenarios.CheckProcessName("name", p.Name)
}

// ProcessName implements Params.
func (p *SquatterParams) ProcessName() string { return p.Name }

func squatterKind() Kind {
	return Kind{
		Name:    "squatter",
		Summary: "Holds a port under a chosen process name, so another service cannot bind it.",
		Doc: "Binds the port (TCP: accepts and closes at once; UDP: ignores datagrams) under the process name " +
			"you choose. A service started after it fails with \"address already in use\"; `ss -tlnp 'sport = :443'` " +
			"answers who holds the port with the chosen name and its PID.",
		NewParams: func() Params { return &SquatterParams{} },
		Run: func(ctx context.Context, p Params, log *slog.Logger) error {
			s := p.(*SquatterParams)
			addr := listenAddress(s.Listen, s.Port)
			if s.Protocol == "udp" {
				pc, err := net.ListenPacket("udp", addr)
				if err != nil {
					return fmt.Errorf("listening on udp %s: %w", addr, err)
				}
				log.Info("holding", "proto", "udp", "addr", pc.LocalAddr().String())
				<-ctx.Done()
				return pc.Close()
			}
			return serveTCP(ctx, log, addr, func(ctx context.Context, c net.Conn) {})
		},
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			s := p.(*SquatterParams)
			if s.Protocol == "udp" {
				return socketReady(ctx, t, "squatter", "udp", s.Port)
			}
			return tcpReady(ctx, t, "squatter", s.Listen, s.Port)
		},
	}
}

// --- readiness by the socket table ----------------------------------------

// listenerReady waits until a TCP socket listens on port inside the target,
// without connecting to it.
func listenerReady(ctx context.Context, t probe.Target, what, listen string, port int) error {
	return socketReady(ctx, t, what, "tcp", port)
}

// socketReady waits until the target's socket table (/proc/net/PROTO and
// PROTO6, read from a thread inside the target) holds a socket bound to port:
// a listening one for tcp.
func socketReady(ctx context.Context, t probe.Target, what, proto string, port int) error {
	return pollReady(ctx, t, fmt.Sprintf("%s on %s port %d", what, proto, port), func(ctx context.Context) error {
		found := false
		err := t.Do(func() error {
			for _, file := range []string{proto, proto + "6"} {
				ok, err := procNetHasPort("/proc/thread-self/net/"+file, port, proto == "tcp")
				if err != nil {
					return err
				}
				found = found || ok
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("no %s socket bound to port %d yet", proto, port)
		}
		return nil
	})
}

// procNetHasPort reports whether a /proc/net/{tcp,udp}[6] table has a local
// port, in state LISTEN (0A) when listening is set.
func procNetHasPort(path string, port int, listening bool) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasSuffix(f[1], want) {
			continue
		}
		if !listening || f[3] == "0A" {
			return true, nil
		}
	}
	return false, nil
}
