package faults_test

import (
	"testing"

	"github.com/netdojo/netdojo/faults"
)

// TestEveryKindHasAClearedJudgement: no kind falls back to "the symptom
// is no longer observed", which a workaround satisfies.
func TestEveryKindHasAClearedJudgement(t *testing.T) {
	for _, k := range faults.Catalog() {
		if k.Cleared == nil {
			t.Errorf("fault kind %q has no Cleared judgement", k.Name)
		}
	}
}
