// The admin dashboard's script: a file of its own, so the page's CSP allows no inline script.
"use strict";
const $ = (id) => document.getElementById(id);
const tokenKey = "frontdoor-admin-token";

function token() { return sessionStorage.getItem(tokenKey) || ""; }

// A message says where it came from: an error of the periodic refresh (a wrong token, the gateway
// unreachable) is cleared by the next refresh that succeeds; an action's result stays until the next.
function say(text, bad, fromRefresh) {
  const message = $("message");
  message.textContent = text;
  message.className = bad ? "bad" : "";
  message.dataset.refresh = fromRefresh ? "yes" : "";
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({}, options, {
    headers: Object.assign({"Authorization": "Bearer " + token()}, (options && options.headers) || {}),
  }));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(response.status + ": " + (body.reason || body.error || response.statusText));
  }
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "-" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function button(parent, label, handler) {
  const b = document.createElement("button");
  b.textContent = label;
  b.addEventListener("click", handler);
  parent.appendChild(b);
}

// One control per service (in its header) and per route: it asks for confirmation and a reason in a
// modal dialog (focus stays in it, Escape cancels) before anything is stopped or started.
let pending = null;

function confirmAct(kind, target, action) {
  pending = [kind, target, action];
  $("confirm-title").textContent = action[0].toUpperCase() + action.slice(1) + " " + kind.slice(0, -1) + " " + target + "?";
  $("reason").value = "";
  $("confirm").returnValue = "";  // Escape closes without setting it: never the last dialog's "ok"
  $("confirm").showModal();
  $("reason").focus();
}

$("confirm").addEventListener("close", () => {
  const chosen = pending;
  pending = null;
  if ($("confirm").returnValue === "ok" && chosen) act(chosen[0], chosen[1], chosen[2], $("reason").value.trim());
});

async function act(kind, target, action, reason) {
  if (!reason) { say("A stop or start needs a reason: it is shown to clients and kept in the audit log.", true); return; }
  try {
    await api("/admin/" + kind + "/" + encodeURIComponent(target) + "/" + action, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({reason: reason}),
    });
    say(action + " " + kind.slice(0, -1) + " " + target + ": done");
    await refresh();
  } catch (e) { say(e.message, true); }
}

// The route table is grouped the way the contract is: owning team (with its on-call), then service,
// then its routes. A service's routes fold under its header; what is folded stays folded across the
// refreshes, which rebuild the table every second.
const folded = new Set();

function header(body, className, text, dataset) {
  const row = document.createElement("tr");
  row.className = className;
  Object.assign(row.dataset, dataset);
  const th = document.createElement("th");
  th.colSpan = 12;
  th.scope = "rowgroup";
  th.textContent = text;
  row.appendChild(th);
  body.appendChild(row);
  return th;
}

function teamHeader(body, owner, oncall, note) {
  header(body, "team", owner + (note ? " (" + note + ")" : "") + "  ·  on-call: " + (oncall || "none"), {team: owner});
}

function serviceHeader(body, service, routes) {
  const th = header(body, "service", "", {serviceGroup: service});
  const toggle = document.createElement("button");
  toggle.className = "fold";
  toggle.setAttribute("aria-expanded", folded.has(service) ? "false" : "true");
  toggle.textContent = (folded.has(service) ? "▸ " : "▾ ") + service;
  toggle.addEventListener("click", () => {
    if (folded.has(service)) folded.delete(service); else folded.add(service);
    const open = !folded.has(service);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    toggle.textContent = (open ? "▾ " : "▸ ") + service;
    for (const row of body.querySelectorAll("tr[data-route]")) {
      if (row.dataset.service === service) row.hidden = !open;
    }
  });
  th.appendChild(toggle);
  const stopped = routes.filter((r) => r.stopped).length;
  const summary = document.createElement("span");
  summary.className = stopped ? "badge bad" : "muted";
  summary.textContent = " " + routes.length + " route" + (routes.length === 1 ? "" : "s") + (stopped ? ", " + stopped + " stopped" : "");
  th.appendChild(summary);
  const stoppedService = routes.some((r) => r.stopped && r.stopped.kind === "service");
  const action = stoppedService ? "start" : "stop";
  button(th, action + " service", () => confirmAct("services", service, action));
}

// Charts of the last 15 minutes (GET /admin/history: 5-second steps): requests/s, error ratio, p99
// and denials/s by kind, for the whole edge, for each team (the sum of its routes) and for each of its
// services. A group's p99 is the worst of its routes'.
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 160, HEIGHT = 36;
const SERIES = [["requests", "req/s"], ["error_ratio", "5xx ratio"], ["p99_ms", "p99 ms"]];

function sumSeries(routes, step, kinds) {
  const length = routes.length ? routes[0].requests.length : 0;
  const out = {requests: [], error_ratio: [], p99_ms: [], by_kind: {}};
  // the kinds these routes saw, in the gateway's fixed order (which gives each its colour)
  const seen = new Set(routes.flatMap((r) => Object.keys(r.denied_by_kind || {})));
  for (const kind of kinds.filter((k) => seen.has(k))) out.by_kind[kind] = [];
  for (let i = 0; i < length; i++) {
    let requests = 0, errors = 0, p99 = null;
    for (const r of routes) {
      requests += r.requests[i]; errors += r.errors[i];
      if (r.p99_ms[i] !== null && (p99 === null || r.p99_ms[i] > p99)) p99 = r.p99_ms[i];
    }
    out.requests.push(requests / step);
    out.error_ratio.push(requests ? errors / requests : 0);
    out.p99_ms.push(p99 === null ? 0 : p99);
    for (const kind of Object.keys(out.by_kind)) {
      let denied = 0;
      for (const r of routes) denied += ((r.denied_by_kind || {})[kind] || [])[i] || 0;
      out.by_kind[kind].push(denied / step);
    }
  }
  return out;
}

function chartSvg(name, label) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 " + WIDTH + " " + HEIGHT);
  svg.setAttribute("width", String(WIDTH));
  svg.setAttribute("height", String(HEIGHT));
  svg.setAttribute("role", "img");
  svg.dataset.series = name;
  return svg;
}

// x, y of step i of n for a value against the chart's maximum (0 at the bottom)
function point(i, n, value, max) {
  const x = n > 1 ? i * WIDTH / (n - 1) : 0;
  return x.toFixed(1) + "," + (HEIGHT - 2 - (max ? value / max : 0) * (HEIGHT - 4)).toFixed(1);
}

function sparkline(name, label, values) {
  const figure = document.createElement("div");
  figure.className = "spark";
  const svg = chartSvg(name, label);
  const max = Math.max(0, ...values);
  const last = values.length ? values[values.length - 1] : 0;
  svg.dataset.max = String(max);
  svg.setAttribute("aria-label", label + ": " + last.toFixed(name === "error_ratio" ? 3 : 1) + " now, " + max.toFixed(1) + " at most");
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", values.map((v, i) => point(i, values.length, v, max)).join(" "));
  line.setAttribute("class", "line " + name);
  svg.appendChild(line);
  const caption = document.createElement("span");
  // now and the 15 minutes' peak: the step just sampled is often quieter than the chart
  const show = (v) => (name === "error_ratio" ? (100 * v).toFixed(2) + "%" : v.toFixed(1));
  caption.textContent = label + " " + show(last) + " (max " + show(max) + ")";
  figure.append(svg, caption);
  return figure;
}

// Denials/s stacked by kind: one band per kind (its colour from the stylesheet's .k-<kind>), and a
// legend naming each kind with its rate now, so the colours are never the only way to tell them apart.
function denialChart(byKind) {
  const figure = document.createElement("div");
  figure.className = "spark denials";
  const svg = chartSvg("denied", "denied/s by kind");
  const kinds = Object.keys(byKind);
  const n = kinds.length ? byKind[kinds[0]].length : 0;
  const totals = [];
  for (let i = 0; i < n; i++) totals.push(kinds.reduce((sum, k) => sum + byKind[k][i], 0));
  const max = Math.max(0, ...totals);
  svg.dataset.max = String(max);
  svg.dataset.kinds = kinds.join(" ");
  const below = new Array(n).fill(0);
  for (const kind of kinds) {
    const above = below.map((b, i) => b + byKind[kind][i]);
    const band = document.createElementNS(SVG, "polygon");
    const top = above.map((v, i) => point(i, n, v, max));
    const bottom = below.map((v, i) => point(i, n, v, max)).reverse();
    band.setAttribute("points", top.concat(bottom).join(" "));
    band.setAttribute("class", "band k-" + kind);
    band.dataset.kind = kind;
    svg.appendChild(band);
    for (let i = 0; i < n; i++) below[i] = above[i];
  }
  const now = (kind) => (n ? byKind[kind][n - 1] : 0);
  svg.setAttribute("aria-label", "denied/s by kind: " + (kinds.length ? kinds.map((k) => k + " " + now(k).toFixed(1)).join(", ") + " now, " + max.toFixed(1) + " at most" : "none"));
  const legend = document.createElement("ul");
  legend.className = "legend";
  for (const kind of kinds) {
    const item = document.createElement("li");
    item.dataset.kind = kind;
    const swatch = document.createElement("span");
    swatch.className = "swatch k-" + kind;
    item.append(swatch, kind + " " + now(kind).toFixed(1) + " (max " + Math.max(...byKind[kind]).toFixed(1) + ")");
    legend.appendChild(item);
  }
  if (!kinds.length) {
    const item = document.createElement("li");
    item.className = "muted";
    item.textContent = "no denials";
    legend.appendChild(item);
  }
  const caption = document.createElement("span");
  caption.textContent = "denied/s";
  figure.append(svg, caption, legend);
  return figure;
}

function chartCard(parent, key, title, series) {
  const card = document.createElement("figure");
  card.className = "card";
  card.dataset.chart = key;
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  card.appendChild(caption);
  for (const [name, label] of SERIES) card.appendChild(sparkline(name, label, series[name]));
  card.appendChild(denialChart(series.by_kind));
  parent.appendChild(card);
}

async function drawCharts() {
  const history = await api("/admin/history");
  const kinds = history.deny_kinds || [];
  const charts = $("charts");
  charts.replaceChildren();
  const routes = history.routes;
  const edge = document.createElement("div");
  edge.className = "charts";
  chartCard(edge, "edge", "whole edge", sumSeries(routes, history.step_s, kinds));
  charts.appendChild(edge);
  // a group per team: the team's own chart (its services summed; the platform team's holds the traffic
  // no route matched), then one per service
  // teams with services first, the platform team's traffic of no route last
  const serves = (team) => routes.some((r) => r.owner === team && r.service);
  const teams = [...new Set(routes.map((r) => r.owner))].sort((a, b) => (serves(b) - serves(a)) || a.localeCompare(b));
  for (const team of teams) {
    const ofTeam = routes.filter((r) => r.owner === team);
    const services = [...new Set(ofTeam.map((r) => r.service).filter((s) => s))].sort();
    const group = document.createElement("section");
    group.className = "team-charts";
    group.dataset.team = team;
    const title = document.createElement("h3");
    title.textContent = "team " + team;
    const row = document.createElement("div");
    row.className = "charts";
    const what = services.length ? services.length + " service" + (services.length === 1 ? "" : "s") : "traffic of no route";
    chartCard(row, "team:" + team, team + " (team: " + what + ")", sumSeries(ofTeam, history.step_s, kinds));
    for (const service of services) {
      const own = ofTeam.filter((r) => r.service === service);
      chartCard(row, "service:" + service, service + " (" + team + ")", sumSeries(own, history.step_s, kinds));
    }
    group.append(title, row);
    charts.appendChild(group);
  }
}

// The edge's top deny reasons over the last minute: kind, rule and the service they refused.
function drawDenies(rows) {
  const counts = new Map();
  for (const r of rows) {
    for (const d of r.top_denies) {
      const key = d.kind + "\u0000" + d.rule + "\u0000" + (r.service || "(no route)");
      counts.set(key, (counts.get(key) || 0) + d.count);
    }
  }
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  const list = $("denies");
  list.replaceChildren();
  for (const [key, count] of top) {
    const [kind, rule, service] = key.split("\u0000");
    const item = document.createElement("li");
    item.dataset.kind = kind;
    item.textContent = count + " × " + kind + (rule ? " (" + rule + ")" : "") + " on " + service;
    list.appendChild(item);
  }
  if (!top.length) {
    const item = document.createElement("li");
    item.className = "muted";
    item.textContent = "none in the last minute";
    list.appendChild(item);
  }
}

// The clients a rate limit refused most over the last minute (GET /admin/limited): an API client's
// name, a token's subject or an address, whichever the service's limit counts by.
const KINDS = {api_client: "API client", subject: "subject", address: "address"};

function drawLimited(limited) {
  const list = $("limited");
  list.replaceChildren();
  for (const c of limited.clients) {
    const item = document.createElement("li");
    item.dataset.client = c.client;
    item.dataset.kind = c.kind;
    item.textContent = c.count + " × " + (KINDS[c.kind] || c.kind) + " " + c.client + " on " + c.service + (c.owner ? " (" + c.owner + ")" : "");
    list.appendChild(item);
  }
  if (!limited.clients.length) {
    const item = document.createElement("li");
    item.className = "muted";
    item.textContent = "none in the last minute";
    list.appendChild(item);
  }
}

async function refresh() {
  if (!token()) { say("Enter the admin token to see the traffic.", false, true); return; }
  try {
    const [routes, traffic, verdict, minute, limited] = await Promise.all([
      api("/admin/routes"), api("/admin/traffic?window=10"), api("/admin/verdict"), api("/admin/traffic?window=60"),
      api("/admin/limited"), drawCharts(),
    ]);
    drawDenies(minute.routes);
    drawLimited(limited);
    $("environment").textContent = routes.environment;
    $("hash").textContent = (routes.contract_hash || "").slice(0, 12);
    $("workers").textContent = traffic.workers;
    const last = verdict.last_reload;
    $("reload").textContent = last ? (last.ok ? "ok" : "refused: " + last.error) + " (" + last.trigger + ", " + last.at + ")" : "none since start";
    $("reload").className = last && !last.ok ? "badge bad" : "badge ok";
    const byRoute = {};
    for (const t of traffic.routes) byRoute[t.route] = t;
    const known = new Set(routes.routes.map((r) => r.id));
    const body = $("routes");
    body.replaceChildren();
    const seen = new Set();
    const unique = routes.routes.filter((r) => !seen.has(r.id) && seen.add(r.id));
    // teams, then services, in the order the contract first names them; routes in contract order
    const teams = [...new Set(unique.map((r) => r.owner))];
    const ordered = [];
    for (const owner of teams) {
      const ofTeam = unique.filter((r) => r.owner === owner);
      for (const service of [...new Set(ofTeam.map((r) => r.service))]) {
        ordered.push(...ofTeam.filter((r) => r.service === service));
      }
    }
    let team = null, service = null;
    for (const r of ordered) {
      if (r.owner !== team) { team = r.owner; service = null; teamHeader(body, r.owner, r.oncall); }
      if (r.service !== service) { service = r.service; serviceHeader(body, service, ordered.filter((o) => o.service === service)); }
      const t = byRoute[r.id] || {};
      const row = document.createElement("tr");
      row.dataset.route = r.id;
      row.dataset.service = r.service;
      if (r.stopped) row.className = "stopped";
      row.hidden = folded.has(r.service);
      cell(row, r.id); cell(row, r.methods); cell(row, r.path); cell(row, r.service);
      cell(row, r.owner); cell(row, r.oncall);
      cell(row, t.rps, "num"); cell(row, t.errors, "num"); cell(row, t.denied, "num"); cell(row, t.p99_ms, "num");
      const state = cell(row, r.stopped ? "stopped " + r.stopped.kind + " by " + r.stopped.by + " at " + r.stopped.at + ": " + r.stopped.reason : "serving");
      state.className = r.stopped ? "state bad" : "state ok";
      const actions = cell(row, "");
      // a route stopped with its service starts with the service (the header's control)
      if (!(r.stopped && r.stopped.kind === "service")) {
        const action = r.stopped ? "start" : "stop";
        button(actions, action + " route", () => confirmAct("routes", r.id, action));
      }
      body.appendChild(row);
    }
    // traffic that is no route of this contract: requests no route matched (404s, answered by the
    // gateway, so under the platform team) and routes a reload removed
    let unroutedTeam = null;
    for (const t of traffic.routes) {
      if (known.has(t.route)) continue;
      if (t.owner !== unroutedTeam) { unroutedTeam = t.owner; teamHeader(body, t.owner, t.oncall, "traffic of no route"); }
      const row = document.createElement("tr");
      row.dataset.route = t.route;
      row.className = "unrouted";
      const unmatched = t.route === "unmatched";
      cell(row, unmatched ? "unmatched" : t.route + " (removed)");
      cell(row, "-"); cell(row, unmatched ? "(no route: 404)" : t.path); cell(row, t.service || "-");
      cell(row, t.owner); cell(row, t.oncall);
      cell(row, t.rps, "num"); cell(row, t.errors, "num"); cell(row, t.denied, "num"); cell(row, t.p99_ms, "num");
      cell(row, unmatched ? "answered by the gateway" : "no longer routed", "state");
      cell(row, "");
      body.appendChild(row);
    }
    const message = $("message");
    if (!message.className || message.dataset.refresh) say("");
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || "0") + 1);
  } catch (e) { say(e.message, true, true); }
}

$("save-token").addEventListener("click", () => {
  sessionStorage.setItem(tokenKey, $("token").value.trim());
  $("token").value = "";
  say("");  // a retry: what the last token got wrong no longer applies
  refresh();
});
$("forget-token").addEventListener("click", () => { sessionStorage.removeItem(tokenKey); $("routes").replaceChildren(); say("token forgotten"); });
// The page asks every second: a stop made anywhere (another operator, the admin API) shows within two.
// A refresh still under way when the next is due is not doubled.
const REFRESH_MS = 1000;
let refreshing = false;
async function tick() {
  if (refreshing) return;
  refreshing = true;
  try { await refresh(); } finally { refreshing = false; }
}
document.body.dataset.refreshMs = String(REFRESH_MS);
tick();
setInterval(tick, REFRESH_MS);
