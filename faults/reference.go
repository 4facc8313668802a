package faults

import (
	"fmt"
	"reflect"
	"strings"
)

// ParamField describes one parameter of a kind, from its struct tags.
type ParamField struct {
	Name string `json:"name"` // YAML name, such as "port" or "records[].name"
	Type string `json:"type"` // string, integer, number, boolean, list of strings, list of objects
	Doc  string `json:"doc"`
}

// Fields lists a kind's parameters in declaration order; lists of objects
// are flattened as "parent[].child".
func Fields(p Params) []ParamField {
	t := reflect.TypeOf(p)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return paramFields(t, "")
}

func paramFields(t reflect.Type, prefix string) []ParamField {
	var out []ParamField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			out = append(out, ParamField{Name: prefix + name, Type: "list of objects", Doc: f.Tag.Get("doc")})
			out = append(out, paramFields(ft.Elem(), prefix+name+"[].")...)
			continue
		}
		out = append(out, ParamField{Name: prefix + name, Type: paramType(ft), Doc: f.Tag.Get("doc")})
	}
	return out
}

func paramType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		return "list of " + paramType(t.Elem()) + "s"
	case reflect.Map:
		return "map of " + paramType(t.Elem()) + "s"
	}
	return t.String()
}

// layerOrder is the order, and the headings, of the reference's sections.
var layerOrder = []struct{ layer, title string }{
	{LayerLink, "Link layer (L1/L2)"},
	{LayerNetwork, "Network layer (L3)"},
	{LayerTransport, "Transport layer (L4)"},
	{LayerApp, "Application layer (L7)"},
	{LayerK8s, "Kubernetes on one machine"},
	{LayerCustom, "Custom faults"},
}

// Reference renders the fault reference (docs/faults.md) in Markdown from
// the catalogue: per layer, each kind with its summary, whether it needs
// a host, its parameters, the symptom a learner sees and the fix.
func Reference() string {
	var b strings.Builder
	b.WriteString("# Faults\n\n")
	b.WriteString("<!-- Generated from the faults package by faults.Reference(); do not edit. -->\n\n")
	b.WriteString("A fault breaks a running lab the way real networks break. Declare it in a scenario:\n\n")
	b.WriteString("```yaml\nfaults:\n  - kind: firewall-drop\n    host: server\n    params: {chain: INPUT, port: 80}\n```\n\n")
	b.WriteString("or inject it into a running lab, and revert it, by hand:\n\n")
	b.WriteString("```sh\nnetdojo inject LAB firewall-drop --host server --param chain=INPUT --param port=80\nnetdojo revert LAB firewall-drop\n```\n\n")
	b.WriteString("`netdojo faults` lists the kinds and `netdojo faults KIND` shows one. Unknown parameters are " +
		"errors; durations are strings such as `\"100ms\"`. HOST, PORT and ADDR in the symptoms stand for the " +
		"addresses of your lab.\n\n")
	b.WriteString("## How a fix is judged\n\n" +
		"Each kind has two judgements besides its symptom. **Observe** sees the symptom, as the learner's tools show it; " +
		"verify uses it to prove the fault is there. **Cleared** decides whether the fault's root cause is gone *where the fault is*, " +
		"whatever works end to end: the default route of that host goes through its LAN's router again, in every family the fault cut; " +
		"the rule that drops no longer matches the traffic it targeted (its counter does not grow under a fresh probe, and no DNAT or " +
		"REDIRECT steers that traffic around it); the hop sends \"fragmentation needed\" again to a Don't-Fragment probe from the sender's side; " +
		"the listener on the port is the lab's recorded service process, not another program; a leaking service no longer leaks under " +
		"connections opened and closed now; the MTU of that interface is the network's; the resolver of that host asks its network's " +
		"nameserver; the DNS server answers right when asked directly; the node translates the service's virtual IP again. " +
		"A task that fixes something passes only when its goal works and the faults it names are cleared, so workarounds fail: " +
		"proxy ARP, host routes, a default route without a gateway, DNAT or REDIRECT around a drop, smaller MTUs at the ends, " +
		"bypassing a virtual IP, pinning names in /etc/hosts, pointing resolv.conf at another server, or another program on the port. " +
		"A lab's services are started and restarted with `netdojo service LAB HOST NAME start|restart`, as systemctl would: " +
		"the same program started by hand is another program.\n\n" +
		"While a fault is not cleared, the judgement says what is still wrong at its place, in the words of the traffic and of behaviour " +
		"(\"IPv4 traffic for other networks still leaves straight out of the interface as if it were on-link, through no router\"; " +
		"\"a firewall on the way still discards the TCP traffic that was being stopped\"). It names the ends of the traffic when it must, " +
		"but never the host, interface, chain, rule, process or value where the fault is, nor a command or the fix: finding the place " +
		"is often the task, and the answer to another. The `custom` kind lets an author write both " +
		"probes as commands.\n\n")
	kinds := Catalog()
	b.WriteString("| Kind | Layer | Needs a host | Summary |\n|---|---|---|---|\n")
	for _, l := range layerOrder {
		for _, k := range kinds {
			if k.Layer == l.layer {
				fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s |\n", k.Name, k.Name, k.Layer, yesNo(k.NeedsHost), cell(k.Summary))
			}
		}
	}
	for _, l := range layerOrder {
		var in []Kind
		for _, k := range kinds {
			if k.Layer == l.layer {
				in = append(in, k)
			}
		}
		if len(in) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n", l.title)
		for _, k := range in {
			writeKind(&b, k)
		}
	}
	return b.String()
}

func writeKind(b *strings.Builder, k Kind) {
	fmt.Fprintf(b, "\n### %s\n\n%s\n\n", k.Name, k.Summary)
	if k.NeedsHost {
		b.WriteString("Applies to one host: give `host`.\n\n")
	} else {
		b.WriteString("Applies to the lab as a whole: no `host`.\n\n")
	}
	fmt.Fprintf(b, "**Symptom.** %s\n\n**Fix.** %s\n\n", k.Symptom, k.Fix)
	if w := ClearedWhen(k.Name); w != "" {
		fmt.Fprintf(b, "**Cleared when.** %s\n\n", w)
	}
	if k.Example != "" {
		fmt.Fprintf(b, "For example:\n\n```yaml\n%s```\n\n", k.Example)
	}
	fields := Fields(k.NewParams())
	if len(fields) == 0 {
		b.WriteString("No parameters.\n")
		return
	}
	b.WriteString("| Parameter | Type | Meaning |\n|---|---|---|\n")
	for _, f := range fields {
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", f.Name, f.Type, cell(f.Doc))
	}
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// cell escapes text for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
