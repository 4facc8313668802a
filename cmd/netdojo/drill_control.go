package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/netdojo/netdojo/drill"
	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/spf13/cobra"
)

// newDrillControlCmds are the game master's controls: each appends an
// event to the drill's control file, which the runner acts on.
func newDrillControlCmds(g *globalOptions) []*cobra.Command {
	simple := func(op, use, short string) *cobra.Command {
		return &cobra.Command{
			Use: use + " DRILL", Short: short, Args: cobra.ExactArgs(1), ValidArgsFunction: drillArgs(g),
			RunE: func(cmd *cobra.Command, args []string) error {
				dir, _, err := runningDrill(g, args[0])
				if err != nil {
					return err
				}
				return drill.Send(dir, drill.Event{Op: op})
			},
		}
	}
	inject := &cobra.Command{
		Use: "inject DRILL ID", Short: "Land an inject of the timeline now, whatever its trigger", Args: cobra.ExactArgs(2), ValidArgsFunction: drillArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, _, err := runningDrill(g, args[0])
			if err != nil {
				return err
			}
			return drill.Send(dir, drill.Event{Op: drill.OpInject, Text: args[1]})
		},
	}
	var to string
	say := &cobra.Command{
		Use: "say DRILL MESSAGE", Short: "Tell the responders something, as the game master (or a role with --to)", Args: cobra.ExactArgs(2), ValidArgsFunction: drillArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, _, err := runningDrill(g, args[0])
			if err != nil {
				return err
			}
			return drill.Send(dir, drill.Event{Op: drill.OpSay, Role: to, Text: args[1]})
		},
	}
	say.Flags().StringVar(&to, "to", "", "the role the message is for (default everyone)")
	var keep bool
	end := &cobra.Command{
		Use: "end DRILL", Short: "End a drill: reveal the root causes, write the final record and remove the lab", Args: cobra.ExactArgs(1), ValidArgsFunction: drillArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo drill end"); err != nil {
				return err
			}
			dir, err := drillDir(g, args[0])
			if err != nil {
				return err
			}
			meta, err := drill.ReadMeta(dir)
			if err != nil {
				return err
			}
			if rec, err := drill.ReadRecord(dir); err == nil && rec.Status != drill.StatusEnded {
				if err := drill.Send(dir, drill.Event{Op: drill.OpEnd}); err != nil {
					return err
				}
				if !waitEnded(dir, 15*time.Second) {
					// The runner is gone (killed, or its lab stopped by hand):
					// the record ends where it stopped.
					if err := drill.MarkEnded(dir, "its runner did not answer"); err != nil {
						return err
					}
				}
			}
			w := cmd.OutOrStdout()
			if !keep {
				if err := labpkg.Stop(g.store(), meta.Lab); err != nil {
					return fmt.Errorf("removing the drill's lab %s: %w; 'netdojo clean' removes what is left", meta.Lab, err)
				}
			}
			rec, err := drill.ReadRecord(dir)
			if err != nil {
				return err
			}
			files, err := writeReports(dir)
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(w, rec)
			}
			printStatus(w, rec)
			fmt.Fprintf(w, "\nthe report: %s (also 'netdojo drill report %s --format md|html|json')\n", strings.Join(files, ", "), args[0])
			return nil
		},
	}
	end.Flags().BoolVar(&keep, "keep-lab", false, "leave the lab running for a walk-through ('netdojo stop LAB' removes it)")
	return []*cobra.Command{
		simple(drill.OpPause, "pause", "Stop the drill's clock: no inject lands, no probe runs"),
		simple(drill.OpResume, "resume", "Let the drill's clock run again"),
		simple(drill.OpHint, "hint", "Give the responders the drill's next hint (it costs score)"),
		inject, say, end,
	}
}

func waitEnded(dir string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if r, err := drill.ReadRecord(dir); err == nil && r.Status == drill.StatusEnded {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
