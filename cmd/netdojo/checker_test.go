package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/verify"
)

// TestLearnerChecksHintsAnswersAndFixesFirstLab plays a learner through
// first-lab with the real binary: check fails and says what it saw, hints
// come in order and are recorded, a wrong then a right answer, the fix,
// check passes; then verify of the same scenario writes JUnit.
func TestLearnerChecksHintsAnswersAndFixesFirstLab(t *testing.T) {
	before := sandboxtest.Take(t)
	state := t.TempDir()
	store := sandbox.Store{Dir: state}
	lab := name("ck")
	if out, code := nd(t, state, "start", "first-lab", "--name", lab); code != 0 {
		t.Fatalf("start: exit %d\n%s", code, out)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			nd(t, state, "stop", lab)
		}
	})
	progress := func() *checker.Progress {
		t.Helper()
		p, err := checker.LoadProgress(store.LabDir(lab))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("check fails with what it observed and a nudge", func(t *testing.T) {
		out, code := nd(t, state, "check", lab)
		if code != exitFailed {
			t.Errorf("check of the broken lab: exit %d, want %d\n%s", code, exitFailed, out)
		}
		for _, want := range []string{
			"[ ] open-the-shop: Make http://www.shop.example/ load on client again.",
			"observed: GET http://www.shop.example/ from client:",
			"network is unreachable",
			"stuck? 'netdojo hint " + lab + " open-the-shop' (3 of 3 hints left)",
			"[ ] first-failing-step",
			"not answered yet: netdojo answer " + lab + " first-failing-step VALUE",
			"[x] must still hold: the shop's name still resolves through the router (holds)",
			"1 of 3 passed.",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("check output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "ip route add") || strings.Contains(out, "10.0.1.1 dev") {
			t.Errorf("check gives the fix away:\n%s", out)
		}
		if tp := progress().Tasks["open-the-shop"]; tp == nil || tp.Checks != 1 || tp.Passed || tp.Observed == "" {
			t.Errorf("progress of open-the-shop after one check: %+v", tp)
		}
	})

	t.Run("check of one task judges only it", func(t *testing.T) {
		out, code := nd(t, state, "check", lab, "open-the-shop")
		if code != exitFailed || strings.Contains(out, "first-failing-step") || strings.Contains(out, "must still hold") {
			t.Errorf("check %s open-the-shop: exit %d\n%s", lab, code, out)
		}
		out, code = nd(t, state, "check", lab, "no-such-task")
		if code != exitUsage || !strings.Contains(out, `has no task "no-such-task"; its tasks are: open-the-shop, first-failing-step`) {
			t.Errorf("check of an unknown task: exit %d\n%s", code, out)
		}
	})

	t.Run("hints come in order and are recorded", func(t *testing.T) {
		out, code := nd(t, state, "hint", lab, "open-the-shop")
		if code != 0 || !strings.Contains(out, "hint 1/3 for open-the-shop: Run the triage steps in order on client.") || strings.Contains(out, "hint 2/3") {
			t.Errorf("first hint: exit %d\n%s", code, out)
		}
		out, _ = nd(t, state, "hint", lab, "open-the-shop")
		i1, i2 := strings.Index(out, "hint 1/3"), strings.Index(out, "hint 2/3 for open-the-shop: 'ip route' on client lists only the office subnet.")
		if i1 < 0 || i2 < i1 || strings.Contains(out, "hint 3/3") {
			t.Errorf("second hint: want hints 1 and 2 in order:\n%s", out)
		}
		if n := progress().Tasks["open-the-shop"].HintsShown; n != 2 {
			t.Errorf("progress records %d hints shown, want 2", n)
		}
		out, _ = nd(t, state, "check", lab, "open-the-shop")
		if !strings.Contains(out, "(1 of 3 hints left)") {
			t.Errorf("the nudge does not count the hints shown:\n%s", out)
		}
		out, code = nd(t, state, "-o", "json", "hint", lab, "first-failing-step")
		var h struct {
			Task  string   `json:"task"`
			Hints []string `json:"hints"`
			Left  int      `json:"left"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &h) != nil || h.Task != "first-failing-step" || len(h.Hints) != 1 || h.Left != 0 {
			t.Errorf("hint --output json: exit %d\n%s", code, out)
		}
	})

	t.Run("a wrong answer then the right one", func(t *testing.T) {
		out, code := nd(t, state, "answer", lab, "first-failing-step", "dns")
		if code != exitFailed || !strings.Contains(out, `not yet: you chose "dns"`) {
			t.Errorf("wrong answer: exit %d\n%s", code, out)
		}
		if strings.Contains(out, "gateway") {
			t.Errorf("a wrong answer gives the right one away:\n%s", out)
		}
		out, code = nd(t, state, "answer", lab, "first-failing-step", "banana")
		if code != exitFailed || !strings.Contains(out, "is not one of the options") {
			t.Errorf("an answer that is no option: exit %d\n%s", code, out)
		}
		out, code = nd(t, state, "answer", lab, "first-failing-step", "gateway")
		if code != 0 || !strings.Contains(out, `right: you chose "gateway"`) {
			t.Errorf("right answer: exit %d\n%s", code, out)
		}
		tp := progress().Tasks["first-failing-step"]
		if tp == nil || !tp.Passed || strings.Join(tp.Answer, " ") != "gateway" || tp.Checks != 3 {
			t.Errorf("progress after the answers: %+v", tp)
		}
		out, code = nd(t, state, "answer", lab, "open-the-shop", "done")
		if code != exitUsage || !strings.Contains(out, "is judged on the lab, not on an answer") {
			t.Errorf("answering a task judged on the lab: exit %d\n%s", code, out)
		}
	})

	t.Run("after the fix check passes", func(t *testing.T) {
		if out, code := nd(t, state, "exec", lab, "client", "--", "ip", "route", "add", "default", "via", "10.0.1.1"); code != 0 {
			t.Fatalf("the fix: exit %d\n%s", code, out)
		}
		// The fault cut every family the client has: IPv4 alone is not the fix.
		out, code := nd(t, state, "check", lab)
		if code == 0 || !strings.Contains(out, "[ ] open-the-shop") || !strings.Contains(out, "IPv6") {
			t.Errorf("check after fixing IPv4 only: exit %d\n%s", code, out)
		}
		if out, code := nd(t, state, "exec", lab, "client", "--", "ip", "-6", "route", "add", "default", "via", "fd00:1::1"); code != 0 {
			t.Fatalf("the IPv6 half of the fix: exit %d\n%s", code, out)
		}
		out, code = nd(t, state, "check", lab)
		if code != 0 || !strings.Contains(out, "[x] open-the-shop") || !strings.Contains(out, "[x] first-failing-step") || !strings.Contains(out, "all 3 passed") {
			t.Errorf("check after the fix: exit %d\n%s", code, out)
		}
		out, code = nd(t, state, "--output", "json", "check", lab)
		var results []struct {
			Task     string `json:"task"`
			Kind     string `json:"kind"`
			Pass     bool   `json:"pass"`
			Observed string `json:"observed"`
		}
		if err := json.Unmarshal([]byte(out), &results); code != 0 || err != nil {
			t.Fatalf("check --output json: exit %d, %v\n%s", code, err, out)
		}
		kinds := map[string]string{}
		for _, r := range results {
			kinds[r.Task] = r.Kind
			// An invariant that holds says no more than that.
			if !r.Pass || (r.Observed == "") != (r.Kind == "invariant") {
				t.Errorf("json result %+v", r)
			}
		}
		if len(results) != 3 || kinds["open-the-shop"] != "check" || kinds["first-failing-step"] != "answer" || kinds["the shop's name still resolves through the router"] != "invariant" {
			t.Errorf("json results: %+v", results)
		}
		if tp := progress().Tasks["open-the-shop"]; !tp.Passed || tp.PassedAt.IsZero() {
			t.Errorf("progress after the fix: %+v", tp)
		}
	})

	if out, code := nd(t, state, "stop", lab); code != 0 {
		t.Fatalf("stop: exit %d\n%s", code, out)
	}
	stopped = true
	sandboxtest.AssertNoLeftovers(t, store, lab)

	t.Run("verify first-lab passes and writes JUnit", func(t *testing.T) {
		junit := filepath.Join(t.TempDir(), "verify.xml")
		out, code := nd(t, state, "verify", "first-lab", "--junit", junit)
		if code != 0 || !strings.Contains(out, "PASS first-lab (seed 1,") || !strings.Contains(out, "1 of 1 scenarios passed") {
			t.Fatalf("verify: exit %d\n%s", code, out)
		}
		data, err := os.ReadFile(junit)
		if err != nil {
			t.Fatal(err)
		}
		var j struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Suites   []struct {
				Name  string `xml:"name,attr"`
				Cases []struct {
					Name    string    `xml:"name,attr"`
					Failure *struct{} `xml:"failure"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal(data, &j); err != nil {
			t.Fatalf("parsing the JUnit file: %v\n%s", err, data)
		}
		if len(j.Suites) != 1 || j.Suites[0].Name != "first-lab" || j.Failures != 0 || j.Tests != len(j.Suites[0].Cases) || j.Tests != 5 {
			t.Errorf("JUnit of verify first-lab: %s", data)
		}
		for _, c := range j.Suites[0].Cases {
			if c.Failure != nil {
				t.Errorf("JUnit case %s failed", c.Name)
			}
		}
		if labs, err := store.Labs(); err != nil || len(labs) != 0 {
			t.Errorf("labs left in the state directory after verify: %v %v", labs, err)
		}
	})
	sandboxtest.AssertUnchanged(t, before)
}

// TestVerifyCatchesTheBadScenariosAndSaysSoInJSON runs verify over the
// verify's deliberately bad scenarios with --output json: exit 1, and
// each report names its failing phase.
func TestVerifyCatchesTheBadScenariosAndSaysSoInJSON(t *testing.T) {
	state := t.TempDir()
	files, _ := filepath.Glob("../../verify/testdata/*.yaml")
	if len(files) != 3 {
		t.Fatalf("want the 3 bad scenarios of verify/testdata, found %v", files)
	}
	out, errs, code := ndSplit(t, state, append([]string{"-o", "json", "verify", "--parallel", "3"}, files...)...)
	if code != exitFailed {
		t.Errorf("verify of bad scenarios: exit %d, want %d\n%s%s", code, exitFailed, out, errs)
	}
	if n := strings.Count(errs, "shell commands as root"); n != 3 {
		t.Errorf("verify of 3 files outside the library said %d times how many commands it runs as root:\n%s", n, errs)
	}
	var reports []verify.Report
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("verify --output json: %v\n%s", err, out)
	}
	want := map[string]string{
		"ck-unsolvable":       verify.PhaseSolution,
		"ck-passes-broken":    verify.PhaseBroken,
		"ck-wrong-fix-passes": verify.PhaseWrongFix + " a route to the server's network only",
	}
	for _, r := range reports {
		var failed []string
		for _, p := range r.Phases {
			if !p.Pass {
				failed = append(failed, p.Name)
			}
		}
		if r.Pass || len(failed) != 1 || failed[0] != want[r.Scenario] {
			t.Errorf("%s: pass=%v, failing phases %q, want only %q", r.Scenario, r.Pass, failed, want[r.Scenario])
		}
	}
	if len(reports) != 3 {
		t.Errorf("%d reports for 3 files", len(reports))
	}
}
