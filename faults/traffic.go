// The ends of the traffic a fault's probes send: which host connects to which address, and how the connection ends.

package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/services"
)

// Roles a fault's host plays in the connection a probe makes.
const (
	roleServer = "server" // the host receives the connection
	roleClient = "client" // the host makes it
	roleRouter = "router" // the connection crosses the host
)

// connectionEnds picks the client host and the server address of the
// connection that shows a fault on the env's host: the ones given, else
// chosen from the topology.
func (e *Env) connectionEnds(role string, port int, source, destination, from, to string) (string, netip.Addr, error) {
	var toAddr netip.Addr
	server := ""
	switch {
	case to != "":
		toAddr = netip.MustParseAddr(to)
		server = e.hostWithAddr(toAddr)
	case singleAddr(destination).IsValid():
		toAddr = singleAddr(destination)
		server = e.hostWithAddr(toAddr)
	case role == roleServer:
		a, err := e.hostAddr(e.Host)
		if err != nil {
			return "", toAddr, err
		}
		toAddr, server = a, e.Host
	default:
		server = e.hostWithService(port, e.Host)
		if server == "" {
			return "", toAddr, fmt.Errorf("no other host runs a service on port %d; give the probe's address with to", port)
		}
		a, err := e.hostAddr(server)
		if err != nil {
			return "", toAddr, err
		}
		toAddr = a
	}
	if from != "" {
		return from, toAddr, nil
	}
	if role == roleClient {
		return e.Host, toAddr, nil
	}
	if a := singleAddr(source); a.IsValid() {
		if h := e.hostWithAddr(a); h != "" {
			return h, toAddr, nil
		}
	}
	if role == roleServer {
		h, err := e.otherHost("")
		return h, toAddr, err
	}
	// Through a router: a client on none of the server's networks.
	var fallback string
	for _, h := range e.Scenario.Hosts {
		if h.Name == e.Host || h.Name == server {
			continue
		}
		if fallback == "" {
			fallback = h.Name
		}
		if server == "" || !e.shareNetwork(h.Name, server) {
			return h.Name, toAddr, nil
		}
	}
	if fallback == "" {
		return "", toAddr, errors.New("the lab has no client host for the probe; give one with from")
	}
	return fallback, toAddr, nil
}

// singleAddr is the address of "10.0.0.1" or "10.0.0.1/32", else invalid.
func singleAddr(v string) netip.Addr {
	if a, err := netip.ParseAddr(v); err == nil {
		return a
	}
	if p, err := netip.ParsePrefix(v); err == nil && p.IsSingleIP() {
		return p.Addr()
	}
	return netip.Addr{}
}

// hostAddr is a host's first IPv4 address.
func (e *Env) hostAddr(host string) (netip.Addr, error) {
	h := e.Scenario.Host(host)
	if h == nil {
		return netip.Addr{}, fmt.Errorf("the scenario has no host %q", host)
	}
	if a := h.Addr4(); a.IsValid() {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("host %q has no IPv4 address", host)
}

func (e *Env) hostWithAddr(a netip.Addr) string {
	for _, h := range e.Scenario.Hosts {
		for _, i := range h.Interfaces {
			if i.IPv4.IsValid() && i.IPv4.Addr() == a || i.IPv6.IsValid() && i.IPv6.Addr() == a {
				return h.Name
			}
		}
	}
	return ""
}

// hostWithService is the first host other than skip with a TCP service
// on port.
func (e *Env) hostWithService(port int, skip string) string {
	for _, h := range e.Scenario.Hosts {
		if h.Name == skip {
			continue
		}
		for _, svc := range h.Services {
			if v, err := services.Declared(e.Scenario.File, h.Name, svc); err == nil {
				if ep := v.Endpoint(); ep.Port == port && ep.Proto == "tcp" {
					return h.Name
				}
			}
		}
	}
	return ""
}

func (e *Env) shareNetwork(a, b string) bool {
	ha, hb := e.Scenario.Host(a), e.Scenario.Host(b)
	if ha == nil || hb == nil {
		return false
	}
	for _, i := range ha.Interfaces {
		if hb.IfaceOn(i.Network) != nil {
			return true
		}
	}
	return false
}

// otherHost is the given host, or the first host that shares a network
// with the env's host, or any other host.
func (e *Env) otherHost(given string) (string, error) {
	if given != "" {
		if e.Scenario.Host(given) == nil {
			return "", fmt.Errorf("from: the scenario has no host %q", given)
		}
		return given, nil
	}
	fallback := ""
	for _, h := range e.Scenario.Hosts {
		if h.Name == e.Host {
			continue
		}
		if e.shareNetwork(h.Name, e.Host) {
			return h.Name, nil
		}
		if fallback == "" {
			fallback = h.Name
		}
	}
	if fallback == "" {
		return "", fmt.Errorf("the lab has no host besides %q to connect from", e.Host)
	}
	return fallback, nil
}

// serviceClient resolves a fault's service on the env's host, the host
// its client connects from (from, or one chosen) and the address it
// connects to.
func (e *Env) serviceClient(service, from string) (*hostService, string, netip.AddrPort, error) {
	hs, err := e.service(service)
	if err != nil {
		return nil, "", netip.AddrPort{}, err
	}
	client, err := e.otherHost(from)
	if err != nil {
		return nil, "", netip.AddrPort{}, err
	}
	target, err := e.serviceAddrFrom(hs)
	if err != nil {
		return nil, "", netip.AddrPort{}, err
	}
	return hs, client, target, nil
}

// serviceAddrFrom is where clients on other hosts reach a service of the
// env's host: its listen address, or the host's first IPv4 address.
func (e *Env) serviceAddrFrom(hs *hostService) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(hs.listen); err == nil && !a.IsUnspecified() && !a.IsLoopback() {
		return netip.AddrPortFrom(a, uint16(hs.port)), nil
	}
	a, err := e.hostAddr(e.Host)
	return netip.AddrPortFrom(a, uint16(hs.port)), err
}

// pingTarget is the given address, or the first address of a neighbour.
func (e *Env) pingTarget(to string) (netip.Addr, error) {
	if to != "" {
		return netip.ParseAddr(to)
	}
	other, err := e.otherHost("")
	if err != nil {
		return netip.Addr{}, err
	}
	h, o := e.Scenario.Host(e.Host), e.Scenario.Host(other)
	for _, i := range h.Interfaces {
		if oi := o.IfaceOn(i.Network); oi != nil && oi.IPv4.IsValid() {
			return oi.IPv4.Addr(), nil
		}
	}
	return e.hostAddr(other)
}

// reachTimeout bounds a probe connection: long enough for a LAN
// handshake, short enough that a dropped SYN is reported in good time.
const reachTimeout = 1500 * time.Millisecond

// expectOutcome is nil when a connection from the host, classified by
// the probe engine, ends in one of the outcomes wanted.
func (e *Env) expectOutcome(ctx context.Context, from, proto string, addr netip.AddrPort, want ...probe.ReachOutcome) error {
	ns, err := e.Netns(from)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res, err := probe.Reach(ns, addr, probe.ReachOptions{Proto: proto, Timeout: reachTimeout})
	if err != nil {
		return err
	}
	if slices.Contains(want, res.Outcome) {
		return nil
	}
	return fmt.Errorf("%s from host %q to %s: %s (%s), not %s", proto, from, addr, res.Outcome, res.Meaning, want[0])
}

// connectAndClose opens a TCP connection from a host and closes it
// gracefully (a FIN).
func (e *Env) connectAndClose(from string, addr netip.AddrPort) error {
	return e.connectThen(from, addr, false)
}

// connectAndReset opens a TCP connection from a host and resets it.
func (e *Env) connectAndReset(from string, addr netip.AddrPort) error {
	return e.connectThen(from, addr, true)
}

func (e *Env) connectThen(from string, addr netip.AddrPort, reset bool) error {
	ns, err := e.Netns(from)
	if err != nil {
		return err
	}
	var c net.Conn
	if err := ns.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr.String(), 2*time.Second)
		return err
	}); err != nil {
		return fmt.Errorf("connecting from host %q to %s: %w", from, addr, err)
	}
	if reset {
		c.(*net.TCPConn).SetLinger(0)
	}
	return c.Close()
}
