package board

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/netdojo/netdojo/drill"
)

//go:embed report.html.tmpl
var reportTmpl string

//go:embed report.css
var reportCSS string

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"clock": clock,
	"add1":  func(i int) int { return i + 1 },
}).Parse(reportTmpl))

type personView struct {
	Name     string
	Role     string
	Commands []drill.Command
}

type reportView struct {
	R          *drill.Record
	Title      string
	CSS        template.CSS
	Outcome    string
	OK         int
	Pct        string
	Measures   [][2]string
	Timeline   []event
	Reds       []string
	Chart      template.HTML
	Topology   template.HTML
	People     []personView
	Started    string
	Ended      string
	Landed     int
	Resolved   bool
	Mitigated  bool
	ScoreClass string
}

// HTML writes the post-incident review of r as one self-contained HTML
// file: inline CSS and inline SVG pictures, no script and nothing loaded
// from anywhere, so it can be mailed or archived as it is.
func HTML(w io.Writer, r *drill.Record) error {
	v := reportView{R: r, Title: r.Title, CSS: template.CSS(reportCSS), Outcome: outcome(r)}
	if v.Title == "" {
		v.Title = r.Drill
	}
	v.OK, _ = okShare(r.SLI)
	_, pct := okShare(r.SLI)
	v.Pct = fmt.Sprintf("%.0f%%", pct)
	v.Measures = measureRows(r)
	v.Timeline = timeline(r)
	for _, rp := range redPeriods(r.SLI) {
		if rp[1] < 0 {
			v.Reds = append(v.Reds, fmt.Sprintf("from %s, still failing at the last sample", clock(rp[0])))
		} else {
			v.Reds = append(v.Reds, fmt.Sprintf("%s to %s (%s)", clock(rp[0]), clock(rp[1]), clock(rp[1]-rp[0])))
		}
	}
	var chart, topo strings.Builder
	if err := ServiceSVG(&chart, r); err != nil {
		return fmt.Errorf("drawing the service level of drill %q: %w", r.Drill, err)
	}
	if err := TopologySVG(&topo, &r.Topology); err != nil {
		return fmt.Errorf("drawing the topology of drill %q: %w", r.Drill, err)
	}
	// Both pictures are built by this package with every text escaped.
	v.Chart = template.HTML(chart.String())
	v.Topology = template.HTML(topo.String())
	names, cmds := byPerson(r)
	for _, n := range names {
		v.People = append(v.People, personView{Name: n, Role: role(r, n), Commands: cmds[n]})
	}
	if !r.Started.IsZero() {
		v.Started = r.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	if !r.Ended.IsZero() {
		v.Ended = r.Ended.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	for _, in := range r.Injects {
		if in.Landed {
			v.Landed++
		}
	}
	v.Resolved = r.Measures.Resolve > 0
	v.Mitigated = r.Measures.Mitigate > 0
	switch {
	case v.Resolved:
		v.ScoreClass = "good"
	case v.Mitigated:
		v.ScoreClass = "warn"
	default:
		v.ScoreClass = "bad"
	}
	if err := reportPage.Execute(w, v); err != nil {
		return fmt.Errorf("writing the report of drill %q: %w", r.Drill, err)
	}
	return nil
}
