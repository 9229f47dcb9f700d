// The sidebar: which conversations are waiting, mine (owned or invited into) and, for
// supervisors, live anywhere; kept true from frames, HTTP answers and snapshots.

import { T, fmt } from "./console-i18n.js";
import {
  S, api, button, convPath, el, errText, flash, hhmm, isOverseer, me, notify, onScreen, tierText,
  ui, visitorName,
} from "./console-base.js";
import { renderChatHead, select } from "./console-chat.js";
import { join } from "./console-ws.js";

const WAITING_REFRESH = 800; // ms; one snapshot of queue places after a burst of queue frames
const WAITING_POLL = 15000; // ms; places move as waits age even when no frame says so
const LIVE_POLL = 10000; // ms; supervisors get no frame when someone else's chat closes

const syncing = new Set(); // per snapshot in flight: ids that frames changed meanwhile
let synced = false; // after the first snapshot, arrivals are news worth a beep
const topics = new Map(); // topic key -> label

export function record(c) {
  let rec = S.convs.get(c.id);
  if (rec) return rec;
  const pane = el("div", "pane");
  rec = {
    id: c.id, conv: c, where: null, li: null, position: null,
    lastSeq: 0, baseSeq: 0, held: new Map(), gapTimer: 0,
    pane, list: el("div", "confirmed"), pend: el("div", "pending"), pendingEls: new Map(),
    draft: "", noteMode: false, scrollTop: 0, stick: true, unread: 0, preview: "",
    joined: false, watching: false, closed: false, gone: null, frozenAt: null,
    visitorTyping: false, typingTimer: 0, viewers: [], staffTyping: new Map(),
  };
  pane.append(rec.list, rec.pend);
  S.convs.set(c.id, rec);
  return rec;
}

const isMe = (p) => p && Number(p.id) === me.id;
const invited = (c) => (c.participants || []).some(isMe);

// What this user may do in a conversation: owner, guest (conference), watch
// (a supervisor looking on), or none (read-only).
export function roleOf(rec) {
  const c = rec.conv;
  if (c.status !== "active") return "none";
  if (isMe(c.agent)) return "owner";
  if (invited(c)) return "guest";
  return isOverseer() ? "watch" : "none";
}

function placeOf(c) {
  if (c.status === "waiting") return "waiting";
  if (c.status !== "active") return null;
  if (isMe(c.agent) || invited(c)) return "mine";
  // A warm transfer offered to a group this console serves: anyone there may take it.
  if (c.transfer_pending) return "waiting";
  return isOverseer() ? "live" : null;
}

// Apply a conversation object from a frame, a list snapshot or an HTTP answer.
export function applyConversation(c, live) {
  for (const touched of syncing) touched.add(c.id);
  const old = S.convs.get(c.id);
  // Every change adds a message, so last_seq orders snapshots.
  if (old && typeof c.last_seq === "number" && c.last_seq < (old.conv.last_seq || 0)) return;
  const where = placeOf(c);
  if (!old && !where) return;
  const rec = record(c);
  const before = rec.conv;
  rec.conv = c;
  if (c.position !== undefined) rec.position = c.position;
  const was = rec.where;
  if (where === "mine" && was !== "mine") {
    rec.baseSeq = Math.max(rec.baseSeq, c.last_seq || 0);
    // Back after a hand-over: replay what was held back since.
    if (rec.frozenAt !== null) rec.joined = false;
    rec.gone = null;
    rec.frozenAt = null;
    if (live && !S.accepting.has(c.id)) {
      if (!onScreen(rec)) rec.unread += 1;
      notify();
    }
  } else if (where === "waiting" && was !== "waiting" && live) {
    notify();
  }
  if (was === "mine" && where !== "mine" && c.status === "active") {
    // Handed to a colleague, or this guest left: it stays on screen, read-only, and
    // shows nothing said after this moment (the socket cannot unsubscribe).
    rec.gone = isMe(before.agent) ? "handed" : "left";
    if (!where) rec.frozenAt = c.last_seq || rec.lastSeq;
  }
  rec.where = where;
  if (where === "mine") rec.closed = false;
  if (c.status === "closed") rec.closed = true;
  renderItem(rec);
  if (where === "mine") join(rec);
  if (!where && rec !== S.selected) forget(rec);
  if (live && (where === "waiting" || was === "waiting")) refreshWaitingSoon();
  if (rec === S.selected) renderChatHead();
  else if (live && where === "mine" && was !== "mine" && isMe(c.agent) && !(S.selected && S.selected.where)) {
    // Assigned to me while no live chat is open (nothing, or a closed or handed-over one).
    select(rec.id, { auto: true });
  }
}

export function forget(rec) {
  if (rec.li) rec.li.remove();
  clearTimeout(rec.gapTimer);
  clearTimeout(rec.typingTimer);
  for (const t of rec.staffTyping.values()) clearTimeout(t.timer);
  for (const id of rec.pendingEls.keys()) S.outbox.delete(id);
  S.convs.delete(rec.id);
  renderCounts();
}

const listOf = (where) => ({ waiting: ui.waiting, mine: ui.mine, live: ui.live })[where] || null;

function renderCounts() {
  ui.waitingCount.textContent = ui.waiting.children.length || "";
  ui.mineCount.textContent = ui.mine.children.length || "";
  ui.liveCount.textContent = ui.live.children.length || "";
}

export function renderItem(rec) {
  const list = listOf(rec.where);
  if (!list) {
    if (rec.li) rec.li.remove();
    rec.li = null;
  } else {
    if (!rec.li || rec.li.dataset.place !== rec.where) {
      if (rec.li) rec.li.remove();
      rec.li = makeItem(rec);
      list.append(rec.li);
    }
    fillItem(rec);
    if (rec.where === "waiting") orderWaiting();
  }
  renderCounts();
}

// Badges for tier, group, topic, expert and a pending transfer; text only.
export function badges(c) {
  const out = [];
  if (c.tier === "vip" || c.tier === "member") out.push(el("span", `badge tier-${c.tier}`, tierText(c.tier)));
  if (c.group && c.group.name) out.push(el("span", "badge group", c.group.name));
  if (c.topic) out.push(el("span", "badge topic", topics.get(c.topic) || c.topic));
  if (c.expert) out.push(el("span", "badge expert", T.expert));
  if (c.transfer_pending) out.push(el("span", "badge transfer", T.transferBadge));
  return out;
}

function makeItem(rec) {
  const li = el("li", `conv ${rec.where}`);
  Object.assign(li.dataset, { cb: "conv", id: rec.id, place: rec.where });
  const top = el("div", "conv-top");
  li.append(top);
  if (rec.where === "waiting") {
    const info = el("div", "conv-info");
    info.append(el("span", "name"), el("span", "badges"), el("span", "since"));
    top.append(info);
    const btn = button(T.accept, "accept", "accept");
    btn.addEventListener("click", () => accept(rec.id, btn));
    li.append(btn);
    return li;
  }
  top.append(el("span", "name"), el("span", "unread"));
  li.append(el("div", "badges"), el("div", "preview"));
  li.tabIndex = 0;
  li.setAttribute("role", "button");
  li.addEventListener("click", () => select(rec.id));
  li.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(rec.id); }
  });
  return li;
}

export function fillItem(rec) {
  const li = rec.li;
  const c = rec.conv;
  li.querySelector(".name").textContent = visitorName(c);
  const marks = badges(c);
  if (rec.where === "mine" && !isMe(c.agent)) marks.unshift(el("span", "badge guest", T.guest));
  if (rec.where === "live" && c.agent) marks.unshift(el("span", "badge agent", c.agent.display_name || ""));
  li.querySelector(".badges").replaceChildren(...marks);
  li.dataset.tier = c.tier || "new";
  if (rec.where === "waiting") {
    const since = fmt("since", { time: hhmm(c.queued_at || c.created_at) });
    const place = typeof rec.position === "number" ? `${fmt("position", { n: rec.position })} · ` : "";
    li.querySelector(".since").textContent = place + since;
    li.dataset.position = typeof rec.position === "number" ? String(rec.position) : "";
    return;
  }
  const badge = li.querySelector(".unread");
  badge.hidden = rec.unread === 0;
  badge.textContent = String(rec.unread);
  badge.title = fmt("unread", { n: rec.unread });
  li.dataset.unread = String(rec.unread);
  li.querySelector(".preview").textContent = rec.preview;
  li.classList.toggle("selected", rec === S.selected);
  li.setAttribute("aria-current", rec === S.selected ? "true" : "false");
}

// The queue in the router's order: its place when known, else time queued.
function orderWaiting() {
  const key = (li) => {
    const rec = S.convs.get(li.dataset.id);
    const pos = rec && typeof rec.position === "number" ? rec.position : Number.MAX_SAFE_INTEGER;
    return [pos, rec ? rec.conv.queued_at || rec.conv.created_at || "" : ""];
  };
  const items = [...ui.waiting.children];
  const sorted = items.slice().sort((a, b) => {
    const [pa, ta] = key(a);
    const [pb, tb] = key(b);
    return pa - pb || String(ta).localeCompare(String(tb));
  });
  if (sorted.some((li, i) => li !== items[i])) ui.waiting.append(...sorted);
}

// Replace list membership with a server snapshot (at start and after every
// reconnect, since frames may have been missed while the socket was down).
export async function syncLists() {
  const touched = new Set();
  syncing.add(touched);
  const scopes = isOverseer() ? ["mine", "waiting", "live"] : ["mine", "waiting"];
  let answers;
  try {
    answers = await Promise.all(scopes.map((s) => api("GET", `/api/console/conversations?scope=${s}`)));
  } finally {
    syncing.delete(touched);
  }
  const fresh = new Map();
  for (const a of answers) for (const c of a.conversations || []) if (!fresh.has(c.id)) fresh.set(c.id, c);
  const missing = [...S.convs.values()].filter((r) => r.where && !fresh.has(r.id) && !touched.has(r.id));
  for (const c of fresh.values()) if (!touched.has(c.id)) applyConversation(c, synced);
  synced = true;
  // Pending transfers to this console's groups are in no snapshot: ask about each.
  await Promise.all(missing.map(refreshOne));
}

async function refreshOne(rec) {
  try {
    const r = await api("GET", convPath(rec.id));
    applyConversation(r.conversation, false);
  } catch (_) {
    if (S.convs.get(rec.id) === rec && rec.where) {
      applyConversation({ ...rec.conv, status: "closed", last_seq: undefined }, false);
    }
  }
}

let waitingTimer = 0;
function refreshWaitingSoon() {
  if (waitingTimer) return;
  waitingTimer = setTimeout(refreshWaiting, WAITING_REFRESH);
}

async function refreshWaiting() {
  waitingTimer = 0;
  try {
    const r = await api("GET", "/api/console/conversations?scope=waiting");
    for (const c of r.conversations || []) {
      const rec = S.convs.get(c.id);
      if (rec) rec.position = c.position; // a place is news even when the snapshot is not
      applyConversation(c, false);
      if (rec && rec.li && rec.where === "waiting") fillItem(rec);
    }
    orderWaiting();
  } catch (e) {
    console.warn("callbox: queue refresh failed", e);
  }
}

async function refreshLive() {
  if (!isOverseer()) return;
  const r = await api("GET", "/api/console/conversations?scope=live");
  const fresh = new Set();
  for (const c of r.conversations || []) { fresh.add(c.id); applyConversation(c, false); }
  const gone = [...S.convs.values()].filter((x) => x.where === "live" && !fresh.has(x.id));
  await Promise.all(gone.map(refreshOne));
}

export function startPolling() {
  setInterval(() => { if (ui.waiting.children.length) refreshWaitingSoon(); }, WAITING_POLL);
  setInterval(() => { refreshLive().catch((e) => console.warn("callbox: live refresh failed", e)); }, LIVE_POLL);
}

export async function loadTopics() {
  try {
    const r = await api("GET", "/api/visitor/topics");
    for (const t of r.topics || []) topics.set(t.key, t.label);
  } catch (_) { /* labels are a nicety: the key is shown instead */ }
}

export async function accept(id, btn) {
  btn.disabled = true;
  S.accepting.add(id);
  setTimeout(() => S.accepting.delete(id), 10000);
  try {
    const r = await api("POST", convPath(id, "/accept"), {});
    applyConversation(r.conversation, false);
    select(id);
  } catch (e) {
    btn.disabled = false;
    if (e.code === "limit_reached") flash(T.limitReached);
    else if (e.code === "not_waiting" || e.code === "not_found") {
      flash(T.notWaiting);
      const rec = S.convs.get(id);
      if (rec && rec.where === "waiting") { rec.where = null; renderItem(rec); forget(rec); }
    } else flash(fmt("failed", { msg: errText(e) }));
  }
}
