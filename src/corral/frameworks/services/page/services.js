// corral services: the page. Plain JS, no libraries. It reads Marathon's /v2 API (plus
// corral's /v2/apps/{id}/why), refreshes on every server-sent event and at least every 2 s,
// and renders only the rows of the app table that are on screen, so 1,000s of apps stay fast.
"use strict";

const POLL_MS = 2000;
const ROW_H = 30; // px; must match .apps tbody tr height in services.css
const WHY_MAX = 25; // at most this many /why calls per refresh
const TEMPLATE = {
  id: "/hello",
  cmd: "python3 -m http.server $PORT0",
  cpus: 0.1,
  mem: 64,
  instances: 2,
  portDefinitions: [{ port: 0, name: "http" }],
  healthChecks: [
    {
      protocol: "HTTP",
      path: "/",
      portIndex: 0,
      gracePeriodSeconds: 30,
      delaySeconds: 0,
      intervalSeconds: 5,
      timeoutSeconds: 2,
      maxConsecutiveFailures: 3,
    },
  ],
  upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
};
// Keys the API adds to an app that are not part of a definition one edits.
const READ_ONLY = [
  "version", "versionInfo", "tasks", "tasksStaged", "tasksRunning", "tasksHealthy",
  "tasksUnhealthy", "deployments", "lastTaskFailure", "taskStats", "readinessCheckResults",
];

const state = {
  apps: [],
  byId: new Map(),
  deployments: [],
  queue: [],
  why: new Map(), // app id -> reasons
  filter: "",
  shown: [], // the filtered, sorted apps
  selected: null, // app id
  detail: null, // the selected app with its tasks
  versions: [],
  versionsOf: null, // "id@version" the versions list was read for
  editing: null, // null: creating; else the app id being edited
  live: false,
};

// ------------------------------------------------------------------ helpers
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

class ApiError extends Error {
  constructor(status, body, what) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.details = (body && Array.isArray(body.details)) ? body.details : [];
    this.deployments = (body && Array.isArray(body.deployments)) ? body.deployments.map((d) => d.id) : [];
    this.what = what;
  }
}

const appPath = (id) => id.replace(/^\/+/, "").split("/").map(encodeURIComponent).join("/");

async function api(method, path, body, what) {
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers: body === undefined ? { Accept: "application/json" }
        : { Accept: "application/json", "Content-Type": "application/json" },
      body: body === undefined ? undefined : (typeof body === "string" ? body : JSON.stringify(body)),
    });
  } catch (e) {
    throw new ApiError(0, { message: `cannot reach the services API: ${e.message}` }, what);
  }
  const text = await resp.text();
  let doc = null;
  if (text.trim()) {
    try { doc = JSON.parse(text); } catch (e) { doc = { message: text.slice(0, 300) }; }
  }
  if (!resp.ok) throw new ApiError(resp.status, doc, what);
  return doc;
}

function healthOf(task) {
  const rs = task.healthCheckResults || [];
  if (!rs.length) return null;
  return rs.every((r) => r.alive);
}

function healthMessage(task) {
  for (const r of task.healthCheckResults || []) {
    if (!r.alive && r.lastFailureCause) return r.lastFailureCause;
  }
  const last = (task.healthCheckResults || []).find((r) => r.lastFailureCause);
  return last ? `last failure: ${last.lastFailureCause}` : "";
}

function whatRuns(a) {
  const image = a.container && a.container.docker && a.container.docker.image;
  const cmd = a.cmd || (a.args ? a.args.join(" ") : "");
  return image ? `[${image}] ${cmd}`.trim() : cmd;
}

function appStatus(a) {
  if ((a.deployments || []).length) {
    return state.why.get(a.id) && state.why.get(a.id).length ? ["waiting", "Waiting"] : ["deploying", "Deploying"];
  }
  if (a.instances === 0) return ["suspended", "Suspended"];
  if ((a.tasksUnhealthy || 0) > 0) return ["unhealthy", "Unhealthy"];
  if ((a.tasksRunning || 0) < a.instances) return ["waiting", "Waiting"];
  return ["running", "Running"];
}

// ------------------------------------------------------------------ errors
function errorNodes(err) {
  const out = [el("p", { class: "msg" }, err.what ? `${err.what}: ` : "", err.message,
    err.status ? el("span", { class: "muted" }, ` (HTTP ${err.status})`) : null)];
  if (err.details.length) {
    out.push(el("ul", { class: "details" }, err.details.map((d) =>
      el("li", {}, el("code", { class: "path" }, d.path || "/"), ": ",
        (d.errors || []).join("; ")))));
  }
  if (err.status === 409 && err.deployments.length) {
    out.push(el("p", {}, "Deployment(s) in the way: ",
      err.deployments.map((id) => el("code", {}, id)),
      ". Wait for them, cancel them below, or retry with “force”."));
  }
  return out;
}

function showError(err) {
  if (!(err instanceof ApiError)) err = new ApiError(0, { message: String(err) });
  if ($("editor").open) {
    const box = $("editor-errors");
    box.replaceChildren(...errorNodes(err));
    box.hidden = false;
    return;
  }
  $("error-body").replaceChildren(...errorNodes(err));
  $("error").hidden = false;
}

function clearError() { $("error").hidden = true; }

async function act(what, fn) {
  try {
    const res = await fn();
    clearError();
    scheduleRefresh(100);
    return res;
  } catch (e) {
    if (e instanceof ApiError && !e.what) e.what = what;
    showError(e);
    return undefined;
  }
}

// ------------------------------------------------------------------ refresh
let refreshing = false;
let again = false;
let timer = null;

function scheduleRefresh(delay) {
  if (timer !== null) clearTimeout(timer);
  timer = setTimeout(refresh, delay);
}

async function refresh() {
  timer = null;
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    const [apps, deployments, queue] = await Promise.all([
      api("GET", "/v2/apps"),
      api("GET", "/v2/deployments?embed=why"),
      api("GET", "/v2/queue?embed=why"),
    ]);
    state.apps = (apps && apps.apps) || [];
    state.byId = new Map(state.apps.map((a) => [a.id, a]));
    state.deployments = Array.isArray(deployments) ? deployments : [];
    state.queue = (queue && queue.queue) || [];
    await refreshWhy();
    if (state.selected) await refreshDetail();
    render();
    if (!state.live) setConn("polling every 2 s", "poll");
  } catch (e) {
    setConn(`API unreachable: ${e.message}`, "down");
  } finally {
    refreshing = false;
    if (again) { again = false; scheduleRefresh(50); } else if (timer === null) scheduleRefresh(POLL_MS);
  }
}

async function refreshWhy() {
  // Ask why only about apps that are waiting for something: in a deployment, in the launch
  // queue, or short of instances. The selected app first.
  const want = [];
  const add = (id) => { if (id && !want.includes(id)) want.push(id); };
  add(state.selected);
  for (const d of state.deployments) (d.affectedApps || []).forEach(add);
  for (const q of state.queue) add(q.app && q.app.id);
  for (const a of state.apps) if ((a.tasksRunning || 0) < a.instances || (a.tasksUnhealthy || 0) > 0) add(a.id);
  const ask = want.filter((id) => state.byId.has(id)).slice(0, WHY_MAX);
  const got = await Promise.all(ask.map((id) =>
    api("GET", `/v2/apps/${appPath(id)}/why`).then((d) => [id, (d && d.reasons) || []], () => [id, null])));
  const next = new Map();
  for (const [id, reasons] of got) if (reasons) next.set(id, reasons);
  state.why = next;
}

async function refreshDetail() {
  const id = state.selected;
  let doc;
  try {
    doc = await api("GET", `/v2/apps/${appPath(id)}`);
  } catch (e) {
    if (e.status === 404 && state.selected === id) { state.selected = null; state.detail = null; return; }
    throw e;
  }
  // The selection may have changed (or the app been deleted) while this was in flight.
  if (state.selected !== id) return;
  state.detail = doc.app;
  const key = `${id}@${state.detail.version}`;
  if (state.versionsOf !== key) {
    const v = await api("GET", `/v2/apps/${appPath(id)}/versions`).catch(() => ({ versions: [] }));
    if (state.selected !== id) return;
    state.versions = v.versions || [];
    state.versionsOf = key;
  }
}

function setConn(text, kind) {
  const c = $("conn");
  c.textContent = text;
  c.className = `conn ${kind}`;
}

function connectEvents() {
  if (!window.EventSource) return;
  const es = new EventSource("/v2/events");
  es.onopen = () => { state.live = true; setConn("live (events)", "live"); };
  es.onerror = () => { state.live = false; setConn("polling every 2 s (event stream lost)", "poll"); };
  // Marathon's events carry no order; treat each one as "something changed".
  es.onmessage = () => scheduleRefresh(200);
  for (const t of ["status_update_event", "instance_changed_event", "instance_health_changed_event",
    "health_status_changed_event", "deployment_info", "deployment_success", "deployment_failed",
    "deployment_step_success", "deployment_step_failure", "api_post_event", "app_terminated_event",
    "group_change_success", "failed_health_check_event", "unhealthy_task_kill_event",
    "unhealthy_instance_kill_event"]) {
    es.addEventListener(t, () => scheduleRefresh(200));
  }
}

// ------------------------------------------------------------------ render
function render() {
  renderDeployments();
  renderQueue();
  renderApps();
  renderDetail();
}

function reasonList(reasons, cls) {
  if (!reasons || !reasons.length) return null;
  return el("ul", { class: `reasons ${cls || ""}` }, reasons.map((r) => el("li", { class: "reason" }, r)));
}

function renderDeployments() {
  const ds = state.deployments;
  $("deployments-count").textContent = ds.length;
  if (!ds.length) {
    $("deployments").replaceChildren(el("p", { class: "empty" }, "No deployment is running."));
    return;
  }
  const rows = ds.map((d) => {
    const total = d.totalSteps || (d.steps || []).length || 0;
    const cur = d.currentStep || 0;
    const actions = (d.currentActions || []).map((a) => `${a.action} ${a.app}`).join(", ");
    const reasons = [];
    if (d.waiting) reasons.push(d.waiting);
    for (const id of d.affectedApps || []) {
      for (const r of state.why.get(id) || []) if (!(d.waiting || "").includes(r)) reasons.push(`${id}: ${r}`);
    }
    const pct = total ? Math.round((100 * Math.max(0, cur - 1)) / total) : 0;
    return el("div", { class: "deployment", dataset: { deployment: d.id } },
      el("div", { class: "dep-head" },
        el("code", { class: "dep-id" }, d.id),
        el("span", { class: "apps-list" }, (d.affectedApps || []).join(", ")),
        el("span", { class: "step" }, `step ${cur}/${total}`),
        el("progress", { max: 100, value: pct }),
        el("button", { type: "button", class: "cancel-dep", onclick: () => cancelDeployment(d.id, false),
          title: "Stop it and deploy the state from before it" }, "Roll back"),
        el("button", { type: "button", class: "stop-dep danger", onclick: () => cancelDeployment(d.id, true),
          title: "Stop it where it is (no rollback)" }, "Stop")),
      el("div", { class: "dep-actions" }, actions ? `now: ${actions}` : "starting"),
      reasonList(reasons, "dep-reasons"));
  });
  $("deployments").replaceChildren(...rows);
}

function renderQueue() {
  const qs = state.queue;
  $("queue-count").textContent = qs.length;
  if (!qs.length) {
    $("queue").replaceChildren(el("p", { class: "empty" }, "Nothing is waiting."));
    return;
  }
  const table = el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, ["App", "Waiting", "Since", "Launch delay", "Why"].map((h) => el("th", {}, h)))),
    el("tbody", {}, qs.map((q) => {
      const id = q.app && q.app.id;
      const delay = q.delay || {};
      const offers = ((q.processedOffersSummary || {}).rejectSummaryLastOffers || []).map((r) => r.reason);
      const reasons = [q.reason, ...offers, ...(state.why.get(id) || [])].filter(Boolean);
      return el("tr", { dataset: { app: id } },
        el("td", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); select(id); } }, id)),
        el("td", {}, q.count),
        el("td", {}, q.since || ""),
        el("td", {}, delay.timeLeftSeconds ? `${Math.round(delay.timeLeftSeconds)} s (backoff)` : "none"),
        el("td", {}, reasonList([...new Set(reasons)])));
    })));
  $("queue").replaceChildren(table);
}

function filtered() {
  const f = state.filter.toLowerCase();
  const list = f ? state.apps.filter((a) => a.id.toLowerCase().includes(f) || whatRuns(a).toLowerCase().includes(f))
    : state.apps.slice();
  list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return list;
}

function renderApps() {
  state.shown = filtered();
  $("apps-count").textContent = state.filter ? `${state.shown.length} of ${state.apps.length}` : state.apps.length;
  $("apps-empty").hidden = state.apps.length > 0;
  $("apps-empty").textContent = "No apps yet: use “New app”.";
  renderRows();
}

function appRow(a) {
  const [cls, label] = appStatus(a);
  return el("tr", { dataset: { app: a.id }, class: a.id === state.selected ? "selected" : null,
    onclick: () => select(a.id) },
  el("td", { class: "id" }, a.id),
  el("td", { class: "running" }, `${a.tasksRunning || 0}/${a.instances}`),
  el("td", { class: "healthy" }, a.tasksHealthy || 0),
  el("td", { class: "unhealthy" }, a.tasksUnhealthy || 0),
  el("td", {}, a.tasksStaged || 0),
  el("td", {}, `${a.cpus} / ${a.mem}`),
  el("td", {}, el("span", { class: `badge ${cls}` }, label)),
  el("td", { class: "cmd", title: whatRuns(a) }, whatRuns(a)));
}

function renderRows() {
  // Only the rows in view (plus a margin) exist in the DOM; two spacer rows keep the height.
  const scroll = $("apps-scroll");
  const list = state.shown;
  const view = scroll.clientHeight || 480;
  const first = Math.max(0, Math.floor(scroll.scrollTop / ROW_H) - 10);
  const last = Math.min(list.length, Math.ceil((scroll.scrollTop + view) / ROW_H) + 10);
  const top = el("tr", { class: "spacer" }); top.style.height = `${first * ROW_H}px`;
  const bottom = el("tr", { class: "spacer" }); bottom.style.height = `${(list.length - last) * ROW_H}px`;
  const rows = [];
  for (let i = first; i < last; i++) rows.push(appRow(list[i]));
  $("apps").tBodies[0].replaceChildren(top, ...rows, bottom);
}

function renderDetail() {
  const a = state.selected && state.detail && state.detail.id === state.selected ? state.detail : null;
  $("detail").hidden = !a;
  if (!a) return;
  $("detail-id").textContent = a.id;
  $("detail-version").textContent = `version ${a.version || ""}`;
  $("detail-counts").textContent =
    `${a.tasksRunning || 0}/${a.instances} running · ${a.tasksHealthy || 0} healthy · ` +
    `${a.tasksUnhealthy || 0} unhealthy · ${a.tasksStaged || 0} staged · ${a.cpus} cpus · ${a.mem} MiB` +
    ((a.deployments || []).length ? ` · deployment ${(a.deployments || []).map((d) => d.id).join(", ")}` : "");
  const scaleN = $("scale-n");
  if (document.activeElement !== scaleN && scaleN.dataset.app !== a.id) {
    scaleN.value = a.instances;
    scaleN.dataset.app = a.id;
  }
  const reasons = state.why.get(a.id) || [];
  $("detail-why").replaceChildren(...(reasons.length
    ? [el("h3", {}, "Why it is waiting"), reasonList(reasons, "why")] : []));
  const f = a.lastTaskFailure;
  $("detail-failure").replaceChildren(...(f ? [el("p", { class: "failure" },
    `Last failure: ${f.taskId} ${f.state} at ${f.timestamp}${f.host ? ` on ${f.host}` : ""}: ${f.message || ""}`)] : []));
  const tasks = (a.tasks || []).slice().sort((x, y) => (x.id < y.id ? -1 : 1));
  $("instances").tBodies[0].replaceChildren(...tasks.map((t) => {
    const h = healthOf(t);
    return el("tr", { dataset: { task: t.id } },
      el("td", { class: "mono" }, t.id),
      el("td", {}, t.host || ""),
      el("td", {}, (t.ports || []).join(", ")),
      el("td", { class: "state" }, t.state || ""),
      el("td", { class: "health" }, el("span", { class: `badge ${h === null ? "none" : h ? "running" : "unhealthy"}` },
        h === null ? "no checks" : h ? "healthy" : "unhealthy")),
      el("td", { class: "health-msg" }, healthMessage(t)),
      el("td", { class: "mono" }, t.version || ""),
      el("td", {}, t.startedAt || ""));
  }));
  if (!tasks.length) {
    $("instances").tBodies[0].replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "empty" }, "No instances.")));
  }
  $("versions").replaceChildren(...state.versions.map((v, i) => el("li", {},
    el("code", {}, v), i === 0 ? el("span", { class: "muted" }, " (current)") : null, " ",
    el("button", { type: "button", class: "small", onclick: () => showVersion(a.id, v) }, "view"),
    i === 0 ? null : el("button", { type: "button", class: "small", onclick: () => rollbackTo(a.id, v) }, "deploy this version"))));
}

// ------------------------------------------------------------------ actions
function force(box) { return $(box).checked ? "true" : "false"; }

function select(id) {
  state.selected = id;
  state.detail = state.byId.get(id) || null;
  state.versionsOf = null;
  $("version-json").hidden = true;
  resetDelete();
  renderRows();
  renderDetail();
  scheduleRefresh(0);
}

async function showVersion(id, v) {
  const doc = await act("read version", () => api("GET", `/v2/apps/${appPath(id)}/versions/${encodeURIComponent(v)}`));
  if (doc === undefined) return;
  const pre = $("version-json");
  pre.textContent = JSON.stringify(doc, null, 2);
  pre.hidden = false;
}

function rollbackTo(id, v) {
  return act(`deploy version ${v} of ${id}`, () =>
    api("PUT", `/v2/apps/${appPath(id)}?force=${force("detail-force")}`, { version: v }));
}

function cancelDeployment(id, hard) {
  return act(hard ? `stop deployment ${id}` : `roll back deployment ${id}`, () =>
    api("DELETE", `/v2/deployments/${encodeURIComponent(id)}?force=${hard}`));
}

function scaleSelected() {
  const id = state.selected;
  const n = Number($("scale-n").value);
  if (!Number.isInteger(n) || n < 0) {
    showError(new ApiError(0, { message: "instances must be a whole number, 0 or more",
      details: [{ path: "/instances", errors: [`got ${$("scale-n").value || "nothing"}`] }] }, `scale ${id}`));
    return undefined;
  }
  $("scale-n").dataset.app = "";
  return act(`scale ${id}`, () =>
    api("PUT", `/v2/apps/${appPath(id)}?force=${force("detail-force")}`, { instances: n }));
}

function restartSelected() {
  const id = state.selected;
  return act(`restart ${id}`, () => api("POST", `/v2/apps/${appPath(id)}/restart?force=${force("detail-force")}`));
}

let deleteArmed = null;
function resetDelete() {
  if (deleteArmed) clearTimeout(deleteArmed);
  deleteArmed = null;
  $("delete-btn").textContent = "Delete";
}

async function deleteSelected() {
  // Two clicks: the first arms the button for 5 s.
  if (!deleteArmed) {
    $("delete-btn").textContent = "Click again to delete";
    deleteArmed = setTimeout(resetDelete, 5000);
    return;
  }
  resetDelete();
  const id = state.selected;
  const res = await act(`delete ${id}`, () => api("DELETE", `/v2/apps/${appPath(id)}?force=${force("detail-force")}`));
  if (res !== undefined) { state.selected = null; state.detail = null; renderDetail(); }
}

function openEditor(app) {
  state.editing = app ? app.id : null;
  let doc = TEMPLATE;
  if (app) {
    doc = {};
    for (const [k, v] of Object.entries(app)) if (!READ_ONLY.includes(k)) doc[k] = v;
  }
  $("editor-title").textContent = app ? `Edit ${app.id}` : "New app";
  $("editor-text").value = JSON.stringify(doc, null, 2);
  $("editor-errors").hidden = true;
  $("editor-force").checked = false;
  $("editor").showModal();
}

async function submitEditor() {
  let doc;
  try {
    doc = JSON.parse($("editor-text").value);
  } catch (e) {
    showError(new ApiError(0, { message: `Invalid JSON: ${e.message}` }, "the definition"));
    return;
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    showError(new ApiError(0, { message: "the definition must be one JSON object (an app)",
      details: [{ path: "/", errors: ["expected an object"] }] }));
    return;
  }
  const f = force("editor-force");
  try {
    if (state.editing) {
      const id = doc.id || state.editing;
      await api("PUT", `/v2/apps/${appPath(id)}?force=${f}&partialUpdate=false`, doc, `update ${id}`);
      state.selected = "/" + String(id).replace(/^\/+/, "");
    } else {
      const created = await api("POST", `/v2/apps?force=${f}`, doc, `create ${doc.id || "app"}`);
      if (created && created.id) state.selected = created.id;
    }
  } catch (e) {
    showError(e);
    return;
  }
  $("editor").close();
  clearError();
  state.versionsOf = null;
  scheduleRefresh(0);
}

// ------------------------------------------------------------------ wiring
function init() {
  $("filter").addEventListener("input", (e) => {
    state.filter = e.target.value.trim();
    $("apps-scroll").scrollTop = 0;
    renderApps();
  });
  $("apps-scroll").addEventListener("scroll", () => requestAnimationFrame(renderRows), { passive: true });
  window.addEventListener("resize", () => requestAnimationFrame(renderRows));
  $("new-app").addEventListener("click", () => openEditor(null));
  $("editor-cancel").addEventListener("click", () => $("editor").close());
  $("editor-submit").addEventListener("click", submitEditor);
  $("error-close").addEventListener("click", clearError);
  $("detail-close").addEventListener("click", () => { state.selected = null; state.detail = null; renderRows(); renderDetail(); });
  $("scale-btn").addEventListener("click", scaleSelected);
  $("restart-btn").addEventListener("click", restartSelected);
  $("delete-btn").addEventListener("click", deleteSelected);
  $("edit-btn").addEventListener("click", () => state.detail && openEditor(state.detail));
  connectEvents();
  refresh();
}

document.addEventListener("DOMContentLoaded", init);
