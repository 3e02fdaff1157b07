// Jadechain console: a few helpers over the REST API (session cookie + CSRF double-submit header).
"use strict";

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )jadechain_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrfToken()},
    body: body === undefined || method === "GET" ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    let message = (data && data.message) || ("HTTP " + response.status);
    if (data && data.details && data.details.line) {
      message += " — line " + data.details.line + ", column " + data.details.column + " [" + data.details.rule + "]";
    }
    // An expired session goes to the sign-in page; on that page a 401 is the answer to a wrong password.
    if (response.status === 401 && location.pathname !== "/ui/login") {
      location.href = "/ui/login?next=" + encodeURIComponent(location.pathname);
    }
    throw new Error(message);
  }
  return data;
}

function setPath(target, path, value) {
  const parts = path.split(".");
  let node = target;
  parts.forEach((part, index) => {
    const last = index === parts.length - 1;
    const nextIsIndex = !last && /^\d+$/.test(parts[index + 1]);
    const key = /^\d+$/.test(part) ? parseInt(part, 10) : part;
    if (last) { node[key] = value; return; }
    if (node[key] === undefined) node[key] = nextIsIndex ? [] : {};
    node = node[key];
  });
}

function formData(form) {
  const out = {};
  for (const element of form.elements) {
    if (!element.name || element.disabled) continue;
    let value = element.type === "checkbox" ? element.checked : element.value;
    if (value === "" && element.dataset.optional !== undefined) continue;
    if (element.dataset.type === "int") value = parseInt(value, 10);
    if (element.dataset.type === "json") value = JSON.parse(value || "null");
    setPath(out, element.name, value);
  }
  if (out.nodes) out.nodes = out.nodes.filter(n => n && n.count > 0);
  return out;
}

function showError(container, message) {
  let box = container.querySelector(":scope > .error");
  if (!box) { box = document.createElement("p"); box.className = "error"; container.appendChild(box); }
  box.textContent = message;
}

function fillPath(template, data) {
  return template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(data[name]));
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.dataset.api) return;
  event.preventDefault();
  const [method, path] = form.dataset.api.split(" ");
  const body = formData(form);
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  try {
    const data = await api(method, fillPath(path, body), body);
    const then = form.dataset.then || "reload";
    if (then === "reload") location.reload();
    else if (then.startsWith("go:")) location.href = fillPath(then.slice(3), data);
    else if (then.startsWith("show:")) {
      document.getElementById(then.slice(5)).textContent = JSON.stringify(data, null, 2);
      if (button) button.disabled = false;
    }
  } catch (error) {
    if (button) button.disabled = false;
    showError(form, error.message);
  }
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-action]");
  if (!button) return;
  event.preventDefault();
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  const [method, path] = button.dataset.action.split(" ");
  button.disabled = true;
  try {
    await api(method, path, button.dataset.body ? JSON.parse(button.dataset.body) : {});
    location.reload();
  } catch (error) {
    button.disabled = false;
    showError(button.closest("td, div, form") || document.body, error.message);
  }
});

function escapeHtml(value) {
  return String(value === null || value === undefined ? "" : value)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function drawChart(canvas, series, label) {
  const context = canvas.getContext("2d");
  const width = canvas.width, height = canvas.height;
  context.clearRect(0, 0, width, height);
  context.strokeStyle = "#ccc"; context.strokeRect(0, 0, width, height);
  const values = series.map(p => p[1]).filter(v => v !== null);
  const max = Math.max(1, ...values);
  context.fillStyle = "#333"; context.font = "12px sans-serif";
  context.fillText(label + " (max " + max.toFixed(1) + ")", 6, 14);
  if (series.length < 2) return;
  const t0 = series[0][0], t1 = series[series.length - 1][0] || t0 + 1;
  context.strokeStyle = "#0a7"; context.lineWidth = 2; context.beginPath();
  let started = false;
  for (const [t, v] of series) {
    if (v === null) continue;
    const x = (t - t0) / Math.max(1e-9, t1 - t0) * (width - 10) + 5;
    const y = height - 5 - (v / max) * (height - 25);
    if (!started) { context.moveTo(x, y); started = true; } else { context.lineTo(x, y); }
  }
  context.stroke();
}
