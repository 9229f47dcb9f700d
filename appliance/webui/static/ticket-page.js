// Callbox ticket page: one ticket from GET /api/console/tickets/{id}. Its fields change
// inline (PATCH), the state moves the API offers are buttons (never worked out here),
// replies go to the customer or stay internal, and the history (ticket-history.js)
// reads who did what and when. After every change the page reloads the ticket,
// so what it shows is always the ticket as its history makes it. Keys: R reply,
// Ctrl+Enter send. Everything from the API goes in as text.
// The SLA clocks count down here, from the business time the server says is left;
// they are asked again every CLOCKS_EVERY while the tab is visible, after each change
// the page makes, and soon after a warning or deadline passes on screen, until the
// box has recorded it (then the history is read again, and the bell told).

import { T, fmt } from "./console-i18n.js";
import { api, convPath, el, errText, tierText, visitorName } from "./console-base.js";
import {
  FINAL, STATES, channelText, directory, fillSelect, groupName, overdue, parseTags, priorityPairs,
  stateBadge, stateText, ticketPage, ticketPath, ticketTypes, typePairs, userName, when,
} from "./ticket-fields.js";
import { historyItems, threadItems } from "./ticket-history.js";
import { renderMails } from "./ticket-mails.js";

const SAVED_FOR = 3000; // ms the "saved" note stays up
export const CLOCKS_EVERY = 30000; // ms between reads of the SLA clocks
const TICK = 1000; // ms between redraws of a running countdown
const SOON = 3000; // ms between reads while a passed warning or deadline is unrecorded
const SOON_FOR = 120000; // ms to keep reading that often before the usual pace again

const root = document.querySelector('[data-cb="ticket"]');
const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
const ticketId = root ? Number(root.dataset.ticketId) : 0;
const meId = root ? Number(root.dataset.userId) : 0;
const overseer = root && ["supervisor", "admin"].includes(root.dataset.role);

const ui = root && {
  number: $("ticket-number"),
  state: $("ticket-state"),
  subject: $("ticket-subject"),
  channel: $("field-channel"),
  moves: $("ticket-moves"),
  merged: $("ticket-merged"),
  error: $("ticket-error"),
  descriptionBox: $("ticket-description-box"),
  description: $("ticket-description"),
  thread: $("ticket-thread"),
  threadEmpty: $("thread-empty"),
  reply: $("reply-form"),
  replyPublic: $("reply-public"),
  replyNote: $("reply-note"),
  replyBody: $("reply-body"),
  replySend: $("reply-send"),
  history: $("ticket-history"),
  fields: $("ticket-fields"),
  priority: $("field-priority"),
  type: $("field-type"),
  group: $("field-group"),
  owner: $("field-owner"),
  ownerName: $("owner-name"),
  assignMe: $("assign-me"),
  tags: $("field-tags"),
  due: $("field-due"),
  dueClear: $("due-clear"),
  saved: $("fields-saved"),
  requester: $("requester-body"),
  chats: $("ticket-chats"),
  merge: $("merge"),
  mergeForm: $("merge-form"),
  mergeNumber: $("merge-number"),
  mergeConfirm: $("merge-confirm"),
  mergeTarget: $("merge-target"),
  mergeGo: $("merge-go"),
  mails: $("ticket-mails"),
  mailList: $("mail-list"),
};

let page = null; // the last TicketPage the API answered
let clocks = []; // its SLA clocks: every target, not only the nearest
let clocksAt = 0; // performance.now() when they were read
let dir = null; // colleagues and groups
let types = [];
let mergeInto = null; // the ticket found for a merge, waiting for the agent's yes
const unfolded = new Set(); // seqs of the transcripts the agent opened: open after a reload

// ---- Loading ------------------------------------------------------------------------------
let seq = 0;
let mails = null; // the ticket's updated_at when its mails were read

async function load() {
  const mine = ++seq;
  try {
    const [p, d, ty, sla] = await Promise.all([
      api("GET", ticketPath(ticketId)), directory(), ticketTypes(),
      api("GET", `${ticketPath(ticketId)}/sla`).catch(() => ({ clocks: [] })),
    ]);
    if (mine !== seq) return;
    page = p;
    setClocks(sla.clocks);
    // The team lists enabled users; a history may name one who has left since.
    for (const person of p.people || []) if (!d.users.has(person.id)) d.users.set(person.id, person.name);
    dir = d;
    types = ty;
    render();
    if (p.ticket.channel === "email" && mails !== p.ticket.updated_at) {
      mails = p.ticket.updated_at; // read again only when the ticket changed
      renderMails(ticketId, ui.mails, ui.mailList);
    }
  } catch (e) {
    if (mine === seq) showError(e);
  }
}

function showError(e) {
  ui.error.textContent = e ? fmt("failed", { msg: errText(e) }) : "";
  ui.error.hidden = !e;
}

/** Run one change; reload whatever happens, so the page shows what the ticket is now. */
async function act(button, call, saved) {
  if (button) button.disabled = true;
  try {
    await call();
    showError(null);
    if (saved) flashSaved();
  } catch (e) {
    showError(e);
  } finally {
    if (button) button.disabled = false;
  }
  await load();
}

let savedTimer = 0;
function flashSaved() {
  ui.saved.textContent = T.saved;
  clearTimeout(savedTimer);
  savedTimer = setTimeout(() => { ui.saved.textContent = ""; }, SAVED_FOR);
}

// ---- Rendering ----------------------------------------------------------------------------
function render() {
  const t = page.ticket;
  const final = FINAL.has(t.state);
  root.dataset.state = t.state;
  ui.number.textContent = t.number;
  stateBadge(t.state, ui.state);
  ui.subject.textContent = t.subject;
  ui.channel.textContent = channelText(t.channel);
  renderMoves();
  renderMerged(t);
  ui.descriptionBox.hidden = !t.description;
  ui.description.textContent = t.description;
  renderFields(t, final);
  renderRequester();
  renderClocks();
  schedule();
  renderChats();
  const thread = threadItems(page, dir, unfolded);
  ui.thread.replaceChildren(...thread);
  ui.threadEmpty.hidden = thread.length > 0;
  ui.history.replaceChildren(...historyItems(page, dir));
  ui.replyBody.disabled = ui.replySend.disabled = final;
  ui.replyPublic.disabled = ui.replyNote.disabled = final;
  ui.merge.hidden = !page.moves.includes("merged");
  root.dispatchEvent(new CustomEvent("cb:ticket", { detail: t })); // ticket-article.js
}

const METRIC_TEXT = {
  first_response: () => T.slaFirstResponse,
  next_response: () => T.slaNextResponse,
  resolution: () => T.slaResolution,
};

/** Business time left as h:mm:ss (m:ss under an hour). */
function span(seconds) {
  const s = Math.abs(Math.trunc(seconds));
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm.padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** What a clock shows now: the server's reading, counted down while it ticks. */
function reading(c) {
  const gone = c.ticking ? (performance.now() - clocksAt) / 1000 : 0;
  const left = c.remaining_seconds == null ? null : c.remaining_seconds - gone;
  const warnIn = c.warn_in_seconds == null ? null : c.warn_in_seconds - gone;
  // Past a mark on screen before the box's pass records it: shown as passed already.
  const breached = !!c.breached_at || (left != null && left <= 0 && !c.fulfilled_at);
  const warned = !!c.warned_at || (warnIn != null && warnIn <= 0);
  return { left, breached, warned };
}

/** One line per SLA target: its state (met, breached, nearing, paused, running), its
 * deadline and the business time left; the state is said in words, not colour alone. */
function renderClocks() {
  const list = $("sla-clocks");
  const shown = clocks.filter((c) => c.target_minutes != null);
  if (!shown.length) {
    list.replaceChildren(el("li", "muted", T.slaNone));
    return;
  }
  list.replaceChildren(...shown.map((c) => {
    const r = reading(c);
    const parts = [];
    let tone = "";
    let state = "running";
    if (c.fulfilled_at) {
      parts.push(c.breached_at ? T.slaMetLate : T.slaMet);
      tone = c.breached_at ? "late" : "met";
      state = c.breached_at ? "met_late" : "met";
    } else if (r.breached) {
      parts.push(`✕ ${T.slaBreached}`);
      if (r.left != null) parts.push(fmt("slaOver", { left: span(r.left) }));
      tone = "late";
      state = "breached";
    } else if (!c.running) {
      parts.push(T.slaPaused);
      if (r.left != null) parts.push(fmt("slaLeft", { left: span(r.left) }));
      state = "paused";
    } else {
      if (r.warned) parts.push(`⚠ ${T.slaWarned}`);
      parts.push(fmt("slaDue", { at: when(c.due_at) }));
      if (r.left != null) parts.push(fmt("slaLeft", { left: span(r.left) }));
      tone = r.warned ? "warn" : "";
      state = r.warned ? "warned" : "running";
    }
    const li = el("li", "", `${METRIC_TEXT[c.metric]()}: ${parts.join(" · ")}`);
    li.dataset.metric = c.metric;
    li.dataset.state = state;
    if (tone) li.dataset.tone = tone;
    li.title = fmt("slaUsed", { used: c.used_minutes, target: c.target_minutes });
    return li;
  }));
}

// ---- Keeping the clocks current ------------------------------------------------------------
let clocksTimer = 0;
let waiting = false; // a passed mark waited for the box at the last tick
let soonUntil = 0; // performance.now() until which the clocks are read every SOON

/** Take a fresh reading of the clocks; say whether the box recorded a new warning or breach. */
function setClocks(fresh) {
  const marks = (list) => list.map((c) => `${c.metric}:${!!c.warned_at}:${!!c.breached_at}`).join();
  const changed = clocksAt > 0 && marks(fresh) !== marks(clocks);
  clocks = fresh;
  clocksAt = performance.now();
  return changed;
}

/** Whether a clock shows a mark passed that the box has not recorded yet. */
const unrecorded = () => clocks.some((c) => {
  if (c.target_minutes == null || c.fulfilled_at) return false;
  const r = reading(c);
  return (r.breached && !c.breached_at) || (r.warned && !c.warned_at);
});

async function refreshClocks() {
  try {
    const sla = await api("GET", `${ticketPath(ticketId)}/sla`);
    if (setClocks(sla.clocks)) {
      // The box warned, breached or escalated: its history says what it did, and
      // whoever it told has a notification (the bell reads the count again).
      document.dispatchEvent(new Event("callbox:notices-stale"));
      await load();
      return;
    }
    renderClocks();
  } catch (_) { /* the next reading tries again */ }
  schedule();
}

/** Plan the next reading: soon while a passed mark waits for the box, else CLOCKS_EVERY. */
function schedule() {
  clearTimeout(clocksTimer);
  if (document.hidden) return;
  const soon = unrecorded() && performance.now() < soonUntil;
  clocksTimer = setTimeout(refreshClocks, soon ? SOON : CLOCKS_EVERY);
}

function tick() {
  if (document.hidden || !page) return;
  renderClocks();
  const now = unrecorded();
  if (now && !waiting) {
    soonUntil = performance.now() + SOON_FOR;
    schedule();
  }
  waiting = now;
}

function moveLabel(to, from) {
  if (to === "open") return from === "resolved" ? T.moveReopen : T.moveOpen;
  if (to === "pending") return T.movePending;
  if (to === "resolved") return T.moveResolved;
  if (to === "closed") return T.moveClosed;
  return stateText(to);
}

function renderMoves() {
  const from = page.ticket.state;
  // Merging is its own action below (it needs the other ticket). The API says which
  // moves there are; they show in the states' own order, whatever order it lists them.
  const moves = page.moves.filter((m) => m !== "merged");
  moves.sort((x, y) => STATES.indexOf(x) - STATES.indexOf(y));
  const buttons = moves.map((to) => {
    const b = el("button", to === "resolved" ? "" : "secondary", moveLabel(to, from));
    b.type = "button";
    b.dataset.cb = "move";
    b.dataset.to = to;
    b.addEventListener("click", () => act(b, () => api("POST", ticketPath(ticketId, "/state"), { to })));
    return b;
  });
  ui.moves.replaceChildren(...buttons);
}

function renderMerged(t) {
  ui.merged.hidden = t.merged_into == null;
  if (t.merged_into == null) return;
  const link = el("a", null, T.mergedIntoLink);
  link.href = ticketPage(t.merged_into);
  link.dataset.cb = "merged-into";
  ui.merged.replaceChildren(el("span", null, T.mergedInto), " ", link);
}

function renderFields(t, final) {
  fillSelect(ui.priority, priorityPairs(), t.priority);
  fillSelect(ui.type, typePairs(types, t.type, T.typeNone), t.type);
  fillSelect(ui.group, [["", T.noGroupValue], ...dir.groups], t.group_id);
  if (t.group_id != null && !dir.groups.has(t.group_id)) {
    ui.group.append(Object.assign(el("option", null, groupName(dir, t.group_id)), { value: String(t.group_id) }));
    ui.group.value = String(t.group_id);
  }
  // Supervisors assign anyone; an agent may take the ticket (the API refuses more).
  ui.owner.hidden = !overseer;
  ui.ownerName.hidden = !!overseer;
  if (overseer) {
    const people = dir.agents.map((a) => [a.id, a.display_name]);
    if (t.owner_id != null && !dir.users.has(t.owner_id)) people.push([t.owner_id, userName(dir, t.owner_id)]);
    fillSelect(ui.owner, [["", T.unassigned], ...people], t.owner_id);
  } else {
    ui.ownerName.textContent = t.owner_id == null ? T.unassigned : userName(dir, t.owner_id);
  }
  ui.assignMe.hidden = overseer || final || t.owner_id === meId;
  if (document.activeElement !== ui.tags) ui.tags.value = t.tags.join(" ");
  // The wire time's own wall clock is the box's: "2030-01-02T09:00:00.000+08:00".
  if (document.activeElement !== ui.due) ui.due.value = t.due_at ? t.due_at.slice(0, 16) : "";
  ui.due.classList.toggle("late", overdue(t));
  ui.dueClear.hidden = !t.due_at || final;
  for (const control of [ui.priority, ui.type, ui.group, ui.owner, ui.tags, ui.due, ui.dueClear]) {
    control.disabled = final;
  }
}

function renderRequester() {
  const r = page.requester;
  if (!r) {
    ui.requester.replaceChildren(el("p", "muted", T.noRequester));
    return;
  }
  const head = el("p", "requester-name");
  head.append(el("strong", null, r.name || T.noName));
  if (r.tier === "vip" || r.tier === "member") head.append(" ", el("span", `badge tier-${r.tier}`, tierText(r.tier)));
  const dl = el("dl", "facts");
  const fact = (label, value, cb) => {
    if (!value) return;
    const dd = el("dd", null, value);
    dd.dataset.cb = cb;
    dl.append(el("dt", null, label), dd);
  };
  fact(T.fieldPhone, r.phone, "requester-phone");
  fact(T.fieldEmail, r.email, "requester-email");
  fact(T.tier, tierText(r.tier), "requester-tier");
  ui.requester.replaceChildren(head, dl);
}

// A linked chat: its transcript page, named by its visitor and start once known.
const chatNames = new Map(); // conversation id -> Promise<text>

function chatName(id) {
  if (!chatNames.has(id)) {
    chatNames.set(id, api("GET", convPath(id))
      .then((r) => fmt("linkedChat", { name: visitorName(r.conversation), date: when(r.conversation.created_at) }))
      .catch(() => fmt("linkedChatId", { id: id.slice(-6) })));
  }
  return chatNames.get(id);
}

function renderChats() {
  if (!page.conversations.length) {
    ui.chats.replaceChildren(el("li", "muted", T.nothing));
    return;
  }
  ui.chats.replaceChildren(...page.conversations.map((id) => {
    const a = el("a", null, fmt("linkedChatId", { id: id.slice(-6) }));
    a.href = `/console/history/${encodeURIComponent(id)}`;
    a.dataset.cb = "linked-chat";
    a.dataset.id = id;
    chatName(id).then((text) => { a.textContent = text; });
    const li = el("li");
    li.append(a);
    return li;
  }));
}

// ---- Changes ---------------------------------------------------------------------------------
const patch = (changes) => api("PATCH", ticketPath(ticketId), changes);

function wireFields() {
  ui.priority.addEventListener("change", () => act(null, () => patch({ priority: ui.priority.value }), true));
  ui.type.addEventListener("change", () => act(null, () => patch({ type: ui.type.value }), true));
  ui.group.addEventListener("change", () => {
    const v = ui.group.value;
    act(null, () => patch({ group_id: v ? Number(v) : null }), true);
  });
  ui.owner.addEventListener("change", () => {
    const v = ui.owner.value;
    act(null, () => patch({ owner_id: v ? Number(v) : null }), true);
  });
  ui.assignMe.addEventListener("click", () => act(ui.assignMe, () => patch({ owner_id: meId }), true));
  ui.tags.addEventListener("change", () => act(null, () => patch({ tags: parseTags(ui.tags.value) }), true));
  ui.tags.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); ui.tags.blur(); } });
  // Saved when the agent leaves the field or presses Enter, not at every digit: each
  // save is an entry of the history. Without an offset the API reads the box's zone,
  // the wall clock the agent sees.
  const saveDue = () => {
    const v = ui.due.value;
    const was = page && page.ticket.due_at ? page.ticket.due_at.slice(0, 16) : "";
    if (!page || v === was || (!v && ui.due.validity.badInput)) return;
    act(null, () => patch({ due_at: v ? `${v}:00` : null }), true);
  };
  ui.due.addEventListener("blur", saveDue);
  ui.due.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); saveDue(); } });
  ui.dueClear.addEventListener("click", () => act(ui.dueClear, () => patch({ due_at: null }), true));
}

function setReplyMode() {
  const note = ui.replyNote.checked;
  ui.reply.dataset.mode = note ? "note" : "reply";
  ui.replyBody.placeholder = note ? T.ticketNotePlaceholder : T.ticketReplyPlaceholder;
}

async function sendReply(e) {
  if (e) e.preventDefault();
  const body = ui.replyBody.value;
  if (!body.trim() || ui.replySend.disabled) return;
  const publicReply = ui.replyPublic.checked;
  let sent = false;
  await act(ui.replySend, async () => {
    await api("POST", ticketPath(ticketId, "/comments"), { body, public: publicReply });
    sent = true;
  });
  if (sent) ui.replyBody.value = "";
}

function wireReply() {
  ui.replyPublic.addEventListener("change", setReplyMode);
  ui.replyNote.addEventListener("change", setReplyMode);
  ui.reply.addEventListener("submit", sendReply);
  ui.replyBody.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.isComposing) sendReply(e);
  });
  setReplyMode();
}

// Merge by number: find the ticket first and say which it is; merging is final.
async function findMergeTarget(e) {
  e.preventDefault();
  const number = ui.mergeNumber.value.trim().replace(/^#/, "");
  mergeInto = null;
  ui.mergeConfirm.hidden = true;
  if (!number) return;
  try {
    const q = new URLSearchParams({ view: "all", q: number, limit: "20" });
    const r = await api("GET", `/api/console/tickets?${q}`);
    const found = r.tickets.find((x) => x.number === number && x.id !== ticketId);
    if (!found) {
      showError(new Error(fmt("mergeNoTicket", { number })));
      return;
    }
    showError(null);
    mergeInto = found;
    ui.mergeTarget.textContent = fmt("mergeConfirm", { number: found.number, subject: found.subject });
    ui.mergeConfirm.hidden = false;
    ui.mergeGo.focus();
  } catch (x) {
    showError(x);
  }
}

function wireMerge() {
  ui.mergeForm.addEventListener("submit", findMergeTarget);
  ui.mergeGo.addEventListener("click", async () => {
    if (!mergeInto) return;
    const into = mergeInto.id;
    await act(ui.mergeGo, () => api("POST", ticketPath(ticketId, "/merge"), { into }));
    mergeInto = null;
    ui.mergeConfirm.hidden = true;
    ui.mergeNumber.value = "";
  });
}

// ---- Start -------------------------------------------------------------------------------------
function onKey(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  const typing = t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  if ((e.key === "r" || e.key === "R") && !typing && !ui.replyBody.disabled) {
    e.preventDefault();
    ui.replyBody.focus();
  }
}

if (root) {
  wireFields();
  wireReply();
  wireMerge();
  document.addEventListener("keydown", onKey);
  // Colleagues change tickets too: back on this tab, show the ticket as it is now.
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) load();
    else clearTimeout(clocksTimer);
  });
  setInterval(tick, TICK);
  load();
}
