package checker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/checker"
)

func TestProgress(t *testing.T) {
	t.Run("no progress file is an empty progress", func(t *testing.T) {
		p, err := checker.LoadProgress(t.TempDir())
		if err != nil || len(p.Tasks) != 0 {
			t.Errorf("LoadProgress of an empty lab directory: %+v, %v", p, err)
		}
	})
	t.Run("a pass, a fail and hints survive a save and a load", func(t *testing.T) {
		dir := t.TempDir()
		p, _ := checker.LoadProgress(dir)
		tp := p.Task("open-the-shop")
		tp.Record(checker.Outcome{Pass: false, Observed: "network is unreachable"})
		tp.HintsShown = 2
		tp.Record(checker.Outcome{Pass: true, Observed: "200 OK"})
		firstPass := tp.PassedAt
		tp.Record(checker.Outcome{Pass: true, Observed: "200 OK again"})
		if tp.PassedAt != firstPass {
			t.Errorf("a second pass moved the time of the first: %v then %v", firstPass, tp.PassedAt)
		}
		p.Task("which").Record(checker.Outcome{Pass: false, Observed: `you chose "dns"`})
		if err := p.Save(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, checker.ProgressFile+".tmp")); err == nil {
			t.Error("the temporary file is left after a save")
		}
		q, err := checker.LoadProgress(dir)
		if err != nil {
			t.Fatal(err)
		}
		got := q.Tasks["open-the-shop"]
		if got == nil || !got.Passed || got.Checks != 3 || got.HintsShown != 2 || got.Observed != "200 OK again" || !got.PassedAt.Equal(firstPass) {
			t.Errorf("reloaded open-the-shop: %+v", got)
		}
		if w := q.Tasks["which"]; w == nil || w.Passed || w.Checks != 1 {
			t.Errorf("reloaded which: %+v", w)
		}
	})
	t.Run("a fail after a pass un-passes the task", func(t *testing.T) {
		var tp checker.TaskProgress
		tp.Record(checker.Outcome{Pass: true})
		tp.Record(checker.Outcome{Pass: false, Observed: "broken again"})
		if tp.Passed || tp.Checks != 2 {
			t.Errorf("after pass then fail: %+v", tp)
		}
	})
	t.Run("a corrupt progress file is an error naming progress", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, checker.ProgressFile), []byte("{not json"), 0o644)
		if _, err := checker.LoadProgress(dir); err == nil || !strings.Contains(err.Error(), "reading progress") {
			t.Errorf("LoadProgress of a corrupt file: %v", err)
		}
	})
}
