// Package boardtest drives Debian's headless Chromium over the DevTools
// protocol for the drill board's browser tests: the board's own (an
// in-memory source) and the end-to-end ones in cmd/netdojo (a real drill).
package boardtest

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

func chromiumPath(t testing.TB) string {
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

// Page is a minimal DevTools protocol client for one page of a headless
// Chromium that Start started.
type Page struct {
	t    testing.TB
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

// Start starts Debian's headless Chromium at 1920x1080 with one blank
// page; the test's cleanup ends it (its process group, by its id). Without
// chromium the test is skipped, except under CI=true, where it fails.
func Start(t testing.TB) *Page {
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
	c := &Page{t: t, ws: ws, wait: map[int]chan cdpReply{}}
	go c.read()
	c.Call("Page.enable", nil)
	c.Call("Runtime.enable", nil)
	c.Call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": false})
	return c
}

func (c *Page) read() {
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

// Call sends one DevTools method and returns its result.
func (c *Page) Call(method string, params any) json.RawMessage {
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

// Eval runs a JS expression in the page and decodes its value into v.
func (c *Page) Eval(expr string, v any) {
	c.t.Helper()
	res := c.Call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true})
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

// WaitFor polls a JS condition until it holds (a generous bound: it fails
// only a page that never shows the change, it measures nothing).
func (c *Page) WaitFor(what, cond string) {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ok bool
		c.Eval("!!("+cond+")", &ok)
		if ok {
			return
		}
	}
	c.t.Fatalf("the page never showed %s (%s)", what, cond)
}

// Navigate loads url and waits until the page is complete.
func (c *Page) Navigate(url string) {
	c.t.Helper()
	c.Call("Page.navigate", map[string]any{"url": url})
	c.WaitFor("the page loaded", `document.readyState === "complete" && location.href.startsWith(`+jsString(url)+`)`)
}

// Screenshot saves a PNG of the viewport (or of the whole page) at path.
func (c *Page) Screenshot(path string, fullPage bool) {
	c.t.Helper()
	params := map[string]any{"format": "png"}
	if fullPage {
		var size struct{ W, H float64 }
		c.Eval(`({W: document.documentElement.scrollWidth, H: document.documentElement.scrollHeight})`, &size)
		params["captureBeyondViewport"] = true
		params["clip"] = map[string]any{"x": 0, "y": 0, "width": size.W, "height": size.H, "scale": 1}
	}
	res := c.Call("Page.captureScreenshot", params)
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

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Artifacts is the repository's bin/, where CI keeps screenshots; rel is
// the path from the test's package directory to the repository's root.
func Artifacts(t testing.TB, rel string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(rel, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
