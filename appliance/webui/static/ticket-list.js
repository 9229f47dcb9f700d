// Callbox ticket list: saved views as tabs, filters, sorting and paging over
// GET /api/console/tickets, and the form for a phone call's ticket (from a template or
// not). The view and filters live in the page's URL, so back, reload and links keep
// them. Keys: / search, arrows move between rows and tabs, Enter opens, X picks a row
// for the bulk actions, N new ticket.
// The list refreshes itself while it is shown, and redraws only when it changed, so a
// new left message appears without a reload and a selection survives.
// Everything from the API goes in as text.

import { T, fmt } from "./console-i18n.js";
import { api, el, errText } from "./console-base.js";
import {
  CHANNEL_TEXT, channelText, directory, fillSelect, groupName, overdue, parseTags, priorityBadge, priorityPairs,
  stateBadge, stateText, ticketPage, ticketTypes, typePairs, userName, when,
} from "./ticket-fields.js";

const SEARCH_DELAY = 300; // ms of no typing before the search runs
const REFRESH = 15000; // ms between refreshes while the page is shown
const VIEWS = ["mine", "my_groups", "unassigned", "pending", "open", "all", "left", "breaching"];
const SORTS = [
  "updated_at DESC", "updated_at ASC", "created_at DESC", "created_at ASC", "due_at ASC", "priority DESC",
  "sla_due ASC",
];

const root = document.querySelector('[data-cb="tickets"]');
const $ = (name) => root.querySelector(`[data-cb="${name}"]`);

const overseer = root && ["supervisor", "admin"].includes(root.dataset.role);
const PAGE = root ? Number(root.dataset.pageSize) || 25 : 25;

const ui = root && {
  tabs: [...$("ticket-views").querySelectorAll('[role="tab"]')],
  filters: $("ticket-filters"),
  q: $("ticket-q"),
  priority: $("ticket-priority"),
  type: $("ticket-type"),
  channel: $("ticket-channel"),
  sort: $("ticket-sort"),
  rows: $("ticket-rows"),
  rowTpl: $("ticket-row-tpl"),
  empty: $("tickets-empty"),
  total: $("tickets-total"),
  range: $("tickets-range"),
  prev: $("tickets-prev"),
  next: $("tickets-next"),
  error: $("tickets-error"),
  newButton: $("new-ticket"),
  requester: $("requester-filter"),
  all: $("bulk-all"),
  bulk: $("bulk-bar"),
  bulkCount: $("bulk-count"),
  bulkOwner: $("bulk-owner"),
  bulkGroup: $("bulk-group"),
  bulkPriority: $("bulk-priority"),
  bulkState: $("bulk-state"),
  bulkTags: $("bulk-tags"),
  bulkApply: $("bulk-apply"),
  outcome: $("bulk-outcome"),
};

// ---- The list's state, kept in the URL ------------------------------------------------
const state = {
  view: overseer ? "open" : "mine", priority: "", type: "", channel: "", q: "", sort: SORTS[0], offset: 0,
  requester_id: "", // a customer's tickets (the link from their profile)
};

function readUrl() {
  const p = new URLSearchParams(location.search);
  if (VIEWS.includes(p.get("view"))) state.view = p.get("view");
  state.priority = p.get("priority") || "";
  state.type = p.get("type") || "";
  state.channel = CHANNEL_TEXT[p.get("channel")] ? p.get("channel") : "";
  state.q = p.get("q") || "";
  state.requester_id = /^[1-9]\d{0,15}$/.test(p.get("requester_id") || "") ? p.get("requester_id") : "";
  if (SORTS.includes(p.get("sort"))) state.sort = p.get("sort");
  state.offset = Math.max(0, Number.parseInt(p.get("offset") || "0", 10) || 0);
}

function query() {
  const p = new URLSearchParams({ view: state.view });
  for (const k of ["priority", "type", "channel", "q", "requester_id"]) if (state[k]) p.set(k, state[k]);
  if (state.sort !== SORTS[0]) p.set("sort", state.sort);
  if (state.offset) p.set("offset", String(state.offset));
  return p;
}

function writeUrl() {
  history.replaceState(null, "", `${location.pathname}?${query()}`);
}

// ---- Rows ------------------------------------------------------------------------------
function row(t, dir, names) {
  const tr = ui.rowTpl.content.firstElementChild.cloneNode(true);
  const f = (name) => tr.querySelector(`[data-f="${name}"]`);
  tr.dataset.id = String(t.id);
  tr.dataset.state = t.state;
  const pick = f("pick");
  pick.checked = picked.has(t.id);
  pick.dataset.number = t.number;
  const link = f("number");
  link.href = ticketPage(t.id);
  link.textContent = t.number;
  link.dataset.cb = "ticket-link";
  f("subject").textContent = t.subject;
  const channel = f("channel");
  channel.textContent = channelText(t.channel);
  channel.dataset.channel = t.channel;
  stateBadge(t.state, f("state"));
  priorityBadge(t.priority, f("priority"));
  f("type").textContent = t.type || "—";
  // The list names the page's requesters beside its rows.
  f("requester").textContent =
    t.requester_id == null ? "—" : names.get(t.requester_id) || T.noName;
  f("owner").textContent = t.owner_id == null ? T.unassigned : userName(dir, t.owner_id);
  f("group").textContent = t.group_id == null ? "—" : groupName(dir, t.group_id);
  const updated = f("updated");
  updated.textContent = when(t.updated_at);
  updated.title = t.updated_at;
  const due = f("due");
  due.textContent = when(t.due_at) || "—";
  due.classList.toggle("late", overdue(t));
  return tr;
}

let seq = 0; // the latest load; an older one finishing late draws nothing
let drawn = ""; // what the rows show, so a refresh that changed nothing keeps them
let refresh = 0;

async function load() {
  const mine = ++seq;
  clearTimeout(refresh);
  if (!document.hidden) refresh = setTimeout(load, REFRESH);
  writeUrl();
  renderControls();
  const p = query();
  p.set("limit", String(PAGE));
  try {
    const [r, dir] = await Promise.all([api("GET", `/api/console/tickets?${p}`), directory()]);
    if (mine !== seq) return;
    const names = new Map(r.requesters.map((c) => [c.id, c.name]));
    const now = JSON.stringify([r.tickets, r.requesters]);
    if (now !== drawn || !ui.rows.firstChild) {
      drawn = now;
      ui.rows.replaceChildren(...r.tickets.map((t) => row(t, dir, names)));
      renderPick();
    }
    ui.empty.hidden = r.tickets.length > 0;
    // The box counts up to 10,000 matches; past that the total reads "10,000+".
    ui.total.textContent = fmt("ticketsTotal", { n: r.total > 10000 ? "10,000+" : r.total });
    ui.total.dataset.total = String(r.total);
    ui.requester.hidden = !state.requester_id;
    if (state.requester_id) {
      const name = names.get(Number(state.requester_id)) || `#${state.requester_id}`;
      ui.requester.textContent = fmt("ticketsOfCustomer", { name });
    }
    ui.range.textContent = r.tickets.length
      ? fmt("ticketsRange", { from: r.offset + 1, to: r.offset + r.tickets.length })
      : "";
    ui.prev.disabled = r.offset === 0;
    ui.next.disabled = r.offset + r.tickets.length >= r.total;
    // Past the end (a filter or another agent shrank the list): show the last page.
    if (!r.tickets.length && r.offset > 0 && r.total > 0) {
      state.offset = Math.floor((r.total - 1) / PAGE) * PAGE;
      load();
      return;
    }
    showError(null);
  } catch (e) {
    if (mine === seq) showError(e);
  }
}

function showError(e) {
  ui.error.textContent = e ? fmt("failed", { msg: errText(e) }) : "";
  ui.error.hidden = !e;
}

function renderControls() {
  for (const tab of ui.tabs) {
    const on = tab.dataset.view === state.view;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
  }
  ui.priority.value = state.priority;
  ui.type.value = state.type;
  ui.channel.value = state.channel;
  ui.sort.value = state.sort;
  if (document.activeElement !== ui.q) ui.q.value = state.q;
}

function change(patch) {
  Object.assign(state, patch, { offset: patch.offset ?? 0 });
  load();
}

// ---- Keyboard ---------------------------------------------------------------------------
const typing = (t) => t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
const links = () => [...ui.rows.querySelectorAll('[data-cb="ticket-link"]')];

function moveInRows(from, step) {
  const all = links();
  if (!all.length) return;
  const at = all.indexOf(from);
  const next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
  all[next].focus();
}

function onKey(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  const target = e.target;
  if (e.key === "/" && !typing(target)) {
    e.preventDefault();
    ui.q.focus();
    ui.q.select();
  } else if ((e.key === "x" || e.key === "X") && ui.rows.contains(target) && !typing(target)) {
    e.preventDefault();
    const box = target.closest("tr").querySelector('[data-f="pick"]');
    box.checked = !box.checked;
    onPick(box);
  } else if ((e.key === "n" || e.key === "N") && !typing(target)) {
    e.preventDefault();
    openNew();
  } else if ((e.key === "ArrowDown" || e.key === "ArrowUp") && (ui.rows.contains(target) || target === ui.q)) {
    e.preventDefault();
    moveInRows(target === ui.q ? null : target.closest("tr").querySelector('[data-cb="ticket-link"]'), e.key === "ArrowDown" ? 1 : -1);
  }
}

function onTabKey(e) {
  if (e.key !== "ArrowRight" && e.key !== "ArrowLeft" && e.key !== "Home" && e.key !== "End") return;
  e.preventDefault();
  const at = ui.tabs.indexOf(e.target);
  const n = ui.tabs.length;
  const next = e.key === "Home" ? 0 : e.key === "End" ? n - 1 : (at + (e.key === "ArrowRight" ? 1 : n - 1)) % n;
  ui.tabs[next].focus();
  change({ view: ui.tabs[next].dataset.view });
}

// ---- New ticket (a phone call) ----------------------------------------------------------
const form = root && {
  dialog: $("new-ticket-dialog"),
  form: $("new-ticket-form"),
  templateRow: $("nt-template-row"),
  template: $("nt-template"),
  subject: $("nt-subject"),
  description: $("nt-description"),
  type: $("nt-type"),
  priority: $("nt-priority"),
  group: $("nt-group"),
  tags: $("nt-tags"),
  name: $("nt-name"),
  phone: $("nt-phone"),
  email: $("nt-email"),
  error: $("nt-error"),
  create: $("nt-create"),
};
let templates = [];
const typed = new Set(); // the form fields the agent has typed into or chosen

// What a template fills; the agent's own input stays (a field they emptied takes it).
const FROM_TEMPLATE = {
  subject: (t) => t.subject,
  description: (t) => t.description,
  type: (t) => t.type,
  priority: (t) => t.priority,
  group: (t) => (t.group_id == null ? "" : String(t.group_id)),
  tags: (t) => t.tags.join(" "),
};

function applyTemplate() {
  const t = templates.find((x) => String(x.id) === form.template.value);
  for (const [name, value] of Object.entries(FROM_TEMPLATE)) {
    const field = form[name];
    if (typed.has(name) && (field.value || name === "priority")) continue;
    field.value = t ? value(t) : name === "priority" ? "normal" : "";
    // A template's retired type or deleted group stays on the template; skip it.
    if (field.tagName === "SELECT" && field.selectedIndex < 0) field.value = name === "priority" ? "normal" : "";
  }
}

async function openNew() {
  form.form.reset();
  typed.clear();
  form.error.hidden = true;
  try {
    const [dir, types, listed] = await Promise.all([
      directory(), ticketTypes(), api("GET", "/api/console/ticket-templates"),
    ]);
    templates = listed.templates || [];
    fillSelect(form.template, [["", form.template.options[0].textContent], ...templates.map((t) => [t.id, t.name])], "");
    form.templateRow.hidden = !templates.length;
    fillSelect(form.type, typePairs(types.filter((t) => t.active), "", T.typeNone), "");
    fillSelect(form.priority, priorityPairs(), "normal");
    fillSelect(form.group, [["", T.noGroupValue], ...dir.groups], "");
  } catch (e) {
    showError(e);
    return;
  }
  if (!form.dialog.open) form.dialog.showModal();
  (form.templateRow.hidden ? form.subject : form.template).focus();
}

async function createTicket(e) {
  e.preventDefault();
  form.error.hidden = true;
  const body = {
    subject: form.subject.value.trim(),
    description: form.description.value,
    type: form.type.value,
    priority: form.priority.value,
    channel: "phone",
    tags: parseTags(form.tags.value),
  };
  if (form.group.value) body.group_id = Number(form.group.value);
  const requester = { name: form.name.value.trim(), phone: form.phone.value.trim(), email: form.email.value.trim() };
  if (requester.name || requester.phone || requester.email) body.requester = requester;
  form.create.disabled = true;
  try {
    // The form already holds the template's values with the agent's input over them,
    // so the template is not sent: the API would put it back over a field the agent
    // emptied, or over a priority they set to normal.
    const r = await api("POST", "/api/console/tickets", body);
    location.assign(ticketPage(r.ticket.id));
  } catch (x) {
    form.error.textContent = fmt("failed", { msg: errText(x) });
    form.error.hidden = false;
    form.create.disabled = false;
  }
}

function wireNew() {
  ui.newButton.addEventListener("click", openNew);
  form.form.addEventListener("submit", createTicket);
  $("nt-cancel").addEventListener("click", () => form.dialog.close());
  $("new-ticket-close").addEventListener("click", () => form.dialog.close());
  form.template.addEventListener("change", applyTemplate);
  for (const name of Object.keys(FROM_TEMPLATE)) {
    const mark = () => typed.add(name);
    form[name].addEventListener("input", mark);
    form[name].addEventListener("change", mark);
  }
}

// ---- Bulk actions ---------------------------------------------------------------------
// Picked tickets stay picked across refreshes and pages until applied or cleared; the
// box changes each on its own and says which it refused and why.
const picked = new Map(); // id -> number, for the outcome's wording
// Why the box refused a ticket, in the page's language (core's own words otherwise).
const WHY = { forbidden: T.bulkWhyForbidden, not_found: T.bulkWhyNotFound, conflict: T.bulkWhyConflict };

function onPick(box) {
  const id = Number(box.closest("tr").dataset.id);
  if (box.checked) picked.set(id, box.dataset.number);
  else picked.delete(id);
  renderPick();
}

function renderPick() {
  const boxes = [...ui.rows.querySelectorAll('[data-f="pick"]')];
  const on = boxes.filter((b) => b.checked).length;
  ui.all.checked = on > 0 && on === boxes.length;
  ui.all.indeterminate = on > 0 && on < boxes.length;
  ui.bulk.hidden = picked.size === 0;
  ui.bulkCount.textContent = fmt("bulkPicked", { n: picked.size });
}

function clearPick() {
  picked.clear();
  for (const b of ui.rows.querySelectorAll('[data-f="pick"]')) b.checked = false;
  ui.bulk.reset();
  renderPick();
}

async function applyBulk(ownerId) {
  const change = {};
  if (ownerId != null) change.owner_id = ownerId;
  else if (ui.bulkOwner.value) change.owner_id = Number(ui.bulkOwner.value);
  if (ui.bulkGroup.value) change.group_id = Number(ui.bulkGroup.value);
  if (ui.bulkPriority.value) change.priority = ui.bulkPriority.value;
  const body = { ids: [...picked.keys()], change, add_tags: parseTags(ui.bulkTags.value) };
  if (ui.bulkState.value) body.to = ui.bulkState.value;
  if (!Object.keys(change).length && !body.add_tags.length && !body.to) {
    say(T.bulkNothing);
    return;
  }
  ui.bulkApply.disabled = true;
  try {
    const r = await api("POST", "/api/console/tickets/bulk", body);
    const numbers = new Map(picked);
    const refused = r.results.filter((x) => !x.ok);
    const lines = [fmt("bulkDone", { n: r.done })];
    if (refused.length) {
      const why = (x) => WHY[x.code] || x.message;
      const list = refused.map((x) => `${numbers.get(x.id) || `#${x.id}`} (${why(x)})`).join("; ");
      lines.push(fmt("bulkRefused", { n: refused.length, list }));
    }
    say(lines.join(" "));
    clearPick();
    for (const x of refused) picked.set(x.id, numbers.get(x.id));
    drawn = "";
    load();
  } catch (e) {
    say(fmt("failed", { msg: errText(e) }));
  } finally {
    ui.bulkApply.disabled = false;
  }
}

function say(text) {
  ui.outcome.textContent = text;
  ui.outcome.hidden = !text;
}

async function wireBulk() {
  ui.rows.addEventListener("change", (e) => {
    if (e.target.matches('[data-f="pick"]')) onPick(e.target);
  });
  ui.all.addEventListener("change", () => {
    for (const b of ui.rows.querySelectorAll('[data-f="pick"]')) {
      b.checked = ui.all.checked;
      const id = Number(b.closest("tr").dataset.id);
      if (b.checked) picked.set(id, b.dataset.number);
      else picked.delete(id);
    }
    renderPick();
  });
  ui.bulk.addEventListener("submit", (e) => {
    e.preventDefault();
    applyBulk(null);
  });
  $("bulk-me").addEventListener("click", () => applyBulk(Number(root.dataset.userId)));
  $("bulk-clear").addEventListener("click", () => { clearPick(); say(""); });
  fillSelect(ui.bulkPriority, [["", ui.bulkPriority.options[0].textContent], ...priorityPairs()], "");
  fillSelect(
    ui.bulkState,
    [["", ui.bulkState.options[0].textContent], ...["open", "pending", "resolved"].map((s) => [s, stateText(s)])],
    "",
  );
  try {
    const dir = await directory();
    fillSelect(ui.bulkOwner, [["", ui.bulkOwner.options[0].textContent], ...dir.agents.map((a) => [a.id, a.display_name])], "");
    fillSelect(ui.bulkGroup, [["", ui.bulkGroup.options[0].textContent], ...dir.groups], "");
  } catch (e) {
    showError(e);
  }
}

// ---- Start ------------------------------------------------------------------------------
async function start() {
  readUrl();
  fillSelect(ui.priority, [["", ui.priority.options[0].textContent], ...priorityPairs()], state.priority);
  fillSelect(ui.channel, [["", ui.channel.options[0].textContent], ...Object.entries(CHANNEL_TEXT)], state.channel);
  ui.q.value = state.q;
  for (const tab of ui.tabs) {
    tab.addEventListener("click", () => change({ view: tab.dataset.view }));
    tab.addEventListener("keydown", onTabKey);
  }
  ui.priority.addEventListener("change", () => change({ priority: ui.priority.value }));
  ui.type.addEventListener("change", () => change({ type: ui.type.value }));
  ui.channel.addEventListener("change", () => change({ channel: ui.channel.value }));
  ui.sort.addEventListener("change", () => change({ sort: ui.sort.value }));
  let timer = 0;
  ui.q.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => change({ q: ui.q.value.trim() }), SEARCH_DELAY);
  });
  ui.filters.addEventListener("submit", (e) => {
    e.preventDefault();
    clearTimeout(timer);
    change({ q: ui.q.value.trim() });
  });
  ui.requester.addEventListener("click", () => change({ requester_id: "" }));
  ui.prev.addEventListener("click", () => change({ offset: Math.max(0, state.offset - PAGE) }));
  ui.next.addEventListener("click", () => change({ offset: state.offset + PAGE }));
  // A click anywhere on a row opens it, as Enter on its number does.
  ui.rows.addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-id]");
    if (tr && !e.target.closest("a, .pick") && !getSelection().toString()) location.assign(ticketPage(tr.dataset.id));
  });
  document.addEventListener("keydown", onKey);
  // Back on this tab after working a ticket elsewhere: the list as it is now.
  document.addEventListener("visibilitychange", () => { if (!document.hidden) load(); });
  wireNew();
  wireBulk();
  load();
  try {
    const types = await ticketTypes();
    fillSelect(ui.type, [["", ui.type.options[0].textContent], ...types.map((t) => [t.name, t.name])], state.type);
  } catch (e) {
    showError(e);
  }
}

if (root) start();
