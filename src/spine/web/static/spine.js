// The UI's behaviour, one file served from this package (the pages' policy runs no inline
// script): actions posted to the JSON API with the page's CSRF token, the graphs and
// charts drawn from the JSON blocks the server puts in each page (cytoscape with dagre,
// Chart.js; pinned copies under /static/vendor), and live pages refreshed in place.
// Values are written with textContent or handed to the libraries as data: nothing from
// the server is parsed as HTML.
"use strict";

const COLOURS = {
  COMPLETED: "#5cb85c", FAILED: "#d9534f", RETRIED: "#f0ad4e", RUNNING: "#4a90d9",
  WAITING: "#9c6ade", PENDING: "#e0e0e0", SKIPPED: "#bbbbbb", CANCELLED: "#9e9e9e", PARTIAL: "#e6a23c",
};

async function spinePost(url, body) {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body || {}),
  });
  let answer = {};
  try { answer = await response.json(); } catch (error) { answer = {}; }
  return { ok: response.ok, status: response.status, answer };
}

function spineDetail(answer, status) {
  const detail = answer.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  return `HTTP ${status}`;
}

// Buttons with data-action (cancel, resume) on a run's page; listened for on the
// document, as a live refresh replaces the buttons.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const message = document.getElementById("action-message");
  button.disabled = true;
  const result = await spinePost(`/api/runs/${encodeURIComponent(button.dataset.run)}/${button.dataset.action}`);
  if (result.ok && result.answer.outcome === "requested") {
    message.className = "note";
    message.textContent = "cancel requested: the run stops at its next step boundary";
    return;
  }
  if (result.ok) { window.location.reload(); return; }
  message.className = "error";
  message.textContent = spineDetail(result.answer, result.status);
  button.disabled = false;
});

// A JSON object typed in a textarea, or the reason it is not one.
function spineObject(text, label) {
  if (!text.trim()) return { value: {} };
  let value;
  try { value = JSON.parse(text); } catch (error) { return { error: `${label}: not JSON (${error.message})` }; }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { error: `${label}: must be a JSON object, such as {"day": "2024-01-31"}` };
  }
  return { value };
}

// The start form on a workflow's page: checked here as it is typed, and by the server.
const startForm = document.getElementById("start-run");
if (startForm) {
  const message = document.getElementById("start-message");
  const fields = ["params", "partition"].map((name) => startForm.elements[name]);
  const check = () => {
    const errors = fields.map((field) => spineObject(field.value, field.name).error).filter(Boolean);
    message.className = "error";
    message.textContent = errors.join("; ");
    startForm.querySelector("button").disabled = errors.length > 0;
    return errors.length === 0;
  };
  fields.forEach((field) => field.addEventListener("input", check));
  startForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!check()) return;
    const [params, partition] = fields.map((field) => spineObject(field.value, field.name).value);
    const result = await spinePost(`/api/workflows/${startForm.dataset.workflow}/runs`, { params, partition });
    if (result.ok) { window.location.href = `/runs/${encodeURIComponent(result.answer.run_id)}`; return; }
    message.className = "error";
    message.textContent = spineDetail(result.answer, result.status);
  });
}

// The fork form on a run's page: a new run from the chosen step, with params over the run's.
const forkForm = document.getElementById("fork-run");
if (forkForm) {
  forkForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = document.getElementById("action-message");
    const params = spineObject(forkForm.elements.params.value, "params");
    message.className = "error";
    if (params.error) { message.textContent = params.error; return; }
    const body = { from_step: forkForm.elements.from_step.value, params: params.value };
    const result = await spinePost(`/api/runs/${encodeURIComponent(forkForm.dataset.run)}/fork`, body);
    if (result.ok) { window.location.href = `/runs/${encodeURIComponent(result.answer.run_id)}`; return; }
    message.textContent = spineDetail(result.answer, result.status);
  });
}

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    await spinePost("/logout");
    window.location.href = "/login";
  });
}

// -- drawing -----------------------------------------------------------------------

function spineData(id) {
  return JSON.parse(document.getElementById(id).textContent);
}

function seconds(value) {
  if (value >= 100) return `${value.toFixed(0)} s`;
  if (value >= 1) return `${value.toFixed(2)} s`;
  return `${(value * 1000).toFixed(1)} ms`;
}

// A workflow's steps as boxes and arrows: coloured by status on a run's page (grey:
// not reached), the arrows the run went along bold, the others dashed.
function drawGraph(box) {
  const graph = spineData(box.dataset.graph);
  const nodes = graph.nodes.map((n) => {
    const lines = n.label.split("\n");
    return { data: { ...n, w: Math.max(...lines.map((l) => l.length)) * 7.4 + 26, h: lines.length * 16 + 16 } };
  });
  const edges = graph.edges.map((e, i) => ({ data: { ...e, id: `edge${i}` } }));
  if (box.spineGraph) box.spineGraph.destroy();
  box.spineGraph = cytoscape({
    container: box,
    elements: [...nodes, ...edges],
    layout: { name: "dagre", rankDir: "TB", nodeSep: 25, rankSep: 30, padding: 12 },
    maxZoom: 1.6,
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: {
        shape: (n) => (n.data("kind") === "choice" ? "diamond" : "round-rectangle"),
        width: "data(w)", height: "data(h)", label: "data(label)", "text-wrap": "wrap",
        "text-valign": "center", "font-size": 12, "font-family": "system-ui, sans-serif",
        "background-color": (n) => COLOURS[n.data("status")] || "#eef4fb",
        "border-width": (n) => (n.data("kind") === "map" ? 4 : 1),
        "border-style": (n) => (n.data("kind") === "map" ? "double" : "solid"),
        "border-color": "#555",
      } },
      { selector: "edge", style: {
        "curve-style": "bezier", "target-arrow-shape": "triangle", label: "data(label)",
        "font-size": 10, "text-background-color": "#fff", "text-background-opacity": 1,
        width: (e) => (e.data("taken") ? 3 : 1.5),
        "line-color": (e) => (e.data("taken") === false ? "#bbb" : "#333"),
        "target-arrow-color": (e) => (e.data("taken") === false ? "#bbb" : "#333"),
        "line-style": (e) => (e.data("taken") === false ? "dashed" : "solid"),
      } },
    ],
  });
  box.dataset.drawn = String(graph.nodes.length);
}

const BASE = { animation: false, maintainAspectRatio: false, responsive: true };

// Each step attempt as a bar from its start to its end, on an axis of seconds.
function drawTimeline(canvas, bars) {
  return new Chart(canvas, {
    type: "bar",
    data: {
      labels: bars.map((b) => b.label),
      datasets: [{ data: bars.map((b) => [b.start, b.end]), minBarLength: 3,
                   backgroundColor: bars.map((b) => COLOURS[b.status] || "#888") }],
    },
    options: { ...BASE, indexAxis: "y",
      plugins: { legend: { display: false }, tooltip: { callbacks: {
        label: (c) => { const b = bars[c.dataIndex]; return `${b.status}: ${seconds(b.end - b.start)}, from ${seconds(b.start)}`; },
      } } },
      scales: { x: { type: "linear", beginAtZero: true, title: { display: true, text: "time since the run started" },
                     ticks: { callback: (v) => seconds(v) } } } },
  });
}

// Each ended run's duration on a logarithmic axis: one slow run does not flatten the rest.
function drawDurations(canvas, runs) {
  return new Chart(canvas, {
    type: "bar",
    data: {
      labels: runs.map((r) => (r.started_at || "").slice(0, 19).replace("T", " ")),
      datasets: [{ data: runs.map((r) => Math.max(r.seconds, 0.0001)), minBarLength: 2,
                   backgroundColor: runs.map((r) => COLOURS[r.status] || "#888") }],
    },
    options: { ...BASE,
      onClick: (event, found) => { if (found.length) window.location.href = `/runs/${runs[found[0].index].run_id}`; },
      plugins: { legend: { display: false }, tooltip: { callbacks: {
        title: (items) => runs[items[0].dataIndex].run_id,
        label: (c) => { const r = runs[c.dataIndex]; return `${r.status}: ${seconds(r.seconds)} (started ${c.label} UTC)`; },
      } } },
      scales: {
        x: { title: { display: true, text: "run start (UTC)" }, ticks: { maxTicksLimit: 8 } },
        y: { type: "logarithmic", title: { display: true, text: "duration (log scale)" },
             ticks: { callback: (v) => seconds(v) } },
      } },
  });
}

// The share of valid records each quality report found, over time.
function drawQuality(canvas, reports) {
  return new Chart(canvas, {
    type: "line",
    data: {
      labels: reports.map((q) => String(q.completed_at).slice(0, 19).replace("T", " ")),
      datasets: [{ data: reports.map((q) => q.quality.valid_rate * 100), borderColor: "#0b5cad",
                   pointBackgroundColor: reports.map((q) => (q.quality.passed ? COLOURS.COMPLETED : COLOURS.FAILED)),
                   pointRadius: 4 }],
    },
    options: { ...BASE,
      plugins: { legend: { display: false }, tooltip: { callbacks: {
        label: (c) => { const q = reports[c.dataIndex]; return `${q.step_name}: ${c.parsed.y.toFixed(1)}% valid of ${q.quality.record_count} (${q.quality.passed ? "passed" : "FAILED"})`; },
      } } },
      scales: {
        x: { title: { display: true, text: "report (UTC)" }, ticks: { maxTicksLimit: 8 } },
        y: { min: 0, max: 100, title: { display: true, text: "valid records (%)" } },
      } },
  });
}

const CHARTS = {
  timeline: (canvas, data) => drawTimeline(canvas, data),
  durations: (canvas, data) => drawDurations(canvas, data.durations),
  quality: (canvas, data) => drawQuality(canvas, data.quality),
};

function spineDraw(root) {
  root.querySelectorAll("[data-graph]").forEach(drawGraph);
  root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    CHARTS[canvas.dataset.chart](canvas, spineData(canvas.dataset.source));
    canvas.dataset.drawn = "1";
  });
}

spineDraw(document);

// -- live pages --------------------------------------------------------------------

// While something a page shows is live (the server marks its body data-live), fetch the
// page again every two seconds and put in place each [data-refresh] part that changed.
const served = new Map();
document.querySelectorAll("[data-refresh]").forEach((part) => served.set(part.id, part.innerHTML));

async function spineRefresh() {
  let fresh;
  try {
    const response = await fetch(window.location.href, { credentials: "same-origin" });
    if (!response.ok) return true;  // a hiccup: try again
    fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  } catch (error) {
    return true;
  }
  document.querySelectorAll("[data-refresh]").forEach((part) => {
    const now = fresh.getElementById(part.id);
    if (!now || served.get(part.id) === now.innerHTML) return;
    part.querySelectorAll("canvas[data-chart]").forEach((canvas) => Chart.getChart(canvas)?.destroy());
    part.querySelectorAll("[data-graph]").forEach((box) => box.spineGraph?.destroy());
    const adopted = document.importNode(now, true);
    part.replaceWith(adopted);
    served.set(adopted.id, now.innerHTML);
    spineDraw(adopted);
  });
  return fresh.body.dataset.live === "1";
}

if (document.body.dataset.live === "1") {
  const follow = async () => { if (await spineRefresh()) setTimeout(follow, 2000); else delete document.body.dataset.live; };
  setTimeout(follow, 2000);
}
