// The dashboard: polls this node's public API (GET /network and, with an
// account's key, GET /files) and draws it. Plain DOM, no framework, no
// build step; everything it loads comes from the node itself.
"use strict";

const POLL_MS = Number(new URLSearchParams(location.search).get("interval")) || 2000;
const KEY_STORE = "dds.apiKey";
const JSONAPI = "application/vnd.api+json";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k === "style") e.style.cssText = v; // CSSOM: the page's CSP allows no inline style attribute
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)) + " " + units[i];
}

function duration(secs) {
  if (secs === undefined || secs === null) return "–";
  secs = Math.max(0, Math.floor(secs));
  const d = Math.floor(secs / 86400), h = Math.floor(secs % 86400 / 3600);
  const m = Math.floor(secs % 3600 / 60), s = secs % 60;
  if (d > 0) return d + "d " + h + "h";
  if (h > 0) return h + "h " + m + "m";
  if (m > 0) return m + "m " + s + "s";
  return s + "s";
}

function ago(iso) {
  if (!iso) return "–";
  return duration((Date.now() - Date.parse(iso)) / 1000) + " ago";
}

function shortID(id) {
  return id && id.length > 16 ? id.slice(0, 8) + "…" + id.slice(-6) : (id || "–");
}

function peerCode(id) {
  return el("code", { title: id, text: shortID(id) });
}

async function getJSON(path, key) {
  const headers = { Accept: JSONAPI };
  if (key) headers.Authorization = "Bearer " + key;
  const resp = await fetch(path, { headers, cache: "no-store" });
  let body = null;
  try { body = await resp.json(); } catch (_) { /* not JSON: the status says it */ }
  if (!resp.ok) {
    const e = body && body.errors && body.errors[0];
    const err = new Error(e ? (e.detail || e.title) : resp.status + " " + resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function showError(msg) {
  const b = $("#error");
  b.textContent = msg || "";
  b.hidden = !msg;
}

function renderMembers(net) {
  const tbody = $("#members tbody");
  const rows = [];
  let reachable = 0;
  for (const m of net.members) {
    if (m.reachable) reachable++;
    const used = m.capacity ? (m.capacity - (m.free ?? m.capacity)) / m.capacity : 0;
    const state = m.reachable
      ? el("span", { class: "badge ok", text: "reachable" })
      : el("span", { class: "badge bad", text: m.last_seen ? "unreachable" : "not heard from" });
    const http = m.http ? (m.http.startsWith("http") ? m.http : "http://" + m.http) : null;
    rows.push(el("tr", { class: m.reachable ? "up" : "down", "data-peer": m.peer_id, "data-reachable": String(m.reachable) },
      el("td", null, peerCode(m.peer_id), m.self ? el("span", { class: "badge self", text: "this node" }) : null,
        m.peer_id === net.leader ? el("span", { class: "badge warn", text: "leader", title: "leads the ledger" }) : null),
      el("td", null, el("span", { class: "badge role", text: m.role })),
      el("td", null, state),
      el("td", null, http ? el("a", { href: http + "/", text: m.http }) : "–"),
      el("td", null, bytes(m.stored)),
      el("td", null, m.capacity !== undefined
        ? el("span", null, el("span", { class: "bar", title: Math.round(used * 100) + "% of the capacity is not free (stored, or bounded by the disk)" },
          el("span", { style: "width:" + Math.min(100, Math.round(used * 100)) + "%" })),
        bytes(m.capacity) + " · " + bytes(m.free) + " free")
        : "–"),
      el("td", { class: "mono" }, m.ledger_index ?? "–"),
      el("td", null, m.version || "–"),
      el("td", null, m.self ? "now" : ago(m.last_seen))));
  }
  tbody.replaceChildren(...rows);
  $("#members-summary").textContent = reachable + " of " + net.members.length + " members reachable";
}

function card(label, value, sub) {
  return el("div", { class: "card" }, el("div", { class: "label", text: label }),
    el("div", { class: "value", text: value }), sub ? el("div", { class: "sub", text: sub }) : null);
}

function renderNode(n) {
  $("#node-cards").replaceChildren(
    card("stored", bytes(n.stored), "version " + n.version),
    card("free", bytes(n.free), "of " + bytes(n.capacity) + " offered" + (n.capacity - n.free > n.stored ? ", bounded by the disk" : "")),
    card("HTTP traffic in", bytes(n.http_bytes_in), bytes(n.upload_bytes) + " of uploads"),
    card("HTTP traffic out", bytes(n.http_bytes_out), bytes(n.read_bytes) + " of downloads"),
    card("quotes / s", n.quotes_per_second.toFixed(2), n.quotes + " quoted, " + n.attested + " attested"),
    card("holders replaced", String(n.holders_replaced), n.chunk_repairs + " chunks repaired"),
    card("audits failed", String(n.audits_failed)),
    card("uptime", duration(n.uptime)));
}

function renderEvents(events) {
  const ul = $("#events");
  if (!events.length) {
    ul.replaceChildren(el("li", { class: "muted", text: "nothing yet: holders replaced, audits failed, members joined or gone appear here" }));
    return;
  }
  const cls = { holder_replaced: "warn", audit_failed: "bad", member_removed: "bad", peer_gone: "bad", peer_back: "ok", member_joined: "ok" };
  ul.replaceChildren(...events.map((e) => el("li", { "data-kind": e.kind },
    el("time", { datetime: e.time, text: new Date(e.time).toLocaleString() }),
    el("span", { class: "badge " + (cls[e.kind] || "role"), text: e.kind.replace(/_/g, " ") }),
    el("span", null, e.message),
    e.peer ? el("span", null, "peer ", peerCode(e.peer)) : null,
    e.file ? el("span", null, "file ", el("code", { text: e.file })) : null)));
}

async function pollNetwork() {
  let doc;
  try {
    doc = await getJSON("/network");
  } catch (e) {
    const c = $("#conn");
    c.className = "conn lost";
    c.textContent = "no answer";
    showError("This node did not answer GET /network: " + e.message + ". Retrying every " + POLL_MS / 1000 + " s.");
    return;
  }
  // Drawing is outside the try: a bug here is an uncaught error in the
  // console (where the browser tests look), not a node that did not answer.
  const net = doc.data.attributes;
  $("#self-id").textContent = shortID(net.peer_id);
  $("#self-id").title = net.peer_id;
  $("#leader").textContent = net.leader ? shortID(net.leader) : "none";
  $("#leader").title = net.leader || "";
  $("#ledger-index").textContent = net.ledger_index;
  renderMembers(net);
  renderNode(net.node);
  renderEvents(net.events);
  const c = $("#conn");
  c.className = "conn live";
  c.textContent = "live · " + new Date().toLocaleTimeString();
  showError("");
}

async function pollFiles() {
  const key = localStorage.getItem(KEY_STORE);
  const table = $("#files");
  const status = $("#files-status");
  if (!key) {
    table.hidden = true;
    status.textContent = "No API key given: files are not shown.";
    return;
  }
  let doc;
  try {
    doc = await getJSON("/files?page[size]=100", key);
  } catch (e) {
    table.hidden = true;
    status.textContent = (e.status === 401 || e.status === 403)
      ? "This node refused the API key (" + e.message + ")."
      : "Could not list files: " + e.message;
    return;
  }
  const now = Date.now();
  table.querySelector("tbody").replaceChildren(...doc.data.map((f) => {
    const a = f.attributes;
    const left = a.expires_at ? (Date.parse(a.expires_at) - now) / 1000 : null;
    const st = { stored: "ok", storing: "warn", quoted: "role", extension_quoted: "role" }[a.state] || "bad";
    return el("tr", { "data-file": f.id },
      el("td", null, a.name),
      el("td", null, el("code", { title: f.id, text: shortID(f.id) })),
      el("td", null, el("span", { class: "badge " + st, text: a.state })),
      el("td", null, bytes(a.size)),
      el("td", { title: (a.replicas || []).join("\n") }, String((a.replicas || []).length)),
      el("td", null, left === null ? "–" : duration(left)));
  }));
  table.hidden = false;
  status.textContent = doc.data.length + " file(s)" + (doc.links && doc.links.next ? " (first 100 shown)" : "") + ".";
}

function setupKey() {
  const input = $("#api-key");
  input.value = localStorage.getItem(KEY_STORE) || "";
  $("#key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const k = input.value.trim();
    if (k) localStorage.setItem(KEY_STORE, k); else localStorage.removeItem(KEY_STORE);
    pollFiles();
  });
  $("#forget-key").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORE);
    input.value = "";
    pollFiles();
  });
}

async function loop() {
  try {
    await Promise.all([pollNetwork(), pollFiles()]);
  } finally {
    setTimeout(loop, POLL_MS); // on, also after a bug threw
  }
}

setupKey();
loop();
