package main

import (
	"errors"
	"fmt"

	"github.com/netdojo/netdojo/scenarios"
	"github.com/spf13/cobra"
)

func newValidateCmd(g *globalOptions) *cobra.Command {
	var seed uint64
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files and report every problem with file:line:col",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type result struct {
				File     string   `json:"file"`
				Valid    bool     `json:"valid"`
				Problems []string `json:"problems,omitempty"`
			}
			var results []result
			bad := 0
			for _, f := range args {
				r := result{File: f, Valid: true}
				data, err := scenarios.ReadFile(f)
				if err == nil {
					_, err = scenarios.Load(f, data, loadOptions(seed))
				}
				if err != nil {
					r.Valid = false
					bad++
					var ps scenarios.Problems
					if errors.As(err, &ps) {
						for _, p := range ps {
							r.Problems = append(r.Problems, p.String())
						}
					} else {
						r.Problems = []string{fmt.Sprintf("%s: %v", f, err)}
					}
				}
				results = append(results, r)
			}
			w := cmd.OutOrStdout()
			if g.json() {
				if err := writeJSON(w, results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					if r.Valid {
						fmt.Fprintf(w, "%s: ok\n", r.File)
					}
					for _, p := range r.Problems {
						fmt.Fprintln(w, p)
					}
				}
			}
			if bad > 0 {
				if !g.json() {
					fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d files have problems\n", bad, len(args))
				}
				return &silentError{code: exitUsage}
			}
			return nil
		},
	}
	cmd.Flags().Uint64Var(&seed, "seed", 0, "draw parameters from this seed before checking")
	return cmd
}
