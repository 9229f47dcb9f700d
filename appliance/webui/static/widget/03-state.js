// ---- state: what survives a reload (localStorage) and what the widget knows now ---------
// localStorage can throw (Safari private mode, sandboxed iframes, quota): we then live in memory.
const store = {
  get(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  },
  set(key, value) {
    try {
      if (value == null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch (e) { /* memory only */ }
  },
  getJSON(key, fallback) {
    try { const v = JSON.parse(store.get(key)); return v == null ? fallback : v; } catch (e) { return fallback; }
  },
  setJSON(key, value) { store.set(key, value == null ? null : JSON.stringify(value)); },
};

// ---- state ---------------------------------------------------------------------------
let identity = store.getJSON(K_VISITOR, null); // {visitor_id, token}
let convId = store.get(K_CONV);
let conv = null; // the last conversation object the server told us about
let lastSeq = 0; // highest seq received in order from the stream, for what is on screen
const shownSeqs = new Set(); // seqs on screen, including own messages confirmed by an ack first
const bubbles = new Map(); // client_msg_id -> bubble element, so an own message shows once
let outbox = store.getJSON(K_OUTBOX, []);
if (!Array.isArray(outbox)) outbox = [];
outbox = outbox.filter((i) => i && i.client_msg_id && typeof i.body === "string" &&
  (!i.conversation_id || i.conversation_id === convId));
let seen = store.getJSON(K_SEQ, {});
if (typeof seen !== "object" || Array.isArray(seen)) seen = {};
let unread = 0;
let isOpen = false;
let deskOn = false; // the panel shows the visitor's tickets (my requests) instead of the chat
let topics = []; // [{key, label}] the box offers before a chat; none: no pre-chat step
let topicsP = null;
let queuePlace = null; // {position, eta, overflow} of the waiting conversation, from the server
let leave = freshLeave(); // the leave-a-message / call-back panel's state
let tracking = TRACK; // false after data-track="off", or once the box honours Do-Not-Track
let presence = false; // tracking is on and the box tracks us: keep a socket open to be seen
let view = null; // the page being read: {id, url, shownMs, since, sentMs, done, timer}
let invitation = null; // the pending invitation on the card: {id, message, agent, busy}

let ws = null;
let wsReady = false; // "ready" received on ws
let joinedId = null; // conversation joined on the current socket
let attempt = 0; // failed connection attempts since the last "ready"
let pingOutstanding = false;
let holdUntil = 0; // rate limited: no sends before this time (ms epoch)
let sessionP = null; // in-flight requests, shared by concurrent callers
let creatingP = null;
let typingSentAt = 0;
let typingOn = false;
let retryTimer = 0, pingTimer = 0, holdTimer = 0, typingIdleTimer = 0; // timer handles
let agentTypingTimer = 0, noticeTimer = 0, confirmTimer = 0;

const saveOutbox = () => store.setJSON(K_OUTBOX, outbox.length ? outbox : null);
const isClosed = () => !!(conv && conv.status === "closed");
// A live conversation, or something to deliver: the chat needs the socket.
const chatting = () => !!((convId && !isClosed()) || outbox.length);
// A socket is worth (re)opening for a chat, or for presence (agents see and invite us).
const wanted = () => chatting() || presence;
