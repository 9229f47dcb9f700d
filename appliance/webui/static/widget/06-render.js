// ---- small helpers -------------------------------------------------------------------
function uuid() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID(); // secure contexts only
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (v) => (v + 0x100).toString(16).slice(1)).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
const byteLength = (s) => new TextEncoder().encode(s).length;
// Times are the box's local time and are shown as sent (docs/api.md), not converted.
const clock = (iso) => { const m = /T(\d\d:\d\d)/.exec(iso || ""); return m ? m[1] : ""; };

function notice(text) {
  keepBottom(() => { noticeEl.textContent = text; noticeEl.hidden = false; });
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => keepBottom(() => { noticeEl.hidden = true; }), NOTICE_TTL);
}

function setStatus() {
  let state;
  let text;
  if (isClosed()) { state = "closed"; text = t("closed"); }
  else if (sockBlocked && chatting()) { state = "nosocket"; text = t("noSocket"); }
  else if (retryTimer && chatting()) { state = "reconnecting"; text = t("reconnecting"); }
  else if ((convId || outbox.length) && !wsReady) { state = "connecting"; text = t("connecting"); }
  else if (conv && conv.status === "active") {
    state = "active";
    text = t("active", { name: conv.agent && conv.agent.display_name });
  } else if (convId) { state = "waiting"; text = t("waiting"); }
  else { state = "idle"; text = t("idle"); }
  statusEl.textContent = text;
  statusEl.setAttribute("data-state", state);
  closeBtn.hidden = !convId || isClosed();
  keepBottom(() => { newChatBtn.hidden = !isClosed(); });
  renderQueue();
  renderLeave();
  renderPrechat();
  renderInvite();
  renderBrand();
}

// ---- rendering -----------------------------------------------------------------------
// System events the visitor is told about; sender_name is the agent the line is about.
const EVENT_TEXT = {
  assigned: "assigned", closed: "closedEvent", transferred: "evTransferred",
  transfer_requested: "evTransferRequested", joined: "evJoined", left: "evLeft",
};

function buildBubble(m) {
  const kind = m.sender_type === "visitor" || m.sender_type === "agent" ? m.sender_type : "system";
  // An accepted invitation that went to the queue keeps the inviting agent's words as an
  // "invitation" event: shown as what it is, their message, not as a status line.
  const invited = kind === "system" && m.event === "invitation";
  const look = invited ? "agent" : kind;
  const el = h("div", { class: "msg " + look, "data-cb": "message", "data-sender": kind });
  let text = m.body;
  if (invited) el.setAttribute("data-event", "invitation");
  else if (kind === "system") {
    const key = Object.prototype.hasOwnProperty.call(EVENT_TEXT, m.event) ? EVENT_TEXT[m.event] : null;
    text = key ? t(key, { name: m.sender_name }) : "";
    if (m.event) el.setAttribute("data-event", String(m.event));
    // An event newer than this widget: keep its seq in order, show nothing.
    if (!key) el.hidden = true;
  }
  // The box keeps staff-only messages (notes, whispers) from visitors; never show a stray one.
  if (m.visibility === "staff") el.hidden = true;
  if (look === "agent" && m.sender_name) el.appendChild(h("div", { class: "who" }, [m.sender_name]));
  el.appendChild(m.file ? fileBody(m) : h("div", { class: "body", "data-cb": "body" }, [text || ""]));
  if (look !== "system") el.appendChild(h("div", { class: "meta" }, [clock(m.created_at)]));
  if (m.seq != null) el.setAttribute("data-seq", String(m.seq));
  return el;
}

const toBottom = () => { list.scrollTop = list.scrollHeight; };
/** Run a DOM change; stay at the newest message if we were there, unless the visitor scrolled up. */
function keepBottom(change) {
  const pinned = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  change();
  if (pinned) toBottom();
}

/** Put a confirmed bubble in seq order: pending ones stay last, an early ack may precede a gap. */
function place(el, seq) {
  keepBottom(() => {
    el.remove(); // confirming a pending bubble moves it
    let node = list.lastElementChild;
    while (node && (node.hasAttribute("data-pending") ||
      (node.hasAttribute("data-seq") && Number(node.getAttribute("data-seq")) > seq))) {
      node = node.previousElementSibling;
    }
    list.insertBefore(el, node ? node.nextElementSibling : list.firstElementChild);
  });
}

function addPending(item) {
  const el = buildBubble({ sender_type: "visitor", body: item.body });
  el.setAttribute("data-pending", "1");
  el.querySelector(".meta").textContent = t("sending");
  bubbles.set(item.client_msg_id, el);
  list.appendChild(el);
  toBottom(); // the visitor's own message: always show it
}

function confirmBubble(el, m) {
  el.querySelector(".body").textContent = m.body; // as stored: shortcodes became emoji
  el.removeAttribute("data-pending");
  el.setAttribute("data-seq", String(m.seq));
  el.querySelector(".meta").textContent = clock(m.created_at);
  place(el, m.seq);
}

function failBubble(clientMsgId) {
  const el = bubbles.get(clientMsgId);
  if (!el) return;
  el.removeAttribute("data-pending");
  el.setAttribute("data-failed", "1");
  el.querySelector(".meta").textContent = t("failed");
}

function dropFromOutbox(clientMsgId) {
  const before = outbox.length;
  outbox = outbox.filter((i) => i.client_msg_id !== clientMsgId);
  if (outbox.length !== before) saveOutbox();
}

/** Show a streamed message once, in order; own messages replace their pending bubble. */
function onMessage(m) {
  if (!m || typeof m.seq !== "number" || (m.conversation_id && m.conversation_id !== convId)) return;
  const own = m.client_msg_id ? bubbles.get(m.client_msg_id) : null;
  if (m.client_msg_id) dropFromOutbox(m.client_msg_id);
  if (m.seq <= lastSeq || shownSeqs.has(m.seq)) {
    lastSeq = Math.max(lastSeq, m.seq);
    if (own && own.hasAttribute("data-pending")) confirmBubble(own, m);
    return;
  }
  // Seqs may jump (staff-only messages never reach us): order matters, not contiguity.
  lastSeq = m.seq;
  shownSeqs.add(m.seq);
  const el = own || buildBubble(m);
  if (own) confirmBubble(own, m);
  else place(el, m.seq);
  if (m.sender_type === "agent") showAgentTyping(false);
  if (m.sender_type === "system") applyEvent(m);
  if (el.hidden) return;
  const reading = isOpen && !deskOn && !document.hidden;
  if (m.sender_type !== "visitor" && !reading && m.seq > (seen[convId] || 0)) {
    unread += 1;
    badge.textContent = String(unread);
    badge.setAttribute("aria-label", t("unread", { n: unread }));
    badge.hidden = false;
    if (deskOn) deskBack.textContent = t("tkBackChatN", { n: unread }); // on phones the badge is hidden
    alertVisitor();
  } else if (reading) markSeen();
}

function onAck(f) {
  // An ack "in the stream" stands at its message's place (no message frame of our own
  // line follows): it is the message, in seq order.
  if (f.stream && f.message) {
    onMessage(Object.assign({}, f.message, { client_msg_id: f.client_msg_id }));
    return;
  }
  dropFromOutbox(f.client_msg_id);
  const el = bubbles.get(f.client_msg_id);
  const m = f.message;
  if (!el || !m || !el.hasAttribute("data-pending")) return;
  confirmBubble(el, m);
  shownSeqs.add(m.seq);
  if (m.seq === lastSeq + 1) lastSeq = m.seq; // only in order: a gap must still be replayed
}

// Replayed history carries events too; keep the status line true to the ones newer than
// the conversation we hold. Older ones are already in it: replaying an "assigned" that a
// staff-only "missed" undid (the chat rang out and went back to the queue) would lie.
function applyEvent(m) {
  if (!conv || isClosed()) return;
  if (typeof conv.last_seq === "number" && m.seq <= conv.last_seq) return;
  const seq = { last_seq: m.seq };
  if (m.event === "assigned" || m.event === "transferred") {
    // The event names the agent only; the header's photo needs their id. A conversation
    // frame that came first gave it (keep that agent when it is the same one); else the
    // conversation is asked for, since no frame may follow (a socket joined late).
    const same = conv.agent && conv.agent.display_name === m.sender_name;
    applyConversation(Object.assign({}, conv, seq,
      { status: "active", agent: same ? conv.agent : { display_name: m.sender_name } }));
    if (!same) refreshConversation(conv.id);
  } else if (m.event === "closed") {
    applyConversation(Object.assign({}, conv, seq, { status: "closed" }));
  }
}

function applyConversation(c) {
  const wasClosed = isClosed();
  conv = c;
  if (isClosed() && !wasClosed) {
    store.set(K_CONV, null); // a reload starts fresh; the transcript stays on screen until then
    stopTyping();
    showAgentTyping(false);
    outbox.filter((i) => i.conversation_id === convId).forEach((i) => failBubble(i.client_msg_id));
    outbox = outbox.filter((i) => i.conversation_id !== convId);
    saveOutbox();
    loadTickets(); // an agent often makes the chat a ticket as it ends
    offerRating();
  }
  setStatus();
}

function showAgentTyping(active) {
  clearTimeout(agentTypingTimer);
  keepBottom(() => { typingEl.hidden = !active; });
  if (active) agentTypingTimer = setTimeout(() => showAgentTyping(false), AGENT_TYPING_TTL);
}

function markSeen() {
  unread = 0;
  badge.hidden = true;
  stopFlash();
  sendRead();
  if (convId && lastSeq && seen[convId] !== lastSeq) {
    seen = { [convId]: lastSeq }; // only the current conversation matters
    store.setJSON(K_SEQ, seen);
  }
}

/** Drop the on-screen conversation; seqs restart at 1 in the next one. Pending sends survive. */
function clearView() {
  Array.from(list.children).forEach((n) => { if (!n.hasAttribute("data-pending")) n.remove(); });
  bubbles.forEach((el, id) => { if (!el.isConnected) bubbles.delete(id); });
  shownSeqs.clear();
  lastSeq = readSent = agentRead = 0;
  queuePlace = null;
  resetLeave();
}

function forgetConversation() {
  convId = null;
  conv = null;
  joinedId = null;
  store.set(K_CONV, null);
  store.set(K_SEQ, null);
  seen = {};
  clearView();
  outbox.forEach((i) => { i.conversation_id = null; }); // they go to a fresh conversation
  saveOutbox();
  setStatus();
}

function newChat() {
  forgetConversation();
  input.focus();
}
