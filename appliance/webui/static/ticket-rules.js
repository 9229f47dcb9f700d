// Callbox ticket rules (docs/ticket-rules.md): triggers and timed rules, each kind in
// the order it runs (moved with the arrows through PUT /api/console/ticket-rules/order),
// switched on and off in the list, and one form that adds, changes or deletes a rule:
// its events (or once per ticket), conditions (all / any) and actions, chosen from what
// the API takes and the groups, users and ticket types the box has. "Preview" asks
// which unfinished tickets the draft matches now, before it is saved. A refused rule
// (a loop above all) shows why in the form, the part it names marked.
// Keys: N new rule, Esc close, Ctrl+Enter save. Everything from the API goes in as text.

import { T, fmt } from "./console-i18n.js";
import { api, el } from "./console-base.js";
import {
  CHANNEL_TEXT, PRIORITY_TEXT, STATE_TEXT, directory, parseTags, priorityBadge, stateBadge, ticketPage,
  ticketTypes,
} from "./ticket-fields.js";
import {
  checkedValues, chosen, editorKeys, fillChecks, fillChoice, flashSaved, listText, markRefused,
  moved, plain, showRefusal, vocabulary,
} from "./desk-editor.js";

const root = document.querySelector('[data-cb="ticket-rules"]');
const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
const V = root ? vocabulary(root) : {};
const PREVIEW_PAGE = root ? Number(root.dataset.previewPage) || 20 : 20;
const TIME = new Set(V.time_fields || []);

const FIELD_TEXT = {
  state: T.ruleFieldState,
  priority: T.tfPriority,
  type: T.tfType,
  channel: T.ruleFieldChannel,
  group_id: T.tfGroup,
  owner_id: T.tfOwner,
  customer_tier: T.tier,
  tags: T.tfTags,
  subject: T.tfSubject,
  hours_since_created: T.ruleFieldSinceCreated,
  hours_since_updated: T.ruleFieldSinceUpdated,
  hours_in_state: T.ruleFieldInState,
  hours_until_due: T.ruleFieldUntilDue,
};
const OP_TEXT = {
  is: T.ruleOpIs,
  is_not: T.ruleOpIsNot,
  in: T.ruleOpIn,
  gt: T.ruleOpGt,
  lt: T.ruleOpLt,
  contains: T.ruleOpContains,
  not_contains: T.ruleOpNotContains,
};
const EVENT_TEXT = {
  created: T.ruleOnCreated,
  updated: T.ruleOnUpdated,
  replied_by_customer: T.ruleOnCustomerReply,
  replied_by_agent: T.ruleOnAgentReply,
  state_changed: T.ruleOnStateChanged,
};
const ACTION_TEXT = {
  set_field: T.ruleActionSet,
  assign: T.ruleActionAssign,
  add_note: T.ruleActionNote,
  notify: T.ruleActionNotify,
  webhook: T.ruleActionWebhook,
};
const SET_TEXT = {
  priority: T.tfPriority,
  type: T.tfType,
  group_id: T.tfGroup,
  state: T.ruleFieldState,
  add_tags: T.ruleAddTags,
  remove_tags: T.ruleRemoveTags,
};
const TIER_TEXT = { vip: T.tierVip, member: T.tierMember, new: T.tierNew };
const named = (map, value) => map[value] || String(value);
// Refusals said in the console's words: why a rule can never match or act, and loops.
const KNOWN = [
  ["rule_never_matches", "ruleNeverMatches"],
  ["rule_dead_action", "ruleDeadAction"],
  [/^these rules could keep undoing each other's changes, every minute: (?<names>.*?);/, "ruleLoopsTogether"],
  ["rule_loops", "ruleLoopsAlone"],
  [/^at most \d+ rules of each kind/, "ruleTooMany"],
];

const ui = root && {
  loadError: $("load-error"),
  lists: {
    trigger: { rows: $("trigger-rows"), empty: $("triggers-empty"), error: $("triggers-error") },
    timed: { rows: $("timed-rows"), empty: $("timed-empty"), error: $("timed-error") },
  },
  rowTpl: $("rule-row-tpl"),
  condTpl: $("condition-tpl"),
  actionTpl: $("action-tpl"),
  form: $("rule-form"),
  title: $("rule-form-title"),
  kindTrigger: $("kind-trigger"),
  kindTimed: $("kind-timed"),
  kindFixed: $("kind-fixed"),
  events: $("rule-events"),
  on: $("rule-on"),
  once: $("rule-once"),
  condAll: $("cond-all"),
  condAny: $("cond-any"),
  actions: $("action-rows"),
  preview: $("rule-preview"),
  previewCount: $("preview-count"),
  previewList: $("preview-list"),
  previewMore: $("preview-more"),
  error: $("rule-error"),
  save: $("rule-save"),
  remove: $("rule-delete"),
  ok: $("rule-ok"),
};
const f = root ? ui.form.elements : null;

let rules = []; // every rule, triggers first, each kind in order
let dir = { users: new Map(), groups: new Map() };
let types = []; // [{name, active}]
let editing = null; // the id of the rule in the form, 0 for a new one, null when closed
let matched = []; // the tickets of the last preview (briefs)
let shown = 0; // how many of them the preview lists

const clone = (tpl) => tpl.content.firstElementChild.cloneNode(true);
const part = (node, name) => node.querySelector(`[data-f="${name}"]`);
const byName = (node, name) => node.querySelector(`[name="${name}"]`);
const kindNow = () => (ui.kindTimed.checked ? "timed" : "trigger");
const userName = (id) => dir.users.get(id) || `#${id}`;
const groupName = (id) => dir.groups.get(id) || `#${id}`;

function control(tag, name, label) {
  const node = el(tag);
  node.name = name;
  if (label) node.setAttribute("aria-label", label);
  return node;
}

// ---- What a value reads as -------------------------------------------------------------
/** The [value, label] choices of a field; values a rule names that the box no longer
 * has (a deleted group, a retired type) stay, so nothing changes unseen. */
function choices(field, current, { forSet = false } = {}) {
  let pairs;
  if (field === "state") pairs = (forSet ? V.moves : V.states).map((s) => [s, named(STATE_TEXT, s)]);
  else if (field === "priority") pairs = V.priorities.map((p) => [p, named(PRIORITY_TEXT, p)]);
  else if (field === "customer_tier") pairs = V.tiers.map((t) => [t, named(TIER_TEXT, t)]);
  else if (field === "channel") pairs = V.channels.map((c) => [c, named(CHANNEL_TEXT, c)]);
  else if (field === "type") {
    pairs = [["", T.typeNone], ...types.filter((t) => !forSet || t.active).map((t) => [t.name, t.name])];
  } else if (field === "group_id") pairs = [[null, T.ruleNoGroup], ...[...dir.groups].map(([id, name]) => [id, name])];
  else if (field === "owner_id") pairs = [[V.unassigned, T.unassigned], ...[...dir.users].map(([id, name]) => [id, name])];
  else pairs = [];
  const have = new Set(pairs.map(([v]) => JSON.stringify(v)));
  for (const v of Array.isArray(current) ? current : current === undefined ? [] : [current]) {
    if (!have.has(JSON.stringify(v))) pairs.push([v, choiceLabel(field, v)]);
  }
  return pairs;
}

function choiceLabel(field, v) {
  if (field === "state") return named(STATE_TEXT, v);
  if (field === "priority") return named(PRIORITY_TEXT, v);
  if (field === "customer_tier") return named(TIER_TEXT, v);
  if (field === "channel") return named(CHANNEL_TEXT, v);
  if (field === "type") return v || T.typeNone;
  if (field === "group_id") return v == null ? T.ruleNoGroup : groupName(v);
  if (field === "owner_id") return v === V.unassigned ? T.unassigned : userName(v);
  return String(v);
}

function valueText(field, v) {
  if (Array.isArray(v)) return listText(v.map((x) => valueText(field, x)));
  if (TIME.has(field)) return fmt("ruleHoursN", { n: v });
  if (field === "subject") return fmt("ruleQuoted", { text: v });
  if (field === "tags") return String(v);
  return choiceLabel(field, v);
}

const conditionText = (c) =>
  fmt("ruleCondition", { field: named(FIELD_TEXT, c.field), op: named(OP_TEXT, c.op), value: valueText(c.field, c.value) });

function conditionsText(r) {
  const all = r.conditions.all.map(conditionText);
  const any = r.conditions.any.map(conditionText);
  if (any.length) all.push(fmt("ruleAnyOf", { list: any.join(T.ruleOr) }));
  return all.length ? all.join(T.ruleAnd) : T.ruleEveryTicket;
}

function actionText(a) {
  if (a.type === "set_field") {
    if (a.field === "add_tags" || a.field === "remove_tags") {
      return fmt(a.field === "add_tags" ? "ruleDoAddTags" : "ruleDoRemoveTags", { tags: listText(a.value) });
    }
    return fmt("ruleDoSet", { field: named(SET_TEXT, a.field), value: choiceLabel(a.field, a.value) });
  }
  if (a.type === "assign") {
    if ("owner_id" in a) return a.owner_id == null ? T.ruleDoClearOwner : fmt("ruleDoOwner", { name: userName(a.owner_id) });
    return a.group_id == null ? T.ruleDoClearGroup : fmt("ruleDoGroup", { name: groupName(a.group_id) });
  }
  if (a.type === "add_note") return T.ruleDoNote;
  if (a.type === "notify") {
    const to = a.to.map((x) => (x === "owner" ? T.ruleToOwner : x === "group" ? T.ruleToGroup : userName(x)));
    return fmt("ruleDoNotify", { to: listText(to) });
  }
  if (a.type === "webhook") return fmt("ruleDoWebhook", { event: a.event });
  return a.type;
}

function whenText(r) {
  if (r.kind === "timed") return r.once_per_ticket ? T.ruleEveryMinuteOnce : T.ruleEveryMinute;
  return listText(r.on.map((e) => named(EVENT_TEXT, e)));
}

// ---- The lists --------------------------------------------------------------------------
const ofKind = (kind) => rules.filter((r) => r.kind === kind);

/** A saved rule as the API takes it back. */
function inputOf(r) {
  const body = { name: r.name, kind: r.kind, enabled: r.enabled, conditions: r.conditions, actions: r.actions };
  if (r.kind === "trigger") body.on = r.on;
  else body.once_per_ticket = r.once_per_ticket;
  return body;
}

function row(r, index, all) {
  const tr = clone(ui.rowTpl);
  tr.dataset.ruleId = String(r.id);
  tr.classList.toggle("off", !r.enabled);
  tr.classList.toggle("editing", r.id === editing);
  part(tr, "position").textContent = String(index + 1);
  part(tr, "name").textContent = r.name;
  part(tr, "when").textContent = whenText(r);
  part(tr, "conditions").textContent = conditionsText(r);
  part(tr, "actions").textContent = r.actions.map(actionText).join(T.ruleThen);
  const box = part(tr, "enabled");
  box.checked = r.enabled;
  box.setAttribute("aria-label", fmt("ruleEnabledFor", { name: r.name }));
  part(tr, "enabled-text").textContent = r.enabled ? T.ruleOn : T.ruleOff;
  box.addEventListener("change", () => toggle(r, box));
  const up = part(tr, "up");
  const down = part(tr, "down");
  up.disabled = index === 0;
  down.disabled = index === all.length - 1;
  up.addEventListener("click", () => move(r, -1));
  down.addEventListener("click", () => move(r, 1));
  part(tr, "edit").addEventListener("click", () => openRule(r));
  return tr;
}

function renderLists() {
  for (const kind of ["trigger", "timed"]) {
    const list = ofKind(kind);
    ui.lists[kind].rows.replaceChildren(...list.map(row));
    ui.lists[kind].rows.closest("table").hidden = list.length === 0;
    ui.lists[kind].empty.hidden = list.length > 0;
  }
}

const rowOf = (id) => root.querySelector(`[data-cb="rule-row"][data-rule-id="${id}"]`);

async function move(r, step) {
  const ids = moved(ofKind(r.kind).map((x) => x.id), r.id, step);
  if (!ids) return;
  const box = ui.lists[r.kind].error;
  showRefusal(box, null);
  try {
    const ordered = (await api("PUT", "/api/console/ticket-rules/order", { kind: r.kind, ids })).rules;
    rules = [...rules.filter((x) => x.kind !== r.kind), ...ordered];
    rules.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "trigger" ? -1 : 1));
    renderLists();
    const tr = rowOf(r.id);
    const same = part(tr, step < 0 ? "up" : "down");
    (same.disabled ? part(tr, step < 0 ? "down" : "up") : same).focus();
  } catch (err) {
    showRefusal(box, err, KNOWN);
  }
}

async function toggle(r, box) {
  const errors = ui.lists[r.kind].error;
  showRefusal(errors, null);
  box.disabled = true;
  try {
    await api("PUT", `/api/console/ticket-rules/${r.id}`, { ...inputOf(r), enabled: box.checked });
    if (editing === r.id) f.enabled.checked = box.checked;
    await loadRules();
    part(rowOf(r.id), "enabled").focus();
  } catch (err) {
    box.checked = !box.checked;
    box.disabled = false;
    showRefusal(errors, err, KNOWN);
  }
}

// ---- Condition rows ---------------------------------------------------------------------
function valueEditor(node, field, op, value) {
  const box = part(node, "value");
  box.dataset.field = field;
  box.dataset.op = op;
  const label = named(FIELD_TEXT, field);
  if (TIME.has(field)) {
    const input = control("input", "value", label);
    input.type = "number";
    input.step = "1";
    input.inputMode = "numeric";
    input.value = value == null || Array.isArray(value) ? "" : String(value);
    box.replaceChildren(input, ` ${T.ruleHoursUnit}`);
  } else if (field === "subject" || field === "tags") {
    const input = control("input", "value", label);
    input.maxLength = field === "subject" ? 100 : 700;
    input.placeholder = field === "tags" ? T.ruleTagsHint : "";
    input.value = value == null ? "" : Array.isArray(value) ? value.join(" ") : String(value);
    box.replaceChildren(input);
  } else if (op === "in") {
    const list = el("div", "checks");
    list.setAttribute("role", "group");
    list.setAttribute("aria-label", label);
    const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
    fillChecks(list, choices(field, values), values);
    box.replaceChildren(list);
  } else {
    const select = control("select", "value", label);
    const one = Array.isArray(value) ? value[0] : value;
    fillChoice(select, choices(field, one), one);
    box.replaceChildren(select);
  }
}

function readValue(node) {
  const box = part(node, "value");
  const { field, op } = box.dataset;
  const input = box.querySelector("input:not([type=checkbox]), select");
  if (TIME.has(field)) {
    const s = input.value.trim();
    return /^-?\d+$/.test(s) ? Number(s) : s;
  }
  if (field === "subject") return input.value.trim();
  if (field === "tags") return parseTags(input.value);
  if (op === "in") return checkedValues(box);
  return chosen(input);
}

// Fields that only timed rules test are offered to triggers greyed out.
function syncFieldChoices(select) {
  const timed = kindNow() === "timed";
  for (const option of select.options) option.disabled = !timed && TIME.has(JSON.parse(option.value)) && !option.selected;
}

function conditionRow(c) {
  const node = clone(ui.condTpl);
  const field = byName(node, "field");
  const op = byName(node, "op");
  const fields = Object.keys(V.ops);
  fillChoice(field, fields.map((x) => [x, named(FIELD_TEXT, x)]), c.field);
  syncFieldChoices(field);
  const fillOps = (want) => {
    const name = chosen(field);
    fillChoice(op, V.ops[name].map((o) => [o, named(OP_TEXT, o)]), want);
  };
  fillOps(c.op);
  valueEditor(node, chosen(field), chosen(op), c.value);
  field.addEventListener("change", () => {
    fillOps();
    valueEditor(node, chosen(field), chosen(op), undefined);
    syncFieldChoices(field);
  });
  op.addEventListener("change", () => valueEditor(node, chosen(field), chosen(op), readValue(node)));
  part(node, "remove").addEventListener("click", () => removeRow(node));
  return node;
}

function removeRow(node) {
  const next = node.nextElementSibling || node.previousElementSibling;
  const add = node.parentNode.nextElementSibling;
  node.remove();
  (next ? next.querySelector("select") : add).focus();
}

const readConditions = (list) =>
  Array.from(list.children, (node) => ({
    field: chosen(byName(node, "field")),
    op: chosen(byName(node, "op")),
    value: readValue(node),
  }));

// ---- Action rows ------------------------------------------------------------------------
function setValueEditor(box, field, value) {
  box.dataset.field = field;
  const label = named(SET_TEXT, field);
  if (field === "add_tags" || field === "remove_tags") {
    const input = control("input", "value", label);
    input.maxLength = 700;
    input.placeholder = T.ruleTagsHint;
    input.value = Array.isArray(value) ? value.join(" ") : "";
    box.replaceChildren(input);
    return;
  }
  const select = control("select", "value", label);
  fillChoice(select, choices(field, value, { forSet: true }), value);
  box.replaceChildren(select);
}

function assignPairs(current) {
  const pairs = [
    [{ owner_id: null }, T.ruleDoClearOwner],
    ...[...dir.users].map(([id, name]) => [{ owner_id: id }, fmt("ruleDoOwner", { name })]),
    [{ group_id: null }, T.ruleDoClearGroup],
    ...[...dir.groups].map(([id, name]) => [{ group_id: id }, fmt("ruleDoGroup", { name })]),
  ];
  const want = JSON.stringify(current);
  if (current && !pairs.some(([v]) => JSON.stringify(v) === want)) pairs.push([current, actionText({ type: "assign", ...current })]);
  return pairs;
}

function actionBody(node, a) {
  const body = part(node, "body");
  body.dataset.type = a.type;
  if (a.type === "set_field") {
    const field = control("select", "field", T.ruleSetWhat);
    fillChoice(field, V.settable.map((x) => [x, named(SET_TEXT, x)]), a.field);
    const value = el("span", "set-value");
    setValueEditor(value, chosen(field), a.value);
    field.addEventListener("change", () => setValueEditor(value, chosen(field), undefined));
    body.replaceChildren(field, value);
  } else if (a.type === "assign") {
    const target = control("select", "target", T.ruleActionAssign);
    const current = "owner_id" in a ? { owner_id: a.owner_id } : "group_id" in a ? { group_id: a.group_id } : undefined;
    const pairs = assignPairs(current);
    // A new assign action starts on the first colleague rather than on "remove the owner".
    fillChoice(target, pairs, current ?? (pairs[1] || pairs[0])[0]);
    body.replaceChildren(target);
  } else if (a.type === "add_note") {
    const text = control("textarea", "text", T.ruleActionNote);
    text.rows = 2;
    text.maxLength = 2000;
    text.value = a.text || "";
    body.replaceChildren(text);
  } else if (a.type === "notify") {
    const to = el("div", "checks");
    to.setAttribute("role", "group");
    to.setAttribute("aria-label", T.ruleNotifyWho);
    const people = [["owner", T.ruleToOwner], ["group", T.ruleToGroup], ...[...dir.users].map(([id, name]) => [id, name])];
    for (const x of a.to || []) if (!people.some(([v]) => v === x)) people.push([x, userName(x)]);
    fillChecks(to, people, a.to || ["owner"]);
    const text = control("input", "text", T.ruleNotifyText);
    text.maxLength = 500;
    text.placeholder = T.ruleNotifyText;
    text.value = a.text || "";
    body.replaceChildren(to, text);
  } else {
    const event = control("input", "event", T.ruleActionWebhook);
    event.maxLength = 64;
    event.placeholder = "ticket.vip_complaint";
    event.value = a.event || "";
    body.replaceChildren(event);
  }
}

function actionRow(a) {
  const node = clone(ui.actionTpl);
  const type = byName(node, "type");
  fillChoice(type, V.actions.map((x) => [x, named(ACTION_TEXT, x)]), a.type);
  actionBody(node, a);
  type.addEventListener("change", () => actionBody(node, { type: chosen(type) }));
  part(node, "remove").addEventListener("click", () => removeRow(node));
  return node;
}

function readAction(node) {
  const body = part(node, "body");
  const type = body.dataset.type;
  const get = (name) => byName(body, name);
  if (type === "set_field") {
    const field = chosen(get("field"));
    const value = field === "add_tags" || field === "remove_tags" ? parseTags(get("value").value) : chosen(get("value"));
    return { type, field, value };
  }
  if (type === "assign") return { type, ...chosen(get("target")) };
  if (type === "add_note") return { type, text: get("text").value };
  if (type === "notify") {
    const action = { type, to: checkedValues(body.querySelector(".checks")) };
    if (get("text").value.trim()) action.text = get("text").value.trim();
    return action;
  }
  return { type, event: get("event").value.trim() };
}

// ---- The form ---------------------------------------------------------------------------
function syncKind() {
  const timed = kindNow() === "timed";
  ui.events.hidden = timed;
  ui.once.hidden = !timed;
  for (const select of ui.form.querySelectorAll('[data-cb="condition"] select[name="field"]')) syncFieldChoices(select);
}

function clearPreview() {
  matched = [];
  shown = 0;
  ui.previewCount.hidden = true;
  ui.previewList.replaceChildren();
  ui.previewMore.hidden = true;
}

function openRule(r) {
  editing = r ? r.id : 0;
  ui.form.reset();
  showRefusal(ui.error, null);
  markRefused(ui.form, null);
  clearPreview();
  ui.ok.hidden = true;
  ui.title.textContent = r ? r.name : T.ruleNew;
  f.name.value = r ? r.name : "";
  f.enabled.checked = r ? r.enabled : true;
  ui.kindTrigger.checked = !r || r.kind === "trigger";
  ui.kindTimed.checked = Boolean(r) && r.kind === "timed";
  // A rule's kind cannot change (the API refuses it): a new rule is made instead.
  ui.kindTrigger.disabled = ui.kindTimed.disabled = Boolean(r);
  ui.kindFixed.hidden = !r;
  fillChecks(ui.on, V.events.map((e) => [e, named(EVENT_TEXT, e)]), r ? r.on : ["created"]);
  f.once_per_ticket.checked = r ? r.once_per_ticket : false;
  ui.condAll.replaceChildren(...(r ? r.conditions.all : []).map(conditionRow));
  ui.condAny.replaceChildren(...(r ? r.conditions.any : []).map(conditionRow));
  const first = { type: "set_field", field: V.settable[0] };
  ui.actions.replaceChildren(...(r ? r.actions : [first]).map(actionRow));
  syncKind();
  ui.remove.hidden = !r;
  ui.form.hidden = false;
  renderLists();
  ui.form.scrollIntoView({ block: "nearest" });
  f.name.focus();
}

function closeRule() {
  editing = null;
  ui.form.hidden = true;
  renderLists();
}

function readRule() {
  const kind = kindNow();
  const body = {
    name: f.name.value.trim(),
    kind,
    enabled: f.enabled.checked,
    conditions: { all: readConditions(ui.condAll), any: readConditions(ui.condAny) },
    actions: Array.from(ui.actions.children, readAction),
  };
  if (!body.actions.length) throw Object.assign(plain(T.ruleNeedsAction), { node: $("rule-actions") });
  if (kind === "trigger") body.on = checkedValues(ui.on);
  else body.once_per_ticket = f.once_per_ticket.checked;
  return body;
}

// The part of the form a refusal is about: its words name a condition, an action, a field.
function refusedPart(err) {
  if (err.node) return err.node;
  const message = String(err.message || "");
  const cond = /conditions\.(all|any)\[(\d+)\]/.exec(message);
  if (cond) return (cond[1] === "all" ? ui.condAll : ui.condAny).children[Number(cond[2])] || $("rule-conditions");
  const action = /actions\[(\d+)\]/.exec(message);
  if (action) return ui.actions.children[Number(action[1])] || $("rule-actions");
  if (/^a timed rule must change something/.test(message)) return ui.once;
  if (/^actions\b|no (group|user) with id/.test(message)) return $("rule-actions");
  if (/^name\b/.test(message)) return f.name;
  if (/^on\b|^once_per_ticket|by the clock|kind/.test(message)) return $("rule-kind");
  if (/^conditions|never match|time condition/.test(message)) return $("rule-conditions");
  return null;
}

function refused(err) {
  showRefusal(ui.error, err, KNOWN);
  markRefused(ui.form, refusedPart(err));
}

async function save(e) {
  e.preventDefault();
  showRefusal(ui.error, null);
  markRefused(ui.form, null);
  ui.ok.hidden = true;
  ui.save.disabled = true;
  try {
    const body = readRule();
    const saved = editing
      ? (await api("PUT", `/api/console/ticket-rules/${editing}`, body)).rule
      : (await api("POST", "/api/console/ticket-rules", body)).rule;
    editing = saved.id;
    ui.title.textContent = saved.name;
    ui.remove.hidden = false;
    ui.kindTrigger.disabled = ui.kindTimed.disabled = true;
    ui.kindFixed.hidden = false;
    await loadRules();
    flashSaved(ui.ok);
  } catch (err) {
    refused(err);
  } finally {
    ui.save.disabled = false;
  }
}

async function removeRule() {
  const r = rules.find((x) => x.id === editing);
  if (!r || !window.confirm(fmt("ruleConfirmDelete", { name: r.name }))) return;
  showRefusal(ui.error, null);
  try {
    await api("DELETE", `/api/console/ticket-rules/${r.id}`);
    closeRule();
    await loadRules();
  } catch (err) {
    refused(err);
  }
}

// ---- Preview ----------------------------------------------------------------------------
function previewItem(id, ticket) {
  const li = el("li");
  li.dataset.cb = "preview-ticket";
  li.dataset.id = String(id);
  const link = el("a", "num", ticket ? ticket.number : `#${id}`);
  link.href = ticketPage(id);
  link.dataset.cb = "preview-link";
  li.append(link);
  if (ticket) li.append(" ", stateBadge(ticket.state), " ", priorityBadge(ticket.priority), " ", el("span", "subject", ticket.subject));
  return li;
}

// The preview brings each ticket's number and subject; the list shows a page at a time.
function showMore() {
  const tickets = matched.slice(shown, shown + PREVIEW_PAGE);
  shown += tickets.length;
  ui.previewList.append(...tickets.map((t) => previewItem(t.id, t)));
  const left = matched.length - shown;
  ui.previewMore.textContent = fmt("rulePreviewMore", { n: left });
  ui.previewMore.hidden = left <= 0;
}

async function preview() {
  showRefusal(ui.error, null);
  markRefused(ui.form, null);
  clearPreview();
  ui.preview.disabled = true;
  try {
    const draft = readRule();
    if (!draft.name) draft.name = T.ruleNew; // a preview saves nothing: a name may come later
    const r = await api("POST", "/api/console/ticket-rules/preview", draft);
    matched = r.tickets;
    const n = matched.length;
    ui.previewCount.textContent = n === 0 ? T.rulePreviewNone
      : n >= V.preview_max ? fmt("rulePreviewAtLeast", { n }) : fmt("rulePreviewCount", { n });
    ui.previewCount.hidden = false;
    showMore();
  } catch (err) {
    refused(err);
  } finally {
    ui.preview.disabled = false;
  }
}

// ---- Start ------------------------------------------------------------------------------
async function loadRules() {
  rules = (await api("GET", "/api/console/ticket-rules")).rules;
  renderLists();
}

async function start() {
  ui.form.addEventListener("submit", save);
  // A preview is of the rule as it stood when asked: a change makes it stale.
  ui.form.addEventListener("change", (e) => { if (!ui.previewList.contains(e.target)) clearPreview(); });
  ui.form.addEventListener("input", clearPreview);
  $("rule-new").addEventListener("click", () => openRule(null));
  $("rule-cancel").addEventListener("click", closeRule);
  ui.remove.addEventListener("click", removeRule);
  ui.preview.addEventListener("click", preview);
  ui.previewMore.addEventListener("click", showMore);
  ui.kindTrigger.addEventListener("change", syncKind);
  ui.kindTimed.addEventListener("change", syncKind);
  for (const [list, add] of [[ui.condAll, "cond-all-add"], [ui.condAny, "cond-any-add"]]) {
    $(add).addEventListener("click", () => {
      const field = Object.keys(V.ops).find((x) => kindNow() === "timed" || !TIME.has(x));
      const node = conditionRow({ field, op: V.ops[field][0] });
      list.append(node);
      node.querySelector("select").focus();
    });
  }
  $("action-add").addEventListener("click", () => {
    const node = actionRow({ type: V.actions[0], field: V.settable[0] });
    ui.actions.append(node);
    node.querySelector("select").focus();
  });
  editorKeys({ form: ui.form, onNew: () => openRule(null), onClose: closeRule });
  try {
    const [listed, team, allTypes] = await Promise.all([
      api("GET", "/api/console/ticket-rules"), directory(), ticketTypes(),
    ]);
    dir = team;
    types = allTypes;
    rules = listed.rules;
    renderLists();
  } catch (err) {
    ui.loadError.textContent = fmt("failed", { msg: err.message });
    ui.loadError.hidden = false;
  }
}

if (root) start();
