/* peerguard operations page: asks for an admin key, then reads the JSON API.
   Everything shown is written with textContent (no HTML from data). */
(function () {
  "use strict";

  const KEY_STORE = "peerguard.adminKey";
  const REFRESH_MS = 30000;
  const $ = (id) => document.getElementById(id);
  const charts = {};
  let timer = null;

  function key() { return sessionStorage.getItem(KEY_STORE); }

  function setStatus(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.className = isError ? "error" : "";
  }

  async function api(method, path, body) {
    const init = { method, headers: { Authorization: "Bearer " + key() } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const payload = await response.json().catch(() => ({}));
    if (!response.ok || payload.ok !== true) {
      const err = new Error((payload.error && payload.error.message) || ("HTTP " + response.status));
      err.status = response.status;
      throw err;
    }
    return payload.data;
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function ago(iso) {
    if (!iso) return "–";
    const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  function pct(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(1) + " %"; }
  function ms(x) { return x === null || x === undefined ? "–" : x >= 1000 ? (x / 1000).toFixed(1) + " s" : Math.round(x) + " ms"; }

  function tile(id, value, sub, tone) {
    const node = $(id);
    node.querySelector(".value").textContent = value;
    node.querySelector(".sub").textContent = sub || "";
    node.className = "tile" + (tone ? " " + tone : "");
  }

  function bars(container, counts, order) {
    clear(container);
    const keys = (order || []).filter((k) => k in counts).concat(Object.keys(counts).filter((k) => !(order || []).includes(k)));
    const total = keys.reduce((sum, k) => sum + counts[k], 0);
    if (!total) { container.appendChild(el("div", "no submissions in this window", "empty")); return; }
    for (const k of keys) {
      const row = el("div", null, "row");
      row.appendChild(el("span", k.replace(/_/g, " ")));
      const track = el("div", null, "track");
      const fill = el("div", null, "fill");
      fill.style.width = (100 * counts[k] / total).toFixed(1) + "%";
      track.appendChild(fill);
      row.appendChild(track);
      row.appendChild(el("span", counts[k] + " · " + Math.round(100 * counts[k] / total) + "%", "num"));
      container.appendChild(row);
    }
  }

  function chart(id, series, x, ys, opts) {
    const box = $(id);
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    clear(box);
    if (!x.length) { box.appendChild(el("div", "no data in this window yet", "empty")); return; }
    const palette = ["#2f5bd3", "#c62828", "#1a7f37", "#b26b00", "#6b3fa0", "#00838f"];
    const width = Math.max(280, box.clientWidth || 400);
    const config = {
      width, height: 220,
      scales: { x: { time: true }, y: Object.assign({ auto: true }, (opts && opts.y) || {}) },
      axes: [{}, { size: 60 }],
      series: [{}].concat(series.map((label, i) => ({
        label, stroke: palette[i % palette.length], width: 2, points: { show: x.length < 40 },
      }))),
    };
    charts[id] = new uPlot(config, [x].concat(ys), box);
  }

  const t = (iso) => new Date(iso).getTime() / 1000;

  function renderAlerts(list) {
    const body = $("alerts-body");
    clear(body);
    if (!list.length) {
      const row = el("tr");
      const cell = el("td", "No open alerts.", "muted");
      cell.colSpan = 7;
      row.appendChild(cell);
      body.appendChild(row);
      return;
    }
    for (const a of list) {
      const row = el("tr");
      const sev = el("td");
      sev.appendChild(el("span", a.severity, "sev " + a.severity));
      row.appendChild(sev);
      row.appendChild(el("td", a.rule));
      row.appendChild(el("td", a.title));
      row.appendChild(el("td", a.status + (a.escalated_at ? " · escalated" : "")));
      row.appendChild(el("td", ago(a.created_at)));
      row.appendChild(el("td", ago(a.last_seen_at) + (a.occurrences > 1 ? " · ×" + a.occurrences : "")));
      const action = el("td");
      if (a.status === "open") {
        const button = el("button", "Acknowledge");
        button.type = "button";
        button.dataset.alert = a.id;
        button.addEventListener("click", () => acknowledge(a.id, button));
        action.appendChild(button);
      } else {
        action.appendChild(el("span", "by " + (a.acknowledged_by || "–"), "muted"));
      }
      row.appendChild(action);
      body.appendChild(row);
    }
  }

  function renderGates(gates) {
    const body = $("gates-body");
    clear(body);
    if (!gates) { $("gates-verdict").textContent = "not available"; return; }
    const list = gates.gates || [];
    const verdict = gates.go_no_go ? gates.go_no_go.verdict : null;
    $("gates-verdict").textContent = (gates.all_met ? "production shift: all gates met" : "production shift: not ready")
      + (verdict ? " · shadow go/no-go: " + verdict.replace("_", "-") : "");
    for (const g of list) {
      const row = el("tr");
      row.appendChild(el("td", g.name.replace(/_/g, " ")));
      row.appendChild(el("td", g.state.replace("_", " "), "state-" + g.state));
      row.appendChild(el("td", g.threshold, "muted"));
      row.appendChild(el("td", g.detail));
      body.appendChild(row);
    }
  }

  function renderWorkers(w) {
    const stages = $("stages-body");
    clear(stages);
    for (const s of w.stages) {
      const row = el("tr");
      row.appendChild(el("td", s.stage));
      row.appendChild(el("td", s.waiting));
      row.appendChild(el("td", age(s.oldest_age_s)));
      stages.appendChild(row);
    }
    const jobs = $("jobs-body");
    clear(jobs);
    for (const j of w.scheduler) {
      const row = el("tr");
      row.appendChild(el("td", j.job));
      row.appendChild(el("td", j.schedule, "muted"));
      row.appendChild(el("td", ago(j.last_started_at)));
      const result = j.last_ok === null ? "–" : j.last_ok ? "ok" : "failed";
      row.appendChild(el("td", result + (j.stale ? " · stalled" : ""), j.last_ok === false || j.stale ? "state-not_met" : ""));
      row.appendChild(el("td", j.failures_24h + " / " + j.runs_24h));
      jobs.appendChild(row);
    }
  }

  function render(d, w) {
    const c = d.alerts.counts;
    const open = c.open + c.acknowledged;
    tile("tile-alerts", open, c.critical + " critical · " + c.warning + " warning", c.critical ? "crit" : c.warning ? "warn" : "ok");
    tile("tile-validators", d.validators.active, "eligible for peer review");
    tile("tile-latency", ms(d.consensus.p50_ms) + " / " + ms(d.consensus.p95_ms), d.consensus.decisions + " decisions",
      d.consensus.p95_ms > 15000 ? "warn" : "");
    tile("tile-spot", pct(d.spot_checks.agreement_rate), d.spot_checks.completed + " completed",
      d.spot_checks.agreement_rate !== null && d.spot_checks.agreement_rate < 0.9 ? "warn" : "");
    const defined = d.economy.filter((p) => p.ratio !== null);
    const last = defined.length ? defined[defined.length - 1] : null;
    const latest = d.economy.length ? d.economy[d.economy.length - 1] : null;
    tile("tile-economy", last ? last.ratio.toFixed(2) : "–",
      last ? "hardship " + pct(last.hardship_rate) + (latest !== last ? " · last hour " + latest.ratio_state.replace("_", " ") : "")
        : latest ? "last hour " + latest.ratio_state.replace("_", " ") : "no snapshot yet",
      last && (last.ratio < 0.7 || last.ratio > 1.3) ? "warn" : "");
    renderAlerts(d.alerts.unresolved);
    bars($("routing"), d.routing_split, ["layer_a", "layer_b", "peer", "unrouted"]);
    bars($("decisions"), d.decisions_by_path, ["layer_a", "layer_b", "peer", "fallback", "admin", "pending"]);
    const s = d.submissions_series;
    chart("chart-submissions", ["Layer A", "Layer B", "peer"], s.map((p) => t(p.bucket)),
      [s.map((p) => p.layer_a), s.map((p) => p.layer_b), s.map((p) => p.peer)]);
    const l = d.consensus.series;
    chart("chart-latency", ["p50", "p95"], l.map((p) => t(p.bucket)), [l.map((p) => p.p50_ms), l.map((p) => p.p95_ms)]);
    const sc = d.spot_checks.series;
    chart("chart-spot", ["agreement %"], sc.map((p) => t(p.bucket)),
      [sc.map((p) => (p.completed ? 100 * p.agreements / p.completed : null))], { y: { range: [0, 100] } });
    const e = d.economy;
    chart("chart-economy", ["ratio"], e.map((p) => t(p.bucket)), [e.map((p) => p.ratio)]);
    renderGates(d.decision_gates);
    renderWorkers(w);
  }

  async function load() {
    try {
      const hours = $("hours").value;
      const [d, w] = await Promise.all([api("GET", "v1/admin/dashboard?hours=" + hours), api("GET", "v1/admin/workers")]);
      $("board").hidden = false;
      render(d, w);
      setStatus("updated " + new Date().toLocaleTimeString());
      document.body.dataset.loaded = "true";
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        forget();
        setStatus("That key is not an admin key.", true);
      } else {
        setStatus("Could not load the figures: " + err.message, true);
      }
    }
  }

  // --- trends (GET v1/admin/trends) and exports ------------------------------------------------
  function isoDay(d) { return d.toISOString().slice(0, 10); }

  function trendRange() {
    const days = Number($("trend-days").value);
    const to = new Date(Date.now() - 86400000);  // yesterday: the last whole day aggregated
    const from = new Date(to.getTime() - (days - 1) * 86400000);
    return { from: isoDay(from), to: isoDay(to), days };
  }

  // Series of one metric summed by the part of the series name before or after the "/".
  function grouped(report, metric, pick, x) {
    const index = new Map(x.map((v, i) => [v, i]));
    const out = {};
    for (const s of report.series) {
      if (s.metric !== metric) continue;
      const name = pick(s.series);
      if (name === null) continue;
      if (!out[name]) out[name] = x.map(() => 0);
      for (const p of s.points) out[name][index.get(t(p.day + "T00:00:00Z"))] += p.value;
    }
    return out;
  }

  function picked(report, metric, names, x, scale) {
    const index = new Map(x.map((v, i) => [v, i]));
    return names.map((name) => {
      const ys = x.map(() => null);
      const s = report.series.find((r) => r.metric === metric && r.series === name);
      if (s) for (const p of s.points) ys[index.get(t(p.day + "T00:00:00Z"))] = p.value * (scale || 1);
      return ys;
    });
  }

  function plotGroups(id, groups) {
    const names = Object.keys(groups).sort();
    chart(id, names, trendX, names.map((n) => groups[n]));
  }

  let trendX = [];

  async function loadTrends() {
    const r = trendRange();
    try {
      const report = await api("GET", "v1/admin/trends?from=" + r.from + "&to=" + r.to);
      trendX = [];
      for (let i = 0; i < r.days; i++) trendX.push(t(r.from + "T00:00:00Z") + i * 86400);
      $("trend-status").textContent = report.days_done.length + " of " + r.days + " days aggregated";
      plotGroups("trend-submissions", grouped(report, "submissions", (s) => s.split("/")[1], trendX));
      plotGroups("trend-decisions", grouped(report, "decisions", (s) => s.split("/")[0], trendX));
      chart("trend-blocks", ["blocks"], trendX, picked(report, "layer_a_blocks", ["total"], trendX));
      chart("trend-compliance", ["p10", "p50", "p90"], trendX,
        picked(report, "compliance", ["p10", "p50", "p90"], trendX), { y: { range: [0, 100] } });
      chart("trend-agreement", ["spot-check agreement", "agents below 60"], trendX,
        picked(report, "spot_checks", ["agreement"], trendX, 100)
          .concat(picked(report, "compliance", ["share_below_60"], trendX, 100)), { y: { range: [0, 100] } });
      chart("trend-economy", ["ratio", "hardship rate"], trendX, picked(report, "economy", ["ratio", "hardship_rate"], trendX));
      chart("trend-pool", ["apprentice", "journeyman", "expert"], trendX,
        picked(report, "validator_pool", ["apprentice", "journeyman", "expert"], trendX));
      document.body.dataset.trends = "true";
    } catch (err) {
      $("trend-status").textContent = "Could not load the trends: " + err.message;
    }
  }

  async function download(event) {
    event.preventDefault();
    const r = trendRange();
    const kind = $("export-kind").value;
    const format = $("export-format").value;
    $("export-status").textContent = "exporting…";
    try {
      const response = await fetch("v1/admin/exports/" + kind + "?from=" + r.from + "&to=" + r.to + "&format=" + format,
        { headers: { Authorization: "Bearer " + key() } });
      const type = response.headers.get("Content-Type") || "";
      let href;
      let written = "";
      if (response.status === 202) {
        const payload = await response.json();
        const file = await exportJobFile(payload.data.id);  // too large to answer at once: a job writes it
        href = file.href;
        written = ", " + file.rows + " rows";
      } else if (type.startsWith("application/json") && !response.headers.get("Content-Disposition")) {
        const payload = await response.json();
        if (!payload.ok) throw new Error(payload.error ? payload.error.message : "HTTP " + response.status);
        href = payload.data.url;  // a large export: a link to the stored file
      } else if (response.ok) {
        href = URL.createObjectURL(await response.blob());
      } else {
        throw new Error("HTTP " + response.status);
      }
      const a = el("a");
      a.href = href;
      a.download = "peerguard-" + kind + "-" + r.from + "-" + r.to + "." + format;
      document.body.appendChild(a);
      a.click();
      a.remove();
      $("export-status").textContent = "downloaded " + kind + " (" + r.from + " to " + r.to + written + ")";
    } catch (err) {
      $("export-status").textContent = "Could not export: " + err.message;
    }
  }

  // An export job: poll it until its file is written, then take its short-lived link. In AWS the link
  // is a presigned S3 URL; locally it is the API's own file route, which wants the admin key.
  async function exportJobFile(id) {
    const path = "v1/admin/exports/jobs/" + encodeURIComponent(id);
    for (;;) {
      const job = await api("GET", path);
      if (job.status === "succeeded") break;
      if (job.status === "failed") throw new Error(job.error || "the export job failed");
      $("export-status").textContent = "exporting… " + job.progress + " % (" + job.rows + " rows)";
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    const link = await api("GET", path + "/download");
    if (new URL(link.url, location.href).origin !== location.origin) return { href: link.url, rows: link.rows };
    const file = await fetch(link.url, { headers: { Authorization: "Bearer " + key() } });
    if (!file.ok) throw new Error("HTTP " + file.status);
    return { href: URL.createObjectURL(await file.blob()), rows: link.rows };
  }

  async function acknowledge(id, button) {
    button.disabled = true;
    try {
      await api("POST", "v1/admin/alerts/" + encodeURIComponent(id) + "/ack", {});
      await load();
    } catch (err) {
      button.disabled = false;
      setStatus("Could not acknowledge: " + err.message, true);
    }
  }

  async function evaluate() {
    try {
      const run = await api("POST", "v1/admin/alerts/evaluate");
      setStatus(run.firing.length + " rule(s) firing; " + run.raised + " new alert(s)");
      await load();
    } catch (err) {
      setStatus("Could not run the rules: " + err.message, true);
    }
  }

  function start() {
    $("key-form").hidden = true;
    $("session").hidden = false;
    load();
    loadTrends();
    if (timer) clearInterval(timer);
    timer = setInterval(load, REFRESH_MS);
  }

  function forget() {
    sessionStorage.removeItem(KEY_STORE);
    if (timer) clearInterval(timer);
    timer = null;
    $("board").hidden = true;
    $("session").hidden = true;
    $("key-form").hidden = false;
    delete document.body.dataset.loaded;
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("key").value.trim();
    if (!value) return;
    sessionStorage.setItem(KEY_STORE, value);
    $("key").value = "";
    start();
  });
  $("refresh").addEventListener("click", load);
  $("evaluate").addEventListener("click", evaluate);
  $("hours").addEventListener("change", load);
  $("trend-days").addEventListener("change", loadTrends);
  $("export-form").addEventListener("submit", download);
  $("forget").addEventListener("click", () => { forget(); setStatus("Key forgotten."); });

  if (key()) start();
})();
