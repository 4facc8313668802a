package services

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/netdojo/netdojo/probe"
)

// readyPoll is how often Ready retries while a service is starting.
const readyPoll = 20 * time.Millisecond

// listenAddress is what a service binds: all addresses when listen is empty.
func listenAddress(listen string, port int) string {
	return net.JoinHostPort(listen, strconv.Itoa(port))
}

// dialAddress is where Ready dials a service that listens on listen.
func dialAddress(listen string, port int) string {
	switch listen {
	case "", "0.0.0.0":
		listen = "127.0.0.1"
	case "::":
		listen = "::1"
	}
	return net.JoinHostPort(listen, strconv.Itoa(port))
}

// pollReady calls try until it succeeds or ctx ends. try opens its sockets
// inside the target with dialIn.
func pollReady(ctx context.Context, t probe.Target, what string, try func(ctx context.Context) error) error {
	if err := probe.Poll(ctx, readyPoll, try); err != nil {
		return fmt.Errorf("%s on %s not ready: %w", what, t.Name(), err)
	}
	return nil
}

// dialIn opens a connection from inside the target, with a short timeout.
// The socket keeps the target's namespace and is used outside t.Do. A TCP
// connection resets on close (SO_LINGER 0), so health checks leave no
// TIME_WAIT behind for a learner to wonder about.
func dialIn(ctx context.Context, t probe.Target, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := t.Do(func() error {
		d := net.Dialer{Timeout: 500 * time.Millisecond}
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c, err
}

// tcpReady is Ready for a service that is ready once its port accepts a
// TCP connection.
func tcpReady(ctx context.Context, t probe.Target, what, listen string, port int) error {
	addr := dialAddress(listen, port)
	return pollReady(ctx, t, what+" at "+addr, func(ctx context.Context) error {
		c, err := dialIn(ctx, t, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// connSet holds open connections so that they can be closed at shutdown
// (and so that the garbage collector never closes them behind our back).
type connSet struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func (s *connSet) add(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// serveTCP listens on addr and runs handle for every connection until ctx
// ends; then it closes the listener and every connection still open and
// waits for the handlers. A connection is closed when its handler returns;
// a handler that must keep a connection open blocks until ctx ends.
func serveTCP(ctx context.Context, log *slog.Logger, addr string, handle func(ctx context.Context, c net.Conn)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on tcp %s: %w", addr, err)
	}
	log.Info("listening", "proto", "tcp", "addr", ln.Addr().String())
	return acceptLoop(ctx, log, ln, handle)
}

func acceptLoop(ctx context.Context, log *slog.Logger, ln net.Listener, handle func(ctx context.Context, c net.Conn)) error {
	var conns connSet
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("accepting on %s: %w", ln.Addr(), aerr)
			}
			break
		}
		log.Info("accepted", "client", c.RemoteAddr().String())
		conns.add(c)
		conns.wg.Add(1)
		go func() {
			defer conns.wg.Done()
			handle(ctx, c)
			c.Close()
			conns.remove(c)
		}()
	}
	ln.Close()
	conns.closeAll()
	conns.wg.Wait()
	return err
}
