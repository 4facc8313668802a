package faults_test

import (
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/faults"
)

var update = flag.Bool("update", false, "rewrite docs/faults.md from faults.Reference()")

const referencePath = "../docs/faults.md"

func TestDocsFaultsMatchesTheCatalogue(t *testing.T) {
	want := faults.Reference()
	if *update {
		if err := os.WriteFile(referencePath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("%v; run 'go test ./faults -run TestDocsFaults -update'", err)
	}
	if string(got) != want {
		t.Errorf("docs/faults.md differs from faults.Reference(); run 'go test ./faults -run TestDocsFaults -update'")
	}
}

func TestEveryKindIsDocumented(t *testing.T) {
	layers := map[string]bool{faults.LayerLink: true, faults.LayerNetwork: true, faults.LayerTransport: true, faults.LayerApp: true, faults.LayerK8s: true, faults.LayerCustom: true}
	seen := map[string]bool{}
	for _, k := range faults.Catalog() {
		t.Run(k.Name+" has a layer, texts, functions and tagged parameters", func(t *testing.T) {
			if seen[k.Name] {
				t.Errorf("kind %q is in the catalogue twice", k.Name)
			}
			seen[k.Name] = true
			if !layers[k.Layer] {
				t.Errorf("layer %q is not one of the six", k.Layer)
			}
			for what, s := range map[string]string{"summary": k.Summary, "symptom": k.Symptom, "fix": k.Fix} {
				if strings.TrimSpace(s) == "" {
					t.Errorf("no %s", what)
				}
			}
			if k.NewParams == nil || k.Apply == nil || k.Revert == nil || k.Observe == nil || k.Cleared == nil {
				t.Fatal("NewParams, Apply, Revert, Observe and Cleared must all be set")
			}
			p := k.NewParams()
			typ := reflect.TypeOf(p).Elem()
			for i := 0; i < typ.NumField(); i++ {
				f := typ.Field(i)
				if !f.IsExported() {
					continue
				}
				y, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				j, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if y == "" || y != j || f.Tag.Get("doc") == "" {
					t.Errorf("field %s needs matching yaml and json names and a doc tag; has yaml %q json %q", f.Name, y, j)
				}
			}
		})
	}
}

func TestFieldsFlattenListsOfObjects(t *testing.T) {
	got := faults.Fields(&fieldsParams{hidden: 1})
	want := []faults.ParamField{{Name: "port", Type: "integer", Doc: "p"}, {Name: "records", Type: "list of objects", Doc: "r"},
		{Name: "records[].name", Type: "string"}, {Name: "tags", Type: "list of strings", Doc: "t"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Fields = %+v\nwant %+v", got, want)
	}
}

type fieldsRecord struct {
	Name string `yaml:"name"`
}

type fieldsParams struct {
	Port    int            `yaml:"port,omitempty" doc:"p"`
	Records []fieldsRecord `yaml:"records" doc:"r"`
	Tags    []string       `yaml:"tags" doc:"t"`
	hidden  int
}

func (*fieldsParams) Check() error { return nil }
