// Callbox reports (docs/reports.md): figures per day, week or month from
// GET /api/console/reports, each chart drawn with Apache ECharts (static/vendor/,
// window.echarts) beside a table of the very numbers it draws; the same question as a
// CSV download; the staffing plan from GET /api/console/reports/plan. Figure names and
// definitions come from the page (its language); names from the API go in as text.
// ECharts' tooltips render as rich text in the canvas, never as HTML.

import { api, sectionWords, fill } from "./console-base.js";

const root = document.querySelector('[data-cb="reports"]');
const $ = (name, within = root) => within.querySelector(`[data-cb="${name}"]`);
// The page's words: data-l-plan-method="…" becomes L.planMethod.
const L = sectionWords(root);
const LOCALE = ((root && root.dataset.lang) || "").startsWith("zh") ? "ZH" : "EN";
const FIGURES = root
  ? [...$("rep-figures").querySelectorAll("div[data-id]")].map((d) => ({
      id: d.dataset.id,
      unit: d.dataset.unit,
      name: d.querySelector("dt").textContent,
      def: d.querySelector("dd").textContent,
    }))
  : [];
const FIGURE = Object.fromEntries(FIGURES.map((f) => [f.id, f]));
const charts = new Map(); // section name -> its ECharts instance

const show = (v) => (v === null || v === undefined ? "–" : String(v));

function chartOf(section) {
  let chart = charts.get(section);
  if (!chart) {
    chart = window.echarts.init($("chart", $(section)), null, { locale: LOCALE });
    charts.set(section, chart);
  }
  return chart;
}

// Draw a chart and, beside it, the same numbers: head is the column titles, rows the
// lines (first cell the label), series [{name, type, values}] over the x labels.
function draw(section, x, series, head, rows, extra = {}) {
  const pie = series.length === 1 && series[0].type === "pie";
  const option = {
    animation: false,
    tooltip: { trigger: pie ? "item" : "axis", renderMode: "richText" },
    legend: { type: "scroll", top: 0 },
    grid: { left: 48, right: 16, top: 36, bottom: 48 },
    ...(pie
      ? {}
      : {
          xAxis: { type: "category", data: x },
          yAxis: extra.yAxis || { type: "value" },
          dataZoom: x.length > 40 ? [{ type: "slider", bottom: 4 }] : [],
        }),
    series: series.map((s) =>
      s.type === "pie"
        ? { name: s.name, type: "pie", radius: "60%", data: s.values }
        : { name: s.name, type: s.type, data: s.values, yAxisIndex: s.axis || 0, connectNulls: false },
    ),
  };
  chartOf(section).setOption(option, true);
  const table = $("table", $(section));
  table.replaceChildren();
  const thead = table.createTHead().insertRow();
  for (const h of head) {
    const th = document.createElement("th");
    th.textContent = h;
    thead.append(th);
  }
  const body = table.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    r.forEach((cell, i) => {
      const td = tr.insertCell();
      td.textContent = show(cell);
      if (i > 0) td.className = "num";
    });
  }
}

function query(form) {
  const data = new FormData(form);
  const q = new URLSearchParams();
  for (const [k, v] of data) if (v !== "" && k !== "figure") q.set(k, v);
  return q;
}

const sum = (rows, id) => rows.reduce((a, r) => a + (r.values[id] || 0), 0);

function renderReport(page, figureId) {
  const buckets = [...new Set(page.rows.map((r) => r.bucket))].sort();
  const byBucket = (id) => buckets.map((b) => sum(page.rows.filter((r) => r.bucket === b), id));
  // Chats over time: offered, answered, abandoned (summed over the keys shown).
  const volume = ["offered", "answered", "abandoned"];
  const series = volume.map((id) => ({ name: FIGURE[id].name, type: "line", values: byBucket(id) }));
  draw(
    "rep-volume",
    buckets,
    series,
    [L.bucket, ...volume.map((id) => FIGURE[id].name)],
    buckets.map((b, i) => [b, ...series.map((s) => s.values[i])]),
  );
  // The chosen figure per period: one bar series per key (the centre, or up to ten keys).
  const keys = [...new Set(page.rows.map((r) => r.key))].slice(0, 10);
  const nameOf = (key) => {
    const row = page.rows.find((r) => r.key === key);
    return key === "" && page.dim === "all" ? L.all : (row && row.name) || key;
  };
  const valueAt = (b, key) => {
    const row = page.rows.find((r) => r.bucket === b && r.key === key);
    return row ? row.values[figureId] : null;
  };
  const bars = keys.map((key) => ({ name: nameOf(key), type: "bar", values: buckets.map((b) => valueAt(b, key)) }));
  $("rep-figure-name").textContent = FIGURE[figureId].name;
  draw(
    "rep-figure-chart",
    buckets,
    bars,
    [L.bucket, ...bars.map((s) => s.name)],
    buckets.map((b, i) => [b, ...bars.map((s) => s.values[i])]),
  );
  // How the chats of the whole span ended.
  const offered = sum(page.rows, "offered");
  const answered = sum(page.rows, "answered");
  const abandoned = sum(page.rows, "abandoned");
  const parts = [
    [L.answered, answered],
    [L.abandoned, abandoned],
    [L.other, Math.max(0, offered - answered - abandoned)],
  ];
  draw(
    "rep-share",
    [],
    [{ name: FIGURE.offered.name, type: "pie", values: parts.map(([name, value]) => ({ name, value })) }],
    ["", FIGURE.offered.name],
    parts,
  );
  renderAll(page);
}

function renderAll(page) {
  const table = $("rep-all");
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  const first = document.createElement("th");
  first.textContent = L.bucket;
  head.append(first);
  if (page.dim !== "all") head.append(document.createElement("th"));
  for (const f of FIGURES) {
    const th = document.createElement("th");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link rep-def-button";
    b.dataset.figure = f.id;
    b.textContent = f.name;
    b.title = f.def;
    th.append(b);
    head.append(th);
  }
  const body = table.createTBody();
  for (const r of page.rows) {
    const tr = body.insertRow();
    tr.insertCell().textContent = r.bucket;
    if (page.dim !== "all") tr.insertCell().textContent = r.name || r.key;
    for (const f of FIGURES) {
      const td = tr.insertCell();
      td.className = "num";
      td.textContent = show(r.values[f.id]);
    }
  }
  $("rep-updated").textContent = page.rows.length
    ? page.rolled_at ? fill(L.updated, { time: page.rolled_at.slice(0, 16).replace("T", " ") }) : ""
    : L.noData;
}

async function load() {
  const form = $("rep-form");
  const q = query(form);
  $("rep-csv").href = `/api/console/reports.csv?${q}`;
  $("rep-error").hidden = true;
  $("rep-updated").textContent = L.loading;
  try {
    const page = await api("GET", `/api/console/reports?${q}`);
    renderReport(page, $("rep-figure").value);
    loadFunnel();
    root.dataset.loaded = String(Number(root.dataset.loaded || 0) + 1);
  } catch (e) {
    $("rep-error").textContent = e.message;
    $("rep-error").hidden = false;
  }
}

// Visitors to customers over the report's days: the ten most visited as bars, every
// row in the table.
async function loadFunnel() {
  const q = query($("rep-form"));
  q.delete("period");
  q.delete("dim");
  q.set("by", $("funnel-by").value);
  $("funnel-csv").href = `/api/console/reports/funnel.csv?${q}`;
  try {
    const page = await api("GET", `/api/console/reports/funnel?${q}`);
    const top = page.rows.slice(0, 10);
    const steps = [
      ["visits", L.funnelVisits],
      ["invited", L.funnelInvited],
      ["chatted", L.funnelChats],
      ["ticketed", L.funnelTickets],
      ["leads", L.funnelLeads],
    ];
    draw(
      "rep-funnel",
      top.map((r) => r.key),
      steps.map(([id, name]) => ({ name, type: "bar", values: top.map((r) => r[id]) })),
      [L.funnelKey, ...steps.map(([, name]) => name), L.funnelRate],
      page.rows.map((r) => [
        r.key, r.visits, r.invited, r.chatted, r.ticketed, r.leads,
        r.chat_rate === null ? null : (100 * r.chat_rate).toFixed(1),
      ]),
    );
  } catch (e) {
    $("rep-error").textContent = e.message;
    $("rep-error").hidden = false;
  }
}

async function loadPlan() {
  const form = $("plan-form");
  const q = query(form);
  $("plan-csv").href = `/api/console/reports/plan.csv?${q}`;
  try {
    const plan = await api("GET", `/api/console/reports/plan?${q}`);
    $("plan-method").textContent = fill(L.planMethod, { weeks: plan.weeks, aht: plan.aht });
    const pct = (v) => (v === null ? "–" : (100 * v).toFixed(1));
    $("plan-error").textContent = plan.wape === null
      ? L.planNoError
      : fill(L.planError, { held: plan.held_out_weeks, wape: pct(plan.wape), mape: pct(plan.mape), naive: pct(plan.naive_wape) });
    const x = plan.slots.map((s) => s.start.slice(5, 16).replace("T", " "));
    const expected = plan.slots.map((s) => s.expected);
    const agents = plan.slots.map((s) => s.agents);
    draw(
      "rep-plan",
      x,
      [
        { name: L.planExpected, type: "line", values: expected },
        { name: L.planAgents, type: "bar", values: agents, axis: 1 },
      ],
      [L.planStart, L.planExpected, L.planAgents, L.planSl],
      plan.slots.map((s, i) => [x[i], s.expected, s.agents, (100 * s.service_level).toFixed(1)]),
      { yAxis: [{ type: "value" }, { type: "value", minInterval: 1 }] },
    );
  } catch (e) {
    $("plan-error").textContent = e.message;
  }
}

if (root) {
  $("rep-form").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  $("rep-period").addEventListener("change", load);
  $("rep-dim").addEventListener("change", load);
  $("rep-figure").addEventListener("change", load);
  $("funnel-by").addEventListener("change", loadFunnel);
  $("plan-form").addEventListener("submit", (e) => { e.preventDefault(); loadPlan(); });
  $("rep-all").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-figure]");
    if (!b) return;
    const f = FIGURE[b.dataset.figure];
    $("rep-def-name").textContent = f.name;
    $("rep-def-text").textContent = f.def;
    $("rep-def").hidden = false;
  });
  window.addEventListener("resize", () => { for (const c of charts.values()) c.resize(); });
  load();
  loadPlan();
}
