package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/drill/board"
	"github.com/spf13/cobra"
)

// reportFormats render a drill's record: the post-incident review as
// Markdown or one self-contained HTML file (drill/board), or the record
// itself as JSON for tooling.
var reportFormats = map[string]func(io.Writer, *drill.Record) error{
	"md":   board.Markdown,
	"html": board.HTML,
	"json": func(w io.Writer, r *drill.Record) error { return writeJSON(w, r) },
}

// reportFiles are the review files a drill's directory holds once the
// drill has ended, rendered from its final record.
var reportFiles = []struct{ name, format string }{{"report.md", "md"}, {"report.html", "html"}}

// writeReports renders the post-incident review of an ended drill into its
// directory (report.md and report.html), each written whole and then
// renamed into place, and returns their paths.
func writeReports(dir string) ([]string, error) {
	rec, err := drill.ReadRecord(dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range reportFiles {
		var b bytes.Buffer
		if err := reportFormats[f.format](&b, rec); err != nil {
			return nil, fmt.Errorf("rendering %s of drill %s: %w", f.name, rec.Lab, err)
		}
		path := filepath.Join(dir, f.name)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("writing the drill's report: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("writing the drill's report: %w", err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// serveBoard serves the live board of a drill on addr until ctx ends.
func serveBoard(ctx context.Context, addr string, src drill.Source) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s for the board: %w", addr, err)
	}
	return board.Serve(ctx, ln, src)
}

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
			render, ok := reportFormats[format]
			if !ok {
				return withCode(exitUsage, fmt.Errorf("--format must be md, html or json, not %q", format))
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
