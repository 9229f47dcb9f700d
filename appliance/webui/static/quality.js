// Callbox quality review on the scorecards page (docs/reports.md): overseers
// keep the checklists (GET/POST/PUT/DELETE /api/console/qa/checklists) and draw a
// sample of an agent's unreviewed chats (GET /api/console/qa/sample) to open in the
// review page; everyone sees the reviews they may (an agent: their own, read only).
// Every text from the API goes in as text (textContent), never as HTML.

import { api, button, el, fillTable as table, sectionWords, fill } from "./console-base.js";

const root = document.querySelector('[data-cb="qa"]');
const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
const L = sectionWords(root);
const OVERSEES = Boolean(root && root.dataset.oversees);
const day = (iso) => (iso || "").slice(0, 16).replace("T", " ");
let editing = null;

function error(text) {
  const p = $("qa-error");
  if (!p) return;
  p.textContent = text || "";
  p.hidden = !text;
}

function reviewLink(convId) {
  const a = el("a", "", L.review);
  a.href = `/console/history/${encodeURIComponent(convId)}/review`;
  a.dataset.cb = "qa-review-link";
  return a;
}

async function loadReviews() {
  const data = await api("GET", "/api/console/qa/reviews");
  const rows = data.reviews.map((r) => {
    const items = r.items.map((i) => `${i.label} ${i.given}/${i.points}`).join(" · ");
    const score = el("span", r.critical_failed ? "qa-failed" : "", String(r.score));
    if (r.critical_failed) score.title = L.criticalFailed;
    const scoreCell = el("span");
    scoreCell.append(score);
    // A chat reviewed again: this earlier review stays listed but no longer counts.
    if (!r.counts) {
      const note = el("span", "muted", ` · ${L.superseded}`);
      note.dataset.cb = "qa-superseded";
      scoreCell.append(note);
    }
    const comment = el("span", "", r.comment);
    if (r.edited_at) {
      comment.append(el("div", "muted", fill(L.editedBy, { name: r.editor_name, when: day(r.edited_at) })));
    }
    const chat = el("span");
    const link = el("a", "", day(r.chat_at));
    link.href = `/console/history/${encodeURIComponent(r.conversation_id)}`;
    chat.append(link);
    if (OVERSEES) chat.append(" · ", reviewLink(r.conversation_id)); // edit or delete there
    return [
      day(r.created_at),
      r.agent_name,
      r.reviewer_name,
      `${r.checklist_name} ${fill(L.version, { n: r.checklist_version })}`,
      scoreCell,
      items,
      comment,
      chat,
    ];
  });
  const node = $("qa-reviews");
  node.dataset.count = String(rows.length);
  table(
    node,
    [L.colWhen, L.colAgent, L.colReviewer, L.colChecklist, L.colScore, L.item, L.colComment, L.colChat],
    rows.length ? rows : [[L.noReviews]],
  );
}

// -- checklists (overseers) -------------------------------------------------------

function itemRow(item) {
  const tr = el("tr");
  const label = el("input");
  Object.assign(label, { maxLength: 100, required: true, value: item.label });
  label.dataset.cb = "qa-item-label";
  const points = el("input");
  Object.assign(points, { type: "number", min: 0, max: 100, step: 1, required: true, value: item.points });
  points.dataset.cb = "qa-item-points";
  const critical = el("input");
  Object.assign(critical, { type: "checkbox", checked: item.critical });
  critical.dataset.cb = "qa-item-critical";
  const remove = button(L.remove, "qa-item-remove", "secondary");
  remove.addEventListener("click", () => tr.remove());
  for (const node of [label, points, critical, remove]) tr.insertCell().append(node);
  return tr;
}

function resetForm() {
  editing = null;
  $("qa-name").value = "";
  $("qa-items").tBodies[0].replaceChildren(itemRow({ label: "", points: 5, critical: false }));
  $("qa-save").textContent = L.add;
  $("qa-cancel").hidden = true;
}

async function loadChecklists() {
  const data = await api("GET", "/api/console/qa/checklists");
  table(
    $("qa-checklists"),
    ["#", L.name, L.colVersion, L.item, ""],
    data.checklists.map((c) => {
      const box = el("span");
      const edit = button(L.edit, "qa-edit", "secondary");
      edit.addEventListener("click", () => {
        editing = c.id;
        $("qa-name").value = c.name;
        $("qa-items").tBodies[0].replaceChildren(...c.items.map(itemRow));
        $("qa-save").textContent = L.save;
        $("qa-cancel").hidden = false;
      });
      const del = button(L.delete, "qa-delete", "secondary");
      del.addEventListener("click", async () => {
        if (!window.confirm(L.confirmDelete)) return;
        try {
          await api("DELETE", `/api/console/qa/checklists/${c.id}`);
          await loadChecklists();
        } catch (e) {
          error(fill(L.failed, { error: e.message }));
        }
      });
      box.append(edit, del);
      const items = c.items
        .map((i) => `${i.label} ${i.points}${i.critical ? ` (${L.critical})` : ""}`)
        .join(" · ");
      return [c.id, c.name, c.version, items, box];
    }),
  );
}

async function loadAgents() {
  const data = await api("GET", "/api/console/agents");
  $("qa-agent").replaceChildren(
    ...data.agents.map((a) => {
      const o = el("option", "", a.display_name);
      o.value = String(a.id);
      return o;
    }),
  );
}

function setUpOverseer() {
  resetForm();
  $("qa-add-item").addEventListener("click", () => {
    $("qa-items").tBodies[0].append(itemRow({ label: "", points: 5, critical: false }));
  });
  $("qa-cancel").addEventListener("click", resetForm);
  $("qa-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error("");
    const items = [...$("qa-items").tBodies[0].rows].map((tr) => ({
      label: tr.querySelector('[data-cb="qa-item-label"]').value,
      points: Number(tr.querySelector('[data-cb="qa-item-points"]').value),
      critical: tr.querySelector('[data-cb="qa-item-critical"]').checked,
    }));
    const body = { name: $("qa-name").value, items };
    try {
      if (editing === null) await api("POST", "/api/console/qa/checklists", body);
      else await api("PUT", `/api/console/qa/checklists/${editing}`, body);
      resetForm();
      await loadChecklists();
    } catch (e) {
      error(fill(L.failed, { error: e.message }));
    }
  });
  $("qa-sample-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error("");
    const q = new URLSearchParams(new FormData(ev.target));
    try {
      const data = await api("GET", `/api/console/qa/sample?${q}`);
      const rows = data.chats.map((c) => [c.visitor_name, c.agent_name, day(c.started), c.messages, reviewLink(c.id)]);
      table(
        $("qa-sample"),
        [L.colVisitor, L.colAgent, L.colWhen, "#", ""],
        rows.length ? rows : [[L.noSample]],
      );
    } catch (e) {
      error(fill(L.failed, { error: e.message }));
    }
  });
  return Promise.all([loadChecklists(), loadAgents()]);
}

async function start() {
  if (!root) return;
  if (OVERSEES) await setUpOverseer();
  await loadReviews();
}

start();
