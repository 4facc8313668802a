// Checks shared by the kinds' parameters.

package faults

import (
	"fmt"
	"net/netip"
	"time"
)

func checkPortParam(field string, port int) error {
	if port == 0 {
		return fmt.Errorf("%s: required; give the port, such as 80", field)
	}
	if port < 1 || port > 65535 {
		return fmt.Errorf("%s: %d is not a port; give 1-65535", field, port)
	}
	return nil
}

func checkAddrOrCIDR(field, v string) error {
	if v == "" {
		return nil
	}
	if _, err := netip.ParseAddr(v); err == nil {
		return nil
	}
	if _, err := netip.ParsePrefix(v); err == nil {
		return nil
	}
	return fmt.Errorf("%s: %q is not an IP address or CIDR such as \"10.0.1.0/24\"", field, v)
}

func checkDurationParam(field, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration; write it like \"100ms\" or \"2s\"", field, s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s: %q is negative", field, s)
	}
	return d, nil
}
