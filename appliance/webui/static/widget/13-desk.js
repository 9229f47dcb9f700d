// ---- my requests: the visitor's tickets ----------------------------------------------
// The customer's side of the service desk (docs/service-desk.md): the tickets made from
// this visitor's chats and left messages, and those of the customer a signed identity
// proves them to be. The header offers them only once there is one. An agent makes a
// ticket at no moment the widget hears of, so the box is asked when the panel opens,
// after a message is left and when a chat ends; nothing is polled.
const TK_STATE = new Map([
  ["new", "tkNew"], ["open", "tkOpen"], ["pending", "tkPending"],
  ["resolved", "tkResolved"], ["closed", "tkClosed"], ["merged", "tkMerged"],
]);
const TK_FINAL = ["closed", "merged"]; // the box takes no more replies on these
let tkList = []; // the visitor's tickets, newest change first, as the box last listed them
let tkListP = null;
let tkWant = null; // id of the ticket opened (on screen, or on its way)
let tkShown = null; // the ticket on screen, as the box last sent it

const deskBtn = h("button", { type: "button", "data-cb": "desk-open", hidden: "" }, [t("tkMine")]);
const deskTitle = h("h2", { tabindex: "-1", id: "cb-desk-title" }, [t("tkMine")]);
const tkAllBtn = h("button", { type: "button", class: "back", "data-cb": "tk-all", hidden: "" },
  [t("tkAll")]);
const deskBack = h("button", { type: "button", class: "back", "data-cb": "desk-back" }, [t("tkBackChat")]);
const deskError = h("div", { class: "err", "data-cb": "desk-error", role: "alert", hidden: "" });
const deskEmpty = h("p", { class: "tk-note", "data-cb": "desk-empty", hidden: "" }, [t("tkNone")]);
const deskRows = h("ul", { class: "tk-list", "data-cb": "desk-list" });

/** An error line under what failed; empty text hides it. */
const errLine = (cb) => h("div", { class: "err", "data-cb": cb, role: "alert", hidden: "" });
const tkNumber = h("div", { class: "tk-top", "data-cb": "tk-number" });
const tkSubject = h("h3", { tabindex: "-1", "data-cb": "tk-subject" });
// Said when it changes: a reply that reopens the ticket moves no focus.
const tkStateEl = h("div", { class: "tk-st", "data-cb": "tk-state", "aria-live": "polite" });
const tkThread = h("div", { class: "tk-thread", "data-cb": "tk-thread" });
const tkConfirmBtn = h("button", { type: "button", class: "primary", "data-cb": "tk-confirm" },
  [t("tkConfirm")]);
const tkStillBtn = h("button", { type: "button", "data-cb": "tk-still" }, [t("tkStill")]);
const tkAskErr = errLine("tk-ask-error");
const tkAsk = h("div", { class: "box", "data-cb": "tk-ask", hidden: "" }, [
  h("p", {}, [t("tkAsk")]), tkAskErr, h("div", { class: "actions" }, [tkStillBtn, tkConfirmBtn]),
]);
const tkStars = [1, 2, 3, 4, 5].map((n) => h("input", { type: "radio", name: "cb-score",
  value: String(n), "data-cb": "tk-score" }));
const tkComment = h("textarea", { rows: "2", maxlength: String(RATING_COMMENT_MAX),
  "data-cb": "tk-comment" });
const tkRateErr = errLine("tk-rate-error");
const tkRateSend = h("button", { type: "submit", class: "primary", "data-cb": "tk-rate-send" },
  [t("tkRateSend")]);
const tkRate = h("form", { class: "box", "data-cb": "tk-rate", novalidate: "", hidden: "" }, [
  h("fieldset", {}, [h("legend", {}, [t("tkRateAsk")]),
    h("div", { class: "stars" }, tkStars.map((i) => h("label", {}, [i, i.value])))]),
  field(t("tkComment"), tkComment), tkRateErr, h("div", { class: "actions" }, [tkRateSend]),
]);
const tkThanks = h("p", { class: "tk-note", "data-cb": "tk-thanks", role: "status", tabindex: "-1",
  hidden: "" }, [t("tkThanks")]);
const tkReplyIn = h("textarea", { rows: "3", maxlength: String(TICKET_REPLY_MAX), "data-cb": "tk-reply" });
const tkReplyErr = errLine("tk-reply-error");
const tkReplySend = h("button", { type: "submit", class: "primary", "data-cb": "tk-reply-send" },
  [t("send")]);
const tkReply = h("form", { class: "tk-reply", "data-cb": "tk-reply-form", novalidate: "" }, [
  field(t("tkReply"), tkReplyIn), tkReplyErr, h("div", { class: "actions" }, [tkReplySend]),
]);
const tkFinalEl = h("p", { class: "tk-note", "data-cb": "tk-final", hidden: "" }, [t("tkFinal")]);
const tkView = h("div", { class: "tk-view", "data-cb": "tk-view", hidden: "" },
  [tkNumber, tkSubject, tkStateEl, tkThread, tkAsk, tkRate, tkThanks, tkReply, tkFinalEl]);
const deskEl = h("section", { class: "desk", "data-cb": "desk", "aria-labelledby": "cb-desk-title",
  hidden: "" }, [
  h("div", { class: "bar" }, [deskTitle, tkAllBtn, deskBack]),
  h("div", { class: "scroll" }, [deskError, deskEmpty, deskRows, tkView]),
]);
closeBtn.before(deskBtn);
panel.appendChild(deskEl);

// Times are the box's wall clock as sent, cut to the minute.
const stamp = (iso) => {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)/.exec(iso || "");
  return m ? m[1] + " " + m[2] : "";
};
const stateText = (s) => (TK_STATE.has(s) ? t(TK_STATE.get(s)) : String(s || ""));
const say = (el, text) => { el.textContent = text; el.hidden = !text; };

/** Ask the box for the visitor's tickets; the header offers them once there is one. */
function loadTickets() {
  if (!tkListP) {
    tkListP = ensureSession()
      .then(() => api("GET", "/api/visitor/tickets"))
      .then((r) => {
        tkList = (Array.isArray(r.tickets) ? r.tickets : []).filter((x) =>
          x && Number.isInteger(x.id) && typeof x.number === "string");
        if (deskOn && tkWant == null) say(deskError, "");
        renderList();
      }, (err) => {
        if (err.status === 401) sessionP = null;
        if (deskOn && tkWant == null) say(deskError, t("tkLoadFailed"));
      })
      .finally(() => { tkListP = null; });
  }
  return tkListP;
}

function renderList() {
  deskBtn.hidden = !tkList.length;
  if (!deskOn || tkWant != null) return;
  const had = shadow.activeElement;
  const keep = had && deskRows.contains(had) ? had.getAttribute("data-id") : null;
  deskRows.textContent = "";
  tkList.forEach((x) => deskRows.appendChild(h("li", {}, [
    h("button", { type: "button", class: "tk-row", "data-cb": "tk-row", "data-id": String(x.id) }, [
      h("span", { class: "tk-top" }, [h("span", { "data-f": "number" }, [x.number]),
        h("span", { class: "tk-st", "data-f": "state", "data-state": String(x.state) },
          [stateText(x.state)])]),
      h("span", { class: "tk-subj", "data-f": "subject" }, [String(x.subject || "")]),
      h("span", { class: "tk-when", "data-f": "updated" }, [t("tkUpdated", { time: stamp(x.updated_at) })]),
    ]),
  ])));
  deskEmpty.hidden = tkList.length > 0;
  const again = keep && deskRows.querySelector(`[data-id="${Number(keep)}"]`);
  if (again) again.focus(); // a refresh must not drop the keyboard's place
}

/** Show the list of tickets in place of the chat, and ask the box for the newest. */
function showList(focusId) {
  deskOn = true;
  panel.setAttribute("data-screen", "desk");
  deskEl.hidden = false;
  tkWant = null;
  tkShown = null;
  tkView.hidden = true;
  tkAllBtn.hidden = true;
  deskRows.hidden = false;
  say(deskError, "");
  renderList();
  const row = focusId != null && deskRows.querySelector(`[data-id="${Number(focusId)}"]`);
  (row || deskTitle).focus();
  loadTickets();
}

/** Back to the chat; with focus, the visitor asked for it (not the panel closing). */
function closeDesk(focus) {
  deskOn = false;
  tkWant = null;
  tkShown = null;
  panel.setAttribute("data-screen", "chat");
  deskEl.hidden = true;
  deskBack.textContent = t("tkBackChat");
  if (!focus) return;
  markSeen();
  toBottom();
  input.focus();
}

function openTicket(id) {
  tkWant = id;
  tkShown = null;
  deskRows.hidden = true;
  deskEmpty.hidden = true;
  tkView.hidden = false;
  tkAllBtn.hidden = false;
  [tkAsk, tkRate, tkThanks, tkReply, tkFinalEl].forEach((el) => { el.hidden = true; });
  [deskError, tkAskErr, tkRateErr, tkReplyErr].forEach((el) => say(el, ""));
  tkReplyIn.value = "";
  tkReplyIn.placeholder = "";
  tkNumber.textContent = "";
  tkStateEl.textContent = "";
  tkThread.textContent = "";
  tkSubject.textContent = t("tkLoading");
  tkSubject.focus();
  refreshTicket(id);
}

/** Fetch the ticket on screen again and show it as the box has it now. */
function refreshTicket(id) {
  return ensureSession()
    .then(() => api("GET", "/api/visitor/tickets/" + encodeURIComponent(id)))
    .then((r) => { if (tkWant === id && r.ticket) renderTicket(r); }, (err) => {
      if (err.status === 401) sessionP = null;
      if (tkWant !== id) return;
      if (!tkShown) tkSubject.textContent = "";
      say(deskError, t("tkLoadFailed"));
    });
}

function renderTicket(r) {
  const x = r.ticket;
  const thread = (Array.isArray(r.thread) ? r.thread : []).filter((e) => e && typeof e === "object");
  tkShown = x;
  tkList = tkList.map((y) => (y.id === x.id ? x : y));
  tkNumber.textContent = x.number;
  tkSubject.textContent = String(x.subject || "");
  tkStateEl.textContent = stateText(x.state);
  tkStateEl.setAttribute("data-state", String(x.state));
  tkThread.textContent = "";
  thread.forEach((e) => tkThread.appendChild(entryEl(e)));
  const rated = thread.some((e) => e.kind === "rating");
  const final = TK_FINAL.indexOf(x.state) >= 0;
  tkAsk.hidden = x.state !== "resolved";
  // The box takes a rating on a resolved ticket too; the visitor is asked once they confirmed.
  tkRate.hidden = x.state !== "closed" || rated;
  tkThanks.hidden = !rated;
  tkReply.hidden = final;
  tkFinalEl.hidden = !final;
}

/** One entry of the public thread, oldest first: replies as bubbles, changes as lines. */
function entryEl(e) {
  let text = typeof e.body === "string" ? e.body : "";
  let look = "system";
  if (e.kind === "reply" || (e.kind === "created" && text)) look = e.by === "customer" ? "visitor" : "agent";
  else if (e.kind === "rating") {
    look = "visitor";
    text = t("tkRated", { n: e.score }) + (text ? "\n" + text : "");
  } else if (e.kind === "state") text = t("tkMoved", { state: stateText(e.to) });
  else if (e.kind === "created") text = t("tkCreated");
  else text = ""; // an entry newer than this widget
  const el = h("div", { class: "msg " + look, "data-cb": "tk-entry", "data-kind": String(e.kind),
    "data-by": String(e.by) });
  if (look === "agent") el.appendChild(h("div", { class: "who" }, [t("tkAgent")]));
  el.appendChild(h("div", { class: "body" }, [text]));
  el.appendChild(h("div", { class: "meta" }, [stamp(e.at)]));
  el.hidden = !text;
  return el;
}

/** Post an action on the ticket on screen, then show it as the box has it; true if done. */
function act(path, body, button, errEl, busyKey) {
  const shown = tkShown;
  if (!shown || button.disabled) return Promise.resolve(false);
  const id = shown.id;
  const label = button.textContent;
  button.disabled = true;
  if (busyKey) button.textContent = t(busyKey);
  say(errEl, "");
  say(deskError, "");
  return ensureSession()
    .then(() => api("POST", "/api/visitor/tickets/" + encodeURIComponent(id) + "/" + path, body))
    .then(() => refreshTicket(id).then(() => true), (err) => {
      if (err.status === 401) sessionP = null;
      if (err.status === 409) { // it moved on meanwhile (an agent, another tab): show it as it is
        say(deskError, t("tkChanged"));
        refreshTicket(id);
      } else say(errEl, t(err.code === "rate_limited" ? "rateLimited" : "wiErrFailed"));
      return false;
    })
    .finally(() => { button.disabled = false; button.textContent = label; });
}

function sendReply() {
  const body = tkReplyIn.value.trim();
  if (!body) { say(tkReplyErr, t("wiErrBody")); tkReplyIn.focus(); return; }
  act("replies", { body }, tkReplySend, tkReplyErr, "sending").then((done) => {
    if (!done) return;
    tkReplyIn.value = "";
    tkReplyIn.placeholder = "";
  });
}

function sendRating() {
  const picked = tkStars.find((i) => i.checked);
  if (!picked) { say(tkRateErr, t("tkRatePick")); tkStars[0].focus(); return; }
  const rating = { score: Number(picked.value), comment: tkComment.value.trim() };
  act("rating", rating, tkRateSend, tkRateErr, "wiSending").then((done) => {
    if (!done) return;
    tkComment.value = "";
    picked.checked = false;
    tkThanks.focus();
  });
}

function confirmSolved() {
  act("confirm", null, tkConfirmBtn, tkAskErr).then((done) => {
    if (done) (tkRate.hidden ? tkSubject : tkStars[0]).focus();
  });
}

deskBtn.addEventListener("click", () => showList());
deskBack.addEventListener("click", () => closeDesk(true));
tkAllBtn.addEventListener("click", () => showList(tkWant));
deskRows.addEventListener("click", (e) => {
  const row = e.target.closest("[data-id]");
  if (row) openTicket(Number(row.getAttribute("data-id")));
});
tkConfirmBtn.addEventListener("click", confirmSolved);
tkStillBtn.addEventListener("click", () => { tkReplyIn.placeholder = t("tkStillHint"); tkReplyIn.focus(); });
tkReply.addEventListener("submit", (e) => { e.preventDefault(); sendReply(); });
tkRate.addEventListener("submit", (e) => { e.preventDefault(); sendRating(); });
tkReplyIn.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); sendReply(); }
});
tkReplyIn.addEventListener("input", () => say(tkReplyErr, ""));
tkRate.addEventListener("change", () => say(tkRateErr, ""));
