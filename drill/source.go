package drill

import (
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Source is where a board reads a drill from: the record as it is now,
// and a signal each time it changes.
type Source interface {
	// Record returns the latest record.
	Record() (*Record, error)
	// Changed receives (at most one pending value) after the record changed.
	Changed() <-chan struct{}
}

// PollInterval is how often a FileSource looks at record.json.
const PollInterval = 200 * time.Millisecond

// FileWatch is a Source backed by a drill directory's record.json, which
// the runner (another process) rewrites atomically after each change. It
// polls the file's modification time and size every PollInterval.
type FileWatch struct {
	path    string
	changed chan struct{}
	once    sync.Once
	stop    chan struct{}
	closed  sync.Once
}

// FileSource watches the record of the drill in dir. Close stops it.
func FileSource(dir string) *FileWatch {
	return &FileWatch{path: filepath.Join(dir, RecordFile), changed: make(chan struct{}, 1), stop: make(chan struct{})}
}

// Record reads record.json.
func (f *FileWatch) Record() (*Record, error) { return ReadRecord(filepath.Dir(f.path)) }

// Changed starts watching on first use.
func (f *FileWatch) Changed() <-chan struct{} {
	f.once.Do(func() { go f.poll() })
	return f.changed
}

// Close stops watching.
func (f *FileWatch) Close() error {
	f.closed.Do(func() { close(f.stop) })
	return nil
}

func (f *FileWatch) poll() {
	var lastMod time.Time
	var lastSize int64 = -1
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		if st, err := os.Stat(f.path); err == nil && (!st.ModTime().Equal(lastMod) || st.Size() != lastSize) {
			lastMod, lastSize = st.ModTime(), st.Size()
			select {
			case f.changed <- struct{}{}:
			default:
			}
		}
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
	}
}

var _ Source = (*FileWatch)(nil)
