// Reverse proxy faults: proxy-backend-down and proxy-backend-hung.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// Modes of proxy-backend-hung.
const (
	HungSlow = "slow"
	HungDrop = "drop"
)

func proxyBackendDownKind() Kind {
	return kind(Spec[*BackendParams]{
		Name:      "proxy-backend-down",
		Layer:     LayerApp,
		NeedsHost: true,
		Summary:   "The reverse proxy's backend service is stopped; the proxy runs on.",
		Symptom: "`curl -sS -I http://PROXY/` prints \"HTTP/1.1 502 Bad Gateway\" at once; the proxy itself accepts connections. " +
			"On the backend host `ss -tlnp` shows nothing on the backend port, and `curl http://BACKEND:PORT/` from the proxy's host " +
			"prints \"Couldn't connect to server\" (connection refused).",
		Fix: "Follow the proxy to its backend (its configuration, or `ss -tnp` on the proxy host), see the backend refuse, " +
			"and start the backend service again on the backend host.",
		Apply:  applyBackendDown,
		Revert: revertBackendDown,
		Observe: func(ctx context.Context, e *Env, p *BackendParams) error {
			return observeProxyStatus(ctx, e, p.Service, http.StatusBadGateway)
		},
		Cleared: clearedBackendDown,
	})
}

func proxyBackendHungKind() Kind {
	return kind(Spec[*BackendHungParams]{
		Name:      "proxy-backend-hung",
		Layer:     LayerApp,
		NeedsHost: true,
		Summary:   "The reverse proxy's backend hangs: it answers only after a long delay (mode slow) or its port drops packets (mode drop).",
		Symptom: "`curl -sS -I http://PROXY/` waits for the proxy's timeout and then prints \"HTTP/1.1 504 Gateway Timeout\" " +
			"(header_timeout for a slow backend, dial_timeout for a dropped one). From the proxy host, `curl --max-time 5 http://BACKEND:PORT/` " +
			"times out too (\"Operation timed out after 5001 milliseconds with 0 bytes received\" when slow, \"Connection timed out\" " +
			"or the same when dropped); `ss -tn` on the proxy host shows connections to the backend in SYN-SENT (drop) or ESTAB with nothing received (slow).",
		Fix: "Time the backend directly from the proxy host (`curl -w '%{time_total}'`); when its port drops packets, remove the DROP rule " +
			"on the backend host (`iptables -L INPUT -n --line-numbers`, then `iptables -D INPUT N`); when it is slow, repair or restart the backend.",
		Apply:  applyBackendHung,
		Revert: revertBackendHung,
		Observe: func(ctx context.Context, e *Env, p *BackendHungParams) error {
			return observeProxyStatus(ctx, e, p.Service, http.StatusGatewayTimeout)
		},
		Cleared: clearedBackendHung,
	})
}

// BackendParams are the parameters of proxy-backend-down.
type BackendParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"The backend service on the host, the one a proxy of the lab forwards to."`
}

// Check implements Params.
func (p *BackendParams) Check() error {
	if err := scenarios.CheckRequired("service", p.Service, "give the name of the backend service on the host, such as \"app\""); err != nil {
		return err
	}
	return nil
}

// BackendHungParams are the parameters of proxy-backend-hung.
type BackendHungParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"The backend service on the host (an http service), the one a proxy of the lab forwards to."`
	Mode    string `yaml:"mode,omitempty" json:"mode,omitempty" doc:"What hangs: slow (the backend is restarted to answer only after delay; the proxy's header_timeout fires) or drop (an iptables rule on the host drops packets to the backend port; the proxy's dial_timeout fires). Default slow."`
	Delay   string `yaml:"delay,omitempty" json:"delay,omitempty" doc:"How long the slow backend waits before answering (default 60s)."`
}

// Check implements Params.
func (p *BackendHungParams) Check() error {
	if err := scenarios.CheckRequired("service", p.Service, "give the name of the backend service on the host, such as \"app\""); err != nil {
		return err
	}
	if err := scenarios.CheckOneOf("mode", &p.Mode, HungSlow, false, HungSlow, HungDrop); err != nil {
		return err
	}
	if p.Delay == "" {
		p.Delay = "60s"
	}
	if _, err := scenarios.CheckDurationUpTo("delay", p.Delay, 60*time.Second, 0); err != nil {
		return err
	}
	return nil
}

// --- reverse proxy backends.

// labProxy is a proxy service of the lab whose backend is a service of the
// env's host.
type labProxy struct {
	host    string
	listen  services.Endpoint
	backend netip.AddrPort
}

// findProxy finds the lab's proxy that forwards to the service on the
// env's host: its backend is one of the host's addresses and the
// service's port.
func findProxy(e *Env, service string) (*labProxy, error) {
	bv, err := services.Find(e.Scenario, e.Host, service)
	if err != nil {
		return nil, err
	}
	port := bv.Endpoint().Port
	mine := map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): true}
	for _, i := range e.ScenarioHost().Interfaces {
		if i.IPv4.IsValid() {
			mine[i.IPv4.Addr()] = true
		}
		if i.IPv6.IsValid() {
			mine[i.IPv6.Addr()] = true
		}
	}
	for _, h := range e.Scenario.Hosts {
		for _, s := range h.Services {
			if s.Kind != "proxy" {
				continue
			}
			pv, err := services.Find(e.Scenario, h.Name, s.Name)
			if err != nil {
				return nil, err
			}
			backend, _ := pv.ProxyBackend()
			b, err := netip.ParseAddrPort(backend)
			if err != nil {
				continue
			}
			if (mine[b.Addr()] || h.Name == e.Host && b.Addr().IsLoopback()) && (port == 0 || int(b.Port()) == port) {
				return &labProxy{host: h.Name, listen: pv.Endpoint(), backend: b}, nil
			}
		}
	}
	return nil, fmt.Errorf("no proxy of the lab forwards to service %q on host %q", service, e.Host)
}

// observeProxyStatus asks the proxy for / from its own host and wants the
// given status.
func observeProxyStatus(ctx context.Context, e *Env, service string, want int) error {
	px, err := findProxy(e, service)
	if err != nil {
		return err
	}
	ns, err := e.Netns(px.host)
	if err != nil {
		return err
	}
	addr := px.listen.Listen
	if addr == "" || addr == "0.0.0.0" || addr == "::" {
		addr = "127.0.0.1"
	}
	target := "http://" + net.JoinHostPort(addr, strconv.Itoa(px.listen.Port)) + "/"
	r, err := probe.HTTP(ns, target, probe.HTTPOptions{Method: http.MethodHead, Timeout: 30 * time.Second})
	if err != nil {
		return fmt.Errorf("asking the proxy on host %q: %w", px.host, err)
	}
	if r.Status != want {
		return fmt.Errorf("the proxy on host %q answers %d %s, not %d", px.host, r.Status, http.StatusText(r.Status), want)
	}
	return nil
}

func applyBackendDown(ctx context.Context, e *Env, x *BackendParams) error {
	if _, err := services.Find(e.Scenario, e.Host, x.Service); err != nil {
		return err
	}
	return e.Lab.StopProcess(e.Host, x.Service)
}

func revertBackendDown(ctx context.Context, e *Env, x *BackendParams) error {
	return restartAsDeclared(ctx, e, x.Service)
}

// restartAsDeclared restarts a service of the env's host with the
// scenario's parameters.
func restartAsDeclared(ctx context.Context, e *Env, service string) error {
	v, err := services.Find(e.Scenario, e.Host, service)
	if err != nil {
		return err
	}
	return v.Restart(ctx, e.Lab)
}

// hungRule drops new connections to the backend port, tagged so that
// revert deletes exactly it.
func hungRule(port uint16) []string {
	return []string{"-p", "tcp", "--dport", strconv.Itoa(int(port)), "-m", "comment", "--comment", "netdojo fault proxy-backend-hung", "-j", "DROP"}
}

func applyBackendHung(ctx context.Context, e *Env, x *BackendHungParams) error {
	px, err := findProxy(e, x.Service)
	if err != nil {
		return err
	}
	if x.Mode == HungDrop {
		return e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
			return ipt.Insert("filter", "INPUT", 1, hungRule(px.backend.Port())...)
		})
	}
	v, err := services.Find(e.Scenario, e.Host, x.Service)
	if err != nil {
		return err
	}
	slow, ok := v.Delayed(x.Delay)
	if !ok {
		return fmt.Errorf("service %q on host %q is a %s service; mode slow needs an http backend (or use mode drop)", x.Service, e.Host, v.Kind())
	}
	return slow.Restart(ctx, e.Lab)
}

func revertBackendHung(ctx context.Context, e *Env, x *BackendHungParams) error {
	if x.Mode == HungDrop {
		px, err := findProxy(e, x.Service)
		if err != nil {
			return err
		}
		return e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
			return ipt.DeleteIfExists("filter", "INPUT", hungRule(px.backend.Port())...)
		})
	}
	return restartAsDeclared(ctx, e, x.Service)
}

// backendService resolves a proxy fault's backend service on the env's
// host.
func clearedBackendDown(ctx context.Context, e *Env, x *BackendParams) error {
	hs, err := e.service(x.Service)
	if err != nil {
		return err
	}
	return e.serviceListens(x.Service, hs.port, hs.listen)
}

// clearedBackendHung: in mode drop, the backend port's traffic from the
// proxy host meets no discarding rule (by the counters); in mode slow,
// the lab's backend process answers the proxy host at once.
func clearedBackendHung(ctx context.Context, e *Env, x *BackendHungParams) error {
	px, err := findProxy(e, x.Service)
	if err != nil {
		return err
	}
	backend := px.backend
	if backend.Addr().IsLoopback() && px.host != e.Host {
		return fmt.Errorf("the proxy on host %q forwards to its own loopback", px.host)
	}
	if x.Mode == HungDrop {
		return e.judgeTraffic(px.host, "tcp", backend, "the proxy's connections to its backend")
	}
	hs, err := e.service(x.Service)
	if err != nil {
		return err
	}
	if err := e.serviceListens(x.Service, hs.port, hs.listen); err != nil {
		return err
	}
	ns, err := e.Netns(px.host)
	if err != nil {
		return err
	}
	url := "http://" + net.JoinHostPort(backend.Addr().String(), strconv.Itoa(int(backend.Port()))) + "/"
	r, err := probe.HTTP(ns, url, probe.HTTPOptions{Method: http.MethodHead, Timeout: 2 * time.Second})
	if err != nil || r.Status == 0 {
		return errors.New("the backend still keeps the proxy waiting for an answer")
	}
	return nil
}
