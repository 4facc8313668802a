// How the socket-state faults are judged cleared, and the socket table they read.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/netdojo/netdojo/probe"
)

// clearedCloseWait opens connections to the service now, closes them,
// and wants the server side to close them too: a leak replaced by
// another leak fails at once. Sockets the old leak left behind must be
// gone as well.
func clearedCloseWait(ctx context.Context, e *Env, p *CloseWaitParams) error {
	hs, from, target, err := e.serviceClient(p.Service, p.From)
	if err != nil {
		return err
	}
	ns, err := e.Netns(from)
	if err != nil {
		return err
	}
	ports := map[int]bool{}
	for range 3 {
		var c net.Conn
		if err := ns.Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp", target.String(), 2*time.Second)
			return err
		}); err != nil {
			return errors.New("the service does not take connections")
		}
		ports[c.LocalAddr().(*net.TCPAddr).Port] = true
		c.Close()
	}
	closeWait := func(fresh bool) error {
		socks, err := e.tcpSockets(e.Host, false)
		if err != nil {
			return err
		}
		for _, s := range socks {
			if s.State == probe.StateCloseWait && int(s.Local.Port()) == hs.port && ports[int(s.Remote.Port())] == fresh {
				if fresh {
					return errors.New("the service still leaves the connections its clients close open on its side")
				}
				return errors.New("connections to the service that their clients closed long ago are still held open")
			}
		}
		return nil
	}
	if err := probe.PollFor(ctx, 50*time.Millisecond, time.Second, func(context.Context) error { return closeWait(true) }); err != nil {
		return err
	}
	if err := closeWait(false); err != nil {
		return err
	}
	// A service that closes its side sends a FIN: the client's socket
	// waits in TIME_WAIT. A connection killed from outside (a loop of
	// ss -K over CLOSE_WAIT) is reset and leaves nothing on the client.
	if err := probe.PollFor(ctx, 50*time.Millisecond, time.Second, func(context.Context) error {
		socks, err := e.tcpSockets(from, false)
		if err != nil {
			return err
		}
		closed := 0
		for _, s := range socks {
			if s.State == probe.StateTimeWait && int(s.Remote.Port()) == hs.port && ports[int(s.Local.Port())] {
				closed++
			}
		}
		if closed < len(ports) {
			return errors.New("connections its clients closed are torn down by a reset, not closed by the service")
		}
		return nil
	}); err != nil {
		return err
	}
	// The leaker runs under the service's name, so the probe above tells
	// them apart; but another program that happens not to leak is not
	// the service either.
	return e.serviceListens(p.Service, hs.port, hs.listen)
}

func clearedTimeWait(ctx context.Context, e *Env, p *TimeWaitParams) error {
	_, _, _, n, err := e.timeWaits(p)
	if err != nil {
		return err
	}
	if n >= p.Connections/2 {
		return errors.New("a pile of closed connections to the service is still in TIME_WAIT")
	}
	return nil
}

// clearedBacklog holds more connections open at once than the faulty
// backlog takes: a service that accepts them takes them all.
func clearedBacklog(ctx context.Context, e *Env, p *BacklogFaultParams) error {
	_, from, target, err := e.serviceClient(p.Service, p.From)
	if err != nil {
		return err
	}
	ns, err := e.Netns(from)
	if err != nil {
		return err
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range p.Backlog + 3 {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp", target.String(), time.Second)
			return err
		})
		if err != nil {
			return errors.New("the service still stops taking new connections after a few are open")
		}
		conns = append(conns, c)
	}
	return nil
}

// tcpSockets lists a host's TCP sockets, IPv4 and IPv6, from the probe's
// socket table (sock_diag); owners adds the processes that hold each.
func (e *Env) tcpSockets(host string, owners bool) ([]probe.Socket, error) {
	ns, err := e.Netns(host)
	if err != nil {
		return nil, err
	}
	t, err := probe.ListSockets(ns, probe.SocketFilter{TCP: true, Processes: owners})
	if err != nil {
		return nil, fmt.Errorf("reading the sockets of host %q: %w", host, err)
	}
	return t.Sockets, nil
}

// socketOwner is the first process (by PID) that holds a socket, or false.
func socketOwner(s probe.Socket) (probe.SocketProcess, bool) {
	if len(s.Processes) == 0 {
		return probe.SocketProcess{}, false
	}
	return s.Processes[0], true
}

// countSockets counts a host's TCP sockets in a state, with the local
// port sport and the remote port dport (0 for any).
func (e *Env) countSockets(host string, state probe.SocketState, sport, dport int) (int, error) {
	socks, err := e.tcpSockets(host, false)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range socks {
		if s.State == state && (sport == 0 || int(s.Local.Port()) == sport) && (dport == 0 || int(s.Remote.Port()) == dport) {
			n++
		}
	}
	return n, nil
}
