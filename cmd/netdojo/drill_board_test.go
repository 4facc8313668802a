package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/drill/board/boardtest"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
)

// startBoard runs 'netdojo drill board LAB' on a free loopback port (the
// real command, reading the drill's record.json through drill.FileSource)
// and returns its base URL once it serves the record. The test's cleanup
// ends it by its PID.
func startBoard(t *testing.T, state, lab string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(binary, "--state-dir", state, "drill", "board", lab, "--listen", addr)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("drill board %s: %v", lab, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("drill board %s ended with %v:\n%s", lab, err, out.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("drill board %s did not end within 10s of SIGTERM", lab)
		}
	})
	url := "http://" + addr
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("drill board %s exited: %v\n%s", lab, err, out.String())
		default:
		}
		if resp, err := http.Get(url + "/record.json"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("drill board %s did not serve its record within 15s:\n%s", lab, out.String())
		}
	}
}

// clockRE is the board's clock: m:ss.
var clockRE = regexp.MustCompile(`^\d+:\d\d$`)

// fetch GETs a board path and returns its body.
func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	return string(b)
}

// boardRecord reads a board's /record.json.
func boardRecord(t *testing.T, url string) *drill.Record {
	t.Helper()
	var r drill.Record
	if err := json.Unmarshal([]byte(fetch(t, url+"/record.json")), &r); err != nil {
		t.Fatalf("%s/record.json: %v", url, err)
	}
	return &r
}

// boardEvents follows a board's /events stream and sends each record it
// carries; the stream ends with the test.
func boardEvents(t *testing.T, url string) <-chan *drill.Record {
	t.Helper()
	resp, err := http.Get(url + "/events")
	if err != nil {
		t.Fatalf("GET %s/events: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("%s/events is %q, not an event stream", url, ct)
	}
	ch := make(chan *drill.Record, 1024)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "record":
				var u struct {
					Record   *drill.Record `json:"record"`
					Topology string        `json:"topology_svg"`
				}
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &u) == nil && u.Record != nil && strings.Contains(u.Topology, "<svg") {
					select {
					case ch <- u.Record:
					default: // the test reads the newest anyway
					}
				}
			}
		}
	}()
	return ch
}

// awaitEvent reads a board's event stream until a record satisfies cond.
func awaitEvent(t *testing.T, events <-chan *drill.Record, what string, cond func(*drill.Record) bool) *drill.Record {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case r, ok := <-events:
			if !ok {
				t.Fatalf("the board's event stream ended before %s", what)
			}
			if cond(r) {
				return r
			}
		case <-timeout:
			t.Fatalf("the board's event stream showed no %s within a minute", what)
		}
	}
}

// TestDrillBoardInABrowserDuringARealDrill runs the built-in drill
// gateway-502 (at ten times real speed) with 'drill board' serving its
// record, keeps headless Chromium on the board from the start to the end
// of the drill, and asserts on the rendered page as it updates without a
// reload: the clock, the service strip, the injects (one landed by the
// game master), the participants who join through 'drill join' and their
// commands, and the topology picture with the broken host marked once the
// end reveals it. Then it loads the drill's HTML report ('drill report
// --format html') and asserts on that page. Screenshots:
// bin/drill-live-board.png and bin/drill-live-report.png.
func TestDrillBoardInABrowserDuringARealDrill(t *testing.T) {
	c := boardtest.Start(t) // skips without chromium, except under CI=true
	before := sandboxtest.Take(t)
	state := t.TempDir()
	store := sandbox.Store{Dir: state}
	lab := name("drillqa-b")
	t.Cleanup(func() { sandbox.Stop(store, lab) })
	if out, code := nd(t, state, "drill", "start", "gateway-502", "--team", "blue", "--lab", lab, "--seed", "7", "--time-scale", "10"); code != 0 {
		t.Fatalf("drill start: exit %d\n%s", code, out)
	}
	url := startBoard(t, state, lab)
	c.Navigate(url + "/")
	c.WaitFor("the first record", `document.body.dataset.updates >= 1 && document.querySelector('#topology svg')`)
	var v boardtest.BoardView
	c.Eval(boardtest.ReadBoard, &v)
	if v.Status != "running" || v.Limit != "20:00" {
		t.Errorf("header: status %q, limit %q; want running of 20:00", v.Status, v.Limit)
	}
	if fmt.Sprint(v.Hosts) != "[client ns gw app]" || len(v.BrokenHosts)+len(v.BrokenLinks) != 0 {
		t.Errorf("topology: hosts %q, broken %q %q; want the lab's four hosts, none broken", v.Hosts, v.BrokenHosts, v.BrokenLinks)
	}
	c.Eval(`window.__boardTestMarker = "still here"`, nil)

	// The page lands at 30 s of drill time and the synthetic user goes red.
	c.WaitFor("the page inject and a red service", `document.querySelectorAll('#injects li[data-id]').length === 1 && document.querySelector('#service-state').textContent === 'FAILING'`)
	join(t, state, lab, "ben", "commander", "client", "curl -s -o /dev/null -w '%{http_code}\\n' http://shop.example/\nexit\n")
	join(t, state, lab, "ana", "responder", "app", "ss -tln\nexit\n")
	c.WaitFor("both participants", `document.querySelectorAll('#participants tbody tr[data-name]').length === 2`)
	if out, code := nd(t, state, "drill", "inject", lab, "escalation"); code != 0 {
		t.Fatalf("drill inject: exit %d\n%s", code, out)
	}
	c.WaitFor("the game master's inject", `document.querySelectorAll('#injects li[data-id]').length === 2`)
	c.Eval(boardtest.ReadBoard, &v)
	if v.Marker != "still here" {
		t.Fatal("the board reloaded; it must update in place")
	}
	if v.Status != "running" || !clockRE.MatchString(v.Elapsed) {
		t.Errorf("clock: status %q, elapsed %q", v.Status, v.Elapsed)
	}
	if v.Cells < 7 || v.BadCells < 1 || !strings.Contains(v.LastCell, "502 Bad Gateway") {
		t.Errorf("service strip: %d cells, %d red, last %q; want the green start and the 502s", v.Cells, v.BadCells, v.LastCell)
	}
	if len(v.Injects) != 2 || !strings.Contains(v.Injects[0], "What is the ETA?") || !strings.Contains(v.Injects[1], "502 Bad Gateway") {
		t.Errorf("injects, newest first: %q", v.Injects)
	}
	if len(v.Revealed) != 0 || len(v.RootCauses) != 0 {
		t.Errorf("the running board reveals the fault: %q %q", v.Revealed, v.RootCauses)
	}
	people := strings.Join(v.People, "\n")
	for _, want := range []string{"ben | commander | 2 | exit", "ana | responder | 2 | exit", "on client", "on app"} {
		if !strings.Contains(people, want) {
			t.Errorf("participants lack %q:\n%s", want, people)
		}
	}
	c.Screenshot(filepath.Join(t.TempDir(), "running.png"), false)

	if out, code := nd(t, state, "drill", "end", lab); code != 0 {
		t.Fatalf("drill end: exit %d\n%s", code, out)
	}
	// The board outlives the lab: it reads the drill's record.
	c.WaitFor("the end", `document.querySelector('#status').textContent === 'ended'`)
	c.Eval(boardtest.ReadBoard, &v)
	if v.Marker != "still here" {
		t.Fatal("the board reloaded; it must update in place")
	}
	if fmt.Sprint(v.BrokenHosts) != "[app]" || len(v.RootCauses) != 1 || len(v.Revealed) != 1 || !strings.Contains(v.RootCauses[0], "proxy-backend-down on app") {
		t.Errorf("the end: broken hosts %q, root causes %q, revealed %q; want app and the dead API", v.BrokenHosts, v.RootCauses, v.Revealed)
	}
	c.Screenshot(filepath.Join(boardtest.Artifacts(t, filepath.Join("..", "..")), "drill-live-board.png"), false)

	report := filepath.Join(t.TempDir(), "report.html")
	if out, code := nd(t, state, "drill", "report", lab, "--format", "html", "--out", report); code != 0 {
		t.Fatalf("drill report: exit %d\n%s", code, out)
	}
	c.Navigate("file://" + report)
	var rv struct {
		H1, Score, Outcome  string
		SLICells, BadCells  int
		BrokenHosts, People []string
		CommandRows         int
		Resources           int
	}
	c.Eval(`(() => ({
		H1: document.querySelector('h1').textContent,
		Score: document.querySelector('#score').textContent,
		Outcome: document.querySelector('#outcome').textContent,
		SLICells: document.querySelectorAll('svg.sli-chart rect.sli-ok, svg.sli-chart rect.sli-bad').length,
		BadCells: document.querySelectorAll('svg.sli-chart rect.sli-bad').length,
		BrokenHosts: [...document.querySelectorAll('svg.topology g.topo-host.broken')].map(g => g.dataset.host),
		People: [...document.querySelectorAll('#commands h3')].map(h => h.textContent),
		CommandRows: document.querySelectorAll('table.commands tbody tr').length,
		Resources: performance.getEntriesByType('resource').length,
	}))()`, &rv)
	rec := drillRecord(t, state, lab)
	if !strings.Contains(rv.H1, rec.Title) || rv.Score != fmt.Sprintf("%d / 100", rec.Measures.Score) || !strings.HasPrefix(rv.Outcome, "Not mitigated") {
		t.Errorf("report header: %q, score %q (record %d), outcome %q", rv.H1, rv.Score, rec.Measures.Score, rv.Outcome)
	}
	if rv.SLICells != len(rec.SLI) || rv.BadCells == 0 {
		t.Errorf("service chart: %d cells (%d red); the record has %d samples", rv.SLICells, rv.BadCells, len(rec.SLI))
	}
	if fmt.Sprint(rv.BrokenHosts) != "[app]" || rv.CommandRows != 4 || len(rv.People) != 2 {
		t.Errorf("report: broken hosts %q, %d command rows, people %q; want app, 4, ben and ana", rv.BrokenHosts, rv.CommandRows, rv.People)
	}
	if rv.Resources != 0 {
		t.Errorf("the report loaded %d resources; it must be self-contained", rv.Resources)
	}
	c.Screenshot(filepath.Join(boardtest.Artifacts(t, filepath.Join("..", "..")), "drill-live-report.png"), true)
	sandboxtest.AssertNoLeftovers(t, store, lab)
	sandboxtest.AssertUnchanged(t, before)
}
