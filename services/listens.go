package services

import "github.com/netdojo/netdojo/scenarios"

// The sockets each listening kind binds, after Check has filled its
// defaults (scenarios.Listener): validate refuses two services of one
// host on the same socket, which could not both start.

func tcpSocket(addr string, port int) []scenarios.Socket {
	return []scenarios.Socket{{Proto: "tcp", Addr: addr, Port: port}}
}

// Listens implements scenarios.Listener: UDP and TCP on the port.
func (p *DNSParams) Listens() []scenarios.Socket {
	return []scenarios.Socket{{Proto: "udp", Addr: p.Listen, Port: p.Port}, {Proto: "tcp", Addr: p.Listen, Port: p.Port}}
}

// Listens implements scenarios.Listener.
func (p *HTTPParams) Listens() []scenarios.Socket { return tcpSocket(p.Listen, p.Port) }

// Listens implements scenarios.Listener.
func (p *ProxyParams) Listens() []scenarios.Socket { return tcpSocket(p.Listen, p.Port) }

// Listens implements scenarios.Listener.
func (p *BannerParams) Listens() []scenarios.Socket { return tcpSocket(p.Listen, p.Port) }

// Listens implements scenarios.Listener.
func (p *SlowReaderParams) Listens() []scenarios.Socket { return tcpSocket(p.Listen, p.Port) }

// Listens implements scenarios.Listener.
func (p *BacklogParams) Listens() []scenarios.Socket { return tcpSocket(p.Listen, p.Port) }

// Listens implements scenarios.Listener: the port it holds, TCP or UDP.
func (p *SquatterParams) Listens() []scenarios.Socket {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	return []scenarios.Socket{{Proto: proto, Addr: p.Listen, Port: p.Port}}
}

// Listens implements scenarios.Listener.
func (p *ListenParams) Listens() []scenarios.Socket {
	proto := p.proto
	if proto == "" {
		proto = "tcp"
	}
	return []scenarios.Socket{{Proto: proto, Addr: p.Listen, Port: p.Port}}
}
