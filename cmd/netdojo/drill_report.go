package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/netdojo/netdojo/drill"
	"github.com/spf13/cobra"
)

// reportFormats render a drill's record. Markdown and HTML come from the
// board package (drill/board): when it merges, add
//
//	"md": board.Markdown, "html": board.HTML,
//
// TODO(board): wire board.Markdown and board.HTML here.
var reportFormats = map[string]func(io.Writer, *drill.Record) error{
	"json": func(w io.Writer, r *drill.Record) error { return writeJSON(w, r) },
}

// serveBoard serves the live board of a drill. TODO(board): set it to
// board.Serve when drill/board merges.
var serveBoard func(ctx context.Context, addr string, src drill.Source) error

func newDrillReportCmd(g *globalOptions) *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:               "report DRILL [--format md|html|json]",
		Short:             "Write the post-incident report of a drill (during or after it)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: drillArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := drillDir(g, args[0])
			if err != nil {
				return err
			}
			if _, ok := reportFormats[format]; !ok && !cmd.Flags().Changed("format") {
				format = "json" // until the board's renderers are built in
			}
			render, ok := reportFormats[format]
			if !ok {
				return withCode(exitUsage, fmt.Errorf("the %s report comes with the drill board (not in this build yet); use --format json", format))
			}
			rec, err := drill.ReadRecord(dir)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				if err := render(f, rec); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			}
			return render(w, rec)
		},
	}
	cmd.Flags().StringVar(&format, "format", "md", "md, html (one self-contained file) or json")
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
}

func newDrillBoardCmd(g *globalOptions) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:               "board DRILL [--listen 127.0.0.1:8080]",
		Short:             "Serve the drill's live board: clock, service strip, injects, participants, topology",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: drillArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := drillDir(g, args[0])
			if err != nil {
				return err
			}
			if serveBoard == nil {
				return withCode(exitNotReady, fmt.Errorf("the live board is not in this build yet; 'netdojo drill status %s' shows the drill", args[0]))
			}
			src := drill.FileSource(dir)
			defer src.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(cmd.ErrOrStderr(), "board of drill %s on http://%s/ (Ctrl-C stops it)\n", args[0], listen)
			return serveBoard(ctx, listen, src)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve the board on")
	return cmd
}
