package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Options tune loading.
type Options struct {
	// Seed draws the parameters; 0 takes each parameter's default.
	Seed uint64
	// Services and Faults check the kinds and parameters of services and
	// faults. When nil, kinds are not checked.
	Services Registry
	Faults   Registry
}

// LoadFile reads and loads a scenario file.
func LoadFile(path string, opts Options) (*Scenario, error) {
	data, err := ReadFile(path)
	if err != nil {
		var ps Problems
		if errors.As(err, &ps) {
			return nil, err
		}
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	return Load(path, data, opts)
}

// Load decodes, checks and resolves a scenario. Every problem in the file is
// reported at once, as Problems, each with file:line:col and field path.
func Load(file string, data []byte, opts Options) (*Scenario, error) {
	if len(data) > MaxFileBytes {
		return nil, Problems{sizeProblem(file)}
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Problems{{File: file, Pos: Pos{1, 1}, Msg: "the file is empty; a scenario starts with apiVersion: " + APIVersion}}
		}
		return nil, Problems{syntaxProblem(file, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, Problems{{File: file, Pos: Pos{extra.Line, extra.Column}, Msg: "a scenario file holds one YAML document; remove the second '---' and what follows it"}}
	case !errors.Is(err, io.EOF):
		// A second document that does not even parse is refused too: it
		// is not ignored, whatever it holds.
		p := syntaxProblem(file, err)
		p.Msg = "a scenario file holds one YAML document; remove the second '---' and what follows it (" + strings.TrimPrefix(p.Msg, "YAML syntax: ") + ")"
		return nil, Problems{p}
	}
	if ps := checkLimits(file, &root); len(ps) > 0 {
		return nil, ps
	}
	if k := mappingValue(&root, "kind"); k != nil && k.Value == DrillKind {
		// A drill file loads as the lab it runs on (validate, start, check).
		dr, err := loadDrill(file, &root, opts)
		if err != nil {
			return nil, err
		}
		return dr.Lab, nil
	}
	d := newDecoder(file)
	d.services, d.faults = opts.Services, opts.Faults
	values := d.drawParams(&root, opts.Seed)
	d.substitute(&root, values, "")
	var f File
	d.decode(&root, reflect.ValueOf(&f).Elem(), "")
	// The semantic pass runs even after decoding problems, on what did
	// decode, so that every problem is reported at once.
	(&checker{d: d, f: &f}).check()
	if len(d.problems) > 0 {
		return nil, d.problems.sorted()
	}
	s := resolve(&f, d)
	s.File, s.Seed, s.Values = file, opts.Seed, values
	return s, nil
}

// syntaxProblem turns a YAML syntax error ("yaml: line 3: ...") into a
// Problem with a position.
func syntaxProblem(file string, err error) Problem {
	msg := err.Error()
	var line int
	if _, scanErr := fmt.Sscanf(msg, "yaml: line %d:", &line); scanErr == nil {
		_, rest, _ := bytes.Cut([]byte(msg), []byte(": "))
		_, rest, _ = bytes.Cut(rest, []byte(": "))
		return Problem{File: file, Pos: Pos{line, 1}, Msg: "YAML syntax: " + string(rest)}
	}
	return Problem{File: file, Pos: Pos{1, 1}, Msg: "YAML syntax: " + msg}
}

// resolve builds the model from a checked file; d holds the checked
// parameters of its services and faults.
func resolve(f *File, d *decoder) *Scenario {
	pos := d.pos
	s := &Scenario{
		Name: f.Metadata.Name, Title: f.Metadata.Title, Level: f.Metadata.Level,
		Topics: f.Metadata.Topics, Minutes: f.Metadata.Minutes, Story: f.Story,
		Tasks: f.Tasks, Invariants: f.Invariants, Hints: f.Hints,
		Solution: f.Solution, WrongFixes: f.WrongFixes, Raw: f,
	}
	for i, rf := range f.Faults {
		s.Faults = append(s.Faults, Fault{Name: rf.Name, Kind: rf.Kind, Host: rf.Host, Params: d.typed[fmt.Sprintf("faults[%d]", i)], Accepts: rf.Accepts})
	}
	for _, name := range ordered(f.Networks, pos, "networks") {
		rn := f.Networks[name]
		n := &Network{Name: name, Type: rn.Type, MTU: rn.MTU, VNI: rn.VNI, Port: rn.Port}
		if n.Type == "" {
			n.Type = "bridge"
		}
		if n.Type == "vxlan" && n.Port == 0 {
			n.Port = 4789
		}
		s.Networks = append(s.Networks, n)
	}
	for _, name := range ordered(f.Networks, pos, "networks") {
		if u := f.Networks[name].Underlay; u != "" {
			s.Network(name).Underlay = s.Network(u)
		}
	}
	for _, name := range ordered(f.Hosts, pos, "hosts") {
		rh := f.Hosts[name]
		h := &Host{Name: name, HostsFile: rh.HostsFile, Setup: rh.Setup}
		for i, rs := range rh.Services {
			h.Services = append(h.Services, Service{Name: rs.Name, Kind: rs.Kind, Params: d.typed[fmt.Sprintf("hosts.%s.services[%d]", name, i)]})
		}
		if rh.DNS != nil {
			h.DNS = *rh.DNS
		}
		for i, ri := range rh.Interfaces {
			n := s.Network(ri.Network)
			ifc := &Iface{Host: h, Name: ifaceName(f, name, i, ri), Network: n, MTU: ri.MTU}
			if ifc.MTU == 0 {
				ifc.MTU = n.MTU
			}
			if ifc.MTU == 0 {
				ifc.MTU = 1500
				if n.Type == "vxlan" {
					ifc.MTU = 1450
				}
			}
			if ri.IPv4 != "" {
				ifc.IPv4 = netip.MustParsePrefix(ri.IPv4)
			}
			if ri.IPv6 != "" {
				ifc.IPv6 = netip.MustParsePrefix(ri.IPv6)
			}
			if ri.MAC != "" {
				ifc.MAC, _ = net.ParseMAC(ri.MAC)
			}
			n.Ends = append(n.Ends, ifc)
			h.Interfaces = append(h.Interfaces, ifc)
		}
		for _, rr := range rh.Routes {
			r := RouteSpec{Dev: rr.Dev, Metric: rr.Metric, Type: rr.Type}
			switch rr.To {
			case "default":
				r.Dst = netip.MustParsePrefix("0.0.0.0/0")
			case "default6":
				r.Dst = netip.MustParsePrefix("::/0")
			default:
				r.Dst = netip.MustParsePrefix(rr.To)
			}
			if rr.Via != "" {
				r.Via = netip.MustParseAddr(rr.Via)
			}
			if r.Type == "" {
				r.Type = "unicast"
			}
			h.Routes = append(h.Routes, r)
		}
		for _, k := range ordered(rh.Sysctls, pos, "hosts."+name+".sysctls") {
			h.Sysctls = append(h.Sysctls, Sysctl{Key: k, Value: rh.Sysctls[k]})
		}
		s.Hosts = append(s.Hosts, h)
	}
	for _, name := range ordered(f.Networks, pos, "networks") {
		if o := f.Networks[name].Host; o != "" {
			s.Network(name).Owner = s.Host(o)
		}
	}
	return s
}
