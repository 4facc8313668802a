package scenarios

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// The loader's limits. A scenario file is read before anything else is
// trusted, so its size and shape are bounded before it is decoded: a YAML
// alias may stand for a whole subtree, and a file of a few kilobytes can
// otherwise stand for millions of nodes (the "billion laughs"), or for an
// endless tree when an alias sits inside its own anchor. Every limit is far
// above what a real scenario needs (lan-200, the largest built-in scenario,
// is 14 KB and 1,918 nodes; the deepest nests 10 levels) and is documented
// in docs/scenario-format.md.
const (
	// MaxFileBytes bounds the size of a scenario file.
	MaxFileBytes = 256 << 10
	// MaxNodes bounds the YAML nodes of the file as written (every
	// scalar, list and mapping counts one).
	MaxNodes = 100_000
	// MaxExpandedNodes bounds the nodes of the file once every alias is
	// replaced by what it stands for.
	MaxExpandedNodes = 200_000
	// MaxDepth bounds the nesting of lists and mappings, aliases expanded.
	MaxDepth = 64
	// MaxSubstitutedBytes bounds what ${name} references add to the file
	// when they are replaced by the parameters' values.
	MaxSubstitutedBytes = MaxFileBytes

	// MaxHosts, MaxNetworks, MaxInterfaces (of all hosts together) and
	// MaxTasks (tasks and invariants each) bound what one scenario holds.
	MaxHosts      = 1000
	MaxNetworks   = 1000
	MaxInterfaces = 4000
	MaxTasks      = 200
)

// ReadFile reads a scenario file of at most MaxFileBytes; a larger file
// (or a device that never ends) is refused after reading one byte more.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, Problems{sizeProblem(path)}
	}
	return data, nil
}

func sizeProblem(file string) Problem {
	return Problem{File: file, Pos: Pos{1, 1}, Msg: fmt.Sprintf("the file is larger than %d bytes, the most a scenario may be; split the scenario", MaxFileBytes)}
}

// shape is what the limits measure of one node: its own subtree's size
// and height once aliases are expanded.
type shape struct{ nodes, depth int }

// limiter walks a parsed document once, following each alias to its anchor
// but measuring every anchor only once, so that the walk itself stays
// linear in the file however much the aliases multiply.
type limiter struct {
	file     string
	written  int                         // nodes as written
	measured map[*yaml.Node]shape        // expanded shape of each node seen
	active   map[*yaml.Node]bool         // nodes on the path from the root
	over     *yaml.Node                  // the node at which MaxNodes was passed
	uses     map[*yaml.Node][]*yaml.Node // anchor -> the aliases to it
	problems Problems
	text     Problems // scalars holding control characters
}

// checkLimits refuses a document that is too large or too deep, written or
// expanded, or that holds an alias inside the node it stands for.
func checkLimits(file string, root *yaml.Node) Problems {
	l := &limiter{file: file, measured: map[*yaml.Node]shape{}, active: map[*yaml.Node]bool{}, uses: map[*yaml.Node][]*yaml.Node{}}
	s, ok := l.measure(root, 0)
	if !ok {
		return l.problems
	}
	if len(l.text) > 0 {
		return l.text
	}
	if l.written > MaxNodes {
		return Problems{{File: file, Pos: Pos{l.over.Line, l.over.Column}, Msg: fmt.Sprintf("the file holds more than %d YAML nodes (values, lists and mappings) by here, the most a scenario may hold", MaxNodes)}}
	}
	if s.nodes > MaxExpandedNodes {
		// Name the anchor whose aliases add the most.
		var worst *yaml.Node
		for anchor, aliases := range l.uses {
			if worst == nil || len(aliases)*l.measured[anchor].nodes > len(l.uses[worst])*l.measured[worst].nodes ||
				len(aliases)*l.measured[anchor].nodes == len(l.uses[worst])*l.measured[worst].nodes &&
					(anchor.Line < worst.Line || anchor.Line == worst.Line && anchor.Column < worst.Column) {
				worst = anchor
			}
		}
		first := l.uses[worst][0]
		return Problems{{File: file, Pos: Pos{first.Line, first.Column}, Msg: fmt.Sprintf("with its aliases expanded the file holds more than %d YAML nodes, the most a scenario may hold; *%s stands for %s and is used %d times; repeat less", MaxExpandedNodes, first.Value, nodeCount(l.measured[worst].nodes), len(l.uses[worst]))}}
	}
	return nil
}

// measure returns the expanded shape of n, saturated just above the limits.
// It stops (false) at the first alias cycle or nesting too deep, with the
// problem recorded.
func (l *limiter) measure(n *yaml.Node, depth int) (shape, bool) {
	if n == nil {
		return shape{}, true
	}
	if s, ok := l.measured[n]; ok {
		if depth+s.depth > MaxDepth {
			l.tooDeep(n)
			return s, false
		}
		return s, true
	}
	if l.active[n] {
		// Only an alias leads back to a node on the path, and it reports
		// the cycle before following it; this is a parser's surprise.
		l.problems = append(l.problems, Problem{File: l.file, Pos: Pos{n.Line, n.Column}, Msg: "this node contains itself; an alias may only refer to something outside itself"})
		return shape{}, false
	}
	if depth > MaxDepth {
		l.tooDeep(n)
		return shape{}, false
	}
	l.written++
	if l.written > MaxNodes {
		if l.over == nil {
			l.over = n
		}
		// Stop walking: the count is already over the limit.
		return shape{nodes: MaxExpandedNodes + 1}, true
	}
	if n.Kind == yaml.ScalarNode && strings.ContainsFunc(strings.ReplaceAll(n.Value, "\r\n", "\n"), controlChar) {
		l.text = append(l.text, Problem{File: l.file, Pos: Pos{n.Line, n.Column}, Msg: "this value holds a control character (such as an escape, a backspace, a carriage return not followed by a line feed, or a bidirectional override), which would let it rewrite the terminal that shows it ('netdojo show --steps' among others); write it without"})
	}
	l.active[n] = true
	defer delete(l.active, n)
	s := shape{nodes: 1}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return s, true
		}
		if l.active[n.Alias] {
			l.problems = append(l.problems, Problem{File: l.file, Pos: Pos{n.Line, n.Column}, Msg: fmt.Sprintf("alias *%s refers to the anchor &%s (line %d) that contains it, which would make the file endless; an alias may only refer to something outside itself", n.Value, n.Alias.Anchor, n.Alias.Line)})
			return s, false
		}
		if a, ok := l.measured[n.Alias]; ok && depth+a.depth > MaxDepth {
			l.tooDeep(n) // here, where the alias makes it deep
			return a, false
		}
		a, ok := l.measure(n.Alias, depth)
		if !ok {
			return a, false
		}
		// The alias node itself is replaced by what it stands for.
		l.measured[n] = a
		l.uses[n.Alias] = append(l.uses[n.Alias], n)
		return a, true
	}
	for _, c := range n.Content {
		cs, ok := l.measure(c, depth+1)
		if !ok {
			return s, false
		}
		s.nodes = min(s.nodes+cs.nodes, MaxExpandedNodes+1)
		s.depth = max(s.depth, cs.depth+1)
	}
	l.measured[n] = s
	return s, true
}

// controlChar is a character that drives a terminal rather than showing:
// every control character but the tab and the line feed, which text and
// shell commands use (a carriage return is allowed only before a line
// feed, as in an HTTP payload).
// Unicode's bidirectional controls count too: they reorder what a
// terminal or an editor shows ("Trojan Source").
func controlChar(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return false
	case unicode.IsControl(r):
		return true
	case r == 0x061C || r == 0x200E || r == 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

func (l *limiter) tooDeep(n *yaml.Node) {
	l.problems = append(l.problems, Problem{File: l.file, Pos: Pos{n.Line, n.Column}, Msg: fmt.Sprintf("lists and mappings are nested more than %d levels deep here (aliases expanded), the most a scenario may nest", MaxDepth)})
}

func nodeCount(n int) string {
	if n > MaxExpandedNodes {
		return fmt.Sprintf("more than %d nodes", MaxExpandedNodes)
	}
	return fmt.Sprintf("%d nodes", n)
}

// limitsReference is the part of docs/scenario-format.md on the loader's
// limits and on names.
func limitsReference() string {
	reserved := make([]string, 0, len(reservedIfnames))
	for n := range reservedIfnames {
		reserved = append(reserved, "`"+n+"`")
	}
	sort.Strings(reserved)
	return fmt.Sprintf(`
## Limits

A scenario file is read as untrusted input. The loader refuses, with the file and
line, a file that exceeds any of these (far above what a real scenario needs: the
largest built-in scenario, lan-200, is 14 KB and 1,918 nodes, the deepest nests 10
levels, and a 1000-host LAN is 62 KB):

| limit | value |
|---|---|
| file size | %d bytes (256 KiB) |
| YAML nodes as written (every value, list and mapping) | %d |
| YAML nodes with every alias expanded | %d |
| nesting of lists and mappings, aliases expanded | %d levels |
| bytes that ${name} references add when replaced by the parameters' values | %d |
| hosts | %d |
| networks | %d |
| interfaces, all hosts together | %d |
| tasks; invariants | %d each |

A file holds one YAML document (a second `+"`---`"+` is refused, whatever follows it).
Anchors and aliases may repeat a part of the file, but an alias may not refer to an
anchor that contains it (that would make the file endless). No value may hold a control
character but the tab and the line feed (and a carriage return before a line feed, as in an
HTTP payload), nor a Unicode bidirectional control: an escape sequence, a lone carriage
return or a right-to-left override in a step would let it hide
itself from the terminal that shows it with `+"`netdojo show --steps`"+`.

## Names

Host names (and lab names) are lower-case letters, digits and dashes. Interface and
network names are at most 15 bytes of letters, digits, `+"`-`"+`, `+"`_`"+` and `+"`.`"+`
(a bridge is a device named after its network), and not one of %s: names Linux
refuses or that a network namespace already holds.

The switch side of an interface on a bridge (the bridge's port, in the lab's switch
namespace `+"`LAB._switch`"+` or in the host that holds the bridge) is named `+"`HOST_IF`"+`, or
`+"`veth`"+` and ten hex digits when that is longer than 15 bytes. A scenario in which a
port would have the name of another device of its namespace (a bridge there, an
interface of the host holding the bridge) is refused: rename the network or the
interface.

## What Linux would refuse at start

Validate also refuses what the kernel would refuse when the lab is built: an IPv6
address on an interface whose MTU (its own or its network's) is under 1280; the
all-zero MAC address; a sysctl key with an empty part (`+"`net.ipv4..conf`"+`), or a per-device
key (`+"`net.ipv4.conf.DEV.*`"+`, `+"`net.ipv6.conf.DEV.*`"+`, `+"`net.ipv4.neigh.DEV.*`"+`,
`+"`net.ipv6.neigh.DEV.*`"+`) whose device the host does not have (besides `+"`all`"+`, `+"`default`"+` and
`+"`lo`"+`) or whose name holds a dot, which a key cannot address; two routes
of one host with the same destination and metric (`+"`default`"+` and `+"`0.0.0.0/0`"+` are one
destination; an IPv6 route without a metric has 1024), or a route with metric 0 to the
network of one of the host's IPv4 addresses, which Linux has added already; two vxlan
networks of one host with the same VNI and UDP port; and two
services of one host listening on the same protocol and port, unless each has its own
listen address.
`, MaxFileBytes, MaxNodes, MaxExpandedNodes, MaxDepth, MaxSubstitutedBytes, MaxHosts, MaxNetworks, MaxInterfaces, MaxTasks, strings.Join(reserved, ", "))
}
