package main

import (
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

func newDrillStatusCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:               "status DRILL",
		Short:             "Show a drill's clock, service level, injects, participants and measures",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: drillArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := drillDir(g, args[0])
			if err != nil {
				return err
			}
			rec, err := drill.ReadRecord(dir)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, rec)
			}
			printStatus(w, rec)
			if rec.Status != drill.StatusEnded && !runnerAlive(g, rec.Lab) {
				fmt.Fprintf(w, "\nthe drill's runner is not running (its log: %s); 'netdojo drill end %s' closes the drill\n", filepath.Join(dir, drill.RunnerLog), args[0])
			}
			return nil
		},
	}
}

// runnerAlive tells whether the drill's runner still runs in its lab.
func runnerAlive(g *globalOptions, lab string) bool {
	l, err := sandbox.Open(g.store(), lab)
	if err != nil {
		return false
	}
	defer l.Close()
	for _, p := range l.State.Processes {
		if p.Name == drill.RunnerName && p.Alive() {
			return true
		}
	}
	return false
}

func printStatus(w io.Writer, r *drill.Record) {
	level := "no sample yet"
	if n := len(r.SLI); n > 0 {
		s := r.SLI[n-1]
		level = "RED"
		if s.OK {
			level = "green"
		}
		level += ": " + s.Detail
	}
	fmt.Fprintf(w, "drill %s (%s), team %s, lab %s: %s at %s of %s\n", r.Drill, r.Title, r.Team, r.Lab, r.Status, drillTime(r.Elapsed), drillTime(r.Limit))
	fmt.Fprintf(w, "service: %s\n  now %s\n\n", r.Service, level)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INJECT\tWHEN\tLANDED\tCLEARED\tTOLD")
	for _, in := range r.Injects {
		landed, cleared := "-", "-"
		if in.Landed {
			landed = drillTime(in.T)
		}
		if in.Cleared > 0 {
			cleared = drillTime(in.Cleared)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.ID, in.When, landed, cleared, in.Text)
	}
	tw.Flush()
	if len(r.Participants) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PARTICIPANT\tROLE\tHOST\tCOMMANDS\tLAST")
		for _, p := range r.Participants {
			last := ""
			if p.Last != nil {
				last = drillTime(p.Last.T) + " " + p.Last.Cmd
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.Name, p.Role, p.Host, p.Commands, last)
		}
		tw.Flush()
	}
	m := r.Measures
	fmt.Fprintf(w, "\ndetect %s  mitigate %s  resolve %s  collateral %.0fs  hints %d  score %d\n",
		measure(m.Detect), measure(m.Mitigate), measure(m.Resolve), m.CollateralSeconds, m.HintsUsed, m.Score)
	for _, rc := range r.RootCauses {
		fmt.Fprintf(w, "root cause: %s\n", rc)
	}
}

func measure(s float64) string {
	if s == 0 {
		return "-"
	}
	return drillTime(s)
}

func newDrillListCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in drills and the drills on this machine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := drill.List(g.store())
			if err != nil {
				return err
			}
			var recs []*drill.Record
			for _, n := range names {
				if r, err := drill.ReadRecord(drill.Dir(g.store(), n)); err == nil {
					recs = append(recs, r)
				}
			}
			w := cmd.OutOrStdout()
			if g.json() {
				type builtin struct {
					Name string `json:"name"`
					Path string `json:"path"`
				}
				out := struct {
					Builtin []builtin       `json:"builtin"`
					Drills  []*drill.Record `json:"drills"`
				}{Builtin: []builtin{}, Drills: recs}
				for _, b := range drill.Library() {
					out.Builtin = append(out.Builtin, builtin{b.Name, b.Path})
				}
				return writeJSON(w, out)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BUILT-IN DRILL\tTITLE")
			for _, b := range drill.Library() {
				if l, err := loadDrill(b.Name, 0); err == nil {
					fmt.Fprintf(tw, "%s\t%s\n", b.Name, l.drill.Title)
				}
			}
			tw.Flush()
			if len(recs) == 0 {
				return nil
			}
			fmt.Fprintln(w)
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DRILL\tTEAM\tSTATUS\tCLOCK\tSCORE")
			for i, r := range recs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", names[i], r.Team, r.Status, drillTime(r.Elapsed), r.Measures.Score)
			}
			return tw.Flush()
		},
	}
}
