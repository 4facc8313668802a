package scenarios

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Registry is what the format needs to know of a table of kinds (services,
// faults): the parameter type of each kind. The tables themselves live in
// the services and faults packages.
type Registry interface {
	// Params returns a pointer to a new zero parameter struct of kind.
	Params(kind string) (any, bool)
	// Kinds lists the known kinds.
	Kinds() []string
}

// ParamChecker is implemented by parameter structs that validate themselves
// and fill defaults. An error may be a FieldError to point at a field.
type ParamChecker interface {
	Check() error
}

// Socket is a socket a service listens on: Proto is tcp or udp, Addr the
// address it binds ("", 0.0.0.0 or :: for every address of the host).
type Socket struct {
	Proto string
	Addr  string
	Port  int
}

// Listener is implemented by service parameters that listen, after Check
// has filled their defaults. Validate refuses two services of one host
// that listen on the same socket: the second cannot bind, and start would
// take the first one's answers for its readiness.
type Listener interface {
	Listens() []Socket
}

// clash tells whether two sockets cannot both be bound (without
// SO_REUSEPORT): the same protocol and port, and the same address or a
// wildcard on either side (Go's wildcard listener is dual-stack).
func (a Socket) clash(b Socket) bool {
	wild := func(s string) bool { return s == "" || s == "0.0.0.0" || s == "::" }
	return a.Proto == b.Proto && a.Port == b.Port && (a.Addr == b.Addr || wild(a.Addr) || wild(b.Addr))
}

// FieldError names the parameter field (its YAML name) a problem is in.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// HTTPResponder is implemented by the parameters of a service that answers
// HTTP with a body of its configuration (the http service), so that a
// check can tell its answer from another program's.
type HTTPResponder interface {
	// HTTPPort is the TCP port it answers on.
	HTTPPort() int
	// HTTPBody is the body of its answer to a request for path: body, or
	// when body is "", size bytes of filler.
	HTTPBody(path string) (body string, size int)
}

// Zone is a DNS zone as a scenario writes it: its origin and records in
// zone-file syntax (names relative to the origin, TTL optional).
type Zone struct {
	Origin  string
	Records []string
}

// DNSServer is implemented by the parameters of a DNS server service: the
// zones it is authoritative for.
type DNSServer interface {
	DNSZones() []Zone
}

// VirtualService is a service virtual IP and port that a proxy balances to
// endpoints (IP:port), as kube-proxy does; Proto is tcp or udp.
type VirtualService struct {
	VIP       string
	Port      int
	Proto     string
	Endpoints []string
}

// ServiceVIPs is implemented by the parameters of a service that maps
// virtual IPs to endpoints (kube-proxy).
type ServiceVIPs interface {
	VirtualServices() []VirtualService
}

// kindParams checks a kind name against its registry and decodes its
// params strictly into the kind's type. It returns the checked params, or
// nil when they have problems; the checked params are kept for the model
// under the path p.
func (c *checker) kindParams(p, kind string, params *yaml.Node, what string) any {
	if kind == "" {
		return nil // reported as a missing required field
	}
	reg := c.d.services
	if what == "fault" {
		reg = c.d.faults
	}
	if reg == nil {
		return nil
	}
	if _, ok := reg.Params(kind); !ok {
		c.at(p+".kind", "unknown %s kind %q%s", what, kind, suggest(kind, reg.Kinds()))
		return nil
	}
	v := c.d.kindParams(reg, kind, params, p+".params")
	if v != nil {
		c.d.typed[p] = v
	}
	return v
}

// kindParams decodes a params node (nil or empty for none) strictly into a
// new parameter struct of a known kind of reg and checks it. Problems,
// each at its field, go to d; it returns nil when there are any.
func (d *decoder) kindParams(reg Registry, kind string, params *yaml.Node, path string) any {
	v, _ := reg.Params(kind)
	before := len(d.problems)
	if params != nil && params.Kind != 0 {
		d.decode(params, reflect.ValueOf(v).Elem(), path)
	}
	if len(d.problems) > before {
		return nil
	}
	if pc, ok := v.(ParamChecker); ok {
		if err := pc.Check(); err != nil {
			for _, e := range unjoin(err) {
				// Only a FieldError itself names its field: one wrapped
				// with a prefix (faults[0].%w) is at the prefix's element,
				// which its text names.
				if fe, ok := e.(*FieldError); ok {
					d.at(join(path, fe.Field), "%s", fe.Msg)
				} else {
					d.at(path, "%s", e.Error())
				}
			}
			return nil
		}
	}
	return v
}

func (d *decoder) at(path, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Pos: d.pos.at(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// ParamsFromYAML decodes text, a kind's parameters written as in a
// scenario ("{port: 80}", or "" for none), strictly into reg's parameter
// struct of kind and checks it, as loading a scenario does.
func ParamsFromYAML(reg Registry, kind, text string) (any, error) {
	if _, ok := reg.Params(kind); !ok {
		return nil, fmt.Errorf("unknown kind %q%s", kind, suggest(kind, reg.Kinds()))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("parameters of %s: %w", kind, err)
	}
	d := newDecoder("params")
	var n *yaml.Node
	if len(doc.Content) == 1 {
		n = doc.Content[0]
		if n.Kind != yaml.MappingNode && !isNull(n) {
			return nil, fmt.Errorf("parameters of %s must be a mapping (key: value), not a %s", kind, kindName(n))
		}
	}
	v := d.kindParams(reg, kind, n, "params")
	if v == nil {
		return nil, d.problems
	}
	return v, nil
}

// ParseParams turns NAME=VALUE pairs typed on a command line (netdojo
// inject --param) into reg's parameter struct of kind, decoded strictly and
// checked as in a scenario. Each value is read as a YAML scalar (80, true,
// 0.3, "text"); a comma makes a list (names=a,b) unless the value is quoted
// or starts with [ or {, which is read as YAML. Errors name the parameter.
func ParseParams(reg Registry, kind string, pairs []string) (any, error) {
	if _, ok := reg.Params(kind); !ok {
		return nil, fmt.Errorf("unknown kind %q%s", kind, suggest(kind, reg.Kinds()))
	}
	var m *yaml.Node
	if len(pairs) > 0 {
		m = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	seen := map[string]bool{}
	for _, pair := range pairs {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: write it as NAME=VALUE, such as port=80", pair)
		}
		if seen[k] {
			return nil, fmt.Errorf("--param %s is given twice", k)
		}
		seen[k] = true
		val, err := paramValue(v)
		if err != nil {
			return nil, fmt.Errorf("--param %s: %w", k, err)
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, val)
	}
	d := newDecoder("--param")
	v := d.kindParams(reg, kind, m, "")
	if v == nil {
		errs := make([]error, len(d.problems))
		for i, p := range d.problems {
			path, msg := p.Path, p.Msg
			if path == "" {
				// A Check error starts with the parameter's name.
				if name, rest, ok := strings.Cut(msg, ": "); ok && isParam(reg, kind, name) {
					path, msg = name, rest
				}
			}
			if path == "" {
				errs[i] = fmt.Errorf("--param: %s", msg)
			} else {
				errs[i] = fmt.Errorf("--param %s: %s", path, msg)
			}
		}
		return nil, errors.Join(errs...)
	}
	return v, nil
}

// isParam tells whether path (port, zones[0].origin) starts with a
// parameter of kind.
func isParam(reg Registry, kind, path string) bool {
	v, _ := reg.Params(kind)
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return false
	}
	name, _, _ := strings.Cut(path, ".")
	name, _, _ = strings.Cut(name, "[")
	for i := 0; i < t.Elem().NumField(); i++ {
		if n := yamlName(t.Elem().Field(i)); n != "" && n == name {
			return true
		}
	}
	return false
}

// paramValue reads one --param value: a list when it holds a comma and is
// neither quoted nor YAML flow, else one value.
func paramValue(v string) (*yaml.Node, error) {
	quoted := strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "'")
	if strings.Contains(v, ",") && !quoted && !strings.HasPrefix(v, "[") && !strings.HasPrefix(v, "{") {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, item := range strings.Split(v, ",") {
			n, err := scalarNode(strings.TrimSpace(item))
			if err != nil {
				return nil, err
			}
			seq.Content = append(seq.Content, n)
		}
		return seq, nil
	}
	return scalarNode(v)
}

// scalarNode reads one value as YAML; text YAML would read as something
// else (such as "a: b") stays a string.
func scalarNode(v string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(v), &doc); err != nil {
		return nil, fmt.Errorf("%q is not a YAML value: %w", v, err)
	}
	if len(doc.Content) == 1 {
		n := doc.Content[0]
		if n.Kind == yaml.ScalarNode || strings.HasPrefix(v, "[") || strings.HasPrefix(v, "{") {
			n.Line, n.Column = 0, 0
			return n, nil
		}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}, nil
}

// CopyParams returns a deep copy of checked parameters p (a pointer to a
// parameter struct, as a Registry gives): what the parameters say (their
// exported fields: slices, maps and pointers included) is copied, so that
// changing the copy leaves p as it was; values a Check derives (unexported
// fields) are shared, and Check makes them anew. nil gives nil.
func CopyParams(p any) any {
	if p == nil {
		return nil
	}
	v := reflect.ValueOf(p)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return p
	}
	c := reflect.New(v.Type().Elem())
	c.Elem().Set(v.Elem())
	deepen(c.Elem())
	return c.Interface()
}

// deepen replaces the slices, maps and pointers v holds in exported fields
// by copies of their own.
func deepen(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				deepen(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(s, v)
		for i := 0; i < s.Len(); i++ {
			deepen(s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if v.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			deepen(e)
			m.SetMapIndex(iter.Key(), e)
		}
		v.Set(m)
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		e := reflect.New(v.Type().Elem())
		e.Elem().Set(v.Elem())
		deepen(e.Elem())
		v.Set(e)
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// DecodeYAML decodes text strictly into v, a pointer to one of the
// format's types (such as *Check or *Answer), as loading a scenario
// decodes that part: unknown fields, type errors and missing required
// fields are problems with their line and path. For tests and tools that
// write one piece of a scenario on its own; what needs the whole scenario
// (host names, references) is not checked.
func DecodeYAML(file, text string, v any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	d := newDecoder(file)
	if len(doc.Content) == 1 {
		d.decode(doc.Content[0], reflect.ValueOf(v).Elem(), "")
	}
	if len(d.problems) > 0 {
		return d.problems
	}
	return nil
}
