package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"reflect"
	"time"

	"go.yaml.in/yaml/v3"
)

// IsDrill tells a drill file (kind: Drill) from a scenario, cheaply and
// without checking the file.
func IsDrill(data []byte) bool {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return false
	}
	k := mappingValue(&root, "kind")
	return k != nil && k.Value == DrillKind
}

// LoadDrill decodes, checks and resolves a drill file. Every problem is
// reported at once, as Problems with file:line:col, field path and
// did-you-mean, as for scenarios. opts.Seed draws the parameters and the
// pools (0 takes the defaults and the first candidates).
func LoadDrill(file string, data []byte, opts Options) (*Drill, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Problems{{File: file, Pos: Pos{1, 1}, Msg: "the file is empty; a drill starts with apiVersion: " + APIVersion + " and kind: " + DrillKind}}
		}
		return nil, Problems{syntaxProblem(file, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Problems{{File: file, Pos: Pos{extra.Line, extra.Column}, Msg: "a drill file holds one YAML document; remove the second '---'"}}
	}
	return loadDrill(file, &root, opts)
}

func loadDrill(file string, root *yaml.Node, opts Options) (*Drill, error) {
	d := newDecoder(file)
	d.services, d.faults = opts.Services, opts.Faults
	values := d.drawParams(root, opts.Seed)
	d.substitute(root, values, "")
	var f DrillFile
	d.decode(root, reflect.ValueOf(&f).Elem(), "")
	dc := &drillChecker{d: d, f: &f, opts: opts}
	lab := dc.check()
	if len(d.problems) > 0 {
		return nil, d.problems.sorted()
	}
	lab.File, lab.Seed = file, opts.Seed
	for k, v := range values {
		if lab.Values == nil {
			lab.Values = map[string]string{}
		}
		lab.Values[k] = v
	}
	return resolveDrill(&f, lab, d, opts.Seed, file), nil
}

// drillChecker is the semantic pass of a drill: the lab's own checks
// (inline hosts are checked exactly as a scenario's), then the service
// probe, the timeline, the roles and the invariants.
type drillChecker struct {
	d    *decoder
	f    *DrillFile
	opts Options
	c    *checker // checks against the lab's hosts
}

func (dc *drillChecker) at(path, format string, args ...any) {
	dc.d.problems = append(dc.d.problems, Problem{File: dc.d.file, Pos: dc.d.pos.at(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (dc *drillChecker) atKey(path, format string, args ...any) {
	dc.d.problems = append(dc.d.problems, Problem{File: dc.d.file, Pos: dc.d.pos.keyAt(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// check returns the lab scenario (nil only when there are problems).
func (dc *drillChecker) check() *Scenario {
	f := dc.f
	if f.APIVersion != "" && f.APIVersion != APIVersion {
		dc.at("apiVersion", "unsupported version %q; this netdojo reads %s", f.APIVersion, APIVersion)
	}
	lab := dc.lab()
	dc.service()
	if f.Limit != "" {
		if d, err := time.ParseDuration(f.Limit); err != nil || d <= 0 {
			dc.at("limit", "%q is not a positive duration such as 20m", f.Limit)
		}
	}
	dc.roles()
	dc.timeline()
	for i := range f.Invariants {
		dc.c.checkSpec(fmt.Sprintf("invariants[%d].check", i), &f.Invariants[i].Check)
	}
	return lab
}

// lab checks the lab part and sets dc.c to a checker over the lab's hosts.
func (dc *drillChecker) lab() *Scenario {
	f := dc.f
	inline := &File{APIVersion: f.APIVersion, Metadata: f.Metadata, Story: f.Story, Hosts: f.Hosts, Networks: f.Networks}
	switch {
	case f.Lab != nil && (f.Hosts != nil || f.Networks != nil):
		dc.atKey("lab", "give either lab (a built-in scenario) or hosts and networks, not both")
	case f.Lab == nil && f.Hosts == nil:
		dc.atKey("", "a drill needs a lab: lab: {scenario: NAME} (netdojo list shows them), or hosts and networks as in a scenario")
	}
	if f.Lab == nil || f.Hosts != nil {
		dc.c = &checker{d: dc.d, f: inline}
		dc.c.check() // the apiVersion is checked again; keep one report
		dc.dedupe()
		if f.Hosts == nil {
			return nil
		}
		return resolve(inline, dc.d)
	}
	if f.Metadata.Name != "" {
		(&checker{d: dc.d, f: inline}).name("metadata.name", f.Metadata.Name, "drill")
	}
	dc.c = &checker{d: dc.d, f: &File{}}
	if f.Lab.Scenario == "" {
		if _, ok := dc.d.pos.value["lab.scenario"]; ok {
			dc.at("lab.scenario", "name a built-in scenario; 'netdojo list' shows them")
		}
		return nil
	}
	b, err := LookupBuiltin(f.Lab.Scenario)
	if err != nil {
		dc.at("lab.scenario", "%v", err)
		return nil
	}
	s, err := Load(b.Path, b.Data, dc.opts)
	if err != nil {
		dc.at("lab.scenario", "the built-in scenario does not load: %v", err)
		return nil
	}
	dc.c.f = s.Raw
	if !f.Lab.KeepFaults {
		s.Faults = nil
	}
	return s
}

// dedupe drops a problem reported twice at the same place (the inline
// lab's checker repeats the apiVersion check).
func (dc *drillChecker) dedupe() {
	seen := map[string]bool{}
	var out Problems
	for _, p := range dc.d.problems {
		if k := p.String(); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	dc.d.problems = out
}

func (dc *drillChecker) service() {
	s := dc.f.Service
	if s.Every != "" {
		if d, err := time.ParseDuration(s.Every); err != nil || d < 100*time.Millisecond {
			dc.at("service.every", "%q is not a duration of at least 100ms, such as 5s", s.Every)
		}
	}
	if s.MaxLatency != "" {
		if d, err := time.ParseDuration(s.MaxLatency); err != nil || d <= 0 {
			dc.at("service.max_latency", "%q is not a positive duration such as 1s", s.MaxLatency)
		}
	}
	ch := &s.Check
	if ch.Route != nil || ch.Link != nil || ch.PathMTU != nil || ch.Trace != nil || ch.Sockets != nil || ch.Rule != nil || ch.Counter != nil || ch.Capture != nil {
		dc.atKey("service.check", "the service probe is a synthetic user: use http, dns, reach (TCP) or ping")
		return
	}
	if _, ok := dc.d.pos.value["service.check"]; ok {
		dc.c.checkSpec("service.check", ch)
	}
}

func (dc *drillChecker) roles() {
	for _, name := range ordered(dc.f.Roles, dc.d.pos, "roles") {
		dc.c.name("roles."+name, name, "role")
	}
}

func (dc *drillChecker) timeline() {
	ids := map[string]bool{}
	withFaults := map[string]bool{}
	names := map[string]bool{}
	for i, in := range dc.f.Timeline {
		p := fmt.Sprintf("timeline[%d]", i)
		if in.ID != "" {
			dc.c.name(p+".id", in.ID, "inject")
			if ids[in.ID] {
				dc.at(p+".id", "inject %q is defined twice", in.ID)
			}
		}
		triggers := 0
		for _, set := range []bool{in.At != "", in.AfterRed != "", in.OnInvariantBroken, in.AfterCleared != ""} {
			if set {
				triggers++
			}
		}
		if triggers != 1 {
			dc.atKey(p, "an inject has exactly one trigger: at, after_red, on_invariant_broken or after_cleared; found %d", triggers)
		}
		for _, d := range []struct{ field, v string }{{"at", in.At}, {"after_red", in.AfterRed}} {
			if d.v == "" {
				continue
			}
			if v, err := time.ParseDuration(d.v); err != nil || v < 0 {
				dc.at(p+"."+d.field, "%q is not a duration such as 2m", d.v)
			}
		}
		if in.AfterCleared != "" && !withFaults[in.AfterCleared] {
			known := make([]string, 0, len(withFaults))
			for id := range withFaults {
				known = append(known, id)
			}
			hint := "; no earlier inject has a fault or pool"
			if len(known) > 0 {
				hint = suggest(in.AfterCleared, known)
			}
			dc.at(p+".after_cleared", "%q is not an earlier inject with a fault or pool%s", in.AfterCleared, hint)
		}
		switch {
		case in.Message == nil && in.Fault == nil && in.Pool == nil && in.Run == nil:
			dc.atKey(p, "an inject lands a message, a fault, a pool or run steps (or a message with the others)")
		case in.Fault != nil && in.Pool != nil:
			dc.atKey(p+".pool", "give an inject either a fault or a pool, not both")
		}
		if in.Message != nil && in.Message.To != "" {
			if _, ok := dc.f.Roles[in.Message.To]; !ok {
				dc.at(p+".message.to", "role %q is not defined in roles", in.Message.To)
			}
		}
		if in.Fault != nil {
			dc.fault(p+".fault", in.Fault, names)
		}
		for j, st := range in.Run {
			dc.c.step(fmt.Sprintf("%s.run[%d]", p, j), st, nil)
		}
		if in.Pool != nil {
			if n := max(in.Pool.Draw, 1); in.Pool.Draw < 0 || n > len(in.Pool.From) {
				dc.at(p+".pool.draw", "draw %d of %d candidates; draw from 1 to the number of candidates", n, len(in.Pool.From))
			}
			for j := range in.Pool.From {
				dc.fault(fmt.Sprintf("%s.pool.from[%d]", p, j), &in.Pool.From[j], names)
			}
		}
		ids[in.ID] = true
		if in.Fault != nil || in.Pool != nil {
			withFaults[in.ID] = true
		}
	}
}

func (dc *drillChecker) fault(p string, f *RawDrillFault, names map[string]bool) {
	n := f.Name
	if n == "" {
		n = f.Kind
	}
	if n != "" {
		if names[n] {
			dc.at(p+".name", "fault %q is defined twice in the drill; give each a distinct name", n)
		}
		names[n] = true
	}
	if f.Host != "" {
		dc.c.hostRef(p+".host", f.Host)
	}
	dc.c.kindParams(p, f.Kind, &f.Params, "fault")
	if _, ok := dc.d.pos.value[p+".diagnosis"]; ok {
		dc.c.answer(p+".diagnosis", &f.Diagnosis)
	}
	for i, s := range f.Fix {
		dc.c.step(fmt.Sprintf("%s.fix[%d]", p, i), s, nil)
	}
	for i, s := range f.Mitigation {
		dc.c.step(fmt.Sprintf("%s.mitigation[%d]", p, i), s, nil)
	}
}

// resolveDrill builds the model of a checked drill; dd holds the checked
// parameters of its faults.
func resolveDrill(f *DrillFile, lab *Scenario, dd *decoder, seed uint64, file string) *Drill {
	pos := dd.pos
	d := &Drill{File: file, Seed: seed, Name: f.Metadata.Name, Title: f.Metadata.Title, Story: f.Story, Lab: lab, Hints: f.Hints, Raw: f}
	// Only the drill's own invariants: a lab scenario's may be broken by
	// the drill's faults themselves, which is not the team's doing.
	lab.Invariants = f.Invariants
	d.Service = DrillService{Name: f.Service.Name, Every: DefaultDrillProbeEvery, Check: &f.Service.Check}
	if f.Service.Every != "" {
		d.Service.Every, _ = time.ParseDuration(f.Service.Every)
	}
	if f.Service.MaxLatency != "" {
		d.Service.MaxLatency, _ = time.ParseDuration(f.Service.MaxLatency)
	}
	if d.Service.Name == "" {
		d.Service.Name = "the service"
	}
	d.Limit, _ = time.ParseDuration(f.Limit)
	for _, name := range ordered(f.Roles, pos, "roles") {
		d.Roles = append(d.Roles, DrillRoleSpec{Name: name, Prompt: f.Roles[name].Prompt})
	}
	if len(d.Roles) == 0 {
		d.Roles = []DrillRoleSpec{{Name: "responder", Prompt: "Find what is broken, restore the service and fix the root cause."}}
	}
	for i := range f.Timeline {
		in := &f.Timeline[i]
		s := &DrillStep{ID: in.ID, Message: in.Message, Run: in.Run}
		switch {
		case in.At != "":
			s.Trigger = TriggerAt
			s.After, _ = time.ParseDuration(in.At)
		case in.AfterRed != "":
			s.Trigger = TriggerAfterRed
			s.After, _ = time.ParseDuration(in.AfterRed)
		case in.OnInvariantBroken:
			s.Trigger = TriggerInvariantBroken
		default:
			s.Trigger, s.Cleared = TriggerAfterCleared, in.AfterCleared
		}
		if s.Message != nil && s.Message.From == "" {
			m := *s.Message
			m.From = DefaultDrillMessageFrom
			s.Message = &m
		}
		p := fmt.Sprintf("timeline[%d]", i)
		if in.Fault != nil {
			s.Faults = []*DrillFault{drillFault(in.Fault, dd.typed[p+".fault"])}
		}
		if in.Pool != nil {
			for _, j := range drawPool(in.Pool, seed, in.ID) {
				s.Faults = append(s.Faults, drillFault(&in.Pool.From[j], dd.typed[fmt.Sprintf("%s.pool.from[%d]", p, j)]))
			}
			s.Pooled = len(in.Pool.From)
		}
		d.Timeline = append(d.Timeline, s)
	}
	return d
}

// drillFault is the model of a checked drill fault with its parameters.
func drillFault(f *RawDrillFault, params any) *DrillFault {
	return &DrillFault{Name: f.Name, Kind: f.Kind, Host: f.Host, Params: params, Reveal: f.Reveal,
		Diagnosis: f.Diagnosis, Declare: f.Declare, Fix: f.Fix, Mitigation: f.Mitigation}
}

// drawPool draws a pool's faults by the seed, as indexes of its
// candidates: the same seed and inject always draw the same faults; seed 0
// takes the first candidates.
func drawPool(p *DrillPool, seed uint64, id string) []int {
	n := p.Draw
	if n == 0 {
		n = 1
	}
	idx := make([]int, len(p.From))
	for i := range idx {
		idx[i] = i
	}
	if seed != 0 {
		h := fnv.New64a()
		h.Write([]byte(id))
		r := rand.New(rand.NewPCG(seed, h.Sum64()))
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	}
	return idx[:n]
}
