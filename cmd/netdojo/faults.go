package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/netdojo/netdojo/faults"
	"github.com/spf13/cobra"
)

type faultsOptions struct {
	layer string
}

// faultJSON is a kind as `netdojo faults --output json` prints it.
type faultJSON struct {
	Name      string              `json:"name"`
	Layer     string              `json:"layer"`
	Summary   string              `json:"summary"`
	NeedsHost bool                `json:"needs_host"`
	Params    []faults.ParamField `json:"params"`
	Symptom   string              `json:"symptom,omitempty"`
	Fix       string              `json:"fix,omitempty"`
}

func faultInfo(k faults.Kind, full bool) faultJSON {
	f := faultJSON{Name: k.Name, Layer: k.Layer, Summary: k.Summary, NeedsHost: k.NeedsHost, Params: faults.Fields(k.NewParams())}
	if f.Params == nil {
		f.Params = []faults.ParamField{}
	}
	if full {
		f.Symptom, f.Fix = k.Symptom, k.Fix
	}
	return f
}

var faultLayers = []string{faults.LayerLink, faults.LayerNetwork, faults.LayerTransport, faults.LayerApp, faults.LayerK8s}

func newFaultsCmd(g *globalOptions) *cobra.Command {
	o := &faultsOptions{}
	cmd := &cobra.Command{
		Use:   "faults [KIND]",
		Short: "List the fault kinds, or show one: its symptom, fix and parameters",
		Long: `List the faults a scenario can declare and 'netdojo inject' can apply to a
running lab, with their layer, summary and parameters; or show one kind in
full: the symptom a learner sees, the fix, and every parameter.`,
		Example: "  netdojo faults --layer transport\n  netdojo faults firewall-drop",
		Args:    cobra.MaximumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			return faults.Names(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.layer != "" && !slices.Contains(faultLayers, o.layer) {
				return withCode(exitUsage, fmt.Errorf("--layer must be one of %s, not %q", strings.Join(faultLayers, ", "), o.layer))
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				k, ok := faults.Lookup(args[0])
				if !ok {
					return withCode(exitUsage, fmt.Errorf("unknown fault kind %q; 'netdojo faults' lists them", args[0]))
				}
				if g.json() {
					return writeJSON(w, faultInfo(*k, true))
				}
				showFault(w, *k)
				return nil
			}
			var kinds []faults.Kind
			for _, layer := range faultLayers {
				for _, k := range faults.Catalog() {
					if k.Layer == layer && (o.layer == "" || o.layer == layer) {
						kinds = append(kinds, k)
					}
				}
			}
			if g.json() {
				out := []faultJSON{}
				for _, k := range kinds {
					out = append(out, faultInfo(k, false))
				}
				return writeJSON(w, out)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tLAYER\tPARAMETERS\tSUMMARY")
			for _, k := range kinds {
				var names []string
				for _, f := range faults.Fields(k.NewParams()) {
					names = append(names, f.Name)
				}
				params := strings.Join(names, ",")
				if params == "" {
					params = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, k.Layer, params, k.Summary)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(w, "\n'netdojo faults KIND' shows a kind's symptom, fix and parameters.")
			return nil
		},
	}
	cmd.Flags().StringVar(&o.layer, "layer", "", "only this layer: "+strings.Join(faultLayers, ", "))
	return cmd
}

// showFault prints one kind for a reader.
func showFault(w io.Writer, k faults.Kind) {
	host := "applies to the whole lab"
	if k.NeedsHost {
		host = "applies to one host (--host)"
	}
	fmt.Fprintf(w, "%s: %s layer, %s\n\n", k.Name, k.Layer, host)
	fmt.Fprintln(w, wrap(k.Summary, "", 78))
	fmt.Fprintf(w, "\nsymptom\n%s\n\nfix\n%s\n", wrap(k.Symptom, "  ", 78), wrap(k.Fix, "  ", 78))
	fields := faults.Fields(k.NewParams())
	if len(fields) == 0 {
		fmt.Fprintln(w, "\nno parameters")
		return
	}
	fmt.Fprintln(w, "\nparameters (--param NAME=VALUE)")
	width := 0
	for _, f := range fields {
		width = max(width, len(f.Name))
	}
	for _, f := range fields {
		fmt.Fprintf(w, "  %-*s  %s\n%s\n", width, f.Name, f.Type, wrap(f.Doc, "      ", 78))
	}
}

// wrap fills text into lines of at most width columns, each indented.
func wrap(text, indent string, width int) string {
	var lines []string
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	return strings.Join(append(lines, line), "\n")
}
