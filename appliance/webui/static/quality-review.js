// Callbox quality review of one finished chat (docs/reports.md): pick a
// checklist, give each item 0 up to its points (a critical item at 0 fails the whole
// review), add a comment and save with POST /api/console/qa/reviews. The chat's
// earlier reviews are listed below, each with edit (PUT, re-scored against the items
// the review was made with, not the checklist's current version) and delete (DELETE,
// after a confirmation); the review saved last is the one that counts. Every text goes
// in as text, never as HTML.

import { api, button, el, sectionWords, fill } from "./console-base.js";

const root = document.querySelector('[data-cb="qa-review"]');
const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
const L = sectionWords(root);
const stamp = (iso) => (iso || "").slice(0, 16).replace("T", " ");
let checklists = [];
let canCreate = true;
let editing = null; // the review being corrected, or null: a new review

function error(text) {
  const p = $("qa-sheet-error");
  p.textContent = text || "";
  p.hidden = !text;
}

function current() {
  return checklists.find((c) => String(c.id) === $("qa-checklist").value);
}

// The items on the sheet: the corrected review's own copy, else the chosen checklist's.
function shownItems() {
  if (editing) return editing.items;
  const list = current();
  return list ? list.items : null;
}

function givens() {
  return [...$("qa-sheet-items").tBodies[0].querySelectorAll('input[data-cb="qa-given"]')].map((i) => Number(i.value));
}

// The score as the server will compute it: the share of the points, 0 if a critical
// item got nothing.
function total() {
  const items = shownItems();
  if (!items) return;
  const given = givens();
  const whole = items.reduce((a, i) => a + i.points, 0);
  const failed = items.some((i, k) => i.critical && given[k] === 0);
  const score = failed || !whole ? 0 : Math.round((1000 * given.reduce((a, g) => a + g, 0)) / whole) / 10;
  $("qa-total").textContent = `${fill(L.total, { score })}${failed ? ` · ${L.criticalFailed}` : ""}`;
}

function sheet() {
  const items = shownItems();
  const body = $("qa-sheet-items").tBodies[0];
  body.replaceChildren();
  if (!items) return;
  for (const item of items) {
    const tr = body.insertRow();
    tr.insertCell().textContent = item.critical ? `${item.label} (${L.critical})` : item.label;
    tr.insertCell().textContent = String(item.points);
    const input = el("input");
    const value = item.given ?? item.points;
    Object.assign(input, { type: "number", min: 0, max: item.points, step: 1, value, required: true });
    input.dataset.cb = "qa-given";
    input.addEventListener("input", total);
    tr.insertCell().append(input);
  }
  total();
}

function setMode(review) {
  editing = review;
  const note = $("qa-editing");
  if (review) {
    note.textContent = fill(L.editing, {
      when: stamp(review.created_at),
      name: review.checklist_name,
      version: fill(L.version, { n: review.checklist_version }),
    });
    $("qa-comment").value = review.comment;
  } else {
    $("qa-comment").value = "";
  }
  note.hidden = !review;
  $("qa-cancel-edit").hidden = !review;
  $("qa-checklist").disabled = Boolean(review);
  $("qa-submit").textContent = review ? L.saveChange : L.submit;
  $("qa-submit").disabled = !review && !canCreate;
  sheet();
}

async function remove(review) {
  if (!window.confirm(L.confirmDelete)) return;
  error("");
  try {
    await api("DELETE", `/api/console/qa/reviews/${review.id}`);
    if (editing && editing.id === review.id) setMode(null);
    $("qa-status").textContent = L.deleted;
    await loadDone();
  } catch (e) {
    error(fill(L.failed, { error: e.message }));
  }
}

function doneItem(r) {
  const li = el(
    "li",
    r.critical_failed ? "qa-failed" : "",
    `${r.score} · ${r.checklist_name} ${fill(L.version, { n: r.checklist_version })} · ${r.reviewer_name} · ${stamp(r.created_at)}`,
  );
  li.dataset.cb = "qa-done-item";
  li.dataset.id = String(r.id);
  if (!r.counts) {
    const note = el("span", "muted", ` · ${L.superseded}`);
    note.dataset.cb = "qa-superseded";
    li.append(note);
  }
  const edit = button(L.edit, "qa-done-edit", "secondary");
  edit.addEventListener("click", () => {
    error("");
    $("qa-status").textContent = "";
    setMode(r);
    $("qa-sheet-items").scrollIntoView({ block: "nearest" });
  });
  const del = button(L.delete, "qa-done-delete", "secondary");
  del.addEventListener("click", () => remove(r));
  li.append(" ", edit, " ", del);
  if (r.edited_at) {
    const by = el("div", "muted", fill(L.editedBy, { name: r.editor_name, when: stamp(r.edited_at) }));
    by.dataset.cb = "qa-edited";
    li.append(by);
  }
  if (r.comment) li.append(el("div", "muted", r.comment));
  return li;
}

async function loadDone() {
  const conv = root.dataset.conv;
  const data = await api("GET", `/api/console/qa/reviews?conversation_id=${encodeURIComponent(conv)}`);
  $("qa-done").replaceChildren(...(data.reviews.length ? data.reviews.map(doneItem) : [el("li", "muted", L.noReviews)]));
}

async function start() {
  if (!root) return;
  if (root.dataset.status !== "closed") {
    error(L.notFinished);
    canCreate = false;
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
    canCreate = false;
  }
  $("qa-checklist").addEventListener("change", sheet);
  $("qa-cancel-edit").addEventListener("click", () => setMode(null));
  setMode(null);
  $("qa-sheet").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error("");
    try {
      if (editing) {
        await api("PUT", `/api/console/qa/reviews/${editing.id}`, {
          scores: givens(),
          comment: $("qa-comment").value,
        });
        $("qa-status").textContent = L.changed;
      } else {
        const list = current();
        await api("POST", "/api/console/qa/reviews", {
          conversation_id: root.dataset.conv,
          checklist_id: list.id,
          checklist_version: list.version,
          scores: givens(),
          comment: $("qa-comment").value,
        });
        $("qa-status").textContent = L.saved;
      }
      setMode(null);
      await loadDone();
    } catch (e) {
      error(fill(L.failed, { error: e.message }));
    }
  });
  await loadDone();
}

start();
