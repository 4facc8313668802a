package board

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/netdojo/netdojo/drill"
)

// The pictures are drawn on the server, in one place, for the live board
// and the report alike. They carry their own <style> (colours from CSS
// variables with dark defaults, so a light page can override them), a
// <title> on every element and text labels, so no state is shown by
// colour alone.

const topoStyle = `<style>
.topo-bg{fill:var(--topo-bg,#0d1520)}
.topo-host rect{fill:var(--topo-host,#172434);stroke:var(--topo-line,#5b7a99);stroke-width:1.5}
.topo-host .name{fill:var(--topo-text,#e6edf3);font:600 17px system-ui,sans-serif}
.topo-host .addr{fill:var(--topo-dim,#9fb3c8);font:13px ui-monospace,monospace}
.topo-net rect{fill:var(--topo-net,#21364d);stroke:var(--topo-line,#5b7a99);stroke-width:1.5}
.topo-net text{fill:var(--topo-text,#e6edf3);font:600 15px system-ui,sans-serif}
.topo-link line{stroke:var(--topo-line,#5b7a99);stroke-width:2}
.topo-link text{fill:var(--topo-dim,#9fb3c8);font:13px ui-monospace,monospace}
.topo-host.broken rect{stroke:var(--topo-bad,#ff5d5d);stroke-width:3;stroke-dasharray:6 3;fill:var(--topo-bad-bg,#3a1618)}
.topo-link.broken line{stroke:var(--topo-bad,#ff5d5d);stroke-width:3;stroke-dasharray:7 4}
.topo-link.broken text,.topo-host .badge{fill:var(--topo-bad,#ff5d5d);font:700 13px system-ui,sans-serif}
.topo-empty{fill:var(--topo-dim,#9fb3c8);font:14px system-ui,sans-serif}
</style>`

type topoNode struct {
	name   string
	isNet  bool
	host   *drill.TopoHost // nil for a network
	level  int
	x, y   float64 // top-left
	w, h   float64
	nbrs   []*topoNode
	column int
}

const (
	hostW    = 170.0
	netW     = 140.0
	netH     = 36.0
	colStep  = 230.0
	margin   = 24.0
	maxAddrs = 3
)

func hostHeight(h *drill.TopoHost) float64 {
	n := min(len(h.Addrs), maxAddrs)
	ht := 38 + 17*float64(n)
	if h.Broken {
		ht += 17
	}
	return ht
}

// layoutTopology places hosts and networks in columns by their distance
// from the first host (host, network, host, ...), each connected part of
// the lab below the previous one. Every link joins neighbouring columns.
func layoutTopology(t *drill.Topology) (nodes []*topoNode, width, height float64) {
	hosts := map[string]*topoNode{}
	nets := map[string]*topoNode{}
	var order []*topoNode
	for i := range t.Hosts {
		h := &t.Hosts[i]
		if _, ok := hosts[h.Name]; ok {
			continue
		}
		n := &topoNode{name: h.Name, host: h, w: hostW, h: hostHeight(h)}
		hosts[h.Name] = n
		order = append(order, n)
	}
	for _, l := range t.Links {
		hn, ok := hosts[l.Host]
		if !ok { // a link to a host the topology does not list
			hn = &topoNode{name: l.Host, host: &drill.TopoHost{Name: l.Host}, w: hostW}
			hn.h = hostHeight(hn.host)
			hosts[l.Host] = hn
			order = append(order, hn)
		}
		nn, ok := nets[l.Network]
		if !ok {
			nn = &topoNode{name: l.Network, isNet: true, w: netW, h: netH}
			nets[l.Network] = nn
		}
		if !contains(hn.nbrs, nn) {
			hn.nbrs = append(hn.nbrs, nn)
			nn.nbrs = append(nn.nbrs, hn)
		}
	}
	rowH := 70.0
	for _, n := range order {
		rowH = max(rowH, n.h+26)
	}

	seen := map[*topoNode]bool{}
	top := margin
	width = 2 * margin
	for _, start := range order {
		if seen[start] {
			continue
		}
		// Breadth first from start: columns by distance.
		var cols [][]*topoNode
		queue := []*topoNode{start}
		seen[start] = true
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for len(cols) <= n.level {
				cols = append(cols, nil)
			}
			n.column = len(cols[n.level])
			cols[n.level] = append(cols[n.level], n)
			for _, m := range n.nbrs {
				if !seen[m] {
					seen[m] = true
					m.level = n.level + 1
					queue = append(queue, m)
				}
			}
		}
		// One barycentre pass: order each column by its neighbours'
		// places in the column before it, to uncross lines.
		for c := 1; c < len(cols); c++ {
			bary := map[*topoNode]float64{}
			for _, n := range cols[c] {
				sum, cnt := 0.0, 0
				for _, m := range n.nbrs {
					if m.level == c-1 {
						sum += float64(m.column)
						cnt++
					}
				}
				if cnt > 0 {
					bary[n] = sum / float64(cnt)
				}
			}
			sort.SliceStable(cols[c], func(i, j int) bool { return bary[cols[c][i]] < bary[cols[c][j]] })
			for i, n := range cols[c] {
				n.column = i
			}
		}
		rows := 0
		for _, col := range cols {
			rows = max(rows, len(col))
		}
		for c, col := range cols {
			off := float64(rows-len(col)) * rowH / 2
			for i, n := range col {
				cx := margin + float64(c)*colStep + hostW/2
				cy := top + off + float64(i)*rowH + rowH/2
				n.x, n.y = cx-n.w/2, cy-n.h/2
				nodes = append(nodes, n)
			}
		}
		width = max(width, 2*margin+float64(len(cols)-1)*colStep+hostW)
		top += float64(rows) * rowH
	}
	height = top + margin
	return nodes, width, height
}

func contains(ns []*topoNode, n *topoNode) bool {
	for _, m := range ns {
		if m == n {
			return true
		}
	}
	return false
}

// TopologySVG draws the lab: hosts as boxes with their addresses,
// networks as rounded bars, links as lines labelled with the interface.
// A broken host or link is drawn red and dashed and says "broken".
func TopologySVG(w io.Writer, t *drill.Topology) error {
	bw := bufio.NewWriter(w)
	esc := html.EscapeString
	if len(t.Hosts) == 0 && len(t.Links) == 0 {
		fmt.Fprint(bw, `<svg xmlns="http://www.w3.org/2000/svg" class="topology" viewBox="0 0 400 60" width="400" height="60" role="img" aria-label="lab topology: none recorded">`)
		fmt.Fprint(bw, topoStyle)
		fmt.Fprint(bw, `<rect class="topo-bg" width="400" height="60" rx="8"/><text class="topo-empty" x="20" y="35">no topology recorded</text></svg>`)
		return bw.Flush()
	}
	nodes, width, height := layoutTopology(t)
	byName := map[string]*topoNode{}
	nets := map[string]*topoNode{}
	brokenHosts, brokenLinks := 0, 0
	for _, n := range nodes {
		if n.isNet {
			nets[n.name] = n
		} else {
			byName[n.name] = n
			if n.host.Broken {
				brokenHosts++
			}
		}
	}
	for _, l := range t.Links {
		if l.Broken {
			brokenLinks++
		}
	}
	label := fmt.Sprintf("lab topology: %d hosts, %d networks, %d links; %d hosts and %d links marked broken",
		len(byName), len(nets), len(t.Links), brokenHosts, brokenLinks)
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" class="topology" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s">`,
		num(width), num(height), num(width), num(height), esc(label))
	fmt.Fprint(bw, topoStyle)
	fmt.Fprintf(bw, `<rect class="topo-bg" width="%s" height="%s" rx="8"/>`, num(width), num(height))

	// Links first, under the boxes.
	for _, l := range t.Links {
		h, n := byName[l.Host], nets[l.Network]
		if h == nil || n == nil {
			continue
		}
		hy, ny := h.y+h.h/2, n.y+n.h/2
		hx, nx := h.x+h.w, n.x // network to the right
		anchor, lx := "start", hx+6
		if n.x < h.x {
			hx, nx = h.x, n.x+n.w
			anchor, lx = "end", hx-6
		}
		class, state := "topo-link", "up"
		if l.Broken {
			class, state = "topo-link broken", "broken"
		}
		fmt.Fprintf(bw, `<g class="%s" data-host="%s" data-iface="%s" data-network="%s" data-broken="%t"><title>%s</title>`,
			class, esc(l.Host), esc(l.Iface), esc(l.Network), l.Broken,
			esc(fmt.Sprintf("link %s %s to %s: %s", l.Host, l.Iface, l.Network, state)))
		fmt.Fprintf(bw, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(hx), num(hy), num(nx), num(ny))
		text := l.Iface
		if l.Broken {
			text = "✕ " + l.Iface + " broken"
		}
		// The label sits along the line near the host, above it.
		ly := hy + (ny-hy)*0.12 - 6
		fmt.Fprintf(bw, `<text x="%s" y="%s" text-anchor="%s">%s</text></g>`, num(lx), num(ly), anchor, esc(text))
	}
	for _, n := range nodes {
		if !n.isNet {
			continue
		}
		fmt.Fprintf(bw, `<g class="topo-net" data-network="%s"><title>%s</title>`, esc(n.name), esc("network "+n.name))
		fmt.Fprintf(bw, `<rect x="%s" y="%s" width="%s" height="%s" rx="18"/>`, num(n.x), num(n.y), num(n.w), num(n.h))
		fmt.Fprintf(bw, `<text x="%s" y="%s" text-anchor="middle">%s</text></g>`, num(n.x+n.w/2), num(n.y+n.h/2+5), esc(n.name))
	}
	for _, n := range nodes {
		if n.isNet {
			continue
		}
		h := n.host
		class, state := "topo-host", "up"
		if h.Broken {
			class, state = "topo-host broken", "broken"
		}
		title := "host " + h.Name
		if len(h.Addrs) > 0 {
			title += " (" + strings.Join(h.Addrs, ", ") + ")"
		}
		fmt.Fprintf(bw, `<g class="%s" data-host="%s" data-broken="%t"><title>%s</title>`, class, esc(h.Name), h.Broken, esc(title+": "+state))
		fmt.Fprintf(bw, `<rect x="%s" y="%s" width="%s" height="%s" rx="6"/>`, num(n.x), num(n.y), num(n.w), num(n.h))
		y := n.y + 25
		fmt.Fprintf(bw, `<text class="name" x="%s" y="%s">%s</text>`, num(n.x+12), num(y), esc(h.Name))
		for i, a := range h.Addrs {
			if i == maxAddrs {
				break
			}
			y += 17
			if i == maxAddrs-1 && len(h.Addrs) > maxAddrs {
				a = fmt.Sprintf("+%d more", len(h.Addrs)-i)
			}
			fmt.Fprintf(bw, `<text class="addr" x="%s" y="%s">%s</text>`, num(n.x+12), num(y), esc(a))
		}
		if h.Broken {
			y += 18
			fmt.Fprintf(bw, `<text class="badge" x="%s" y="%s">✕ BROKEN</text>`, num(n.x+12), num(y))
		}
		fmt.Fprint(bw, `</g>`)
	}
	fmt.Fprint(bw, `</svg>`)
	return bw.Flush()
}

// num prints a coordinate with at most one decimal, so golden files are
// stable and small.
func num(f float64) string {
	f = math.Round(f*10) / 10
	if f == math.Trunc(f) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.1f", f)
}

const chartStyle = `<style>
.sli-bg{fill:var(--chart-bg,#ffffff)}
.sli-ok{fill:var(--ok,#1f9d55)}
.sli-bad{fill:url(#sli-hatch)}
.sli-axis{stroke:var(--chart-axis,#8792a2);stroke-width:1}
.sli-tick{fill:var(--chart-text,#4a5568);font:11px system-ui,sans-serif}
.sli-label{fill:var(--chart-text,#1a202c);font:600 12px system-ui,sans-serif}
.sli-inject line{stroke:var(--chart-inject,#6b46c1);stroke-width:2;stroke-dasharray:4 3}
.sli-inject text{fill:var(--chart-inject,#6b46c1);font:700 11px system-ui,sans-serif}
.sli-clear line{stroke:var(--ok,#1f9d55);stroke-width:2}
.sli-clear text{fill:var(--ok,#1f9d55);font:700 11px system-ui,sans-serif}
</style>`

// ServiceSVG draws the service level over drill time: one cell per
// sample (green for ok, red and hatched for failing, the probe's detail
// in each cell's title), a marker per landed inject and per fault cleared.
func ServiceSVG(w io.Writer, r *drill.Record) error {
	bw := bufio.NewWriter(w)
	esc := html.EscapeString
	const (
		W     = 900.0
		H     = 150.0
		left  = 60.0
		right = 16.0
		bandY = 46.0
		bandH = 44.0
	)
	span := max(r.Elapsed, 1)
	if n := len(r.SLI); n > 0 {
		span = max(span, r.SLI[n-1].T+interval(r.SLI))
	}
	x := func(t float64) float64 { return left + (W-left-right)*t/span }
	ok := 0
	for _, s := range r.SLI {
		if s.OK {
			ok++
		}
	}
	label := fmt.Sprintf("service level over %s: %d of %d samples ok", clock(span), ok, len(r.SLI))
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" class="sli-chart" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s">`,
		num(W), num(H), num(W), num(H), esc(label))
	fmt.Fprint(bw, chartStyle)
	fmt.Fprint(bw, `<defs><pattern id="sli-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#d64545"/><rect width="2" height="6" fill="#8f1d1d"/></pattern></defs>`)
	fmt.Fprintf(bw, `<rect class="sli-bg" width="%s" height="%s"/>`, num(W), num(H))
	fmt.Fprintf(bw, `<text class="sli-label" x="4" y="%s">service</text>`, num(bandY+bandH/2+4))
	iv := interval(r.SLI)
	for i, s := range r.SLI {
		end := s.T + iv
		if i+1 < len(r.SLI) {
			end = r.SLI[i+1].T
		}
		class, state := "sli-ok", "ok"
		if !s.OK {
			class, state = "sli-bad", "failing"
		}
		fmt.Fprintf(bw, `<rect class="%s" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>`,
			class, num(x(s.T)), num(bandY), num(math.Max(x(end)-x(s.T)-0.5, 0.5)), num(bandH),
			esc(fmt.Sprintf("%s %s: %s", clock(s.T), state, s.Detail)))
	}
	// Axis with a tick every step.
	axisY := bandY + bandH + 8
	fmt.Fprintf(bw, `<line class="sli-axis" x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(left), num(axisY), num(W-right), num(axisY))
	step := tickStep(span)
	for t := 0.0; t <= span+0.001; t += step {
		fmt.Fprintf(bw, `<line class="sli-axis" x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(x(t)), num(axisY), num(x(t)), num(axisY+5))
		fmt.Fprintf(bw, `<text class="sli-tick" x="%s" y="%s" text-anchor="middle">%s</text>`, num(x(t)), num(axisY+18), clock(t))
	}
	// Injects above the band, cleared faults below.
	for i, in := range r.Injects {
		if !in.Landed {
			continue
		}
		tag := fmt.Sprintf("%d", i+1)
		fmt.Fprintf(bw, `<g class="sli-inject"><title>%s</title><line x1="%s" y1="%s" x2="%s" y2="%s"/><text x="%s" y="%s" text-anchor="middle">▼%s</text></g>`,
			esc(fmt.Sprintf("inject %s at %s: %s", tag, clock(in.T), in.Text)),
			num(x(in.T)), num(bandY-14), num(x(in.T)), num(bandY+bandH), num(x(in.T)), num(bandY-18), tag)
		if in.Cleared > 0 {
			fmt.Fprintf(bw, `<g class="sli-clear"><title>%s</title><line x1="%s" y1="%s" x2="%s" y2="%s"/><text x="%s" y="%s" text-anchor="middle">✓%s</text></g>`,
				esc(fmt.Sprintf("inject %s cleared at its root at %s", tag, clock(in.Cleared))),
				num(x(in.Cleared)), num(bandY), num(x(in.Cleared)), num(bandY+bandH+4), num(x(in.Cleared)), num(bandY-4), tag)
		}
	}
	fmt.Fprint(bw, `</svg>`)
	return bw.Flush()
}

// interval is the usual time between samples (their median gap), 1 s if
// there are fewer than two.
func interval(s []drill.Sample) float64 {
	if len(s) < 2 {
		return 1
	}
	gaps := make([]float64, 0, len(s)-1)
	for i := 1; i < len(s); i++ {
		gaps = append(gaps, s[i].T-s[i-1].T)
	}
	sort.Float64s(gaps)
	if g := gaps[len(gaps)/2]; g > 0 {
		return g
	}
	return 1
}

func tickStep(span float64) float64 {
	for _, s := range []float64{10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600} {
		if span/s <= 10 {
			return s
		}
	}
	return 7200
}

// clock prints drill seconds as m:ss (h:mm:ss past an hour).
func clock(s float64) string {
	if s < 0 {
		s = 0
	}
	t := int64(math.Round(s))
	if t >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", t/3600, t/60%60, t%60)
	}
	return fmt.Sprintf("%d:%02d", t/60, t%60)
}
