package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	output   string // text or json
	stateDir string
}

func (g *globalOptions) store() sandbox.Store { return sandbox.Store{Dir: g.stateDir} }

func (g *globalOptions) json() bool { return g.output == "json" }

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "netdojo",
		Short: "Hands-on labs for Linux network debugging",
		Long: `netdojo builds isolated networks of hosts (network namespaces joined by veth
pairs and bridges) from a scenario file, breaks them, and checks your
diagnosis and fix with the same probe engine that works on real hosts.

Start with:  netdojo list   then   netdojo start SCENARIO`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	root.PersistentFlags().StringVar(&g.stateDir, "state-dir", sandbox.DefaultStateDir, "where lab states are kept")
	root.PersistentFlags().MarkHidden("state-dir")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if g.output != "text" && g.output != "json" {
			return withCode(exitUsage, fmt.Errorf("--output must be text or json, not %q", g.output))
		}
		return nil
	}
	root.AddCommand(
		newListCmd(g), newShowCmd(g), newValidateCmd(g), newStartCmd(g), newStatusCmd(g),
		newShellCmd(g), newExecCmd(g), newStopCmd(g), newCleanCmd(g), newDemoCmd(g),
		newFaultsCmd(g), newInjectCmd(g), newRevertCmd(g),
		newProbeCmd(g), newTriageCmd(g), newSocketsCmd(g), newCaptureCmd(g),
		newCheckCmd(g), newAnswerCmd(g), newHintCmd(g), newVerifyCmd(g), newServiceCmd(g),
		newDrillCmd(g),
	)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return withCode(exitUsage, fmt.Errorf("%w; see '%s --help'", err, cmd.CommandPath()))
	})
	return root
}

// needRoot refuses a privileged command up front.
func needRoot(what string) error {
	if os.Geteuid() != 0 {
		return withCode(exitNotReady, fmt.Errorf("%s needs root: it creates network namespaces and links; run it with sudo", what))
	}
	return nil
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func isUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.Contains(msg, "accepts ") || strings.Contains(msg, "requires at least")
}

// labArgs completes lab names.
func labArgs(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		labs, _ := g.store().Labs()
		return labs, cobra.ShellCompDirectiveNoFileComp
	}
}

// labHostArgs completes LAB then HOST.
func labHostArgs(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			labs, _ := g.store().Labs()
			return labs, cobra.ShellCompDirectiveNoFileComp
		case 1:
			if lab, err := sandbox.Open(g.store(), args[0]); err == nil {
				return lab.HostNames(), cobra.ShellCompDirectiveNoFileComp
			}
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}
