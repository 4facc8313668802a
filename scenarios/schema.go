package scenarios

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// SchemaID is the schema's identifier.
const SchemaID = "https://netdojo.example/scenario.schema.json"

// Schema generates the JSON Schema (draft-07, which yaml-language-server
// reads) of the scenario format from the raw Go types, so that editors
// validate and complete scenario files. Service and fault parameters get
// their kind's schema through if/then, when the registries are given.
func Schema(opts Options) ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(reflect.TypeOf(File{}))
	root["$schema"] = "http://json-schema.org/draft-07/schema#"
	root["$id"] = SchemaID
	root["title"] = "netdojo scenario"
	root["description"] = "A netdojo lab scenario: hosts, networks, services, faults and tasks. See docs/scenario-format.md."
	g.kinds("Service", opts.Services, "service")
	g.kinds("Fault", opts.Faults, "fault")
	root["definitions"] = g.defs
	return json.MarshalIndent(root, "", "  ")
}

type schemaGen struct {
	defs map[string]any
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Struct:
		if t == yamlNodeType {
			return map[string]any{"type": "object"}
		}
		name := defName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder against recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/definitions/" + name}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int64:
		return substitutable("integer")
	case reflect.Float64:
		return substitutable("number")
	case reflect.Bool:
		return substitutable("boolean")
	}
	panic(fmt.Sprintf("scenarios: no schema for %s", t))
}

// substitutable also admits a string holding ${param}, drawn at load.
func substitutable(typ string) map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"type": typ},
		map[string]any{"type": "string", "pattern": `\$\{[A-Za-z_][A-Za-z0-9_]*\}`},
	}}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		s := g.schema(f.Type)
		if doc := f.Tag.Get("doc"); doc != "" {
			if _, isRef := s["$ref"]; isRef {
				s = map[string]any{"allOf": []any{s}, "description": doc}
			} else {
				s["description"] = doc
			}
		}
		if enum := f.Tag.Get("enum"); enum != "" {
			s["enum"] = strings.Split(enum, ",")
		}
		props[name] = s
		if f.Tag.Get("required") == "true" {
			required = append(required, name)
		}
	}
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// kinds makes a definition's kind an enum and ties params to the kind's
// own schema.
func (g *schemaGen) kinds(def string, reg Registry, what string) {
	if reg == nil {
		return
	}
	d := g.defs[def].(map[string]any)
	names := append([]string(nil), reg.Kinds()...)
	sort.Strings(names)
	props := d["properties"].(map[string]any)
	props["kind"].(map[string]any)["enum"] = names
	var branches []any
	for _, k := range names {
		p, _ := reg.Params(k)
		ps := g.object(reflect.TypeOf(p).Elem())
		ps["description"] = fmt.Sprintf("Parameters of the %s %s.", k, what)
		branches = append(branches, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"kind": map[string]any{"const": k}}},
			"then": map[string]any{"properties": map[string]any{"params": ps}},
		})
	}
	d["allOf"] = branches
}
