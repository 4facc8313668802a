package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/spf13/cobra"
)

// runProbeCmd runs a probe or triage command in-process, as main would,
// and returns its output and exit code.
func runProbeCmd(t *testing.T, g *globalOptions, mk func(*globalOptions) *cobra.Command, args ...string) (string, int) {
	t.Helper()
	cmd := mk(g)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as the root command does
	err := cmd.Execute()
	if err == nil {
		return out.String(), exitOK
	}
	var quiet *silentError
	var ee *exitError
	switch {
	case errors.As(err, &quiet):
		return out.String(), quiet.code
	case errors.As(err, &ee):
		return out.String() + err.Error(), ee.code
	}
	return out.String() + err.Error(), exitFailed
}

func TestProbeAndTriageCommandsInALab(t *testing.T) {
	before := sandboxtest.Take(t)
	state := t.TempDir()
	lab := name("ndpn-")
	if out, code := nd(t, state, "start", "first-lab", "--name", lab); code != 0 {
		t.Fatalf("start: exit %d\n%s", code, out)
	}
	t.Cleanup(func() {
		if out, code := nd(t, state, "stop", lab); code != 0 {
			t.Errorf("stop: exit %d\n%s", code, out)
		}
		sandboxtest.AssertNoLeftovers(t, sandbox.Store{Dir: state}, lab)
		sandboxtest.AssertUnchanged(t, before)
	})
	// A TCP listener on the server, made inside its namespace.
	l, err := sandbox.Open(sandbox.Store{Dir: state}, lab)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv, err := l.Host("server")
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := srv.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "203.0.113.80:8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello\n"))
	})}
	go hs.Serve(ln)
	defer hs.Close()

	text := &globalOptions{output: "text", stateDir: state}
	js := &globalOptions{output: "json", stateDir: state}
	in := "--in=" + lab + "/client"
	cases := []struct {
		name string
		g    *globalOptions
		mk   func(*globalOptions) *cobra.Command
		args []string
		code int
		want string
	}{
		{"ping of the server answers", text, newProbeCmd, []string{in, "ping", "-c", "2", "-i", "50ms", "203.0.113.80"}, 0, "2 sent, 2 received"},
		{"ping by a hosts-file name answers", text, newProbeCmd, []string{in, "ping", "-c", "1", "www.shop.example"}, 0, "echo reply from 203.0.113.80"},
		{"ping with TTL 1 expires at the router", text, newProbeCmd, []string{in, "ping", "-c", "1", "-t", "1", "203.0.113.80"}, 1, "time-exceeded"},
		{"an open port is open", text, newProbeCmd, []string{in, "reach", "203.0.113.80:8080"}, 0, ": open after"},
		{"a closed port is refused in JSON", js, newProbeCmd, []string{in, "reach", "203.0.113.80:8081"}, 1, `"outcome": "refused-rst"`},
		{"a closed port with the server observed is nothing listening", text, newProbeCmd, []string{in, "reach", "--observe", lab + "/server", "203.0.113.80:8082"}, 1, "nothing listens on port 8082"},
		{"route get goes via the router", text, newProbeCmd, []string{in, "route", "203.0.113.80"}, 0, "203.0.113.80 via 10.0.1.1 dev eth0 src 10.0.1.10"},
		{"the routing table has a default route", text, newProbeCmd, []string{in, "route"}, 0, "default via 10.0.1.1 dev eth0"},
		{"an ICMP trace has two hops", text, newProbeCmd, []string{in, "trace", "--mode", "icmp", "-w", "500ms", "203.0.113.80"}, 0, " 2  203.0.113.80"},
		{"path MTU is the link's", text, newProbeCmd, []string{in, "mtu", "--timeout", "300ms", "203.0.113.80"}, 0, "path mtu to 203.0.113.80: 1500"},
		{"http by a hosts-file name answers 200", text, newProbeCmd, []string{in, "http", "http://www.shop.example:8080/"}, 0, "HTTP/1.1 200 OK from 203.0.113.80:8080, 6 bytes"},
		{"triage with a URL passes", text, newTriageCmd, []string{in, "--url", "http://www.shop.example:8080/"}, 0, "answers HTTP 200"},
		{"links show eth0", text, newProbeCmd, []string{in, "links"}, 0, "eth0 (veth) state up mtu 1500"},
		{"triage of a healthy host passes", text, newTriageCmd, []string{in, "--target", "www.shop.example:8080"}, 0, "every layer works"},
		{"triage in JSON names no failing layer", js, newTriageCmd, []string{in, "--target", "203.0.113.80"}, 0, `"failing": ""`},
		{"triage of a closed port names the destination", text, newTriageCmd, []string{in, "--target", "203.0.113.80:8081"}, 1, "lowest failing layer: destination reachable"},
		{"a malformed --in is a usage error", text, newProbeCmd, []string{"--in", "nolab", "links"}, exitUsage, "LAB/HOST"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := runProbeCmd(t, c.g, c.mk, c.args...)
			t.Logf("netdojo %s\n%s", strings.Join(c.args, " "), out)
			if code != c.code || !strings.Contains(out, c.want) {
				t.Errorf("exit %d, want %d; output lacks %q:\n%s", code, c.code, c.want, out)
			}
			if c.g == js {
				var v any
				if err := json.Unmarshal([]byte(out), &v); err != nil {
					t.Errorf("not JSON: %v\n%s", err, out)
				}
			}
		})
	}
	t.Run("triage without a default route names the gateway", func(t *testing.T) {
		if out, code := nd(t, state, "exec", lab, "client", "--", "ip", "route", "del", "default"); code != 0 {
			t.Fatalf("removing the default route: %s", out)
		}
		out, code := runProbeCmd(t, js, newTriageCmd, in, "--target", "203.0.113.80:8080")
		var rep probe.TriageReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.Failing != probe.StepGateway {
			t.Errorf("exit %d, failing %q (%v), want 1 and %q:\n%s", code, rep.Failing, err, probe.StepGateway, out)
		}
	})
}
