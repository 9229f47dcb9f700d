// ---- reach: the box answers, but its socket never does --------------------------------
// A Content-Security-Policy without ws:/wss: in connect-src, or a proxy that drops the
// upgrade (or holds it open without an answer), leaves HTTP working and the socket never
// ready: a message would say "sending" for ever. After NOWS_AFTER socket opens in a row
// that failed, or hung READY_WAIT without "ready", while the box still answers a plain
// HTTP request, the widget says so and offers the typed text as leave-a-message (a
// ticket). Reconnecting goes on with its backoff: a blip costs a failure or two, and the
// first "ready" clears the state. A box that is away fails the HTTP check too: that stays
// "reconnecting".
const NOWS_AFTER = 3; // failed socket opens in a row
const READY_WAIT = 10000; // ms from opening a socket to its "ready"
let sockFails = 0;
let sockBlocked = false;
let readyTimer = 0;

function watchOpen(sock) {
  clearTimeout(readyTimer);
  readyTimer = setTimeout(() => { if (sock === ws && !wsReady) { sockFailed(); dropSocket(); } }, READY_WAIT);
}

function sockReady() {
  clearTimeout(readyTimer);
  sockFails = 0;
  sockBlocked = false;
}

function sockFailed() {
  sockFails += 1;
  if (sockFails < NOWS_AFTER || sockBlocked) return;
  api("GET", "/api/visitor/topics", null, true).then(() => {
    if (!wsReady && sockFails >= NOWS_AFTER) { sockBlocked = true; setStatus(); }
  }, () => { /* the box is away */ });
}

/** The text that waits for the socket, for the leave-a-message form. */
const waitingText = () => outbox.map((i) => i.body).join("\n");

/** The box has the text as a ticket: it no longer waits for the socket. */
function sentAsTicket(ids) {
  ids.forEach((id) => {
    const el = bubbles.get(id);
    if (!el) return;
    el.removeAttribute("data-pending");
    el.setAttribute("data-left", "1");
    el.querySelector(".meta").textContent = t("wiLeft");
  });
  outbox = outbox.filter((i) => ids.indexOf(i.client_msg_id) < 0);
  saveOutbox();
}
