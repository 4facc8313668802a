package drill

import (
	"context"
	"fmt"
	"time"
)

// clearedAfter is how many consecutive "cleared" judgements make a fault
// cleared: one good observation between two bad ones is not a fix.
const clearedAfter = 2

// every runs fn every period of real time until ctx ends, skipping while
// the drill is paused.
func (e *Engine) every(ctx context.Context, period time.Duration, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if !e.clock.Paused() {
			fn()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probeLoop runs the synthetic user: one service probe per period.
func (e *Engine) probeLoop(ctx context.Context) {
	svc := e.d.Service
	e.every(ctx, e.clock.Real(svc.Every), func() {
		start := time.Now()
		o := e.ck.Check(ctx, svc.Check)
		took := time.Since(start)
		if ctx.Err() != nil {
			return
		}
		// A sample is what was seen when the probe finished: a probe that
		// began before a fault landed and failed because of it is red
		// after the landing, where the measures look for it.
		t := e.clock.Now()
		s := Sample{T: t, OK: o.Pass, Detail: fmt.Sprintf("%s (%s)", o.Observed, took.Round(time.Millisecond))}
		if o.Pass && svc.MaxLatency > 0 && took > svc.MaxLatency {
			s.OK = false
			s.Detail = fmt.Sprintf("%s, slower than %s", s.Detail, svc.MaxLatency)
		}
		e.post(ctx, func() { e.sample(s) })
	})
}

// sample records a service probe's result.
func (e *Engine) sample(s Sample) {
	if e.ended {
		return
	}
	e.rec.SLI = append(e.rec.SLI, s)
	switch {
	case !s.OK && e.redSince < 0:
		e.redSince = s.T
	case s.OK:
		e.redSince = -1
	}
	e.dirty = true
}

// clearedLoop judges, for every landed fault not yet cleared, whether its
// root cause is gone where it is.
func (e *Engine) clearedLoop(ctx context.Context) {
	period := max(e.clock.Real(e.d.Service.Every), 500*time.Millisecond)
	e.every(ctx, period, func() {
		e.mu.Lock()
		var pending []*liveFault
		for _, lf := range e.live {
			if lf.cleared == 0 {
				pending = append(pending, lf)
			}
		}
		e.mu.Unlock()
		if len(pending) == 0 {
			return
		}
		lab, err := e.freshLab()
		if err != nil {
			e.logf("judging faults cleared: %v", err)
			return
		}
		defer lab.Close()
		for _, lf := range pending {
			err := lf.applied.Cleared(ctx, lab, e.d.Lab)
			if ctx.Err() != nil {
				return
			}
			t := e.clock.Now()
			e.post(ctx, func() { e.judgedCleared(lf, err == nil, t) })
		}
	})
}

func (e *Engine) judgedCleared(lf *liveFault, ok bool, t float64) {
	if e.ended {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !ok {
		lf.streak = 0
		return
	}
	lf.streak++
	if lf.streak < clearedAfter || lf.cleared != 0 {
		return
	}
	lf.cleared = t
	e.logf("fault %s cleared", lf.applied.Name)
	all := true
	for _, f := range lf.step.faults {
		all = all && f.cleared != 0
	}
	if all {
		e.rec.Injects[lf.step.index].Cleared = t
	}
	e.dirty = true
}

// invariantLoop watches the invariants: breaking one is collateral damage.
// An invariant counts only once it has been seen holding, so one that a
// kept fault breaks from the start is not the team's doing.
func (e *Engine) invariantLoop(ctx context.Context) {
	invs := e.d.Lab.Invariants
	if len(invs) == 0 {
		return
	}
	// An invariant is judged within its settle window (retried for a few
	// seconds): a blip while a service restarts is not damage.
	ck := *e.ck
	ck.Once = false
	held := make([]bool, len(invs))
	period := max(e.clock.Real(2*e.d.Service.Every), time.Second)
	e.every(ctx, period, func() {
		for i := range invs {
			o := ck.Check(ctx, &invs[i].Check)
			if ctx.Err() != nil {
				return
			}
			if o.Pass {
				held[i] = true
			}
			if !held[i] {
				continue
			}
			t, name, pass := e.clock.Now(), invs[i].Name, o.Pass
			e.post(ctx, func() { e.invariant(name, pass, t) })
		}
	})
}

func (e *Engine) invariant(name string, pass bool, t float64) {
	if e.ended {
		return
	}
	open := -1
	for i, c := range e.rec.Collateral {
		if c.Invariant == name && c.To == 0 {
			open = i
		}
	}
	switch {
	case !pass && open < 0:
		e.rec.Collateral = append(e.rec.Collateral, Collateral{Invariant: name, From: t})
		e.broken = true
		e.logf("invariant broken: %s", name)
		e.dirty = true
	case pass && open >= 0:
		e.rec.Collateral[open].To = t
		e.dirty = true
	}
}
