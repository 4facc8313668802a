package checker

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/netdojo/netdojo/scenarios"
)

// clean is an answer as judged: surrounding space, quotes and a final
// full stop gone, and runs of spaces made one.
func clean(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for {
		t := strings.TrimSpace(s)
		if len(t) >= 2 && (t[0] == '"' && t[len(t)-1] == '"' || t[0] == '\'' && t[len(t)-1] == '\'' || t[0] == '`' && t[len(t)-1] == '`') {
			t = t[1 : len(t)-1]
		}
		t = strings.TrimRight(t, "!?,;")
		// A full stop ends a sentence unless the answer is a name
		// (mail.shop.example.), which forms handles.
		if strings.HasSuffix(t, ".") && strings.Contains(t, " ") {
			t = strings.TrimSuffix(t, ".")
		}
		if t == s {
			return s
		}
		s = t
	}
}

var (
	// numberRE is a number with an optional label before it (mtu, pmtu,
	// path mtu, pid, hop, ttl) and a unit after it (bytes, B, octets).
	numberRE = regexp.MustCompile(`(?i)^(?:(?:path\s*mtu|pmtu|mtu|pid|hop|ttl|hop\s*number)\s*(?:is|=|:)?\s*)?(?:#\s*)?([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+(?:\.[0-9]+)?)\s*(?:bytes?|b|octets?|(?:st|nd|rd|th)(?:\s+hop)?)?$`)
	// ssUsersRE is the process part of an ss -p line: users:(("name",pid=N,fd=M)).
	ssUsersRE = regexp.MustCompile(`\("([^"]+)",pid=([0-9]+),fd=[0-9]+\)`)
	// glossRE is an answer with a gloss in brackets: "Layer 2 (data link)".
	glossRE = regexp.MustCompile(`^(.*\S)\s*\(([^()]+)\)$`)
	// bracketRE is an answer in brackets, as some tools print a PID: [658].
	bracketRE = regexp.MustCompile(`^[\[(<]\s*([^\s\[\]()<>]+)\s*[\])>]$`)
	// netstatProgRE is netstat -p's PID/Program name column: 658/ruby.
	netstatProgRE = regexp.MustCompile(`^([0-9]+)/(\S+)$`)
	// commandRE is a command line as ps prints it: a program (a name or a
	// path) and arguments that start with an option or a path.
	commandRE = regexp.MustCompile(`^(\S+)\s+(?:-{1,2}[A-Za-z]|/)`)
	// pathRE is an absolute path to a program: its last element.
	pathRE = regexp.MustCompile(`^/(?:[^/\s]+/)*([^/\s]+)$`)
	// digTypedRE is a record's data with its type before it, as a dig
	// line without its owner name: [IN] MX 10 mail.shop.example.
	digTypedRE = regexp.MustCompile(`(?i)^(?:IN\s+)?([A-Z]+[0-9]*)\s+(.+)$`)
	// ordinalRE is a number with "the" before it or "hop" around it, in
	// words or digits: the 2nd hop, the second hop, hop two.
	ordinalRE = regexp.MustCompile(`(?i)^(?:the\s+)?(?:hop\s+)?([a-z]+|[0-9]+(?:st|nd|rd|th))(?:\s+hop)?$|^(?:the\s+)?hop\s+(?:number\s+)?([a-z]+)$`)
	// pidRE is pid=N, pid N or PID: N.
	pidRE = regexp.MustCompile(`(?i)^pid\s*[=:]?\s*([0-9]+)$`)
	// digShortMXRE is an MX answer as dig +short prints it: PREF NAME.
	digShortMXRE = regexp.MustCompile(`^[0-9]+\s+([A-Za-z0-9_.-]+)$`)
	// digLineRE is a record line of dig's answer section: NAME [TTL]
	// [CLASS] TYPE DATA.
	digLineRE = regexp.MustCompile(`(?i)^(\S+)\s+(?:[0-9]+\s+)?(?:IN\s+|CH\s+)?([A-Z0-9]+)\s+(.+)$`)
)

// numberWords are small numbers and ordinals in words.
var numberWords = map[string]int{
	"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
	"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
}

// parseNumber reads a number as people write it: "1400", "1400 bytes",
// "1400B", "mtu 1400", "MTU: 1400", "1,400", "pid=658", "hop 3", "3rd".
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	// "the 2nd hop", "the second hop", "hop two".
	if m := ordinalRE.FindStringSubmatch(s); m != nil {
		w := strings.ToLower(m[1] + m[2])
		if n, ok := numberWords[w]; ok {
			return float64(n), true
		}
		s = w
	}
	if m := pidRE.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	m := numberRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
	return n, err == nil
}

// forms are the readings of an answer: the answer itself, and what it
// says when it is a line copied from a tool - the name or PID of an ss -p
// users:((...)) entry or a pid=N, a name without its final dot, the data
// of a dig answer line (and the host of an MX record, as dig +short
// prints it).
func (c *Checker) forms(given string) []string {
	var out []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
		if t := strings.TrimSuffix(s, "."); t != s && t != "" {
			out = append(out, t)
		}
	}
	add(given)
	if n, ok := parseNumber(given); ok && n == float64(int64(n)) {
		add(strconv.FormatInt(int64(n), 10))
	}
	if m := ssUsersRE.FindAllStringSubmatch(given, -1); len(m) == 1 {
		add(m[0][1])
		add(m[0][2])
	}
	if m := pidRE.FindStringSubmatch(given); m != nil {
		add(m[1])
	}
	if m := regexp.MustCompile(`(?i)\bpid=([0-9]+)\b`).FindAllStringSubmatch(given, -1); len(m) == 1 {
		add(m[0][1])
	}
	if m := digShortMXRE.FindStringSubmatch(given); m != nil && strings.Contains(m[1], ".") {
		add(m[1])
	}
	if m := bracketRE.FindStringSubmatch(given); m != nil {
		add(m[1])
	}
	// A host with a gloss that names the same host: r2 (10.0.2.1).
	if m := glossRE.FindStringSubmatch(given); m != nil && c.sameHost(m[1], m[2]) {
		add(m[1])
		add(m[2])
	}
	program := func(p string) {
		add(p)
		if m := pathRE.FindStringSubmatch(p); m != nil {
			add(m[1])
		}
	}
	if m := netstatProgRE.FindStringSubmatch(given); m != nil {
		add(m[1])
		program(m[2])
	}
	if m := pathRE.FindStringSubmatch(given); m != nil {
		add(m[1])
	}
	if m := commandRE.FindStringSubmatch(given); m != nil {
		program(m[1])
	}
	if p, err := netip.ParsePrefix(given); err == nil {
		add(p.Addr().String())
	}
	if m := digTypedRE.FindStringSubmatch(given); m != nil && dns.StringToType[strings.ToUpper(m[1])] != 0 {
		add(m[2])
		if mx := digShortMXRE.FindStringSubmatch(m[2]); mx != nil {
			add(mx[1])
		}
	}
	if m := digLineRE.FindStringSubmatch(given); m != nil && dns.StringToType[strings.ToUpper(m[2])] != 0 && strings.Contains(m[1], ".") {
		data := m[3]
		add(data)
		if mx := digShortMXRE.FindStringSubmatch(data); mx != nil {
			add(mx[1])
		}
	}
	return out
}

// hostForms adds, to forms that name a lab host, every other name and
// address of that host: its name, its addresses and its DNS names.
func (c *Checker) hostForms(forms []string) []string {
	out := append([]string(nil), forms...)
	for _, f := range forms {
		h := c.labHost(f)
		if h == nil {
			continue
		}
		out = append(out, h.Name)
		var addrs []netip.Addr
		for _, i := range h.Interfaces {
			if i.IPv4.IsValid() {
				addrs = append(addrs, i.IPv4.Addr())
			}
			if i.IPv6.IsValid() {
				addrs = append(addrs, i.IPv6.Addr())
			}
		}
		for _, a := range addrs {
			out = append(out, a.String())
		}
		for name, as := range c.labNames() {
			for _, a := range as {
				for _, b := range addrs {
					if a == b {
						out = append(out, strings.TrimSuffix(name, "."))
					}
				}
			}
		}
	}
	return out
}

// errorClasses are the error classes a learner is asked to tell apart,
// with the names an option may have and the words tools print for each
// (nc, curl, telnet, ping, Go's net errors, errno names).
var errorClasses = []struct {
	names []string
	words *regexp.Regexp
}{
	{[]string{"refused", "connection-refused", "conn-refused", "econnrefused", "refused-rst", "rst", "reset"},
		regexp.MustCompile(`(?i)\b(connection refused|refused|econnrefused|reset by peer|port unreachable)\b`)},
	{[]string{"timed-out", "timeout", "time-out", "timedout", "etimedout", "timed-out-drop", "filtered", "drop"},
		regexp.MustCompile(`(?i)(timed?[ -]?out|timeout|etimedout|deadline exceeded|operation now in progress)`)},
	{[]string{"no-route", "no-route-to-host", "host-unreachable", "unreachable", "ehostunreach", "noroute"},
		regexp.MustCompile(`(?i)(no route to host|ehostunreach|host unreachable|network is unreachable|enetunreach|net unreachable|destination host unreachable)`)},
}

// layerClasses are the layers of the OSI model, by name and number.
var layerClasses = [][]string{
	{"physical", "l1", "layer-1", "layer1", "1", "phy", "physical-layer", "layer-one", "one"},
	{"data-link", "datalink", "link", "l2", "layer-2", "layer2", "2", "data-link-layer", "link-layer", "layer-two", "two"},
	{"network", "l3", "layer-3", "layer3", "3", "network-layer", "layer-three", "three"},
	{"transport", "l4", "layer-4", "layer4", "4", "transport-layer", "layer-four", "four"},
	{"session", "l5", "layer-5", "layer5", "5", "session-layer"},
	{"presentation", "l6", "layer-6", "layer6", "6", "presentation-layer"},
	{"application", "l7", "layer-7", "layer7", "7", "application-layer", "app", "layer-seven", "seven"},
}

// key is a word as options compare: lower case, with spaces, underscores
// and hyphens alike.
func key(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.Trim(s, ".!?,;:'\"`()")
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '_' || r == '-' || r == '\t' }), "-")
}

func inKeys(k string, names []string) bool {
	for _, n := range names {
		if k == n {
			return true
		}
	}
	return false
}

// matchChoice finds the option an answer names. It returns the option,
// whether one was found, and, when none was, a word about the answer.
func (c *Checker) matchChoice(given string, options []string) (string, bool, string) {
	// An option with a gloss in brackets, "Layer 2 (data link)",
	// "refused (RST)": each part names the option, or one does and the
	// other names none; two options are no answer.
	if m := glossRE.FindStringSubmatch(given); m != nil {
		a, aok, _ := c.matchChoice(m[1], options)
		b, bok, _ := c.matchChoice(m[2], options)
		switch {
		case aok && bok && a != b:
			return "", false, "; it fits more than one of them: give one"
		case aok:
			return a, true, ""
		case bok:
			return b, true, ""
		}
	}
	gk := key(given)
	for _, o := range options {
		if key(o) == gk {
			return o, true, ""
		}
	}
	var found []string
	addFound := func(o string) {
		for _, f := range found {
			if f == o {
				return
			}
		}
		found = append(found, o)
	}
	for _, o := range options {
		ok := key(o)
		for _, ec := range errorClasses {
			if inKeys(ok, ec.names) && (inKeys(gk, ec.names) || ec.words.MatchString(given)) {
				addFound(o)
			}
		}
		for _, names := range layerClasses {
			if inKeys(ok, names) && inKeys(strings.TrimSuffix(gk, "-layer"), names) {
				addFound(o)
			}
		}
		if c.sameHost(given, o) {
			addFound(o)
		}
	}
	if len(found) == 0 {
		// Filler words around an option: "the default gateway",
		// "a DNS problem".
		if fk := key(stripFiller(given)); fk != gk {
			for _, o := range options {
				if key(o) == fk {
					return o, true, ""
				}
			}
		}
	}
	if len(found) == 1 {
		return found[0], true, ""
	}
	if len(found) > 1 {
		return "", false, "; it fits more than one of them: give one"
	}
	if regexp.MustCompile(`(?i)couldn'?t connect to (the )?server`).MatchString(given) {
		return "", false, "; curl says that for every way a connection fails: what do nc -v or telnet say?"
	}
	return "", false, ""
}

// fillerWords are words around an option that do not change it.
var fillerWords = map[string]bool{"the": true, "a": true, "an": true, "default": true, "problem": true, "issue": true, "it's": true, "its": true, "is": true, "it": true}

func stripFiller(s string) string {
	var keep []string
	for _, w := range strings.Fields(strings.ToLower(s)) {
		if !fillerWords[strings.Trim(w, ".,;:!?'\"")] {
			keep = append(keep, w)
		}
	}
	return strings.Join(keep, " ")
}

// labHost finds the lab host a word names: its name (in any case), a name
// the lab's DNS zones give one of its addresses, or one of its addresses.
func (c *Checker) labHost(s string) *scenarios.Host {
	if c == nil || c.Scenario == nil {
		return nil
	}
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" {
		return nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if i := c.Scenario.IfaceWithAddr(a.Unmap()); i != nil {
			return i.Host
		}
		return nil
	}
	for _, h := range c.Scenario.Hosts {
		if strings.EqualFold(h.Name, s) {
			return h
		}
	}
	for _, a := range c.labNames()[strings.ToLower(s)+"."] {
		if i := c.Scenario.IfaceWithAddr(a); i != nil {
			return i.Host
		}
	}
	return nil
}

// sameHost is true when two words name the same lab host.
func (c *Checker) sameHost(a, b string) bool {
	ha := c.labHost(a)
	return ha != nil && ha == c.labHost(b)
}

// nearHost says when an answer names a lab host that the question is
// probably not about: the learner's own client.
func (c *Checker) nearHost(given, client string) string {
	h := c.labHost(given)
	if h == nil {
		return ""
	}
	if client == "" {
		client = "client"
	}
	if strings.EqualFold(h.Name, client) {
		return ": that is the client's own address; the task asks about the other end"
	}
	return ""
}

// labNames are the A and AAAA records of the lab's DNS servers' zones,
// by lower-case fully qualified name.
func (c *Checker) labNames() map[string][]netip.Addr {
	if c.names != nil {
		return c.names
	}
	c.names = map[string][]netip.Addr{}
	for _, h := range c.Scenario.Hosts {
		for _, svc := range h.Services {
			dp, ok := svc.Params.(scenarios.DNSServer)
			if !ok {
				continue
			}
			for _, z := range dp.DNSZones() {
				origin := dns.Fqdn(z.Origin)
				for _, rec := range z.Records {
					rr, err := dns.NewRR("$ORIGIN " + origin + "\n" + rec)
					if err != nil || rr == nil {
						continue
					}
					name := strings.ToLower(rr.Header().Name)
					switch r := rr.(type) {
					case *dns.A:
						if a, ok := netip.AddrFromSlice(r.A.To4()); ok {
							c.names[name] = append(c.names[name], a)
						}
					case *dns.AAAA:
						if a, ok := netip.AddrFromSlice(r.AAAA); ok {
							c.names[name] = append(c.names[name], a)
						}
					}
				}
			}
		}
	}
	return c.names
}
