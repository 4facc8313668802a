package probe

import (
	"encoding/json"
	"net/netip"
	"testing"
)

func TestLinksAgreeWithIPLink(t *testing.T) {
	l := pnNewLab(t)
	l.host("a")
	l.host("b")
	l.link("a", "eth0", "10.5.0.1/24", "b", "eth0", "10.5.0.2/24")
	l.link("a", "eth1", "10.6.0.1/24", "b", "eth1", "")
	h := l.handle("b")
	defer h.Close()
	peer, err := h.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetDown(peer); err != nil {
		t.Fatal(err)
	}
	l.mustRun("a", "ping", "-c", "2", "-i", "0.2", "-q", "10.5.0.2")

	rep, err := Links(l.ns("a"))
	if err != nil {
		t.Fatal(err)
	}
	var ipLinks []struct {
		Ifname    string   `json:"ifname"`
		Mtu       int      `json:"mtu"`
		Operstate string   `json:"operstate"`
		Address   string   `json:"address"`
		Flags     []string `json:"flags"`
		Stats64   struct {
			Rx struct{ Packets, Bytes, Dropped uint64 } `json:"rx"`
			Tx struct{ Packets, Bytes, Dropped uint64 } `json:"tx"`
		} `json:"stats64"`
	}
	out := l.mustRun("a", "ip", "-j", "-s", "link", "show")
	if err := json.Unmarshal([]byte(out), &ipLinks); err != nil {
		t.Fatalf("decoding ip -j -s link: %v", err)
	}
	if len(ipLinks) != len(rep.Links) {
		t.Fatalf("Links found %d links, ip link shows %d", len(rep.Links), len(ipLinks))
	}
	for _, want := range ipLinks {
		t.Run("link "+want.Ifname+" matches ip link", func(t *testing.T) {
			got, ok := rep.Link(want.Ifname)
			if !ok {
				t.Fatalf("link %s missing", want.Ifname)
			}
			if got.MTU != want.Mtu || got.OperState != pnLower(want.Operstate) {
				t.Errorf("got mtu %d state %q, ip link says mtu %d state %q", got.MTU, got.OperState, want.Mtu, want.Operstate)
			}
			if want.Ifname != "lo" && got.MAC != want.Address {
				t.Errorf("mac %q, ip link says %q", got.MAC, want.Address)
			}
			if got.Stats.TxPackets > want.Stats64.Tx.Packets || got.Stats.TxPackets+4 < want.Stats64.Tx.Packets {
				t.Errorf("tx packets %d, ip link says %d", got.Stats.TxPackets, want.Stats64.Tx.Packets)
			}
		})
	}
	eth0, _ := rep.Link("eth0")
	eth1, _ := rep.Link("eth1")
	if !eth0.Up() || eth0.Stats.TxPackets < 2 {
		t.Errorf("eth0 = %+v, want up with at least 2 packets sent", eth0)
	}
	if eth1.Up() || !eth1.AdminUp || eth1.LowerUp {
		t.Errorf("eth1 = %+v, want admin up without carrier (peer down)", eth1)
	}
	addrs := rep.AddrsOf("eth0")
	found := false
	for _, a := range addrs {
		if a.Prefix == netip.MustParsePrefix("10.5.0.1/24") && a.Scope == "global" {
			found = true
		}
	}
	if !found {
		t.Errorf("eth0 addresses %+v lack 10.5.0.1/24", addrs)
	}

	ns, err := Neighbours(l.ns("a"))
	if err != nil {
		t.Fatal(err)
	}
	var ipNeigh []struct {
		Dst    string   `json:"dst"`
		Dev    string   `json:"dev"`
		Lladdr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal([]byte(l.mustRun("a", "ip", "-j", "-4", "neigh", "show")), &ipNeigh); err != nil {
		t.Fatal(err)
	}
	if len(ipNeigh) == 0 {
		t.Fatal("ip neigh shows no IPv4 neighbour after a ping")
	}
	for _, want := range ipNeigh {
		match := false
		for _, n := range ns {
			if n.IP.String() == want.Dst && n.Dev == want.Dev && n.MAC == want.Lladdr && len(want.State) > 0 && n.State == want.State[0] {
				match = true
			}
		}
		if !match {
			t.Errorf("neighbour %+v from ip neigh not found in %+v", want, ns)
		}
	}
}

func pnLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
