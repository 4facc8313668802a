package boardtest

// BoardView is what ReadBoard reads from the live board's page.
type BoardView struct {
	Updates      string
	Elapsed      string
	DataElapsed  string
	Limit        string
	Status       string
	Cells        int
	BadCells     int
	LastCell     string
	Injects      []string
	Revealed     []string
	Messages     []string
	People       []string
	Hosts        []string
	BrokenHosts  []string
	BrokenLinks  []string
	RootCauses   []string
	Score        string
	Marker       any
	ServiceState string
	ReportLink   string
}

// ReadBoard is a JS expression that reads the rendered board into a
// BoardView: the clock, the service strip, the injects, messages,
// participants, the topology picture's hosts and broken marks.
const ReadBoard = `(() => {
  const all = (sel, f) => [...document.querySelectorAll(sel)].map(f);
  return {
    Updates: document.body.dataset.updates || "0",
    Elapsed: document.querySelector('#elapsed').textContent,
    DataElapsed: document.querySelector('#clock').dataset.elapsed || "",
    Limit: document.querySelector('#limit').textContent,
    Status: document.querySelector('#status').textContent,
    Cells: document.querySelectorAll('#strip .cell').length,
    BadCells: document.querySelectorAll('#strip .cell.bad').length,
    LastCell: (document.querySelector('#strip .cell:last-child') || {}).title || "",
    Injects: all('#injects li[data-id]', li => li.querySelector('.t').textContent + ' ' + li.querySelector('.text').textContent),
    Revealed: all('#injects .revealed', e => e.textContent),
    Messages: all('#messages li .text', e => e.textContent),
    People: all('#participants tbody tr[data-name]', tr => [...tr.cells].map(td => td.innerText.replace(/\s+/g, ' ').trim()).join(' | ')),
    Hosts: all('#topology svg g.topo-host', g => g.dataset.host),
    BrokenHosts: all('#topology svg g.topo-host.broken', g => g.dataset.host),
    BrokenLinks: all('#topology svg g.topo-link.broken', g => g.dataset.host + ' ' + g.dataset.iface + ' ' + g.dataset.network),
    RootCauses: all('#root-causes:not([hidden]) li', e => e.textContent),
    Score: document.querySelector('#score').textContent,
    Marker: window.__boardTestMarker || null,
    ServiceState: document.querySelector('#service-state').textContent,
    ReportLink: document.querySelector('#report-link').textContent,
  };
})()`
