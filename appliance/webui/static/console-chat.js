// The center pane: one conversation's messages in seq order, its head, the composer
// (message, internal note or supervisor whisper) and typing indicators.

import { T, fmt } from "./console-i18n.js";
import {
  S, api, clearAlerts, convPath, el, errText, flash, hhmm, me, notify, onScreen, root, ui, uuid,
  visitorName,
} from "./console-base.js";
import { fillItem, forget, roleOf } from "./console-lists.js";
import { join, wsSend } from "./console-ws.js";
import { clearStaffTyping, onStaffTyping, renderTeamHead } from "./console-team.js";
import { closePicker } from "./canned.js";
import { chatEnded, paintRead, readSoon } from "./console-read.js";
import { fileBody } from "./console-files.js";

const TYPING_THROTTLE = 2000; // ms between outgoing typing:true (protocol limit)
const TYPING_IDLE = 3000; // ms of no keystrokes before typing:false
export const TYPING_STALE = 6000; // ms before someone's typing indicator expires on its own
const GAP_FILL_DELAY = 3000; // ms to wait for a missing seq before fetching it over HTTP
const MAX_BODY_BYTES = 4096; // server limit on a message body (UTF-8)

// System lines, and staff-only events that carry no text of their own.
const EVENT_TEXT = {
  assigned: "joined",
  transferred: "evTransferred",
  transfer_requested: "evTransferRequested",
  transfer_cancelled: "evTransferCancelled",
  joined: "evJoined",
  left: "evLeft",
  missed: "evMissed",
};

const nearBottom = () => ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
const toBottom = () => { ui.messages.scrollTop = ui.messages.scrollHeight; };

export function select(id, opts = {}) {
  const rec = S.convs.get(id);
  if (!rec) return;
  const prev = S.selected;
  if (prev && prev !== rec) {
    prev.draft = ui.input.value;
    prev.scrollTop = ui.messages.scrollTop;
    prev.stick = nearBottom();
    stopTyping();
    closePicker();
    if (!prev.where) forget(prev);
  }
  S.selected = rec;
  ui.messages.replaceChildren(rec.pane);
  ui.input.value = rec.draft;
  if (rec.stick) toBottom();
  else ui.messages.scrollTop = rec.scrollTop;
  rec.unread = 0;
  // Opened for the agent, not by them: the title badge waits for them to look.
  if (!opts.auto) clearAlerts();
  for (const r of S.convs.values()) if (r.li && r.where !== "waiting") fillItem(r);
  if (rec.where === "live") {
    rec.watching = true;
    join(rec);
  }
  renderChatHead();
  renderTyping();
  // The visitors view and the profile panel follow the open chat.
  root.dispatchEvent(new CustomEvent("cb:select", { detail: { id, auto: !!opts.auto } }));
  if (!opts.auto && !ui.input.disabled) ui.input.focus();
}

function subText(rec, role) {
  if (rec.closed) return T.closed;
  if (role === "none" && rec.gone === "handed") {
    return fmt("handedOver", { name: (rec.conv.agent && rec.conv.agent.display_name) || "" });
  }
  if (role === "none" && rec.gone === "left") return T.youLeft;
  if (role === "watch") return T.watching;
  return fmt("since", { time: hhmm(rec.conv.created_at) });
}

export function renderChatHead() {
  const rec = S.selected;
  if (!rec) {
    ui.chatName.textContent = "";
    ui.chatSub.textContent = "";
    ui.input.disabled = ui.send.disabled = true;
    ui.noteToggle.hidden = true;
    ui.messages.replaceChildren(el("p", "placeholder", T.pickOne));
    renderTeamHead(null, "none");
    return;
  }
  const role = rec.closed ? "none" : roleOf(rec);
  ui.chatName.textContent = visitorName(rec.conv);
  ui.chatSub.textContent = subText(rec, role);
  const open = role !== "none";
  const whisper = role === "watch";
  const note = open && !whisper && rec.noteMode;
  ui.input.disabled = ui.send.disabled = !open;
  ui.composer.classList.toggle("off", !open);
  ui.composer.classList.toggle("internal", note || (open && whisper));
  ui.composer.dataset.mode = !open ? "off" : whisper ? "whisper" : note ? "note" : "message";
  ui.noteToggle.hidden = !open || whisper;
  ui.noteMode.checked = rec.noteMode;
  ui.input.placeholder = whisper ? T.whisperPlaceholder : note ? T.notePlaceholder : T.placeholder;
  if (!open) closePicker();
  renderTeamHead(rec, role);
}

export function setNoteMode(on) {
  const rec = S.selected;
  if (!rec) return;
  stopTyping(); // the visitor's "agent is typing" must not outlive the switch
  rec.noteMode = on;
  renderChatHead();
  if (!ui.input.disabled) ui.input.focus();
}

export function renderTyping() {
  const rec = S.selected;
  const peek = (rec && !rec.closed && rec.peek) || ""; // sneak peek: what they type now
  const on = !!(rec && (rec.visitorTyping || peek) && !rec.closed);
  ui.typing.hidden = !on;
  ui.typing.textContent = on ? (peek ? fmt("peekTyping", { text: peek }) : T.typing) : "";
  ui.typing.dataset.peek = peek ? "1" : "";
}

function eventText(m) {
  if (m.event === "closed") return T.closed;
  if (EVENT_TEXT[m.event]) return fmt(EVENT_TEXT[m.event], { name: m.sender_name || "" });
  if (m.sender_type === "system") return m.body || "";
  return null;
}

// A bubble. data-seq/data-sender/data-event/data-visibility are stable hooks for tests.
function bubble(m) {
  const line = eventText(m);
  // An event is a system line even when an agent caused it (transfer_cancelled).
  const sender = line !== null ? "system" : m.sender_type || "agent";
  const staff = m.visibility === "staff";
  const b = el("div", `msg ${sender}`);
  b.dataset.cb = "message";
  b.dataset.sender = sender;
  if (m.seq) b.dataset.seq = String(m.seq);
  if (m.event) b.dataset.event = m.event;
  if (staff) {
    b.dataset.visibility = "staff";
    b.classList.add("staff");
  }
  if (line !== null) {
    b.classList.add("event");
    b.append(el("span", "body", line), el("time", "time", hhmm(m.created_at)));
  } else {
    const own = sender === "agent" && m.sender_name === me.name;
    if (own) b.classList.add("own");
    const meta = el("div", "meta");
    if (staff) {
      const whisper = m.event === "whisper";
      b.classList.add(whisper ? "whisper" : "note");
      meta.append(el("span", "label", whisper ? T.whisperLabel : T.noteLabel));
    }
    const who = own ? T.you : (m.sender_name || T.visitor);
    meta.append(el("span", "who", who), el("time", "time", m.created_at ? hhmm(m.created_at) : T.sending));
    b.append(meta, m.file ? fileBody(m) : el("div", "body", m.body || ""));
  }
  if (m.created_at) b.querySelector("time").setAttribute("datetime", m.created_at);
  return b;
}

// Accept a message only in seq order: drop repeats, hold early arrivals until the
// gap before them is filled. The server orders frames per socket, so holding is a
// safety net (e.g. an ack whose echo and predecessors were lost with a socket).
export function ingest(rec, m) {
  if (!m || typeof m.seq !== "number" || m.seq <= rec.lastSeq) return;
  if (rec.frozenAt !== null && m.seq > rec.frozenAt) return;
  if (m.seq > rec.lastSeq + 1) {
    rec.held.set(m.seq, m);
    if (!rec.gapTimer) rec.gapTimer = setTimeout(() => fillGap(rec), GAP_FILL_DELAY);
    return;
  }
  show(rec, m);
  for (let next = rec.held.get(rec.lastSeq + 1); next; next = rec.held.get(rec.lastSeq + 1)) {
    rec.held.delete(next.seq);
    show(rec, next);
  }
  for (const s of rec.held.keys()) if (s <= rec.lastSeq) rec.held.delete(s);
}

async function fillGap(rec) {
  rec.gapTimer = 0;
  if (!rec.held.size || !S.convs.has(rec.id)) return;
  try {
    const r = await api("GET", convPath(rec.id, `/messages?after_seq=${rec.lastSeq}`));
    for (const m of r.messages || []) ingest(rec, m);
  } catch (e) {
    console.warn("callbox: could not fill message gap", e);
  }
}

function show(rec, m) {
  rec.lastSeq = m.seq;
  const stick = rec === S.selected && nearBottom();
  const pending = m.client_msg_id && rec.pendingEls.get(m.client_msg_id);
  if (pending) {
    pending.remove();
    rec.pendingEls.delete(m.client_msg_id);
    S.outbox.delete(m.client_msg_id);
  }
  rec.list.append(bubble(m));
  if (rec.visitorRead) paintRead(rec);
  if (m.sender_type === "system") {
    if (m.event === "closed") { rec.closed = true; chatEnded(rec); }
  } else if (m.visibility !== "staff") {
    rec.preview = (m.body || "").slice(0, 80);
  }
  if (m.sender_type === "visitor") {
    rec.visitorTyping = false;
    rec.peek = "";
    if (rec === S.selected) renderTyping();
    // Knowledge-base suggestions follow what the visitor writes (console-kb.js).
    root.dispatchEvent(new CustomEvent("cb:visitor-message", { detail: { id: rec.id } }));
  } else if (m.sender_type === "agent") {
    clearStaffTyping(rec, m.sender_name);
  }
  // The visitor, or a colleague's note or whisper: news for the agent.
  const news = m.sender_type === "visitor" || (m.visibility === "staff" && m.body && m.sender_name !== me.name);
  if (news && rec.where === "mine" && m.seq > rec.baseSeq && !onScreen(rec)) {
    rec.unread += 1;
    notify();
  }
  if (rec.li) fillItem(rec);
  if (rec === S.selected) {
    if (stick || pending) toBottom();
    if (rec.closed) renderChatHead();
  }
  if (onScreen(rec)) readSoon(rec);
}

// ---- Sending ---------------------------------------------------------------
export function sendMessage() {
  const rec = S.selected;
  if (!rec || rec.closed) return;
  const role = roleOf(rec);
  if (role === "none") return;
  const body = ui.input.value;
  if (!body.trim()) return;
  if (role === "watch" || rec.noteMode) {
    sendNote(rec, body, role === "watch");
    return;
  }
  ui.input.value = "";
  rec.draft = "";
  stopTyping();
  const id = uuid();
  const b = bubble({ sender_type: "agent", sender_name: me.name, body });
  b.dataset.pending = "1";
  rec.pend.append(b);
  rec.pendingEls.set(id, b);
  toBottom();
  // Checked here too: a huge body could exceed the 64 KiB frame limit and cost
  // the whole socket (close 1009) instead of one polite error.
  if (new TextEncoder().encode(body).length > MAX_BODY_BYTES) {
    markFailed(rec, id, T.tooLarge, body);
    return;
  }
  const entry = { conversation_id: rec.id, client_msg_id: id, body };
  S.outbox.set(id, entry);
  transmit(entry);
}

export const transmit = (entry) => wsSend({ type: "send", ...entry });

// Notes and whispers go over HTTP: they are rare, and the answer is the message.
async function sendNote(rec, body, whisper) {
  if (new TextEncoder().encode(body).length > MAX_BODY_BYTES) {
    flash(T.tooLarge);
    return;
  }
  ui.input.value = "";
  rec.draft = "";
  stopTyping();
  try {
    const r = await api("POST", convPath(rec.id, "/notes"), whisper ? { body, whisper: true } : { body });
    if (r.message) ingest(rec, r.message);
    if (rec === S.selected) toBottom();
  } catch (e) {
    flash(fmt("notSent", { msg: errText(e) }));
    if (S.selected === rec && !ui.input.value) {
      ui.input.value = body;
      rec.draft = body;
    }
  }
}

export function noteOn(b, text) {
  let n = b.querySelector(".note-line");
  if (!n) { n = el("div", "note-line"); b.append(n); }
  n.replaceChildren(el("span", null, text));
  return n;
}

export function markFailed(rec, id, text, body) {
  S.outbox.delete(id);
  const b = rec.pendingEls.get(id);
  if (!b) return;
  rec.pendingEls.delete(id);
  // Out of the pending tail, so later messages go below it, in time order.
  rec.list.append(b);
  delete b.dataset.pending;
  b.dataset.failed = "1";
  b.classList.add("failed");
  const t = b.querySelector("time");
  if (t) t.textContent = "";
  const n = noteOn(b, text);
  // Put the text back in the composer so the agent can shorten or retry it.
  const again = el("button", "link", T.edit);
  again.type = "button";
  again.addEventListener("click", () => {
    b.remove();
    if (S.selected === rec && !ui.input.disabled) {
      ui.input.value = ui.input.value ? `${ui.input.value}\n${body}` : body;
      rec.draft = ui.input.value;
      ui.input.focus();
    }
  });
  n.append(" ", again);
}

export function findPending(id) {
  for (const rec of S.convs.values()) if (rec.pendingEls.has(id)) return rec;
  return null;
}

// ---- Typing ----------------------------------------------------------------
let typingConv = null;
let typingInternal = false; // a note or whisper: the server keeps it from the visitor
let typingSentAt = 0;
let typingIdle = 0;

export function onInput() {
  const rec = S.selected;
  if (!rec || ui.input.disabled) return;
  rec.draft = ui.input.value;
  if (!ui.input.value) { stopTyping(); return; }
  const internal = roleOf(rec) === "watch" || rec.noteMode;
  const now = Date.now();
  const changed = typingConv !== rec.id || typingInternal !== internal;
  if (changed || now - typingSentAt >= TYPING_THROTTLE) {
    if (typingConv && changed) stopTyping();
    wsSend({ type: "typing", conversation_id: rec.id, active: true, internal });
    typingConv = rec.id;
    typingInternal = internal;
    typingSentAt = now;
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, TYPING_IDLE);
}

export function stopTyping() {
  clearTimeout(typingIdle);
  if (typingConv) wsSend({ type: "typing", conversation_id: typingConv, active: false, internal: typingInternal });
  typingConv = null;
  typingSentAt = 0;
}

export const forgetTyping = () => { typingConv = null; };

export function onTypingFrame(f) {
  const rec = S.convs.get(f.conversation_id);
  if (!rec) return;
  if (f.sender_type === "agent") {
    onStaffTyping(rec, f);
    return;
  }
  if (f.sender_type !== "visitor") return;
  rec.visitorTyping = !!f.active;
  clearTimeout(rec.typingTimer);
  // A lost "active:false" must not leave the indicator on forever.
  if (rec.visitorTyping) {
    rec.typingTimer = setTimeout(() => { rec.visitorTyping = false; if (rec === S.selected) renderTyping(); }, TYPING_STALE);
  }
  if (rec === S.selected) renderTyping();
}

export function rememberScroll() {
  if (!S.selected || S.selected.pane.parentNode !== ui.messages) return;
  S.selected.scrollTop = ui.messages.scrollTop;
  S.selected.stick = nearBottom();
}
