// Path impairments: packet-loss, latency, jitter and bandwidth-limit.

package faults

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
	"github.com/vishvananda/netlink"
)

func packetLossKind() Kind {
	return kind(Spec[*LossParams]{
		Name: "packet-loss", Layer: LayerTransport, NeedsHost: true,
		Summary: "The host drops a random share of packets (iptables statistic match, and ip6tables on a dual-stack host unless it names an address), as a bad link would.",
		Symptom: "`ping -c 20 ADDR` prints \"N packets transmitted, M received, X% packet loss\" with X around the " +
			"configured probability (twice it for a round trip when INPUT and OUTPUT both drop); TCP stays " +
			"correct but slow, and `ss -ti` shows retrans growing.",
		Fix: "Find the DROP rule with the statistic match (`iptables -L CHAIN -n -v` shows \"statistic mode random " +
			"probability P\") and delete it: `iptables -D CHAIN NUMBER`. On a real network, look for the bad link.",
		Apply: applyLoss, Revert: revertLoss, Observe: observeLoss, Cleared: clearedLoss,
	})
}

// --- loss, delay, rate -----------------------------------------------------

// LossParams are the parameters of packet-loss.
type LossParams struct {
	Chain       string  `yaml:"chain,omitempty" json:"chain,omitempty" doc:"INPUT (packets the host receives, default), OUTPUT (packets it sends) or FORWARD (packets it routes)."`
	Probability float64 `yaml:"probability,omitempty" json:"probability,omitempty" doc:"Share of matching packets dropped, above 0 and below 1 (default 0.3)."`
	Source      string  `yaml:"source,omitempty" json:"source,omitempty" doc:"Drop only packets from this address or CIDR."`
	Destination string  `yaml:"destination,omitempty" json:"destination,omitempty" doc:"Drop only packets to this address or CIDR."`
	To          string  `yaml:"to,omitempty" json:"to,omitempty" doc:"Address the probe pings from the host (default: a host that shares a network with it)."`
}

// Check implements Params.
func (p *LossParams) Check() error {
	if err := scenarios.CheckOneOf("chain", &p.Chain, "INPUT", true, "INPUT", "OUTPUT", "FORWARD"); err != nil {
		return err
	}
	if p.Probability == 0 {
		p.Probability = 0.3
	}
	if p.Probability <= 0 || p.Probability >= 1 {
		return scenarios.FieldErrorf("probability", "%g is out of range; give more than 0 and less than 1, such as 0.3", p.Probability)
	}
	for _, f := range []struct{ name, v string }{{"source", p.Source}, {"destination", p.Destination}} {
		if err := scenarios.CheckAddrOrCIDR(f.name, f.v); err != nil {
			return err
		}
	}
	if _, err := scenarios.CheckIP("to", p.To, "10.0.1.10"); err != nil {
		return err
	}
	return nil
}

func (p *LossParams) rulespec() []string {
	var spec []string
	if p.Source != "" {
		spec = append(spec, "-s", p.Source)
	}
	if p.Destination != "" {
		spec = append(spec, "-d", p.Destination)
	}
	return append(spec, "-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(p.Probability, 'f', -1, 64), "-j", "DROP")
}

func applyLoss(ctx context.Context, e *Env, p *LossParams) error {
	return e.ruleBothFamilies(p.Chain, p.rulespec(), p.Source == "" && p.Destination == "", true)
}

func revertLoss(ctx context.Context, e *Env, p *LossParams) error {
	return e.ruleBothFamilies(p.Chain, p.rulespec(), p.Source == "" && p.Destination == "", false)
}

// lossProbes is how many echo requests the loss probe sends: with a 0.3
// drop probability, all 40 come back with a chance of 0.7^40, about 6e-7.
const lossProbes = 40

func observeLoss(ctx context.Context, e *Env, p *LossParams) error {
	to, err := e.pingTarget(p.To)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	res, err := probe.Ping(ns, to, probe.PingOptions{Count: lossProbes, Interval: 5 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		return err
	}
	if res.Received == res.Sent {
		return fmt.Errorf("all %d pings from host %q to %s came back", res.Sent, e.Host, to)
	}
	return nil
}

// clearedLoss wants no rule of the host's firewall to throw away the
// packets of a burst (by the counters), and no random-drop rule left in
// the chain the fault used, for traffic the burst does not cross.
func clearedLoss(ctx context.Context, e *Env, p *LossParams) error {
	ns, _, grown, err := e.rulesGrownByPings(p.To, probe.PingOptions{Count: 20, Interval: 5 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		return err
	}
	for _, g := range grown {
		if g.discards() {
			return errors.New("a firewall rule still throws away some of the packets of a burst of pings")
		}
	}
	for _, v6 := range []bool{false, true} {
		if v6 && !e.hasIPv6() {
			continue
		}
		rep, err := probe.Firewall(ns, v6, "filter", p.Chain)
		if err != nil {
			return err
		}
		if c, ok := rep.Chain(p.Chain); ok {
			for _, r := range c.Rules {
				if r.Target == "DROP" && strings.Contains(r.Spec, "statistic") {
					return errors.New("a firewall rule still throws away a share of the packets it handles")
				}
			}
		}
	}
	return nil
}

func latencyKind() Kind {
	return delayKind("latency", "Packets the host sends are held for a fixed delay (an NFQUEUE delayer; the kernel has no netem).",
		"`ping ADDR` RTTs rise by about the delay (rtt min/avg/max all shifted up); every TCP handshake "+
			"and request takes that much longer; nothing is lost.", "100ms", "")
}

func jitterKind() Kind {
	return delayKind("jitter", "Packets the host sends are held for a random delay around a mean (an NFQUEUE delayer), so delay varies and packets may reorder.",
		"`ping ADDR` RTTs spread: rtt min/avg/max/mdev shows max far above min and a large mdev; "+
			"tcpdump may show packets out of order.", "50ms", "40ms")
}

// DelayParams are the parameters of latency and jitter.
type DelayParams struct {
	Delay       string `yaml:"delay,omitempty" json:"delay,omitempty" doc:"How long each packet is held, such as \"100ms\"."`
	Jitter      string `yaml:"jitter,omitempty" json:"jitter,omitempty" doc:"Random variation, up to this much either way, around the delay, such as \"20ms\"."`
	Destination string `yaml:"destination,omitempty" json:"destination,omitempty" doc:"Delay only packets to this address or CIDR (default: every packet the host sends)."`
	Queue       int    `yaml:"queue,omitempty" json:"queue,omitempty" doc:"NFQUEUE number used in the host (default 7 for latency, 8 for jitter); change it only to stack two delays on one host."`
	To          string `yaml:"to,omitempty" json:"to,omitempty" doc:"Address the probe pings from the host (default: a host that shares a network with it)."`

	defDelay, defJitter string
	defQueue            int
	delay, jitter       time.Duration
}

// Check implements Params.
func (p *DelayParams) Check() error {
	var err error
	if p.Delay == "" {
		p.Delay = p.defDelay
	}
	if p.delay, err = scenarios.CheckDuration("delay", p.Delay, 0); err != nil {
		return err
	}
	if p.Jitter == "" {
		p.Jitter = p.defJitter
	}
	if p.Jitter != "" {
		if p.jitter, err = scenarios.CheckDuration("jitter", p.Jitter, 0); err != nil {
			return err
		}
	}
	if p.jitter > p.delay {
		return scenarios.FieldErrorf("jitter", "%s is more than the delay %s; a packet cannot leave before it was sent", p.Jitter, p.Delay)
	}
	if p.delay == 0 || p.delay > 10*time.Second {
		return scenarios.FieldErrorf("delay", "%q is out of range; give more than 0 and at most 10s, such as \"100ms\"", p.Delay)
	}
	if err := scenarios.CheckAddrOrCIDR("destination", p.Destination); err != nil {
		return err
	}
	if err := scenarios.CheckRange("queue", &p.Queue, p.defQueue, 1, 65535); err != nil {
		return err
	}
	if _, err := scenarios.CheckIP("to", p.To, "10.0.1.10"); err != nil {
		return err
	}
	return nil
}

func (p *DelayParams) rulespec() []string {
	var spec []string
	if p.Destination != "" {
		spec = append(spec, "-d", p.Destination)
	}
	return append(spec, "-j", "NFQUEUE", "--queue-num", strconv.Itoa(p.Queue), "--queue-bypass")
}

func (p *DelayParams) processName() string { return fmt.Sprintf("delayer-q%d", p.Queue) }

func delayKind(name, summary, symptom, delay, jitter string) Kind {
	queue := 7
	if jitter != "" {
		queue = 8
	}
	return kind(Spec[*DelayParams]{
		Name: name, Layer: LayerTransport, NeedsHost: true,
		Summary: summary,
		Symptom: symptom + " `iptables -L OUTPUT -n -v` shows an NFQUEUE rule (\"NFQUEUE num N bypass\") and " +
			"`ss -p` or `ps` the nfqd process that serves it.",
		Fix: "Delete the NFQUEUE rule (`iptables -D OUTPUT NUMBER`) and stop the process that holds the packets; " +
			"on a real network, find the slow or congested hop with `mtr` or `traceroute`.",
		New: func() *DelayParams {
			return &DelayParams{defDelay: delay, defJitter: jitter, defQueue: queue}
		},
		Apply: applyDelay, Revert: revertDelay, Cleared: clearedDelay,
		Observe: func(ctx context.Context, e *Env, p *DelayParams) error {
			return observeDelay(ctx, e, p, jitter != "")
		},
	})
}

func applyDelay(ctx context.Context, e *Env, p *DelayParams) error {
	delayer := map[string]any{"queue": p.Queue, "delay": p.Delay, "jitter": p.Jitter}
	if err := services.RunHelper(ctx, e.Lab, e.Host, p.processName(), "delayer", delayer); err != nil {
		return err
	}
	return e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
		return ipt.InsertUnique("filter", "OUTPUT", 1, p.rulespec()...)
	})
}

func revertDelay(ctx context.Context, e *Env, p *DelayParams) error {
	err := e.IPTables("", iptables.ProtocolIPv4, func(ipt *iptables.IPTables) error {
		return ipt.DeleteIfExists("filter", "OUTPUT", p.rulespec()...)
	})
	return errors.Join(err, e.stopProcess(p.processName()))
}

// delayProbes is how many echo requests the delay probe sends. With a
// jitter of J, 20 uniform delays spread over less than J with a chance of
// about 20 * 2^-19, 4e-5.
const delayProbes = 20

func observeDelay(ctx context.Context, e *Env, p *DelayParams, jitter bool) error {
	to, err := e.pingTarget(p.To)
	if err != nil {
		return err
	}
	ns, err := e.Netns("")
	if err != nil {
		return err
	}
	res, err := probe.Ping(ns, to, probe.PingOptions{Count: delayProbes, Interval: 5 * time.Millisecond, Timeout: p.delay + p.jitter + time.Second})
	if err != nil {
		return err
	}
	if res.Received < delayProbes/2 {
		return fmt.Errorf("only %d of %d pings from host %q to %s came back", res.Received, res.Sent, e.Host, to)
	}
	lo, hi := res.MinRTT, res.MaxRTT
	if jitter {
		if hi-lo < p.jitter {
			return fmt.Errorf("ping RTTs from host %q to %s spread over %s (min %s, max %s); jitter of %s spreads them wider", e.Host, to, hi-lo, lo, hi, p.Jitter)
		}
		return nil
	}
	if lo < p.delay*7/10 {
		return fmt.Errorf("the shortest ping RTT from host %q to %s is %s; a delay of %s makes it at least %s", e.Host, to, lo, p.Delay, p.delay*7/10)
	}
	return nil
}

// clearedDelay wants no queue rule of the host to hold its packets: by
// the counters under a few pings, and by the chain for others.
func clearedDelay(ctx context.Context, e *Env, p *DelayParams) error {
	ns, to, grown, err := e.rulesGrownByPings(p.To, probe.PingOptions{Count: 3, Interval: 5 * time.Millisecond, Timeout: p.delay + p.jitter + time.Second})
	if err != nil {
		return err
	}
	for _, g := range grown {
		if g.Target == "NFQUEUE" {
			return errors.New("packets are still handed to a program that holds them before they leave")
		}
	}
	rep, err := probe.Firewall(ns, to.Is6(), "filter", "OUTPUT")
	if err != nil {
		return err
	}
	if c, ok := rep.Chain("OUTPUT"); ok {
		for _, r := range c.Rules {
			if r.Target == "NFQUEUE" && strings.Contains(r.Spec, fmt.Sprintf("--queue-num %d", p.Queue)) {
				return errors.New("some packets are still handed to a program that holds them before they leave")
			}
		}
	}
	return nil
}

func bandwidthLimitKind() Kind {
	return kind(Spec[*BandwidthParams]{
		Name: "bandwidth-limit", Layer: LayerTransport, NeedsHost: true,
		Summary: "A token-bucket qdisc (tc tbf) on one of the host's interfaces caps the rate it sends at.",
		Symptom: "Small requests and ping are fine; a large transfer sent through the interface is slow: " +
			"`curl -o /dev/null -w '%{speed_download}\\n' URL` reports about the configured rate. " +
			"`tc -s qdisc show dev IF` shows the tbf with its rate and growing \"overlimits\".",
		Fix:   "Remove the shaper: `tc qdisc del dev IF root` (or raise its rate).",
		Apply: applyBandwidth, Revert: revertBandwidth, Observe: observeBandwidth, Cleared: clearedBandwidth,
	})
}

// BandwidthParams are the parameters of bandwidth-limit.
type BandwidthParams struct {
	Interface string `yaml:"interface,omitempty" json:"interface,omitempty" doc:"Interface whose outgoing traffic is shaped (default the host's first)."`
	Rate      string `yaml:"rate,omitempty" json:"rate,omitempty" doc:"Rate in tc's units, such as \"1mbit\" or \"500kbit\" (default 1mbit)."`
	Burst     string `yaml:"burst,omitempty" json:"burst,omitempty" doc:"Bucket size in tc's units (default 32kbit)."`
	Latency   string `yaml:"latency,omitempty" json:"latency,omitempty" doc:"Longest a packet may wait in the bucket before it is dropped (default 400ms)."`
}

// Check implements Params.
func (p *BandwidthParams) Check() error {
	if p.Rate == "" {
		p.Rate = "1mbit"
	}
	if p.Burst == "" {
		p.Burst = "32kbit"
	}
	if p.Latency == "" {
		p.Latency = "400ms"
	}
	if _, err := parseRate(p.Rate); err != nil {
		return scenarios.FieldErrorf("rate", "%v", err)
	}
	if _, err := parseRate(p.Burst); err != nil {
		return scenarios.FieldErrorf("burst", "%v", err)
	}
	if _, err := scenarios.CheckDuration("latency", p.Latency, 0); err != nil {
		return err
	}
	return nil
}

// parseRate reads a tc rate ("1mbit", "500kbit", "10mbps") in bits per second.
func parseRate(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bit", 1}, {"bps", 8}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(strings.ToLower(s), u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v <= 0 {
				break
			}
			return uint64(v * u.mult), nil
		}
	}
	return 0, fmt.Errorf("%q is not a rate; write it as tc does, such as \"1mbit\" or \"500kbit\"", s)
}

func (e *Env) shapedInterface(p *BandwidthParams) (string, error) {
	if p.Interface != "" {
		return p.Interface, nil
	}
	h := e.ScenarioHost()
	if h == nil || len(h.Interfaces) == 0 {
		return "", fmt.Errorf("host %q has no interface to shape", e.Host)
	}
	return h.Interfaces[0].Name, nil
}

// shaperQdiscs lists the qdiscs of the interface the fault shapes,
// through a netlink handle in the host.
func (e *Env) shaperQdiscs(p *BandwidthParams) (string, []netlink.Qdisc, error) {
	dev, err := e.shapedInterface(p)
	if err != nil {
		return "", nil, err
	}
	h, err := e.handle()
	if err != nil {
		return "", nil, err
	}
	defer h.Close()
	link, err := h.LinkByName(dev)
	if err != nil {
		return "", nil, fmt.Errorf("interface %q of host %q: %w", dev, e.Host, err)
	}
	qdiscs, err := h.QdiscList(link)
	if err != nil {
		return "", nil, fmt.Errorf("listing qdiscs of %q on host %q: %w", dev, e.Host, err)
	}
	return dev, qdiscs, nil
}

func applyBandwidth(ctx context.Context, e *Env, p *BandwidthParams) error {
	dev, err := e.shapedInterface(p)
	if err != nil {
		return err
	}
	_, err = e.Run(ctx, "", "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", p.Rate, "burst", p.Burst, "latency", p.Latency)
	return err
}

func revertBandwidth(ctx context.Context, e *Env, p *BandwidthParams) error {
	dev, err := e.shapedInterface(p)
	if err != nil {
		return err
	}
	if err := observeBandwidth(ctx, e, p); err != nil {
		return nil // no shaper left to remove
	}
	_, err = e.Run(ctx, "", "tc", "qdisc", "del", "dev", dev, "root")
	return err
}

// observeBandwidth finds the token bucket at the root of the interface,
// through a netlink handle in the host, with a rate at most the one asked.
func observeBandwidth(ctx context.Context, e *Env, p *BandwidthParams) error {
	dev, qdiscs, err := e.shaperQdiscs(p)
	if err != nil {
		return err
	}
	want, _ := parseRate(p.Rate)
	for _, q := range qdiscs {
		tbf, ok := q.(*netlink.Tbf)
		if !ok || q.Attrs().Parent != netlink.HANDLE_ROOT {
			continue
		}
		if got := tbf.Rate * 8; got <= want*101/100 {
			return nil
		}
		return fmt.Errorf("the tbf on %q of host %q shapes to %d bit/s, above %s", dev, e.Host, tbf.Rate*8, p.Rate)
	}
	return fmt.Errorf("interface %q of host %q has no token bucket shaper at its root", dev, e.Host)
}

func clearedBandwidth(ctx context.Context, e *Env, p *BandwidthParams) error {
	if observeBandwidth(ctx, e, p) == nil {
		return errors.New("an interface still sends no faster than a slow link would")
	}
	_, qdiscs, err := e.shaperQdiscs(p)
	if err != nil {
		return err
	}
	for _, q := range qdiscs {
		if _, ok := q.(*netlink.Htb); ok && q.Attrs().Parent == netlink.HANDLE_ROOT {
			return errors.New("an interface still sends through a shaper")
		}
	}
	return nil
}
