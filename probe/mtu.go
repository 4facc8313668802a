package probe

import (
	"fmt"
	"net/netip"
	"time"
)

// MTUOptions tune PathMTU. Zero values take the defaults.
type MTUOptions struct {
	// Max is the largest packet tried (default the MTU of the route or
	// interface towards the destination).
	Max     int
	Timeout time.Duration // per probe, default 1 s
	Retries int           // extra tries of a silent size before calling it lost, default 1
	// NoSearch reports a black hole as soon as a size vanishes, without
	// searching the largest size that still gets through (PathMTU is
	// then 0): for a caller that asks whether there is a black hole, not
	// how large the path MTU is.
	NoSearch bool
}

// MTUProbe is one don't-fragment probe: Size is the whole IP packet.
type MTUProbe struct {
	Size   int           `json:"size"`
	Result PingReplyKind `json:"result"`
	From   netip.Addr    `json:"from,omitzero"`
	MTU    int           `json:"mtu,omitempty"`
}

// MTUResult is a path MTU discovery.
type MTUResult struct {
	Target   string     `json:"target"`
	Dst      netip.Addr `json:"dst"`
	LocalMTU int        `json:"local_mtu"` // of the first link
	PathMTU  int        `json:"path_mtu"`  // the largest packet that got through
	// ReportedBy is the router whose fragmentation-needed gave the MTU;
	// zero when the MTU was found by silence alone.
	ReportedBy netip.Addr `json:"reported_by,omitzero"`
	// Blackhole is true when packets larger than PathMTU vanished with no
	// fragmentation-needed: a PMTU black hole (ICMP filtered on the way).
	Blackhole bool          `json:"blackhole"`
	Probes    []MTUProbe    `json:"probes"`
	Meaning   string        `json:"meaning"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// PathMTU discovers the path MTU to dst with don't-fragment echo requests
// (sent at full size whatever the kernel has cached, like `ping -M probe`):
// it starts at the first link's MTU, follows fragmentation-needed answers
// down, and when a size vanishes without one, searches the largest size
// that still gets an answer and reports a black hole. The destination must
// answer ping.
func PathMTU(t Target, dst netip.Addr, opt MTUOptions) (MTUResult, error) {
	start := time.Now()
	dst = dst.Unmap()
	res := MTUResult{Target: t.Name(), Dst: dst}
	if !dst.Is4() {
		return res, fmt.Errorf("path mtu to %s: only IPv4 is supported", dst)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = time.Second
	}
	if opt.Retries <= 0 {
		opt.Retries = 1
	}
	rl, err := RouteGet(t, dst)
	if err != nil {
		return res, fmt.Errorf("path mtu to %s: %w", dst, err)
	}
	// The interface's MTU: the route lookup's would be a cached path MTU.
	rep, err := Links(t)
	if err != nil {
		return res, err
	}
	l, _ := rep.Link(rl.Dev)
	res.LocalMTU = l.MTU
	hi := res.LocalMTU
	if opt.Max > 0 && opt.Max < hi {
		hi = opt.Max
	}
	probe := func(size int) (PingReply, error) {
		var r PingReply
		for try := 0; try <= opt.Retries; try++ {
			p, err := Ping(t, dst, PingOptions{Count: 1, Size: size - 28, DontFragment: true, Timeout: opt.Timeout})
			if err != nil {
				return r, err
			}
			r = p.Replies[0]
			if r.Kind != PingNothing {
				break
			}
		}
		res.Probes = append(res.Probes, MTUProbe{Size: size, Result: r.Kind, From: r.From, MTU: r.MTU})
		return r, nil
	}
	const small = 84 // a default ping
	if r, err := probe(small); err != nil {
		return res, fmt.Errorf("path mtu to %s: %w", dst, err)
	} else if r.Kind != PingEchoReply {
		res.Elapsed = time.Since(start)
		return res, fmt.Errorf("path mtu to %s: a small ping gets %s, not an echo reply; the path MTU cannot be measured", dst, r.Kind)
	}
	for steps := 0; steps < 10; steps++ {
		r, err := probe(hi)
		if err != nil {
			return res, err
		}
		switch {
		case r.Kind == PingEchoReply:
			res.PathMTU = hi
		case (r.Kind == PingFragNeeded || r.Kind == PingLocalError) && r.MTU > 0 && r.MTU < hi:
			if r.Kind == PingFragNeeded {
				res.ReportedBy = r.From
			}
			hi = r.MTU
			continue
		default:
			// Silence (or an error without an MTU): search the largest
			// size that gets an answer.
			res.Blackhole = r.Kind == PingNothing
			if res.Blackhole && opt.NoSearch {
				break
			}
			lo, top := small, hi-1
			for lo < top {
				mid := (lo + top + 1) / 2
				m, err := probe(mid)
				if err != nil {
					return res, err
				}
				if m.Kind == PingEchoReply {
					lo = mid
				} else {
					top = mid - 1
				}
			}
			res.PathMTU = lo
		}
		break
	}
	res.Meaning = pnMTUMeaning(res)
	res.Elapsed = time.Since(start)
	return res, nil
}

func pnMTUMeaning(r MTUResult) string {
	switch {
	case r.Blackhole:
		return fmt.Sprintf("PMTU black hole: packets over %d bytes vanish without an ICMP fragmentation-needed (a firewall drops it), so TCP stalls on large transfers; allow ICMP type 3 code 4, clamp the MSS, or lower the MTU", r.PathMTU)
	case r.PathMTU < r.LocalMTU:
		return fmt.Sprintf("the path is narrower (%d) than the first link (%d); %s reports it with fragmentation-needed, so PMTU discovery works", r.PathMTU, r.LocalMTU, pnOr(pnStr(r.ReportedBy), "a router"))
	}
	return fmt.Sprintf("the whole path carries %d-byte packets", r.PathMTU)
}
