package scenarios

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
)

var (
	// identifier is a name that is safe in a namespace name, a file name
	// and a shell word.
	nameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	identifier = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	ifnameRE   = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)
	// sysctlRE is net. and dot-separated parts, none empty: each dot
	// becomes a '/' under /proc/sys, so an empty part names a directory.
	sysctlRE      = regexp.MustCompile(`^net(\.[a-zA-Z0-9_-]+)+$`)
	sysctlCharsRE = regexp.MustCompile(`^net\.[a-zA-Z0-9_.-]+$`)
	domainRE      = regexp.MustCompile(`^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*\.?$`)
)

// perDevice are the sysctl trees with one directory per network device:
// net.ipv4.conf.DEV.rp_filter and the like.
var perDevice = []string{"net.ipv4.conf.", "net.ipv6.conf.", "net.ipv4.neigh.", "net.ipv6.neigh."}

// sysctlDevice returns the device a per-device sysctl key names: what lies
// between the tree and the last dot.
func sysctlDevice(key string) (string, bool) {
	for _, t := range perDevice {
		if rest, ok := strings.CutPrefix(key, t); ok {
			if i := strings.LastIndexByte(rest, '.'); i > 0 {
				return rest[:i], true
			}
		}
	}
	return "", false
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// minIPv6MTU is the smallest MTU IPv6 runs on (RFC 8200).
const minIPv6MTU = 1280

// MaxNameLen bounds lab and host names so that LAB.HOST stays readable in
// `ip netns list`.
const MaxNameLen = 32

// NameError is a name that breaks the name rule (see ValidName).
type NameError struct {
	What string // lab, host, scenario, service, task
	Name string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("%q is not a valid %s name; use at most %d lower-case letters, digits and dashes, starting and ending with a letter or digit", e.Name, e.What, MaxNameLen)
}

// ValidName is the one name rule for labs, hosts, scenarios, services and
// tasks: 1 to MaxNameLen lower-case letters, digits and dashes, starting
// and ending with a letter or digit. Such a name is safe as a file name
// (no '/', never "." or ".."), a shell word and a part of a namespace
// name; it never holds a dot, which separates the lab from the host in a
// namespace name (LAB.HOST), nor an underscore, which marks the lab's own
// namespaces (LAB._switch). Every command that takes a lab or host name
// checks it before it touches anything. what names the kind of name in
// the error, which is a *NameError.
func ValidName(what, name string) error {
	if len(name) > MaxNameLen || !nameRE.MatchString(name) {
		return &NameError{What: what, Name: name}
	}
	return nil
}

// reservedIfnames are device names a network namespace already has, or
// that Linux refuses: lo, the fallback devices a kernel with tunnel
// drivers puts in every new namespace, the names of the per-device sysctl
// directories all and default, and the path names . and ..
var reservedIfnames = map[string]string{
	"lo":       "the loopback every host already has",
	".":        "Linux refuses it",
	"..":       "Linux refuses it",
	"all":      "Linux refuses it (net.ipv4.conf.all is every interface's sysctl)",
	"default":  "Linux refuses it (net.ipv4.conf.default is the sysctl of new interfaces)",
	"tunl0":    "a kernel with IP-in-IP puts it in every namespace",
	"sit0":     "a kernel with SIT puts it in every namespace",
	"ip6tnl0":  "a kernel with IPv6 tunnels puts it in every namespace",
	"gre0":     "a kernel with GRE puts it in every namespace",
	"gretap0":  "a kernel with GRE puts it in every namespace",
	"erspan0":  "a kernel with GRE puts it in every namespace",
	"ip6gre0":  "a kernel with IPv6 GRE puts it in every namespace",
	"ip_vti0":  "a kernel with VTI puts it in every namespace",
	"ip6_vti0": "a kernel with VTI puts it in every namespace",
}

// PortName is the name of the switch-side end of a host's interface on a
// bridge: the veth end that is the bridge's port, in the lab's switch
// namespace or in the namespace of the host that holds the bridge.
//
// HOST_IF when that fits in 15 bytes (host names hold no '_', so the first
// '_' tells where the host's name ends: host a with interface b-c and host
// a-b with interface c get a_b-c and a-b_c), else veth and ten hex digits
// of a hash of the pair (no '_', so never a HOST_IF name). The validator
// refuses a scenario in which a port's name is any other name in its
// namespace, so the sandbox can create ports without checking.
func PortName(host, ifname string) string {
	if n := host + "_" + ifname; len(n) <= 15 {
		return n
	}
	h := fnv.New64a()
	h.Write([]byte(host))
	h.Write([]byte{0}) // a byte no name holds: ("ab","c") and ("a","bc") differ
	h.Write([]byte(ifname))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h.Sum64())
	return fmt.Sprintf("veth%x", b[:5])
}

// ifaceName is the name of interface i of a host: its own, or eth<i>, or,
// on a bridge the host holds, the bridge's.
func ifaceName(f *File, host string, i int, ifc Interface) string {
	if ifc.Name != "" {
		return ifc.Name
	}
	if n := f.Networks[ifc.Network]; n != nil && n.Host == host {
		return ifc.Network
	}
	return fmt.Sprintf("eth%d", i)
}

// checker is the semantic pass: it reads the decoded file and records every
// problem with the position of the field at fault.
type checker struct {
	d    *decoder
	f    *File
	ifs  map[string]map[string]bool // host -> interface names
	nets map[string][]end           // network -> its ends
}

func (c *checker) at(path, format string, args ...any) {
	c.d.problems = append(c.d.problems, Problem{File: c.d.file, Pos: c.d.pos.at(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) atKey(path, format string, args ...any) {
	c.d.problems = append(c.d.problems, Problem{File: c.d.file, Pos: c.d.pos.keyAt(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) check() {
	f := c.f
	if f.APIVersion != "" && f.APIVersion != APIVersion {
		c.at("apiVersion", "unsupported version %q; this netdojo reads %s", f.APIVersion, APIVersion)
	}
	if f.Metadata.Name != "" {
		c.name("metadata.name", f.Metadata.Name, "scenario")
	}
	if f.Metadata.Minutes < 0 {
		c.at("metadata.minutes", "must not be negative")
	}
	if f.Hosts != nil && len(f.Hosts) == 0 {
		c.at("hosts", "a scenario needs at least one host")
	}
	ifaces := 0
	for _, h := range f.Hosts {
		if h != nil {
			ifaces += len(h.Interfaces)
		}
	}
	for _, l := range []struct {
		path, what string
		n, max     int
	}{
		{"hosts", "hosts", len(f.Hosts), MaxHosts},
		{"networks", "networks", len(f.Networks), MaxNetworks},
		{"hosts", "interfaces in all hosts together", ifaces, MaxInterfaces},
		{"tasks", "tasks", len(f.Tasks), MaxTasks},
		{"invariants", "invariants", len(f.Invariants), MaxTasks},
	} {
		if l.n > l.max {
			c.atKey(l.path, "%d %s; a scenario may have at most %d", l.n, l.what, l.max)
		}
	}
	c.ifs = map[string]map[string]bool{}
	c.nets = map[string][]end{}
	for _, name := range ordered(f.Networks, c.d.pos, "networks") {
		c.network(name, f.Networks[name])
	}
	for _, name := range ordered(f.Hosts, c.d.pos, "hosts") {
		c.host(name, f.Hosts[name])
	}
	c.ends()
	c.ports()
	for _, name := range ordered(f.Hosts, c.d.pos, "hosts") {
		c.routes(name, f.Hosts[name])
	}
	c.faults()
	c.tasks()
}

func (c *checker) name(path, v, what string) {
	if err := ValidName(what, v); err != nil {
		c.atKey(path, "%s", err)
	}
}

func (c *checker) network(name string, n *NetworkSpec) {
	p := "networks." + name
	if !ifnameRE.MatchString(name) || len(name) > 15 {
		c.atKey(p, "%q is not a valid network name; use at most 15 letters, digits, '-', '_' or '.' (a bridge is a device named after its network)", name)
	} else if why, ok := reservedIfnames[name]; ok {
		c.atKey(p, "network name %q is reserved: %s; a bridge is a device named after its network, so choose another name", name, why)
	}
	if n.MTU != 0 && (n.MTU < 68 || n.MTU > 65535) {
		c.at(p+".mtu", "MTU %d is out of range; use 68 to 65535", n.MTU)
	}
	if n.Type != "vxlan" {
		for _, f := range []struct {
			set  bool
			name string
		}{{n.VNI != 0, "vni"}, {n.Underlay != "", "underlay"}, {n.Port != 0, "port"}} {
			if f.set {
				c.atKey(p+"."+f.name, "%s is only for vxlan networks", f.name)
			}
		}
	}
	if n.Host != "" {
		if n.Type != "bridge" {
			c.atKey(p+".host", "only a bridge can be held by a host")
		} else if _, ok := c.f.Hosts[n.Host]; !ok {
			c.at(p+".host", "host %q is not defined%s", n.Host, c.hostList())
		}
	}
	if n.Type == "vxlan" {
		if n.VNI < 1 || n.VNI > 1<<24-1 {
			c.at(p+".vni", "a vxlan network needs vni from 1 to 16777215")
		}
		if n.Port < 0 || n.Port > 65535 {
			c.at(p+".port", "port %d is out of range", n.Port)
		}
		if u, ok := c.f.Networks[n.Underlay]; !ok {
			c.at(p+".underlay", "a vxlan network needs underlay: the name of a defined bridge or p2p network%s", netList(c.f.Networks))
		} else if u.Type == "vxlan" {
			c.at(p+".underlay", "the underlay %q must be a bridge or p2p network", n.Underlay)
		}
	}
}

func (c *checker) host(name string, h *HostSpec) {
	p := "hosts." + name
	c.name(p, name, "host")
	names := map[string]bool{"lo": true}
	c.ifs[name] = names
	// Linux refuses a second vxlan device with the VNI and UDP port of
	// one a namespace has, whatever its underlay ("file exists").
	type vxKey struct{ vni, port int }
	vxlans := map[vxKey]string{}
	for i, ifc := range h.Interfaces {
		ip := fmt.Sprintf("%s.interfaces[%d]", p, i)
		ifname := ifaceName(c.f, name, i, ifc)
		switch {
		case len(ifname) > 15:
			c.at(ip+".name", "interface name %q is %d bytes; Linux allows at most 15", ifname, len(ifname))
		case !ifnameRE.MatchString(ifname):
			c.at(ip+".name", "interface name %q may only hold letters, digits, '-', '_' and '.'", ifname)
		case reservedIfnames[ifname] != "":
			c.at(ip+".name", "interface name %q is reserved: %s; choose another name", ifname, reservedIfnames[ifname])
		case names[ifname]:
			c.at(ip+".name", "interface name %q is used twice on host %q", ifname, name)
		}
		names[ifname] = true
		nw, ok := c.f.Networks[ifc.Network]
		if !ok {
			c.at(ip+".network", "network %q is not defined%s", ifc.Network, netList(c.f.Networks))
		} else {
			c.nets[ifc.Network] = append(c.nets[ifc.Network], end{host: name, ifname: ifname, path: ip, ifc: ifc})
			if nw.Type == "vxlan" && nw.VNI != 0 {
				k := vxKey{nw.VNI, nw.Port}
				if k.port == 0 {
					k.port = 4789
				}
				if other, ok := vxlans[k]; ok && other != ifc.Network {
					c.at(ip+".network", "vxlan %q has VNI %d and port %d, as vxlan %q on host %q has: Linux refuses a second such device in a namespace; give one another VNI or port", ifc.Network, k.vni, k.port, other, name)
				}
				vxlans[k] = ifc.Network
			}
			if nw.Host == name && ifc.Name != "" && ifc.Name != ifc.Network {
				c.at(ip+".name", "on host %q the interface on bridge %q is the bridge itself; name it %q or leave the name out", name, ifc.Network, ifc.Network)
			}
		}
		if ifc.IPv4 != "" {
			if pf, err := netip.ParsePrefix(ifc.IPv4); err != nil || !pf.Addr().Is4() {
				c.at(ip+".ipv4", "%q is not an IPv4 address with prefix length; write it like 10.0.0.10/24", ifc.IPv4)
			}
		}
		if ifc.IPv6 != "" {
			if pf, err := netip.ParsePrefix(ifc.IPv6); err != nil || !pf.Addr().Is6() || pf.Addr().Is4In6() {
				c.at(ip+".ipv6", "%q is not an IPv6 address with prefix length; write it like fd00::10/64", ifc.IPv6)
			}
			// The MTU the interface gets (see Load): its own, or its
			// network's. Linux disables IPv6 on a device whose MTU is
			// under 1280 and refuses an address there.
			mtu := ifc.MTU
			if mtu == 0 && nw != nil {
				mtu = nw.MTU
			}
			if mtu != 0 && mtu < minIPv6MTU {
				c.at(ip+".ipv6", "IPv6 needs an MTU of at least %d, and this interface's is %d: Linux refuses the address; raise the MTU or leave IPv6 out", minIPv6MTU, mtu)
			}
		}
		if ifc.MTU != 0 && (ifc.MTU < 68 || ifc.MTU > 65535) {
			c.at(ip+".mtu", "MTU %d is out of range; use 68 to 65535", ifc.MTU)
		}
		if ifc.MAC != "" {
			if mac, err := net.ParseMAC(ifc.MAC); err != nil || len(mac) != 6 || mac[0]&1 == 1 {
				c.at(ip+".mac", "%q is not a unicast Ethernet address; write it like 02:00:00:00:00:0a", ifc.MAC)
			} else if string(mac) == string(make([]byte, 6)) {
				c.at(ip+".mac", "%q is the all-zero address, which Linux refuses; write one like 02:00:00:00:00:0a", ifc.MAC)
			}
		}
	}
	for k := range h.Sysctls {
		if dev, ok := sysctlDevice(k); ok && sysctlRE.MatchString(k) {
			switch {
			case strings.Contains(dev, "."):
				c.atKey(p+".sysctls."+k, "sysctl %q names device %q, whose dot a sysctl key cannot hold (each dot is a level under /proc/sys); rename the interface without a dot", k, dev)
			case !names[dev] && dev != "all" && dev != "default" && reservedIfnames[dev] == "":
				c.atKey(p+".sysctls."+k, "sysctl %q names device %q, which host %q does not have; its interfaces are %s", k, dev, name, strings.Join(sortedKeys(names), ", "))
			}
			continue
		}
		if sysctlCharsRE.MatchString(k) && !sysctlRE.MatchString(k) {
			c.atKey(p+".sysctls."+k, "sysctl %q has an empty part between dots; write it like net.ipv4.ip_forward", k)
		} else if !sysctlRE.MatchString(k) {
			c.atKey(p+".sysctls."+k, "%q is not a network namespace sysctl; only net.* keys are per namespace, others would change the whole machine", k)
		}
	}
	if h.DNS != nil {
		if len(h.DNS.Nameservers) > 3 {
			c.at(p+".dns.nameservers", "glibc reads at most 3 nameservers, %d given", len(h.DNS.Nameservers))
		}
		for i, ns := range h.DNS.Nameservers {
			if _, err := netip.ParseAddr(ns); err != nil {
				c.at(fmt.Sprintf("%s.dns.nameservers[%d]", p, i), "%q is not an IP address; a resolver is named by its address", ns)
			}
		}
		for i, s := range h.DNS.Search {
			if !domainRE.MatchString(s) {
				c.at(fmt.Sprintf("%s.dns.search[%d]", p, i), "%q is not a domain name", s)
			}
		}
		for i, o := range h.DNS.Options {
			if strings.ContainsAny(o, " \t\n") || o == "" {
				c.at(fmt.Sprintf("%s.dns.options[%d]", p, i), "%q is not a single resolv.conf option such as timeout:1", o)
			}
		}
	}
	for i, e := range h.HostsFile {
		ep := fmt.Sprintf("%s.hosts_file[%d]", p, i)
		if _, err := netip.ParseAddr(e.IP); err != nil && e.IP != "" {
			c.at(ep+".ip", "%q is not an IP address", e.IP)
		}
		for j, n := range e.Names {
			if !domainRE.MatchString(n) {
				c.at(fmt.Sprintf("%s.names[%d]", ep, j), "%q is not a host name", n)
			}
		}
	}
	svc := map[string]bool{}
	type bound struct {
		sock Socket
		svc  string
	}
	var socks []bound
	for i, s := range h.Services {
		sp := fmt.Sprintf("%s.services[%d]", p, i)
		if s.Name != "" {
			c.name(sp+".name", s.Name, "service")
			if svc[s.Name] {
				c.at(sp+".name", "service %q is defined twice on host %q", s.Name, name)
			}
			svc[s.Name] = true
		}
		v := c.kindParams(sp, s.Kind, &s.Params, "service")
		if l, ok := v.(Listener); ok {
			clashed := false
			for _, sock := range l.Listens() {
				for _, b := range socks {
					if !clashed && b.sock.clash(sock) {
						clashed = true
						c.at(sp, "service %q listens on %s port %d, as service %q does on host %q: the second cannot bind it; give one another port, or each its own listen address", s.Name, sock.Proto, sock.Port, b.svc, name)
					}
				}
				socks = append(socks, bound{sock, s.Name})
			}
		}
	}
}

// ends checks what needs every interface: network end counts and
// duplicate addresses.
func (c *checker) ends() {
	for _, name := range ordered(c.f.Networks, c.d.pos, "networks") {
		n := c.f.Networks[name]
		ends := c.nets[name]
		p := "networks." + name
		if (n.Type == "p2p" || n.Type == "vxlan") && len(ends) != 2 {
			c.atKey(p, "a %s network joins exactly two hosts; %s on %q%s", n.Type, countIfaces(len(ends)), name, endList(ends))
		}
		if n.Type == "p2p" && len(ends) == 2 && ends[0].host == ends[1].host {
			c.atKey(p, "a p2p network must join two different hosts, not %q to itself", ends[0].host)
		}
		if n.Host != "" {
			held := false
			for _, e := range ends {
				held = held || e.host == n.Host
			}
			if !held {
				c.at(p+".host", "host %q holds bridge %q but has no interface on it; add one with network: %s", n.Host, name, name)
			}
		}
		if n.Type == "vxlan" {
			if u, ok := c.f.Networks[n.Underlay]; ok && u != nil {
				for _, e := range ends {
					if !c.hasIPv4On(e.host, n.Underlay) {
						c.at(e.path, "host %q is on vxlan %q but has no IPv4 address on its underlay %q", e.host, name, n.Underlay)
					}
				}
			}
		}
		seen := map[netip.Addr]string{}
		for _, e := range ends {
			ifc := e.ifc
			for _, a := range []struct{ s, f string }{{ifc.IPv4, "ipv4"}, {ifc.IPv6, "ipv6"}} {
				pf, err := netip.ParsePrefix(a.s)
				if err != nil {
					continue
				}
				if other, dup := seen[pf.Addr()]; dup {
					c.at(e.path+"."+a.f, "address %s is already used on network %q by %s", pf.Addr(), name, other)
				}
				seen[pf.Addr()] = e.host + "/" + e.ifname
			}
		}
	}
}

// ports checks that every device the sandbox creates for a bridge has a
// name of its own in its namespace: in the lab's switch namespace the
// bridges and their ports, in a host that holds a bridge its own
// interfaces and the ports of the other hosts on that bridge.
func (c *checker) ports() {
	type device struct{ what, path string }
	spaces := map[string]map[string]device{} // "" is the switch namespace
	claim := func(space, dev string, d device) {
		if spaces[space] == nil {
			spaces[space] = map[string]device{}
		}
		if other, dup := spaces[space][dev]; dup && other.what != d.what {
			where := "the lab's switch namespace"
			if space != "" {
				where = fmt.Sprintf("host %q", space)
			}
			c.at(d.path, "%s would be named %q in %s, as %s is; rename one of them", d.what, dev, where, other.what)
			return
		}
		spaces[space][dev] = d
	}
	claim("", "lo", device{what: "the loopback lo"})
	for _, name := range ordered(c.f.Hosts, c.d.pos, "hosts") {
		for dev := range c.ifs[name] {
			claim(name, dev, device{what: fmt.Sprintf("interface %q of host %q", dev, name)})
		}
	}
	for _, name := range ordered(c.f.Networks, c.d.pos, "networks") {
		if n := c.f.Networks[name]; n.Type == "bridge" && n.Host == "" && reservedIfnames[name] == "" {
			claim("", name, device{what: fmt.Sprintf("bridge %q", name), path: "networks." + name})
		}
	}
	for _, name := range ordered(c.f.Networks, c.d.pos, "networks") {
		n := c.f.Networks[name]
		if n.Type != "bridge" {
			continue
		}
		if _, ok := c.f.Hosts[n.Host]; n.Host != "" && !ok {
			continue // reported by network
		}
		for _, e := range c.nets[name] {
			host, ifname := e.host, e.ifname
			if host == n.Host || len(ifname) > 15 {
				continue // the bridge itself, or reported by host
			}
			claim(n.Host, PortName(host, ifname), device{
				what: fmt.Sprintf("the bridge port of interface %q of host %q", ifname, host),
				path: e.path + ".name",
			})
		}
	}
}

// routeKey is what makes two routes of the main table one route for the
// kernel, which refuses the second ("file exists"): the destination and
// the metric, whatever the type or gateway. An IPv6 route without a
// metric gets 1024.
type routeKey struct {
	dst    netip.Prefix
	metric int
}

func keyOf(dst netip.Prefix, metric int) routeKey {
	if metric == 0 && dst.Addr().Is6() {
		metric = 1024
	}
	return routeKey{dst.Masked(), metric}
}

func (c *checker) routes(name string, h *HostSpec) {
	// The routes the kernel adds itself: an IPv4 address shorter than
	// /32 brings the route to its network with metric 0.
	taken := map[routeKey]string{}
	for i, ifc := range h.Interfaces {
		if pf, err := netip.ParsePrefix(ifc.IPv4); err == nil && pf.Addr().Is4() && pf.Bits() < 32 {
			taken[keyOf(pf, 0)] = fmt.Sprintf("the route Linux adds for the address of interface %q", ifaceName(c.f, name, i, ifc))
		}
	}
	for i, r := range h.Routes {
		rp := fmt.Sprintf("hosts.%s.routes[%d]", name, i)
		var dst netip.Prefix
		switch r.To {
		case "default":
			dst = netip.MustParsePrefix("0.0.0.0/0")
		case "default6":
			dst = netip.MustParsePrefix("::/0")
		case "":
		default:
			pf, err := netip.ParsePrefix(r.To)
			if err != nil {
				c.at(rp+".to", "%q is not a destination; write a CIDR such as 10.1.0.0/16, or default", r.To)
			} else if pf.Masked() != pf {
				c.at(rp+".to", "%q has host bits set; the network is %s", r.To, pf.Masked())
			}
			dst = pf
		}
		if dst.IsValid() {
			k := keyOf(dst, r.Metric)
			if first, ok := taken[k]; ok {
				c.at(rp+".to", "a route to %s with metric %d is there already (%s), and Linux refuses a second; give this one another metric, or remove one", k.dst, k.metric, first)
			} else {
				taken[k] = fmt.Sprintf("routes[%d]", i)
			}
		}
		typ := r.Type
		if typ == "" {
			typ = "unicast"
		}
		if !oneOf(typ, "unicast", "blackhole", "unreachable", "prohibit") {
			continue // reported by the decoder
		}
		if typ != "unicast" && (r.Via != "" || r.Dev != "") {
			c.at(rp, "a %s route has no gateway or device; remove via and dev", typ)
			continue
		}
		if r.Dev != "" && !c.ifs[name][r.Dev] {
			c.at(rp+".dev", "host %q has no interface %q", name, r.Dev)
		}
		if typ == "unicast" && r.Via == "" && r.Dev == "" {
			c.at(rp, "a route needs via (a gateway) or dev (an interface)")
		}
		if r.Via == "" {
			continue
		}
		gw, err := netip.ParseAddr(r.Via)
		if err != nil {
			c.at(rp+".via", "%q is not an IP address", r.Via)
			continue
		}
		if dst.IsValid() && dst.Addr().Is4() != gw.Is4() {
			c.at(rp+".via", "gateway %s and destination %s are of different IP versions", gw, dst)
			continue
		}
		if !c.onLink(h, gw) {
			c.at(rp+".via", "gateway %s is not on any network host %q is connected to; use an address inside one of its interface prefixes", gw, name)
		}
	}
}

func (c *checker) onLink(h *HostSpec, gw netip.Addr) bool {
	for _, ifc := range h.Interfaces {
		for _, s := range []string{ifc.IPv4, ifc.IPv6} {
			if pf, err := netip.ParsePrefix(s); err == nil && pf.Masked().Contains(gw) && pf.Addr() != gw {
				return true
			}
		}
	}
	return gw.Is6() && gw.IsLinkLocalUnicast()
}

func (c *checker) faults() {
	names := map[string]bool{}
	for i, f := range c.f.Faults {
		fp := fmt.Sprintf("faults[%d]", i)
		name := f.Name
		if name == "" {
			name = f.Kind
		}
		if names[name] && name != "" {
			c.at(fp+".name", "fault %q is defined twice; give each a distinct name", name)
		}
		names[name] = true
		if f.Host != "" {
			c.hostRef(fp+".host", f.Host)
		}
		c.kindParams(fp, f.Kind, &f.Params, "fault")
		for j, w := range f.Accepts {
			wp := fmt.Sprintf("%s.accepts[%d]", fp, j)
			if w.Check != nil {
				c.checkSpec(wp+".check", w.Check)
			}
		}
	}
}

// faultNames lists the scenario's fault names (a fault's name defaults
// to its kind).
func (c *checker) faultNames() map[string]bool {
	names := map[string]bool{}
	for _, f := range c.f.Faults {
		if f.Name != "" {
			names[f.Name] = true
		} else if f.Kind != "" {
			names[f.Kind] = true
		}
	}
	return names
}

func (c *checker) tasks() {
	ids := map[string]bool{}
	for i, t := range c.f.Tasks {
		tp := fmt.Sprintf("tasks[%d]", i)
		if t.ID != "" {
			c.name(tp+".id", t.ID, "task")
			if ids[t.ID] {
				c.at(tp+".id", "task %q is defined twice", t.ID)
			}
			ids[t.ID] = true
		}
		switch {
		case t.Check == nil && t.Answer == nil:
			c.atKey(tp, "a task needs a check (judged on the lab) or an answer (judged on what the learner says)")
		case t.Check != nil && t.Answer != nil:
			c.atKey(tp+".answer", "give a task either a check or an answer, not both")
		case t.Check != nil:
			c.checkSpec(tp+".check", t.Check)
		default:
			c.answer(tp+".answer", t.Answer)
		}
		if len(t.Clears) > 0 && t.Check == nil {
			c.atKey(tp+".clears", "an answer task clears nothing; only a task with a check can require faults cleared")
		}
		faults := c.faultNames()
		for j, name := range t.Clears {
			if !faults[name] {
				c.at(fmt.Sprintf("%s.clears[%d]", tp, j), "fault %q is not defined%s", name, keyList("faults are", faults))
			}
		}
	}
	for i, inv := range c.f.Invariants {
		c.checkSpec(fmt.Sprintf("invariants[%d].check", i), &inv.Check)
	}
	for i, s := range c.f.Solution {
		c.step(fmt.Sprintf("solution[%d]", i), s, ids)
	}
	for i, w := range c.f.WrongFixes {
		for j, s := range w.Steps {
			c.step(fmt.Sprintf("wrong_fixes[%d].steps[%d]", i, j), s, ids)
		}
	}
}

func (c *checker) step(p string, s Step, tasks map[string]bool) {
	switch {
	case s.Service != "" && s.Run == "" && s.Task == "":
		if s.Host == "" || s.Action == "" {
			c.atKey(p, "a service step needs host, service and action (start, stop or restart)")
			return
		}
		c.hostRef(p+".host", s.Host)
		if h := c.f.Hosts[s.Host]; h != nil {
			found := false
			for _, svc := range h.Services {
				found = found || svc.Name == s.Service
			}
			if !found {
				c.at(p+".service", "host %q runs no service %q", s.Host, s.Service)
			}
		}
	case s.Run != "" && s.Task == "":
		if s.Host == "" {
			c.atKey(p, "a step that runs a command needs host: the host it runs in")
		} else {
			c.hostRef(p+".host", s.Host)
		}
	case s.Task != "" && s.Run == "":
		if !tasks[s.Task] {
			c.at(p+".task", "task %q is not defined", s.Task)
		}
	default:
		c.atKey(p, "a step either runs a command (host, run), acts on a service (host, service, action) or answers a task (task, answer)")
	}
}

// checkSpec checks that exactly one check kind is set, that its host
// references exist and that durations parse.
func (c *checker) checkSpec(p string, ch *Check) {
	v := reflect.ValueOf(ch).Elem()
	t := v.Type()
	var set []string
	for i := 0; i < t.NumField(); i++ {
		if v.Field(i).Kind() == reflect.Pointer && !v.Field(i).IsNil() {
			name := yamlName(t.Field(i))
			set = append(set, name)
			c.hostRefs(p+"."+name, v.Field(i).Elem())
		}
	}
	if len(set) != 1 {
		c.atKey(p, "a check holds exactly one of: %s; found %d (%s)", strings.Join(checkKinds(), ", "), len(set), strings.Join(set, ", "))
	}
	if ch.Within != "" {
		if _, err := time.ParseDuration(ch.Within); err != nil {
			c.at(p+".within", "%q is not a duration such as 3s", ch.Within)
		}
	}
	if h := ch.HTTP; h != nil && h.Stall != "" {
		if d, err := time.ParseDuration(h.Stall); err != nil || d <= 0 {
			c.at(p+".http.stall", "%q is not a duration such as 1s", h.Stall)
		}
	}
	if ch.Capture != nil {
		c.checkSpec(p+".capture.during", &ch.Capture.During)
	}
	if l := ch.Listener; l != nil {
		if l.Port < 1 || l.Port > 65535 {
			c.at(p+".listener.port", "port %d is out of range; use 1 to 65535", l.Port)
		}
		if a := l.Address; a != "" && a != "*" {
			if _, err := netip.ParseAddr(a); err != nil {
				if _, ok := c.f.Hosts[a]; !ok {
					c.at(p+".listener.address", "%q is neither an address, a host of the lab nor *", a)
				}
			}
		}
	}
	if sp := ch.SameProcess; sp != nil && sp.Service != "" {
		c.serviceRef(p+".same_process.service", sp.Host, sp.Service, "")
	}
	if h := ch.HTTP; h != nil && h.Service != "" && h.Service != "none" {
		host, name, ok := strings.Cut(h.Service, "/")
		if !ok {
			c.at(p+".http.service", "%q is not HOST/NAME, such as server/web, or none", h.Service)
		} else {
			c.hostRef(p+".http.service", host)
			c.serviceRef(p+".http.service", host, name, "http")
		}
	}
}

// serviceRef checks that host runs a service of that name (and kind, when
// given).
func (c *checker) serviceRef(p, host, name, kind string) {
	h := c.f.Hosts[host]
	if h == nil {
		return // the host is reported on its own
	}
	for _, svc := range h.Services {
		if svc.Name == name {
			if kind != "" && svc.Kind != kind {
				c.at(p, "service %q on host %q is a %s service, not %s", name, host, svc.Kind, kind)
			}
			return
		}
	}
	c.at(p, "host %q runs no service %q", host, name)
}

func keyList(what string, m map[string]bool) string {
	if len(m) == 0 {
		return "; the scenario has no faults"
	}
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return "; " + what + ": " + strings.Join(names, ", ")
}

// hostRefs checks every from/host field of a check kind.
func (c *checker) hostRefs(p string, v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := yamlName(t.Field(i))
		if (name == "from" || name == "host") && v.Field(i).Kind() == reflect.String && v.Field(i).String() != "" {
			c.hostRef(p+"."+name, v.Field(i).String())
		}
	}
}

func (c *checker) answer(p string, a *Answer) {
	ways := 0
	for _, set := range []bool{a.Choice != nil, a.Number != nil, a.Pattern != "", a.Computed != "", a.Filter != nil, a.Pcap != nil, a.Correct != "" && a.Choice == nil} {
		if set {
			ways++
		}
	}
	if ways != 1 {
		c.atKey(p, "an answer is judged one way: choice+correct, correct, number, pattern, computed, filter or pcap")
	}
	if a.Choice != nil && !oneOf(a.Correct, a.Choice...) {
		c.at(p+".correct", "the correct answer %q is not one of the choices", a.Correct)
	}
	if a.Pattern != "" {
		if _, err := regexp.Compile(a.Pattern); err != nil {
			c.at(p+".pattern", "not a regular expression: %v", err)
		}
	}
	if a.Host != "" {
		c.hostRef(p+".host", a.Host)
	}
	if a.Computed != "" && a.Host == "" {
		c.atKey(p, "a computed answer needs host: where the value is read")
	}
}

func (c *checker) hostRef(p, name string) {
	if _, ok := c.f.Hosts[name]; !ok {
		c.at(p, "host %q is not defined%s", name, c.hostList())
	}
}

func (c *checker) hostList() string {
	return "; hosts are: " + strings.Join(ordered(c.f.Hosts, c.d.pos, "hosts"), ", ")
}

func (c *checker) hasIPv4On(host, network string) bool {
	h := c.f.Hosts[host]
	if h == nil {
		return false
	}
	for _, i := range h.Interfaces {
		if i.Network == network && i.IPv4 != "" {
			return true
		}
	}
	return false
}

// end is an interface on a network.
type end struct {
	host, ifname string
	path         string // hosts.HOST.interfaces[I]
	ifc          Interface
}

func endList(ends []end) string {
	if len(ends) == 0 {
		return ""
	}
	var names []string
	for _, e := range ends {
		names = append(names, e.host+"/"+e.ifname)
	}
	return " (" + strings.Join(names, ", ") + ")"
}

func netList(m map[string]*NetworkSpec) string {
	if len(m) == 0 {
		return "; no networks are defined"
	}
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return "; networks are: " + strings.Join(names, ", ")
}

func checkKinds() []string {
	t := reflect.TypeOf(Check{})
	var kinds []string
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Type.Kind() == reflect.Pointer {
			kinds = append(kinds, yamlName(t.Field(i)))
		}
	}
	return kinds
}

func oneOf(v string, options ...string) bool {
	for _, o := range options {
		if v == o {
			return true
		}
	}
	return false
}

func countIfaces(n int) string {
	if n == 1 {
		return "1 interface is"
	}
	return fmt.Sprintf("%d interfaces are", n)
}
