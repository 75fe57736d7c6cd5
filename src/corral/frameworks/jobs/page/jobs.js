// corral jobs page: plain JavaScript over the framework's own REST API (Chronos's
// /v1/scheduler family plus corral's additions, see docs/jobs.md). The dependency graph is
// laid out by dagre (vendored, page/vendor/) and drawn here as SVG.
"use strict";

(function () {
  const REFRESH_MS = 2000;
  const TABLE_LIMIT = 500; // rows drawn at once; the filter narrows the rest
  const GRAPH_LIMIT = 300; // nodes drawn at once
  const SVG_NS = "http://www.w3.org/2000/svg";

  // ------------------------------------------------------------------ API
  // Paths are relative, so the page works behind a prefix (e.g. a proxy) as well as at /.
  const BASE = "v1/scheduler/";
  const enc = encodeURIComponent;

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function call(method, path, body) {
    const init = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(BASE + path, init);
    } catch (err) {
      throw new ApiError(0, "cannot reach the jobs API: " + err.message);
    }
    const text = await resp.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = text;
      }
    }
    if (!resp.ok) {
      let message = data && typeof data === "object" && data.message ? data.message : text;
      if (data && typeof data === "object" && Array.isArray(data.details) && data.details.length) {
        message += ": " + data.details
          .map((d) => (d.path ? d.path + " " : "") + (d.errors || [d.message || ""]).join(", "))
          .join("; ");
      }
      throw new ApiError(resp.status, `${method} ${path}: ${resp.status} ${message || resp.statusText}`);
    }
    return data;
  }

  const api = {
    jobs: () => call("GET", "jobs"),
    summary: () => call("GET", "jobs/summary"),
    job: (name) => call("GET", "job/" + enc(name)),
    add: (job) =>
      call("POST", job.parents && job.parents.length ? "dependency" : "iso8601", job),
    run: (name) => call("PUT", "job/" + enc(name)),
    remove: (name) => call("DELETE", "job/" + enc(name)),
    disable: (name) => call("PUT", "job/" + enc(name) + "/disable"),
    enable: (name) => call("PUT", "job/" + enc(name) + "/enable"),
    history: (name) => call("GET", "job/" + enc(name) + "/runs?limit=50"),
    allHistory: () => call("GET", "runs?limit=50"),
  };

  // ------------------------------------------------------------------ state
  const state = {
    jobs: [],
    summary: new Map(), // name -> {state, status, ...}
    filter: "",
    selected: null, // job name whose history is shown
    graphKey: "",
    busy: false,
  };

  const $ = (sel) => document.querySelector(sel);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  // ------------------------------------------------------------------ errors
  function showError(err) {
    $("#error-text").textContent = err && err.message ? err.message : String(err);
    $("#error").hidden = false;
  }
  function clearError() {
    $("#error").hidden = true;
    $("#error-text").textContent = "";
  }

  // ------------------------------------------------------------------ job facts
  function parentsOf(job) {
    return Array.isArray(job.parents) ? job.parents : [];
  }

  function lastResult(job) {
    if (job.disabled) return "disabled";
    const s = job.state || (state.summary.get(job.name) || {}).state;
    if (typeof s === "string" && /running|queued/.test(s)) return "running";
    if (typeof job.lastResult === "string" && job.lastResult) return job.lastResult;
    const ok = job.lastSuccess || "";
    const bad = job.lastError || "";
    if (!ok && !bad) return "fresh";
    return ok >= bad ? "success" : "failure";
  }

  function resultOnly(job) {
    // the result of the last finished run, ignoring disabled/running
    if (typeof job.lastResult === "string" && job.lastResult) return job.lastResult;
    const ok = job.lastSuccess || "";
    const bad = job.lastError || "";
    if (!ok && !bad) return "fresh";
    return ok >= bad ? "success" : "failure";
  }

  function nextRun(job) {
    if (job.disabled) return "—";
    const n = job.nextRun || job.next_run;
    if (n) return fmtTime(n);
    if (parentsOf(job).length) return "when its parents succeed";
    return "—";
  }

  function fmtTime(value) {
    if (!value) return "";
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) return String(value);
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function trigger(job) {
    const p = parentsOf(job);
    if (p.length) return "after " + p.join(", ");
    const tz = job.scheduleTimeZone ? ` (${job.scheduleTimeZone})` : "";
    return (job.schedule || "once") + tz;
  }

  function matches(job, q) {
    if (!q) return true;
    return (
      job.name.toLowerCase().includes(q) ||
      String(job.command || "").toLowerCase().includes(q)
    );
  }

  // ------------------------------------------------------------------ jobs table
  async function act(button, what, fn) {
    button.disabled = true;
    try {
      await fn();
      clearError();
      await refresh();
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
    }
  }

  function renderJobs() {
    const tbody = $("#jobs tbody");
    const q = state.filter.trim().toLowerCase();
    const shown = state.jobs.filter((j) => matches(j, q));
    $("#job-count").textContent =
      `(${shown.length === state.jobs.length ? state.jobs.length : shown.length + " of " + state.jobs.length})`;
    $("#jobs-empty").hidden = state.jobs.length > 0;
    const rows = [];
    for (const job of shown.slice(0, TABLE_LIMIT)) {
      const res = resultOnly(job);
      const summary = state.summary.get(job.name);
      const runState = job.disabled ? "disabled" : job.state || (summary && summary.state) || "idle";
      const row = el(
        "tr",
        {
          "data-job": job.name,
          class: [job.disabled ? "is-disabled" : "", state.selected === job.name ? "selected" : ""]
            .join(" ").trim() || null,
        },
        el("td", { class: "name", text: job.name }),
        el("td", { class: "trigger", text: trigger(job) }),
        el("td", { class: "next", text: nextRun(job) }),
        el("td", { class: "result" }, el("span", { class: "badge " + res, text: res })),
        el("td", { class: "state", text: runState }),
        el("td", { class: "counts", text: `${job.successCount || 0} ok / ${job.errorCount || 0} failed` }),
        el(
          "td",
          { class: "actions" },
          el("button", {
            type: "button", class: "run", text: "run now",
            onclick: (e) => act(e.currentTarget, "run", () => api.run(job.name)),
          }),
          " ",
          el("button", {
            type: "button", class: "toggle", text: job.disabled ? "enable" : "disable",
            onclick: (e) =>
              act(e.currentTarget, "toggle", () =>
                job.disabled ? api.enable(job.name) : api.disable(job.name)),
          }),
          " ",
          el("button", {
            type: "button", class: "show-history", text: "history",
            onclick: () => selectJob(job.name),
          }),
          " ",
          el("button", {
            type: "button", class: "delete danger", text: "delete",
            onclick: (e) => {
              if (!window.confirm(`Delete job ${job.name}?`)) return;
              if (state.selected === job.name) state.selected = null;
              act(e.currentTarget, "delete", () => api.remove(job.name));
            },
          })
        )
      );
      rows.push(row);
    }
    if (shown.length > TABLE_LIMIT) {
      rows.push(el("tr", {}, el("td", {
        colspan: "7", class: "muted",
        text: `showing ${TABLE_LIMIT} of ${shown.length}: narrow the filter to see the rest`,
      })));
    }
    tbody.replaceChildren(...rows);
  }

  // ------------------------------------------------------------------ graph
  function graphJobs() {
    const q = state.filter.trim().toLowerCase();
    let jobs = state.jobs.filter((j) => matches(j, q));
    if (jobs.length > GRAPH_LIMIT && state.selected) {
      // draw the selected job's neighbourhood instead
      const byName = new Map(state.jobs.map((j) => [j.name, j]));
      const keep = new Set([state.selected]);
      const sel = byName.get(state.selected);
      if (sel) parentsOf(sel).forEach((p) => keep.add(p));
      state.jobs.forEach((j) => { if (parentsOf(j).includes(state.selected)) keep.add(j.name); });
      jobs = state.jobs.filter((j) => keep.has(j.name));
    }
    return jobs.slice(0, GRAPH_LIMIT);
  }

  function renderGraph() {
    const root = $("#graph");
    const jobs = graphJobs();
    $("#graph-empty").hidden = jobs.length > 0;
    const names = new Set(jobs.map((j) => j.name));
    const edges = [];
    for (const j of jobs) for (const p of parentsOf(j)) if (names.has(p)) edges.push([p, j.name]);
    const key = JSON.stringify([[...names].sort(), edges.map((e) => e.join("\u0000")).sort()]);
    if (key !== state.graphKey) {
      state.graphKey = key;
      layoutGraph(root, jobs, edges);
    }
    // colours change without re-layout
    const byName = new Map(jobs.map((j) => [j.name, j]));
    root.querySelectorAll("g.node").forEach((g) => {
      const job = byName.get(g.getAttribute("data-job"));
      if (!job) return;
      const res = lastResult(job);
      g.setAttribute("class", "node " + res + (state.selected === job.name ? " selected" : ""));
      g.setAttribute("data-result", res);
      const title = g.querySelector("title");
      if (title) title.textContent = `${job.name}: ${res}\n${trigger(job)}\nnext: ${nextRun(job)}`;
    });
  }

  function layoutGraph(root, jobs, edges) {
    root.replaceChildren();
    if (!jobs.length) {
      root.setAttribute("width", "0");
      root.setAttribute("height", "0");
      return;
    }
    if (typeof window.dagre === "undefined") {
      showError(new Error("the graph layout library (page/vendor/dagre.min.js) did not load"));
      return;
    }
    const g = new window.dagre.graphlib.Graph();
    g.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 50, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const j of jobs) g.setNode(j.name, { width: Math.max(70, 8 * j.name.length + 20), height: 28 });
    for (const [p, c] of edges) g.setEdge(p, c);
    window.dagre.layout(g);
    const info = g.graph();
    root.setAttribute("width", String(Math.ceil(info.width)));
    root.setAttribute("height", String(Math.ceil(info.height)));
    root.setAttribute("viewBox", `0 0 ${Math.ceil(info.width)} ${Math.ceil(info.height)}`);

    const defs = svg("defs");
    const marker = svg("marker", {
      id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
      markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse",
    });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z" }));
    defs.append(marker);
    root.append(defs);

    const edgeLayer = svg("g", { class: "edges" });
    for (const e of g.edges()) {
      const pts = g.edge(e).points || [];
      if (!pts.length) continue;
      const d = "M " + pts.map((p) => `${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" L ");
      edgeLayer.append(svg("path", {
        class: "edge", d, "marker-end": "url(#arrow)", "data-from": e.v, "data-to": e.w,
      }));
    }
    root.append(edgeLayer);

    const nodeLayer = svg("g", { class: "nodes" });
    for (const name of g.nodes()) {
      const n = g.node(name);
      const grp = svg("g", { class: "node", "data-job": name, transform: `translate(${n.x - n.width / 2},${n.y - n.height / 2})` });
      grp.append(svg("title"));
      grp.append(svg("rect", { width: String(n.width), height: String(n.height), rx: "5" }));
      const text = svg("text", { x: String(n.width / 2), y: String(n.height / 2 + 4), "text-anchor": "middle" });
      text.textContent = name;
      grp.append(text);
      grp.addEventListener("click", () => selectJob(name));
      nodeLayer.append(grp);
    }
    root.append(nodeLayer);
  }

  // ------------------------------------------------------------------ history
  function selectJob(name) {
    state.selected = name;
    $("#history-job").textContent = name ? "of " + name : "";
    $("#history-all").hidden = !name;
    $("#history tbody").replaceChildren(); // never show one job's runs under another's name
    renderJobs();
    renderGraph();
    refreshHistory();
  }

  function runsOf(data) {
    if (Array.isArray(data)) return data;
    if (data && Array.isArray(data.runs)) return data.runs;
    return [];
  }

  async function refreshHistory() {
    const asked = state.selected;
    let runs;
    try {
      runs = runsOf(state.selected ? await api.history(state.selected) : await api.allHistory());
    } catch (err) {
      if (state.selected) showError(err);
      runs = [];
    }
    if (asked !== state.selected) return;
    const tbody = $("#history tbody");
    $("#history-empty").hidden = runs.length > 0;
    $("#history-empty").textContent = state.selected
      ? `${state.selected} has not run yet.`
      : "No runs yet.";
    tbody.replaceChildren(...runs.map((r) => {
      const result = r.state || r.result || "";
      const logs = el("td", { class: "logs" });
      const links = r.logs || {};
      // the API gives absolute paths (/v1/runs/...); keep them relative to the page
      const rel = (u) => (u && u.startsWith("/") ? u.slice(1) : u);
      if (links.stdout) logs.append(el("a", { href: rel(links.stdout), target: "_blank", rel: "noopener", text: "stdout" }));
      if (links.stderr) logs.append(" ", el("a", { href: rel(links.stderr), target: "_blank", rel: "noopener", text: "stderr" }));
      if (!links.stdout && !links.stderr && r.sandbox && r.sandbox.path) {
        // no log route: say where the output is (the agent's /files serves that path)
        logs.append(el("code", { class: "sandbox", title: "sandbox on " + (r.host || r.sandbox.agentId), text: (r.host ? r.host + ":" : "") + r.sandbox.path }));
      }
      let why = r.reason || "";
      if (r.exitStatus !== undefined && r.exitStatus !== null && r.exitStatus !== 0 && !why.includes("status " + r.exitStatus)) {
        why = (why ? why + " " : "") + "(exit status " + r.exitStatus + ")";
      }
      return el(
        "tr",
        { "data-run": r.id || "", "data-job": r.job || state.selected || "", "data-result": result, "data-kind": r.kind || "" },
        el("td", { text: r.job || state.selected || "" }),
        el("td", { class: "run-id" }, el("code", { text: r.id || "" }), r.kind ? el("span", { class: "muted", text: " " + r.kind }) : null),
        el("td", { text: fmtTime(r.scheduled) }),
        el("td", { text: fmtTime(r.started) }),
        el("td", { text: fmtTime(r.ended) }),
        el("td", { class: "result" },
          el("span", { class: "badge " + String(result).toLowerCase(), text: result }),
          why ? el("span", { class: "muted", text: " " + why }) : null),
        el("td", { text: r.attempt !== undefined ? String(r.attempt) : "" }),
        logs
      );
    }));
  }

  // ------------------------------------------------------------------ add a job
  function jobFromForm(form) {
    const f = new FormData(form);
    const text = (k) => String(f.get(k) || "").trim();
    const job = { name: text("name"), command: text("command"), owner: text("owner") };
    const parents = text("parents").split(/[\s,]+/).filter(Boolean);
    if (parents.length) job.parents = parents;
    else if (text("schedule")) job.schedule = text("schedule");
    if (text("scheduleTimeZone")) job.scheduleTimeZone = text("scheduleTimeZone");
    for (const k of ["cpus", "mem", "retries"]) if (text(k) !== "") job[k] = Number(text(k));
    job.disabled = f.get("disabled") === "on";
    return job;
  }

  async function submitJob(job, button) {
    const out = $("#add-result");
    out.className = "muted";
    out.textContent = "";
    button.disabled = true;
    try {
      await api.add(job);
      clearError();
      out.className = "ok";
      out.textContent = `job ${job.name} saved`;
      await refresh();
      return true;
    } catch (err) {
      showError(err);
      return false;
    } finally {
      button.disabled = false;
    }
  }

  function setupForms() {
    const form = $("#add-form");
    const jsonForm = $("#add-json");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (await submitJob(jobFromForm(form), $("#add-submit"))) form.reset();
    });
    jsonForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      let job;
      try {
        job = JSON.parse($("#job-json").value);
      } catch (err) {
        showError(new Error("the job JSON does not parse: " + err.message));
        return;
      }
      if (!job || typeof job !== "object" || Array.isArray(job)) {
        showError(new Error("the job JSON must be an object, e.g. {\"name\": …, \"command\": …}"));
        return;
      }
      await submitJob(job, $("#add-json-submit"));
    });
    const tabs = [["#tab-form", form], ["#tab-json", jsonForm]];
    for (const [id, panel] of tabs) {
      $(id).addEventListener("click", () => {
        for (const [other, p] of tabs) {
          $(other).classList.toggle("active", other === id);
          $(other).setAttribute("aria-selected", String(other === id));
          p.hidden = other !== id;
        }
      });
    }
  }

  // ------------------------------------------------------------------ refresh loop
  async function refresh() {
    if (state.busy) return;
    state.busy = true;
    const t0 = performance.now();
    try {
      const [jobs, summary] = await Promise.all([
        api.jobs(),
        Promise.resolve({ jobs: [] }),
      ]);
      state.jobs = (Array.isArray(jobs) ? jobs : jobs.jobs || []).slice()
        .sort((a, b) => a.name.localeCompare(b.name));
      state.summary = new Map(((summary && summary.jobs) || []).map((s) => [s.name, s]));
      const status = $("#status");
      status.textContent = `${state.jobs.length} jobs · updated ${new Date().toLocaleTimeString()}`;
      status.classList.remove("down");
      renderJobs();
      renderGraph();
    } catch (err) {
      const status = $("#status");
      status.textContent = "API unreachable";
      status.classList.add("down");
      showError(err);
    } finally {
      state.busy = false;
      // a big list (10,000 jobs is ~7 MB) is fetched less often: at most 5% of the time
      state.every = Math.max(REFRESH_MS, 20 * (performance.now() - t0));
    }
    refreshHistory();
  }

  function loop() {
    setTimeout(async () => {
      await refresh();
      loop();
    }, state.every || REFRESH_MS);
  }

  function start() {
    $("#error-close").addEventListener("click", clearError);
    $("#history-all").addEventListener("click", () => selectJob(null));
    $("#search").addEventListener("input", (e) => {
      state.filter = e.target.value;
      renderJobs();
      renderGraph();
    });
    setupForms();
    refresh().then(loop);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
