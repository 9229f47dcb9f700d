// ---- HTTP ----------------------------------------------------------------------------
// A simple request (no Authorization, a text/plain body the box takes as JSON) needs no
// CORS preflight: what every page view sends is simple (docs/api.md). The box answers
// API calls with no-store; the browser's cache mode stays the default, because
// "no-store" here made Chromium skip its preflight cache too.
async function api(method, path, body, simple) {
  const headers = {};
  if (body && !simple) headers["Content-Type"] = "application/json";
  if (identity && identity.token && !simple) headers.Authorization = "Bearer " + identity.token;
  const res = await fetch(BASE + path, { method, headers, body: body ? JSON.stringify(body) : undefined,
    mode: "cors", credentials: "omit" });
  let data = null;
  try { data = await res.json(); } catch (e) { /* empty or non-JSON body */ }
  if (!res.ok) {
    const e = (data && data.error) || {};
    const err = new Error(e.message || "HTTP " + res.status);
    err.status = res.status;
    err.code = e.code;
    // Retry-After is only readable cross-origin if exposed; the body carries it too.
    err.retryAfter = Number(res.headers.get("Retry-After")) || Number(e.retry_after) || 0;
    throw err;
  }
  return data || {};
}

function ensureSession() {
  if (!sessionP) {
    sessionP = api("POST", "/api/visitor/session", identity && identity.token ? { token: identity.token } : {}, true)
      .then((r) => {
        identity = { visitor_id: r.visitor_id, token: r.token };
        store.setJSON(K_VISITOR, identity);
        onLook(r); // the company's look rides on this call (13-brand.js)
      })
      .catch((err) => { sessionP = null; throw err; });
  }
  return sessionP;
}

function adoptConversation(c) {
  if (c.id !== convId) clearView();
  convId = c.id;
  conv = c;
  store.set(K_CONV, c.id);
  outbox.forEach((i) => { if (!i.conversation_id) i.conversation_id = c.id; });
  saveOutbox();
  setStatus();
}

function createConversation() {
  if (!creatingP) {
    creatingP = api("POST", "/api/visitor/conversations", prechatBody())
      .then((r) => { prechatError.hidden = true; adoptConversation(r.conversation); })
      .catch((err) => { err.opening = true; throw err; })
      .finally(() => { creatingP = null; });
  }
  return creatingP;
}

/** Bring everything up to date: session, conversation if there is something to send, socket. */
function sync() {
  clearTimeout(retryTimer);
  retryTimer = 0;
  return ensureSession()
    .then(() => (!convId && outbox.length ? createConversation() : null))
    .then(() => { if (wanted()) connect(); })
    .catch((err) => {
      // The box refused what the pre-chat form says: retrying the same would not help.
      if (err.opening && err.status === 422) { prechatRefused(err); return; }
      // Presence alone is nothing the visitor waits for: it retries without a word.
      if (chatting()) {
        if (err.code === "rate_limited") notice(t("rateLimited"));
        else if (err.code === "storage_full") notice(t("storageFull"));
        else if (err.code === "busy") notice(t("busyBox")); // overloaded: kept, tried again
        else if (!navigator.onLine || !err.status || err.status >= 500) notice(t("offline"));
      }
      if (wanted()) scheduleRetry(err.retryAfter * 1000);
    })
    .then(setStatus);
}

function scheduleRetry(minDelay) {
  if (retryTimer) return;
  const base = Math.min(BACKOFF_CAP, BACKOFF_START * 2 ** attempt);
  attempt += 1;
  // Jitter spreads a crowd of visitors that lost the box at the same moment.
  const delay = Math.max(minDelay || 0, base / 2 + Math.random() * (base / 2));
  retryTimer = setTimeout(() => { retryTimer = 0; sync(); }, delay);
  setStatus();
}

/** Reconnect at once when the browser says the network or the tab is back. */
function wake() {
  if (ws || !wanted()) return;
  attempt = 0;
  sync();
}

// ---- WebSocket -----------------------------------------------------------------------
function sendFrame(frame) {
  if (!ws || ws.readyState !== 1) return false;
  ws.send(JSON.stringify(frame));
  return true;
}

function connect() {
  if (ws) { if (wsReady) joinAndFlush(); return; }
  if (!identity) return;
  let sock;
  try { sock = new WebSocket(WS_URL); } catch (e) { sockFailed(); scheduleRetry(); return; }
  ws = sock;
  watchOpen(sock); // 07a-reach.js
  sock.onopen = () => sock.send(JSON.stringify({ type: "auth", token: identity.token }));
  sock.onmessage = (e) => { if (sock === ws) onFrame(e.data); };
  const lost = () => { if (sock === ws) { if (!wsReady) sockFailed(); dropSocket(); } };
  sock.onclose = lost;
  // A socket the page's CSP refuses is born closed: Chromium fires error, never close.
  sock.onerror = () => { if (sock.readyState === 3) lost(); };
  setStatus();
}

/** Forget the socket now; a close handshake on a dead link can take minutes to report. */
function dropSocket() {
  const sock = ws;
  ws = null;
  wsReady = false;
  joinedId = null;
  pingOutstanding = false;
  clearInterval(pingTimer);
  showAgentTyping(false);
  if (sock && sock.readyState < 2) sock.close();
  if (wanted()) scheduleRetry();
  setStatus();
}

function heartbeat() {
  if (pingOutstanding) { dropSocket(); return; } // nothing heard since the last ping: half-open
  pingOutstanding = sendFrame({ type: "ping" });
}

function joinAndFlush() {
  if (!convId || isClosed()) return;
  if (joinedId !== convId) {
    joinedId = convId;
    sendFrame({ type: "join", conversation_id: convId, after_seq: lastSeq });
  }
  flushOutbox();
}

// Resending is safe: the server answers a known client_msg_id with the original ack.
function flushOutbox() {
  if (!wsReady || !convId || Date.now() < holdUntil) return;
  outbox.forEach((i) => {
    if (i.conversation_id === convId) {
      sendFrame({ type: "send", conversation_id: convId, client_msg_id: i.client_msg_id, body: i.body });
    }
  });
}

function onFrame(data) {
  let f;
  try { f = JSON.parse(data); } catch (e) { return; }
  if (!f || typeof f !== "object") return;
  pingOutstanding = false; // any frame proves the socket is alive
  switch (f.type) {
    case "ready":
      wsReady = true;
      sockReady();
      peekOn = !!f.peek;
      attempt = 0;
      clearInterval(pingTimer);
      pingTimer = setInterval(heartbeat, HEARTBEAT);
      joinAndFlush();
      setStatus();
      break;
    case "message": onMessage(f.message); break;
    case "ack": onAck(f); break;
    case "conversation":
      if (f.conversation && f.conversation.id === convId) applyConversation(f.conversation);
      break;
    case "typing":
      if (f.conversation_id === convId && f.sender_type === "agent") showAgentTyping(!!f.active);
      break;
    case "queue": onQueue(f); break;
    case "read": onRead(f); break;
    case "invitation": onInvitation(f.invitation); break;
    case "invitation_closed": onInvitationClosed(f); break;
    case "error": onError(f); break;
    default: break; // pong, and frames newer than this widget
  }
}

function onError(f) {
  const item = f.ref ? outbox.find((i) => i.client_msg_id === f.ref) : null;
  switch (f.code) {
    case "message_too_large":
      if (item) { failBubble(item.client_msg_id); dropFromOutbox(item.client_msg_id); }
      notice(t("tooLarge"));
      break;
    case "storage_full": // the box's disk is full: the message waits and goes again
    case "busy": // the box is overloaded: the same
    case "rate_limited": {
      // typing frames are limited too; those need no word
      if (item) notice(t({ rate_limited: "rateLimited", busy: "busyBox" }[f.code] || "storageFull"));
      const wait = Math.max(1, Number(f.retry_after) || 1) * 1000; // retry_after is in seconds
      holdUntil = Date.now() + wait;
      clearTimeout(holdTimer);
      holdTimer = setTimeout(() => { holdUntil = 0; flushOutbox(); }, wait);
      break;
    }
    case "not_found":
    case "forbidden": {
      // The stored conversation is gone or not ours: pending text goes to a fresh one.
      const about = f.conversation_id || (item && item.conversation_id);
      if (!convId || (about && about !== convId)) break; // about a conversation we left
      forgetConversation();
      if (outbox.length) sync();
      break;
    }
    case "not_authenticated":
      sessionP = null; // the retry re-posts the token; the server keeps it if still valid
      dropSocket();
      break;
    default: break;
  }
}
