package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// drillRecord reads a drill's record through 'drill status -o json'.
func drillRecord(t *testing.T, state, lab string) *drill.Record {
	t.Helper()
	out, code := nd(t, state, "drill", "status", lab, "-o", "json")
	if code != 0 {
		t.Fatalf("drill status %s: exit %d\n%s", lab, code, out)
	}
	var r drill.Record
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("drill status %s: %v\n%s", lab, err, out)
	}
	return &r
}

// waitRecord polls a drill's record until cond holds (or fails the test
// after a minute, with the record).
func waitRecord(t *testing.T, state, lab, what string, cond func(*drill.Record) bool) *drill.Record {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := drillRecord(t, state, lab)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(r, "", "  ")
			t.Fatalf("drill %s: waited a minute for %s:\n%s", lab, what, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// join runs 'drill join' with a script on its standard input, as a
// participant typing in the shell.
func join(t *testing.T, state, lab, who, role, host, script string) string {
	t.Helper()
	cmd := exec.Command(binary, "--state-dir", state, "drill", "join", lab, "--as", who, "--role", role, "--host", host)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s's join shell on %s: %v\n%s", who, host, err, out)
	}
	return string(out)
}

func injectOf(r *drill.Record, id string) drill.Inject {
	for _, in := range r.Injects {
		if in.ID == id {
			return in
		}
	}
	return drill.Inject{}
}

func lastGreen(r *drill.Record) bool { return len(r.SLI) > 0 && r.SLI[len(r.SLI)-1].OK }

// TestTwoTeamsRunADrillWithRecordedParticipants runs the built-in drill
// gateway-502 end to end for two teams at once on one machine (at ten
// times real speed): team blue has two participants whose scripted
// commands go through 'drill join', fixes the dead backend from a join
// shell and the slow resolver with 'netdojo service'; team red does
// nothing. It asserts blue's timeline, measures and report, and that
// neither team sees the other's lab, commands or score.
func TestTwoTeamsRunADrillWithRecordedParticipants(t *testing.T) {
	before := sandboxtest.Take(t)
	state := t.TempDir()
	store := sandbox.Store{Dir: state}
	base := name("drill-e2e-")
	blue, red := base+"-blue", base+"-red"
	t.Cleanup(func() {
		for _, lab := range []string{blue, red} {
			sandbox.Stop(store, lab)
		}
	})
	var wg sync.WaitGroup
	for _, team := range []struct{ name, lab string }{{"blue", blue}, {"red", red}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, code := nd(t, state, "drill", "start", "gateway-502", "--team", team.name, "--lab", team.lab, "--seed", "7", "--time-scale", "10")
			if code != 0 {
				t.Errorf("drill start for team %s: exit %d\n%s", team.name, code, out)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Each team's board, as 'drill board' serves it from the drill's record.
	blueBoard, redBoard := startBoard(t, state, blue), startBoard(t, state, red)
	redEvents := boardEvents(t, redBoard)
	for _, lab := range []string{blue, red} {
		waitRecord(t, state, lab, "the page to land and the service to go red", func(r *drill.Record) bool {
			return injectOf(r, "page").Landed && len(r.SLI) > 0 && !r.SLI[len(r.SLI)-1].OK
		})
	}

	// Blue: the commander looks from the client, the responder finds the
	// dead API on app and starts it again from the shell.
	join(t, state, blue, "ben", "commander", "client", "curl -s -o /dev/null -w '%{http_code}\\n' http://shop.example/\nexit\n")
	// ana finds nothing on the API's port and starts the API as the lab's
	// service, as systemctl would (another program on the port would not
	// clear the fault at its root; netdojo runs outside the lab's hosts),
	// then looks again from her join shell.
	out := join(t, state, blue, "ana", "responder", "app", "ss -tln\nexit\n")
	if out, code := nd(t, state, "service", blue, "app", "api", "start"); code != 0 {
		t.Fatalf("starting the API: exit %d\n%s", code, out)
	}
	out += join(t, state, blue, "ana", "responder", "app", "ss -Htln 'sport = :8080' | wc -l\ncurl -s http://127.0.0.1:8080/\nexit\n")
	if !strings.Contains(out, "you are ana, responder") {
		t.Errorf("the join shell did not tell ana her role:\n%s", out)
	}
	if out, code := nd(t, state, "drill", "declare", blue, "--as", "ben", "the api is down on app"); code != 0 || !strings.Contains(out, "correct at") {
		t.Errorf("a correct declaration: exit %d\n%s", code, out)
	}
	if out, code := nd(t, state, "drill", "declare", blue, "--as", "ana", "the firewall on gw drops port 80"); code != 1 || !strings.Contains(out, "not the root cause") {
		t.Errorf("a wrong declaration: exit %d\n%s", code, out)
	}
	// Red's board, record and report so far show nothing of blue's work;
	// blue's board shows it.
	for _, path := range []string{"/record.json", "/report.md", "/report.html", "/topology.svg"} {
		body := fetch(t, redBoard+path)
		for _, blues := range []string{blue, "the api is down on app", "sport = :8080", "http_code"} {
			if strings.Contains(body, blues) {
				t.Errorf("team red's board %s shows team blue's %q", path, blues)
			}
		}
	}
	waitRecord(t, state, blue, "ana's commands", func(r *drill.Record) bool { return r.Measures.CommandsBy["ana"] == 5 })
	if br := boardRecord(t, blueBoard); br.Lab != blue || br.Measures.CommandsBy["ana"] != 5 || len(br.Answers) != 2 {
		t.Errorf("team blue's board: lab %s, commands %v, %d answers", br.Lab, br.Measures.CommandsBy, len(br.Answers))
	}
	if !strings.Contains(fetch(t, blueBoard+"/report.md"), "sport = :8080") {
		t.Errorf("team blue's board's report lacks ana's command")
	}
	r := waitRecord(t, state, blue, "the slow resolver to land once the backend is cleared", func(r *drill.Record) bool {
		return injectOf(r, "slow-resolver").Landed
	})
	if page := injectOf(r, "page"); page.Cleared == 0 || injectOf(r, "slow-resolver").T < page.Cleared {
		t.Errorf("the slow resolver landed at %.1f, before the backend was cleared (%.1f)", injectOf(r, "slow-resolver").T, page.Cleared)
	}
	if out, code := nd(t, state, "drill", "hint", blue); code != 0 {
		t.Fatalf("drill hint: exit %d\n%s", code, out)
	}
	if out, code := nd(t, state, "service", blue, "ns", "dns", "restart"); code != 0 {
		t.Fatalf("restarting the name server: exit %d\n%s", code, out)
	}
	waitRecord(t, state, blue, "every fault cleared and the service green", func(r *drill.Record) bool {
		return r.Measures.Resolve > 0 && lastGreen(r)
	})
	// The game master's controls, on red: a pause stops the clock, an
	// inject lands by hand, and a second start of the same team is refused.
	if out, code := nd(t, state, "drill", "pause", red); code != 0 {
		t.Fatalf("drill pause: exit %d\n%s", code, out)
	}
	paused := waitRecord(t, state, red, "the pause", func(r *drill.Record) bool { return r.Status == drill.StatusPaused })
	time.Sleep(time.Second)
	if r := drillRecord(t, state, red); r.Elapsed != paused.Elapsed || len(r.SLI) != len(paused.SLI) {
		t.Errorf("the paused drill moved from %.1f s (%d samples) to %.1f s (%d samples)", paused.Elapsed, len(paused.SLI), r.Elapsed, len(r.SLI))
	}
	nd(t, state, "drill", "resume", red)
	nd(t, state, "drill", "inject", red, "collateral")
	waitRecord(t, state, red, "the forced inject", func(r *drill.Record) bool {
		in := injectOf(r, "collateral")
		return r.Status == drill.StatusRunning && in.Landed && strings.Contains(in.When, "landed by game master")
	})
	// Red's board pushed the inject live, on the stream opened at the start.
	awaitEvent(t, redEvents, "the forced inject", func(r *drill.Record) bool {
		return r.Lab == red && injectOf(r, "collateral").Landed
	})
	if out, code := nd(t, state, "drill", "start", "gateway-502", "--team", "red", "--lab", red); code != exitBusy || !strings.Contains(out, "drill end") {
		t.Errorf("starting team red's drill again: exit %d\n%s", code, out)
	}
	for _, lab := range []string{blue, red} {
		if out, code := nd(t, state, "drill", "end", lab); code != 0 {
			t.Fatalf("drill end %s: exit %d\n%s", lab, code, out)
		}
	}

	out, code := nd(t, state, "drill", "report", blue, "--format", "json")
	if code != 0 {
		t.Fatalf("drill report: exit %d\n%s", code, out)
	}
	var rep drill.Record
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, out)
	}
	if got := drillRecord(t, state, blue); !reflect.DeepEqual(got, &rep) {
		t.Errorf("the JSON report differs from the drill's record")
	}
	if rep.Status != drill.StatusEnded || rep.Team != "blue" || rep.Lab != blue || len(rep.RootCauses) != 2 {
		t.Errorf("report: status %s, team %s, lab %s, %d root causes", rep.Status, rep.Team, rep.Lab, len(rep.RootCauses))
	}
	// The timeline: the page at 30 s of drill time, the resolver after it.
	page, slow := injectOf(&rep, "page"), injectOf(&rep, "slow-resolver")
	if !page.Landed || page.T < 30 || page.T > 40 || page.Revealed == "" {
		t.Errorf("page: %+v", page)
	}
	if !slow.Landed || slow.Cleared == 0 || slow.Cleared < slow.T {
		t.Errorf("slow-resolver: %+v", slow)
	}
	// The commands, by person and host, as typed.
	want := map[string][]string{
		"ben": {"curl -s -o /dev/null -w '%{http_code}\\n' http://shop.example/", "exit"},
		"ana": {"ss -tln", "ss -Htln 'sport = :8080' | wc -l", "curl -s http://127.0.0.1:8080/", "exit"},
	}
	got := map[string][]string{}
	for _, c := range rep.Commands {
		if (c.Who == "ana" && c.Host != "app") || (c.Who == "ben" && c.Host != "client") {
			t.Errorf("command %q of %s recorded on host %s", c.Cmd, c.Who, c.Host)
		}
		if c.T < page.T || c.T > rep.Elapsed {
			t.Errorf("command %q at drill time %.1f, outside the drill (page %.1f, end %.1f)", c.Cmd, c.T, page.T, rep.Elapsed)
		}
		got[c.Who] = append(got[c.Who], c.Cmd)
	}
	for who, cmds := range want {
		for _, w := range cmds {
			found := false
			for _, g := range got[who] {
				found = found || g == w
			}
			if !found {
				t.Errorf("%s's command %q is not recorded; recorded: %q", who, w, got[who])
			}
		}
	}
	if n := len(got["ana"]); n != 5 || rep.Measures.CommandsBy["ana"] != 5 {
		t.Errorf("ana ran 5 command lines; recorded %d (%q), measured %d", n, got["ana"], rep.Measures.CommandsBy["ana"])
	}
	roles := map[string]string{}
	for _, p := range rep.Participants {
		roles[p.Name] = p.Role
	}
	if roles["ana"] != "responder" || roles["ben"] != "commander" {
		t.Errorf("participants: %+v", rep.Participants)
	}
	if len(rep.Answers) != 2 || !rep.Answers[0].Correct || rep.Answers[1].Correct {
		t.Errorf("answers: %+v", rep.Answers)
	}
	m := rep.Measures
	if m.Detect <= 0 || m.Mitigate <= 0 || m.Resolve <= 0 || m.HintsUsed != 1 || m.Score <= 0 || m.Score > 100 {
		t.Errorf("measures: %+v", m)
	}
	if m.Detect > m.Resolve {
		t.Errorf("detected at %.1f s but resolved at %.1f s: the declaration came before the fix", m.Detect, m.Resolve)
	}

	// The review as people read it, from the real record: Markdown by
	// default, and one HTML file.
	md, code := nd(t, state, "drill", "report", blue)
	if code != 0 {
		t.Fatalf("drill report (md): exit %d\n%s", code, md)
	}
	for _, want := range []string{"# Post-incident review", "team blue", "**Outcome:** Resolved", fmt.Sprintf("%d / 100", m.Score),
		"## Root causes", "proxy-backend-down on app", "dns-slow on ns", "## Commands by person", "sport = :8080", "the api is down on app", "Hint"} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown report lacks %q:\n%s", want, md)
		}
	}
	// The timeline lists an inject's message and a hint once each.
	if _, tl, ok := strings.Cut(md, "## Timeline"); ok {
		tl, _, _ = strings.Cut(tl, "\n## ")
		for _, once := range []string{"PAGE: checkout availability", "Read the 502 itself"} {
			if n := strings.Count(tl, once); n != 1 {
				t.Errorf("the report's timeline says %q %d times, want once:\n%s", once, n, tl)
			}
		}
	} else {
		t.Errorf("the Markdown report has no timeline:\n%s", md)
	}
	html, code := nd(t, state, "drill", "report", blue, "--format", "html")
	if code != 0 {
		t.Fatalf("drill report (html): exit %d\n%s", code, html)
	}
	for _, want := range []string{"<!DOCTYPE html>", `class="sli-chart`, `class="topo-host broken" data-host="app"`, `class="topo-host broken" data-host="ns"`, `class="topo-host" data-host="gw"`, "sport = :8080"} {
		if !strings.Contains(html, want) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
	// 'drill end' left the same review next to the record.
	for file, want := range map[string]string{"report.md": md, "report.html": html} {
		got, err := os.ReadFile(filepath.Join(drill.Dir(store, blue), file))
		if err != nil || string(got) != want {
			t.Errorf("%s in the drill's directory (%v) is not the report 'drill report' writes", file, err)
		}
	}
	for _, lab := range []string{blue, red} {
		if out, code := nd(t, state, "drill", "report", lab, "--format", "pdf"); code != exitUsage {
			t.Errorf("drill report --format pdf: exit %d\n%s", code, out)
		}
	}
	if md, _ := nd(t, state, "drill", "report", red); strings.Contains(md, "sport = :8080") || strings.Contains(md, blue) || !strings.Contains(md, "**Outcome:** Not mitigated") {
		t.Errorf("team red's report shows blue's work or a wrong outcome:\n%s", md)
	}

	// Red saw nothing of blue: its own lab, no commands, no answers, its own score.
	rr := drillRecord(t, state, red)
	if rr.Lab != red || rr.Team != "red" || len(rr.Commands) != 0 || len(rr.Participants) != 0 || len(rr.Answers) != 0 {
		t.Errorf("team red's record shows another team's work: lab %s, %d commands, %d participants, %d answers", rr.Lab, len(rr.Commands), len(rr.Participants), len(rr.Answers))
	}
	if rr.Measures.Resolve != 0 || rr.Measures.Score >= m.Score {
		t.Errorf("team red did nothing and scored %d (resolve %.0f); blue scored %d", rr.Measures.Score, rr.Measures.Resolve, m.Score)
	}
	if injectOf(rr, "slow-resolver").Landed {
		t.Errorf("blue's fix landed red's next inject")
	}
	for _, lab := range []string{blue, red} {
		sandboxtest.AssertNoLeftovers(t, store, lab)
	}
	sandboxtest.AssertUnchanged(t, before)
	t.Logf("blue: detect %.0fs mitigate %.0fs resolve %.0fs score %d; red: score %d", m.Detect, m.Mitigate, m.Resolve, m.Score, rr.Measures.Score)
}
