package scenarios

import (
	"encoding/json"

	"go.yaml.in/yaml/v3"
)

// APIVersion is the only scenario format version this netdojo reads.
const APIVersion = "netdojo/v1"

// The raw types mirror the YAML file exactly. They are decoded strictly
// (unknown keys are errors), checked in a separate pass that collects every
// problem, and then resolved into the model in model.go. The `doc` tags feed
// the JSON schema and the format reference.

// File is a scenario file as written.
type File struct {
	APIVersion string                  `yaml:"apiVersion" doc:"Format version; must be netdojo/v1." required:"true"`
	Metadata   Metadata                `yaml:"metadata" doc:"Name, title and classification of the scenario." required:"true"`
	Story      string                  `yaml:"story" doc:"What the learner is told when the lab starts: the situation, not the answer."`
	Params     []Param                 `yaml:"params" doc:"Values drawn from a seed and substituted wherever ${name} appears in a string."`
	Hosts      map[string]*HostSpec    `yaml:"hosts" doc:"The lab's hosts, by name (1 to 32 lower-case letters, digits and dashes, starting and ending with a letter or digit); each becomes a network namespace LAB.HOST." required:"true"`
	Networks   map[string]*NetworkSpec `yaml:"networks" doc:"The links between hosts, by name: bridges (LANs), point-to-point veths and vxlan overlays."`
	Faults     []RawFault              `yaml:"faults" doc:"What is broken when the lab starts."`
	Tasks      []Task                  `yaml:"tasks" doc:"What the learner must find out or fix; each judged by a check or an answer."`
	Invariants []Invariant             `yaml:"invariants" doc:"Checks that must still pass after the fix, so that over-broad fixes fail."`
	Hints      []string                `yaml:"hints" doc:"General hints for the whole scenario, shown in order."`
	Solution   []Step                  `yaml:"solution" doc:"The reference solution: commands run inside hosts and answers given."`
	WrongFixes []WrongFix              `yaml:"wrong_fixes" doc:"Plausible fixes that must not pass: each leaves a task failing or an invariant broken."`
}

// Metadata names and classifies a scenario.
type Metadata struct {
	Name    string   `yaml:"name" doc:"Identifier: 1 to 32 lower-case letters, digits and dashes, starting and ending with a letter or digit; the default lab name." required:"true"`
	Title   string   `yaml:"title" doc:"One-line title shown by netdojo list." required:"true"`
	Level   string   `yaml:"level" doc:"beginner, intermediate or advanced." enum:"beginner,intermediate,advanced"`
	Topics  []string `yaml:"topics" doc:"Curriculum topics, such as triage, icmp, dns, sockets, tcpdump, errors, kubernetes."`
	Minutes int      `yaml:"minutes" doc:"Estimated minutes for a learner."`
}

// Param is a value drawn from the seed.
type Param struct {
	Name    string   `yaml:"name" doc:"Name used as ${name} in strings elsewhere in the file." required:"true"`
	Choice  []string `yaml:"choice" doc:"Draw one of these values."`
	Min     *int     `yaml:"min" doc:"Draw an integer from min to max inclusive (with max)."`
	Max     *int     `yaml:"max" doc:"Upper bound for an integer draw (with min)."`
	Default string   `yaml:"default" doc:"The value used when no seed is given (netdojo validate, show); defaults to the first choice or min."`
}

// HostSpec is a host as written.
type HostSpec struct {
	Interfaces []Interface       `yaml:"interfaces" doc:"The host's network interfaces, each on a network."`
	Routes     []Route           `yaml:"routes" doc:"Static routes, including the default route."`
	Sysctls    map[string]string `yaml:"sysctls" doc:"Namespace sysctls such as net.ipv4.ip_forward: \"1\"."`
	DNS        *DNS              `yaml:"dns" doc:"The host's resolver (its own /etc/resolv.conf)."`
	HostsFile  []HostsEntry      `yaml:"hosts_file" doc:"Extra lines of the host's own /etc/hosts."`
	Services   []RawService      `yaml:"services" doc:"Daemons the host runs, each its own process."`
	Setup      []string          `yaml:"setup" doc:"Shell commands run inside the host when the lab starts, after its services and before any fault: the healthy lab's firewall rules, NAT, traffic control."`
}

// Interface is one end of a network on a host.
type Interface struct {
	Name    string `yaml:"name" doc:"Interface name inside the host (at most 15 characters, not lo; see Names); defaults to eth0, eth1, ... in order, or on a bridge the host holds, the bridge's name."`
	Network string `yaml:"network" doc:"The network this interface is on." required:"true"`
	IPv4    string `yaml:"ipv4" doc:"IPv4 address with prefix length, such as 10.0.0.10/24."`
	IPv6    string `yaml:"ipv6" doc:"IPv6 address with prefix length, such as fd00::10/64."`
	MTU     int    `yaml:"mtu" doc:"MTU, 68 to 65535; defaults to the network's MTU, or 1500."`
	MAC     string `yaml:"mac" doc:"MAC address; random when omitted."`
}

// Route is a static route in a host.
type Route struct {
	To     string `yaml:"to" doc:"Destination CIDR, or default (0.0.0.0/0) or default6 (::/0)." required:"true"`
	Via    string `yaml:"via" doc:"Gateway address; must be on a network the host is connected to."`
	Dev    string `yaml:"dev" doc:"Output interface name."`
	Metric int    `yaml:"metric" doc:"Route metric (priority)."`
	Type   string `yaml:"type" doc:"unicast (default), blackhole, unreachable or prohibit." enum:"unicast,blackhole,unreachable,prohibit"`
}

// DNS is a host's resolver configuration.
type DNS struct {
	Nameservers []string `yaml:"nameservers" doc:"Resolver addresses, at most three, as glibc reads them."`
	Search      []string `yaml:"search" doc:"Search domains."`
	Options     []string `yaml:"options" doc:"resolv.conf options such as timeout:1, attempts:1, ndots:2."`
}

// HostsEntry is one /etc/hosts line.
type HostsEntry struct {
	IP    string   `yaml:"ip" doc:"Address." required:"true"`
	Names []string `yaml:"names" doc:"Host names for the address." required:"true"`
}

// RawService is a daemon run inside a host, as written; the model's
// Service holds its parameters decoded and checked.
type RawService struct {
	Name   string    `yaml:"name" doc:"Name of this service instance, unique on its host." required:"true"`
	Kind   string    `yaml:"kind" doc:"Service kind; see docs/services.md." required:"true"`
	Params yaml.Node `yaml:"params" doc:"Parameters of the kind; see docs/services.md." kind:"object"`
}

// NetworkSpec is a network as written.
type NetworkSpec struct {
	Type     string `yaml:"type" doc:"bridge (a LAN of any number of hosts), p2p (a veth between exactly two hosts) or vxlan (an overlay between two hosts over an underlay network)." enum:"bridge,p2p,vxlan" required:"true"`
	MTU      int    `yaml:"mtu" doc:"Default MTU of the network's interfaces (68 to 65535)."`
	Host     string `yaml:"host" doc:"bridge only: the host whose namespace holds the bridge (as a node holds cni0); the host's interface on this network is the bridge itself. By default bridges live in the lab's private switch namespace."`
	VNI      int    `yaml:"vni" doc:"vxlan only: the VXLAN network identifier (1 to 16777215)."`
	Underlay string `yaml:"underlay" doc:"vxlan only: the network whose IPv4 addresses carry the overlay."`
	Port     int    `yaml:"port" doc:"vxlan only: UDP port, 4789 by default."`
}

// RawFault is a fault injected when the lab starts, as written; the
// model's Fault holds its parameters decoded and checked.
type RawFault struct {
	Name   string    `yaml:"name" doc:"Name of this fault in the scenario; defaults to its kind."`
	Kind   string    `yaml:"kind" doc:"Fault kind; see docs/faults.md." required:"true"`
	Host   string    `yaml:"host" doc:"The host the fault is applied to, where the kind needs one."`
	Params yaml.Node `yaml:"params" doc:"Parameters of the kind; see docs/faults.md." kind:"object"`
	// Accepts lists the workarounds this scenario counts as clearing the
	// fault.
	Accepts []Workaround `yaml:"accepts" doc:"Workarounds the scenario accepts as clearing this fault: an entry of the adversarial catalogue that verify --adversarial must not report, or a check that, when it passes, counts the fault as cleared."`
}

// Workaround is a way around a fault that the scenario accepts.
type Workaround struct {
	Name  string `yaml:"name" doc:"An entry of the adversarial catalogue (docs/adversarial.md) the scenario accepts, or the workaround in a few words when a check is given." required:"true"`
	Check *Check `yaml:"check" doc:"When this check passes, the fault counts as cleared, whatever its own judgement says."`
}

// Task is something the learner must do or find out.
type Task struct {
	ID     string   `yaml:"id" doc:"Identifier used by netdojo check, answer and hint." required:"true"`
	Prompt string   `yaml:"prompt" doc:"What the learner is asked." required:"true"`
	Hints  []string `yaml:"hints" doc:"Progressive hints, from a nudge to almost the answer."`
	Check  *Check   `yaml:"check" doc:"Judge the task by the state of the live lab."`
	Answer *Answer  `yaml:"answer" doc:"Judge the task by what the learner answers."`
	// Clears is nil when not written: a check task then clears every
	// fault. An empty list clears none.
	Clears []string `yaml:"clears" doc:"Faults (by name) this task must clear: it passes only when its check passes and each of them is cleared where it is. Every fault of the scenario by default for a task with a check; [] for a check that clears nothing. Answer tasks clear nothing."`
}

// Invariant is a check that must hold before and after the fix.
type Invariant struct {
	Name  string `yaml:"name" doc:"What must stay true, in a few words." required:"true"`
	Check Check  `yaml:"check" doc:"The check that must pass." required:"true"`
}

// Check observes the live lab with the probe engine. Exactly one kind is set.
type Check struct {
	Reach       *ReachCheck       `yaml:"reach" doc:"TCP or UDP reachability from a host, with the expected class."`
	Ping        *PingCheck        `yaml:"ping" doc:"ICMP echo from a host."`
	DNS         *DNSCheck         `yaml:"dns" doc:"A DNS query from a host."`
	HTTP        *HTTPCheck        `yaml:"http" doc:"An HTTP request from a host."`
	Route       *RouteCheck       `yaml:"route" doc:"A route lookup (as ip route get) in a host."`
	Link        *LinkCheck        `yaml:"link" doc:"The state and MTU of an interface."`
	PathMTU     *PathMTUCheck     `yaml:"path_mtu" doc:"The path MTU from a host to an address."`
	Trace       *TraceCheck       `yaml:"trace" doc:"A traceroute from a host."`
	Sockets     *SocketsCheck     `yaml:"sockets" doc:"Counts of sockets in a host by state, port or process."`
	Rule        *RuleCheck        `yaml:"firewall" doc:"A firewall rule present or absent in a host."`
	Counter     *CounterCheck     `yaml:"counter" doc:"A kernel SNMP counter in a host."`
	Capture     *CaptureCheck     `yaml:"capture" doc:"While a probe runs, a packet is or is not seen on an interface."`
	Listener    *ListenerCheck    `yaml:"listener" doc:"A listening socket on a port of a host, and the address it is bound to."`
	SameProcess *SameProcessCheck `yaml:"same_process" doc:"A service's process is still the one that ran when the lab started (same PID, never restarted)."`
	Within      string            `yaml:"within" doc:"Settle window: retry until the check passes or this time passes (default 3s)."`
}

// ReachCheck expects a reachability class.
type ReachCheck struct {
	From   string `yaml:"from" doc:"Host the connection starts from." required:"true"`
	To     string `yaml:"to" doc:"Destination address, or a host name (its first IPv4 address)." required:"true"`
	Port   int    `yaml:"port" doc:"Destination port." required:"true"`
	Proto  string `yaml:"proto" doc:"tcp (default) or udp." enum:"tcp,udp"`
	Expect string `yaml:"expect" doc:"Expected class (blocked-locally: the sending host's own firewall drops the packet, sendto fails with EPERM; refused is either refused-rst or refused-icmp; unreachable is any of the unreachable classes)." enum:"open,refused,refused-rst,refused-icmp,filtered,host-unreachable,net-unreachable,prohibited,no-route,addr-unavailable,blocked-locally,unreachable" required:"true"`
}

// PingCheck expects echo replies, or none.
type PingCheck struct {
	From     string `yaml:"from" doc:"Host that pings." required:"true"`
	To       string `yaml:"to" doc:"Destination address or host name." required:"true"`
	Size     int    `yaml:"size" doc:"ICMP payload size (1472 fills a 1500-byte packet)."`
	DontFrag bool   `yaml:"dont_fragment" doc:"Set the don't-fragment bit."`
	Expect   string `yaml:"expect" doc:"reply (default), no-reply, unreachable, time-exceeded or frag-needed." enum:"reply,no-reply,unreachable,time-exceeded,frag-needed"`
}

// DNSCheck expects an answer from a DNS query.
type DNSCheck struct {
	From       string   `yaml:"from" doc:"Host that queries." required:"true"`
	Name       string   `yaml:"name" doc:"Name to query." required:"true"`
	Type       string   `yaml:"type" doc:"Record type, A by default."`
	Server     string   `yaml:"server" doc:"Server address; the host's resolv.conf when omitted."`
	Rcode      string   `yaml:"rcode" doc:"Expected rcode: NOERROR (default), NXDOMAIN, SERVFAIL, REFUSED, or timeout."`
	Answers    []string `yaml:"answers" doc:"Values the answer must contain, such as 10.0.0.10."`
	MaxLatency string   `yaml:"max_latency" doc:"The answer must come within this time, such as 200ms."`
	Via        string   `yaml:"via" doc:"The resolver the answer must come through: the query uses the host's own resolv.conf, as its programs do, and passes only when this server (an address or a host) answered. Unlike server, the host's configuration is judged too."`
}

// HTTPCheck expects an HTTP status.
type HTTPCheck struct {
	From   string `yaml:"from" doc:"Host that requests." required:"true"`
	URL    string `yaml:"url" doc:"URL to get." required:"true"`
	Status int    `yaml:"status" doc:"Expected status code, 200 by default."`
	Within string `yaml:"timeout" doc:"Request timeout, 1.5s by default; a failed connection is then classified within what is left of it."`
	Stall  string `yaml:"stall" doc:"Fail as soon as no byte has come from the server for this long (a download that stops, as behind a path MTU black hole), instead of waiting out the timeout. Off by default: set it only where the service answers at once."`
	// Service names the scenario service whose answer is expected.
	Service string `yaml:"service" doc:"The scenario service that must answer, as HOST/NAME: the body must be the one it is configured with. By default an expected 2xx answer must be the body of one of the scenario's http services on the URL's port (or of any http service, behind a proxy); none to accept any body."`
	Body    string `yaml:"body" doc:"A string the body must contain, instead of the service's configured body."`
}

// RouteCheck expects a route lookup result.
type RouteCheck struct {
	Host   string `yaml:"host" doc:"Host whose routing table is asked." required:"true"`
	To     string `yaml:"to" doc:"Destination address." required:"true"`
	Dev    string `yaml:"dev" doc:"Expected output interface."`
	Via    string `yaml:"via" doc:"Expected gateway."`
	Expect string `yaml:"expect" doc:"routed (default) or unreachable." enum:"routed,unreachable"`
}

// LinkCheck expects an interface state.
type LinkCheck struct {
	Host string `yaml:"host" doc:"Host of the interface." required:"true"`
	Dev  string `yaml:"dev" doc:"Interface name." required:"true"`
	Up   *bool  `yaml:"up" doc:"Expected administrative and operational state."`
	MTU  int    `yaml:"mtu" doc:"Expected MTU."`
}

// PathMTUCheck expects a path MTU.
type PathMTUCheck struct {
	From string `yaml:"from" doc:"Host that probes." required:"true"`
	To   string `yaml:"to" doc:"Destination address or host name." required:"true"`
	MTU  int    `yaml:"mtu" doc:"Expected path MTU."`
	// BlackHole true expects big packets to vanish without fragmentation-needed.
	BlackHole *bool `yaml:"black_hole" doc:"Expect (true) or rule out (false) a PMTU black hole."`
}

// TraceCheck expects something of a traceroute.
type TraceCheck struct {
	From        string `yaml:"from" doc:"Host that traces." required:"true"`
	To          string `yaml:"to" doc:"Destination address or host name." required:"true"`
	Mode        string `yaml:"mode" doc:"udp (default), icmp or tcp." enum:"udp,icmp,tcp"`
	SilentHops  *bool  `yaml:"silent_hops" doc:"Expect (true) or rule out (false) hops that send no time-exceeded."`
	Reaches     *bool  `yaml:"reaches" doc:"Expect the destination to answer."`
	HopAddress  string `yaml:"hop_address" doc:"An address that must appear as a hop."`
	HopPosition int    `yaml:"hop" doc:"The hop number hop_address must have."`
}

// SocketsCheck counts sockets.
type SocketsCheck struct {
	Host    string `yaml:"host" doc:"Host whose sockets are read." required:"true"`
	State   string `yaml:"state" doc:"TCP state such as listen, established, close-wait, time-wait."`
	Port    int    `yaml:"port" doc:"Local port."`
	Process string `yaml:"process" doc:"Owning process name."`
	Proto   string `yaml:"proto" doc:"tcp (default) or udp." enum:"tcp,udp"`
	Min     *int   `yaml:"min" doc:"At least this many."`
	Max     *int   `yaml:"max" doc:"At most this many."`
}

// RuleCheck expects a firewall rule to be present or absent.
type RuleCheck struct {
	Host    string `yaml:"host" doc:"Host whose firewall is read." required:"true"`
	Table   string `yaml:"table" doc:"iptables table, filter by default."`
	Chain   string `yaml:"chain" doc:"Chain name." required:"true"`
	Rule    string `yaml:"rule" doc:"Rule in iptables -S form without the -A CHAIN prefix, such as '-p tcp --dport 23 -j DROP'."`
	Policy  string `yaml:"policy" doc:"Expected chain policy (ACCEPT or DROP)."`
	Present *bool  `yaml:"present" doc:"Rule expected present (default true) or absent."`
}

// CounterCheck bounds a kernel counter.
type CounterCheck struct {
	Host string `yaml:"host" doc:"Host whose counters are read." required:"true"`
	Name string `yaml:"name" doc:"Counter as nstat names it, such as TcpExtIPReversePathFilter." required:"true"`
	Min  *int64 `yaml:"min" doc:"At least this value."`
	Max  *int64 `yaml:"max" doc:"At most this value."`
}

// CaptureCheck watches an interface while a probe runs.
type CaptureCheck struct {
	Host   string `yaml:"host" doc:"Host of the interface." required:"true"`
	Dev    string `yaml:"dev" doc:"Interface to capture on." required:"true"`
	Filter string `yaml:"filter" doc:"tcpdump filter for the packet looked for." required:"true"`
	During Check  `yaml:"during" doc:"The probe that generates the traffic." required:"true"`
	Seen   bool   `yaml:"seen" doc:"Whether a matching packet must be seen (true) or must not (false)."`
}

// ListenerCheck expects a listening socket bound to an address.
type ListenerCheck struct {
	Host    string `yaml:"host" doc:"Host whose sockets are read." required:"true"`
	Port    int    `yaml:"port" doc:"Local port." required:"true"`
	Proto   string `yaml:"proto" doc:"tcp (default) or udp." enum:"tcp,udp"`
	Address string `yaml:"address" doc:"The address the listener must be bound to: an address, a host name of the scenario (its first IPv4 address), or * for every address (0.0.0.0 or ::). Any address when left out."`
	Process string `yaml:"process" doc:"Owning process name the listener must have."`
	Present *bool  `yaml:"present" doc:"A listener expected (default true) or none."`
}

// SameProcessCheck expects a service never to have been restarted.
type SameProcessCheck struct {
	Host    string `yaml:"host" doc:"Host of the service." required:"true"`
	Service string `yaml:"service" doc:"The service, by its name in the scenario." required:"true"`
}

// Answer is judged on what the learner says.
type Answer struct {
	Choice    []string      `yaml:"choice" doc:"The options offered; the learner picks one."`
	Correct   string        `yaml:"correct" doc:"The correct option, or exact value."`
	Number    *float64      `yaml:"number" doc:"A numeric answer."`
	Tolerance float64       `yaml:"tolerance" doc:"Allowed distance from number."`
	Pattern   string        `yaml:"pattern" doc:"A regular expression the answer must match."`
	Computed  string        `yaml:"computed" doc:"A value computed from the live lab when checked: pid-of-port, path-mtu, silent-hop, close-wait-process." enum:"pid-of-port,path-mtu,silent-hop,close-wait-process"`
	Host      string        `yaml:"host" doc:"Host the computed value is read in."`
	Port      int           `yaml:"port" doc:"Port for pid-of-port."`
	To        string        `yaml:"to" doc:"Destination for path-mtu and silent-hop."`
	Filter    *FilterAnswer `yaml:"filter" doc:"The answer is a tcpdump filter, judged by what it captures from reference traffic."`
	Pcap      *PcapAnswer   `yaml:"pcap" doc:"The answer is a pcap file, judged by what it proves."`
}

// FilterAnswer judges a tcpdump filter against reference traffic.
type FilterAnswer struct {
	Traffic string `yaml:"traffic" doc:"Reference traffic the filter is run over: web-mix (HTTP GET and POST with handshakes and closes, a reset on 443, DNS, ICMP) or syn-flood (web-mix plus SYNs from many sources, some answered)." enum:"web-mix,syn-flood" required:"true"`
	Want    string `yaml:"want" doc:"The packets the filter must select, and only those." enum:"syn-any,syn-only,syn-not-synack,syn-or-fin,http-get,http-post,http,https,web,dns,dns-queries,icmp,rst" required:"true"`
}

// PcapAnswer judges a capture file.
type PcapAnswer struct {
	Proves string `yaml:"proves" doc:"What the capture must show." enum:"syn-no-synack,frag-needed-missing,dns-no-answer,rst" required:"true"`
	Host   string `yaml:"host" doc:"Address the evidence must concern."`
}

// Step is one step of a solution or wrong fix.
type Step struct {
	Host    string `yaml:"host" doc:"Host the command runs in, or whose service the step acts on."`
	Run     string `yaml:"run" doc:"Shell command run inside the host (sh -c)."`
	Service string `yaml:"service" doc:"A service of the host to stop, start or restart with its scenario configuration, as 'netdojo service' (a learner's systemctl) does."`
	Action  string `yaml:"action" doc:"What to do with the service." enum:"start,stop,restart"`
	Task    string `yaml:"task" doc:"Task answered by this step."`
	Answer  string `yaml:"answer" doc:"The answer given to the task; ${computed} uses the live value."`
}

// WrongFix is a plausible fix that must not pass.
type WrongFix struct {
	Name  string `yaml:"name" doc:"What the wrong fix does, in a few words." required:"true"`
	Steps []Step `yaml:"steps" doc:"The commands of the wrong fix." required:"true"`
}

// MarshalJSON writes the parameters as the values they hold (show -o
// json), not as a YAML node.
func (s RawService) MarshalJSON() ([]byte, error) {
	type plain RawService
	return json.Marshal(struct {
		plain
		Params any
	}{plain(s), nodeValue(&s.Params)})
}

// MarshalJSON writes the parameters as the values they hold.
func (f RawFault) MarshalJSON() ([]byte, error) {
	type plain RawFault
	return json.Marshal(struct {
		plain
		Params any
	}{plain(f), nodeValue(&f.Params)})
}

// nodeValue is what a params node holds, as plain values; nil for none.
func nodeValue(n *yaml.Node) any {
	var v any
	if n.Kind == 0 || n.Decode(&v) != nil {
		return nil
	}
	return v
}
