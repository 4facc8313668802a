package drill

import (
	"sync"
	"time"
)

// Clock is drill time: wall time since the start, minus paused time,
// times a scale (1 in a real drill; verify runs a 20-minute drill in about
// a minute with a larger scale). It is safe for concurrent use.
type Clock struct {
	mu       sync.Mutex
	start    time.Time
	scale    float64
	paused   time.Duration // total real time paused before pausedAt
	pausedAt time.Time     // zero while running
	now      func() time.Time
}

// NewClock starts a clock at start with a time scale (<= 0 means 1).
func NewClock(start time.Time, scale float64) *Clock {
	if scale <= 0 {
		scale = 1
	}
	return &Clock{start: start, scale: scale, now: time.Now}
}

// Scale is how many drill seconds pass per real second.
func (c *Clock) Scale() float64 { return c.scale }

// Now is the drill time now, in seconds.
func (c *Clock) Now() float64 { return c.At(c.now()) }

// At is the drill time at a wall time (a command's time stamp), in seconds.
// A wall time while paused maps to the moment of the pause.
func (c *Clock) At(t time.Time) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.pausedAt.IsZero() && t.After(c.pausedAt) {
		t = c.pausedAt
	}
	d := t.Sub(c.start) - c.paused
	if d < 0 {
		d = 0
	}
	return d.Seconds() * c.scale
}

// Real is the real duration of a drill duration.
func (c *Clock) Real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.scale)
}

// Pause stops drill time; it is a no-op while paused.
func (c *Clock) Pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pausedAt.IsZero() {
		c.pausedAt = c.now()
	}
}

// Resume lets drill time run again.
func (c *Clock) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.pausedAt.IsZero() {
		c.paused += c.now().Sub(c.pausedAt)
		c.pausedAt = time.Time{}
	}
}

// Paused reports whether drill time is stopped.
func (c *Clock) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.pausedAt.IsZero()
}
