package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// startAnswersLab starts a built-in scenario with its faults under a lab
// name of this suite's "answers-" prefix and registers its stop.
func startAnswersLab(t *testing.T, state, scenario string) string {
	t.Helper()
	lab := name("answers-")
	if out, code := nd(t, state, "start", scenario, "--seed", "1", "--name", lab); code != 0 {
		t.Fatalf("start %s: exit %d\n%s", scenario, code, out)
	}
	t.Cleanup(func() {
		nd(t, state, "stop", lab)
		sandboxtest.AssertNoLeftovers(t, sandbox.Store{Dir: state}, lab)
	})
	return lab
}

// injected are the names of a lab's faults, as an instructor sees them.
func injected(t *testing.T, state, lab string) []string {
	t.Helper()
	out, code := nd(t, state, "-o", "json", "status", lab, "--reveal")
	var st sandbox.State
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Faults) == 0 {
		t.Fatalf("status --reveal: exit %d\n%s", code, out)
	}
	return st.Faults
}

// noneOf fails when out contains any of the words.
func noneOf(t *testing.T, what, out string, words ...string) {
	t.Helper()
	for _, w := range words {
		if w != "" && strings.Contains(out, w) {
			t.Errorf("%s gives %q away:\n%s", what, w, out)
		}
	}
}

// TestNoGiveaways: on a broken lab, what a learner sees - status (text and
// JSON), ps -ef inside a host, and check - names no injected fault and
// states no computed answer: not the PID or the name of the process that
// squats port 443, not the path MTU.
func TestNoGiveaways(t *testing.T) {
	t.Run("quiz-port-443, who holds the port", func(t *testing.T) {
		t.Parallel()
		state := t.TempDir()
		lab := startAnswersLab(t, state, "quiz-port-443")
		faults := injected(t, state, lab)
		// The answers, read with the learner's own tool.
		ss, _ := nd(t, state, "exec", lab, "www", "--", "ss", "-Htlnp", "sport = :443")
		m := regexp.MustCompile(`users:\(\("([^"]+)",pid=(\d+),`).FindStringSubmatch(ss)
		if m == nil {
			t.Fatalf("ss shows no process on 443:\n%s", ss)
		}
		squatter, pid := m[1], m[2]
		secrets := append([]string{"port-conflict", "squatter", "__service"}, faults...)

		status, _ := nd(t, state, "status", lab)
		noneOf(t, "status", status, append(secrets, squatter)...)
		statusJSON, _ := nd(t, state, "-o", "json", "status", lab)
		noneOf(t, "status -o json", statusJSON, append(secrets, squatter, `"pid": `+pid)...)

		// The processes of www's network namespace, as ps shows them (ps
		// alone lists them too once each lab has its own PID namespace).
		ps, code := nd(t, state, "exec", lab, "www", "--", "sh", "-c",
			`me=$(readlink /proc/self/ns/net); for p in /proc/[0-9]*; do [ "${p#/proc/}" != $$ ] && [ "$(readlink $p/ns/net 2>/dev/null)" = "$me" ] && ps -o pid=,comm=,args= -p ${p#/proc/}; done; true`)
		if code != 0 || !strings.Contains(ps, "sshd") {
			t.Fatalf("ps: exit %d\n%s", code, ps)
		}
		noneOf(t, "ps inside www", ps, append(secrets, "{", "netdojo", `"name"`)...)
		if !regexp.MustCompile(`(?m)^\s*` + pid + `\s+` + regexp.QuoteMeta(squatter) + `\s+` + regexp.QuoteMeta(squatter) + `\s*$`).MatchString(ps) {
			t.Errorf("ps does not show the squatter %s (pid %s) as an ordinary program:\n%s", squatter, pid, ps)
		}

		check, code := nd(t, state, "check", lab)
		if code == 0 {
			t.Fatalf("check passes on a broken lab:\n%s", check)
		}
		noneOf(t, "check", check, append(secrets, "pid="+pid, " "+pid+" ", `"`+squatter+`"`)...)
	})
	t.Run("icmp-path-mtu: the narrow link", func(t *testing.T) {
		t.Parallel()
		state := t.TempDir()
		lab := startAnswersLab(t, state, "icmp-path-mtu")
		faults := injected(t, state, lab)
		status, _ := nd(t, state, "status", lab)
		noneOf(t, "status", status, faults...)
		check, code := nd(t, state, "check", lab)
		if code == 0 {
			t.Fatalf("check passes on a broken lab:\n%s", check)
		}
		// Whatever the seed drew, no narrow MTU of the scenario is stated.
		noneOf(t, "check", check, append([]string{"1400", "1380", "1280", "1420"}, faults...)...)
	})
	t.Run("lan-200: the silent host", func(t *testing.T) {
		t.Parallel()
		state := t.TempDir()
		lab := startAnswersLab(t, state, "lan-200")
		check, code := nd(t, state, "check", lab)
		if code == 0 {
			t.Fatalf("check passes on a broken lab:\n%s", check)
		}
		// The fix task pings the culprit: its address is withheld until
		// which-host is answered.
		if regexp.MustCompile(`ping from h1 to 10\.1\.0\.\d+:`).MatchString(check) || !strings.Contains(check, "(withheld)") {
			t.Errorf("check names the silent host before it is found:\n%s", check)
		}
	})
	t.Run("dns-with-dig: the MX host", func(t *testing.T) {
		t.Parallel()
		state := t.TempDir()
		lab := startAnswersLab(t, state, "dns-with-dig")
		check, code := nd(t, state, "check", lab)
		if code == 0 {
			t.Fatalf("check passes on a broken lab:\n%s", check)
		}
		// An invariant that holds looks up the MX record; it must not
		// print the host the mx-host task asks for.
		for _, mx := range []string{"mail", "mx1", "smtp", "post"} {
			noneOf(t, "check", check, mx+".shop.example")
		}
	})
}

// TestServiceRestartBehindALoopbackFirewall: a firewall that drops all
// loopback traffic on the host does not make 'netdojo service restart'
// report a running service as not ready (readiness reads the socket
// table, it does not dial).
func TestServiceRestartBehindALoopbackFirewall(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	lab := name("answers-")
	if out, code := nd(t, state, "start", "first-lab", "--no-faults", "--name", lab); code != 0 {
		t.Fatalf("start: %s", out)
	}
	t.Cleanup(func() {
		nd(t, state, "stop", lab)
		sandboxtest.AssertNoLeftovers(t, sandbox.Store{Dir: state}, lab)
	})
	if out, code := nd(t, state, "exec", lab, "server", "--", "sh", "-c", "iptables -A INPUT -i lo -j DROP && iptables -A OUTPUT -o lo -j DROP"); code != 0 {
		t.Fatalf("blocking loopback: %s", out)
	}
	if out, code := nd(t, state, "service", lab, "server", "web", "restart"); code != 0 {
		t.Fatalf("service restart behind a loopback DROP: exit %d\n%s", code, out)
	}
	out, _ := nd(t, state, "exec", lab, "server", "--", "ss", "-Htlnp", "sport = :80")
	if !strings.Contains(out, `"httpd"`) {
		t.Errorf("after the restart ss shows no httpd on port 80:\n%s", out)
	}
	if _, code := nd(t, state, "exec", lab, "client", "--", "nc", "-z", "-w", "2", "203.0.113.80", "80"); code != 0 {
		t.Error("the restarted web server does not answer the client")
	}
}
