/* A call in progress: its transcript grows as it is spoken (server-sent events tell when), and the
   page goes still once the call has ended. Values go in through textContent only. */
"use strict";
(function () {
  // absolute URLs from the origin: a page opened as http://user:token@host/ would otherwise give
  // every relative URL the credentials, which fetch() refuses
  function api(path) { return new URL(path, window.location.origin).toString(); }
  var article = document.getElementById("call");
  if (!article || article.dataset.live !== "1") return;
  var sid = article.dataset.session;
  var tz = document.body.dataset.tz || "UTC";
  var timeFmt = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit" });

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function render(c) {
    var body = document.getElementById("turns");
    body.replaceChildren();
    c.turns.forEach(function (t) {
      var tr = document.createElement("tr");
      cell(tr, t.role, "who " + t.role);
      cell(tr, t.content + (t.interrupted ? " (cut off)" : ""));
      cell(tr, t.latency_ms == null ? "" : t.latency_ms + " ms");
      cell(tr, timeFmt.format(new Date(t.at)));
      body.appendChild(tr);
    });
    var head = [c.status === "active" ? c.state : c.status];
    if (c.end_reason) head.push(c.end_reason);
    if (c.duration_s != null) head.push(Math.round(c.duration_s) + " s");
    head.push("tools: " + (c.tools_executed.join(", ") || "none"));
    document.getElementById("call-head").textContent = head.join(" · ");
  }

  function refresh() {
    return fetch(api("/voice/sessions/" + encodeURIComponent(sid)), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (c) { render(c); return c; });
  }

  var es = new EventSource(api("/dashboard/events"));
  es.addEventListener("live", function (ev) {
    var live = JSON.parse(ev.data).some(function (c) { return c.session_id === sid; });
    refresh().then(function (c) {
      if (!live && c.status !== "active") {
        es.close();
        article.dataset.live = "0";
        var b = document.getElementById("end-call");
        if (b) b.remove();
      }
    });
  });

  var button = document.getElementById("end-call");
  if (button) {
    button.addEventListener("click", function () {
      button.disabled = true;
      fetch(api("/voice/sessions/" + encodeURIComponent(sid) + "/end"), {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ reason: "front desk" })
      }).then(function (r) { if (!r.ok) button.disabled = false; });
    });
  }
})();
