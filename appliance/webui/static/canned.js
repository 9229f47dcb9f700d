// Canned answers: "/" at the start of the composer opens a list filtered by shortcut
// or title prefix (arrows move, Enter or Tab inserts, Esc closes), and a small
// manager lists, adds (personal, or shared by supervisors) and deletes them.

import { T } from "./console-i18n.js";
import {
  api, button, el, errText, flash, formPanel, isOverseer, openDialog, ui,
} from "./console-base.js";

let answers = []; // [{id, shortcut, title, body, shared}] by shortcut
let matches = [];
let active = 0;

const byShortcut = (a, b) => a.shortcut.localeCompare(b.shortcut) || Number(a.shared) - Number(b.shared);

export async function loadCanned() {
  try {
    const r = await api("GET", "/api/console/canned");
    answers = (r.answers || []).slice().sort(byShortcut);
  } catch (e) {
    console.warn("callbox: canned answers not loaded", e);
  }
}

// ---- Picker ----------------------------------------------------------------
export function updatePicker() {
  // Only while the whole text is "/query": a slash later in a sentence is just text.
  const m = /^\/(\S*)$/.exec(ui.input.value);
  if (!m || ui.input.disabled) {
    closePicker();
    return;
  }
  const q = m[1].toLowerCase();
  matches = answers.filter((a) => a.shortcut.toLowerCase().startsWith(q) || a.title.toLowerCase().startsWith(q));
  active = Math.min(active, Math.max(0, matches.length - 1));
  if (!matches.length) {
    ui.cannedList.replaceChildren(el("li", "empty", answers.length ? T.cannedNone : T.cannedEmpty));
  } else {
    ui.cannedList.replaceChildren(...matches.map((a, i) => {
      const li = el("li", "option");
      Object.assign(li.dataset, { cb: "canned-item", id: String(a.id), index: String(i) });
      li.setAttribute("role", "option");
      li.append(el("span", "shortcut", `/${a.shortcut}`), el("span", "title", a.title), el("span", "body", a.body));
      // mousedown, not click: the composer keeps its focus and caret.
      li.addEventListener("mousedown", (e) => { e.preventDefault(); insert(a); });
      return li;
    }));
  }
  ui.cannedList.hidden = false;
  highlight();
}

function highlight() {
  [...ui.cannedList.children].forEach((li, i) => {
    const on = i === active && li.classList.contains("option");
    li.classList.toggle("active", on);
    li.setAttribute("aria-selected", on ? "true" : "false");
    if (on) li.scrollIntoView({ block: "nearest" });
  });
}

export function closePicker() {
  ui.cannedList.hidden = true;
  ui.cannedList.replaceChildren();
  matches = [];
  active = 0;
}

function insert(a) {
  ui.input.value = a.body;
  ui.input.focus();
  ui.input.setSelectionRange(a.body.length, a.body.length);
  // Keeps the draft and the typing indicator as if the agent had typed it.
  ui.input.dispatchEvent(new Event("input", { bubbles: true }));
  closePicker(); // after the event: a body like "/x" must not reopen the list
}

// Handle a composer key while the list is open; true if it was the picker's.
export function pickerKey(e) {
  if (ui.cannedList.hidden || e.isComposing || e.keyCode === 229) return false;
  if (e.key === "Escape") {
    closePicker();
  } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    if (matches.length) active = (active + (e.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
    highlight();
  } else if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") {
    if (!matches.length) return false;
    insert(matches[active]);
  } else {
    return false;
  }
  e.preventDefault();
  return true;
}

// ---- Manager ---------------------------------------------------------------
function renderManaged(list) {
  if (!answers.length) {
    list.replaceChildren(el("li", "empty", T.cannedEmpty));
    return;
  }
  list.replaceChildren(...answers.map((a) => {
    const li = el("li", "answer");
    Object.assign(li.dataset, { cb: "canned-answer", id: String(a.id), shortcut: a.shortcut });
    const head = el("div", "answer-head");
    head.append(
      el("span", "shortcut", `/${a.shortcut}`),
      el("span", "title", a.title),
      el("span", `badge ${a.shared ? "shared" : "personal"}`, a.shared ? T.shared : T.personal),
    );
    if (!a.shared || isOverseer()) {
      const del = button(T.delete, "canned-delete", "link danger-link");
      del.addEventListener("click", async () => {
        del.disabled = true;
        try {
          await api("DELETE", `/api/console/canned/${encodeURIComponent(a.id)}`);
          answers = answers.filter((x) => x.id !== a.id);
          renderManaged(list);
        } catch (e) {
          del.disabled = false;
          flash(`${T.delete}: ${errText(e)}`);
        }
      });
      head.append(del);
    }
    li.append(head, el("div", "body", a.body));
    return li;
  }));
}

function field(label, input) {
  const row = el("label", "field");
  row.append(el("span", null, label), input);
  return row;
}

function input(name, attrs) {
  const n = el(attrs.rows ? "textarea" : "input");
  Object.assign(n, { name, ...attrs });
  n.dataset.cb = `canned-${name}`;
  return n;
}

export async function openManager() {
  await loadCanned();
  const list = el("ul", "canned-manage");
  list.dataset.cb = "canned-items";
  renderManaged(list);
  const shortcut = input("shortcut", { required: true, maxLength: 32 }); // the server checks the characters
  const title = input("title", { maxLength: 100 });
  const body = input("body", { required: true, rows: 3, maxLength: 4000 });
  const fields = [field(T.shortcut, shortcut), field(T.cannedTitleField, title), field(T.cannedBody, body)];
  const shared = input("shared", { type: "checkbox" });
  if (isOverseer()) {
    const row = el("label", "check");
    row.append(shared, el("span", null, T.shared));
    fields.push(row);
  }
  const form = formPanel(fields, T.add, async () => {
    const r = await api("POST", "/api/console/canned", {
      shortcut: shortcut.value.trim(),
      title: title.value.trim(),
      body: body.value,
      shared: isOverseer() && shared.checked,
    });
    answers = [...answers, r.answer].sort(byShortcut);
    renderManaged(list);
    form.reset();
    shortcut.focus();
    return false; // stay open for the next one
  }, "canned-form");
  openDialog(T.canned, [el("p", "hint", T.cannedHint), list, form], "canned-dialog");
}
