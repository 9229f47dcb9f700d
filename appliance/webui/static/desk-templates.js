// Callbox ticket templates (a tab of the desk settings page): the list, and one
// form that adds, changes or deletes a template through /api/console/ticket-templates.
// A template fills a new ticket's subject, description, type, priority, group and tags
// (the ticket list's "new ticket" form offers it). Its type is one of the active ones,
// or the retired one it already has; a refused save shows the API's reason in the form.
// Keys on this tab: N new template, Esc close, Ctrl+Enter save. Names go in as text.

import { T, fmt } from "./console-i18n.js";
import { api } from "./console-base.js";
import { PRIORITY_TEXT, parseTags, priorityText } from "./ticket-fields.js";
import { editorKeys, flashSaved, markRefused, showRefusal } from "./desk-editor.js";

const KNOWN = [
  [/^another template has this name/, "dsTplNameTaken"],
  [/^a recurring schedule opens tickets from this template/, "dsTplInUse"],
];

const clone = (tpl) => tpl.content.firstElementChild.cloneNode(true);
const part = (node, name) => node.querySelector(`[data-f="${name}"]`);

/** Fill a select with [value, label] pairs (values as text) and pick one. */
function fill(select, pairs, value) {
  select.replaceChildren(...pairs.map(([v, label]) => {
    const option = document.createElement("option");
    option.value = v == null ? "" : String(v);
    option.textContent = label;
    return option;
  }));
  select.value = value == null ? "" : String(value);
  if (select.selectedIndex < 0) select.selectedIndex = 0;
}

export async function startTemplates(desk) {
  const area = desk.root.querySelector('[data-cb="area-templates"]');
  const $ = (name) => area.querySelector(`[data-cb="${name}"]`);
  const ui = {
    rows: $("template-rows"),
    rowTpl: $("template-row-tpl"),
    empty: $("templates-empty"),
    form: $("template-form"),
    title: $("template-form-title"),
    type: $("template-type"),
    priority: $("template-priority"),
    group: $("template-group"),
    error: $("template-error"),
    save: $("template-save"),
    remove: $("template-delete"),
    ok: $("template-ok"),
  };
  const f = ui.form.elements;
  let editing = null; // the id in the form, 0 for a new one, null when closed

  const groupName = (id) => (id == null ? "" : (desk.groups.find(([g]) => g === id) || [])[1] || `#${id}`);

  function row(t) {
    const tr = clone(ui.rowTpl);
    tr.dataset.templateId = String(t.id);
    tr.classList.toggle("editing", t.id === editing);
    part(tr, "name").textContent = t.name;
    part(tr, "subject").textContent = t.subject;
    part(tr, "type").textContent = t.type || T.typeNone;
    part(tr, "priority").textContent = priorityText(t.priority);
    part(tr, "group").textContent = groupName(t.group_id) || T.noGroupValue;
    part(tr, "tags").textContent = t.tags.join(" ");
    part(tr, "edit").addEventListener("click", () => open(t));
    return tr;
  }

  function render() {
    ui.rows.replaceChildren(...desk.templates.map(row));
    ui.rows.closest("table").hidden = desk.templates.length === 0;
    ui.empty.hidden = desk.templates.length > 0;
  }

  // The active types, and the retired one the template has, so it stays visible.
  function fillTypes(current) {
    const pairs = [["", T.typeNone]];
    for (const t of desk.types) if (t.active || t.name === current) pairs.push([t.name, t.name]);
    if (current && !pairs.some(([v]) => v === current)) pairs.push([current, current]);
    fill(ui.type, pairs, current);
  }

  function fillGroups(current) {
    const pairs = [["", T.noGroupValue], ...desk.groups];
    if (current != null && !desk.groups.some(([id]) => id === current)) pairs.push([current, `#${current}`]);
    fill(ui.group, pairs, current);
  }

  function open(t) {
    editing = t ? t.id : 0;
    ui.form.reset();
    showRefusal(ui.error, null);
    markRefused(ui.form, null);
    ui.ok.hidden = true;
    ui.title.textContent = t ? t.name : T.dsTplNew;
    f.name.value = t ? t.name : "";
    f.subject.value = t ? t.subject : "";
    f.description.value = t ? t.description : "";
    f.tags.value = t ? t.tags.join(" ") : "";
    fillTypes(t ? t.type : "");
    fill(ui.priority, Object.entries(PRIORITY_TEXT), t ? t.priority : "normal");
    fillGroups(t ? t.group_id : null);
    ui.remove.hidden = !t;
    ui.form.hidden = false;
    render();
    ui.form.scrollIntoView({ block: "nearest" });
    f.name.focus();
  }

  function close() {
    editing = null;
    ui.form.hidden = true;
    render();
  }

  function read() {
    return {
      name: f.name.value.trim(),
      subject: f.subject.value.trim(),
      description: f.description.value,
      type: ui.type.value,
      priority: ui.priority.value,
      group_id: ui.group.value === "" ? null : Number(ui.group.value),
      tags: parseTags(f.tags.value),
    };
  }

  function refusedPart(err) {
    const message = String(err.message || "");
    if (/^name\b|another template/.test(message)) return f.name;
    if (/^subject\b/.test(message)) return f.subject;
    if (/^description\b/.test(message)) return f.description;
    if (/^type\b/.test(message)) return ui.type;
    if (/^priority\b/.test(message)) return ui.priority;
    if (/group/.test(message)) return ui.group;
    if (/^tags?\b|\$\.tags/.test(message)) return f.tags;
    return null;
  }

  async function reload() {
    desk.templates = (await api("GET", "/api/console/ticket-templates")).templates;
    desk.changed("templates");
    render();
  }

  async function save(e) {
    e.preventDefault();
    showRefusal(ui.error, null);
    markRefused(ui.form, null);
    ui.ok.hidden = true;
    ui.save.disabled = true;
    try {
      const body = read();
      const saved = editing
        ? (await api("PUT", `/api/console/ticket-templates/${editing}`, body)).template
        : (await api("POST", "/api/console/ticket-templates", body)).template;
      editing = saved.id;
      ui.title.textContent = saved.name;
      ui.remove.hidden = false;
      await reload();
      flashSaved(ui.ok);
    } catch (err) {
      showRefusal(ui.error, err, KNOWN);
      markRefused(ui.form, refusedPart(err));
    } finally {
      ui.save.disabled = false;
    }
  }

  async function remove() {
    const t = desk.templates.find((x) => x.id === editing);
    if (!t || !window.confirm(fmt("dsTplConfirmDelete", { name: t.name }))) return;
    showRefusal(ui.error, null);
    try {
      await api("DELETE", `/api/console/ticket-templates/${t.id}`);
      close();
      await reload();
    } catch (err) {
      showRefusal(ui.error, err, KNOWN);
    }
  }

  ui.form.addEventListener("submit", save);
  $("template-new").addEventListener("click", () => open(null));
  $("template-cancel").addEventListener("click", close);
  ui.remove.addEventListener("click", remove);
  editorKeys({ form: ui.form, onNew: () => open(null), onClose: close, active: () => desk.isShown("templates") });
  // A type saved on the types tab is offered at once; the template's own value stays.
  desk.on("types", () => {
    if (!ui.form.hidden) fillTypes(ui.type.value);
    render();
  });
  render();
}
