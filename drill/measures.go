package drill

import "math"

// ComputeMeasures derives every measure from what the record holds, so the
// board, the report and the runner agree. Times count from the first
// fault's landing (the first inject's when no fault landed), in drill
// seconds; 0 means not (yet):
//
//   - Detect: the first correct declaration.
//   - Mitigate: the start of the green streak the service level is in now,
//     once it has been red; 0 while red or never red.
//   - Resolve: when the last landed fault was cleared at its root, once
//     every landed fault is.
//   - CollateralSeconds: how long invariants were broken, summed.
//
// A time that would be 0 (a declaration at the very moment the fault
// landed) counts as 0.1 s, so 0 keeps meaning "not".
func ComputeMeasures(r *Record) Measures {
	m := Measures{CommandsBy: map[string]int{}, HintsUsed: len(r.Hints)}
	first, anyFault, anyLanded := 0.0, false, false
	for _, in := range r.Injects {
		if !in.Landed {
			continue
		}
		switch {
		case in.Kind == "fault" && (!anyFault || in.T < first):
			first, anyFault = in.T, true
		case !anyFault && (!anyLanded || in.T < first):
			first = in.T
		}
		anyLanded = true
	}
	since := func(t float64) float64 { return math.Max(t-first, 0.1) }
	for _, a := range r.Answers {
		if a.Correct {
			m.Detect = since(a.T)
			break
		}
	}
	red, streak := false, -1.0
	for _, s := range r.SLI {
		if s.T < first {
			continue
		}
		switch {
		case !s.OK:
			red, streak = true, -1
		case streak < 0:
			streak = s.T
		}
	}
	if red && streak >= 0 {
		m.Mitigate = since(streak)
	}
	if anyFault {
		last, all := 0.0, true
		for _, in := range r.Injects {
			if in.Landed && in.Kind == "fault" {
				all = all && in.Cleared > 0
				last = math.Max(last, in.Cleared)
			}
		}
		if all {
			m.Resolve = since(last)
		}
	}
	for _, c := range r.Collateral {
		to := c.To
		if to == 0 {
			to = r.Elapsed
		}
		m.CollateralSeconds += math.Max(to-c.From, 0)
	}
	for _, c := range r.Commands {
		m.CommandsBy[c.Who]++
	}
	m.Score = Score(r, m, anyFault)
	return m
}

// RedSeconds is how long the service level was red: each red sample
// counts until the next sample (or until now for the last one).
func RedSeconds(r *Record) float64 {
	total := 0.0
	for i, s := range r.SLI {
		if s.OK {
			continue
		}
		end := r.Elapsed
		if i+1 < len(r.SLI) {
			end = r.SLI[i+1].T
		}
		total += math.Max(end-s.T, 0)
	}
	return total
}

// Score is 0 to 100, the same formula for every run of a drill so runs
// compare. From 100:
//
//   - 40 when a fault landed and the faults were not all resolved at
//     their root (mitigation alone is not a resolution);
//   - 15 when a fault landed and no correct diagnosis was declared;
//   - up to 25 for red service time: 25 x red seconds / half the limit;
//   - 5 a hint, at most 10;
//   - for collateral damage, 5 an invariant broken plus 1 a 30 s broken,
//     at most 20.
//
// and never below 0.
func Score(r *Record, m Measures, faultLanded bool) int {
	s := 100.0
	if faultLanded {
		if m.Resolve == 0 {
			s -= 40
		}
		if m.Detect == 0 {
			s -= 15
		}
	}
	if r.Limit > 0 {
		s -= math.Min(25, 25*RedSeconds(r)/(r.Limit/2))
	}
	s -= math.Min(10, 5*float64(m.HintsUsed))
	s -= math.Min(20, 5*float64(len(r.Collateral))+m.CollateralSeconds/30)
	return int(math.Max(0, math.Round(s)))
}
