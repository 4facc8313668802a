package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/spf13/cobra"
)

// newDrillCmd groups the incident drill commands (docs/drills.md).
func newDrillCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Run incident drills: a timeline of faults, recorded responders, a board and a report",
		Long: `An incident drill breaks a lab on a timeline while a synthetic user probes the
service, records every command the responders run in their drill shells, and
measures the response: time to detect, mitigate and resolve, collateral damage,
hints, a score. See docs/drills.md.

  netdojo drill start gateway-502 --team blue     the game master starts it
  netdojo drill join gateway-502-blue --as ana    each responder joins
  netdojo drill board gateway-502-blue            the live board
  netdojo drill report gateway-502-blue           the post-incident report`,
	}
	cmd.AddCommand(
		newDrillStartCmd(g), newDrillJoinCmd(g), newDrillStatusCmd(g), newDrillListCmd(g),
		newDrillDeclareCmd(g), newDrillReportCmd(g), newDrillBoardCmd(g), newDrillRunCmd(g),
	)
	cmd.AddCommand(newDrillControlCmds(g)...)
	return cmd
}

// loadedDrill is a drill with where it came from and its text.
type loadedDrill struct {
	drill  *scenarios.Drill
	source string
	data   []byte
}

// loadDrill loads a drill file or a built-in drill; a bad file is a usage
// error that lists every problem.
func loadDrill(arg string, seed uint64) (*loadedDrill, error) {
	var data []byte
	var source, name string
	if isFileArg(arg) {
		b, err := os.ReadFile(arg)
		if err != nil {
			return nil, withCode(exitUsage, err)
		}
		data, source, name = b, arg, arg
	} else {
		b, err := drill.LookupBuiltin(arg)
		if err != nil {
			return nil, withCode(exitUsage, err)
		}
		data, source, name = b.Data, "builtin:"+b.Name, b.Path
	}
	d, err := scenarios.LoadDrill(name, data, drill.LoadOptions(seed))
	if err != nil {
		var ps scenarios.Problems
		if errors.As(err, &ps) {
			return nil, withCode(exitUsage, err)
		}
		return nil, err
	}
	return &loadedDrill{drill: d, source: source, data: data}, nil
}

// drillDir finds a drill (its lab's name) in the store.
func drillDir(g *globalOptions, name string) (string, error) {
	dir := drill.Dir(g.store(), name)
	if _, err := os.Stat(filepath.Join(dir, drill.MetaFile)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			names, _ := drill.List(g.store())
			list := "none runs"
			if len(names) > 0 {
				list = "there are: " + strings.Join(names, ", ")
			}
			return "", withCode(exitUsage, fmt.Errorf("no drill %q (%s); 'netdojo drill list' shows them", name, list))
		}
		return "", err
	}
	return dir, nil
}

// runningDrill is drillDir for commands that need the drill to run.
func runningDrill(g *globalOptions, name string) (string, *drill.Record, error) {
	dir, err := drillDir(g, name)
	if err != nil {
		return "", nil, err
	}
	rec, err := drill.ReadRecord(dir)
	if err != nil {
		return "", nil, err
	}
	if rec.Status == drill.StatusEnded {
		return "", nil, withCode(exitFailed, fmt.Errorf("drill %s has ended; 'netdojo drill report %s' shows how it went", name, name))
	}
	return dir, rec, nil
}

// drillArgs completes drill names.
func drillArgs(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, _ := drill.List(g.store())
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// drillTime renders drill seconds as m:ss.
func drillTime(s float64) string {
	if s < 0 {
		s = 0
	}
	return fmt.Sprintf("%d:%02d", int(s)/60, int(s)%60)
}
