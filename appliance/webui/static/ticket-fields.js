// How a ticket's fields read on the ticket pages: states, priorities, box-local times,
// the names of colleagues and groups, the ticket types. Shared by ticket-list.js,
// ticket-page.js and the console's "make a ticket" dialog. Names go in as text.

import { T } from "./console-i18n.js";
import { api, el } from "./console-base.js";
import { boxDateTime } from "./console-visit.js";

export const STATE_TEXT = {
  new: T.stateNew,
  open: T.stateOpen,
  pending: T.statePending,
  resolved: T.stateResolved,
  closed: T.stateClosed,
  merged: T.stateMerged,
};

// In the API's order, lowest first.
export const PRIORITY_TEXT = {
  low: T.prioLow,
  normal: T.prioNormal,
  high: T.prioHigh,
  urgent: T.prioUrgent,
};

// Where tickets come from, in the API's order (core/tickets.py CHANNELS).
export const CHANNEL_TEXT = {
  phone: T.chPhone,
  chat: T.chChat,
  web: T.chWeb,
  message: T.chMessage,
  callback: T.chCallback,
  api: T.chApi,
  schedule: T.chSchedule,
  email: T.chEmail,
  portal: T.chPortal,
};

export const STATES = Object.keys(STATE_TEXT); // in a ticket's life order
export const FINAL = new Set(["closed", "merged"]);
const WORKING = new Set(["new", "open", "pending"]);

export const stateText = (state) => STATE_TEXT[state] || state || "";
export const priorityText = (p) => PRIORITY_TEXT[p] || p || "";
export const channelText = (c) => CHANNEL_TEXT[c] || c || "";

/** A state badge; data-state is a stable hook for styles and tests. */
export function stateBadge(state, node) {
  const b = node || el("span");
  b.className = `state state-${state}`;
  b.dataset.state = state;
  b.textContent = stateText(state);
  return b;
}

export function priorityBadge(priority, node) {
  const b = node || el("span");
  b.className = `prio prio-${priority}`;
  b.dataset.priority = priority;
  b.textContent = priorityText(priority);
  return b;
}

/** A wire time as the box's wall clock ("2026-12-06 14:05"), wherever the browser is. */
export const when = (iso) => (iso ? boxDateTime(iso) : "");

/** Whether a working ticket is past its due time (absolute instants compare fine). */
export function overdue(ticket, now = Date.now()) {
  if (!ticket.due_at || !WORKING.has(ticket.state)) return false;
  const due = new Date(ticket.due_at).getTime();
  return Number.isFinite(due) && due < now;
}

/** Tags as typed (spaces, commas or the Chinese list marks between) to the API's list. */
export function parseTags(text) {
  const out = [];
  for (const tag of String(text || "").split(/[\s,\uff0c\u3001]+/)) {
    if (tag && !out.includes(tag)) out.push(tag);
  }
  return out;
}

/** Replace a select's options with [value, label] pairs and pick a value. */
export function fillSelect(select, pairs, value) {
  select.replaceChildren(...pairs.map(([v, label]) => Object.assign(el("option", null, label), { value: String(v) })));
  if (value !== undefined) select.value = value == null ? "" : String(value);
}

export const priorityPairs = () => Object.entries(PRIORITY_TEXT);

// ---- Who and which group ----------------------------------------------------------
// The team and the groups, read once per page from /api/console/colleagues (every
// enabled user, every group); a disabled user's id shows as #id.
let team = null;

export async function directory() {
  if (!team) {
    team = api("GET", "/api/console/colleagues").then((r) => ({
      agents: r.agents || [],
      users: new Map((r.agents || []).map((a) => [a.id, a.display_name])),
      groups: new Map((r.groups || []).map((g) => [g.id, g.name])),
    }));
    team.catch(() => { team = null; });
  }
  return team;
}

export const userName = (dir, id) => (id == null ? "" : dir.users.get(id) || `#${id}`);
export const groupName = (dir, id) => (id == null ? "" : dir.groups.get(id) || `#${id}`);

// ---- Ticket types -------------------------------------------------------------------
let types = null;

/** Every ticket type, active and retired: [{id, name, position, active}]. */
export async function ticketTypes() {
  if (!types) {
    types = api("GET", "/api/console/ticket-types").then((r) => r.types || []);
    types.catch(() => { types = null; });
  }
  return types;
}

/** The active types as select pairs, a ticket's retired one kept so it still shows. */
export function typePairs(all, current, none) {
  const pairs = [["", none]];
  for (const t of all) if (t.active || t.name === current) pairs.push([t.name, t.name]);
  if (current && !pairs.some(([v]) => v === current)) pairs.push([current, current]);
  return pairs;
}

export const ticketPath = (id, tail) => `/api/console/tickets/${encodeURIComponent(id)}${tail || ""}`;
export const ticketPage = (id) => `/console/tickets/${encodeURIComponent(id)}`;
