// corral master web UI: a small single-page app over the master's /ui/api/* data calls.
// Plain JS, no dependencies. Every page re-fetches its (small, server-paged) data every 2 s.
"use strict";

const POLL_MS = 2000;
const PAGE = 50;
let timer = null;        // the current page's refresh timer
let pageGen = 0;         // bumped on each navigation: stale fetches are dropped
let cleanup = [];        // things to stop when leaving a page (event streams, tails)

// ------------------------------------------------------------------ helpers
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const $ = (id) => document.getElementById(id);
async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}
function num(x, digits = 2) {
  if (x === null || x === undefined) return "";
  return Number.isInteger(x) ? String(x) : Number(x).toFixed(digits).replace(/\.?0+$/, "");
}
function mb(x) { return x >= 1024 ? `${num(x / 1024, 1)} GB` : `${num(x, 0)} MB`; }
function amount(kind, x) { return kind === "mem" || kind === "disk" ? mb(x) : num(x); }
function ago(ts) {
  if (!ts) return "";
  const s = Math.max(0, Date.now() / 1000 - ts);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${num(s / 3600, 1)} h ago`;
}
function duration(s) {
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return d ? `${d}d ${hr}h` : hr ? `${hr}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
}
function when(ts) { return ts ? new Date(ts * 1000).toLocaleString() : ""; }
function res(r) {
  if (!r) return "";
  const parts = [`${num(r.cpus)} cpus`, mb(r.mem)];
  if (r.disk) parts.push(`${mb(r.disk)} disk`);
  if (r.gpus) parts.push(`${num(r.gpus)} gpus`);
  return parts.join(", ");
}
function table(cols, rows, attrs) {
  const head = cols.some((c) => c.title)
    ? h("thead", {}, h("tr", {}, cols.map((c) => h("th", { class: c.num ? "num" : null }, c.title)))) : null;
  return h("table", attrs || {}, head,
    h("tbody", {}, rows.map((r) => h("tr", {},
      cols.map((c) => h("td", { class: [c.num ? "num" : "", c.wrap ? "wrap" : ""].join(" ").trim() || null },
        c.cell(r)))))));
}
function stateSpan(s) { return h("span", { class: `st-${s}` }, s); }
function taskLink(t) { return h("a", { href: `#/tasks/${enc(t.framework_id)}/${enc(t.id)}` }, t.id); }
function agentLink(id, text) { return h("a", { href: `#/agents/${enc(id)}` }, text || id); }
const enc = encodeURIComponent;
function setMain(...kids) { const m = $("main"); m.replaceChildren(...kids); }
function showError(e) {
  $("status").textContent = `error: ${e.message}`;
  $("status").className = "err";
}
function okStatus() { $("status").textContent = `updated ${new Date().toLocaleTimeString()}`; $("status").className = "muted"; }

// Run `load` now and every POLL_MS while this page is shown; `load` returns a promise.
function every(load) {
  const gen = pageGen;
  const tick = async () => {
    try { await load(gen); if (gen === pageGen) okStatus(); }
    catch (e) { if (gen === pageGen) showError(e); }
    if (gen === pageGen) timer = setTimeout(tick, POLL_MS);
  };
  tick();
}

// ------------------------------------------------------------------ charts (SVG of our own)
const SVGNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}
function chart(title, times, values, max, fmt) {
  const W = 320, H = 120, P = 4;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", "data-points": values.length });
  s.append(svg("rect", { x: 0, y: 0, width: W, height: H, fill: "#fbfcfe" }));
  for (const f of [0.25, 0.5, 0.75]) {
    s.append(svg("line", { x1: 0, x2: W, y1: H - P - f * (H - 2 * P), y2: H - P - f * (H - 2 * P), stroke: "#e2e5ec" }));
  }
  const top = Math.max(max || 0, ...values, 1e-9);
  let span = "";
  if (times.length > 0) {
    const t1 = times[times.length - 1], t0 = Math.min(times[0], t1 - 60);
    const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    span = `${clock(t0)} – ${clock(t1)}, max ${fmt(top)}`;
    const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * W;
    const y = (v) => H - P - (v / top) * (H - 2 * P);
    const pts = times.map((t, i) => `${x(t).toFixed(1)},${y(values[i]).toFixed(1)}`);
    if (pts.length === 1) pts.push(`${W},${y(values[0]).toFixed(1)}`);
    s.append(svg("polyline", { points: pts.join(" "), fill: "none", stroke: "#2b6cb0", "stroke-width": 1.5 }));
  }
  const last = values.length ? values[values.length - 1] : 0;
  return h("div", { class: "chart" },
    h("div", { class: "title" }, `${title}: ${fmt(last)}`), s, h("div", { class: "axis" }, span));
}

// ------------------------------------------------------------------ pages
async function dashboard() {
  const box = h("div", {});
  setMain(h("h1", {}, "Dashboard"), box);
  every(async (gen) => {
    const [d, hist] = await Promise.all([getJSON("/ui/api/dashboard"), getJSON("/ui/api/history")]);
    if (gen !== pageGen) return;
    const m = d.master, zk = d.zookeeper;
    const zkText = zk.mode === "none" ? zk.text
      : `${zk.healthy ? "healthy" : "UNHEALTHY"}: session ${zk.session}, ` +
        `${zk.serving} of ${Object.keys(zk.servers).length} servers serving (quorum ${zk.quorum})` +
        Object.entries(zk.servers).map(([s, mode]) => `; ${s} ${mode}`).join("");
    const active = d.tasks.active, terminal = d.tasks.terminal;
    const kinds = ["cpus", "mem", "disk", "gpus"];
    box.replaceChildren(
      h("div", { class: "cards" },
        h("div", { class: "card" }, h("div", { class: "label" }, "Leader"),
          h("div", { class: "value", id: "leader" }, m.leader),
          h("div", { class: "muted" }, `id ${m.id}`)),
        h("div", { class: "card" }, h("div", { class: "label" }, "Uptime"),
          h("div", { class: "value", id: "uptime" }, duration(m.uptime_secs)),
          h("div", { class: "muted" }, `elected ${when(m.elected_time)}`)),
        h("div", { class: "card" }, h("div", { class: "label" }, "Agents"),
          h("div", { class: "value" }, h("span", { id: "agents-active" }, d.agents.active), " active"),
          h("div", {}, h("span", { id: "agents-unreachable", class: d.agents.unreachable ? "bad" : null },
            d.agents.unreachable), " unreachable, ", d.agents.disconnected, " disconnected")),
        h("div", { class: "card" }, h("div", { class: "label" }, "Frameworks"),
          h("div", { class: "value", id: "frameworks-active" }, d.frameworks.active),
          h("div", { class: "muted" }, `${d.frameworks.inactive} inactive, ${d.frameworks.completed} completed; ${d.offers} offers`)),
        h("div", { class: "card" }, h("div", { class: "label" }, "ZooKeeper"),
          h("div", { id: "zookeeper", class: zk.mode === "none" ? null : (zk.healthy ? "ok" : "bad") }, zkText))),
      h("div", { class: "two" }, h("div", {},
      h("h2", {}, "Resources"),
      table([{ title: "" , cell: (k) => k },
             ...["total", "used", "offered", "idle"].map((c) => ({ title: c, num: true,
               cell: (k) => h("span", { id: `res-${k}-${c}` }, amount(k, d.resources[k][c])) }))],
            kinds, { id: "resources" })), h("div", {},
      h("h2", {}, "Tasks by state"),
      table([{ title: "state", cell: (r) => stateSpan(r[0]) }, { title: "tasks", num: true, cell: (r) => h("span", { id: `tasks-${r[0]}` }, r[1]) }],
            [...Object.entries(active).sort(), ...Object.entries(terminal).sort()], { id: "task-states" }))),
      h("h2", {}, "Utilization, last hour"),
      h("div", { class: "charts", id: "charts" },
        ...kinds.map((k) => chart(`${k} used %`, hist.time, hist[`${k}_percent`], 100, (v) => `${num(v, 1)} %`)),
        chart("tasks running", hist.time, hist.tasks_running, 0, (v) => num(v)),
        chart("agents", hist.time, hist.agents, 0, (v) => num(v))),
    );
  });
}

function pager(total, offset, limit, go) {
  const end = Math.min(total, offset + limit);
  return h("div", { class: "pager" },
    h("button", { disabled: offset <= 0, onclick: () => go(Math.max(0, offset - limit)) }, "‹ prev"),
    h("span", { class: "count" }, total ? `${offset + 1}–${end} of ${total}` : "none"),
    h("button", { disabled: end >= total, onclick: () => go(offset + limit) }, "next ›"));
}

async function agents() {
  let offset = 0;
  const q = h("input", { placeholder: "hostname or id", id: "agent-filter" });
  const box = h("div", {});
  setMain(h("h1", {}, "Agents"), h("div", { class: "filters" }, q), box);
  const load = async (gen) => {
    const d = await getJSON(`/ui/api/agents?offset=${offset}&limit=${PAGE}&q=${enc(q.value)}`);
    if (gen !== pageGen) return;
    box.replaceChildren(pager(d.total, d.offset, d.limit, (o) => { offset = o; load(pageGen); }),
      table([
        { title: "hostname", cell: (a) => agentLink(a.id, a.hostname || a.id) },
        { title: "status", cell: (a) => stateSpan(a.status) },
        { title: "attributes", wrap: true, cell: (a) => Object.entries(a.attributes || {}).map(([k, v]) => `${k}=${v}`).join(", ") },
        { title: "cpus used / total", num: true, cell: (a) => a.total ? `${num(a.used.cpus)} / ${num(a.total.cpus)}` : "" },
        { title: "mem used / total", num: true, cell: (a) => a.total ? `${mb(a.used.mem)} / ${mb(a.total.mem)}` : "" },
        { title: "disk used / total", num: true, cell: (a) => a.total ? `${mb(a.used.disk)} / ${mb(a.total.disk)}` : "" },
        { title: "tasks", num: true, cell: (a) => a.tasks },
        { title: "last ping", cell: (a) => ago(a.last_ping) },
        { title: "id", cell: (a) => h("span", { class: "muted" }, a.id) },
      ], d.agents, { id: "agents-table" }));
  };
  q.addEventListener("input", () => { offset = 0; load(pageGen); });
  every(load);
}

function containersTable(list) {
  const stat = (c, k) => (c.statistics || {})[k];
  return table([
    { title: "container", cell: (c) => c.container_id.value },
    { title: "executor / task", cell: (c) => c.executor_id.value },
    { title: "containerizer", cell: (c) => c.containerizer || "" },
    { title: "cpu time s", num: true, cell: (c) => stat(c, "cpus_time_ns") !== undefined ? num(stat(c, "cpus_time_ns") / 1e9)
        : num((stat(c, "cpus_user_time_secs") || 0) + (stat(c, "cpus_system_time_secs") || 0)) },
    { title: "processes", num: true, cell: (c) => num(stat(c, "processes")) },
    { title: "mem rss", num: true, cell: (c) => stat(c, "mem_rss_bytes") === undefined ? "" : mb(stat(c, "mem_rss_bytes") / 1048576) },
    { title: "mem limit", num: true, cell: (c) => stat(c, "mem_limit_bytes") === undefined ? "" : mb(stat(c, "mem_limit_bytes") / 1048576) },
  ], list, { id: "containers" });
}

async function agentPage(id) {
  const box = h("div", {});
  setMain(h("h1", {}, "Agent ", h("span", { id: "agent-id" }, id)), box);
  every(async (gen) => {
    const a = await getJSON(`/ui/api/agents/${enc(id)}`);
    let containers = null, cerr = null;
    if (a.status !== "unreachable") {
      try { containers = await getJSON(`/ui/agents/${enc(id)}/containers`); } catch (e) { cerr = e.message; }
    }
    if (gen !== pageGen) return;
    box.replaceChildren(
      table([{ title: "", cell: (r) => r[0] }, { title: "", wrap: true, cell: (r) => r[1] }], [
        ["hostname", a.hostname], ["address", a.address],
        ["status", h("span", { id: "agent-status", class: `st-${a.status}` }, a.status)],
        ["total", res(a.total)], ["used", res(a.used)], ["offered", res(a.offered)],
        ["attributes", Object.entries(a.attributes || {}).map(([k, v]) => `${k}=${v}`).join(", ")],
        ["tasks", a.tasks], ["last ping", ago(a.last_ping)], ["version", a.version || ""],
      ], { class: "kv" }),
      h("h2", {}, "Containers (live usage from the agent)"),
      containers ? containersTable(containers) : h("div", { class: "muted" }, cerr || "agent unreachable"),
      h("h2", {}, "Tasks"),
      taskTable(a.task_list || []));
  });
}

async function frameworks() {
  const box = h("div", {});
  setMain(h("h1", {}, "Frameworks"), box);
  every(async (gen) => {
    const d = await getJSON("/ui/api/frameworks");
    if (gen !== pageGen) return;
    const cols = [
      { title: "name", cell: (f) => f.name },
      { title: "roles", cell: (f) => f.roles.join(", ") },
      { title: "principal", cell: (f) => f.principal },
      { title: "active", cell: (f) => h("span", { class: f.active ? "ok" : "warn" }, f.active ? "yes" : "no") },
      { title: "tasks", num: true, cell: (f) => h("a", { href: `#/tasks?framework=${enc(f.id)}` }, f.tasks) },
      { title: "completed", num: true, cell: (f) => f.completed_tasks },
      { title: "used", cell: (f) => res(f.used) },
      { title: "offered", cell: (f) => res(f.offered) },
      { title: "web UI", cell: (f) => f.webui_url ? h("a", { href: f.webui_url, target: "_blank", rel: "noopener" }, f.webui_url) : "" },
      { title: "id", cell: (f) => h("span", { class: "muted" }, f.id) },
    ];
    box.replaceChildren(table(cols, d.frameworks, { id: "frameworks-table" }),
      h("h2", {}, "Completed frameworks"), table(cols, d.completed_frameworks, { id: "completed-frameworks-table" }));
  });
}

function taskTable(rows) {
  return table([
    { title: "id", cell: taskLink },
    { title: "name", cell: (t) => t.name },
    { title: "state", cell: (t) => stateSpan(t.state) },
    { title: "framework", cell: (t) => t.framework || t.framework_id },
    { title: "agent", cell: (t) => agentLink(t.agent_id, t.hostname || t.agent_id) },
    { title: "resources", cell: (t) => res(t.resources) },
    { title: "updated", cell: (t) => ago(t.updated) },
  ], rows, { id: "tasks-table" });
}

const STATES = ["", "active", "completed", "unreachable", "TASK_STAGING", "TASK_STARTING", "TASK_RUNNING",
  "TASK_KILLING", "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR"];

async function tasks(params) {
  const f = {
    state: h("select", { id: "f-state" }, STATES.map((s) => h("option", { value: s }, s || "all states"))),
    framework: h("select", { id: "f-framework" }, h("option", { value: "" }, "all frameworks")),
    agent: h("input", { id: "f-agent", placeholder: "agent id" }),
    name: h("input", { id: "f-name", placeholder: "name or id contains" }),
  };
  for (const k of Object.keys(f)) if (params.get(k)) {
    if (k === "framework") f.framework.append(h("option", { value: params.get(k) }, params.get(k)));
    f[k].value = params.get(k);
  }
  let offset = Number(params.get("offset") || 0);
  const box = h("div", {});
  setMain(h("h1", {}, "Tasks"), h("div", { class: "filters" }, Object.values(f)), box);
  getJSON("/ui/api/frameworks").then((d) => {
    const cur = f.framework.value;
    f.framework.replaceChildren(h("option", { value: "" }, "all frameworks"),
      ...[...d.frameworks, ...d.completed_frameworks].map((x) => h("option", { value: x.id }, `${x.name} (${x.id})`)));
    f.framework.value = cur;
  }).catch(showError);
  const load = async (gen) => {
    const qs = new URLSearchParams();
    for (const [k, el] of Object.entries(f)) if (el.value) qs.set(k, el.value);
    qs.set("offset", offset); qs.set("limit", PAGE);
    const d = await getJSON(`/ui/api/tasks?${qs}`);
    if (gen !== pageGen) return;
    box.replaceChildren(pager(d.total, d.offset, d.limit, (o) => { offset = o; load(pageGen); }),
      taskTable(d.tasks));
  };
  for (const el of Object.values(f)) {
    el.addEventListener(el.tagName === "SELECT" ? "change" : "input", () => { offset = 0; load(pageGen); });
  }
  every(load);
}

async function taskPage(fid, tid) {
  const info = h("div", {});
  const sandbox = h("div", { id: "sandbox" });
  setMain(h("h1", {}, "Task ", h("span", { id: "task-id" }, tid)), info, h("h2", {}, "Sandbox"), sandbox);
  let sandboxStarted = false;
  every(async (gen) => {
    const t = await getJSON(`/ui/api/tasks/${enc(fid)}/${enc(tid)}`);
    if (gen !== pageGen) return;
    const stats = Object.entries(t.statistics || {});
    info.replaceChildren(h("div", { class: "two" }, h("div", {},
      table([{ title: "", cell: (r) => r[0] }, { title: "", wrap: true, cell: (r) => r[1] }], [
        ["name", t.name], ["state", h("span", { id: "task-state", class: `st-${t.state}` }, t.state)],
        ["framework", `${t.framework} (${t.framework_id})`],
        ["agent", agentLink(t.agent_id, `${t.hostname || t.agent_id} (${t.agent_status})`)],
        ["role", t.role], ["resources", res(t.resources)], ["command", t.command],
        ["executor", t.executor_id || "(command executor)"], ["sandbox", t.sandbox],
      ], { class: "kv" })), h("div", {},
      h("h2", { class: "first" }, "Status history"),
      table([
        { title: "time", cell: (s) => when(s.timestamp) },
        { title: "state", cell: (s) => stateSpan(s.state) },
        { title: "reason", cell: (s) => s.reason },
        { title: "source", cell: (s) => s.source },
        { title: "message", wrap: true, cell: (s) => s.message },
        { title: "healthy", cell: (s) => s.healthy === null ? "" : String(s.healthy) },
      ], [...t.statuses].reverse(), { id: "statuses" }),
      h("h2", {}, "Usage (last report)"),
      stats.length ? table([{ title: "", cell: (r) => r[0] }, { title: "", num: true, cell: (r) => num(r[1]) }], stats, { class: "kv", id: "usage" })
        : h("div", { class: "muted" }, "no usage reported yet"),
      t.container ? [h("h2", {}, "Container"), h("pre", { class: "json" }, JSON.stringify(t.container, null, 1))] : null)));
    if (!sandboxStarted && t.agent_status !== "unreachable") {
      sandboxStarted = true;
      sandboxBrowser(sandbox, t.agent_id, t.sandbox);
    }
  });
}

// The sandbox browser: a directory listing and a live tail of the chosen file, through the
// master's proxy of the agent's /files/* (one origin).
function sandboxBrowser(box, agentId, root) {
  const base = `/ui/agents/${enc(agentId)}/files`;
  const list = h("div", { id: "files" });
  const title = h("div", { class: "muted", id: "file-title" }, "choose a file");
  const log = h("pre", { class: "log", id: "file-view" });
  box.replaceChildren(h("div", { class: "sandbox" }, list, h("div", {}, title, log)));
  let tail = null;
  const browse = async (path) => {
    let files;
    try { files = await getJSON(`${base}/browse?path=${enc(path)}`); }
    catch (e) { list.replaceChildren(h("div", { class: "err" }, e.message)); return; }
    const rows = files.map((f) => ({ ...f, name: f.path.split("/").pop(), dir: f.mode.startsWith("d") }));
    list.replaceChildren(...[
      h("div", { class: "muted" }, path),
      path !== root ? h("a", { href: "#", onclick: (e) => { e.preventDefault(); browse(root); } }, "↑ sandbox root") : null,
      table([
        { title: "name", cell: (f) => h("a", { href: "#", "data-file": f.name, onclick: (e) => { e.preventDefault(); f.dir ? browse(f.path) : open(f); } }, f.dir ? `${f.name}/` : f.name) },
        { title: "size", num: true, cell: (f) => f.dir ? "" : String(f.size) },
        { title: "", cell: (f) => f.dir ? "" : h("a", { href: `${base}/download?path=${enc(f.path)}`, download: f.name }, "download") },
      ], rows)].filter(Boolean));
    if (!tail) {
      const first = rows.find((f) => f.name === "stdout") || rows.find((f) => !f.dir);
      if (first) open(first);
    }
  };
  const open = (f) => {
    if (tail) tail.stop();
    title.replaceChildren(`${f.name} (live) `, h("a", { href: `${base}/download?path=${enc(f.path)}`, download: f.name }, "download"));
    log.textContent = "";
    tail = tailFile(base, f.path, log);
  };
  cleanup.push(() => { if (tail) tail.stop(); });
  browse(root);
}

function tailFile(base, path, out) {
  let offset = null, stopped = false, handle = null;
  const MAX_SHOWN = 256 * 1024;
  const step = async () => {
    try {
      if (offset === null) {
        const end = await getJSON(`${base}/read?path=${enc(path)}&offset=-1`);
        offset = Math.max(0, end.offset - 64 * 1024);
      }
      for (;;) {
        const d = await getJSON(`${base}/read?path=${enc(path)}&offset=${offset}&length=65536`);
        if (stopped || !d.data) break;
        const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        out.textContent = (out.textContent + d.data).slice(-MAX_SHOWN);
        offset += new TextEncoder().encode(d.data).length;
        if (atBottom) out.scrollTop = out.scrollHeight;
        if (d.data.length < 1000) break;
      }
    } catch (e) { if (!stopped) out.append(`\n[${e.message}]\n`); }
    if (!stopped) handle = setTimeout(step, 1000);
  };
  step();
  return { stop() { stopped = true; clearTimeout(handle); } };
}

async function offers() {
  const box = h("div", {});
  setMain(h("h1", {}, "Offers"), box);
  every(async (gen) => {
    const d = await getJSON("/ui/api/offers");
    if (gen !== pageGen) return;
    box.replaceChildren(
      h("div", { class: "muted" }, h("span", { id: "offers-total" }, d.total), " outstanding offers",
        d.total > d.offers.length ? ` (showing ${d.offers.length})` : ""),
      table([
        { title: "framework", cell: (o) => `${o.framework} (${o.framework_id})` },
        { title: "agent", cell: (o) => agentLink(o.agent_id, o.hostname || o.agent_id) },
        { title: "role", cell: (o) => o.role },
        { title: "resources", cell: (o) => res(o.resources) },
        { title: "age", num: true, cell: (o) => o.age_secs === null ? "" : `${o.age_secs} s` },
        { title: "offer id", cell: (o) => h("span", { class: "muted" }, o.id) },
      ], d.offers, { id: "offers-table" }));
  });
}

// RecordIO ("<length>\n<bytes>") read incrementally: chunks are kept in a list and copied
// once per record; a record over BIG bytes (the SUBSCRIBED snapshot of a large cluster) is
// not parsed (that would stall the page): its type and size are reported and its bytes dropped
// as they arrive.
class RecordIO {
  constructor(onRecord) {
    this.onRecord = onRecord; this.parts = []; this.have = 0; this.need = null;
    this.skipping = 0; this.dec = new TextDecoder();
  }
  static BIG = 4 << 20;
  push(chunk) {
    this.parts.push(chunk); this.have += chunk.length;
    for (;;) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, this.have);
        this.take(n, false); this.skipping -= n;
        if (this.skipping > 0) return;
      }
      if (this.need === null) {
        const nl = this.newline();
        if (nl < 0) return;
        this.need = Number(this.dec.decode(this.take(nl + 1, true)).trim());
      }
      if (this.need > RecordIO.BIG) {
        if (this.have < 200) return;
        const head = this.dec.decode(this.peek(200));
        const type = (head.match(/"type"\s*:\s*"([A-Z_]+)"/) || [])[1] || "?";
        this.onRecord({ type, too_big: this.need });
        this.skipping = this.need; this.need = null;
        continue;
      }
      if (this.have < this.need) return;
      const bytes = this.take(this.need, true);
      this.need = null;
      this.onRecord(JSON.parse(this.dec.decode(bytes)));
    }
  }
  newline() {
    let off = 0;
    for (const p of this.parts) {
      const i = p.indexOf(10);
      if (i >= 0) return off + i;
      off += p.length;
      if (off > 32) return -1;
    }
    return -1;
  }
  peek(n) {
    const out = new Uint8Array(Math.min(n, this.have)); let off = 0;
    for (const p of this.parts) {
      if (off >= out.length) break;
      const k = Math.min(p.length, out.length - off);
      out.set(p.subarray(0, k), off); off += k;
    }
    return out;
  }
  take(n, keep) {
    const out = keep ? new Uint8Array(n) : null; let off = 0;
    while (off < n) {
      const p = this.parts[0], k = Math.min(p.length, n - off);
      if (out) out.set(p.subarray(0, k), off);
      off += k;
      if (k === p.length) this.parts.shift(); else this.parts[0] = p.subarray(k);
    }
    this.have -= n;
    return out;
  }
}

// The Events page: the operator API's SUBSCRIBE stream (RecordIO: "<length>\n<json>").
function events() {
  const list = h("tbody", {});
  const count = h("span", { id: "events-count" }, "0");
  const state = h("span", { class: "muted", id: "events-state" }, "connecting…");
  setMain(h("h1", {}, "Events"), h("div", {}, count, " events received; ", state),
    h("div", { id: "events-list" }, h("table", { id: "events-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "time"), h("th", {}, "type"), h("th", {}, "detail"))), list)));
  const ctl = new AbortController();
  cleanup.push(() => ctl.abort());
  let n = 0;
  const show = (ev) => {
    n += 1; count.textContent = String(n);
    if (ev.type === "HEARTBEAT") return;
    let detail = "";
    if (ev.task_added) detail = `${ev.task_added.task.task_id.value} ${ev.task_added.task.state}`;
    else if (ev.task_updated) detail = `${ev.task_updated.status.task_id.value} ${ev.task_updated.state}` +
      (ev.task_updated.status.message ? `: ${ev.task_updated.status.message}` : "");
    else if (ev.agent_added) detail = `${ev.agent_added.agent.agent_info.hostname} (${ev.agent_added.agent.agent_info.id.value})`;
    else if (ev.agent_removed) detail = ev.agent_removed.agent_id.value;
    else if (ev.framework_added) detail = ev.framework_added.framework.framework_info.name;
    else if (ev.framework_updated) detail = ev.framework_updated.framework.framework_info.name;
    else if (ev.framework_removed) detail = ev.framework_removed.framework_info.name;
    else if (ev.too_big) detail = `${num(ev.too_big / 1048576, 1)} MB (the cluster's state; not shown)`;
    else if (ev.subscribed) detail = `snapshot: ${(ev.subscribed.get_state.get_tasks.tasks || []).length} tasks, ` +
      `${(ev.subscribed.get_state.get_agents.agents || []).length} agents`;
    list.prepend(h("tr", { class: "event", "data-type": ev.type },
      h("td", {}, new Date().toLocaleTimeString()), h("td", {}, ev.type), h("td", { class: "wrap" }, detail)));
    while (list.children.length > 500) list.lastChild.remove();
  };
  (async () => {
    try {
      const r = await fetch("/api/v1", { method: "POST", signal: ctl.signal,
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ type: "SUBSCRIBE" }) });
      if (!r.ok) throw new Error(`SUBSCRIBE: HTTP ${r.status} ${await r.text()}`);
      state.textContent = "connected";
      const reader = r.body.getReader();
      const records = new RecordIO((rec) => show(rec));
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        records.push(value);
      }
      state.textContent = "stream ended";
    } catch (e) {
      if (e.name !== "AbortError") { state.textContent = `disconnected: ${e.message}`; state.className = "err"; }
    }
  })();
}

// ------------------------------------------------------------------ router
function route() {
  pageGen += 1;
  clearTimeout(timer);
  for (const stop of cleanup) stop();
  cleanup = [];
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  const page = parts[0] || "dashboard";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("on", a.dataset.page === page);
  if (page === "agents" && parts[1]) return agentPage(parts[1]);
  if (page === "tasks" && parts[2]) return taskPage(parts[1], parts[2]);
  const pages = { dashboard, agents, frameworks, tasks, offers, events };
  return (pages[page] || dashboard)(params);
}
window.addEventListener("hashchange", route);
route();
