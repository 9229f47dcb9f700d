// Callbox ticket types (a tab of the desk settings page). The API takes the active
// types as one ordered list of names (PUT /api/console/ticket-types); a type left out
// is retired, not deleted, and stays on the tickets that have it. So the page keeps a
// draft of that list: add, rename, move, retire and restore change the draft, Save
// sends it. A renamed type is a new name in the old one's place: the old name is
// retired with it and shows under the retired ones after saving.
// Keys on this tab: N to the new-type box, Enter there adds, Ctrl+Enter saves.

import { T, fmt } from "./console-i18n.js";
import { api } from "./console-base.js";
import { flashSaved, markRefused, moved, plain, showRefusal, typing } from "./desk-editor.js";

// Refusals said in the console's words (the API's message stays beside them).
const KNOWN = [
  [/^give 1 to (?<n>\d+) ticket types/, "dsTypesCount"],
  [/^ticket types must differ/, "dsTypesDiffer"],
];

const clone = (tpl) => tpl.content.firstElementChild.cloneNode(true);
const part = (node, name) => node.querySelector(`[data-f="${name}"]`);
const byPosition = (a, b) => a.position - b.position;

export async function startTypes(desk) {
  const area = desk.root.querySelector('[data-cb="area-types"]');
  const $ = (name) => area.querySelector(`[data-cb="${name}"]`);
  const ui = {
    form: $("types-form"),
    rows: $("type-rows"),
    rowTpl: $("type-row-tpl"),
    retired: $("retired-rows"),
    retiredTpl: $("retired-row-tpl"),
    retiredEmpty: $("retired-empty"),
    newName: $("type-new"),
    error: $("types-error"),
    save: $("types-save"),
    ok: $("types-ok"),
    dirty: $("types-dirty"),
  };
  let draft = []; // the active types as they will be saved: [{name, was}] (was: "" if new)

  const activeNow = () => desk.types.filter((t) => t.active).sort(byPosition).map((t) => t.name);
  const names = () => draft.map((d) => d.name.trim());

  function retiredNames() {
    const kept = new Set([...draft.map((d) => d.was), ...names()]);
    return desk.types.filter((t) => !kept.has(t.name)).map((t) => t.name);
  }

  function showDirty() {
    ui.dirty.hidden = names().join("\n") === activeNow().join("\n");
  }

  function wasText(d) {
    if (!d.was) return T.dsTypeNew;
    return d.was !== d.name.trim() ? fmt("dsTypeWas", { name: d.was }) : "";
  }

  function row(d, index) {
    const li = clone(ui.rowTpl);
    li.dataset.index = String(index);
    part(li, "position").textContent = String(index + 1);
    const name = part(li, "name");
    name.value = d.name;
    const was = part(li, "was");
    const sync = () => {
      was.textContent = wasText(d);
      was.hidden = !was.textContent;
    };
    name.addEventListener("input", () => {
      d.name = name.value;
      sync();
      showDirty();
    });
    sync();
    const up = part(li, "up");
    const down = part(li, "down");
    up.disabled = index === 0;
    down.disabled = index === draft.length - 1;
    up.addEventListener("click", () => move(index, -1));
    down.addEventListener("click", () => move(index, 1));
    part(li, "retire").addEventListener("click", () => {
      draft.splice(index, 1);
      render();
      const next = ui.rows.children[Math.min(index, draft.length - 1)];
      (next ? part(next, "retire") : ui.newName).focus();
    });
    return li;
  }

  function retiredRow(name) {
    const li = clone(ui.retiredTpl);
    li.dataset.name = name;
    part(li, "name").textContent = name;
    part(li, "restore").addEventListener("click", () => {
      draft.push({ name, was: name });
      render();
      part(ui.rows.lastElementChild, "name").focus();
    });
    return li;
  }

  function render() {
    ui.rows.replaceChildren(...draft.map(row));
    const retired = retiredNames();
    ui.retired.replaceChildren(...retired.map(retiredRow));
    ui.retiredEmpty.hidden = retired.length > 0;
    showDirty();
  }

  function move(index, step) {
    const order = moved(draft.map((_, i) => i), index, step);
    if (!order) return;
    draft = order.map((i) => draft[i]);
    render();
    const li = ui.rows.children[index + step];
    const same = part(li, step < 0 ? "up" : "down");
    (same.disabled ? part(li, step < 0 ? "down" : "up") : same).focus();
  }

  function reset() {
    draft = activeNow().map((name) => ({ name, was: name }));
    showRefusal(ui.error, null);
    markRefused(ui.form, null);
    render();
  }

  function add() {
    const name = ui.newName.value.trim();
    showRefusal(ui.error, null);
    markRefused(ui.form, null);
    if (!name) return;
    if (names().includes(name)) {
      showRefusal(ui.error, plain(fmt("dsTypeTwice", { name })));
      markRefused(ui.form, ui.newName);
      return;
    }
    // A retired type comes back under its own name, so its old tickets match it again.
    const known = desk.types.some((t) => t.name === name);
    draft.push({ name, was: known ? name : "" });
    ui.newName.value = "";
    render();
    ui.newName.focus();
  }

  // A name left empty or given twice is said here, on its row; the rest the API says.
  function check() {
    const seen = new Map();
    draft.forEach((d, i) => {
      const name = d.name.trim();
      const input = part(ui.rows.children[i], "name");
      if (!name) throw Object.assign(plain(fmt("dsTypeEmpty", { n: i + 1 })), { node: input });
      if (seen.has(name)) throw Object.assign(plain(fmt("dsTypeTwice", { name })), { node: input });
      seen.set(name, i);
    });
  }

  async function save(e) {
    e.preventDefault();
    showRefusal(ui.error, null);
    markRefused(ui.form, null);
    ui.ok.hidden = true;
    ui.save.disabled = true;
    try {
      check();
      const saved = await api("PUT", "/api/console/ticket-types", { names: names() });
      desk.types = saved.types;
      desk.changed("types");
      reset();
      flashSaved(ui.ok);
    } catch (err) {
      showRefusal(ui.error, err, KNOWN);
      markRefused(ui.form, err.node || null);
    } finally {
      ui.save.disabled = false;
    }
  }

  ui.form.addEventListener("submit", save);
  $("types-undo").addEventListener("click", reset);
  $("type-add").addEventListener("click", add);
  ui.newName.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.ctrlKey) {
      e.preventDefault();
      add();
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.metaKey || e.altKey || !desk.isShown("types")) return;
    if (document.querySelector("dialog[open]")) return;
    if (e.ctrlKey && e.key === "Enter" && ui.form.contains(e.target)) {
      e.preventDefault();
      ui.form.requestSubmit();
    } else if (!e.ctrlKey && (e.key === "n" || e.key === "N") && !typing(e.target)) {
      e.preventDefault();
      ui.newName.focus();
    }
  });
  reset();
}
