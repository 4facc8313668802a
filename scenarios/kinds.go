package scenarios

import (
	"errors"
	"fmt"
	"reflect"

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

// kindParams checks a kind name against its registry and decodes its
// params strictly into the kind's type. It returns the checked params, or
// nil when they have problems.
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
	v, ok := reg.Params(kind)
	if !ok {
		c.at(p+".kind", "unknown %s kind %q%s", what, kind, suggest(kind, reg.Kinds()))
		return nil
	}
	before := len(c.d.problems)
	if params.Kind != 0 {
		c.d.decode(params, reflect.ValueOf(v).Elem(), p+".params")
	}
	if len(c.d.problems) > before {
		return nil
	}
	if pc, ok := v.(ParamChecker); ok {
		if err := pc.Check(); err != nil {
			for _, e := range unjoin(err) {
				var fe *FieldError
				if errors.As(e, &fe) {
					c.at(p+".params."+fe.Field, "%s", fe.Msg)
				} else {
					c.at(p+".params", "%s", e.Error())
				}
			}
			return nil
		}
	}
	return v
}

// DecodeParams decodes a kind's params node strictly into v (a pointer to a
// parameter struct) and checks it; used when a fault is injected by hand.
func DecodeParams(file, path string, params *yaml.Node, v any) error {
	d := newDecoder(file)
	if params != nil && params.Kind != 0 {
		d.decode(params, reflect.ValueOf(v).Elem(), path)
	}
	if len(d.problems) > 0 {
		return d.problems
	}
	if pc, ok := v.(ParamChecker); ok {
		if err := pc.Check(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
