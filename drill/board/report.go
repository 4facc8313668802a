package board

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/netdojo/netdojo/drill"
)

// event is one line of the report's merged timeline.
type event struct {
	T    float64
	Kind string // "inject", "message", "service", "answer", "hint", "collateral", "cleared", "joined"
	Who  string
	Text string
	Bad  bool // a turn for the worse: service red, a wrong answer, an invariant broken
}

// timeline merges everything that happened, in drill time. Commands are
// not in it (they are listed by person); a message an inject already
// says is not repeated.
func timeline(r *drill.Record) []event {
	var ev []event
	injectText := map[string]bool{}
	for i, in := range r.Injects {
		if !in.Landed {
			continue
		}
		injectText[fmt.Sprintf("%g\x00%s", in.T, in.Text)] = true
		what := "message"
		if in.Kind == "fault" {
			what = "fault"
		}
		text := fmt.Sprintf("Inject %d (%s, %s) landed: %s", i+1, what, in.When, in.Text)
		if in.Revealed != "" {
			text += " Revealed: " + in.Revealed + "."
		}
		ev = append(ev, event{T: in.T, Kind: "inject", Text: text, Bad: in.Kind == "fault"})
		if in.Cleared > 0 {
			text := fmt.Sprintf("Inject %d cleared at its root", i+1)
			if in.Revealed != "" {
				text += " (" + in.Revealed + ")"
			}
			ev = append(ev, event{T: in.Cleared, Kind: "cleared", Text: text + "."})
		}
	}
	for _, ch := range sliChanges(r.SLI) {
		ev = append(ev, ch)
	}
	for _, m := range r.Messages {
		if injectText[fmt.Sprintf("%g\x00%s", m.T, m.Text)] || tellsHint(r.Hints, m) {
			continue
		}
		who := m.From
		if m.To != "" {
			who += " to " + m.To
		}
		ev = append(ev, event{T: m.T, Kind: "message", Who: who, Text: m.Text})
	}
	for _, p := range r.Participants {
		text := fmt.Sprintf("%s joined as %s", p.Name, p.Role)
		if p.Host != "" {
			text += " on " + p.Host
		}
		ev = append(ev, event{T: p.Joined, Kind: "joined", Who: p.Name, Text: text + "."})
	}
	for _, a := range r.Answers {
		verdict := "correct"
		if !a.Correct {
			verdict = "wrong"
		}
		ev = append(ev, event{T: a.T, Kind: "answer", Who: a.Who, Text: fmt.Sprintf("Declared (%s): %s", verdict, a.Text), Bad: !a.Correct})
	}
	for _, h := range r.Hints {
		ev = append(ev, event{T: h.T, Kind: "hint", Text: "Hint given: " + h.Text})
	}
	for _, c := range r.Collateral {
		ev = append(ev, event{T: c.From, Kind: "collateral", Text: "Invariant broken: " + c.Invariant + ".", Bad: true})
		if c.To > 0 {
			ev = append(ev, event{T: c.To, Kind: "collateral", Text: fmt.Sprintf("Invariant holds again after %s: %s.", clock(c.To-c.From), c.Invariant)})
		}
	}
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].T < ev[j].T })
	return ev
}

// tellsHint says whether m is how a hint was given (the hint is listed).
func tellsHint(hints []drill.Hint, m drill.Message) bool {
	for _, h := range hints {
		if h.T == m.T && strings.Contains(strings.ToLower(m.Text), strings.ToLower(h.Text)) {
			return true
		}
	}
	return false
}

// sliChanges are the service level's turns: the first sample, and every
// change from ok to failing or back.
func sliChanges(s []drill.Sample) []event {
	var ev []event
	for i, x := range s {
		if i > 0 && x.OK == s[i-1].OK {
			continue
		}
		var text string
		switch {
		case i == 0 && x.OK:
			text = "Service level green: " + x.Detail + "."
		case i == 0:
			text = "Service level red from the start: " + x.Detail + "."
		case x.OK:
			text = "Service level green again: " + x.Detail + "."
		default:
			text = "Service level red: " + x.Detail + "."
		}
		ev = append(ev, event{T: x.T, Kind: "service", Text: text, Bad: !x.OK})
	}
	return ev
}

// redPeriods are the service level's failing stretches [from, to); to is
// -1 if it was still failing at the last sample.
func redPeriods(s []drill.Sample) [][2]float64 {
	var out [][2]float64
	for i, x := range s {
		if x.OK || (i > 0 && !s[i-1].OK) {
			continue
		}
		end := -1.0
		for j := i + 1; j < len(s); j++ {
			if s[j].OK {
				end = s[j].T
				break
			}
		}
		out = append(out, [2]float64{x.T, end})
	}
	return out
}

func okShare(s []drill.Sample) (ok int, pct float64) {
	for _, x := range s {
		if x.OK {
			ok++
		}
	}
	if len(s) == 0 {
		return 0, 0
	}
	return ok, 100 * float64(ok) / float64(len(s))
}

// outcome says in one sentence how the drill went, from the measures.
func outcome(r *drill.Record) string {
	m := r.Measures
	switch {
	case m.Resolve > 0:
		return fmt.Sprintf("Resolved: every fault cleared at its root %s after the first fault landed.", clock(m.Resolve))
	case m.Mitigate > 0:
		return fmt.Sprintf("Mitigated but not resolved: the service was green again %s after the first fault, but not every fault was cleared at its root.", clock(m.Mitigate))
	case r.Status == drill.StatusEnded:
		return "Not mitigated: the drill ended with the service still failing."
	default:
		return "In progress."
	}
}

func measureRows(r *drill.Record) [][2]string {
	m := r.Measures
	at := func(s float64) string {
		if s <= 0 {
			return "not reached"
		}
		return clock(s)
	}
	return [][2]string{
		{"Time to detect (first correct diagnosis)", at(m.Detect)},
		{"Time to mitigate (service green again)", at(m.Mitigate)},
		{"Time to resolve (every fault cleared at its root)", at(m.Resolve)},
		{"Collateral (invariants broken)", fmt.Sprintf("%s in %d %s", clock(m.CollateralSeconds), len(r.Collateral), plural(len(r.Collateral), "break", "breaks"))},
		{"Hints used", fmt.Sprint(m.HintsUsed)},
		{"Commands run", fmt.Sprint(len(r.Commands))},
		{"Score", fmt.Sprintf("%d / 100", m.Score)},
	}
}

// byPerson groups commands by who ran them, people in the order they
// joined (anyone not listed as a participant after them).
func byPerson(r *drill.Record) (names []string, cmds map[string][]drill.Command) {
	cmds = map[string][]drill.Command{}
	for _, c := range r.Commands {
		cmds[c.Who] = append(cmds[c.Who], c)
	}
	seen := map[string]bool{}
	for _, p := range r.Participants {
		if !seen[p.Name] {
			seen[p.Name] = true
			names = append(names, p.Name)
		}
	}
	var rest []string
	for who := range cmds {
		if !seen[who] {
			rest = append(rest, who)
		}
	}
	sort.Strings(rest)
	return append(names, rest...), cmds
}

func role(r *drill.Record, name string) string {
	for _, p := range r.Participants {
		if p.Name == name {
			return p.Role
		}
	}
	return ""
}

// Markdown writes the post-incident review of r.
func Markdown(w io.Writer, r *drill.Record) error {
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }

	title := r.Title
	if title == "" {
		title = r.Drill
	}
	p("# Post-incident review: %s\n\n", mdText(title))
	p("Drill `%s`", mdCode(r.Drill))
	if r.Team != "" {
		p(", team %s", mdText(r.Team))
	}
	p(", seed %d, lab `%s`.\n", r.Seed, mdCode(r.Lab))
	if !r.Started.IsZero() {
		p("Started %s UTC", r.Started.UTC().Format("2006-01-02 15:04:05"))
		if !r.Ended.IsZero() {
			p(", ended %s UTC", r.Ended.UTC().Format("2006-01-02 15:04:05"))
		}
		p(".\n")
	}
	p("\n## Summary\n\n")
	ok, pct := okShare(r.SLI)
	p("- **Outcome:** %s\n", outcome(r))
	p("- **Score:** %d / 100\n", r.Measures.Score)
	p("- **Drill time:** %s of %s (%s)\n", clock(r.Elapsed), clock(r.Limit), r.Status)
	p("- **Service:** %s; %d of %d samples ok (%.0f%%)\n", mdText(r.Service), ok, len(r.SLI), pct)
	landed, faults := 0, 0
	for _, in := range r.Injects {
		if in.Landed {
			landed++
			if in.Kind == "fault" {
				faults++
			}
		}
	}
	p("- **Injects:** %d of %d landed (%d faults)\n", landed, len(r.Injects), faults)
	var people []string
	for _, x := range r.Participants {
		people = append(people, fmt.Sprintf("%s (%s)", mdText(x.Name), mdText(x.Role)))
	}
	if len(people) == 0 {
		people = []string{"nobody joined"}
	}
	p("- **Participants:** %s\n", strings.Join(people, ", "))

	p("\n## Measures\n\n| Measure | Value |\n|---|---:|\n")
	for _, row := range measureRows(r) {
		p("| %s | %s |\n", row[0], row[1])
	}
	p("\nTimes count from the first fault's landing.\n")

	p("\n## Root causes\n\n")
	if len(r.RootCauses) == 0 {
		p("Not revealed yet.\n")
	}
	for _, c := range r.RootCauses {
		p("- %s\n", mdText(c))
	}

	p("\n## Timeline\n\n| Time | What | Who |\n|---:|---|---|\n")
	for _, e := range timeline(r) {
		text := mdCell(e.Text)
		if e.Bad {
			text = "**" + text + "**"
		}
		p("| %s | %s | %s |\n", clock(e.T), text, mdCell(e.Who))
	}

	p("\n## Service level\n\n")
	p("%s. %d samples, %d ok (%.0f%%).\n", mdText(r.Service), len(r.SLI), ok, pct)
	if reds := redPeriods(r.SLI); len(reds) > 0 {
		p("\nRed periods:\n\n")
		for _, rp := range reds {
			if rp[1] < 0 {
				p("- from %s, still failing at the last sample\n", clock(rp[0]))
			} else {
				p("- %s to %s (%s)\n", clock(rp[0]), clock(rp[1]), clock(rp[1]-rp[0]))
			}
		}
	}
	p("\nSamples (`+` ok, `X` failing), one per probe run:\n\n```\n%s\n```\n", strip(r.SLI))

	p("\n## Injects\n\n| # | Kind | Trigger | Landed | Cleared | What responders were told | Revealed |\n|---:|---|---|---:|---:|---|---|\n")
	for i, in := range r.Injects {
		landed, cleared := "no", ""
		if in.Landed {
			landed = clock(in.T)
		}
		if in.Cleared > 0 {
			cleared = clock(in.Cleared)
		}
		p("| %d | %s | %s | %s | %s | %s | %s |\n", i+1, mdCell(in.Kind), mdCell(in.When), landed, cleared, mdCell(in.Text), mdCell(in.Revealed))
	}

	p("\n## Commands by person\n")
	names, cmds := byPerson(r)
	if len(names) == 0 {
		p("\nNo commands were run.\n")
	}
	for _, who := range names {
		p("\n### %s", mdText(who))
		if ro := role(r, who); ro != "" {
			p(" (%s)", mdText(ro))
		}
		p(": %d commands\n\n", len(cmds[who]))
		if len(cmds[who]) > 0 {
			p("| Time | Host | Command |\n|---:|---|---|\n")
		}
		for _, c := range cmds[who] {
			p("| %s | %s | `%s` |\n", clock(c.T), mdCell(c.Host), strings.ReplaceAll(mdCode(c.Cmd), "|", "\\|"))
		}
	}

	p("\n## Answers\n\n")
	if len(r.Answers) == 0 {
		p("No diagnosis was declared.\n")
	} else {
		p("| Time | Who | Diagnosis | Judged |\n|---:|---|---|---|\n")
		for _, a := range r.Answers {
			v := "correct"
			if !a.Correct {
				v = "**wrong**"
			}
			p("| %s | %s | %s | %s |\n", clock(a.T), mdCell(a.Who), mdCell(a.Text), v)
		}
	}

	p("\n## Collateral damage\n\n")
	if len(r.Collateral) == 0 {
		p("No invariant was broken.\n")
	} else {
		p("| Invariant | Broken at | Holds again at | For |\n|---|---:|---:|---:|\n")
		for _, c := range r.Collateral {
			to, dur := "still broken", clock(r.Elapsed-c.From)
			if c.To > 0 {
				to, dur = clock(c.To), clock(c.To-c.From)
			}
			p("| %s | %s | %s | %s |\n", mdCell(c.Invariant), clock(c.From), to, dur)
		}
	}

	p("\n## Hints\n\n")
	if len(r.Hints) == 0 {
		p("No hints were used.\n")
	}
	for _, h := range r.Hints {
		p("- %s: %s\n", clock(h.T), mdText(h.Text))
	}
	return bw.Flush()
}

// strip prints the samples as text, 60 to a line.
func strip(s []drill.Sample) string {
	var b strings.Builder
	for i, x := range s {
		if i > 0 && i%60 == 0 {
			b.WriteByte('\n')
		}
		if x.OK {
			b.WriteByte('+')
		} else {
			b.WriteByte('X')
		}
	}
	return b.String()
}

// mdText escapes what Markdown would otherwise read as markup in running text.
func mdText(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "*", "\\*", "_", "\\_", "`", "\\`", "[", "\\[", "]", "\\]", "<", "&lt;", ">", "&gt;", "\n", " ")
	return r.Replace(s)
}

// mdCell is mdText that is also safe in a table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(mdText(s), "|", "\\|")
}

// mdCode makes s safe inside a `code span`: Markdown has no escape in
// code, so backticks become a look-alike and newlines spaces.
func mdCode(s string) string {
	return strings.NewReplacer("`", "ˋ", "\n", " ").Replace(s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
