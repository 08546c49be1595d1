// barkeep console: refreshes the page's numbers every second from the
// REST API, keeps a minute of per-member rates for the sparklines, and
// sends the action buttons' changes (JSON, with the page's nonce).
"use strict";
(function () {
  const nonce = document.querySelector('meta[name="barkeep-nonce"]').content;
  const history = new Map(); // member key -> {last: {t, elected, errors}, req: [], err: []}
  const points = 60;
  let busy = false;

  function size(n) {
    const units = "KMGTPE";
    if (n < 973) return String(n);
    let f = n, i = -1;
    while (f >= 973 && i < units.length - 1) { f /= 1024; i++; }
    return (f < 9.95 ? f.toFixed(1) : f.toFixed(0)) + units[i];
  }
  function dur(sec) {
    if (sec < 0) sec = 0;
    if (sec < 60) return Math.floor(sec) + "s";
    if (sec < 3600) return Math.floor(sec / 60) + "m " + Math.floor(sec % 60) + "s";
    if (sec < 86400) return Math.floor(sec / 3600) + "h " + Math.floor(sec % 3600 / 60) + "m";
    return Math.floor(sec / 86400) + "d " + Math.floor(sec % 86400 / 3600) + "h";
  }
  function ago(iso, now) { return iso ? dur((now - Date.parse(iso)) / 1000) : ""; }
  function rate(x) { return x >= 10 ? x.toFixed(0) : x.toFixed(1); }
  function set(row, f, text) {
    const el = row.querySelector('[data-f="' + f + '"]');
    if (el && el.textContent !== text) el.textContent = text;
    return el;
  }
  function spark(svg, values) {
    const max = Math.max(1, ...values);
    const pts = values.map((v, i) => (i * 60 / (points - 1)).toFixed(1) + "," + (15 - v / max * 14).toFixed(1)).join(" ");
    svg.innerHTML = '<polyline points="' + pts + '"/>';
  }
  function flash(text, bad) {
    const el = document.getElementById("flash");
    el.textContent = text;
    el.className = bad ? "flash bad" : "flash";
    el.hidden = false;
    clearTimeout(flash.t);
    flash.t = setTimeout(() => { el.hidden = true; }, 4000);
  }

  function rows() {
    const out = new Map();
    for (const sec of document.querySelectorAll("section.balancer")) {
      for (const tr of sec.querySelectorAll("tr.member")) out.set(sec.dataset.balancer + " " + tr.dataset.member, tr);
    }
    return out;
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    const live = document.getElementById("live");
    try {
      const res = await fetch("/api/v1/balancers", { cache: "no-store" });
      if (!res.ok) throw new Error(res.status + " " + res.statusText);
      const data = await res.json();
      const now = Date.now();
      const dom = rows();
      let keys = 0, structure = false;
      for (const b of data.balancers) {
        const sec = document.querySelector('section.balancer[data-balancer="' + CSS.escape(b.name) + '"]');
        if (!sec) { structure = true; continue; }
        for (const k of ["sticky_hits", "sticky_misses", "failovers", "queued", "unavailable"]) {
          const el = sec.querySelector('[data-b="' + k + '"]');
          if (el) el.textContent = b[k];
        }
        if (sec.querySelectorAll("tr[data-context]").length !== b.contexts.length) structure = true;
        for (const c of b.contexts) {
          const tr = sec.querySelector('tr[data-context="' + c.id + '"]');
          if (!tr) { structure = true; continue; }
          const st = set(tr, "state", c.state);
          st.className = "ctx " + c.state;
          set(tr, "requests", String(c.requests));
        }
        for (const m of b.members) {
          const key = b.name + " " + m.name;
          const tr = dom.get(key);
          keys++;
          if (!tr) { structure = true; continue; }
          let h = history.get(key);
          if (!h) { h = { req: Array(points).fill(0), err: Array(points).fill(0) }; history.set(key, h); }
          if (h.last) {
            const dt = Math.max((now - h.last.t) / 1000, 0.001);
            h.req.push(Math.max(m.elected - h.last.elected, 0) / dt); h.req.shift();
            h.err.push(Math.max(m.errors - h.last.errors, 0) / dt); h.err.shift();
          }
          h.last = { t: now, elected: m.elected, errors: m.errors };
          const st = set(tr, "status", m.status_text);
          st.className = "st " + m.state;
          set(tr, "route", m.route + (m.redirect ? " → " + m.redirect : ""));
          set(tr, "loadfactor", String(m.loadfactor));
          set(tr, "lbset", String(m.lbset));
          set(tr, "busy", String(m.busy));
          set(tr, "elected", String(m.elected));
          set(tr, "sticky", String(m.sticky_hits));
          set(tr, "reqrate", rate(h.req[points - 1]));
          set(tr, "errrate", rate(h.err[points - 1]));
          set(tr, "bytes", size(m.transferred) + " / " + size(m.read));
          set(tr, "load", m.load === undefined ? "–" : String(m.load));
          set(tr, "since", ago(m.status_since, now));
          set(tr, "check", m.checked_at ? (m.check_failed ? "failed " : "ok ") + ago(m.checked_at, now) + " ago" : "–");
          spark(tr.querySelector('[data-spark="req"]'), h.req);
          spark(tr.querySelector('[data-spark="err"]'), h.err);
        }
      }
      if (keys !== dom.size || document.querySelectorAll("section.balancer").length !== data.balancers.length) structure = true;
      document.getElementById("regversion").textContent = data.version;
      document.getElementById("clock").textContent = new Date(now).toUTCString();
      live.textContent = "live";
      live.classList.remove("stale");
      if (structure) await reloadBalancers();
    } catch (e) {
      live.textContent = "not updating: " + e.message;
      live.classList.add("stale");
    } finally {
      busy = false;
    }
  }

  // reloadBalancers replaces the balancer sections with the server's
  // rendering, when members, balancers or contexts came or went.
  async function reloadBalancers() {
    const res = await fetch("/console/balancers", { cache: "no-store" });
    if (res.ok) document.getElementById("balancers").innerHTML = await res.text();
  }

  async function send(url, what) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Barkeep-Nonce": nonce },
      body: "{}",
    });
    if (res.ok) {
      flash(what + ": done");
    } else {
      let detail = res.status + " " + res.statusText;
      try { detail = (await res.json()).detail || detail; } catch (e) { /* not JSON */ }
      flash(what + ": " + detail, true);
    }
    await refresh();
  }

  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button");
    if (!btn) return;
    const sec = btn.closest("section.balancer");
    const tr = btn.closest("tr");
    if (btn.dataset.action) {
      const bal = sec.dataset.balancer, m = tr.dataset.member;
      send("/api/v1/balancers/" + encodeURIComponent(bal) + "/members/" + encodeURIComponent(m) + "/" + btn.dataset.action,
        btn.dataset.action + " " + m);
    } else if (btn.dataset.ctxAction) {
      send("/api/v1/nodes/" + encodeURIComponent(tr.dataset.node) + "/contexts/" + tr.dataset.context + "/" + btn.dataset.ctxAction,
        btn.dataset.ctxAction + " context " + tr.dataset.context + " of " + tr.dataset.node);
    }
  });

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  document.getElementById("explain").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const q = new URLSearchParams({ url: f.get("url"), cookie: f.get("cookie") });
    const out = document.getElementById("explanation");
    out.textContent = "";
    const res = await fetch("/api/v1/explain?" + q, { cache: "no-store" });
    const body = await res.json();
    if (!res.ok) {
      out.textContent = body.detail || res.statusText;
      return;
    }
    const p = document.createElement("p");
    p.textContent = body.summary || "";
    out.appendChild(p);
    if (body.candidates && body.candidates.length) {
      const t = document.createElement("table");
      const head = document.createElement("tr");
      for (const h of ["member", "route", "state", "eligible", "why"]) { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
      t.appendChild(head);
      for (const c of body.candidates) {
        const tr = document.createElement("tr");
        if (c.chosen) tr.className = "chosen";
        cell(tr, c.member); cell(tr, c.route); cell(tr, c.status); cell(tr, c.eligible ? "yes" : "no"); cell(tr, c.reason);
        t.appendChild(tr);
      }
      out.appendChild(t);
    }
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(body, null, 2);
    const d = document.createElement("details");
    const s = document.createElement("summary");
    s.textContent = "full explanation (JSON)";
    d.appendChild(s); d.appendChild(pre);
    out.appendChild(d);
  });

  refresh();
  setInterval(refresh, 1000);
})();
