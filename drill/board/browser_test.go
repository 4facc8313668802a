package board

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/netdojo/netdojo/drill"
)

// The browser tests drive Debian's headless Chromium through the DevTools
// protocol: they keep one page open on the board, push records into the
// board's Source and read the page's DOM after each, so they see what a
// watcher sees without a reload. Screenshots go to bin/ for CI to keep.

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI must run the browser tests: scripts/ensure-deps.sh installs Debian's chromium package")
	}
	t.Skip("chromium is not installed; install Debian's chromium package (scripts/ensure-deps.sh does) to run the browser tests")
	return ""
}

// cdp is a minimal DevTools protocol client for one page.
type cdp struct {
	t    *testing.T
	ws   *websocket.Conn
	mu   sync.Mutex
	id   int
	wait map[int]chan cdpReply
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func startChromium(t *testing.T) *cdp {
	t.Helper()
	bin := chromiumPath(t)
	profile, err := os.MkdirTemp("", "board-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--remote-allow-origins=*", "--window-size=1920,1080", "about:blank")
	// Its own process group, so that its helpers (zygote, renderers,
	// GPU and network processes) end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		// The browser this test started: its process group, by its id.
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = cmd.Wait()
		for i := 0; i < 100 && syscall.Kill(-pgid, 0) == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if err := os.RemoveAll(profile); err != nil {
			t.Errorf("removing chromium's profile: %v", err)
		}
	})
	wsURL := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sent := false
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil && !sent {
				wsURL <- m[1]
				sent = true
			}
		}
		if !sent {
			close(wsURL)
		}
	}()
	var browserURL string
	select {
	case u, ok := <-wsURL:
		if !ok {
			t.Fatal("chromium exited without opening its DevTools port")
		}
		browserURL = u
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not open its DevTools port within a minute")
	}
	// The page target opened with about:blank.
	hostport := strings.SplitN(strings.TrimPrefix(browserURL, "ws://"), "/", 2)[0]
	var pageURL string
	for i := 0; i < 100 && pageURL == ""; i++ {
		resp, err := http.Get("http://" + hostport + "/json/list")
		if err == nil {
			var targets []struct{ Type, WebSocketDebuggerURL string }
			_ = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
			for _, tg := range targets {
				if tg.Type == "page" {
					pageURL = tg.WebSocketDebuggerURL
					break
				}
			}
		}
		if pageURL == "" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if pageURL == "" {
		t.Fatal("chromium shows no page target")
	}
	ws, err := websocket.Dial(pageURL, "", "http://127.0.0.1/")
	if err != nil {
		t.Fatalf("connecting to chromium's page: %v", err)
	}
	ws.MaxPayloadBytes = 64 << 20
	t.Cleanup(func() { ws.Close() })
	c := &cdp{t: t, ws: ws, wait: map[int]chan cdpReply{}}
	go c.read()
	c.call("Page.enable", nil)
	c.call("Runtime.enable", nil)
	c.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": false})
	return c
}

func (c *cdp) read() {
	for {
		var msg string
		if err := websocket.Message.Receive(c.ws, &msg); err != nil {
			c.mu.Lock()
			for id, ch := range c.wait {
				close(ch)
				delete(c.wait, id)
			}
			c.mu.Unlock()
			return
		}
		var head struct {
			ID int `json:"id"`
			cdpReply
		}
		if json.Unmarshal([]byte(msg), &head) != nil || head.ID == 0 {
			continue // an event
		}
		c.mu.Lock()
		ch := c.wait[head.ID]
		delete(c.wait, head.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- head.cdpReply
		}
	}
}

func (c *cdp) call(method string, params any) json.RawMessage {
	c.t.Helper()
	c.mu.Lock()
	c.id++
	id := c.id
	ch := make(chan cdpReply, 1)
	c.wait[id] = ch
	c.mu.Unlock()
	if params == nil {
		params = map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err := websocket.Message.Send(c.ws, string(b)); err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			c.t.Fatalf("%s: chromium closed the connection", method)
		}
		if r.Error != nil {
			c.t.Fatalf("%s: %s", method, r.Error.Message)
		}
		return r.Result
	case <-time.After(60 * time.Second):
		c.t.Fatalf("%s: no answer from chromium within a minute", method)
	}
	return nil
}

// eval runs a JS expression in the page and decodes its value into v.
func (c *cdp) eval(expr string, v any) {
	c.t.Helper()
	res := c.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true})
	var out struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		c.t.Fatal(err)
	}
	if out.Exception != nil {
		c.t.Fatalf("evaluating %q: %s %s", expr, out.Exception.Text, out.Exception.Exception.Description)
	}
	if v != nil {
		if err := json.Unmarshal(out.Result.Value, v); err != nil {
			c.t.Fatalf("evaluating %q: decoding %s: %v", expr, out.Result.Value, err)
		}
	}
}

// waitFor polls a JS condition until it holds (a generous bound: it fails
// only a page that never shows the change, it measures nothing).
func (c *cdp) waitFor(what, cond string) {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ok bool
		c.eval("!!("+cond+")", &ok)
		if ok {
			return
		}
	}
	c.t.Fatalf("the page never showed %s (%s)", what, cond)
}

func (c *cdp) navigate(url string) {
	c.t.Helper()
	c.call("Page.navigate", map[string]any{"url": url})
	c.waitFor("the page loaded", `document.readyState === "complete" && location.href.startsWith(`+jsString(url)+`)`)
}

func (c *cdp) screenshot(path string, fullPage bool) {
	c.t.Helper()
	params := map[string]any{"format": "png"}
	if fullPage {
		var size struct{ W, H float64 }
		c.eval(`({W: document.documentElement.scrollWidth, H: document.documentElement.scrollHeight})`, &size)
		params["captureBeyondViewport"] = true
		params["clip"] = map[string]any{"x": 0, "y": 0, "width": size.W, "height": size.H, "scale": 1}
	}
	res := c.call("Page.captureScreenshot", params)
	var out struct{ Data string }
	if err := json.Unmarshal(res, &out); err != nil {
		c.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(out.Data)
	if err != nil || len(png) < 8 || string(png[1:4]) != "PNG" {
		c.t.Fatalf("chromium's screenshot is not a PNG (%d bytes, %v)", len(png), err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// artifacts is the repository's bin/, where CI keeps screenshots.
func artifacts(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
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

type boardView struct {
	Updates      string
	Elapsed      string
	DataElapsed  string
	Limit        string
	Status       string
	Cells        int
	BadCells     int
	LastCell     string
	Injects      []string
	Revealed     []string
	Messages     []string
	People       []string
	Hosts        []string
	BrokenHosts  []string
	BrokenLinks  []string
	RootCauses   []string
	Score        string
	Marker       any
	ServiceState string
	ReportLink   string
}

const readBoard = `(() => {
  const all = (sel, f) => [...document.querySelectorAll(sel)].map(f);
  return {
    Updates: document.body.dataset.updates || "0",
    Elapsed: document.querySelector('#elapsed').textContent,
    DataElapsed: document.querySelector('#clock').dataset.elapsed || "",
    Limit: document.querySelector('#limit').textContent,
    Status: document.querySelector('#status').textContent,
    Cells: document.querySelectorAll('#strip .cell').length,
    BadCells: document.querySelectorAll('#strip .cell.bad').length,
    LastCell: (document.querySelector('#strip .cell:last-child') || {}).title || "",
    Injects: all('#injects li[data-id]', li => li.querySelector('.t').textContent + ' ' + li.querySelector('.text').textContent),
    Revealed: all('#injects .revealed', e => e.textContent),
    Messages: all('#messages li .text', e => e.textContent),
    People: all('#participants tbody tr[data-name]', tr => [...tr.cells].map(td => td.innerText.replace(/\s+/g, ' ').trim()).join(' | ')),
    Hosts: all('#topology svg g.topo-host', g => g.dataset.host),
    BrokenHosts: all('#topology svg g.topo-host.broken', g => g.dataset.host),
    BrokenLinks: all('#topology svg g.topo-link.broken', g => g.dataset.host + ' ' + g.dataset.iface + ' ' + g.dataset.network),
    RootCauses: all('#root-causes:not([hidden]) li', e => e.textContent),
    Score: document.querySelector('#score').textContent,
    Marker: window.__boardTestMarker || null,
    ServiceState: document.querySelector('#service-state').textContent,
    ReportLink: document.querySelector('#report-link').textContent,
  };
})()`

func TestBrowserShowsTheLiveBoardAndUpdatesWithoutReload(t *testing.T) {
	c := startChromium(t)

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
	c.navigate(url)
	c.waitFor("the first record", `document.body.dataset.updates >= 1 && document.querySelector('#topology svg')`)
	var v boardView
	c.eval(readBoard, &v)

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
	c.screenshot(filepath.Join(t.TempDir(), "board-start.png"), false)

	// A marker that a reload would lose.
	c.eval(`window.__boardTestMarker = "still here"`, nil)

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
		c.waitFor("the second record", `document.body.dataset.updates > `+before)
		c.eval(readBoard, &v)
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
		c.waitFor("the final record", `document.body.dataset.updates > `+before)
		c.eval(readBoard, &v)
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
		c.eval(`[...document.querySelectorAll('#topology svg .broken text')].map(e => e.textContent).join(' / ')`, &brokenText)
		if !strings.Contains(brokenText, "✕ BROKEN") || !strings.Contains(brokenText, "✕ eth0 broken") {
			t.Errorf("the broken marks carry no text (colour alone is not enough): %q", brokenText)
		}
		c.screenshot(filepath.Join(artifacts(t), "board.png"), false)
	})
}

func TestBrowserRendersTheHTMLReport(t *testing.T) {
	c := startChromium(t)
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
	c.navigate("file://" + path)
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
	c.eval(`(() => ({
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
	c.screenshot(filepath.Join(artifacts(t), "report.png"), true)
}
