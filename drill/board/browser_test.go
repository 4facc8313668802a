package board

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/drill/board/boardtest"
)

// The browser tests drive Debian's headless Chromium through the DevTools
// protocol (boardtest): they keep one page open on the board, push records
// into the board's Source and read the page's DOM after each, so they see
// what a watcher sees without a reload. Screenshots go to bin/ for CI to keep.

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// midDrill is the fixture as it stood at 1:40: one fault landed, nothing
// revealed, bob has not yet been to app1.
func midDrill(t *testing.T) *drill.Record {
	r := fixture(t)
	r.Status = drill.StatusRunning
	r.Ended = time.Time{}
	r.Elapsed = 100
	r.SLI = r.SLI[:20]
	r.Injects[0].Cleared, r.Injects[0].Revealed = 0, ""
	r.Injects[1].Landed, r.Injects[1].T = false, 0
	r.Injects[2].Landed, r.Injects[2].T, r.Injects[2].Cleared, r.Injects[2].Revealed = false, 0, 0, ""
	r.Messages = r.Messages[:1]
	r.Commands = r.Commands[:4]
	r.Participants[0].Commands, r.Participants[0].Last = 1, &r.Commands[3]
	r.Participants[1].Commands, r.Participants[1].Last = 3, &r.Commands[2]
	r.Answers, r.Collateral, r.Hints, r.RootCauses = nil, nil, nil, nil
	for i := range r.Topology.Hosts {
		r.Topology.Hosts[i].Broken = false
	}
	for i := range r.Topology.Links {
		r.Topology.Links[i].Broken = false
	}
	r.Measures = drill.Measures{CommandsBy: map[string]int{"alice": 1, "bob": 3}}
	return r
}

func TestBrowserShowsTheLiveBoardAndUpdatesWithoutReload(t *testing.T) {
	c := boardtest.Start(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mem := NewMemory()
	rec := midDrill(t)
	mem.Set(rec)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, mem) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	url := "http://" + ln.Addr().String() + "/"
	c.Navigate(url)
	c.WaitFor("the first record", `document.body.dataset.updates >= 1 && document.querySelector('#topology svg')`)
	var v boardtest.BoardView
	c.Eval(boardtest.ReadBoard, &v)

	if v.Status != "running" || v.DataElapsed != "100" || v.Limit != "15:00" {
		t.Errorf("clock: status %q, elapsed %q (data %q) of %q; want running, 100 s of 15:00", v.Status, v.Elapsed, v.DataElapsed, v.Limit)
	}
	// The clock ticks on between updates while running: 1:40 or later,
	// never past the limit.
	if m := regexp.MustCompile(`^(\d+):(\d\d)$`).FindStringSubmatch(v.Elapsed); m == nil {
		t.Errorf("the clock shows %q, want m:ss", v.Elapsed)
	} else if sec := atoi(m[1])*60 + atoi(m[2]); sec < 100 || sec > 900 {
		t.Errorf("the clock shows %q, want 1:40 or a little later", v.Elapsed)
	}
	if v.Cells != 20 || v.BadCells != 8 {
		t.Errorf("service strip: %d cells, %d red; want 20 and 8", v.Cells, v.BadCells)
	}
	if v.ServiceState != "FAILING" {
		t.Errorf("service state %q, want FAILING", v.ServiceState)
	}
	if len(v.Injects) != 1 || v.Injects[0] != "1:00 Customers report 502 Bad Gateway on checkout." {
		t.Errorf("injects: %q", v.Injects)
	}
	if len(v.Revealed) != 0 {
		t.Errorf("a fault is revealed before the drill reveals it: %q", v.Revealed)
	}
	if want := []string{
		"alice | commander | 1 | curl -s -o /dev/null -w '%{http_code}' http://shop.example/checkout 1:35 on client",
		"bob | responder | 3 | curl -s http://10.0.2.11:8080/healthz 1:30 on proxy",
	}; fmt.Sprint(v.People) != fmt.Sprint(want) {
		t.Errorf("participants:\n got %q\nwant %q", v.People, want)
	}
	if fmt.Sprint(v.Hosts) != "[client proxy app1 app2 dns]" || len(v.BrokenHosts)+len(v.BrokenLinks) != 0 {
		t.Errorf("topology: hosts %q, broken %q %q; want five hosts, none broken yet", v.Hosts, v.BrokenHosts, v.BrokenLinks)
	}
	c.Screenshot(filepath.Join(t.TempDir(), "board-start.png"), false)

	// A marker that a reload would lose.
	c.Eval(`window.__boardTestMarker = "still here"`, nil)

	t.Run("a new inject, a new sample and a command show up", func(t *testing.T) {
		before := v.Updates
		rec.Elapsed = 120
		rec.SLI = rec.SLI[:0:0]
		rec.SLI = append(rec.SLI, fixture(t).SLI[:24]...)
		rec.SLI = append(rec.SLI, drill.Sample{T: 120, OK: false, Detail: "502 Bad Gateway in 4 ms (test sample)"})
		rec.Injects[1].Landed, rec.Injects[1].T = true, 120
		rec.Messages = fixture(t).Messages[:2]
		rec.Commands = append(rec.Commands, drill.Command{T: 112, Who: "bob", Host: "app1", Cmd: "ss -tlnp | grep 8080"})
		rec.Participants[1].Commands, rec.Participants[1].Last = 4, &rec.Commands[len(rec.Commands)-1]
		mem.Set(rec)
		c.WaitFor("the second record", `document.body.dataset.updates > `+before)
		c.Eval(boardtest.ReadBoard, &v)
		if v.Marker != "still here" {
			t.Fatal("the page was reloaded; it must update in place")
		}
		if v.DataElapsed != "120" || v.Cells != 25 || v.BadCells != 13 {
			t.Errorf("after the update: elapsed %q, %d cells, %d red; want 120, 25, 13", v.DataElapsed, v.Cells, v.BadCells)
		}
		if !strings.Contains(v.LastCell, "2:00 failing: 502 Bad Gateway in 4 ms (test sample)") {
			t.Errorf("the newest cell's detail is %q", v.LastCell)
		}
		if len(v.Injects) != 2 || !strings.HasPrefix(v.Injects[0], "2:00 Monitoring: checkout error rate is 100%") {
			t.Errorf("injects, newest first: %q", v.Injects)
		}
		if len(v.Messages) != 2 {
			t.Errorf("messages: %q", v.Messages)
		}
		if len(v.People) != 2 || v.People[1] != "bob | responder | 4 | ss -tlnp | grep 8080 1:52 on app1" {
			t.Errorf("participants: %q", v.People)
		}
	})

	t.Run("the end reveals the faults and marks the broken host and link", func(t *testing.T) {
		before := v.Updates
		end := fixture(t) // the whole drill, ended, revealed
		mem.Set(end)
		c.WaitFor("the final record", `document.body.dataset.updates > `+before)
		c.Eval(boardtest.ReadBoard, &v)
		if v.Marker != "still here" {
			t.Fatal("the page was reloaded; it must update in place")
		}
		if v.Status != "ended" || v.Elapsed != "5:00" || v.Score != "74" {
			t.Errorf("status %q at %q with score %q; want ended at 5:00, 74", v.Status, v.Elapsed, v.Score)
		}
		if v.ReportLink != "Open the post-incident review" {
			t.Errorf("the report link says %q once the drill ended", v.ReportLink)
		}
		if fmt.Sprint(v.BrokenHosts) != "[app1 dns]" || fmt.Sprint(v.BrokenLinks) != "[dns eth0 backend]" {
			t.Errorf("broken: hosts %q, links %q; want app1 and dns, and dns's eth0", v.BrokenHosts, v.BrokenLinks)
		}
		if len(v.Revealed) != 2 || len(v.RootCauses) != 2 {
			t.Errorf("revealed %q, root causes %q", v.Revealed, v.RootCauses)
		}
		var brokenText string
		c.Eval(`[...document.querySelectorAll('#topology svg .broken text')].map(e => e.textContent).join(' / ')`, &brokenText)
		if !strings.Contains(brokenText, "✕ BROKEN") || !strings.Contains(brokenText, "✕ eth0 broken") {
			t.Errorf("the broken marks carry no text (colour alone is not enough): %q", brokenText)
		}
		c.Screenshot(filepath.Join(boardtest.Artifacts(t, filepath.Join("..", "..")), "board.png"), false)
	})
}

func TestBrowserRendersTheHTMLReport(t *testing.T) {
	c := boardtest.Start(t)
	path := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := HTML(f, fixture(t)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c.Navigate("file://" + path)
	var v struct {
		H1, Score, Outcome      string
		SLICells, BadCells      int
		Injects, Cleared        int
		TimelineRows            int
		BrokenHosts             []string
		Commanders, CommandRows int
		ChartWidth              float64
		Resources               int
	}
	c.Eval(`(() => ({
		H1: document.querySelector('h1').textContent,
		Score: document.querySelector('#score').textContent,
		Outcome: document.querySelector('#outcome').textContent,
		SLICells: document.querySelectorAll('svg.sli-chart rect.sli-ok, svg.sli-chart rect.sli-bad').length,
		BadCells: document.querySelectorAll('svg.sli-chart rect.sli-bad').length,
		Injects: document.querySelectorAll('svg.sli-chart g.sli-inject').length,
		Cleared: document.querySelectorAll('svg.sli-chart g.sli-clear').length,
		TimelineRows: document.querySelectorAll('table.timeline tbody tr').length,
		BrokenHosts: [...document.querySelectorAll('svg.topology g.topo-host.broken')].map(g => g.dataset.host),
		Commanders: document.querySelectorAll('#commands h3 .role').length,
		CommandRows: document.querySelectorAll('table.commands tbody tr').length,
		ChartWidth: document.querySelector('svg.sli-chart').getBoundingClientRect().width,
		Resources: performance.getEntriesByType('resource').length,
	}))()`, &v)
	if v.H1 != "502s on checkout" || v.Score != "74 / 100" || !strings.HasPrefix(v.Outcome, "Resolved") {
		t.Errorf("header: %q, score %q, outcome %q", v.H1, v.Score, v.Outcome)
	}
	if v.SLICells != 60 || v.BadCells != 32 || v.Injects != 3 || v.Cleared != 2 {
		t.Errorf("service chart: %d cells (%d red), %d inject marks, %d cleared; want 60 (32), 3, 2", v.SLICells, v.BadCells, v.Injects, v.Cleared)
	}
	if v.ChartWidth < 300 {
		t.Errorf("the service chart is %g px wide: not drawn", v.ChartWidth)
	}
	if v.TimelineRows < 15 || v.CommandRows != 13 || v.Commanders != 2 {
		t.Errorf("timeline %d rows, %d commands by %d people", v.TimelineRows, v.CommandRows, v.Commanders)
	}
	if fmt.Sprint(v.BrokenHosts) != "[app1 dns]" {
		t.Errorf("broken hosts in the topology: %q", v.BrokenHosts)
	}
	if v.Resources != 0 {
		t.Errorf("the report loaded %d resources; it must be self-contained", v.Resources)
	}
	c.Screenshot(filepath.Join(boardtest.Artifacts(t, filepath.Join("..", "..")), "report.png"), true)
}
