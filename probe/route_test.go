package probe

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// pnIPRouteGet runs `ip -j route get DST` in a host, the oracle for
// RouteGet. It returns the first entry, or the error text.
func pnIPRouteGet(l *pnLab, host, dst string) (map[string]any, string) {
	out, err := l.run(host, "ip", "-j", "route", "get", dst)
	if err != nil {
		return nil, out
	}
	var rs []map[string]any
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) == 0 {
		l.t.Fatalf("decoding ip route get %s: %v: %s", dst, err, out)
	}
	return rs[0], ""
}

func TestRouteGetAgreesWithIPRouteGet(t *testing.T) {
	l := pnChain(t)
	l.host("lonely")
	l.link("lonely", "eth0", "10.9.0.2/24", "r1", "eth9", "10.9.0.1/24")
	h := l.handle("lonely")
	defer h.Close()
	cases := []struct {
		name, host, dst string
		wantErr         error
	}{
		{"a remote host goes via the default gateway", "client", "10.3.0.2", nil},
		{"an on-link host has no gateway", "client", "10.1.0.1", nil},
		{"a public address goes via the default gateway", "client", "203.0.113.7", nil},
		{"an own address is local", "client", "10.1.0.2", nil},
		{"a host without a default route gets network unreachable", "lonely", "203.0.113.7", unix.ENETUNREACH},
		{"a router picks the connected interface", "r2", "10.3.0.2", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := RouteGet(l.ns(c.host), netip.MustParseAddr(c.dst))
			want, ipErr := pnIPRouteGet(l, c.host, c.dst)
			if c.wantErr != nil {
				var rerr *RouteError
				if !errors.As(err, &rerr) || !errors.Is(err, c.wantErr) {
					t.Fatalf("RouteGet error = %v, want a RouteError with %v", err, c.wantErr)
				}
				if !strings.Contains(ipErr, "unreachable") {
					t.Fatalf("ip route get says %q, expected an unreachable error too", ipErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("RouteGet: %v (ip route get: %v %s)", err, want, ipErr)
			}
			if want == nil {
				t.Fatalf("ip route get failed: %s", ipErr)
			}
			if dev, _ := want["dev"].(string); dev != got.Dev {
				t.Errorf("dev = %q, ip route get says %q", got.Dev, dev)
			}
			if src, _ := want["prefsrc"].(string); src != pnStr(got.Src) {
				t.Errorf("src = %q, ip route get says %q", pnStr(got.Src), src)
			}
			if gw, _ := want["gateway"].(string); gw != pnStr(got.Gateway) {
				t.Errorf("gateway = %q, ip route get says %q", pnStr(got.Gateway), gw)
			}
			if typ, _ := want["type"].(string); typ != "" && typ != got.Type {
				t.Errorf("type = %q, ip route get says %q", got.Type, typ)
			}
		})
	}
}

func TestRoutesListTheMainTable(t *testing.T) {
	l := pnChain(t)
	rs, err := Routes(l.ns("client"))
	if err != nil {
		t.Fatal(err)
	}
	var def, conn bool
	for _, r := range rs {
		if r.Default && r.Family == "inet" && r.Gateway == netip.MustParseAddr("10.1.0.1") && r.Dev == "eth0" {
			def = true
		}
		if r.Dst == netip.MustParsePrefix("10.1.0.0/24") && r.Dev == "eth0" && r.Scope == "link" && r.Protocol == "kernel" {
			conn = true
		}
	}
	if !def || !conn {
		t.Fatalf("routes %+v: default via 10.1.0.1 found=%v, connected 10.1.0.0/24 found=%v", rs, def, conn)
	}
	ds, err := DefaultRoutes(l.ns("server"))
	if err != nil || len(ds) != 1 || ds[0].Gateway != netip.MustParseAddr("10.3.0.1") {
		t.Fatalf("DefaultRoutes(server) = %+v, %v; want one via 10.3.0.1", ds, err)
	}
}

// BenchmarkRouteGet is a route lookup over netlink; compare with
// BenchmarkIPRouteGetCommand, the same answer from `ip route get`.
func BenchmarkRouteGet(b *testing.B) {
	l := pnChain(b)
	dst := netip.MustParseAddr("10.3.0.2")
	for b.Loop() {
		if _, err := RouteGet(l.ns("client"), dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIPRouteGetCommand(b *testing.B) {
	l := pnChain(b)
	for b.Loop() {
		if _, err := l.run("client", "ip", "-j", "route", "get", "10.3.0.2"); err != nil {
			b.Fatal(err)
		}
	}
}
