#include "proxy/admin/dashboard.h"

namespace slotwise::proxy {
namespace {

// The page, kept in one raw literal so the binary needs no installed files. Layout target:
// 1366x768 laptop screen (KPI row, then slot map | backends + ops/s history).
constexpr std::string_view kPage = R"slotwise(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Slotwise dashboard</title>
<style>
  :root { --bg:#0f1419; --panel:#1a222c; --line:#2c3844; --text:#e6edf3; --muted:#8b9aab;
          --ok:#3fb950; --warn:#d29922; --bad:#f85149; --accent:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; background:var(--bg); color:var(--text);
         font:14px/1.4 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
  header { display:flex; align-items:center; gap:16px; padding:10px 20px;
           border-bottom:1px solid var(--line); }
  header h1 { font-size:18px; margin:0; font-weight:600; }
  header .meta { color:var(--muted); font-size:13px; }
  #status { margin-left:auto; font-size:13px; }
  #status.ok::before, #status.bad::before { content:"\25CF  "; }
  #status.ok::before { color:var(--ok); } #status.bad::before { color:var(--bad); }
  main { padding:14px 20px; max-width:1366px; margin:0 auto; }
  .kpis { display:grid; grid-template-columns:repeat(6, 1fr); gap:12px; margin-bottom:14px; }
  .kpi { background:var(--panel); border:1px solid var(--line); border-radius:6px;
         padding:10px 14px; }
  .kpi .label { color:var(--muted); font-size:12px; text-transform:uppercase;
                letter-spacing:.04em; }
  .kpi .value { font-size:26px; font-weight:600; font-variant-numeric:tabular-nums; }
  .kpi .unit { font-size:13px; color:var(--muted); margin-left:4px; font-weight:400; }
  .grid { display:grid; grid-template-columns:420px 1fr; gap:14px; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:6px;
            padding:12px 14px; min-width:0; }
  section h2 { font-size:13px; margin:0 0 10px; color:var(--muted); text-transform:uppercase;
               letter-spacing:.04em; font-weight:600; }
  #slotmap { width:384px; height:384px; image-rendering:pixelated; display:block;
             background:#000; border:1px solid var(--line); cursor:crosshair; }
  #slotinfo { color:var(--muted); font-size:12px; height:18px; margin-top:4px; }
  #legend { list-style:none; margin:6px 0 0; padding:0; font-size:13px; }
  #legend li { display:flex; align-items:center; gap:8px; padding:2px 0; }
  .swatch { width:12px; height:12px; border-radius:2px; flex:none; }
  #legend .count { margin-left:auto; color:var(--muted); font-variant-numeric:tabular-nums; }
  table { width:100%; border-collapse:collapse; font-size:13px; }
  th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line);
           white-space:nowrap; }
  th { color:var(--muted); font-weight:600; }
  td.num { text-align:right; font-variant-numeric:tabular-nums; }
  .role-master { color:var(--accent); } .role-replica { color:var(--muted); }
  .health-unknown { color:var(--warn); } .health-up { color:var(--ok); }
  .health-down { color:var(--bad); }
  .note { color:var(--muted); font-size:12px; margin-top:6px; }
  #history { width:100%; height:120px; display:block; }
  .right { display:flex; flex-direction:column; gap:14px; min-width:0; }
</style>
</head>
<body data-js-errors="0" data-refreshes="0" data-fetch-errors="0">
<header>
  <h1>Slotwise</h1>
  <span class="meta" id="mapinfo">slot map: -</span>
  <span id="status">connecting…</span>
</header>
<main>
  <div class="kpis">
    <div class="kpi"><div class="label">Requests</div>
      <div class="value"><span id="ops" data-value="0">-</span><span class="unit">ops/s</span></div></div>
    <div class="kpi"><div class="label">Latency p50</div>
      <div class="value"><span id="p50">-</span><span class="unit" id="p50u"></span></div></div>
    <div class="kpi"><div class="label">Latency p99</div>
      <div class="value"><span id="p99">-</span><span class="unit" id="p99u"></span></div></div>
    <div class="kpi"><div class="label">Errors</div>
      <div class="value"><span id="errs">-</span><span class="unit">/s</span></div></div>
    <div class="kpi"><div class="label">Redirects</div>
      <div class="value"><span id="redirs">-</span><span class="unit">/s</span></div></div>
    <div class="kpi"><div class="label">Clients</div>
      <div class="value"><span id="clients">-</span><span class="unit">conns</span></div></div>
  </div>
  <div class="grid">
    <section>
      <h2>Slot map (16384 slots, 128 per row)</h2>
      <canvas id="slotmap" width="128" height="128" data-slots-drawn="0"></canvas>
      <div id="slotinfo">hover a pixel to see its slot</div>
      <ul id="legend"></ul>
    </section>
    <div class="right">
      <section>
        <h2>Backends</h2>
        <table>
          <thead><tr><th>Address</th><th>Role</th><th>Master</th><th class="num">Slots</th>
            <th>Health</th></tr></thead>
          <tbody id="backends"></tbody>
        </table>
        <div class="note" id="healthnote"></div>
      </section>
      <section>
        <h2>Requests per second (last 2 minutes)</h2>
        <canvas id="history" width="800" height="120"></canvas>
      </section>
    </div>
  </div>
</main>
<script>
"use strict";
(function () {
  const body = document.body;
  function recordError(message) {
    body.dataset.jsErrors = String(Number(body.dataset.jsErrors) + 1);
    body.dataset.lastError = String(message);
  }
  window.addEventListener("error", (e) => recordError(e.message || "error"));
  window.addEventListener("unhandledrejection", (e) => recordError(
      e.reason && e.reason.message ? e.reason.message : String(e.reason)));

  const kRefreshMs = 2000;
  const kHistory = 60;
  const kPalette = ["#58a6ff", "#f0883e", "#3fb950", "#d2a8ff", "#ff7b72", "#e3b341",
                    "#39c5cf", "#db61a2", "#a5d6ff", "#7ee787", "#ffa657", "#bc8cff"];

  // Token: "#token=" (never sent to the server) or "?token=", then kept for this tab only.
  function takeToken() {
    const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
    const fromQuery = new URLSearchParams(location.search).get("token");
    const token = fromHash || fromQuery;
    if (token) {
      sessionStorage.setItem("slotwise-token", token);
      history.replaceState(null, "", location.pathname);
    }
    return sessionStorage.getItem("slotwise-token") || "";
  }
  const token = takeToken();

  async function fetchText(path) {
    const headers = token ? { "Authorization": "Bearer " + token } : {};
    const r = await fetch(path, { headers: headers, cache: "no-store" });
    if (r.status === 401) {
      throw new Error(path + ": 401 unauthorized, open this page as /#token=<admin token>");
    }
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.text();
  }

  // Prometheus text format 0.0.4 → [{name, labels, value}]; comments and bad lines skipped.
  function parseProm(text) {
    const out = [];
    const lineRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/;
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (const line of text.split("\n")) {
      if (line === "" || line[0] === "#") continue;
      const m = lineRe.exec(line);
      if (!m) continue;
      const labels = {};
      if (m[3]) {
        for (const l of m[3].matchAll(labelRe)) {
          labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
        }
      }
      const v = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : Number(m[4]);
      out.push({ name: m[1], labels: labels, value: v });
    }
    return out;
  }

  function sumOf(samples, name) {
    let total = 0, seen = false;
    for (const s of samples) {
      if (s.name === name && Number.isFinite(s.value)) { total += s.value; seen = true; }
    }
    return seen ? total : null;
  }

  // Cumulative bucket counts of a histogram summed over every other label: [[le, count]].
  function buckets(samples, name) {
    const byLe = new Map();
    for (const s of samples) {
      if (s.name !== name + "_bucket" || s.labels.le === undefined) continue;
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      byLe.set(le, (byLe.get(le) || 0) + s.value);
    }
    return [...byLe.entries()].sort((a, b) => a[0] - b[0]);
  }

  // Like PromQL histogram_quantile: linear interpolation inside the bucket holding rank q.
  function quantile(q, cumulative) {
    if (cumulative.length === 0) return null;
    const total = cumulative[cumulative.length - 1][1];
    if (!(total > 0)) return null;
    const rank = q * total;
    let prevLe = 0, prevCount = 0;
    for (const [le, count] of cumulative) {
      if (count >= rank) {
        if (le === Infinity) return prevLe;
        if (count === prevCount) return le;
        return prevLe + (le - prevLe) * (rank - prevCount) / (count - prevCount);
      }
      prevLe = le; prevCount = count;
    }
    return prevLe;
  }

  function bucketDelta(now, before) {
    if (!before || before.length !== now.length) return now;
    return now.map(([le, c], i) => [le, Math.max(0, c - before[i][1])]);
  }

  function formatRate(v) {
    if (v === null) return "-";
    if (v >= 1e6) return (v / 1e6).toFixed(2) + "M";
    if (v >= 1e4) return (v / 1e3).toFixed(1) + "k";
    return v >= 100 ? v.toFixed(0) : v.toFixed(1);
  }

  function showLatency(id, seconds) {
    const el = document.getElementById(id), unit = document.getElementById(id + "u");
    if (seconds === null) { el.textContent = "-"; unit.textContent = ""; return; }
    if (seconds >= 1) { el.textContent = seconds.toFixed(2); unit.textContent = "s"; }
    else if (seconds >= 1e-3) { el.textContent = (seconds * 1e3).toFixed(2); unit.textContent = "ms"; }
    else { el.textContent = (seconds * 1e6).toFixed(0); unit.textContent = "µs"; }
  }

  let previous = null;      // {t, requests, errors, redirects, buckets}
  const opsHistory = [];

  function rate(now, before, key, dt) {
    if (!before || now[key] === null || before[key] === null || dt <= 0) return null;
    return Math.max(0, now[key] - before[key]) / dt;
  }

  function updateMetrics(text) {
    const samples = parseProm(text);
    const now = {
      t: performance.now() / 1000,
      // A counter family with no series yet has simply not counted anything: 0.
      requests: sumOf(samples, "slotwise_requests_total") || 0,
      errors: sumOf(samples, "slotwise_request_errors_total") || 0,
      redirects: sumOf(samples, "slotwise_redirects_total") || 0,
      buckets: buckets(samples, "slotwise_request_duration_seconds"),
    };
    const dt = previous ? now.t - previous.t : 0;
    const ops = rate(now, previous, "requests", dt);
    const opsEl = document.getElementById("ops");
    opsEl.textContent = formatRate(ops);
    if (ops !== null) opsEl.dataset.value = String(ops);
    document.getElementById("errs").textContent = formatRate(rate(now, previous, "errors", dt));
    document.getElementById("redirs").textContent =
        formatRate(rate(now, previous, "redirects", dt));
    // Percentiles of the last interval; the whole history when the interval saw no request.
    let recent = bucketDelta(now.buckets, previous && previous.buckets);
    if (recent.length === 0 || !(recent[recent.length - 1][1] > 0)) recent = now.buckets;
    showLatency("p50", quantile(0.5, recent));
    showLatency("p99", quantile(0.99, recent));
    const clients = sumOf(samples, "slotwise_client_connections");
    document.getElementById("clients").textContent = clients === null ? "-" : String(clients);
    const version = sumOf(samples, "slotwise_slot_map_version");
    const covered = sumOf(samples, "slotwise_slot_map_covered_slots");
    document.getElementById("mapinfo").textContent =
        "slot map v" + (version === null ? "-" : version) + " · " +
        (covered === null ? "-" : covered) + "/16384 slots covered";
    previous = now;
    if (ops !== null) {
      opsHistory.push(ops);
      if (opsHistory.length > kHistory) opsHistory.shift();
      drawHistory();
    }
  }

  function drawHistory() {
    const c = document.getElementById("history");
    const w = c.clientWidth || c.width;
    if (c.width !== w) c.width = w;
    const g = c.getContext("2d");
    g.clearRect(0, 0, c.width, c.height);
    const max = Math.max(1, ...opsHistory);
    g.fillStyle = "#8b9aab";
    g.font = "11px sans-serif";
    g.fillText("max " + formatRate(max) + " ops/s", 4, 12);
    g.strokeStyle = "#58a6ff";
    g.lineWidth = 2;
    g.beginPath();
    const step = c.width / (kHistory - 1);
    opsHistory.forEach((v, i) => {
      const x = c.width - (opsHistory.length - 1 - i) * step;
      const y = c.height - 4 - (v / max) * (c.height - 20);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }

  let slotOwner = new Array(16384).fill(null);

  function colorOf(index) {
    if (index < kPalette.length) return kPalette[index];
    return "hsl(" + ((index * 137.5) % 360) + ", 60%, 60%)";
  }

  function hexToRgb(color) {
    const probe = document.createElement("canvas").getContext("2d");
    probe.fillStyle = color;
    const hex = probe.fillStyle;  // normalised to #rrggbb
    return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  }

  function updateSlots(json) {
    const data = JSON.parse(json);
    // Ranges come in slot order, so masters are listed (and coloured) top to bottom of the map.
    const masters = [...new Set(data.ranges.map((r) => r.master))];
    const counts = new Map(masters.map((m) => [m, 0]));
    const rgb = new Map(masters.map((m, i) => [m, hexToRgb(colorOf(i))]));
    const canvas = document.getElementById("slotmap");
    const g = canvas.getContext("2d");
    const img = g.createImageData(128, 128);
    for (let i = 0; i < 16384; ++i) {  // uncovered slots: dark red
      img.data.set([72, 24, 24, 255], i * 4);
    }
    slotOwner = new Array(16384).fill(null);
    let drawn = 0;
    for (const r of data.ranges) {
      const color = rgb.get(r.master);
      for (let s = r.first; s <= r.last && s < 16384; ++s) {
        img.data.set([color[0], color[1], color[2], 255], s * 4);
        slotOwner[s] = r.master;
        ++drawn;
      }
      counts.set(r.master, counts.get(r.master) + (r.last - r.first + 1));
    }
    g.putImageData(img, 0, 0);
    canvas.dataset.slotsDrawn = String(drawn);
    const legend = document.getElementById("legend");
    legend.replaceChildren(...masters.map((m, i) => {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = colorOf(i);
      const name = document.createElement("span");
      name.textContent = m;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = counts.get(m) + " slots";
      li.append(sw, name, count);
      return li;
    }));
    if (drawn < 16384) {
      const li = document.createElement("li");
      li.innerHTML = '<span class="swatch" style="background:#481818"></span>';
      li.append("uncovered");
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = (16384 - drawn) + " slots";
      li.append(count);
      legend.append(li);
    }
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function updateBackends(json) {
    const data = JSON.parse(json);
    const rows = data.nodes.map((n) => {
      const tr = document.createElement("tr");
      tr.append(cell(n.address), cell(n.role, "role-" + n.role),
                cell(n.role === "master" ? "-" : n.master), cell(String(n.slots), "num"),
                cell(n.health, "health-" + n.health));
      return tr;
    });
    document.getElementById("backends").replaceChildren(...rows);
    document.getElementById("healthnote").textContent = data.health_tracked ? "" :
        "Health: the proxy does not track per-node reachability yet; shown as unknown.";
  }

  document.getElementById("slotmap").addEventListener("mousemove", (e) => {
    const c = e.currentTarget, rect = c.getBoundingClientRect();
    const x = Math.floor((e.clientX - rect.left) * 128 / rect.width);
    const y = Math.floor((e.clientY - rect.top) * 128 / rect.height);
    const slot = Math.min(127, Math.max(0, y)) * 128 + Math.min(127, Math.max(0, x));
    document.getElementById("slotinfo").textContent =
        "slot " + slot + " → " + (slotOwner[slot] || "uncovered");
  });

  async function refresh() {
    const jobs = [["/metrics", updateMetrics], ["/api/slots", updateSlots],
                  ["/api/backends", updateBackends]];
    const results = await Promise.allSettled(jobs.map(([path, apply]) =>
        fetchText(path).then(apply)));
    const failed = results.filter((r) => r.status === "rejected");
    body.dataset.fetchErrors = String(Number(body.dataset.fetchErrors) + failed.length);
    body.dataset.refreshes = String(Number(body.dataset.refreshes) + 1);
    const status = document.getElementById("status");
    status.className = failed.length ? "bad" : "ok";
    status.textContent = failed.length ? failed[0].reason.message :
        "live · updated " + new Date().toLocaleTimeString();
  }

  function loop() {
    refresh().finally(() => setTimeout(loop, kRefreshMs));
  }
  loop();
})();
</script>
</body>
</html>
)slotwise";

}  // namespace

std::string_view dashboardHtml() { return kPage; }

}  // namespace slotwise::proxy
