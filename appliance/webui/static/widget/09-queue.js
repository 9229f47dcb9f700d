// ---- queue place and overflow --------------------------------------------------------
const BLOCKED = ["closed", "no_agent"]; // nobody can take the chat now: a place means nothing
const OVERFLOWS = BLOCKED.concat(["long_wait"]);
const REASON_TEXT = { closed: "ofClosed", no_agent: "ofNoAgent", long_wait: "ofLongWait", nosocket: "ofNoSocket" };
// The box's 422 messages are English; the ones a visitor can cause are said in their
// language, by error code.
const LEAVE_ERRORS = new Map([
  ["phone_required", "wiErrPhone"],
  ["message_empty", "wiErrBody"],
  ["contact_invalid", "wiErrContact"],
]);
const isWaiting = () => !!(conv && conv.status === "waiting");

function freshLeave() {
  // mode "offer" shows the two choices, "form" one of them (kind); dismissed is the overflow
  // reason the visitor chose to wait through; done is the confirmation once the box has it.
  return { mode: "offer", kind: "message", reason: null, dismissed: null, sending: false, done: "" };
}

function resetLeave() {
  leave = freshLeave();
  wiError.hidden = true;
}

/** Take a {"type":"queue"} frame: the waiting conversation's place, wait and overflow. */
function onQueue(f) {
  if (!convId || f.conversation_id !== convId) return;
  queuePlace = {
    position: Number.isInteger(f.position) && f.position > 0 ? f.position : null,
    eta: typeof f.eta === "number" && f.eta >= 0 ? f.eta : null,
    overflow: OVERFLOWS.indexOf(f.overflow) >= 0 ? f.overflow : null,
  };
  renderQueue();
  renderLeave();
}

/** Say the place in words; position 1 is the first in line, so nobody is ahead of them. */
function queueText(p) {
  const parts = [];
  if (p.position === 1) parts.push(t("queueNext"));
  else if (p.position > 1) {
    parts.push(t(p.position === 2 ? "queueAheadOne" : "queueAhead", { n: p.position - 1 }));
  }
  if (p.eta != null) parts.push(etaText(p.eta));
  return parts.join(t("sep"));
}

function etaText(seconds) {
  if (seconds < 60) return t("etaUnderMinute");
  const minutes = Math.max(1, Math.round(seconds / 60));
  return minutes === 1 ? t("etaMinute") : t("etaMinutes", { m: minutes });
}

function renderQueue() {
  const p = queuePlace;
  const text = isWaiting() && p && BLOCKED.indexOf(p.overflow) < 0 ? queueText(p) : "";
  const position = text && p.position ? String(p.position) : "";
  const eta = text && p.eta != null ? String(p.eta) : "";
  queueEl.setAttribute("data-position", position);
  queueEl.setAttribute("data-eta", eta);
  // Rewriting the same words would make screen readers announce them again.
  if (text === queueEl.textContent && queueEl.hidden === !text) return;
  keepBottom(() => {
    queueEl.textContent = text;
    queueEl.hidden = !text;
  });
}

/** Show the overflow offer, its form, or the confirmation, as the queue and the visitor say. */
function renderLeave() {
  const p = queuePlace;
  // No socket (07a-reach.js): what the visitor typed can still reach the box as a ticket.
  const why = sockBlocked && chatting() && !isClosed() ? "nosocket" : isWaiting() && p && p.overflow;
  const offered = why && why !== leave.dismissed;
  if (offered) leave.reason = why;
  const active = !!(conv && conv.status === "active");
  // A form the visitor started stays until they send it, or an agent takes the chat after all.
  const show = !leave.done &&
    (leave.sending || !!offered || (leave.mode === "form" && !!leave.reason && !active));
  keepBottom(() => {
    overflowEl.hidden = !show;
    doneEl.hidden = !leave.done;
    doneEl.textContent = leave.done;
    if (!show) return;
    const form = leave.mode === "form";
    const callback = leave.kind === "callback";
    overflowEl.setAttribute("data-reason", leave.reason);
    ofReason.textContent = t(REASON_TEXT[leave.reason]);
    ofOffer.textContent = t("ofOffer") + (leave.reason === "long_wait" ? t("ofOfferWait") : "");
    ofOffer.hidden = form;
    ofChoices.hidden = form;
    ofWaitBtn.hidden = leave.reason !== "long_wait" && leave.reason !== "nosocket";
    wiForm.hidden = !form;
    wiForm.setAttribute("data-kind", leave.kind);
    contactField.firstChild.textContent = t(callback ? "wiPhone" : "wiContactAny");
    wiContact.setAttribute("type", callback ? "tel" : "text");
    timeField.hidden = !callback;
    bodyField.hidden = callback;
    wiSubmit.textContent = t(leave.sending ? "wiSending" : callback ? "wiSendCallback" : "wiSendMessage");
    wiSubmit.disabled = leave.sending;
    wiBack.disabled = leave.sending;
  });
}

function openLeaveForm(kind) {
  if (leave.kind !== kind) wiError.hidden = true;
  leave.mode = "form";
  leave.kind = kind;
  if (!wiName.value && nameIn.value.trim()) wiName.value = nameIn.value.trim();
  if (leave.reason === "nosocket" && !wiBody.value) wiBody.value = waitingText();
  renderLeave();
  (!wiName.value ? wiName : kind === "callback" ? wiContact : wiBody).focus();
}

function keepWaiting() {
  leave.dismissed = leave.reason;
  leave.mode = "offer";
  renderLeave();
}

function leaveError(text, focus) {
  keepBottom(() => { wiError.textContent = text; wiError.hidden = false; });
  if (focus) focus.focus();
}

/** Send what the visitor left; every field stays as typed until the box has accepted it. */
function submitLeave() {
  if (leave.sending) return;
  const kind = leave.kind;
  const item = { kind, name: wiName.value.trim(), contact: wiContact.value.trim() };
  if (kind === "callback") item.preferred_time = wiTime.value.trim();
  else item.body = wiBody.value.trim();
  // The box checks too; saying what is missing before a round trip is kinder.
  if (kind === "callback" && !item.contact) { leaveError(t("wiErrPhone"), wiContact); return; }
  if (kind === "message" && !item.body) { leaveError(t("wiErrBody"), wiBody); return; }
  const id = convId;
  if (id) item.conversation_id = id; // the box ends the waiting chat this replaces
  const moved = leave.reason === "nosocket" && kind === "message" ? outbox.map((i) => i.client_msg_id) : [];
  leave.sending = true;
  wiError.hidden = true;
  renderLeave();
  ensureSession()
    .then(() => api("POST", "/api/visitor/work-items", item))
    .then((r) => {
      // The box makes it a ticket and says its number; an older box does not.
      const n = r.item && typeof r.item.number === "string" ? r.item.number.slice(0, 40) : "";
      const said = { phone: item.contact, number: n };
      leave.done = kind === "callback" ? t(n ? "doneCallbackNo" : "doneCallback", said)
        : t(n ? "doneMessageNo" : "doneMessage", said);
      leave.mode = "offer";
      sentAsTicket(moved);
      wiTime.value = "";
      wiBody.value = "";
      if (id && id === convId) refreshConversation(id); // a socket in a blip would not say
      loadTickets();
    }, (err) => {
      if (err.status === 401) sessionP = null;
      const known = err.status === 422 && LEAVE_ERRORS.get(err.code);
      let text = t("wiErrFailed");
      if (known) text = t(known);
      else if (err.status === 422 && err.message) text = err.message;
      else if (err.code === "rate_limited") text = t("rateLimited");
      leaveError(text, known === "wiErrBody" ? wiBody : known ? wiContact : null);
    })
    .finally(() => { leave.sending = false; renderLeave(); });
}

function refreshConversation(id) {
  api("GET", "/api/visitor/conversations/" + encodeURIComponent(id))
    .then((r) => { if (id === convId && r.conversation) applyConversation(r.conversation); })
    .catch(() => { /* the socket tells us when it is back */ });
}
