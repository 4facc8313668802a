package checker

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/netdojo/netdojo/probe"
)

// TestReferenceTrafficAgreesWithTcpdump writes each reference traffic set
// to a pcap file and checks that tcpdump -r selects exactly the packets the
// filter judge selects, so a learner's filter is judged as tcpdump would
// run it. It also checks that every wanted set is non-empty and not the
// whole traffic, so that no filter passes by selecting all or nothing.
func TestReferenceTrafficAgreesWithTcpdump(t *testing.T) {
	filters := []string{
		"tcp[tcpflags] == tcp-syn",
		"tcp[tcpflags] & tcp-syn != 0",
		"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
		"tcp port 80 and tcp[32:4] = 0x47455420",
		"tcp dst port 80 and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
		"port 80",
		"udp port 53",
		"udp dst port 53",
		"tcp[tcpflags] & tcp-rst != 0",
		"icmp",
		"src net 198.51.100.0/24",
		"tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
		"dst port 53",
		"src port 53",
		"port 53",
		"udp port 53 and udp[10] & 0x80 = 0",
		"udp[10] & 0x80 = 0 and udp port 53",
		"udp port 53 and udp[10] & 0x80 != 0",
		"udp[10] & 0x80 = 0",
		"src host 10.0.0.10 and dst port 53",
		"tcp[13] == 2",
		"tcp[13] & 2 != 0",
		"tcp[20:4] = 0x47455420",
	}
	for name, set := range trafficSets {
		ps := set()
		path := filepath.Join(t.TempDir(), name+".pcap")
		writeReference(t, path, ps)
		data := make([][]byte, len(ps))
		for i, p := range ps {
			data[i] = p.data
		}
		for _, f := range filters {
			t.Run(name+": "+f, func(t *testing.T) {
				got, err := probe.FilterMatches(f, layers.LinkTypeEthernet, data)
				if err != nil {
					t.Fatalf("the judge rejects %q: %v", f, err)
				}
				want := tcpdumpSelects(t, path, f, len(ps))
				for i := range ps {
					if got[i] != want[i] {
						t.Errorf("packet %d (%s): judge selects %v, tcpdump %v", i, describe(ps[i]), got[i], want[i])
					}
				}
			})
		}
		for want, pred := range FilterWants {
			n := 0
			for _, p := range ps {
				if pred(p) {
					n++
				}
			}
			if name == "web-mix" && (n == 0 || n == len(ps)) {
				t.Errorf("%s: %s selects %d of %d packets; a filter could pass by taking all or none", name, want, n, len(ps))
			}
		}
	}
}

// writeReference writes packets with timestamps 1 s, 2 s, ... so that
// tcpdump -tt prints each packet's index plus one.
func writeReference(t *testing.T, path string, ps []refPacket) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i+1), 0), CaptureLength: len(p.data), Length: len(p.data)}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
}

// tcpdumpSelects runs tcpdump -r with the filter and returns which packets
// it printed.
func tcpdumpSelects(t *testing.T, path, filter string, n int) []bool {
	t.Helper()
	out, err := exec.Command("tcpdump", "-n", "-tt", "-r", path, filter).Output()
	if err != nil {
		t.Fatalf("tcpdump -r %s %q: %v", path, filter, err)
	}
	sel := make([]bool, n)
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		ts, _, _ := strings.Cut(l, " ")
		sec, _, _ := strings.Cut(ts, ".")
		i, err := strconv.Atoi(sec)
		if err != nil || i < 1 || i > n {
			t.Fatalf("tcpdump line %q", l)
		}
		sel[i-1] = true
	}
	return sel
}
