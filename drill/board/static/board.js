// netdojo drill board: renders the drill's record, pushed by the server
// as Server-Sent Events on /events. Plain JS, no dependencies, no build.
'use strict';

const $ = (sel) => document.querySelector(sel);

// el builds an element; text is always set as text, never as HTML.
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return e;
}

// clock prints drill seconds as m:ss (h:mm:ss past an hour).
function clock(s) {
  let t = Math.max(0, Math.round(s || 0));
  const h = Math.floor(t / 3600), m = Math.floor(t / 60) % 60, sec = t % 60;
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

let current = null;    // the last record
let receivedAt = 0;    // when it came, for a clock that ticks between updates
let lastTopology = '';

function shownElapsed() {
  if (!current) return 0;
  let e = current.elapsed_s || 0;
  if (current.status === 'running') e += (performance.now() - receivedAt) / 1000;
  if (current.limit_s > 0) e = Math.min(e, current.limit_s);
  return e;
}

function renderClock() {
  if (!current) return;
  const e = shownElapsed();
  $('#elapsed').textContent = clock(e);
  $('#limit').textContent = clock(current.limit_s);
  $('#clock').dataset.elapsed = String(current.elapsed_s || 0);
  const pct = current.limit_s > 0 ? Math.min(100, 100 * e / current.limit_s) : 0;
  $('#progress-bar').style.width = pct.toFixed(1) + '%';
}

function renderHeader(r) {
  $('#title').textContent = r.title || r.drill || 'drill';
  $('#drill-name').textContent = r.drill || '';
  $('#team').textContent = r.team ? 'team ' + r.team : '';
  const st = $('#status');
  st.textContent = r.status || 'unknown';
  st.className = 'status ' + (r.status || '');
  $('#score').textContent = r.measures ? String(r.measures.score) : '–';
  const rl = $('#report-link');
  rl.classList.toggle('ready', r.status === 'ended');
  rl.textContent = r.status === 'ended' ? 'Open the post-incident review' : 'Post-incident review so far';
  document.title = `${r.status === 'running' ? '● ' : ''}${r.title || r.drill} · netdojo drill`;
}

function renderService(r) {
  const sli = r.sli || [];
  $('#service-desc').textContent = r.service || '';
  const ok = sli.filter((s) => s.ok).length;
  $('#service-count').textContent = sli.length ? `${ok} of ${sli.length} samples ok` : '';
  const state = $('#service-state');
  const last = sli[sli.length - 1];
  if (!last) {
    state.textContent = 'no samples yet';
    state.className = 'svc-state';
  } else {
    state.textContent = last.ok ? 'OK' : 'FAILING';
    state.className = 'svc-state ' + (last.ok ? 'ok' : 'bad');
    $('#service-detail').textContent = `Latest at ${clock(last.t)}: ${last.detail}`;
  }
  // Keep the strip readable on a wall: the most recent 240 samples.
  const shown = sli.slice(-240);
  const strip = $('#strip');
  const cells = shown.map((s) => {
    const label = `${clock(s.t)} ${s.ok ? 'ok' : 'failing'}: ${s.detail}`;
    const c = el('span', { class: 'cell ' + (s.ok ? 'ok' : 'bad'), role: 'listitem', title: label, 'aria-label': label, tabindex: '0', 'data-t': String(s.t), 'data-ok': String(s.ok) });
    c.addEventListener('mouseenter', () => { $('#service-detail').textContent = label; });
    c.addEventListener('focus', () => { $('#service-detail').textContent = label; });
    return c;
  });
  strip.replaceChildren(...cells);
}

function renderInjects(r) {
  const all = r.injects || [];
  const landed = all.filter((i) => i.landed).sort((a, b) => (b.t || 0) - (a.t || 0));
  $('#inject-count').textContent = `${landed.length} of ${all.length} landed`;
  const items = landed.map((i) => {
    const body = el('div', { class: 'body' },
      el('span', { class: 'badge ' + (i.kind === 'fault' ? 'fault' : 'message'), text: i.kind === 'fault' ? 'fault' : 'message' }),
      i.cleared ? el('span', { class: 'badge cleared', text: `✓ cleared ${clock(i.cleared)}` }) : null,
      el('span', { class: 'text', text: i.text }),
      i.revealed ? el('span', { class: 'revealed', text: i.revealed }) : null);
    return el('li', { 'data-id': i.id, 'data-kind': i.kind }, el('span', { class: 't', text: clock(i.t) }), body);
  });
  if (!items.length) items.push(el('li', { class: 'empty', text: 'Nothing has happened yet.' }));
  $('#injects').replaceChildren(...items);
}

function renderMessages(r) {
  const msgs = [...(r.messages || [])].sort((a, b) => b.t - a.t);
  const items = msgs.map((m) => el('li', {},
    el('span', { class: 't', text: clock(m.t) }),
    el('div', { class: 'body' },
      el('span', { class: 'badge from', text: m.to ? `${m.from} → ${m.to}` : m.from }),
      el('span', { class: 'text', text: m.text }))));
  if (!items.length) items.push(el('li', { class: 'empty', text: 'No messages yet.' }));
  $('#messages').replaceChildren(...items);
}

function renderPeople(r) {
  const rows = (r.participants || []).map((p) => {
    const last = p.last
      ? el('td', { class: 'last' }, el('code', { text: p.last.cmd }), el('span', { class: 'where', text: `${clock(p.last.t)} on ${p.last.host}` }))
      : el('td', { class: 'last dim', text: 'no command yet' });
    return el('tr', { 'data-name': p.name },
      el('td', { class: 'who', text: p.name }),
      el('td', {}, el('span', { class: 'role ' + p.role, text: p.role })),
      el('td', { class: 'num', text: String(p.commands || 0) }),
      last);
  });
  if (!rows.length) rows.push(el('tr', {}, el('td', { class: 'empty', colspan: '4', text: 'Nobody has joined yet.' })));
  $('#participants tbody').replaceChildren(...rows);
}

function renderMeasures(r) {
  const m = r.measures || {};
  const at = (s) => (s > 0 ? clock(s) : null);
  const items = [
    ['Detect', at(m.detect_s)], ['Mitigate', at(m.mitigate_s)], ['Resolve', at(m.resolve_s)],
    ['Collateral', m.collateral_s > 0 ? clock(m.collateral_s) : '0:00'],
    ['Hints', String(m.hints_used || 0)], ['Commands', String((r.commands || []).length)],
    ['Answers', `${(r.answers || []).filter((a) => a.correct).length} ✓ / ${(r.answers || []).filter((a) => !a.correct).length} ✕`],
  ];
  $('#measures').replaceChildren(...items.map(([k, v]) => el('div', { 'data-measure': k.toLowerCase() },
    el('dt', { text: k }), el('dd', { class: v === null ? 'none' : '', text: v === null ? 'not yet' : v }))));
  const coll = (r.collateral || []).map((c) => el('li', { class: c.to ? '' : 'open',
    text: c.to ? `Broken ${clock(c.from)}–${clock(c.to)}: ${c.invariant}` : `BROKEN since ${clock(c.from)}: ${c.invariant}` }));
  $('#collateral').replaceChildren(...coll);
}

function renderTopology(u) {
  if (u.topology_svg !== lastTopology) {
    // The server draws the picture and escapes every name in it.
    $('#topology').innerHTML = u.topology_svg;
    lastTopology = u.topology_svg;
  }
  const rc = u.record.root_causes || [];
  const list = $('#root-causes');
  list.hidden = rc.length === 0;
  list.replaceChildren(...rc.map((c) => el('li', { text: c })));
}

function render(u) {
  const r = u.record;
  current = r;
  receivedAt = performance.now();
  renderHeader(r);
  renderClock();
  renderService(r);
  renderInjects(r);
  renderMessages(r);
  renderPeople(r);
  renderMeasures(r);
  renderTopology(u);
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}

function setConn(state, text) {
  const c = $('#conn');
  c.className = 'conn ' + state;
  c.textContent = text;
}

function connect() {
  const es = new EventSource('events');
  es.addEventListener('open', () => setConn('live', 'live'));
  es.addEventListener('record', (e) => {
    $('#problem').hidden = true;
    setConn('live', 'live');
    render(JSON.parse(e.data));
  });
  es.addEventListener('problem', (e) => {
    const p = $('#problem');
    p.textContent = JSON.parse(e.data);
    p.hidden = false;
  });
  es.addEventListener('error', () => setConn('down', 'reconnecting…'));
}

connect();
setInterval(renderClock, 250);
