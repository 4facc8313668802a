package scenarios

import (
	"encoding/json"
	"reflect"
	"strings"
)

// DrillSchemaID is the drill schema's identifier.
const DrillSchemaID = "https://netdojo.example/drill.schema.json"

// DrillSchema generates the JSON Schema of the drill format
// (docs/drill.schema.json) from the raw Go types, as Schema does for
// scenarios.
func DrillSchema(opts Options) ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(reflect.TypeOf(DrillFile{}))
	root["$schema"] = "http://json-schema.org/draft-07/schema#"
	root["$id"] = DrillSchemaID
	root["title"] = "netdojo drill"
	root["description"] = "A netdojo incident drill: a lab, a service-level probe, a timeline of injects, roles and a time limit. See docs/drills.md."
	g.kinds("Service", opts.Services, "service")
	g.kinds("DrillFault", opts.Faults, "fault")
	root["definitions"] = g.defs
	return json.MarshalIndent(root, "", "  ")
}

// DrillReference renders the drill format reference (docs/drill-format.md)
// from the raw types.
func DrillReference() string {
	var b strings.Builder
	b.WriteString(`# Drill format reference (netdojo/v1, kind: Drill)

Generated from the Go types in scenarios/drill_raw.go by ` + "`go test ./cmd/netdojo -run TestGeneratedDrillDocs -update`" + `;
do not edit by hand. The JSON Schema is docs/drill.schema.json; add

    # yaml-language-server: $schema=<path to>/docs/drill.schema.json

at the top of a drill so that editors validate and complete it. The game master's
guide (docs/drills.md) explains how the pieces fit. Hosts, networks, checks, answers
and steps are those of the scenario format (docs/scenario-format.md).

Every string may hold ${name}, replaced by the parameter's drawn value before the
file is checked. Unknown keys are errors.
`)
	writeTypes(&b, reflect.TypeOf(DrillFile{}))
	return b.String()
}
