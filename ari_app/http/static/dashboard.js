/* Live calls over server-sent events, and the figures and charts from /voice/analytics.
   Every value goes into the page through textContent, never as HTML. */
"use strict";
(function () {
  // absolute URLs from the origin: a page opened as http://user:token@host/ would otherwise give
  // every relative URL the credentials, which fetch() refuses
  function api(path) { return new URL(path, window.location.origin).toString(); }
  var tz = document.body.dataset.tz || "UTC";
  var timeFmt = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit" });
  var hourFmt = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit" });

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function renderLive(rows) {
    var body = document.getElementById("live-body");
    if (!body) return;
    body.replaceChildren();
    rows.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.dataset.session = c.session_id;
      var td = cell(tr, "");
      var a = document.createElement("a");
      a.href = "/dashboard/calls/" + encodeURIComponent(c.session_id);
      a.textContent = timeFmt.format(new Date(c.started_at));
      td.appendChild(a);
      cell(tr, c.caller_id || "?");
      cell(tr, c.caller_name);
      cell(tr, c.called_number);
      cell(tr, c.state, "state");
      cell(tr, c.direction);
      body.appendChild(tr);
    });
    document.getElementById("live-count").textContent = String(rows.length);
    document.getElementById("live-empty").hidden = rows.length > 0;
  }

  if (document.getElementById("live-body") && window.EventSource) {
    var es = new EventSource(api("/dashboard/events"));
    es.addEventListener("live", function (ev) { renderLive(JSON.parse(ev.data)); });
  }

  function figure(box, label, value) {
    var div = document.createElement("div");
    div.className = "figure";
    var b = document.createElement("b");
    b.textContent = value;
    div.appendChild(b);
    div.appendChild(document.createTextNode(label));
    box.appendChild(div);
  }

  function hoursOf(a) {
    var start = new Date(a.window.from).getTime(), end = new Date(a.window.to).getTime();
    var labels = [], values = [];
    if (end - start <= 48 * 3600e3) {
      for (var t = start; t < end; t += 3600e3) { labels.push(hourFmt.format(new Date(t))); values.push(0); }
      // buckets are whole UTC hours: in a zone with a half-hour offset they fall inside a local hour
      a.volume_per_hour.forEach(function (h) {
        var i = Math.max(0, Math.floor((new Date(h.hour).getTime() - start) / 3600e3));  // the SQL window already cut it
        if (i >= 0 && i < values.length) values[i] += h.calls;
      });
    } else {
      a.volume_per_hour.forEach(function (h) { labels.push(new Date(h.hour).toLocaleString("en-GB", { timeZone: tz })); values.push(h.calls); });
    }
    return { labels: labels, values: values };
  }

  var charts = [];
  function chart(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas || !window.Chart) return;
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
      plugins: { legend: { display: config.type === "doughnut" } } }, config.options || {});
    charts.push(new window.Chart(canvas, config));
  }

  function fillTable(id, rows) {
    var t = document.querySelector("#" + id + " tbody");
    if (!t) return;
    t.replaceChildren();
    rows.forEach(function (r) { var tr = document.createElement("tr"); r.forEach(function (v) { cell(tr, v); }); t.appendChild(tr); });
  }

  function render(a) {
    var box = document.getElementById("figures");
    box.replaceChildren();
    var value = Object.keys(a.bookings.value).map(function (c) { return a.bookings.value[c].toFixed(2) + " " + c; }).join(", ") || "0";
    figure(box, "calls", String(a.calls));
    figure(box, "bookings by the operator", String(a.bookings.count));
    figure(box, "booked value", value);
    figure(box, "transfer rate", a.transfer_rate == null ? "–" : Math.round(a.transfer_rate * 100) + " %");
    figure(box, "answer latency p50", a.latency_ms.total.p50 == null ? "–" : Math.round(a.latency_ms.total.p50) + " ms");
    figure(box, "mean sentiment", a.sentiment.mean == null ? "–" : a.sentiment.mean.toFixed(2));
    var h = hoursOf(a);
    chart("chart-volume", { type: "bar", data: { labels: h.labels, datasets: [{ label: "calls", data: h.values, backgroundColor: "#0b6e99" }] },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
    var outs = Object.keys(a.outcomes);
    chart("chart-outcomes", { type: "doughnut", data: { labels: outs, datasets: [{ data: outs.map(function (k) { return a.outcomes[k].count; }),
      backgroundColor: ["#0a7a4b", "#0b6e99", "#d9a400", "#b42318"] }] } });
    var statuses = Object.keys(a.bookings.by_status);
    if (!statuses.length) statuses = ["confirmed"];
    chart("chart-bookings", { type: "bar", data: { labels: statuses, datasets: [{ label: "bookings",
      data: statuses.map(function (s) { return a.bookings.by_status[s] || 0; }), backgroundColor: "#6b4e16" }] },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
    var stages = Object.keys(a.latency_ms);
    chart("chart-latency", { type: "bar", data: { labels: stages, datasets: [
      { label: "p50", data: stages.map(function (s) { return a.latency_ms[s].p50 || 0; }), backgroundColor: "#0b6e99" },
      { label: "p95", data: stages.map(function (s) { return a.latency_ms[s].p95 || 0; }), backgroundColor: "#9cc3d5" }] },
      options: { plugins: { legend: { display: true } }, scales: { y: { beginAtZero: true } } } });
    fillTable("stages", stages.map(function (s) { var v = a.latency_ms[s]; return [s, v.p50 == null ? "–" : Math.round(v.p50), v.p95 == null ? "–" : Math.round(v.p95), v.count]; }));
    fillTable("tool-usage", Object.keys(a.tools).map(function (t) { var v = a.tools[t]; return [t, v.runs, v.ok, Math.round(v.mean_latency_ms) + " ms"]; }));
    fillTable("intents", Object.keys(a.duration_by_intent).map(function (k) { var v = a.duration_by_intent[k]; return [k, v == null ? "–" : Math.round(v)]; }));
    document.body.dataset.chartsReady = String(charts.length);
  }

  if (document.getElementById("chart-volume")) {
    var params = new URLSearchParams(window.location.search);
    var qs = new URLSearchParams();
    if (params.get("from")) qs.set("from", params.get("from"));
    if (params.get("to")) qs.set("to", params.get("to"));
    var url = "/voice/analytics" + (qs.toString() ? "?" + qs.toString() : "");
    fetch(api(url), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.statusText); return j; }); })
      .then(render)
      .catch(function (err) {
        var p = document.getElementById("analytics-error");
        if (p) { p.textContent = String(err.message || err); p.hidden = false; }
        document.body.dataset.chartsReady = "error";
      });
  }
})();
