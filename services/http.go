package services

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
)

// HTTPParams configure the http service.
type HTTPParams struct {
	Listen   string `yaml:"listen,omitempty" json:"listen,omitempty" doc:"IP address to listen on; every address of the host when left out."`
	Port     int    `yaml:"port,omitempty" json:"port,omitempty" doc:"TCP port to listen on (default 80)."`
	Status   int    `yaml:"status,omitempty" json:"status,omitempty" doc:"HTTP status code of every answer except /health (default 200)."`
	Delay    string `yaml:"delay,omitempty" json:"delay,omitempty" doc:"How long to wait before answering, such as \"3s\"; /health always answers at once."`
	Body     string `yaml:"body,omitempty" json:"body,omitempty" doc:"Body of every answer except /health (default \"hello from netdojo\" and a newline)."`
	BodySize int    `yaml:"body_size,omitempty" json:"body_size,omitempty" doc:"When set, the body is this many bytes of filler instead; a large body (such as 1000000) stalls over a path MTU black hole."`

	delay time.Duration
}

// Check implements Params.
func (p *HTTPParams) Check() error {
	if err := scenarios.CheckAddr("listen", p.Listen); err != nil {
		return err
	}
	if err := scenarios.CheckPort("port", &p.Port, 80); err != nil {
		return err
	}
	if err := scenarios.CheckRange("status", &p.Status, http.StatusOK, 100, 599); err != nil {
		return err
	}
	var err error
	if p.delay, err = scenarios.CheckDuration("delay", p.Delay, 0); err != nil {
		return err
	}
	if err := scenarios.CheckRange("body_size", &p.BodySize, 0, 0, 1<<30); err != nil {
		return err
	}
	if p.Body != "" && p.BodySize > 0 {
		return scenarios.FieldErrorf("body", "give body or body_size, not both")
	}
	if p.Body == "" && p.BodySize == 0 {
		p.Body = "hello from netdojo\n"
	}
	return nil
}

// ProcessName implements Params.
func (p *HTTPParams) ProcessName() string { return "httpd" }

func httpKind() Kind {
	return Kind{
		Name:    "http",
		Summary: "HTTP server with a chosen status, delay and body size, and /health.",
		Doc: "Answers every request with the configured status, after the configured delay, with a body of the " +
			"configured size; `/health` always answers 200 at once. `curl -v` shows the status line and " +
			"`curl -w '%{time_total}'` the delay; a large body over a path MTU black hole stalls after the headers. " +
			"`ss -tlnp` shows httpd on the port. Every request is logged.",
		NewParams: func() Params { return &HTTPParams{} },
		Run:       func(ctx context.Context, p Params, log *slog.Logger) error { return runHTTP(ctx, p.(*HTTPParams), log) },
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			h := p.(*HTTPParams)
			return httpReady(ctx, t, "http", dialAddress(h.Listen, h.Port), "/health")
		},
	}
}

// httpReady is ready once GET path on addr answers 200.
func httpReady(ctx context.Context, t probe.Target, what, addr, path string) error {
	return pollReady(ctx, t, what+" at "+addr, func(ctx context.Context) error {
		c, err := dialIn(ctx, t, "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		return checkHealth(c, path)
	})
}

// checkHealth sends GET path on c and wants 200.
func checkHealth(c net.Conn, path string) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.0\r\nHost: netdojo\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s answered %s", path, resp.Status)
	}
	return nil
}

func runHTTP(ctx context.Context, p *HTTPParams, log *slog.Logger) error {
	addr := listenAddress(p.Listen, p.Port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on tcp %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if p.delay > 0 {
			t := time.NewTimer(p.delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				log.Info("request", "client", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "status", "client went away during the delay")
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		size := int64(len(p.Body))
		var body io.Reader = strings.NewReader(p.Body)
		if p.BodySize > 0 {
			size = int64(p.BodySize)
			body = io.LimitReader(filler{}, size)
		}
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(p.Status)
		n, err := io.Copy(w, body)
		attrs := []any{"client", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "status", p.Status, "bytes", n}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		log.Info("request", attrs...)
	})
	return serveHTTP(ctx, log, ln, mux)
}

// serveHTTP serves on ln until ctx ends, then shuts the server down.
func serveHTTP(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	log.Info("listening", "proto", "tcp", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serving http on %s: %w", ln.Addr(), err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// filler is an endless body: lines of printable text.
type filler struct{}

func (filler) Read(b []byte) (int, error) {
	const line = "netdojo filler line: the quick brown fox jumps over the lazy dog 0123456789\n"
	for i := range b {
		b[i] = line[i%len(line)]
	}
	return len(b), nil
}
