package scenarios

import (
	"fmt"
	"reflect"
	"strings"
)

// Reference renders the scenario format reference (docs/scenario-format.md)
// from the raw types, so that it cannot drift from what the loader reads.
func Reference() string {
	var b strings.Builder
	b.WriteString(`# Scenario format reference (netdojo/v1)

Generated from the Go types in scenarios/raw.go by ` + "`go test ./cmd/netdojo -run TestGeneratedDocs -update`" + `;
do not edit by hand. The JSON Schema is docs/scenario.schema.json; add

    # yaml-language-server: $schema=<path to>/docs/scenario.schema.json

at the top of a scenario so that editors validate and complete it. The authoring
guide (docs/authoring.md) explains how the pieces fit.

Every string may hold ${name}, replaced by the parameter's drawn value before the
file is checked. Unknown keys are errors.
`)
	writeTypes(&b, reflect.TypeOf(File{}))
	b.WriteString(limitsReference())
	return b.String()
}

// writeTypes writes a table per struct type reachable from root.
func writeTypes(b *strings.Builder, root reflect.Type) {
	seen := map[reflect.Type]bool{}
	queue := []reflect.Type{root}
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		if seen[t] {
			continue
		}
		seen[t] = true
		fmt.Fprintf(b, "\n## %s\n\n| field | type | required | meaning |\n|---|---|---|---|\n", defName(t))
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			req := ""
			if f.Tag.Get("required") == "true" {
				req = "yes"
			}
			doc := f.Tag.Get("doc")
			if enum := f.Tag.Get("enum"); enum != "" {
				doc += " One of: " + strings.ReplaceAll(enum, ",", ", ") + "."
			}
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", name, typeName(f.Type), req, strings.ReplaceAll(doc, "|", "\\|"))
			if st := structOf(f.Type); st != nil && !seen[st] {
				queue = append(queue, st)
			}
		}
	}
}

func structOf(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && t != yamlNodeType {
		return t
	}
	return nil
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of name to " + typeName(t.Elem())
	case reflect.Struct:
		if t == yamlNodeType {
			return "mapping (per kind)"
		}
		return "[" + defName(t) + "](#" + strings.ToLower(defName(t)) + ")"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	}
	return t.Kind().String()
}

// defName is the name a raw type has in the references and the schema:
// its Go name without the Raw prefix that sets it apart from the model's
// type (RawService is a Service, as a scenario author knows it).
func defName(t reflect.Type) string {
	return strings.TrimPrefix(t.Name(), "Raw")
}
