// Callbox SLA policies (docs/sla.md): the list in the order the box tries them, moved
// with the arrows through PUT /api/console/sla-policies/order, and one form that adds,
// changes or deletes a policy: conditions chosen from the groups, ticket types,
// priorities and tiers the box has; targets in business hours and minutes; the
// calendar (around the clock, or opening hours, perhaps a group's) and holidays; the
// warning share; the escalation levels. A refused save shows the API's reason in the
// form, the part it names marked. Keys: N new policy, Esc close, Ctrl+Enter save.
// Names from the API go in as text.

import { T, fmt } from "./console-i18n.js";
import { api } from "./console-base.js";
import { PRIORITY_TEXT, ticketTypes } from "./ticket-fields.js";
import {
  checkedValues, chosen, duration, editorKeys, fillChecks, fillChoice, flashSaved, labelled,
  markRefused, moved, plain, readDates, readMinutes, readSpans, showMinutes,
  showRefusal, spansText, vocabulary,
} from "./desk-editor.js";

const root = document.querySelector('[data-cb="sla-policies"]');
const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
const V = root ? vocabulary(root) : {};

const METRIC_TEXT = {
  first_response: T.slaFirstResponse,
  next_response: T.slaNextResponse,
  resolution: T.slaResolution,
};
const ACTION_TEXT = {
  notify: T.polNotify,
  notify_manager: T.polNotifyManager,
  reassign_group: T.polReassign,
  raise_priority: T.polRaisePriority,
};
const WHEN_TEXT = { before: T.polBefore, at: T.polAt, after: T.polAfter };
const TIER_TEXT = { vip: T.tierVip, member: T.tierMember, new: T.tierNew };
const named = (map, value) => map[value] || String(value);
// Refusals this page says in its own words (the API's message stays beside them).
const KNOWN = [
  [/already named/, "polNameTaken"],
  [/^(targets\.)?(first_response|next_response|resolution) must be (between|a whole)/, "polTargetRange"],
];

const ui = root && {
  rows: $("policy-rows"),
  rowTpl: $("policy-row-tpl"),
  empty: $("policies-empty"),
  loadError: $("load-error"),
  orderError: $("order-error"),
  form: $("policy-form"),
  title: $("policy-form-title"),
  groups: $("cond-groups"),
  types: $("cond-types"),
  priorities: $("cond-priorities"),
  tiers: $("cond-tiers"),
  targets: $("target-rows"),
  targetTpl: $("target-tpl"),
  warn: $("policy-warn"),
  always: $("calendar-always"),
  hoursOn: $("calendar-hours"),
  days: $("policy-days"),
  copyGroup: $("copy-group"),
  levels: $("level-rows"),
  levelTpl: $("level-tpl"),
  error: $("policy-error"),
  save: $("policy-save"),
  remove: $("policy-delete"),
  ok: $("policy-ok"),
};
const f = root ? ui.form.elements : null;

let policies = [];
let groups = []; // [{id, name, hours, holidays}]
let types = []; // [{name, active}]
let editing = null; // the id of the policy in the form, 0 for a new one, null when closed

const groupName = (id) => (groups.find((g) => g.id === id) || {}).name || `#${id}`;
const dayName = (day) => ui.form.querySelector(`[data-day="${day}"]`).textContent;
const clone = (tpl) => tpl.content.firstElementChild.cloneNode(true);
const part = (node, name) => node.querySelector(`[data-f="${name}"]`);

// ---- The list ---------------------------------------------------------------------------
function conditionsText(c) {
  const parts = [];
  if (c.group_ids.length) parts.push(labelled(T.tfGroup, c.group_ids.map(groupName)));
  if (c.types.length) parts.push(labelled(T.tfType, c.types.map((t) => t || T.typeNone)));
  if (c.priorities.length) parts.push(labelled(T.tfPriority, c.priorities.map((p) => named(PRIORITY_TEXT, p))));
  if (c.tiers.length) parts.push(labelled(T.tier, c.tiers.map((t) => named(TIER_TEXT, t))));
  return parts.length ? parts.join(T.deskParts) : T.polAnyTicket;
}

function targetsText(targets) {
  const parts = V.metrics.filter((m) => targets[m] != null).map((m) => `${named(METRIC_TEXT, m)} ${duration(targets[m])}`);
  return parts.join(" · ") || "—";
}

function calendarText(p) {
  const parts = [p.hours == null ? T.polAroundClock : T.polOpeningHours];
  if (p.holidays.length) parts.push(fmt("polHolidays", { n: p.holidays.length }));
  return parts.join(" · ");
}

function levelText(level) {
  const when = level.offset_minutes < 0 ? "before" : level.offset_minutes > 0 ? "after" : "at";
  const at = when === "at" ? T.polAt : `${named(WHEN_TEXT, when)} ${duration(level.offset_minutes)}`;
  let action = named(ACTION_TEXT, level.action);
  if (level.action === "reassign_group") action = fmt("polReassignTo", { group: groupName(level.group_id) });
  return `${named(METRIC_TEXT, level.metric)} ${at}: ${action}`;
}

function row(p, index) {
  const tr = clone(ui.rowTpl);
  tr.dataset.policyId = String(p.id);
  tr.classList.toggle("off", !p.enabled);
  tr.classList.toggle("editing", p.id === editing);
  part(tr, "position").textContent = String(index + 1);
  part(tr, "name").textContent = p.name;
  part(tr, "off").hidden = p.enabled;
  part(tr, "conditions").textContent = conditionsText(p.conditions);
  part(tr, "targets").textContent = targetsText(p.targets);
  part(tr, "calendar").textContent = calendarText(p);
  const levels = part(tr, "levels");
  levels.textContent = p.levels.length ? fmt("polLevelsN", { n: p.levels.length }) : "—";
  levels.title = p.levels.map(levelText).join("\n");
  const up = part(tr, "up");
  const down = part(tr, "down");
  up.disabled = index === 0;
  down.disabled = index === policies.length - 1;
  up.addEventListener("click", () => move(p.id, -1));
  down.addEventListener("click", () => move(p.id, 1));
  part(tr, "edit").addEventListener("click", () => openPolicy(p));
  return tr;
}

function renderRows() {
  ui.rows.replaceChildren(...policies.map(row));
  ui.rows.closest("table").hidden = policies.length === 0;
  ui.empty.hidden = policies.length > 0;
}

async function move(id, step) {
  const ids = moved(policies.map((p) => p.id), id, step);
  if (!ids) return;
  showRefusal(ui.orderError, null);
  try {
    policies = (await api("PUT", "/api/console/sla-policies/order", { ids })).policies;
    renderRows();
    // The keyboard stays on the row it moved: on the same arrow while it can go on.
    const tr = ui.rows.querySelector(`[data-policy-id="${id}"]`);
    const same = part(tr, step < 0 ? "up" : "down");
    (same.disabled ? part(tr, step < 0 ? "down" : "up") : same).focus();
  } catch (err) {
    showRefusal(ui.orderError, err);
  }
}

// ---- The form ---------------------------------------------------------------------------
function fillConditions(c) {
  const groupPairs = groups.map((g) => [g.id, g.name]);
  for (const id of c.group_ids) if (!groups.some((g) => g.id === id)) groupPairs.push([id, `#${id}`]);
  fillChecks(ui.groups, groupPairs, c.group_ids);
  // The active types, and a retired one a policy still names, so it stays visible.
  const typePairs = types.filter((t) => t.active || c.types.includes(t.name)).map((t) => [t.name, t.name]);
  for (const name of c.types) if (!typePairs.some(([v]) => v === name)) typePairs.push([name, name || T.typeNone]);
  fillChecks(ui.types, typePairs, c.types);
  fillChecks(ui.priorities, V.priorities.map((p) => [p, named(PRIORITY_TEXT, p)]), c.priorities);
  fillChecks(ui.tiers, V.tiers.map((t) => [t, named(TIER_TEXT, t)]), c.tiers);
}

function fillTargets(targets) {
  ui.targets.replaceChildren(...V.metrics.map((metric) => {
    const node = clone(ui.targetTpl);
    node.dataset.metric = metric;
    part(node, "metric").textContent = named(METRIC_TEXT, metric);
    const [h, m] = node.querySelectorAll("input");
    for (const box of [h, m]) box.setAttribute("aria-label", `${named(METRIC_TEXT, metric)} ${box.parentNode.textContent.trim()}`);
    showMinutes(h, m, targets[metric]);
    return node;
  }));
}

function setCalendar(hours) {
  ui.always.checked = hours == null;
  ui.hoursOn.checked = hours != null;
  for (const day of V.days) f[`day-${day}`].value = spansText(hours && hours[day]);
  ui.days.hidden = hours == null;
}

function levelRow(level) {
  const node = clone(ui.levelTpl);
  const input = (name) => node.querySelector(`[name=${name}]`);
  const offset = level.offset_minutes || 0;
  fillChoice(input("metric"), V.metrics.map((m) => [m, named(METRIC_TEXT, m)]), level.metric);
  fillChoice(input("when"), ["before", "at", "after"].map((w) => [w, named(WHEN_TEXT, w)]),
    offset < 0 ? "before" : offset > 0 ? "after" : "at");
  fillChoice(input("action"), V.actions.map((a) => [a, named(ACTION_TEXT, a)]), level.action);
  const groupPairs = [[null, T.polPickGroup], ...groups.map((g) => [g.id, g.name])];
  if (level.group_id != null && !groups.some((g) => g.id === level.group_id)) groupPairs.push([level.group_id, `#${level.group_id}`]);
  fillChoice(input("group_id"), groupPairs, level.group_id ?? null);
  showMinutes(input("h"), input("m"), offset || null);
  const sync = () => {
    part(node, "amount").hidden = chosen(input("when")) === "at";
    input("group_id").hidden = chosen(input("action")) !== "reassign_group";
  };
  input("when").addEventListener("change", sync);
  input("action").addEventListener("change", sync);
  part(node, "remove").addEventListener("click", () => {
    const next = node.nextElementSibling || node.previousElementSibling;
    node.remove();
    (next ? next.querySelector("select") : $("level-add")).focus();
  });
  sync();
  return node;
}

function openPolicy(p) {
  editing = p ? p.id : 0;
  ui.form.reset();
  showRefusal(ui.error, null);
  markRefused(ui.form, null);
  ui.ok.hidden = true;
  ui.title.textContent = p ? p.name : T.polNew;
  f.name.value = p ? p.name : "";
  f.enabled.checked = p ? p.enabled : true;
  fillConditions(p ? p.conditions : { group_ids: [], types: [], priorities: [], tiers: [] });
  fillTargets(p ? p.targets : {});
  ui.warn.value = p ? String(Math.round(p.warn_share * 10000) / 100) : "80";
  setCalendar(p ? p.hours : null);
  f.holidays.value = p ? p.holidays.join("\n") : "";
  fillChoice(ui.copyGroup, groups.map((g) => [g.id, g.name]));
  $("copy-hours").disabled = groups.length === 0;
  ui.levels.replaceChildren(...(p ? p.levels : []).map(levelRow));
  ui.remove.hidden = !p;
  ui.form.hidden = false;
  renderRows();
  ui.form.scrollIntoView({ block: "nearest" });
  f.name.focus();
}

function closePolicy() {
  editing = null;
  ui.form.hidden = true;
  renderRows();
}

function readLevels() {
  return Array.from(ui.levels.children, (node, n) => {
    const input = (name) => node.querySelector(`[name=${name}]`);
    const when = chosen(input("when"));
    let offset = 0;
    if (when !== "at") {
      const amount = readMinutes(input("h"), input("m"));
      if (amount == null || (typeof amount === "number" && amount <= 0)) {
        const err = plain(fmt("polLevelNeedsTime", { n: n + 1 }));
        err.node = node;
        throw err;
      }
      offset = typeof amount === "number" && when === "before" ? -amount : amount;
    }
    const level = { metric: chosen(input("metric")), offset_minutes: offset, action: chosen(input("action")) };
    if (level.action === "reassign_group") level.group_id = chosen(input("group_id"));
    return level;
  });
}

function readHours() {
  if (ui.always.checked) return null;
  const hours = {}; // a day left out is closed
  for (const day of V.days) {
    try {
      const spans = readSpans(f[`day-${day}`].value, dayName(day));
      if (spans.length) hours[day] = spans;
    } catch (err) {
      err.node = f[`day-${day}`];
      throw err;
    }
  }
  // No opening time at all is no calendar: sent as typed, the API says so.
  return Object.keys(hours).length ? hours : Object.fromEntries(V.days.map((d) => [d, []]));
}

function readPolicy() {
  const targets = {};
  for (const node of ui.targets.children) {
    const [h, m] = node.querySelectorAll("input");
    targets[node.dataset.metric] = readMinutes(h, m);
  }
  const body = {
    name: f.name.value.trim(),
    enabled: f.enabled.checked,
    conditions: {
      group_ids: checkedValues(ui.groups),
      types: checkedValues(ui.types),
      priorities: checkedValues(ui.priorities),
      tiers: checkedValues(ui.tiers),
    },
    targets,
    hours: readHours(),
    holidays: readDates(f.holidays.value),
    levels: readLevels(),
  };
  const warn = ui.warn.value.trim();
  if (warn !== "") body.warn_share = Number(warn) / 100;
  return body;
}

// The part of the form a refusal is about: its words name a level, a target, a field.
function refusedPart(err) {
  if (err.node) return err.node;
  const message = String(err.message || "");
  const level = /levels\[(\d+)\]/.exec(message);
  if (level) return ui.levels.children[Number(level[1])] || $("policy-levels");
  if (/^levels\b|offset_minutes|group_id\b/.test(message)) return $("policy-levels");
  const metric = V.metrics.find((m) => message.includes(m));
  if (metric) return ui.targets.querySelector(`[data-metric="${metric}"]`);
  if (/^targets/.test(message)) return $("policy-targets");
  if (/warn_share/.test(message)) return ui.warn;
  if (/^name\b|already named/.test(message)) return f.name;
  if (/^conditions|group_ids|types|priorities|tiers/.test(message)) return $("policy-conditions");
  if (/hours|holiday|time '|day\b|span/.test(message)) return $("policy-calendar");
  return null;
}

async function save(e) {
  e.preventDefault();
  showRefusal(ui.error, null);
  markRefused(ui.form, null);
  ui.ok.hidden = true;
  ui.save.disabled = true;
  try {
    const body = readPolicy();
    const saved = editing
      ? (await api("PATCH", `/api/console/sla-policies/${editing}`, body)).policy
      : (await api("POST", "/api/console/sla-policies", body)).policy;
    editing = saved.id;
    ui.title.textContent = saved.name;
    ui.remove.hidden = false;
    await loadPolicies();
    flashSaved(ui.ok);
  } catch (err) {
    showRefusal(ui.error, err, KNOWN);
    markRefused(ui.form, refusedPart(err));
  } finally {
    ui.save.disabled = false;
  }
}

async function removePolicy() {
  const p = policies.find((x) => x.id === editing);
  if (!p || !window.confirm(fmt("polConfirmDelete", { name: p.name }))) return;
  showRefusal(ui.error, null);
  try {
    await api("DELETE", `/api/console/sla-policies/${p.id}`);
    closePolicy();
    await loadPolicies();
  } catch (err) {
    showRefusal(ui.error, err, KNOWN);
  }
}

function copyHours() {
  const g = groups.find((x) => x.id === chosen(ui.copyGroup));
  if (!g) return;
  setCalendar(g.hours);
  f.holidays.value = g.holidays.join("\n");
  (g.hours == null ? ui.always : f[`day-${V.days[0]}`]).focus();
}

// ---- Start ------------------------------------------------------------------------------
async function loadPolicies() {
  policies = (await api("GET", "/api/console/sla-policies")).policies;
  renderRows();
}

async function start() {
  ui.form.addEventListener("submit", save);
  $("policy-new").addEventListener("click", () => openPolicy(null));
  $("policy-cancel").addEventListener("click", closePolicy);
  ui.remove.addEventListener("click", removePolicy);
  $("level-add").addEventListener("click", () => {
    const node = levelRow({ metric: V.metrics[0], offset_minutes: 0, action: V.actions[0] });
    ui.levels.append(node);
    node.querySelector("select").focus();
  });
  $("copy-hours").addEventListener("click", copyHours);
  for (const radio of [ui.always, ui.hoursOn]) {
    radio.addEventListener("change", () => { ui.days.hidden = ui.always.checked; });
  }
  editorKeys({ form: ui.form, onNew: () => openPolicy(null), onClose: closePolicy });
  try {
    const [listed, team, allTypes] = await Promise.all([
      api("GET", "/api/console/sla-policies"),
      api("GET", "/api/console/groups"),
      ticketTypes(),
    ]);
    groups = team.groups;
    types = allTypes;
    policies = listed.policies;
    renderRows();
  } catch (err) {
    ui.loadError.textContent = fmt("failed", { msg: err.message });
    ui.loadError.hidden = false;
  }
}

if (root) start();
