// Callbox quality review of one finished chat (docs/reports.md): pick a
// checklist, give each item 0 up to its points (a critical item at 0 fails the whole
// review), add a comment and save with POST /api/console/qa/reviews. The chat's
// earlier reviews are listed below. Every text goes in as text, never as HTML.

import { api, el, sectionWords, fill } from "./console-base.js";

const root = document.querySelector('[data-cb="qa-review"]');
const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
const L = sectionWords(root);
let checklists = [];

function error(text) {
  const p = $("qa-sheet-error");
  p.textContent = text || "";
  p.hidden = !text;
}

function current() {
  return checklists.find((c) => String(c.id) === $("qa-checklist").value);
}

function givens() {
  return [...$("qa-sheet-items").tBodies[0].querySelectorAll('input[data-cb="qa-given"]')].map((i) => Number(i.value));
}

// The score as the server will compute it: the share of the points, 0 if a critical
// item got nothing.
function total() {
  const list = current();
  if (!list) return;
  const given = givens();
  const whole = list.items.reduce((a, i) => a + i.points, 0);
  const failed = list.items.some((i, k) => i.critical && given[k] === 0);
  const score = failed || !whole ? 0 : Math.round((1000 * given.reduce((a, g) => a + g, 0)) / whole) / 10;
  $("qa-total").textContent = `${fill(L.total, { score })}${failed ? ` · ${L.criticalFailed}` : ""}`;
}

function sheet() {
  const list = current();
  const body = $("qa-sheet-items").tBodies[0];
  body.replaceChildren();
  if (!list) return;
  for (const item of list.items) {
    const tr = body.insertRow();
    tr.insertCell().textContent = item.critical ? `${item.label} (${L.critical})` : item.label;
    tr.insertCell().textContent = String(item.points);
    const input = el("input");
    Object.assign(input, { type: "number", min: 0, max: item.points, step: 1, value: item.points, required: true });
    input.dataset.cb = "qa-given";
    input.addEventListener("input", total);
    tr.insertCell().append(input);
  }
  total();
}

async function loadDone() {
  const conv = root.dataset.conv;
  const data = await api("GET", `/api/console/qa/reviews?conversation_id=${encodeURIComponent(conv)}`);
  const list = $("qa-done");
  list.replaceChildren(
    ...(data.reviews.length
      ? data.reviews.map((r) => {
          const li = el(
            "li",
            r.critical_failed ? "qa-failed" : "",
            `${r.score} · ${r.checklist_name} ${fill(L.version, { n: r.checklist_version })} · ${r.reviewer_name} · ${(r.created_at || "").slice(0, 16).replace("T", " ")}`,
          );
          if (r.comment) li.append(el("div", "muted", r.comment));
          return li;
        })
      : [el("li", "muted", L.noReviews)]),
  );
}

async function start() {
  if (!root) return;
  if (root.dataset.status !== "closed") {
    error(L.notFinished);
    $("qa-submit").disabled = true;
  }
  const data = await api("GET", "/api/console/qa/checklists");
  checklists = data.checklists;
  $("qa-checklist").replaceChildren(
    ...checklists.map((c) => {
      const o = el("option", "", `${c.name} ${fill(L.version, { n: c.version })}`);
      o.value = String(c.id);
      return o;
    }),
  );
  if (!checklists.length) {
    error(L.noChecklists);
    $("qa-submit").disabled = true;
  }
  $("qa-checklist").addEventListener("change", sheet);
  sheet();
  $("qa-sheet").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error("");
    const list = current();
    try {
      await api("POST", "/api/console/qa/reviews", {
        conversation_id: root.dataset.conv,
        checklist_id: list.id,
        checklist_version: list.version,
        scores: givens(),
        comment: $("qa-comment").value,
      });
      $("qa-status").textContent = L.saved;
      $("qa-comment").value = "";
      await loadDone();
    } catch (e) {
      error(fill(L.failed, { error: e.message }));
    }
  });
  await loadDone();
}

start();
