package services

import (
	"fmt"
	"reflect"
	"strings"
)

// ParamField describes one parameter of a kind, from its struct tags.
type ParamField struct {
	Path string // yaml path, such as "zones[].origin"
	Type string // string, integer, number, boolean, list of strings, list of objects
	Doc  string
}

// Fields lists a params struct's parameters in declaration order, nested
// lists of objects flattened as "parent[].child".
func Fields(p Params) []ParamField {
	return structFields(reflect.TypeOf(p).Elem(), "")
}

func structFields(t reflect.Type, prefix string) []ParamField {
	var out []ParamField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		path := prefix + name
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, ParamField{Path: path, Type: "list of objects", Doc: f.Tag.Get("doc")})
			out = append(out, structFields(ft.Elem(), path+"[].")...)
		default:
			out = append(out, ParamField{Path: path, Type: typeName(ft), Doc: f.Tag.Get("doc")})
		}
	}
	return out
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint16:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		return "list of " + typeName(t.Elem()) + "s"
	}
	return t.String()
}

// Reference renders the services reference (docs/services.md) in Markdown
// from the catalogue: every kind with its parameters, the process name `ss`
// shows, the symptom it creates and what a learner sees.
func Reference() string {
	var b strings.Builder
	b.WriteString("# Services\n\n")
	b.WriteString("<!-- Generated from the services package by services.Reference(); do not edit. -->\n\n")
	b.WriteString("A service runs inside a lab host as its own process (the netdojo binary re-executed), so " +
		"`ss -tlnp` and `ss -ulnp` inside the host show its PID and name. Declare it under a host:\n\n")
	b.WriteString("```yaml\nservices:\n  - name: web\n    kind: http\n    params: {port: 8080, status: 503}\n```\n\n")
	b.WriteString("Durations are strings such as `\"200ms\"` or `\"2s\"`. Unknown parameters are errors.\n\n")
	b.WriteString("| Kind | Process name | Summary |\n|---|---|---|\n")
	for _, k := range Catalog() {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", k.Name, k.Name, processNameDoc(k), k.Summary)
	}
	for _, k := range Catalog() {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n%s\n\nProcess name: %s.\n\n", k.Name, k.Summary, k.Doc, processNameDoc(k))
		fields := Fields(k.NewParams())
		if len(fields) == 0 {
			b.WriteString("No parameters.\n")
			continue
		}
		b.WriteString("| Parameter | Type | Meaning |\n|---|---|---|\n")
		for _, f := range fields {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Path, f.Type, strings.ReplaceAll(f.Doc, "|", "\\|"))
		}
	}
	return b.String()
}

func processNameDoc(k Kind) string {
	if n := k.NewParams().ProcessName(); n != "" {
		return "`" + n + "`"
	}
	if _, ok := k.NewParams().(*SquatterParams); ok {
		return "chosen by `name`"
	}
	return "the service's own `name` (such as `orders-api`)"
}
