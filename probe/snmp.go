package probe

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SNMPCounters are the kernel's network counters of a target, named as
// `nstat` names them: "IpInReceives", "TcpExtListenDrops",
// "IcmpOutDestUnreachs", "Ip6InReceives", ...
type SNMPCounters struct {
	Target   string            `json:"target"`
	At       time.Time         `json:"at"`
	Counters map[string]uint64 `json:"counters"`
}

// SNMP reads /proc/net/snmp, /proc/net/netstat and /proc/net/snmp6 of
// the target. The files are read inside the target through
// /proc/thread-self/net: /proc/self/net would show the namespace of the
// process's main thread, not of the thread in the target.
func SNMP(t Target) (SNMPCounters, error) {
	c := SNMPCounters{Target: t.Name(), Counters: map[string]uint64{}}
	err := t.Do(func() error {
		c.At = time.Now()
		for _, f := range []string{"snmp", "netstat"} {
			if err := pnReadPairs("/proc/thread-self/net/"+f, c.Counters); err != nil {
				return err
			}
		}
		// snmp6 is absent when IPv6 is disabled.
		if err := pnReadFlat("/proc/thread-self/net/snmp6", c.Counters); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("reading SNMP counters of %s: %w", t.Name(), err)
	}
	return c, nil
}

// Get returns a counter, 0 when the kernel has none of that name.
func (c SNMPCounters) Get(name string) uint64 { return c.Counters[name] }

// Names lists the counters in order.
func (c SNMPCounters) Names() []string {
	out := make([]string, 0, len(c.Counters))
	for n := range c.Counters {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Delta returns the counters that changed between before and c, as
// `nstat` shows increments.
func (c SNMPCounters) Delta(before SNMPCounters) map[string]int64 {
	out := map[string]int64{}
	for n, v := range c.Counters {
		if d := int64(v) - int64(before.Counters[n]); d != 0 {
			out[n] = d
		}
	}
	return out
}

// pnReadPairs reads the "Prefix: names" / "Prefix: values" line pairs of
// /proc/net/snmp and /proc/net/netstat.
func pnReadPairs(path string, into map[string]uint64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var header []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if header == nil || header[0] != fields[0] {
			header = fields
			continue
		}
		prefix := strings.TrimSuffix(fields[0], ":")
		for i := 1; i < len(fields) && i < len(header); i++ {
			v, err := strconv.ParseInt(fields[i], 10, 64)
			if err != nil {
				continue
			}
			into[prefix+header[i]] = uint64(v)
		}
		header = nil
	}
	return sc.Err()
}

// pnReadFlat reads "Name value" lines (/proc/net/snmp6).
func pnReadFlat(path string, into map[string]uint64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		if v, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
			into[fields[0]] = v
		}
	}
	return sc.Err()
}
