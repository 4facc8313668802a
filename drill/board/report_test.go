package board

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/drill"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func fixture(t testing.TB) *drill.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r drill.Record
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("testdata/record.json does not match drill.Record: %v", err)
	}
	return &r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./drill/board -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\ngot:  %q\nwant: %q\n(run with -update if the change is intended)", path, i+1, g, w)
			}
		}
	}
}

func TestMarkdownReportMatchesGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, fixture(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.md", b.Bytes())
}

func TestHTMLReportMatchesGolden(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, fixture(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.html", b.Bytes())
}

func TestMarkdownReport(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, fixture(t)); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# Post-incident review: 502s on checkout",
		"**Outcome:** Resolved: every fault cleared at its root 2:44 after the first fault landed.",
		"| Time to detect (first correct diagnosis) | 1:12 |",
		"| Score | 74 / 100 |",
		"- service-stopped on app1: the checkout backend process was stopped (landed 1:00)",
		// The service level's turns, merged with the injects.
		"| 1:00 | **Service level red: 502 Bad Gateway in 3 ms.** |  |",
		"| 2:25 | Service level green again: 200 in 19 ms. |  |",
		"| 2:30 | **Service level red: timed out after 2s (no answer from shop.example).** |  |",
		"| 2:48 | **Declared (wrong): the proxy has run out of connections to the backends** | bob |",
		"- 1:00 to 2:25 (1:25)",
		"### alice (commander): 2 commands",
		"### bob (responder): 11 commands",
		// A pipe in a command does not break the table.
		"| 1:52 | app1 | `ss -tlnp \\| grep 8080` |",
		"| the admin port 9090 on proxy stays closed to client | 3:20 | 3:55 | 0:35 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// Messages already told by an inject are not listed twice.
	if n := strings.Count(md, "Customers report 502 Bad Gateway on checkout."); n != 2 {
		t.Errorf("the customers' message appears %d times, want 2 (timeline and inject table)", n)
	}
}

func TestHTMLReportIsSelfContained(t *testing.T) {
	r := fixture(t)
	r.Participants[0].Name = `<script>alert("x")</script>`
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script", "http://", "https://", "<link", "@import", "src="} {
		// The only URLs allowed are the SVG namespace and the fixture's own texts.
		rest := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
		rest = strings.ReplaceAll(rest, "http://shop.example/", "")
		rest = strings.ReplaceAll(rest, "http://10.0.2.11:8080/", "")
		if strings.Contains(rest, bad) {
			t.Errorf("the report contains %q; it must load nothing and run nothing", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;") {
		t.Error("a participant's name is not escaped")
	}
	for _, want := range []string{`class="sli-chart"`, `class="topology"`, `data-host="dns" data-broken="true"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %s", want)
		}
	}
}

func TestMarkdownOfARunningDrill(t *testing.T) {
	r := &drill.Record{Drill: "d", Status: drill.StatusRunning, Elapsed: 10, Limit: 60,
		SLI: []drill.Sample{{T: 0, OK: false, Detail: "refused"}}}
	var b bytes.Buffer
	if err := Markdown(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**Outcome:** In progress.", "Service level red from the start: refused.", "from 0:00, still failing at the last sample", "Not revealed yet.", "No diagnosis was declared."} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

func TestTopologySVG(t *testing.T) {
	r := fixture(t)
	var b bytes.Buffer
	if err := TopologySVG(&b, &r.Topology); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	for _, want := range []string{
		`<g class="topo-host broken" data-host="app1" data-broken="true">`,
		`<g class="topo-host" data-host="client" data-broken="false">`,
		`<g class="topo-link broken" data-host="dns" data-iface="eth0" data-network="backend" data-broken="true">`,
		`<g class="topo-net" data-network="edge">`,
		`✕ eth0 broken`,
		`aria-label="lab topology: 5 hosts, 2 networks, 6 links; 2 hosts and 1 links marked broken"`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("the topology lacks %s", want)
		}
	}
	// client, edge, proxy, backend, then the backends: four columns.
	nodes, _, _ := layoutTopology(&r.Topology)
	col := map[string]int{}
	for _, n := range nodes {
		col[n.name] = n.level
	}
	want := map[string]int{"client": 0, "edge": 1, "proxy": 2, "backend": 3, "app1": 4, "app2": 4, "dns": 4}
	for name, c := range want {
		if col[name] != c {
			t.Errorf("%s is in column %d, want %d", name, col[name], c)
		}
	}
}

func TestTopologyOfSeparateParts(t *testing.T) {
	topo := &drill.Topology{
		Hosts: []drill.TopoHost{{Name: "a"}, {Name: "b"}, {Name: "lonely"}},
		Links: []drill.TopoLink{{Host: "a", Iface: "eth0", Network: "n"}, {Host: "b", Iface: "eth0", Network: "n"}, {Host: "ghost", Iface: "eth0", Network: "m"}},
	}
	nodes, _, _ := layoutTopology(topo)
	if len(nodes) != 6 {
		t.Fatalf("laid out %d nodes, want 6 (3 hosts, a host only named by a link, 2 networks)", len(nodes))
	}
	// No two nodes overlap.
	for i, p := range nodes {
		for _, q := range nodes[i+1:] {
			if p.x < q.x+q.w && q.x < p.x+p.w && p.y < q.y+q.h && q.y < p.y+p.h {
				t.Errorf("%s and %s overlap", p.name, q.name)
			}
		}
	}
}

func TestClock(t *testing.T) {
	for in, want := range map[float64]string{0: "0:00", 59.6: "1:00", 72: "1:12", 3725: "1:02:05", -3: "0:00"} {
		if got := clock(in); got != want {
			t.Errorf("clock(%g) = %q, want %q", in, got, want)
		}
	}
}
