// The UI's actions: each posts to the JSON API with the page's CSRF token (the header a
// signed-in session's state-changing requests need) and shows the answer next to the
// control. Values are written with textContent: nothing from the server is parsed as HTML.
"use strict";

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

// Buttons with data-action (cancel, resume) on a run's page.
document.querySelectorAll("button[data-action]").forEach((button) => {
  button.addEventListener("click", async () => {
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
