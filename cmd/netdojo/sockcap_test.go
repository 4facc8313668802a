package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

func TestSocketsCommandOutput(t *testing.T) {
	sandboxtest.NeedRoot(t, "creates a namespace with sockets to list")
	ns := sandboxtest.NewNetns(t, "ndsc-cli-")
	sandboxtest.Listen(t, ns, "tcp4", "127.0.0.1:7443")
	o := &socketsOptions{states: []string{"listening"}}
	f, err := o.filter()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the text table shows the listener and its process", func(t *testing.T) {
		var out bytes.Buffer
		if err := writeSockets(&globalOptions{output: "text"}, o, f, ns, &out); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("pid=%d,", os.Getpid())
		if !strings.Contains(out.String(), "LISTEN") || !strings.Contains(out.String(), "127.0.0.1:7443") || !strings.Contains(out.String(), want) {
			t.Errorf("output:\n%s", out.String())
		}
	})
	t.Run("the JSON summary counts the listener", func(t *testing.T) {
		var out bytes.Buffer
		o := *o
		o.summary = true
		if err := writeSockets(&globalOptions{output: "json"}, &o, f, ns, &out); err != nil {
			t.Fatal(err)
		}
		var rep socketsReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.ByState) != 1 || rep.ByState[0].Key != "tcp LISTEN" || rep.ByState[0].Count != 1 || len(rep.Explain) == 0 {
			t.Errorf("%+v", rep)
		}
	})
}

func TestCaptureCommand(t *testing.T) {
	run := func(t *testing.T, output string, args ...string) string {
		t.Helper()
		g := &globalOptions{output: output}
		cmd := newCaptureCmd(g)
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("capture %v: %v", args, err)
		}
		return out.String()
	}
	t.Run("capture -d joins its arguments into one filter and prints the program", func(t *testing.T) {
		// probe's tests hold the disassembly against tcpdump -d.
		p, err := probe.CompileFilter("tcp port 80 and tcp[32:4] = 0x47455420", layers.LinkTypeEthernet, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := run(t, "text", "-d", "tcp", "port", "80", "and", "tcp[32:4]", "=", "0x47455420"); got != p.Disassemble() {
			t.Errorf("got\n%s\nwant\n%s", got, p.Disassemble())
		}
	})
	t.Run("capture --read --analyze reports the handshakes of a stored capture", func(t *testing.T) {
		out := run(t, "json", "--read", "../../probe/testdata/sockcap/lab.pcap", "--analyze")
		var a probe.PcapAnalysis
		if err := json.Unmarshal([]byte(out), &a); err != nil {
			t.Fatal(err)
		}
		results := map[string]bool{}
		for _, h := range a.Handshakes {
			results[h.Result] = true
		}
		for _, r := range []string{probe.HandshakeComplete, probe.HandshakeNoSynAck, probe.HandshakeReset} {
			if !results[r] {
				t.Errorf("no %s handshake in %+v", r, a.Handshakes)
			}
		}
		text := run(t, "text", "--read", "../../probe/testdata/sockcap/lab.pcap", "--analyze")
		if !strings.Contains(text, "fragmentation needed") || !strings.Contains(text, "next-hop MTU 1280") {
			t.Errorf("summary:\n%s", text)
		}
	})
	t.Run("capture --read with a filter lists only the matching packets", func(t *testing.T) {
		out := run(t, "text", "--read", "../../probe/testdata/sockcap/lab.pcap", "udp", "port", "53")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 {
			t.Errorf("%d lines for two DNS exchanges:\n%s", len(lines), out)
		}
		for _, l := range lines {
			if !strings.Contains(l, "UDP") || !strings.Contains(l, ".53") {
				t.Errorf("line %q", l)
			}
		}
	})
}
