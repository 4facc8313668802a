package scenarios

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
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

// WithinField places err, a problem found in the value of field (a list
// item or a nested mapping such as "zones[0]"), under that field: a
// FieldError's field becomes "zones[0].origin", any other error is the
// field's own.
func WithinField(field string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		sep := "."
		if strings.HasPrefix(fe.Field, "[") {
			sep = ""
		}
		return &FieldError{Field: field + sep + fe.Field, Msg: fe.Msg}
	}
	return &FieldError{Field: field, Msg: err.Error()}
}

// CheckNonNegative wants zero or more.
func CheckNonNegative(field string, v int) error {
	if v < 0 {
		return FieldErrorf(field, "%d is negative; give zero or more", v)
	}
	return nil
}

// CheckPositive fills a default and wants a number above zero and at most
// max.
func CheckPositive(field string, v *float64, def, max float64) error {
	if *v == 0 {
		*v = def
	}
	if *v <= 0 || *v > max {
		return FieldErrorf(field, "%g is out of range; give more than 0 and at most %g", *v, max)
	}
	return nil
}

// CheckDurationUpTo parses a duration as CheckDuration does, filling def,
// and wants one above zero and, when max is not zero, at most max.
func CheckDurationUpTo(field, s string, def, max time.Duration) (time.Duration, error) {
	d, err := CheckDuration(field, s, def)
	if err != nil {
		return 0, err
	}
	if s == "" {
		s = shortDuration(def)
	}
	switch {
	case d == 0 && max == 0:
		return 0, FieldErrorf(field, "%q is out of range; give more than 0, such as %q", s, shortDuration(def))
	case d == 0 || (max > 0 && d > max):
		return 0, FieldErrorf(field, "%q is out of range; give more than 0 and at most %s, such as %q", s, shortDuration(max), shortDuration(def))
	}
	return d, nil
}

// shortDuration writes d as a scenario would: "1m", not "1m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// CheckIP parses an IP address, or nothing (the zero Addr); example is
// one to give, such as "10.0.1.99".
func CheckIP(field, v, example string) (netip.Addr, error) {
	return checkIP(field, v, example, "IP")
}

// CheckIPv4 parses an IPv4 address, or nothing (the zero Addr).
func CheckIPv4(field, v, example string) (netip.Addr, error) {
	return checkIP(field, v, example, "IPv4")
}

func checkIP(field, v, example, family string) (netip.Addr, error) {
	if v == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || (family == "IPv4" && !a.Is4()) {
		return netip.Addr{}, FieldErrorf(field, "%q is not an %s address; give one such as %q", v, family, example)
	}
	return a, nil
}

// CheckIPv4Port wants an "IPv4:port" address, or nothing.
func CheckIPv4Port(field, v, example string) (netip.AddrPort, error) {
	if v == "" {
		return netip.AddrPort{}, nil
	}
	ap, err := netip.ParseAddrPort(v)
	if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
		return netip.AddrPort{}, FieldErrorf(field, "%q is not IPv4:port; give one such as %q", v, example)
	}
	return ap, nil
}

// CheckAddrPorts checks a list of servers, each an IP address (port def)
// or IP:port, and returns them as IP:port.
func CheckAddrPorts(field string, vs []string, def int) ([]string, error) {
	var out []string
	for i, s := range vs {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.AddrPortFrom(a, uint16(def)).String())
			continue
		}
		if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
			out = append(out, ap.String())
			continue
		}
		return nil, FieldErrorf(fmt.Sprintf("%s[%d]", field, i), "%q is not an IP address or IP:port; give a lab server such as \"10.0.0.53\"", s)
	}
	return out, nil
}

// CheckPrefix parses a network prefix without host bits, such as
// "10.0.1.0/24".
func CheckPrefix(field, v, example string) (netip.Prefix, error) {
	pf, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, FieldErrorf(field, "%q is not a network prefix; give one such as %q", v, example)
	}
	if pf.Masked() != pf {
		return netip.Prefix{}, FieldErrorf(field, "%s has host bits set; did you mean %s?", pf, pf.Masked())
	}
	return pf, nil
}

// CheckIfName wants a Linux interface name: at most 15 characters, or
// nothing.
func CheckIfName(field, v string) error {
	if len(v) > 15 {
		return FieldErrorf(field, "%q is longer than 15 characters; give the interface's name as ip link shows it, such as \"eth0\"", v)
	}
	return nil
}

// CheckDNSName wants a domain name, such as "www.corp.test.".
func CheckDNSName(field, v string) error {
	if _, ok := dns.IsDomainName(v); !ok || v == "" {
		return FieldErrorf(field, "%q is not a domain name; give one such as \"www.corp.test.\"", v)
	}
	return nil
}

// CheckDNSType wants a record type such as A or MX, or nothing (every
// type, 0).
func CheckDNSType(field, v string) (uint16, error) {
	if v == "" {
		return 0, nil
	}
	t, ok := dns.StringToType[strings.ToUpper(v)]
	if !ok {
		return 0, FieldErrorf(field, "%q is not a record type; give A, AAAA, MX, TXT, ... or leave it out for every type", v)
	}
	return t, nil
}

// CheckProcessName wants a process name as the kernel keeps it (ss -p
// and ps show it): 1-15 printable characters, no spaces or slashes.
func CheckProcessName(field, v string) error {
	if v == "" {
		return FieldErrorf(field, "must not be empty; give the name ss -p should show, e.g. \"nginx\"")
	}
	if len(v) > 15 {
		return FieldErrorf(field, "%q is %d characters; the kernel keeps at most 15 (e.g. %q)", v, len(v), v[:15])
	}
	for _, r := range v {
		if r < 0x21 || r > 0x7e || r == '/' {
			return FieldErrorf(field, "%q must be printable ASCII without spaces or slashes", v)
		}
	}
	return nil
}
