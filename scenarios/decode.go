package scenarios

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pos is a position in a scenario file, 1-based.
type Pos struct {
	Line, Col int
}

// Problem is one thing wrong with a scenario file.
type Problem struct {
	File string
	Pos  Pos
	Path string // field path such as hosts.client.interfaces[0].ipv4
	Msg  string
}

func (p Problem) String() string {
	loc := p.File
	if p.Pos.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", p.File, p.Pos.Line, p.Pos.Col)
	}
	if p.Path == "" {
		return loc + ": " + p.Msg
	}
	return loc + ": " + p.Path + ": " + p.Msg
}

// Problems is every problem found in a file, in file order. It is an error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (ps Problems) sorted() Problems {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Pos.Line != ps[j].Pos.Line {
			return ps[i].Pos.Line < ps[j].Pos.Line
		}
		return ps[i].Pos.Col < ps[j].Pos.Col
	})
	return ps
}

// positions maps field paths to where their value (and key) start.
type positions struct {
	value map[string]Pos
	key   map[string]Pos
}

// at returns the best-known position for a path: its own, or its nearest
// recorded parent's.
func (p positions) at(path string) Pos {
	for {
		if pos, ok := p.value[path]; ok {
			return pos
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return Pos{1, 1}
		}
		path = path[:i]
	}
}

// keyAt is the position of the key that introduces path, or its value's.
func (p positions) keyAt(path string) Pos {
	if pos, ok := p.key[path]; ok {
		return pos
	}
	return p.at(path)
}

// decoder decodes a yaml.Node tree into the raw types strictly, collecting
// every problem instead of stopping at the first, and recording where each
// field is.
type decoder struct {
	file     string
	problems Problems
	pos      positions
	services Registry
	faults   Registry
	// substituted counts the bytes that parameter values add to the file.
	substituted int
	// typed holds the checked parameters of each service and fault, by
	// the path of the service or fault (hosts.web.services[0], faults[1]).
	typed map[string]any
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, pos: positions{value: map[string]Pos{}, key: map[string]Pos{}}, typed: map[string]any{}}
}

func (d *decoder) problem(n *yaml.Node, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Pos: Pos{n.Line, n.Column}, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var yamlNodeType = reflect.TypeOf(yaml.Node{})

// yamlName is the name a struct field has in YAML, "" for none.
func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.pos.value[path] = Pos{n.Line, n.Column}
	if v.Type() == yamlNodeType {
		if n.Kind != yaml.MappingNode && !isNull(n) {
			d.problem(n, path, "must be a mapping of parameters (key: value)")
			return
		}
		d.record(n, path)
		v.Set(reflect.ValueOf(*n))
		return
	}
	if isNull(n) {
		if v.Kind() == reflect.Struct {
			// An empty entry is an empty mapping: its required fields are missing.
			d.decodeStruct(&yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}, v, path)
		}
		return // otherwise leave the zero value
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		d.decode(n, nv.Elem(), path)
		v.Set(nv)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.problem(n, path, "must be a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.problem(n, path, "must be a single value, not a %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode {
			d.problem(n, path, "must be an integer, not a %s", kindName(n))
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			d.problem(n, path, "%q is not an integer", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.problem(n, path, "%q is not a number", n.Value)
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			d.problem(n, path, "%q is not true or false", n.Value)
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("scenarios: no decoder for %s", v.Type()))
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(n, path, "must be a mapping (key: value), not a %s", kindName(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if name := yamlName(t.Field(i)); name != "" {
			fields[name] = i
			names = append(names, name)
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fp := join(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			d.problem(k, fp, "unknown field %q%s", k.Value, suggest(k.Value, names))
			continue
		}
		if seen[k.Value] {
			d.problem(k, fp, "field %q is given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		d.pos.key[fp] = Pos{k.Line, k.Column}
		if isNull(val) && t.Field(idx).Tag.Get("required") == "true" {
			d.problem(k, fp, "%q needs a value (%s)", k.Value, t.Field(idx).Tag.Get("doc"))
			continue
		}
		d.decode(val, v.Field(idx), fp)
		if enum := t.Field(idx).Tag.Get("enum"); enum != "" && v.Field(idx).Kind() == reflect.String {
			if got := v.Field(idx).String(); got != "" && !oneOf(got, strings.Split(enum, ",")...) {
				d.problem(val, fp, "%q is not one of: %s", got, strings.ReplaceAll(enum, ",", ", "))
			}
		}
	}
	for _, name := range names {
		f := t.Field(fields[name])
		if f.Tag.Get("required") == "true" && !seen[name] {
			d.problem(n, path, "missing required field %q (%s)", name, f.Tag.Get("doc"))
		}
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(n, path, "must be a mapping (name: value), not a %s", kindName(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fp := join(path, k.Value)
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			d.problem(k, path, "keys must be non-empty names")
			continue
		}
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.problem(k, fp, "%q is defined twice; names must be unique", k.Value)
			continue
		}
		d.pos.key[fp] = Pos{k.Line, k.Column}
		elem := reflect.New(v.Type().Elem()).Elem()
		if elem.Kind() == reflect.Pointer && isNull(val) {
			elem.Set(reflect.New(elem.Type().Elem()))
			d.pos.value[fp] = Pos{val.Line, val.Column}
		} else {
			d.decode(val, elem, fp)
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
	v.Set(m)
}

// record remembers the positions inside an opaque node (service and fault
// parameters), so that their later checks can point into them.
func (d *decoder) record(n *yaml.Node, path string) {
	d.pos.value[path] = Pos{n.Line, n.Column}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			fp := join(path, n.Content[i].Value)
			d.pos.key[fp] = Pos{n.Content[i].Line, n.Content[i].Column}
			d.record(n.Content[i+1], fp)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			d.record(item, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "single value"
	}
}

// suggest names the closest known field, or lists them all.
func suggest(got string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if dd := editDistance(got, n); dd < bestD {
			best, bestD = n, dd
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return "; expected one of: " + strings.Join(names, ", ")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
