package scenarios

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// The parameter-check kit: small checks for the Check methods of fault
// and service parameters. Each returns nil or a *FieldError that names the
// parameter by its YAML name, so the loader reports it at the field; its
// text reads "FIELD: what is wrong; what to give".

// FieldErrorf makes a FieldError for field.
func FieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// CheckRequired wants a value; hint says what to give, such as
// "give the name of one of the host's services".
func CheckRequired(field, v, hint string) error {
	if v == "" {
		return FieldErrorf(field, "required; %s", hint)
	}
	return nil
}

// CheckPort fills a default port and wants 1-65535; a default of 0 makes
// the port required.
func CheckPort(field string, port *int, def int) error {
	if *port == 0 {
		if def == 0 {
			return FieldErrorf(field, "required; give the port, such as 80")
		}
		*port = def
	}
	if *port < 1 || *port > 65535 {
		return FieldErrorf(field, "%d is not a port; give 1-65535", *port)
	}
	return nil
}

// CheckRange fills a default and wants a number from lo to hi.
func CheckRange(field string, v *int, def, lo, hi int) error {
	if *v == 0 {
		*v = def
	}
	if *v < lo || *v > hi {
		return FieldErrorf(field, "%d is out of range; give %d to %d", *v, lo, hi)
	}
	return nil
}

// CheckDuration parses a duration such as "2s", def when s is empty, and
// refuses negative ones.
func CheckDuration(field, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, FieldErrorf(field, "%q is not a duration; write it like \"200ms\" or \"2s\"", s)
	}
	if d < 0 {
		return 0, FieldErrorf(field, "%q is negative; give zero or more, like \"2s\"", s)
	}
	return d, nil
}

// CheckOneOf fills a default, upper-cases the value when upper is set
// (iptables chains), and wants one of allowed.
func CheckOneOf(field string, v *string, def string, upper bool, allowed ...string) error {
	if *v == "" {
		*v = def
	}
	if upper {
		*v = strings.ToUpper(*v)
	}
	if !slices.Contains(allowed, *v) {
		return FieldErrorf(field, "%q is not one of %s", *v, strings.Join(allowed, ", "))
	}
	return nil
}

// CheckAddr wants an IP address, or nothing (a service then listens on
// every address).
func CheckAddr(field, v string) error {
	if v == "" {
		return nil
	}
	if _, err := netip.ParseAddr(v); err != nil {
		return FieldErrorf(field, "%q is not an IP address; give one of the host's addresses such as \"10.0.0.10\", or leave it out to listen on all", v)
	}
	return nil
}

// CheckAddrOrCIDR wants an IP address or a prefix, or nothing.
func CheckAddrOrCIDR(field, v string) error {
	if v == "" {
		return nil
	}
	if _, err := netip.ParseAddr(v); err == nil {
		return nil
	}
	if _, err := netip.ParsePrefix(v); err == nil {
		return nil
	}
	return FieldErrorf(field, "%q is not an IP address or CIDR such as \"10.0.1.0/24\"", v)
}

// CheckAddrPort wants an "IP:port" address.
func CheckAddrPort(field, addr string) error {
	if addr == "" {
		return FieldErrorf(field, "required; give an address such as \"10.0.0.20:8080\"")
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Port() == 0 {
		return FieldErrorf(field, "%q is not IP:port; give an address such as \"10.0.0.20:8080\" (IPv6 as \"[2001:db8::1]:80\")", addr)
	}
	return nil
}
