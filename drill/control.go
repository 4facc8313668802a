package drill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Control operations: what the CLI (game master and participants) asks
// of a running drill. They are appended to control.jsonl and the runner
// acts on them in order.
const (
	OpJoin    = "join"    // Who joins as Role on Host
	OpDeclare = "declare" // Who declares Text as the root cause
	OpPause   = "pause"
	OpResume  = "resume"
	OpInject  = "inject" // land inject Text now
	OpHint    = "hint"   // give the next hint
	OpSay     = "say"    // a game master's message Text (to Role)
	OpEnd     = "end"
)

// Event is one control request.
type Event struct {
	Op   string    `json:"op"`
	Who  string    `json:"who,omitempty"`
	Role string    `json:"role,omitempty"`
	Host string    `json:"host,omitempty"`
	Text string    `json:"text,omitempty"`
	At   time.Time `json:"at"`
}

// Send appends an event to a drill's control file. One write with
// O_APPEND, so events from several processes never interleave.
func Send(dir string, ev Event) error {
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return appendLine(filepath.Join(dir, ControlFile), append(line, '\n'))
}

func appendLine(path string, line []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening %s: %w", filepath.Base(path), err)
	}
	_, werr := f.Write(line)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// tail reads the complete lines appended to a file since the last read.
type tail struct {
	path    string
	off     int64
	partial []byte
}

func (t *tail) lines() ([][]byte, error) {
	f, err := os.Open(t.path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() <= t.off {
		return nil, err
	}
	buf := make([]byte, st.Size()-t.off)
	n, err := f.ReadAt(buf, t.off)
	if err != nil && err != io.EOF {
		return nil, err
	}
	t.off += int64(n)
	data := append(t.partial, buf[:n]...)
	var out [][]byte
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		out = append(out, data[:i])
		data = data[i+1:]
	}
	t.partial = append([]byte(nil), data...)
	return out, nil
}
