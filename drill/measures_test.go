package drill

import (
	"reflect"
	"testing"
	"time"
)

func TestMeasuresComeFromTheRecord(t *testing.T) {
	sli := func(oks ...bool) []Sample {
		var out []Sample
		for i, ok := range oks {
			out = append(out, Sample{T: float64(10 * i), OK: ok})
		}
		return out
	}
	fault := func(t, cleared float64) Inject {
		return Inject{ID: "f", Kind: "fault", Landed: true, T: t, Cleared: cleared}
	}
	cases := []struct {
		name string
		r    Record
		want Measures
	}{
		{
			name: "a quick, clean response scores high and times count from the fault",
			r: Record{Limit: 1200, Elapsed: 100, SLI: sli(true, true, false, false, true, true),
				Injects: []Inject{{ID: "m", Kind: "message", Landed: true, T: 5}, fault(20, 45)},
				Answers: []Answer{{T: 30, Correct: false}, {T: 35, Correct: true}}},
			want: Measures{Detect: 15, Mitigate: 20, Resolve: 25, Score: 99},
		},
		{
			name: "mitigation without the root cause cleared is not resolved",
			r:    Record{Limit: 1200, Elapsed: 100, SLI: sli(true, true, false, true), Injects: []Inject{fault(10, 0)}},
			want: Measures{Mitigate: 20, Score: 45},
		},
		{
			name: "red now means not mitigated",
			r:    Record{Limit: 1200, Elapsed: 40, SLI: sli(false, true, false), Injects: []Inject{fault(0, 0)}},
			want: Measures{Score: 44},
		},
		{
			name: "hints and collateral damage cost, capped",
			r: Record{Limit: 1200, Elapsed: 200, SLI: sli(true), Injects: []Inject{fault(0, 50)},
				Answers:    []Answer{{T: 10, Correct: true}},
				Hints:      []Hint{{}, {}, {}},
				Collateral: []Collateral{{From: 10, To: 70}, {From: 100}}},
			want: Measures{Detect: 10, Resolve: 50, HintsUsed: 3, CollateralSeconds: 160, Score: 75},
		},
		{
			name: "no fault landed yet",
			r:    Record{Limit: 1200, Elapsed: 10, SLI: sli(true)},
			want: Measures{Score: 100},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ComputeMeasures(&c.r)
			got.CommandsBy, c.want.CommandsBy = nil, nil
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestCommandsAreCountedPerPerson(t *testing.T) {
	r := &Record{Commands: []Command{{Who: "ana"}, {Who: "ben"}, {Who: "ana"}}}
	m := ComputeMeasures(r)
	if m.CommandsBy["ana"] != 2 || m.CommandsBy["ben"] != 1 {
		t.Errorf("commands by: %v", m.CommandsBy)
	}
}

func TestTheClockScalesAndPauses(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	c := NewClock(start, 20)
	c.now = func() time.Time { return now }
	now = start.Add(3 * time.Second)
	if got := c.Now(); got != 60 {
		t.Errorf("3 s at scale 20 is %v drill seconds, want 60", got)
	}
	c.Pause()
	now = start.Add(10 * time.Second)
	if got := c.Now(); got != 60 {
		t.Errorf("the paused clock moved to %v", got)
	}
	if got := c.At(start.Add(9 * time.Second)); got != 60 {
		t.Errorf("a time stamp while paused maps to %v, want the pause's 60", got)
	}
	c.Resume()
	now = start.Add(11 * time.Second)
	if got := c.Now(); got != 80 {
		t.Errorf("after 7 s of pause and 1 s more: %v, want 80", got)
	}
	if got := c.Real(5 * time.Second); got != 250*time.Millisecond {
		t.Errorf("5 drill seconds take %s of real time at scale 20", got)
	}
}
