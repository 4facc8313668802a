// Socket-state faults: close-wait-leak, time-wait-pileup and syn-backlog-overflow.

package faults

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

func closeWaitLeakKind() Kind {
	return kind(Spec[*CloseWaitParams]{
		Name: "close-wait-leak", Layer: LayerTransport, NeedsHost: true,
		Summary: "The service never closes connections its clients closed: CLOSE_WAIT sockets pile up.",
		Symptom: "`ss -tan state close-wait` on the host lists one socket per finished client connection, and " +
			"the list grows while clients keep coming (`ss -tanp` names the owning process); requests get " +
			"no answer and hang until the client's own timeout (`curl -m 2`: \"curl: (28) Operation timed out\"). " +
			"The clients' side shows FIN-WAIT-2 for a minute.",
		Fix: "Restart the service to free the sockets (`kill PID` of the owner from `ss -tanp state close-wait`, " +
			"then start it), and fix the code path that forgets close().",
		Apply: applyCloseWait, Revert: revertCloseWait, Observe: observeCloseWait, Cleared: clearedCloseWait,
	})
}

// --- socket states: CLOSE_WAIT, TIME_WAIT, a full accept queue --------------

// CloseWaitParams are the parameters of close-wait-leak.
type CloseWaitParams struct {
	Service     string `yaml:"service,omitempty" json:"service,omitempty" doc:"Name of the TCP service of the host that starts leaking (required)."`
	Connections int    `yaml:"connections,omitempty" json:"connections,omitempty" doc:"Client connections made and closed at once (default 10); a churner then adds one about every 5 s."`
	From        string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host the clients run on (default: a host that shares a network with this one)."`
}

// Check implements Params.
func (p *CloseWaitParams) Check() error {
	if err := scenarios.CheckRequired("service", p.Service, "give the name of one of the host's services, such as \"web\""); err != nil {
		return err
	}
	if err := scenarios.CheckRange("connections", &p.Connections, 10, 1, 1000); err != nil {
		return err
	}
	return nil
}

func churnerName(service string) string { return service + "-client" }

func applyCloseWait(ctx context.Context, e *Env, p *CloseWaitParams) error {
	hs, from, target, err := e.serviceClient(p.Service, p.From)
	if err != nil {
		return err
	}
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	leaker := map[string]any{"listen": hs.listen, "port": hs.port}
	if err := services.RunHelper(ctx, e.Lab, e.Host, p.Service, "close-wait-leaker", leaker); err != nil {
		return err
	}
	// The first clients at once, so the symptom is there when Apply returns.
	for i := 0; i < p.Connections; i++ {
		if err := e.connectAndClose(from, target); err != nil {
			return err
		}
	}
	if err := probe.PollFor(ctx, 20*time.Millisecond, 5*time.Second, func(context.Context) error {
		n, err := e.countSockets(e.Host, probe.StateCloseWait, hs.port, 0)
		if err == nil && n < p.Connections {
			err = fmt.Errorf("%d of %d sockets in CLOSE_WAIT", n, p.Connections)
		}
		return err
	}); err != nil {
		return err
	}
	churner := map[string]any{"target": target.String(), "count": -1, "rate": 1}
	return services.RunHelper(ctx, e.Lab, from, churnerName(p.Service), "churner", churner)
}

func revertCloseWait(ctx context.Context, e *Env, p *CloseWaitParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	fe := *e
	fe.Host = from
	if err := errors.Join(fe.stopProcess(churnerName(p.Service)), e.stopProcess(p.Service)); err != nil {
		return err
	}
	return hs.svc.Start(ctx, e.Lab)
}

func observeCloseWait(ctx context.Context, e *Env, p *CloseWaitParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	n, err := e.countSockets(e.Host, probe.StateCloseWait, hs.port, 0)
	if err != nil {
		return err
	}
	if want := (p.Connections + 1) / 2; n < want {
		return fmt.Errorf("host %q has %d sockets in CLOSE_WAIT on port %d; a leak shows at least %d", e.Host, n, hs.port, want)
	}
	return nil
}

func timeWaitPileupKind() Kind {
	return kind(Spec[*TimeWaitParams]{
		Name: "time-wait-pileup", Layer: LayerTransport, NeedsHost: true,
		Summary: "A client makes many short connections to a service: TIME_WAIT piles up on the side that closes first. Nothing is broken.",
		Symptom: "`ss -tan state time-wait` on the closing side (the client by default) lists hundreds of sockets " +
			"to the service's port, each gone after 60 s; `ss -s` counts them as timewait. The service still " +
			"answers: `nc -zv -w 2 HOST PORT` succeeds. Only a narrow `ip_local_port_range` turns this into " +
			"\"Cannot assign requested address\".",
		Fix: "Nothing needs fixing: TIME_WAIT is how TCP protects a closed connection's late packets. Reuse " +
			"connections (HTTP keep-alive, pools) if the count matters. To clear them in a lab: " +
			"`ss -K state time-wait '( dport = :PORT or sport = :PORT )'`.",
		Apply: applyTimeWait, Revert: revertTimeWait, Observe: observeTimeWait, Cleared: clearedTimeWait,
	})
}

// TimeWaitParams are the parameters of time-wait-pileup.
type TimeWaitParams struct {
	Service     string  `yaml:"service,omitempty" json:"service,omitempty" doc:"Name of the TCP service of the host that the client connects to (required)."`
	Connections int     `yaml:"connections,omitempty" json:"connections,omitempty" doc:"How many short connections the client makes (default 200)."`
	Rate        float64 `yaml:"rate,omitempty" json:"rate,omitempty" doc:"Connections per second (default 500)."`
	Closer      string  `yaml:"closer,omitempty" json:"closer,omitempty" doc:"Which side closes first and so holds TIME_WAIT: client (default) or server (an HTTP/1.0 request to an http service, which closes after answering)."`
	From        string  `yaml:"from,omitempty" json:"from,omitempty" doc:"Host the client runs on (default: a host that shares a network with this one)."`
}

// Check implements Params.
func (p *TimeWaitParams) Check() error {
	if err := scenarios.CheckRequired("service", p.Service, "give the name of one of the host's services, such as \"web\""); err != nil {
		return err
	}
	if err := scenarios.CheckRange("connections", &p.Connections, 200, 1, 20000); err != nil {
		return err
	}
	if err := scenarios.CheckPositive("rate", &p.Rate, 500, 10000); err != nil {
		return err
	}
	if err := scenarios.CheckOneOf("closer", &p.Closer, "client", false, "client", "server"); err != nil {
		return err
	}
	return nil
}

// closingSide is the host that holds TIME_WAIT, and the local and remote
// ports its sockets carry.
func (p *TimeWaitParams) closingSide(e *Env, from string, port int) (host string, sport, dport int) {
	if p.Closer == "server" {
		return e.Host, port, 0
	}
	return from, 0, port
}

func applyTimeWait(ctx context.Context, e *Env, p *TimeWaitParams) error {
	hs, from, target, err := e.serviceClient(p.Service, p.From)
	if err != nil {
		return err
	}
	churner := map[string]any{"target": target.String(), "count": p.Connections, "rate": p.Rate, "closer": p.Closer}
	if p.Closer == "server" {
		if hs.svc.Decl.Kind != "http" {
			return fmt.Errorf("closer: server needs an http service, which closes after an HTTP/1.0 answer; %q is %s", hs.svc.Decl.Name, hs.svc.Decl.Kind)
		}
		churner["payload"] = "GET / HTTP/1.0\r\n\r\n"
	}
	if err := services.RunHelper(ctx, e.Lab, from, churnerName(p.Service), "churner", churner); err != nil {
		return err
	}
	host, sport, dport := p.closingSide(e, from, hs.port)
	want := p.Connections * 9 / 10
	timeout := time.Duration(float64(p.Connections)/p.Rate*float64(time.Second)) + 10*time.Second
	return probe.PollFor(ctx, 20*time.Millisecond, timeout, func(context.Context) error {
		n, err := e.countSockets(host, probe.StateTimeWait, sport, dport)
		if err == nil && n < want {
			err = fmt.Errorf("%d of %d sockets in TIME_WAIT on host %q", n, want, host)
		}
		return err
	})
}

func revertTimeWait(ctx context.Context, e *Env, p *TimeWaitParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	fe := *e
	fe.Host = from
	errs := []error{fe.stopProcess(churnerName(p.Service))}
	host, _, _ := p.closingSide(e, from, hs.port)
	filter := fmt.Sprintf("( dport = :%d or sport = :%d )", hs.port, hs.port)
	_, err = e.Run(ctx, host, "ss", "-K", "-tan", "state", "time-wait", filter)
	return errors.Join(append(errs, err)...)
}

// timeWaits counts the sockets in TIME_WAIT on the side that closes the
// fault's connections first.
func (e *Env) timeWaits(p *TimeWaitParams) (hs *hostService, from, host string, n int, err error) {
	if hs, err = e.service(p.Service); err != nil {
		return nil, "", "", 0, err
	}
	if from, err = e.otherHost(p.From); err != nil {
		return nil, "", "", 0, err
	}
	host, sport, dport := p.closingSide(e, from, hs.port)
	n, err = e.countSockets(host, probe.StateTimeWait, sport, dport)
	return hs, from, host, n, err
}

func observeTimeWait(ctx context.Context, e *Env, p *TimeWaitParams) error {
	hs, from, host, n, err := e.timeWaits(p)
	if err != nil {
		return err
	}
	if want := p.Connections / 2; n < want {
		return fmt.Errorf("host %q has %d sockets in TIME_WAIT for port %d; the pile-up shows at least %d", host, n, hs.port, want)
	}
	// Nothing is broken: the service still answers.
	target, err := e.serviceAddrFrom(hs)
	if err != nil {
		return err
	}
	return e.expectOutcome(ctx, from, "tcp", target, probe.ReachOpen)
}

func synBacklogOverflowKind() Kind {
	return kind(Spec[*BacklogFaultParams]{
		Name: "syn-backlog-overflow", Layer: LayerTransport, NeedsHost: true,
		Summary: "The service's accept queue is full (a tiny backlog, a process that never accepts): new connections are dropped.",
		Symptom: "New connections time out: `nc -zv -w 2 HOST PORT` prints \"nc: connect to HOST port PORT (tcp) " +
			"timed out: Operation now in progress\". `ss -ltn 'sport = :PORT'` on the host shows the listener " +
			"with Recv-Q greater than Send-Q (the backlog), and `nstat -az TcpExtListenOverflows` grows.",
		Fix: "Restart the service so it accepts again (`kill PID` from `ss -tlnp`, then start it), raise its " +
			"listen backlog (and net.core.somaxconn), and find why it stopped calling accept().",
		Apply: applyBacklog, Revert: revertBacklog, Observe: observeBacklog, Cleared: clearedBacklog,
	})
}

// BacklogFaultParams are the parameters of syn-backlog-overflow.
type BacklogFaultParams struct {
	Service string `yaml:"service,omitempty" json:"service,omitempty" doc:"Name of the TCP service of the host that stops accepting (required)."`
	Backlog int    `yaml:"backlog,omitempty" json:"backlog,omitempty" doc:"Its listen() backlog (default 1); backlog+1 connections fill the queue."`
	From    string `yaml:"from,omitempty" json:"from,omitempty" doc:"Host the probe connects from (default: a host that shares a network with this one)."`
}

// Check implements Params.
func (p *BacklogFaultParams) Check() error {
	if err := scenarios.CheckRequired("service", p.Service, "give the name of one of the host's services, such as \"web\""); err != nil {
		return err
	}
	if err := scenarios.CheckRange("backlog", &p.Backlog, 1, 1, 64); err != nil {
		return err
	}
	return nil
}

func applyBacklog(ctx context.Context, e *Env, p *BacklogFaultParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	listen := hs.listen
	if listen == "::" {
		listen = ""
	}
	backlog := map[string]any{"listen": listen, "port": hs.port, "backlog": p.Backlog}
	if err := services.RunHelper(ctx, e.Lab, e.Host, p.Service, "backlog", backlog); err != nil {
		return err
	}
	// Fill the accept queue from the host itself. The queued connections
	// stay queued after the clients reset them, until the process accepts.
	for i := 0; i <= p.Backlog; i++ {
		if err := e.connectAndReset(e.Host, hs.dial()); err != nil {
			return err
		}
	}
	return probe.PollFor(ctx, 20*time.Millisecond, 5*time.Second, func(context.Context) error { return e.acceptQueueFull(hs.port) })
}

func revertBacklog(ctx context.Context, e *Env, p *BacklogFaultParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := e.stopProcess(p.Service); err != nil {
		return err
	}
	return hs.svc.Start(ctx, e.Lab)
}

func observeBacklog(ctx context.Context, e *Env, p *BacklogFaultParams) error {
	hs, err := e.service(p.Service)
	if err != nil {
		return err
	}
	if err := e.acceptQueueFull(hs.port); err != nil {
		return err
	}
	from, err := e.otherHost(p.From)
	if err != nil {
		return err
	}
	target, err := e.serviceAddrFrom(hs)
	if err != nil {
		return err
	}
	return e.expectOutcome(ctx, from, "tcp", target, probe.ReachFiltered)
}

// acceptQueueFull is nil when the listener on port has more connections
// waiting (Recv-Q) than its backlog (Send-Q), as ss -ltn shows them.
func (e *Env) acceptQueueFull(port int) error {
	socks, err := e.tcpSockets(e.Host, false)
	if err != nil {
		return err
	}
	for _, s := range socks {
		if s.State == probe.StateListen && int(s.Local.Port()) == port {
			if s.RecvQ > s.SendQ {
				return nil
			}
			return fmt.Errorf("the listener on port %d of host %q has Recv-Q %d, Send-Q %d: its accept queue is not full", port, e.Host, s.RecvQ, s.SendQ)
		}
	}
	return fmt.Errorf("nothing listens on port %d of host %q", port, e.Host)
}
