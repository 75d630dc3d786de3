"""The stylesheet and the one small script, served from ``/static/`` (nothing comes from the network)."""
from __future__ import annotations

CSS = """
:root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --bg:#fff; --soft:#f6f8fa; --ok:#1a7f37; --bad:#cf222e;
        --run:#0969da; --skip:#8c959f; --warn:#9a6700; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg);
       background:var(--bg); }
header { display:flex; gap:16px; align-items:baseline; padding:10px 24px; background:#24292f; color:#fff; }
header a { color:#fff; text-decoration:none; } .brand { font-weight:700; font-size:16px; }
header .project { color:#d0d7de; } header nav { margin-left:auto; }
main { padding:16px 24px 48px; max-width:1200px; }
h1 small, h3 small { color:var(--muted); font-weight:400; font-size:60%; }
h2 { margin-top:28px; border-bottom:1px solid var(--line); padding-bottom:4px; font-size:18px; }
table { border-collapse:collapse; width:100%; margin:8px 0; }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:var(--soft); font-weight:600; font-size:13px; }
tr:hover td { background:#f6f8fa88; }
a { color:var(--run); } .small { font-size:12px; }
.badge { display:inline-block; padding:0 8px; border-radius:10px; font-size:12px; color:#fff; background:var(--skip); }
.s-succeeded { background:var(--ok); fill:var(--ok); } .s-cached { background:var(--skip); fill:var(--skip); }
.s-running { background:var(--run); fill:var(--run); } .s-failed, .s-lost { background:var(--bad); fill:var(--bad); }
.s-interrupted, .s-upstream-failed, .s-not-started { background:var(--warn); fill:var(--warn); }
.bad { color:var(--bad); } .muted { color:var(--muted); }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:2px 16px; margin:8px 0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; word-break:break-all; }
.filters { display:flex; gap:12px; align-items:center; margin:8px 0 12px; flex-wrap:wrap; }
.filters input, .filters select, .filters button { font:inherit; padding:3px 6px; }
pre { background:var(--soft); border:1px solid var(--line); border-radius:6px; padding:8px 10px; overflow:auto;
      white-space:pre-wrap; word-break:break-all; }
pre.log { max-height:300px; } pre.err { border-color:#ffcecb; background:#fff8f8; }
.uid, .path { font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:13px; }
svg text { font:12px system-ui, sans-serif; fill:var(--fg); } svg .axis { fill:var(--muted); }
svg.gantt { border:1px solid var(--line); border-radius:6px; background:var(--soft); }
.graph svg { max-width:100%; height:auto; }
.graph { overflow:auto; border:1px solid var(--line); border-radius:6px; padding:6px; background:var(--soft); }
.edge { fill:none; stroke:#8c959f; stroke-width:1.5; }
.node-file rect { fill:#fff; stroke:#8c959f; } .node-task rect { fill:#ddf4ff; stroke:var(--run); }
.node-target rect { stroke:var(--ok); stroke-width:2; }
section.task { border:1px solid var(--line); border-radius:6px; padding:4px 14px; margin:10px 0; }
ul.outputs { padding-left:18px; }
"""

#: Redraws ``<main>`` when the page's JSON endpoint changes; stops once the run is no longer live.
JS = """
(function () {
  var endpoint = document.body.getAttribute('data-poll');
  if (!endpoint) return;
  var keep = document.body.getAttribute('data-keep') === '1';
  var wasLive = document.body.getAttribute('data-live') === '1';
  var last = null;
  function redraw() {
    return fetch(location.href, {cache: 'no-store'}).then(function (r) { return r.text(); }).then(function (text) {
      var doc = new DOMParser().parseFromString(text, 'text/html');
      var fresh = doc.getElementById('main');
      if (fresh) document.getElementById('main').innerHTML = fresh.innerHTML;
    });
  }
  function tick() {
    fetch(endpoint, {cache: 'no-store'}).then(function (r) { return r.text(); }).then(function (text) {
      var live = JSON.parse(text).live;
      var changed = last === null ? (wasLive && !live) : text !== last;
      last = text;
      var done = changed ? redraw() : Promise.resolve();
      done.then(function () { if (live || keep) setTimeout(tick, live ? 1000 : 2000); });
    }).catch(function () { setTimeout(tick, 3000); });
  }
  tick();
})();
"""
