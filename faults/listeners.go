// Listener faults: service-not-running, service-localhost-only and port-conflict, and the lab's services and processes they act on.

package faults

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
	"github.com/netdojo/netdojo/services"
)

func serviceNotRunningKind() Kind {
	return kind(Spec[*ServiceParams]{
		Name: "service-not-running", Layer: LayerTransport, NeedsHost: true,
		Summary: "A service of the host is stopped: nothing listens on its port.",
		Symptom: "Refused at once from everywhere, the host itself included: `nc -zv -w 2 HOST PORT` prints " +
			"\"nc: connect to HOST port PORT (tcp) failed: Connection refused\"; curl prints " +
			"\"curl: (7) Failed to connect to HOST port PORT after 0 ms: Couldn't connect to server\". " +
			"`ss -tlnp` on the host has no line for the port; ping answers.",
		Fix: "Start the service again (on a real host `systemctl start NAME`, then `systemctl status NAME` " +
			"and its log for why it stopped); `ss -tlnp 'sport = :PORT'` then shows it listening.",
		Apply: applyServiceStopped, Revert: restartService, Observe: observeServiceStopped, Cleared: clearedServiceListens[*ServiceParams],
	})
}

func serviceLocalhostOnlyKind() Kind {
	return kind(Spec[*ServiceParams]{
		Name: "service-localhost-only", Layer: LayerTransport, NeedsHost: true,
		Summary: "A service of the host listens on 127.0.0.1 only.",
		Symptom: "From other hosts, refused at once: `nc -zv -w 2 HOST PORT` prints \"nc: connect to HOST port PORT (tcp) " +
			"failed: Connection refused\"; on the host itself `nc -zv 127.0.0.1 PORT` succeeds. " +
			"`ss -tlnp` on the host shows the listener as 127.0.0.1:PORT instead of 0.0.0.0:PORT or *:PORT.",
		Fix: "Make the service listen on every address (0.0.0.0, or the host's own address): change its " +
			"bind/listen setting and restart it; `ss -tlnp` then shows 0.0.0.0:PORT or *:PORT.",
		Apply: applyLocalhostOnly, Revert: restartService, Observe: observeLocalhostOnly, Cleared: clearedServiceListens[*ServiceParams],
	})
}

func portConflictKind() Kind {
	return kind(Spec[*PortConflictParams]{
		Name: "port-conflict", Layer: LayerTransport, NeedsHost: true,
		Summary: "Another process holds the service's port, so the service failed to start (address already in use).",
		Symptom: "The port accepts connections (`nc -zv HOST PORT` succeeds) but nothing the service should say comes " +
			"back: curl prints \"curl: (52) Empty reply from server\" or \"curl: (56) Recv failure: Connection reset by peer\" " +
			"(the holder closes at once). The service's log says \"address already in " +
			"use\". `ss -tlnp 'sport = :PORT'` names the squatter: users:((\"NAME\",pid=PID,fd=N)).",
		Fix: "Find the holder with `ss -tlnp 'sport = :PORT'`, stop it (`kill PID`, or disable the unit that " +
			"starts it), then start the real service.",
		Apply: applyPortConflict, Revert: revertPortConflict, Observe: observePortConflict, Cleared: clearedServiceListens[*PortConflictParams],
	})
}

// --- services: stopped, on localhost, squatted -----------------------------

// ServiceParams name one of the host's services.
type ServiceParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"Name of a TCP service of the host, as the scenario names it under services (required)."`
	From    string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host the probe connects from (default: a host that shares a network with this one)."`
}

// Check implements Params.
func (p *ServiceParams) Check() error {
	if err := scenarios.CheckRequired("service", p.Service, "give the name of one of the host's services, such as \"web\""); err != nil {
		return err
	}
	return nil
}

func (p *ServiceParams) service() string { return p.Service }

// hostService is a scenario service resolved on its host.
type hostService struct {
	svc    *services.Service
	port   int
	listen string
}

// dial is where a client on the service's own host reaches it.
func (h *hostService) dial() netip.AddrPort {
	a, err := netip.ParseAddr(h.listen)
	if err != nil || a.IsUnspecified() {
		a = netip.MustParseAddr("127.0.0.1")
	}
	return netip.AddrPortFrom(a, uint16(h.port))
}

// serviceOfKind names the env's host's service of a kind: the one given,
// or the host's first; hint says where the fault belongs.
func (e *Env) serviceOfKind(kind, name, hint string) (string, error) {
	h := e.ScenarioHost()
	if h == nil {
		return "", fmt.Errorf("the scenario has no host %q", e.Host)
	}
	for _, s := range h.Services {
		if s.Kind == kind && (name == "" || s.Name == name) {
			return s.Name, nil
		}
	}
	if name != "" {
		return "", fmt.Errorf("host %q runs no %s service %q", e.Host, kind, name)
	}
	return "", fmt.Errorf("host %q runs no %s service; %s", e.Host, kind, hint)
}

// service finds a TCP service of the env's host by name.
func (e *Env) service(name string) (*hostService, error) {
	h := e.ScenarioHost()
	if h == nil {
		return nil, fmt.Errorf("the scenario has no host %q", e.Host)
	}
	var names []string
	for _, svc := range h.Services {
		names = append(names, svc.Name)
		if svc.Name != name {
			continue
		}
		v, err := services.Declared(e.Scenario.File, h.Name, svc)
		if err != nil {
			return nil, err
		}
		ep := v.Endpoint()
		if ep.Port == 0 || ep.Proto != "tcp" || svc.Kind == "udp-echo" {
			return nil, fmt.Errorf("service %q (%s) on host %q has no TCP port", name, svc.Kind, h.Name)
		}
		return &hostService{svc: v, port: ep.Port, listen: ep.Listen}, nil
	}
	return nil, fmt.Errorf("host %q has no service %q; its services are: %s", h.Name, name, strings.Join(names, ", "))
}

func applyServiceStopped(ctx context.Context, e *Env, p *ServiceParams) error {
	if _, err := e.service(p.Service); err != nil {
		return err
	}
	return e.stopProcess(p.Service)
}

// restartService stops whatever the fault left under the service's name
// and starts the service as the scenario defines it.
func restartService(ctx context.Context, e *Env, p *ServiceParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	return hs.svc.Start(ctx, e.Lab)
}

// stopProcess ends the lab's process of that name on the env's host, if
// it is recorded.
func (e *Env) stopProcess(name string) error {
	for _, proc := range e.Lab.State.Processes {
		if proc.Host == e.Host && proc.Name == name {
			return e.Lab.StopProcess(e.Host, name)
		}
	}
	return nil
}

func observeServiceStopped(ctx context.Context, e *Env, p *ServiceParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	return e.expectOutcome(ctx, e.Host, "tcp", hs.dial(), probe.ReachRefusedRST)
}

func applyLocalhostOnly(ctx context.Context, e *Env, p *ServiceParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	local, ok := hs.svc.ListeningOn("127.0.0.1")
	if !ok {
		return fmt.Errorf("service %q (%s) has no listen parameter", hs.svc.Decl.Name, hs.svc.Decl.Kind)
	}
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	return local.Run(ctx, e.Lab)
}

func observeLocalhostOnly(ctx context.Context, e *Env, p *ServiceParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	addr, err := e.hostAddr(e.Host)
	if err != nil {
		return err
	}
	if err := e.expectOutcome(ctx, from, "tcp", netip.AddrPortFrom(addr, uint16(hs.port)), probe.ReachRefusedRST); err != nil {
		return err
	}
	return e.expectOutcome(ctx, e.Host, "tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(hs.port)), probe.ReachOpen)
}

// PortConflictParams are the parameters of port-conflict.
type PortConflictParams struct {
	Service     string `yaml:"service,omitempty" json:"service,omitempty" doc:"Name of the TCP service of the host whose port is taken (required)."`
	ProcessName string `yaml:"process_name,omitempty" json:"process_name,omitempty" doc:"Name the squatting process shows in ss -tlnp and ps, at most 15 characters (default python3, a forgotten 'python3 -m http.server')."`
}

func (p *PortConflictParams) service() string { return p.Service }

// Check implements Params.
func (p *PortConflictParams) Check() error {
	if err := scenarios.CheckRequired("service", p.Service, "give the name of one of the host's services, such as \"web\""); err != nil {
		return err
	}
	if p.ProcessName == "" {
		p.ProcessName = "python3"
	}
	return scenarios.CheckProcessName("process_name", p.ProcessName)
}

// squatterName is the lab's record of the squatting process.
func squatterName(service string) string { return service + "-squatter" }

func applyPortConflict(ctx context.Context, e *Env, p *PortConflictParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	sq := map[string]any{"listen": hs.listen, "port": hs.port, "protocol": "tcp", "name": p.ProcessName}
	if err := services.RunHelper(ctx, e.Lab, e.Host, squatterName(p.Service), "squatter", sq); err != nil {
		return err
	}
	// The real service starts after it and fails: address already in use.
	proc, err := hs.svc.Launch(e.Lab)
	if err != nil {
		return err
	}
	return probe.PollFor(ctx, 20*time.Millisecond, 10*time.Second, func(context.Context) error {
		if proc.Alive() {
			return fmt.Errorf("service %q still runs beside the squatter", p.Service)
		}
		return nil
	})
}

func revertPortConflict(ctx context.Context, e *Env, p *PortConflictParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := errors.Join(e.stopProcess(squatterName(p.Service)), e.stopProcess(p.Service)); err != nil {
		return err
	}
	return hs.svc.Start(ctx, e.Lab)
}

func observePortConflict(ctx context.Context, e *Env, p *PortConflictParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	socks, err := e.tcpSockets(e.Host, true)
	if err != nil {
		return err
	}
	var owners []string
	for _, s := range socks {
		if s.State != probe.StateListen || int(s.Local.Port()) != hs.port {
			continue
		}
		comm := "an unknown process"
		if o, ok := socketOwner(s); ok {
			comm = o.Name
		}
		if comm == p.ProcessName {
			return nil
		}
		owners = append(owners, comm)
	}
	if len(owners) == 0 {
		return fmt.Errorf("nothing listens on port %d of host %q", hs.port, e.Host)
	}
	return fmt.Errorf("port %d of host %q is held by %s, not %s", hs.port, e.Host, strings.Join(owners, ", "), p.ProcessName)
}

// clearedServiceListens wants the scenario's own service process on its
// port, bound where the scenario binds it: not another program, even
// one that answers the same.
func clearedServiceListens[P interface {
	Params
	service() string
}](ctx context.Context, e *Env, p P) error {
	name := p.service()
	hs, err := e.service(name)
	if err != nil {
		return err
	}
	return e.serviceListens(name, hs.port, hs.listen)
}

// Shared helpers of the Cleared judgements: each looks where a fault is
// (a host's routing table, a chain's counters, the process behind a
// listener, a router's ICMP) rather than end to end, so that a workaround
// that makes the goal work while the fault stays is not taken for a fix.
//
// The errors they return are observations of what is still wrong at the
// fault's place, in the words of the traffic and of behaviour ("IPv4
// traffic for other networks still leaves straight out of the interface
// as if it were on-link, through no router"). They may name the ends of
// the traffic, never the host, interface, chain, rule, process or value
// where the fault is (finding it is often the task), a command or the
// fix.

// labProcesses are the lab's recorded processes as the state on disk has
// them now (another netdojo process may have restarted a service), or as
// this Lab holds them.
func (e *Env) labProcesses() []sandbox.Process {
	if st, err := e.Lab.Store().Load(e.Lab.Name); err == nil && st != nil {
		return st.Processes
	}
	return e.Lab.State.Processes
}

// recordedProcess is the lab's recorded, running process of a name on
// the env's host.
func (e *Env) recordedProcess(name string) (sandbox.Process, bool) {
	for _, p := range e.labProcesses() {
		if p.Host == e.Host && p.Name == name && p.Alive() {
			return p, true
		}
	}
	return sandbox.Process{}, false
}

// serviceListens is nil when the TCP listener on port of the env's host
// is held by the recorded process of the scenario's service name (not
// another program, even one that answers the same), bound where the
// scenario binds it (listen: its address; empty or unspecified: every
// address).
func (e *Env) serviceListens(name string, port int, listen string) error {
	proc, ok := e.recordedProcess(name)
	socks, err := e.tcpSockets(e.Host, true)
	if err != nil {
		return err
	}
	want, _ := netip.ParseAddr(listen)
	found := false
	for _, s := range socks {
		if s.State != probe.StateListen || int(s.Local.Port()) != port {
			continue
		}
		found = true
		owner, _ := socketOwner(s)
		if !ok || !proc.Runs(owner.PID) {
			return fmt.Errorf("the port of the %s service is held by a process that is not the lab's %s service", name, name)
		}
		src := s.Local.Addr().Unmap()
		if (!want.IsValid() || want.IsUnspecified()) && !src.IsUnspecified() {
			return fmt.Errorf("the %s service listens on one address only, so other hosts cannot reach it", name)
		}
		if want.IsValid() && !want.IsUnspecified() && src != want.Unmap() && !src.IsUnspecified() {
			return fmt.Errorf("the %s service listens on another address than the one it serves on", name)
		}
	}
	if !found {
		return fmt.Errorf("nothing listens on the port of the %s service", name)
	}
	return nil
}
