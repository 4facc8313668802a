// Package board shows a drill to the people in the room and writes its
// post-incident review. It serves the live board (an embedded page that
// updates through Server-Sent Events, no reload and no internet) and
// renders a finished drill.Record as Markdown or as one self-contained
// HTML file.
//
// The board only reads: it never changes a Record, never touches a lab
// and never runs a command. Everything it shows comes from a Source.
package board

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/netdojo/netdojo/drill"
)

// Source is where the board reads a drill's Record from: the engine's
// record.json, or memory in tests.
//
// Changed returns a channel that signals each change, in either of two
// ways: a value per change (a channel buffered by one that the source
// never blocks on, as drill's file watcher does), or a close per change
// (like context.Context's Done: after it is closed, Changed returns a new
// channel; Memory does this). The board reads it from one goroutine and
// fans changes out to every browser itself. Record returns a Record that
// the caller may read but must not change.
type Source interface {
	Record() (*drill.Record, error)
	Changed() <-chan struct{}
}

// Memory is a Source held in memory: Set replaces the Record and wakes
// every watcher.
type Memory struct {
	mu      sync.Mutex
	rec     *drill.Record
	changed chan struct{}
}

// NewMemory returns an empty Memory source; Record fails until the first Set.
func NewMemory() *Memory {
	return &Memory{changed: make(chan struct{})}
}

// Set replaces the Record with a copy of r and wakes every watcher.
func (m *Memory) Set(r *drill.Record) {
	c, err := clone(r)
	if err != nil {
		// A Record is plain data and always marshals; keep the old one.
		return
	}
	m.mu.Lock()
	m.rec = c
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// Record returns the last Record set.
func (m *Memory) Record() (*drill.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rec == nil {
		return nil, errors.New("no drill record yet; the board shows it once the drill writes one")
	}
	return m.rec, nil
}

// Changed returns a channel closed by the next Set.
func (m *Memory) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func clone(r *drill.Record) (*drill.Record, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("copying drill record: %w", err)
	}
	var c drill.Record
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("copying drill record: %w", err)
	}
	return &c, nil
}

//go:embed static
var static embed.FS

// heartbeat is how often an idle event stream sends a comment, so that
// proxies and browsers keep it open and a dead watcher is noticed.
var heartbeat = 15 * time.Second

// Serve serves the board on ln until ctx ends, then closes every event
// stream and returns nil (or the error that stopped the server).
func Serve(ctx context.Context, ln net.Listener, src Source) error {
	srv := &http.Server{
		Handler:           Handler(src),
		ReadHeaderTimeout: 10 * time.Second,
		// Event streams end with ctx, since every request's context
		// derives from it.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving the drill board on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("stopping the drill board on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Handler serves the board:
//
//	/             the live page (HTML, CSS and JS built into the binary)
//	/events       Server-Sent Events: a "record" event with the whole
//	              state on connect and after every change, a comment as
//	              heartbeat
//	/record.json  the Record, for tooling
//	/topology.svg the lab's topology as a picture
//	/report.md    the post-incident review so far, as Markdown
//	/report.html  the same as one self-contained HTML file
func Handler(src Source) http.Handler {
	h := &handler{src: src}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", h.events)
	mux.HandleFunc("GET /record.json", h.recordJSON)
	mux.HandleFunc("GET /topology.svg", h.topology)
	mux.HandleFunc("GET /report.md", h.reportMD)
	mux.HandleFunc("GET /report.html", h.reportHTML)
	mux.Handle("GET /", files)
	return secure(mux)
}

func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

type handler struct {
	src Source

	mu       sync.Mutex
	watchers int           // open event streams
	stop     chan struct{} // ends the goroutine that follows src, when watchers drops to 0
	version  uint64        // counts the changes seen
	next     chan struct{} // closed at the next change
	snapVer  uint64        // the version snap was taken at
	snap     []byte        // the "record" event's data, or nil
	err      error
}

// boardUpdate is the data of one "record" event.
type boardUpdate struct {
	Record   *drill.Record `json:"record"`
	Topology string        `json:"topology_svg"`
}

// join registers an event stream; the first one starts following the
// Source. One goroutine reads src.Changed for every watcher, so a Source
// whose channel delivers a value per change (one reader) serves any
// number of browsers, as does one whose channel is closed per change.
func (h *handler) join() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchers++
	if h.watchers > 1 {
		return
	}
	if h.next == nil {
		h.next = make(chan struct{})
	}
	// Take the channel before the first read, so that no change after
	// that read is missed; and read afresh, since changes while nobody
	// watched were not counted.
	ch := h.src.Changed()
	h.bumpLocked()
	h.stop = make(chan struct{})
	go h.follow(ch, h.stop)
}

func (h *handler) leave() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchers--
	if h.watchers == 0 {
		close(h.stop)
	}
}

func (h *handler) follow(ch <-chan struct{}, stop chan struct{}) {
	for {
		select {
		case <-ch:
			// The next channel first, then the count: a change after
			// this point signals ch again.
			ch = h.src.Changed()
			h.mu.Lock()
			h.bumpLocked()
			h.mu.Unlock()
		case <-stop:
			return
		}
	}
}

func (h *handler) bumpLocked() {
	h.version++
	close(h.next)
	h.next = make(chan struct{})
}

// snapshot returns the current event data and a channel closed at the
// next change. Every watcher shares one encoding per change.
func (h *handler) snapshot() ([]byte, <-chan struct{}, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	next := h.next
	if h.snapVer == h.version && (h.snap != nil || h.err != nil) {
		return h.snap, next, h.err
	}
	h.snapVer, h.snap, h.err = h.version, nil, nil
	rec, err := h.src.Record()
	if err != nil {
		h.err = err
		return nil, next, err
	}
	var svg bytesWriter
	if err := TopologySVG(&svg, &rec.Topology); err != nil {
		h.err = err
		return nil, next, err
	}
	b, err := json.Marshal(boardUpdate{Record: rec, Topology: string(svg)})
	if err != nil {
		h.err = fmt.Errorf("encoding drill record %q: %w", rec.Drill, err)
		return nil, next, h.err
	}
	h.snap = b
	return b, next, nil
}

type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// Ask the browser to retry quickly if the board restarts.
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return
	}
	h.join()
	defer h.leave()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		data, ch, err := h.snapshot()
		if err != nil {
			_, err = fmt.Fprintf(w, "event: problem\ndata: %s\n\n", jsonString(err.Error()))
		} else {
			_, err = fmt.Fprintf(w, "event: record\ndata: %s\n\n", data)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	wait:
		for {
			select {
			case <-r.Context().Done():
				return
			case <-ch:
				break wait
			case <-tick.C:
				if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
					return
				}
				if err := rc.Flush(); err != nil {
					return
				}
			}
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (h *handler) record(w http.ResponseWriter) (*drill.Record, bool) {
	rec, err := h.src.Record()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return nil, false
	}
	return rec, true
}

func (h *handler) recordJSON(w http.ResponseWriter, r *http.Request) {
	rec, ok := h.record(w)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rec)
}

func (h *handler) topology(w http.ResponseWriter, r *http.Request) {
	rec, ok := h.record(w)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_ = TopologySVG(w, &rec.Topology)
}

func (h *handler) reportMD(w http.ResponseWriter, r *http.Request) {
	rec, ok := h.record(w)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = Markdown(w, rec)
}

func (h *handler) reportHTML(w http.ResponseWriter, r *http.Request) {
	rec, ok := h.record(w)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = HTML(w, rec)
}
