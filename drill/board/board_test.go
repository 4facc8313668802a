package board

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/drill"
)

// sse reads Server-Sent Events from a stream.
type sse struct {
	t  testing.TB
	rd *bufio.Reader
}

type sseEvent struct {
	Name, Data string
	Comment    bool
}

// next returns the next event or comment block.
func (s *sse) next() (sseEvent, error) {
	var ev sseEvent
	seen := false
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if seen {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
			ev.Comment, seen = true, true
		case strings.HasPrefix(line, "event: "):
			ev.Name, seen = strings.TrimPrefix(line, "event: "), true
		case strings.HasPrefix(line, "data: "):
			ev.Data, seen = strings.TrimPrefix(line, "data: "), true
		case strings.HasPrefix(line, "retry: "):
			// not an event
		}
	}
}

// nextRecord skips heartbeats and returns the next record update.
func (s *sse) nextRecord() *drill.Record {
	s.t.Helper()
	for {
		ev, err := s.next()
		if err != nil {
			s.t.Fatalf("reading the event stream: %v", err)
		}
		if ev.Name != "record" {
			continue
		}
		var u struct {
			Record   drill.Record `json:"record"`
			Topology string       `json:"topology_svg"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &u); err != nil {
			s.t.Fatalf("decoding a record event: %v", err)
		}
		if !strings.HasPrefix(u.Topology, "<svg") {
			s.t.Fatalf("a record event carries no topology picture: %.40q", u.Topology)
		}
		return &u.Record
	}
}

func openEvents(t testing.TB, url string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("/events has Content-Type %q", ct)
	}
	return &sse{t: t, rd: bufio.NewReader(resp.Body)}
}

func TestEventsSendTheRecordOnConnectAndAfterEveryChange(t *testing.T) {
	mem := NewMemory()
	r := fixture(t)
	mem.Set(r)
	srv := httptest.NewServer(Handler(mem))
	t.Cleanup(srv.Close)

	a, b := openEvents(t, srv.URL), openEvents(t, srv.URL)
	for _, s := range []*sse{a, b} {
		if got := s.nextRecord(); got.Drill != "checkout-502" || len(got.SLI) != 60 {
			t.Fatalf("first event: drill %q with %d samples", got.Drill, len(got.SLI))
		}
	}
	r.SLI = append(r.SLI, drill.Sample{T: 300, OK: true, Detail: "200 in 9 ms"})
	r.Elapsed = 301
	mem.Set(r)
	for _, s := range []*sse{a, b} {
		got := s.nextRecord()
		if len(got.SLI) != 61 || got.Elapsed != 301 {
			t.Fatalf("after a change: %d samples at %gs, want 61 at 301s", len(got.SLI), got.Elapsed)
		}
	}
	// Changing the caller's Record after Set changes nothing the board shows.
	r.Title = "changed behind the board's back"
	if got, _ := mem.Record(); got.Title != "502s on checkout" {
		t.Errorf("Memory kept the caller's Record, not a copy: title %q", got.Title)
	}
}

func TestEventsSendAHeartbeatWhenNothingChanges(t *testing.T) {
	old := heartbeat
	heartbeat = 20 * time.Millisecond
	t.Cleanup(func() { heartbeat = old })
	mem := NewMemory()
	mem.Set(fixture(t))
	srv := httptest.NewServer(Handler(mem))
	t.Cleanup(srv.Close)
	s := openEvents(t, srv.URL)
	s.nextRecord()
	ev, err := s.next()
	if err != nil || !ev.Comment {
		t.Fatalf("after the record, got %+v, %v; want a heartbeat comment", ev, err)
	}
}

func TestEventsSayWhatIsMissingBeforeTheFirstRecord(t *testing.T) {
	mem := NewMemory()
	srv := httptest.NewServer(Handler(mem))
	t.Cleanup(srv.Close)
	s := openEvents(t, srv.URL)
	ev, err := s.next()
	if err != nil || ev.Name != "problem" || !strings.Contains(ev.Data, "no drill record yet") {
		t.Fatalf("got %+v, %v; want a problem event", ev, err)
	}
	mem.Set(fixture(t))
	if got := s.nextRecord(); got.Drill != "checkout-502" {
		t.Fatalf("after the first Set: drill %q", got.Drill)
	}
	resp, err := http.Get(srv.URL + "/record.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/record.json: %s", resp.Status)
	}
}

func TestHandlerServesThePageAndTheDocuments(t *testing.T) {
	mem := NewMemory()
	srv := httptest.NewServer(Handler(mem))
	t.Cleanup(srv.Close)
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get("/record.json"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/record.json before any record: %s, want 503", resp.Status)
	}
	mem.Set(fixture(t))
	for _, tc := range []struct{ path, ctype, body string }{
		{"/", "text/html", `<script src="board.js" defer></script>`},
		{"/board.js", "javascript", "new EventSource('events')"},
		{"/board.css", "text/css", ".strip"},
		{"/record.json", "application/json", `"drill": "checkout-502"`},
		{"/topology.svg", "image/svg+xml", `data-host="app1" data-broken="true"`},
		{"/report.md", "text/markdown", "# Post-incident review: 502s on checkout"},
		{"/report.html", "text/html", "<title>Post-incident review: 502s on checkout</title>"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(tc.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s", resp.Status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, tc.ctype) {
				t.Errorf("Content-Type %q, want %s", ct, tc.ctype)
			}
			if !strings.Contains(body, tc.body) {
				t.Errorf("the body lacks %q", tc.body)
			}
			if resp.Header.Get("Content-Security-Policy") == "" {
				t.Error("no Content-Security-Policy")
			}
		})
	}
	// Nothing on the page comes from elsewhere.
	for _, path := range []string{"/", "/board.js", "/board.css"} {
		if _, body := get(path); strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "//cdn") {
			t.Errorf("%s refers to another site", path)
		}
	}
}

func TestServeEndsTheEventStreamsWithItsContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mem := NewMemory()
	mem.Set(fixture(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, mem) }()
	s := openEvents(t, "http://"+ln.Addr().String())
	s.nextRecord()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after its context ended, want nil", err)
	}
	for {
		if _, err := s.next(); err != nil {
			if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") {
				t.Logf("stream ended with %v", err)
			}
			break
		}
	}
}

// sendSource signals a change by a value on a channel buffered by one, as
// drill's file watcher does: one reader gets each signal.
type sendSource struct {
	mem *Memory
	ch  chan struct{}
}

func (s *sendSource) Record() (*drill.Record, error) { return s.mem.Record() }
func (s *sendSource) Changed() <-chan struct{}       { return s.ch }
func (s *sendSource) Set(r *drill.Record) {
	s.mem.Set(r)
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

func TestEventsReachEveryWatcherOfASourceThatSendsAValuePerChange(t *testing.T) {
	src := &sendSource{mem: NewMemory(), ch: make(chan struct{}, 1)}
	r := fixture(t)
	src.Set(r)
	srv := httptest.NewServer(Handler(src))
	t.Cleanup(srv.Close)
	var watchers []*sse
	for range 3 {
		s := openEvents(t, srv.URL)
		s.nextRecord()
		watchers = append(watchers, s)
	}
	for step := 1; step <= 3; step++ {
		r.Elapsed = float64(300 + step)
		src.Set(r)
		for i, s := range watchers {
			// A signal pending from before a watcher joined may repeat
			// the state it already has: harmless, so allow one.
			got := s.nextRecord()
			if got.Elapsed != r.Elapsed {
				got = s.nextRecord()
			}
			if got.Elapsed != r.Elapsed {
				t.Fatalf("change %d: watcher %d got elapsed %g, want %g", step, i, got.Elapsed, r.Elapsed)
			}
		}
	}
}
