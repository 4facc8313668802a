package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
)

// ProxyParams configure the proxy service.
type ProxyParams struct {
	Listen        string `yaml:"listen,omitempty" json:"listen,omitempty" doc:"IP address to listen on; every address of the host when left out."`
	Port          int    `yaml:"port,omitempty" json:"port,omitempty" doc:"TCP port to listen on (default 80)."`
	Backend       string `yaml:"backend,omitempty" json:"backend,omitempty" doc:"The backend's IP:port, such as \"10.0.1.10:8080\"."`
	DialTimeout   string `yaml:"dial_timeout,omitempty" json:"dial_timeout,omitempty" doc:"How long to wait for the backend's TCP handshake before answering 504 (default 2s)."`
	HeaderTimeout string `yaml:"header_timeout,omitempty" json:"header_timeout,omitempty" doc:"How long to wait for the backend's response headers before answering 504 (default 5s)."`

	dialTimeout, headerTimeout time.Duration
}

// Check implements Params.
func (p *ProxyParams) Check() error {
	if err := scenarios.CheckAddr("listen", p.Listen); err != nil {
		return err
	}
	if err := scenarios.CheckPort("port", &p.Port, 80); err != nil {
		return err
	}
	if err := scenarios.CheckAddrPort("backend", p.Backend); err != nil {
		return err
	}
	var err error
	if p.dialTimeout, err = scenarios.CheckDuration("dial_timeout", p.DialTimeout, 2*time.Second); err != nil {
		return err
	}
	if p.headerTimeout, err = scenarios.CheckDuration("header_timeout", p.HeaderTimeout, 5*time.Second); err != nil {
		return err
	}
	for _, t := range []struct {
		field string
		d     time.Duration
	}{{"dial_timeout", p.dialTimeout}, {"header_timeout", p.headerTimeout}} {
		if t.d == 0 {
			return scenarios.FieldErrorf(t.field, "must be above zero; a proxy without timeouts hangs for minutes on a dropped backend")
		}
	}
	return nil
}

// ProcessName implements Params.
func (p *ProxyParams) ProcessName() string { return "proxyd" }

func proxyKind() Kind {
	return Kind{
		Name:    "proxy",
		Summary: "Reverse proxy to one backend with explicit timeouts, answering 502 and 504 like nginx.",
		Doc: "Forwards every request to the backend. When the backend refuses the connection, resets it or is " +
			"unreachable it answers 502 Bad Gateway at once; when the TCP handshake (a dropped SYN) or the response " +
			"headers (a hung backend) take longer than their timeout it answers 504 Gateway Timeout. " +
			"`curl -i` shows the status and the X-Netdojo-Proxy-Error header says why; the proxy answers " +
			proxyHealthPath + " itself and forwards every other path. `ss -tlnp` shows proxyd, and `ss -tn` its connections to the backend.",
		NewParams: func() Params { return &ProxyParams{} },
		Run: func(ctx context.Context, p Params, log *slog.Logger) error {
			return runProxy(ctx, p.(*ProxyParams), log)
		},
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			// The proxy is ready when it answers its own /health; the
			// backend may be down on purpose.
			x := p.(*ProxyParams)
			return httpReady(ctx, t, "proxy", dialAddress(x.Listen, x.Port), proxyHealthPath)
		},
	}
}

// proxyHealthPath is the one path the proxy answers itself.
const proxyHealthPath = "/netdojo-proxy-health"

func runProxy(ctx context.Context, p *ProxyParams, log *slog.Logger) error {
	addr := listenAddress(p.Listen, p.Port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on tcp %s: %w", addr, err)
	}
	backend := &url.URL{Scheme: "http", Host: p.Backend}
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: p.dialTimeout}).DialContext,
		ResponseHeaderTimeout: p.headerTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
	}
	defer transport.CloseIdleConnections()
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(backend)
			r.SetXForwarded()
		},
		Transport: transport,
		ModifyResponse: func(resp *http.Response) error {
			log.Info("request", "client", resp.Request.Header.Get("X-Forwarded-For"), "method", resp.Request.Method,
				"path", resp.Request.URL.Path, "backend", p.Backend, "status", resp.StatusCode)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status, why := proxyStatus(err)
			log.Info("request", "client", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "backend", p.Backend,
				"status", status, "reason", why, "err", err)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Netdojo-Proxy-Error", why)
			w.WriteHeader(status)
			fmt.Fprintf(w, "%d %s\n", status, http.StatusText(status))
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	mux := http.NewServeMux()
	mux.HandleFunc(proxyHealthPath, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.Handle("/", rp)
	return serveHTTP(ctx, log, ln, mux)
}

// proxyStatus classifies a backend error as nginx does: a timeout (during
// the handshake or waiting for headers) is 504, anything else 502.
func proxyStatus(err error) (int, string) {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			return http.StatusGatewayTimeout, "backend connect timed out"
		}
		return http.StatusGatewayTimeout, "backend response headers timed out"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "backend timed out"
	case errors.Is(err, context.Canceled):
		return 499, "client closed the request"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return http.StatusBadGateway, "backend connect failed: " + errText(oe.Err)
	}
	return http.StatusBadGateway, "backend failed: " + errText(err)
}

func errText(err error) string {
	var se interface{ Unwrap() error }
	for errors.As(err, &se) && se.Unwrap() != nil {
		err = se.Unwrap()
	}
	return err.Error()
}
