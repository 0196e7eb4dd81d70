"use strict";
(function () {
  const form = document.getElementById("filters");
  const body = document.querySelector("#records tbody");
  const summary = document.getElementById("summary");
  const errorBox = document.getElementById("error");
  const chart = document.getElementById("chart");
  const SVG = "http://www.w3.org/2000/svg";

  // datetime-local values are local times; the server wants RFC 3339.
  function toRfc3339(value) {
    const at = new Date(value);
    return isNaN(at) ? "" : at.toISOString();
  }

  function query() {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      const v = name === "since" || name === "until" ? (value && toRfc3339(value)) : value.trim();
      if (v) params.set(name, v);
    }
    return params;
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (cls) td.className = cls;
    row.appendChild(td);
  }

  function renderTable(records) {
    body.replaceChildren();
    for (const r of records) {
      const tr = document.createElement("tr");
      tr.className = r["event.outcome"] || "";
      cell(tr, r["@timestamp"]);
      cell(tr, r["user.id"] || r["user.name"] || r["user.target.id"]);
      cell(tr, r["event.action"]);
      cell(tr, r["event.outcome"]);
      cell(tr, r["http.response.status_code"]);
      cell(tr, r["http.request.method"]);
      cell(tr, r["url.path"] || r["api_key.id"] || r["file.path"] || r["rate_limit.name"] || r["event.reason"], "path");
      cell(tr, r["source.ip"]);
      cell(tr, r["seq"]);
      body.appendChild(tr);
    }
  }

  function renderChart(series) {
    chart.replaceChildren();
    const points = series.points || [];
    if (!points.length) return;
    const width = 800, height = 150;
    const max = Math.max(1, ...points.map(p => p.requests));
    const step = width / points.length;
    points.forEach((p, i) => {
      for (const [value, cls, share] of [[p.requests, "requests", 1], [p.denials, "denials", 0.5]]) {
        if (!value) continue;
        const h = (value / max) * height;
        const bar = document.createElementNS(SVG, "rect");
        bar.setAttribute("x", (i * step + (cls === "denials" ? step * 0.25 : 0)).toFixed(2));
        bar.setAttribute("width", Math.max(1, step * share - 1).toFixed(2));
        bar.setAttribute("y", (160 - h).toFixed(2));
        bar.setAttribute("height", h.toFixed(2));
        bar.setAttribute("class", cls);
        const title = document.createElementNS(SVG, "title");
        title.textContent = p.t + ": " + value + " " + cls;
        bar.appendChild(title);
        chart.appendChild(bar);
      }
    });
    chart.dataset.requests = points.reduce((n, p) => n + p.requests, 0);
    chart.dataset.denials = points.reduce((n, p) => n + p.denials, 0);
  }

  async function load() {
    errorBox.hidden = true;
    summary.textContent = "Loading…";
    try {
      const response = await fetch("/admin/audit/events?" + query(), {
        credentials: "same-origin",
        headers: { "Accept": "application/json" },
      });
      const data = await response.json();
      if (!response.ok) throw new Error(data.message || ("HTTP " + response.status));
      renderTable(data.records);
      renderChart(data.series);
      summary.textContent = data.matched + " matching records, newest " + data.records.length +
        " shown" + (data.truncated ? " (oldest files not read)" : "");
      document.body.dataset.loaded = "true";
    } catch (e) {
      errorBox.textContent = "Could not load the audit log: " + e.message;
      errorBox.hidden = false;
      summary.textContent = "";
    }
  }

  form.addEventListener("submit", event => { event.preventDefault(); load(); });
  load();
})();
