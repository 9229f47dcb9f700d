// Callbox agent scorecards (docs/reports.md "Scorecards and quality review"): the
// standings of a scorecard over a week or month from
// GET /api/console/scorecards/{id}/standings, drawn as a bar chart (Apache ECharts,
// static/vendor/, window.echarts) beside a table of the very numbers, the same as a
// CSV download; overseers add, change and delete scorecards. Names from the API go in
// as text (textContent), never as HTML.

import { api, button, el, fillTable, sectionWords, fill } from "./console-base.js";

const root = document.querySelector('[data-cb="scorecards"]');
const $ = (name, within = root) => within.querySelector(`[data-cb="${name}"]`);
const L = sectionWords(root);
const LOCALE = ((root && root.dataset.lang) || "").startsWith("zh") ? "ZH" : "EN";
const OVERSEES = Boolean(root && root.dataset.oversees);
const FIGURES = root
  ? [...$("sc-figures").querySelectorAll("div[data-id]")].map((d) => ({
      id: d.dataset.id,
      name: d.querySelector("dt").textContent,
    }))
  : [];
const NAME = Object.fromEntries(FIGURES.map((f) => [f.id, f.name]));
let cards = [];
let editing = null; // the id of the scorecard in the form, or null: a new one
let chart = null;

function error(name, text) {
  const p = $(name);
  p.textContent = text || "";
  p.hidden = !text;
}

function table(node, head, rows) {
  fillTable(node, head, rows, 2);
}

function query() {
  const q = new URLSearchParams({ period: $("sc-period").value, day: $("sc-day").value });
  return q;
}

async function loadStandings() {
  error("sc-error", "");
  const id = $("sc-card").value;
  if (!id) {
    $("sc-label").textContent = L.noCards;
    return;
  }
  const q = query();
  $("sc-csv").href = `/api/console/scorecards/${id}/standings.csv?${q}`;
  let page;
  try {
    page = await api("GET", `/api/console/scorecards/${id}/standings?${q}`);
  } catch (e) {
    error("sc-error", fill(L.failed, { error: e.message }));
    return;
  }
  $("sc-label").textContent = `${page.label} (${page.start} – ${page.end})`;
  const lines = page.lines;
  const items = page.scorecard.items;
  // The chart: each agent's score, best first; beside it the same numbers.
  const names = lines.map((l) => l.name);
  if (window.echarts) {
    if (!chart) chart = window.echarts.init($("chart", $("sc-pair")), null, { locale: LOCALE });
    chart.setOption(
      {
        animation: false,
        tooltip: { trigger: "axis", renderMode: "richText" },
        grid: { left: 48, right: 16, top: 24, bottom: 48 },
        xAxis: { type: "category", data: names },
        yAxis: { type: "value", min: 0, max: 100 },
        series: [{ name: L.score, type: "bar", data: lines.map((l) => l.score) }],
      },
      true,
    );
  }
  table($("table", $("sc-pair")), [L.rank, L.agent, L.score], lines.map((l) => [l.rank, l.name, l.score]));
  // The detail: each item's value and points; an item left out says so.
  const head = [L.rank, L.agent, L.score];
  for (const it of items) {
    const name = NAME[it.figure] || it.figure;
    head.push(`${name} (${it.weight}%)`, fill(L.pointsOf, { name }));
  }
  head.push(L.excluded);
  const rows = lines.map((l) => {
    const cells = [l.rank, l.name, l.score];
    items.forEach((_, i) => cells.push(l.values[i], l.points[i]));
    cells.push(l.excluded.map((f) => NAME[f] || f).join(", "));
    return cells;
  });
  table($("sc-detail"), head, rows);
  if (!lines.length) $("sc-label").textContent += ` · ${L.noLines}`;
}

function fillCards() {
  const select = $("sc-card");
  const keep = select.value;
  select.replaceChildren(...cards.map((c) => {
    const o = el("option", "", c.name);
    o.value = String(c.id);
    return o;
  }));
  if (keep && cards.some((c) => String(c.id) === keep)) select.value = keep;
  if (!OVERSEES) return;
  table(
    $("sc-cards"),
    ["#", L.name, L.items, ""],
    cards.map((c) => [
      c.id,
      c.name,
      c.items.map((i) => `${NAME[i.figure] || i.figure} ${i.weight}%`).join(" · "),
      actions(c),
    ]),
  );
}

function actions(card) {
  const box = el("span");
  box.append(
    button(L.edit, "sc-edit-card", "secondary"),
    button(L.delete, "sc-delete-card", "secondary"),
  );
  box.children[0].addEventListener("click", () => edit(card));
  box.children[1].addEventListener("click", async () => {
    if (!window.confirm(L.confirmDelete)) return;
    try {
      await api("DELETE", `/api/console/scorecards/${card.id}`);
      await loadCards();
    } catch (e) {
      error("sc-card-error", fill(L.failed, { error: e.message }));
    }
  });
  return box;
}

async function loadCards() {
  const data = await api("GET", "/api/console/scorecards");
  cards = data.scorecards;
  fillCards();
}

// -- the editor (overseers) -------------------------------------------------------

function itemRow(item) {
  const tr = el("tr");
  const figure = el("select");
  figure.dataset.cb = "sc-item-figure";
  for (const f of FIGURES) {
    const o = el("option", "", f.name);
    o.value = f.id;
    figure.append(o);
  }
  figure.value = item.figure;
  const weight = el("input");
  Object.assign(weight, { type: "number", min: 1, max: 100, step: 1, required: true, value: item.weight });
  weight.dataset.cb = "sc-item-weight";
  const target = el("input");
  Object.assign(target, { type: "number", min: 0, step: "any", required: true, value: item.target });
  target.dataset.cb = "sc-item-target";
  const direction = el("select");
  direction.dataset.cb = "sc-item-direction";
  for (const [v, text] of [["higher", L.higher], ["lower", L.lower]]) {
    const o = el("option", "", text);
    o.value = v;
    direction.append(o);
  }
  direction.value = item.direction;
  const remove = button(L.remove, "sc-item-remove", "secondary");
  remove.addEventListener("click", () => {
    tr.remove();
    weightSum();
  });
  weight.addEventListener("input", weightSum);
  for (const node of [figure, weight, target, direction, remove]) tr.insertCell().append(node);
  return tr;
}

function readItems() {
  return [...$("sc-items").tBodies[0].rows].map((tr) => ({
    figure: tr.querySelector('[data-cb="sc-item-figure"]').value,
    weight: Number(tr.querySelector('[data-cb="sc-item-weight"]').value),
    target: Number(tr.querySelector('[data-cb="sc-item-target"]').value),
    direction: tr.querySelector('[data-cb="sc-item-direction"]').value,
  }));
}

function weightSum() {
  const sum = readItems().reduce((a, i) => a + (i.weight || 0), 0);
  $("sc-weight-sum").textContent = fill(L.weights, { sum });
}

function resetForm() {
  editing = null;
  $("sc-name").value = "";
  $("sc-items").tBodies[0].replaceChildren(itemRow({ figure: "answered", weight: 100, target: 100, direction: "higher" }));
  $("sc-save").textContent = L.add;
  $("sc-cancel").hidden = true;
  weightSum();
}

function edit(card) {
  editing = card.id;
  $("sc-name").value = card.name;
  $("sc-items").tBodies[0].replaceChildren(...card.items.map(itemRow));
  $("sc-save").textContent = L.save;
  $("sc-cancel").hidden = false;
  weightSum();
}

function setUpEditor() {
  resetForm();
  $("sc-add-item").addEventListener("click", () => {
    $("sc-items").tBodies[0].append(itemRow({ figure: "rating_mean", weight: 10, target: 4.5, direction: "higher" }));
    weightSum();
  });
  $("sc-cancel").addEventListener("click", resetForm);
  $("sc-card-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error("sc-card-error", "");
    const body = { name: $("sc-name").value, items: readItems() };
    try {
      const done = editing === null
        ? await api("POST", "/api/console/scorecards", body)
        : await api("PUT", `/api/console/scorecards/${editing}`, body);
      await loadCards();
      $("sc-card").value = String(done.scorecard.id);
      resetForm();
      await loadStandings();
    } catch (e) {
      error("sc-card-error", fill(L.failed, { error: e.message }));
    }
  });
}

async function start() {
  if (!root) return;
  $("sc-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    loadStandings();
  });
  $("sc-card").addEventListener("change", loadStandings);
  if (OVERSEES) setUpEditor();
  await loadCards();
  await loadStandings();
}

start();
