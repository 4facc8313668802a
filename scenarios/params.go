package scenarios

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// ComputedRef is the reserved reference ${computed}: in a solution's
// answer it stands for the value the checker computes from the live lab.
const ComputedRef = "computed"

var paramRef = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}`)

// drawParams decodes the params section, draws a value for each from the
// seed (seed 0 takes each parameter's default) and returns them by name.
func (d *decoder) drawParams(root *yaml.Node, seed uint64) map[string]string {
	values := map[string]string{}
	pn := mappingValue(root, "params")
	if pn == nil {
		return values
	}
	var params []Param
	d.decode(pn, reflect.ValueOf(&params).Elem(), "params")
	for i, p := range params {
		path := fmt.Sprintf("params[%d]", i)
		at := d.nodeAt(pn, i)
		if !identifier.MatchString(p.Name) {
			d.problem(at, path+".name", "%q is not a valid parameter name; use letters, digits and _", p.Name)
			continue
		}
		if _, dup := values[p.Name]; dup {
			d.problem(at, path+".name", "parameter %q is defined twice", p.Name)
			continue
		}
		ranged := p.Min != nil || p.Max != nil
		switch {
		case len(p.Choice) > 0 && ranged:
			d.problem(at, path, "give either choice or min/max, not both")
		case len(p.Choice) > 0:
			values[p.Name] = p.Choice[0]
			if p.Default != "" {
				values[p.Name] = p.Default
			}
			if seed != 0 {
				values[p.Name] = p.Choice[paramRand(seed, i).IntN(len(p.Choice))]
			}
		case ranged:
			if p.Min == nil || p.Max == nil || *p.Min > *p.Max {
				d.problem(at, path, "an integer parameter needs min and max with min <= max")
				continue
			}
			values[p.Name] = strconv.Itoa(*p.Min)
			if p.Default != "" {
				values[p.Name] = p.Default
			}
			if seed != 0 {
				values[p.Name] = strconv.Itoa(*p.Min + paramRand(seed, i).IntN(*p.Max-*p.Min+1))
			}
		default:
			d.problem(at, path, "parameter %q needs choice: [...] or min and max", p.Name)
		}
	}
	return values
}

// paramRand is the random source of parameter i: the same seed always draws
// the same values, and adding a parameter does not change earlier draws.
func paramRand(seed uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(i)+1))
}

// substitute replaces ${name} in every scalar outside the params section.
func (d *decoder) substitute(n *yaml.Node, values map[string]string, path string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			d.substitute(c, values, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if path == "" && n.Content[i].Value == "params" {
				continue
			}
			d.substitute(n.Content[i+1], values, "x")
		}
	case yaml.ScalarNode:
		if !paramRef.MatchString(n.Value) || !d.growBy(n, values) {
			return
		}
		n.Value = paramRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := paramRef.FindStringSubmatch(ref)[1]
			if name == ComputedRef {
				return ref // filled in by the checker with the live value
			}
			v, ok := values[name]
			if !ok {
				d.problem(n, "", "${%s} refers to no parameter; define it under params", name)
				return ref
			}
			return v
		})
		if n.Tag == "!!str" && n.Style == 0 {
			n.Tag = "" // let a substituted number be read as a number
		}
	}
}

func (d *decoder) nodeAt(seq *yaml.Node, i int) *yaml.Node {
	if seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
		return seq.Content[i]
	}
	return seq
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// growBy adds what substituting n's references adds to the file to the
// decoder's count, and refuses (false, with a problem, once) when the
// parameters' values would add more than MaxSubstitutedBytes: a long value
// referred to many times would otherwise make a small file enormous.
func (d *decoder) growBy(n *yaml.Node, values map[string]string) bool {
	if d.substituted > MaxSubstitutedBytes {
		return false
	}
	for _, m := range paramRef.FindAllStringSubmatch(n.Value, -1) {
		d.substituted += len(values[m[1]]) - len(m[0])
	}
	if d.substituted > MaxSubstitutedBytes {
		d.problem(n, "", "the parameters' values substituted up to here add more than %d bytes to the file, the most they may; refer to long values less often", MaxSubstitutedBytes)
		return false
	}
	return true
}
