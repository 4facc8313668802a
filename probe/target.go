// Package probe observes a network: links, addresses, routes, neighbours,
// reachability, DNS, HTTP, paths, sockets, firewall counters and packets.
//
// A probe runs against a Target: the machine's own network or a lab host.
// The probe layer knows nothing of scenarios or YAML; it answers questions
// ("is this TCP port open, refused or filtered?") with typed values. It never
// switches a thread's namespace itself: it uses netlink handles bound to the
// target's namespace and sockets created inside it through Target.Do, and it
// reads the kernel directly instead of parsing the output of ip, ss, ping,
// dig or tcpdump.
package probe

import (
	"path/filepath"

	"github.com/vishvananda/netlink"
)

// Target is where a probe looks: a network namespace and the /etc view of
// the processes that live in it.
type Target interface {
	// Name identifies the target in reports: "local" or "LAB/HOST".
	Name() string
	// NetlinkHandle returns a netlink handle bound to the target's network
	// namespace. The caller closes it.
	NetlinkHandle(families ...int) (*netlink.Handle, error)
	// Do runs fn on an OS thread inside the target's network namespace.
	// fn must not start goroutines and must dial IP literals only. Sockets
	// created in fn keep the target's namespace; processes started in fn
	// inherit it.
	Do(fn func() error) error
	// EtcFile is the path of the file that processes in the target see as
	// /etc/NAME (for a lab host, /etc/netns/LAB.HOST/NAME when it exists).
	EtcFile(name string) string
}

// Local is the machine's own network namespace.
type Local struct{}

// Name implements Target.
func (Local) Name() string { return "local" }

// NetlinkHandle implements Target.
func (Local) NetlinkHandle(families ...int) (*netlink.Handle, error) {
	return netlink.NewHandle(families...)
}

// Do implements Target: the calling thread is already in the namespace.
func (Local) Do(fn func() error) error { return fn() }

// EtcFile implements Target.
func (Local) EtcFile(name string) string { return filepath.Join("/etc", name) }
