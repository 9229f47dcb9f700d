// Callbox scheduled reports by e-mail, on the reports page (docs/reports.md): the
// subscriptions from GET /api/console/reports/subscriptions, a form to add or change
// one, and per row: turn on/off, send now, edit, delete. Every name and address from
// the API goes in as text (textContent), never as HTML.

import { api, button, el, sectionWords, fill } from "./console-base.js";

const root = document.querySelector('[data-cb="rep-mail"]');
const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
const L = sectionWords(root);
let editing = null; // the id of the subscription in the form, or null: a new one
let list = [];

// The label an option of one of the form's selects shows for a value.
function optionText(select, value) {
  const opt = [...$(select).options].find((o) => o.value === value);
  return opt ? opt.textContent : value;
}

function error(text) {
  const p = $("rm-error");
  p.textContent = text || "";
  p.hidden = !text;
}

function status(text) {
  $("rm-status").textContent = text || "";
}

function input(sub) {
  return {
    name: sub.name,
    recipients: sub.recipients,
    frequency: sub.frequency,
    hour: sub.hour,
    period: sub.period,
    dim: sub.dim,
    lang: sub.lang,
    enabled: sub.enabled,
  };
}

async function act(work) {
  error("");
  try {
    await work();
  } catch (e) {
    error(fill(L.failed, { error: e.message || String(e) }));
  }
}

function row(sub) {
  const tr = el("tr");
  tr.dataset.id = String(sub.id);
  tr.append(el("td", "", sub.name), el("td", "", sub.recipients.join(", ")));
  tr.append(el("td", "", `${optionText("rm-frequency", sub.frequency)} ${String(sub.hour).padStart(2, "0")}:00`));
  tr.append(el("td", "", `${optionText("rm-period", sub.period)} · ${optionText("rm-dim", sub.dim)}`));
  const state = !sub.enabled ? L.off : sub.last_period ? fill(L.last, { period: sub.last_period }) : L.never;
  tr.append(el("td", "", state));
  const actions = el("td", "rep-mail-actions");
  const toggle = button(sub.enabled ? L.disable : L.enable, "rm-toggle");
  toggle.addEventListener("click", () =>
    act(async () => {
      await api("PUT", `/api/console/reports/subscriptions/${sub.id}`, { ...input(sub), enabled: !sub.enabled });
      await load();
    }),
  );
  const send = button(L.sendNow, "rm-send");
  send.addEventListener("click", () =>
    act(async () => {
      const done = await api("POST", `/api/console/reports/subscriptions/${sub.id}/send`);
      status(done.queued ? fill(L.queued, { n: done.queued }) : L.notQueued);
    }),
  );
  const edit = button(L.edit, "rm-edit");
  edit.addEventListener("click", () => startEdit(sub));
  const del = button(L.delete, "rm-delete");
  del.addEventListener("click", () => {
    if (!window.confirm(fill(L.confirmDelete, { name: sub.name }))) return;
    act(async () => {
      await api("DELETE", `/api/console/reports/subscriptions/${sub.id}`);
      if (editing === sub.id) resetForm();
      await load();
    });
  });
  actions.append(toggle, send, edit, del);
  tr.append(actions);
  return tr;
}

async function load() {
  const data = await api("GET", "/api/console/reports/subscriptions");
  list = data.subscriptions;
  $("rm-no-mail").hidden = data.mail_ready;
  const body = $("rm-rows");
  body.replaceChildren(...list.map(row));
  if (!list.length) {
    const tr = el("tr");
    const td = el("td", "muted", L.none);
    td.colSpan = 6;
    tr.append(td);
    body.append(tr);
  }
}

function resetForm() {
  editing = null;
  const form = $("rm-form");
  form.reset();
  $("rm-submit").textContent = L.add;
  $("rm-cancel").hidden = true;
}

function startEdit(sub) {
  editing = sub.id;
  const f = $("rm-form").elements;
  f.name.value = sub.name;
  f.recipients.value = sub.recipients.join("\n");
  f.frequency.value = sub.frequency;
  f.hour.value = String(sub.hour);
  f.period.value = sub.period;
  f.dim.value = sub.dim;
  f.lang.value = sub.lang;
  f.enabled.checked = sub.enabled;
  $("rm-submit").textContent = L.save;
  $("rm-cancel").hidden = false;
  f.name.focus();
}

function fromForm() {
  const f = $("rm-form").elements;
  return {
    name: f.name.value.trim(),
    recipients: f.recipients.value.split(/[\s,;\uFF0C\uFF1B]+/).filter(Boolean),
    frequency: f.frequency.value,
    hour: Number(f.hour.value),
    period: f.period.value,
    dim: f.dim.value,
    lang: f.lang.value,
    enabled: f.enabled.checked,
  };
}

if (root) {
  $("rm-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(async () => {
      const body = fromForm();
      if (editing === null) await api("POST", "/api/console/reports/subscriptions", body);
      else await api("PUT", `/api/console/reports/subscriptions/${editing}`, body);
      resetForm();
      await load();
    });
  });
  $("rm-cancel").addEventListener("click", resetForm);
  act(load);
}
