// The console's socket (/api/console/ws): reconnect with backoff, keep-alive, joins,
// and dispatch of server frames; presence lives here because frames change it too.

import { T, fmt } from "./console-i18n.js";
import { S, api, errText, flash, me, root, ui } from "./console-base.js";
import { applyConversation, syncLists } from "./console-lists.js";
import {
  findPending, forgetTyping, ingest, markFailed, noteOn, onTypingFrame, transmit,
} from "./console-chat.js";
import { applyRole, onViewers, onTicket } from "./console-team.js";
import { onInvitationFrame, onVisitorsFrame, rewatch } from "./console-visitors.js";
import { setBoxOffset } from "./console-visit.js";
import { onFeedbackFrame, onPeekFrame, onReadFrame } from "./console-read.js";

const RECONNECT_BASE = 500; // ms, first reconnect delay
const RECONNECT_CAP = 10000; // ms, longest reconnect delay
const PING_EVERY = 25000; // ms; keeps NATs and proxies from dropping an idle socket
const PONG_TIMEOUT = 10000; // ms without pong before the socket is treated as dead

let sock = null;
let sockReady = false;
let attempt = 0;
let reconnectTimer = 0;
let pingTimer = 0;
let pongTimer = 0;

export function wsSend(frame) {
  if (!sock || !sockReady) return false;
  sock.send(JSON.stringify(frame));
  return true;
}

function setConn(state) {
  ui.conn.hidden = state === "online";
  ui.conn.textContent = state === "connecting" ? T.connecting : state === "lost" ? T.reconnecting : "";
  root.dataset.conn = state;
}

export function connect() {
  clearTimeout(reconnectTimer);
  setConn(attempt === 0 ? "connecting" : "lost");
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/api/console/ws`);
  sock = ws;
  sockReady = false;
  ws.onmessage = (e) => {
    if (ws !== sock) return;
    let f;
    try { f = JSON.parse(e.data); } catch (_) { return; }
    if (f && typeof f === "object") onFrame(f);
  };
  ws.onclose = () => { if (ws === sock) drop(); };
}

// Give up on the current socket and schedule the next one. The old socket is
// detached first: a dead TCP link can take minutes to report its own close.
function drop() {
  const ws = sock;
  sock = null;
  sockReady = false;
  clearInterval(pingTimer);
  clearTimeout(pongTimer);
  for (const rec of S.convs.values()) rec.joined = false;
  forgetTyping();
  if (ws) { try { ws.close(); } catch (_) { /* already closing */ } }
  setConn("lost");
  document.dispatchEvent(new CustomEvent("callbox:live", { detail: false })); // the bell polls
  // Full doubling with "equal jitter": half fixed, half random, so a whole office
  // reconnecting after a blip does not arrive in one burst.
  const ceiling = Math.min(RECONNECT_CAP, RECONNECT_BASE * 2 ** attempt);
  const delay = ceiling / 2 + Math.random() * (ceiling / 2);
  attempt += 1;
  reconnectTimer = setTimeout(async () => {
    // A socket that never opens may mean the session expired: api() redirects then.
    if (attempt >= 3) { try { await api("GET", "/api/console/me"); } catch (_) { /* keep trying */ } }
    connect();
  }, delay);
}

function startPing() {
  clearInterval(pingTimer);
  pingTimer = setInterval(() => {
    if (!wsSend({ type: "ping" })) return;
    clearTimeout(pongTimer);
    pongTimer = setTimeout(drop, PONG_TIMEOUT);
  }, PING_EVERY);
}

// Own and invited chats are joined as soon as they are known; a supervisor's
// watched chat once it is opened.
export function join(rec) {
  if (rec.joined || !(rec.where === "mine" || rec.watching)) return;
  if (wsSend({ type: "join", conversation_id: rec.id, after_seq: rec.lastSeq })) rec.joined = true;
}

async function onReady(f) {
  attempt = 0;
  sockReady = true;
  setConn("online");
  startPing();
  setBoxOffset(f.utc_offset);
  // The bell (notices.js) hears notices from this socket now, and counts afresh.
  document.dispatchEvent(new CustomEvent("callbox:live", { detail: true }));
  if (f.user) {
    if (f.user.role) applyRole(f.user.role);
    if (f.user.status) setPresence(f.user.status);
  }
  const ws = sock;
  try { await syncLists(); } catch (e) { console.warn("callbox: list sync failed", e); }
  if (ws !== sock) return;
  rewatch(); // the server forgot the visitors watch with the old socket
  for (const rec of S.convs.values()) join(rec);
  // Same client_msg_id as before: the server answers repeats with the original ack.
  for (const entry of S.outbox.values()) transmit(entry);
}

function onFrame(f) {
  switch (f.type) {
    case "ready": onReady(f); break;
    case "pong": clearTimeout(pongTimer); break;
    case "conversation": if (f.conversation) applyConversation(f.conversation, true); break;
    case "message": {
      const rec = f.message && S.convs.get(f.message.conversation_id);
      if (rec) ingest(rec, f.message);
      break;
    }
    case "ack": {
      S.outbox.delete(f.client_msg_id);
      const rec = f.message && S.convs.get(f.message.conversation_id);
      // The ack names the id even if its message echo does not; keep them paired.
      if (rec) ingest(rec, { ...f.message, client_msg_id: f.message.client_msg_id || f.client_msg_id });
      break;
    }
    case "typing": onTypingFrame(f); break;
    case "read": onReadFrame(f); break;
    case "peek": onPeekFrame(f); break;
    case "feedback": onFeedbackFrame(f); break;
    case "viewers": {
      const rec = S.convs.get(f.conversation_id);
      if (rec) onViewers(rec, f.viewers);
      break;
    }
    case "ticket": if (f.ticket) onTicket(f.ticket, true); break;
    case "visitors": onVisitorsFrame(f); break;
    case "notice": document.dispatchEvent(new CustomEvent("callbox:notice", { detail: f.notice })); break;
    case "invitation": onInvitationFrame(f); break;
    // The server sends it when the status changes elsewhere (another tab, the
    // offline grace after all sockets closed, or a chat that rang out).
    case "presence": if (f.status) setPresence(f.status); break;
    case "error": onError(f); break;
    default: break;
  }
}

// A refused join of a chat the console was just told about is asked again a few
// times: the chat must not sit unheard (and ring out) over one refusal.
const JOIN_RETRIES = 3;
const JOIN_RETRY_DELAY = 1000; // ms, times the attempt number
function retryJoin(convId) {
  const rec = S.convs.get(convId);
  if (!rec) return false;
  rec.joined = false;
  rec.joinTries = (rec.joinTries || 0) + 1;
  if (rec.joinTries > JOIN_RETRIES) return false;
  setTimeout(() => join(rec), JOIN_RETRY_DELAY * rec.joinTries);
  return true;
}

// Error codes whose message is kept and sent again, with the note shown meanwhile.
const RETRIED = { rate_limited: "rateLimited", storage_full: "storageFull", busy: "busyBox" };

function onError(f) {
  const rec = f.ref ? findPending(f.ref) : null;
  if (f.code === "not_authenticated") { location.assign("/login"); return; }
  if (!rec) {
    if (f.conversation_id && retryJoin(f.conversation_id)) return;
    if (!RETRIED[f.code]) {
      console.warn("callbox: server error", f.code, f.message);
    }
    return;
  }
  const entry = S.outbox.get(f.ref);
  if (RETRIED[f.code] && entry) {
    // Each keeps the message and sends it again: too fast, the box's disk is full, or
    // the box is overloaded (core/load.py).
    const secs = Math.max(1, Number(f.retry_after) || 1);
    noteOn(rec.pendingEls.get(f.ref), fmt(RETRIED[f.code], { n: secs }));
    setTimeout(() => {
      if (!S.outbox.has(entry.client_msg_id)) return;
      const b = rec.pendingEls.get(entry.client_msg_id);
      const n = b && b.querySelector(".note-line");
      if (n) n.remove();
      transmit(entry);
    }, secs * 1000);
    return;
  }
  const text = f.code === "message_too_large" ? T.tooLarge : fmt("notSent", { msg: f.message || f.code });
  markFailed(rec, f.ref, text, entry ? entry.body : "");
}

// ---- Presence --------------------------------------------------------------
export function setPresence(status) {
  me.status = status;
  ui.presence.value = status;
  ui.dot.className = `dot ${status}`;
  root.dataset.status = status;
}

export async function changePresence() {
  const wanted = ui.presence.value;
  const before = me.status;
  ui.presence.disabled = true;
  try {
    const r = await api("POST", "/api/console/presence", { status: wanted });
    setPresence(r.status || wanted);
  } catch (e) {
    setPresence(before);
    flash(fmt("presenceFailed", { msg: errText(e) }));
  } finally {
    ui.presence.disabled = false;
  }
}
