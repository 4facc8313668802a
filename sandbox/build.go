package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/netdojo/netdojo/scenarios"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Options tune a lab start.
type Options struct {
	// Name of the lab; the scenario's name when empty.
	Name string
	// Source names where the scenario came from, for status.
	Source string
	// ScenarioYAML is kept in the lab's directory as scenario.yaml, so
	// later commands (check, inject) reload exactly what was started.
	ScenarioYAML []byte
	// Store holds lab states; DefaultStore when zero.
	Store Store
	// Workers bounds the parallel build; 2 per CPU when zero.
	Workers int
	// AfterNetwork runs once the network is built, before the lab is
	// marked running (services and faults start here). An error rolls the
	// whole lab back.
	AfterNetwork func(ctx context.Context, lab *Lab) error
	// Trace, when set, is told how long each build phase took.
	Trace func(phase string, d time.Duration)
}

// Namespace names. A host's namespace is LAB.HOST and the lab's private
// namespace that holds its bridges is LAB._switch. Lab and host names never
// hold a dot or an underscore (scenarios.ValidName), so the first dot ends
// the lab's name: whatever the names, two labs never share a namespace
// name, no host takes the switch's, and everything a lab names starts
// with LAB. and nothing of another lab does.
const (
	// NetnsSep separates the lab's name from the host's.
	NetnsSep = "."
	// SwitchSuffix makes the lab's switch namespace name: LAB._switch.
	SwitchSuffix = NetnsSep + "_switch"
)

// ErrRunning refuses to start a lab that is running.
var ErrRunning = errors.New("lab is running")

// ScenarioFile is the copy of the scenario in a lab's directory.
const ScenarioFile = "scenario.yaml"

// NetnsName is the namespace of a host: LAB.HOST.
func NetnsName(lab, host string) string { return lab + NetnsSep + host }

// SwitchNetnsName is the lab's namespace for its bridges: LAB._switch.
func SwitchNetnsName(lab string) string { return lab + SwitchSuffix }

// ParseNetnsName splits a namespace name into the lab and the host; host
// is empty for the lab's switch namespace. ok is false for any name that
// is not a lab's (with a valid lab and host name).
func ParseNetnsName(ns string) (lab, host string, ok bool) {
	lab, rest, found := strings.Cut(ns, NetnsSep)
	if !found || ValidLabName(lab) != nil {
		return "", "", false
	}
	if NetnsSep+rest == SwitchSuffix {
		return lab, "", true
	}
	if scenarios.ValidName("host", rest) != nil {
		return "", "", false
	}
	return lab, rest, true
}

// labOwns tells whether a namespace (or /etc/netns entry) name is one of
// lab's: LAB.HOST or LAB._switch, never another lab's.
func labOwns(lab, ns string) bool {
	l, _, ok := ParseNetnsName(ns)
	return ok && l == lab
}

// Start builds a lab from a checked scenario. It records every namespace
// and file before creating it; if anything fails, or ctx is cancelled
// (SIGINT, SIGTERM), it removes everything it made and returns the error.
func Start(ctx context.Context, s *scenarios.Scenario, opts Options) (lab *Lab, err error) {
	if opts.Store.Dir == "" {
		opts.Store = DefaultStore()
	}
	name := opts.Name
	if name == "" {
		name = s.Name
	}
	if err := ValidLabName(name); err != nil {
		return nil, err
	}
	lock, err := opts.Store.Lock(name)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && !opts.Store.hasState(name) {
			lock.ReleaseAndRemove() // nothing of the lab is left
			opts.Store.prune()
			return
		}
		lock.Release()
	}()

	old, err := opts.Store.Load(name)
	if err != nil && !errors.Is(err, ErrNoLab) {
		return nil, err // a state that fails its checks is never acted on
	}
	if err == nil {
		if old.Status == StatusRunning {
			return nil, fmt.Errorf("lab %q is already running; stop it with 'netdojo stop %s' or start another with --name: %w", name, name, ErrRunning)
		}
		// An earlier start or stop of this lab was interrupted: finish it.
		if err := teardown(opts.Store, old); err != nil {
			return nil, fmt.Errorf("removing what an interrupted run of lab %q left: %w", name, err)
		}
	}
	// A lab directory without a state was left by a start killed before
	// its first state (which is written before anything is made, so
	// nothing else of it exists), or planted: nothing in it is trusted.
	// The lab starts from an empty directory of its own, so that no
	// write of this run follows a link found there.
	if err := opts.Store.remove(name); err != nil {
		return nil, err
	}

	// No separate existence check: each namespace and /etc/netns link is
	// created exclusively, one found there already fails the start and is
	// dropped from the record, and the rollback removes only what this
	// run made.
	st := plan(name, s, opts)
	if err := EnsureNetnsDir(); err != nil {
		return nil, err
	}
	if err := opts.Store.Save(st); err != nil {
		return nil, err
	}
	if len(opts.ScenarioYAML) > 0 {
		if err := writeFileNoFollow(filepath.Join(opts.Store.LabDir(name), ScenarioFile), opts.ScenarioYAML); err != nil {
			return nil, errors.Join(fmt.Errorf("saving the scenario of lab %q: %w", name, err), teardown(opts.Store, st))
		}
	}
	lab = &Lab{Name: name, Scenario: s, State: st, store: opts.Store, netns: map[string]*Netns{}}
	defer func() {
		if err != nil {
			lab.closeHandles()
			if rerr := teardown(opts.Store, lab.State); rerr != nil {
				err = errors.Join(err, fmt.Errorf("rolling back lab %q: %w", name, rerr))
			}
			lab = nil
		}
	}()
	if err := createCgroup(name); err != nil {
		return lab, err
	}
	if err := lab.startInit(); err != nil {
		return lab, err
	}
	b := &builder{lab: lab, s: s, workers: opts.Workers, trace: opts.Trace}
	if b.trace == nil {
		b.trace = func(string, time.Duration) {}
	}
	if b.workers <= 0 {
		b.workers = 2 * runtime.NumCPU()
	}
	if err := b.build(ctx); err != nil {
		return lab, err
	}
	if opts.AfterNetwork != nil {
		if err := opts.AfterNetwork(ctx, lab); err != nil {
			return lab, err
		}
		if err := ctx.Err(); err != nil {
			return lab, fmt.Errorf("starting lab %q: %w", name, err)
		}
	}
	lab.State.Status = StatusRunning
	lab.State.PID = os.Getpid()
	if err := opts.Store.Save(lab.State); err != nil {
		return lab, err
	}
	return lab, nil
}

// ValidLabName checks a lab name against the one name rule
// (scenarios.ValidName); the error is a *scenarios.NameError.
func ValidLabName(name string) error { return scenarios.ValidName("lab", name) }

// plan is the state of a lab before anything exists: every namespace and
// /etc/netns directory it will make.
func plan(name string, s *scenarios.Scenario, opts Options) *State {
	st := &State{
		Lab: name, Scenario: s.Name, Source: opts.Source, Seed: s.Seed,
		Status: StatusStarting, PID: os.Getpid(), Started: time.Now().UTC(),
		SwitchNetns: SwitchNetnsName(name),
	}
	st.Namespaces = append(st.Namespaces, st.SwitchNetns)
	for _, h := range s.Hosts {
		ns := NetnsName(name, h.Name)
		st.Hosts = append(st.Hosts, HostState{Name: h.Name, Netns: ns})
		st.Namespaces = append(st.Namespaces, ns)
		st.EtcDirs = append(st.EtcDirs, filepath.Join(EtcNetnsDir, ns))
	}
	return st
}

// forget drops namespaces or /etc/netns entries from the lab's record
// when a failed start did not make them (one found there already is
// someone else's): neither the rollback nor a later clean may remove
// them. The record is saved at once.
func (l *Lab) forget(names ...string) error {
	if len(names) == 0 {
		return nil
	}
	gone := map[string]bool{}
	for _, n := range names {
		gone[n] = true
	}
	l.mu.Lock()
	drop := func(list []string) []string {
		var keep []string
		for _, n := range list {
			if !gone[n] {
				keep = append(keep, n)
			}
		}
		return keep
	}
	l.State.Namespaces = drop(l.State.Namespaces)
	l.State.EtcDirs = drop(l.State.EtcDirs)
	l.mu.Unlock()
	return l.Save()
}

// HostDefaults are the sysctls every lab host gets unless its scenario
// sets them: no ICMP error rate limits, per destination or for the whole
// namespace (the kernel's 1 per second per destination, and 1000 per
// second in bursts of 50, make traceroute print '*' on healthy hops and
// make unreachable checks flaky).
var HostDefaults = []scenarios.Sysctl{
	{Key: "net.ipv4.icmp_ratelimit", Value: "0"},
	{Key: "net.ipv6.icmp.ratelimit", Value: "0"},
	{Key: "net.ipv4.icmp_msgs_per_sec", Value: "100000"},
	{Key: "net.ipv4.icmp_msgs_burst", Value: "10000"},
}

// DefaultSysctl is the value a lab host has for key when its scenario
// does not set it, if netdojo sets one.
func DefaultSysctl(key string) (string, bool) {
	for _, s := range HostDefaults {
		if s.Key == key {
			return s.Value, true
		}
	}
	return "", false
}

var noDAD = []scenarios.Sysctl{
	{Key: "net.ipv6.conf.default.accept_dad", Value: "0"},
	{Key: "net.ipv6.conf.all.accept_dad", Value: "0"},
}

type builder struct {
	lab     *Lab
	s       *scenarios.Scenario
	workers int
	trace   func(phase string, d time.Duration)
}

func (b *builder) build(ctx context.Context) (err error) {
	lab := b.lab
	// The /etc/netns links go to disk, which is slow on some machines;
	// they are made while the kernel builds the network, and waited for.
	if err := etcOnTmpfs(lab.Dir()); err != nil {
		return err
	}
	var targets []string
	for _, h := range b.s.Hosts {
		targets = append(targets, filepath.Join(lab.Dir(), EtcDir, h.Name))
	}
	etc := make(chan error, 1)
	links := append([]string(nil), lab.State.EtcDirs...)
	go func() { etc <- linkEtc(lab, links, targets) }()
	defer func() { err = errors.Join(err, <-etc) }()
	// Phase 1: every namespace, in parallel.
	t0 := time.Now()
	var mu sync.Mutex
	names := append([]string(nil), lab.State.Namespaces...)
	made := map[string]bool{}
	if err := b.each(ctx, len(names), func(i int) error {
		ns, err := CreateNetns(names[i])
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w; remove it, or choose another lab name with --name", err)
		}
		if err != nil {
			return err
		}
		// Before any interface exists, so every one inherits it: no
		// duplicate address detection, whose delay would make the first
		// seconds of a lab lose IPv6 packets.
		if err := writeSysctls(ns, noDAD); err != nil {
			ns.Close()
			return err
		}
		mu.Lock()
		lab.netns[ns.Name()] = ns
		made[ns.Name()] = true
		mu.Unlock()
		return nil
	}); err != nil {
		// A namespace found there already is someone else's, and one never
		// tried may be too: neither may the rollback remove.
		var notMade []string
		for _, n := range names {
			if !made[n] {
				notMade = append(notMade, n)
			}
		}
		return errors.Join(err, lab.forget(notMade...))
	}
	b.trace("namespaces", time.Since(t0))
	// Phase 2: bridges, in the switch namespace or in the hosts that hold them.
	t0 = time.Now()
	if err := b.bridges(); err != nil {
		return err
	}
	b.trace("bridges", time.Since(t0))
	// Phase 3: links, per host, in parallel; each link is created with both
	// ends already in their namespaces.
	t0 = time.Now()
	if err := b.each(ctx, len(b.s.Hosts), func(i int) error { return b.links(b.s.Hosts[i]) }); err != nil {
		return err
	}
	b.trace("links", time.Since(t0))
	// Phase 4: addresses, routes, sysctls and /etc files, per host.
	t0 = time.Now()
	defer func() { b.trace("configure", time.Since(t0)) }()
	return b.each(ctx, len(b.s.Hosts), func(i int) error { return b.configure(b.s.Hosts[i]) })
}

// each runs fn for 0..n-1 on the builder's workers, stops handing out work
// at the first error or when ctx ends, and returns every error.
func (b *builder) each(ctx context.Context, n int, fn func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan int)
	)
	workers := min(b.workers, n)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		mu.Lock()
		failed := len(errs) > 0
		mu.Unlock()
		if failed {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("building lab %q: %w", b.lab.Name, err))
	}
	return errors.Join(errs...)
}

func (b *builder) bridges() error {
	sw := b.lab.netns[b.lab.State.SwitchNetns]
	if err := writeSysctls(sw, []scenarios.Sysctl{
		// The switch namespace has no firewall; bridged lab traffic is not
		// sent through iptables there (the kernel's default is 1).
		{Key: "net.bridge.bridge-nf-call-iptables", Value: "0"},
		{Key: "net.bridge.bridge-nf-call-ip6tables", Value: "0"},
		{Key: "net.bridge.bridge-nf-call-arptables", Value: "0"},
		// Switch ports carry no addresses: no IPv6 chatter from them.
		{Key: "net.ipv6.conf.all.disable_ipv6", Value: "1"},
		{Key: "net.ipv6.conf.default.disable_ipv6", Value: "1"},
	}); err != nil {
		return err
	}
	for _, n := range b.s.Networks {
		if n.Type != "bridge" {
			continue
		}
		ns := sw
		if n.Owner != nil {
			ns = b.lab.netns[NetnsName(b.lab.Name, n.Owner.Name)]
		}
		h, err := ns.NetlinkHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Name, MTU: n.MTU}}
		if n.Owner != nil {
			if ifc := n.Owner.IfaceOn(n); ifc != nil {
				br.MTU = ifc.MTU
				br.HardwareAddr = ifc.MAC
			}
		}
		err = h.LinkAdd(br)
		if err == nil {
			err = h.LinkSetUp(br)
		}
		h.Close()
		if err != nil {
			return fmt.Errorf("creating bridge %q in namespace %q: %w", n.Name, ns.Name(), err)
		}
	}
	return nil
}

// links creates the host's veths whose creation it owns: bridge ports, and
// point-to-point links where the host is the first end.
func (b *builder) links(h *scenarios.Host) error {
	self := b.lab.netns[NetnsName(b.lab.Name, h.Name)]
	for _, ifc := range h.Interfaces {
		n := ifc.Network
		var (
			via  *Netns // namespace the creating handle is bound to
			veth = &netlink.Veth{PeerName: ifc.Name, PeerNamespace: netlink.NsFd(self.Fd()), PeerMTU: uint32(ifc.MTU), PeerHardwareAddr: ifc.MAC}
		)
		switch n.Type {
		case "bridge":
			if n.Owner == h {
				continue // the interface is the bridge itself
			}
			via = b.lab.netns[b.lab.State.SwitchNetns]
			if n.Owner != nil {
				via = b.lab.netns[NetnsName(b.lab.Name, n.Owner.Name)]
			}
			veth.LinkAttrs = netlink.LinkAttrs{Name: portName(h, ifc), MTU: ifc.MTU}
		case "p2p":
			if n.Ends[0] != ifc {
				continue // the first end creates the pair
			}
			peer := ifc.Peer()
			via = self
			veth.LinkAttrs = netlink.LinkAttrs{Name: ifc.Name, MTU: ifc.MTU, HardwareAddr: ifc.MAC}
			veth.PeerName = peer.Name
			veth.PeerNamespace = netlink.NsFd(b.lab.netns[NetnsName(b.lab.Name, peer.Host.Name)].Fd())
			veth.PeerMTU = uint32(peer.MTU)
			veth.PeerHardwareAddr = peer.MAC
		default:
			continue // vxlan: made when the underlay is configured
		}
		if err := b.createVeth(via, veth, n); err != nil {
			return fmt.Errorf("creating interface %q of host %q: %w", ifc.Name, h.Name, err)
		}
	}
	return nil
}

func (b *builder) createVeth(via *Netns, veth *netlink.Veth, n *scenarios.Network) error {
	h, err := via.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.LinkAdd(veth); err != nil {
		return err
	}
	if n.Type != "bridge" {
		return nil
	}
	br, err := h.LinkByName(n.Name)
	if err != nil {
		return fmt.Errorf("finding bridge %q: %w", n.Name, err)
	}
	if err := h.LinkSetMaster(veth, br); err != nil {
		return fmt.Errorf("attaching port %q to bridge %q: %w", veth.Name, n.Name, err)
	}
	return h.LinkSetUp(veth)
}

// portName names the switch side of a host's interface on a bridge (see
// scenarios.PortName): HOST_IF, or veth and a hash when that is too long.
// The validator has checked that the name is free in its namespace.
func portName(h *scenarios.Host, ifc *scenarios.Iface) string {
	return scenarios.PortName(h.Name, ifc.Name)
}

// configure brings up a host: loopback, addresses, vxlan devices, sysctls,
// routes and its /etc files.
func (b *builder) configure(h *scenarios.Host) error {
	ns := b.lab.netns[NetnsName(b.lab.Name, h.Name)]
	if err := writeEtc(filepath.Join(b.lab.Dir(), EtcDir, h.Name), h); err != nil {
		return err
	}
	nh, err := ns.NetlinkHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer nh.Close()
	lo, err := nh.LinkByName("lo")
	if err == nil {
		err = nh.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("bringing up lo on host %q: %w", h.Name, err)
	}
	// Defaults first, so that the scenario's own sysctls win.
	sysctls := append([]scenarios.Sysctl(nil), HostDefaults...)
	for _, n := range b.s.Networks {
		if n.Owner == h {
			// A host holding a bridge behaves as a Kubernetes node does.
			sysctls = append(sysctls, scenarios.Sysctl{Key: "net.bridge.bridge-nf-call-iptables", Value: "1"})
			break
		}
	}
	for _, ifc := range h.Interfaces {
		if ifc.Network.Type == "vxlan" {
			if err := b.vxlan(nh, h, ifc); err != nil {
				return fmt.Errorf("creating vxlan %q on host %q: %w", ifc.Name, h.Name, err)
			}
		}
		if err := b.address(nh, ifc); err != nil {
			return fmt.Errorf("configuring interface %q of host %q: %w", ifc.Name, h.Name, err)
		}
	}
	// After the interfaces, so that per-interface keys find them.
	if err := writeSysctls(ns, append(sysctls, h.Sysctls...)); err != nil {
		return fmt.Errorf("host %q: %w", h.Name, err)
	}
	for _, r := range h.Routes {
		if err := addRoute(nh, r); err != nil {
			return fmt.Errorf("adding route to %s on host %q: %w", r.Dst, h.Name, err)
		}
	}
	return nil
}

func (b *builder) address(nh *netlink.Handle, ifc *scenarios.Iface) error {
	link, err := nh.LinkByName(ifc.Name)
	if err != nil {
		return err
	}
	for _, pf := range []struct {
		ok   bool
		s    string
		flag int
	}{{ifc.IPv4.IsValid(), ifc.IPv4.String(), 0}, {ifc.IPv6.IsValid(), ifc.IPv6.String(), unix.IFA_F_NODAD}} {
		if !pf.ok {
			continue
		}
		a, err := netlink.ParseAddr(pf.s)
		if err != nil {
			return err
		}
		a.Flags = pf.flag
		if err := nh.AddrAdd(link, a); err != nil {
			return fmt.Errorf("adding address %s: %w", pf.s, err)
		}
	}
	return nh.LinkSetUp(link)
}

func (b *builder) vxlan(nh *netlink.Handle, h *scenarios.Host, ifc *scenarios.Iface) error {
	n := ifc.Network
	under := h.IfaceOn(n.Underlay)
	peerUnder := ifc.Peer().Host.IfaceOn(n.Underlay)
	ul, err := nh.LinkByName(under.Name)
	if err != nil {
		return fmt.Errorf("finding underlay interface %q: %w", under.Name, err)
	}
	vx := &netlink.Vxlan{
		LinkAttrs:    netlink.LinkAttrs{Name: ifc.Name, MTU: ifc.MTU, HardwareAddr: ifc.MAC},
		VxlanId:      n.VNI,
		VtepDevIndex: ul.Attrs().Index,
		SrcAddr:      net.IP(under.IPv4.Addr().AsSlice()),
		Group:        net.IP(peerUnder.IPv4.Addr().AsSlice()),
		Port:         n.Port,
		Learning:     true,
	}
	return nh.LinkAdd(vx)
}

func addRoute(nh *netlink.Handle, r scenarios.RouteSpec) error {
	rt, err := NetlinkRoute(nh, r)
	if err != nil {
		return err
	}
	return nh.RouteAdd(rt)
}

// NetlinkRoute turns a scenario route into the netlink route of the main
// table that a lab host gets (and that faults delete and restore).
func NetlinkRoute(nh *netlink.Handle, r scenarios.RouteSpec) (*netlink.Route, error) {
	dst := &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())}
	rt := &netlink.Route{Dst: dst, Priority: r.Metric, Table: unix.RT_TABLE_MAIN}
	if r.Dst.Bits() == 0 {
		rt.Dst = nil
		if r.Dst.Addr().Is6() {
			rt.Family = netlink.FAMILY_V6
			rt.Dst = dst
		}
	}
	switch r.Type {
	case "blackhole":
		rt.Type = unix.RTN_BLACKHOLE
	case "unreachable":
		rt.Type = unix.RTN_UNREACHABLE
	case "prohibit":
		rt.Type = unix.RTN_PROHIBIT
	}
	if r.Via.IsValid() {
		rt.Gw = r.Via.AsSlice()
	}
	if r.Dev != "" {
		l, err := nh.LinkByName(r.Dev)
		if err != nil {
			return nil, fmt.Errorf("finding interface %q: %w", r.Dev, err)
		}
		rt.LinkIndex = l.Attrs().Index
		if !r.Via.IsValid() {
			rt.Scope = netlink.SCOPE_LINK
		}
	}
	return rt, nil
}

// writeSysctls writes namespace sysctls from a thread inside the
// namespace: /proc/sys/net shows the namespace of the thread that opens it.
func writeSysctls(ns *Netns, kv []scenarios.Sysctl) error {
	return ns.Do(func() error {
		for _, s := range kv {
			if !strings.HasPrefix(s.Key, "net.") {
				return fmt.Errorf("refusing sysctl %q: only net.* sysctls belong to a namespace", s.Key)
			}
			path := "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/")
			if err := os.WriteFile(path, []byte(s.Value+"\n"), 0); err != nil {
				return fmt.Errorf("setting sysctl %s=%s: %w", s.Key, s.Value, err)
			}
		}
		return nil
	})
}
