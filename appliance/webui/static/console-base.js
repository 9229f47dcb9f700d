// Shared state and small tools of the console modules: elements, HTTP, flash, title
// badge and beep. Every string that came from a user or visitor goes in as text.

import { T, fmt } from "./console-i18n.js";

// Timing constants, module level so tests can find and shrink them.
export const FLASH_FOR = 6000; // ms a flash note stays up
const BEEP_MIN_GAP = 1000; // ms; a burst of events gives one beep, not a chord

export const root = document.querySelector('[data-cb="console"]');
const $ = (sel) => (root ? root.querySelector(sel) : null);

export const ui = {
  presence: $('[data-cb="presence"]'),
  dot: $('[data-role="status-dot"]'),
  conn: $('[data-cb="conn"]'),
  waiting: $('[data-cb="waiting-list"]'),
  mine: $('[data-cb="mine-list"]'),
  live: $('[data-cb="live-list"]'),
  waitingCount: $('[data-role="waiting-count"]'),
  mineCount: $('[data-role="mine-count"]'),
  liveCount: $('[data-role="live-count"]'),
  workAlert: $('[data-cb="work-items-alert"]'),
  workCount: $('[data-role="work-count"]'),
  cannedManage: $('[data-cb="canned-manage"]'),
  chatName: $('[data-role="chat-name"]'),
  chatBadges: $('[data-cb="chat-badges"]'),
  chatSub: $('[data-role="chat-sub"]'),
  participants: $('[data-cb="participants"]'),
  collision: $('[data-cb="collision"]'),
  tier: $('[data-cb="tier"]'),
  invite: $('[data-cb="invite"]'),
  transfer: $('[data-cb="transfer"]'),
  makeTicket: $('[data-cb="make-ticket"]'),
  leave: $('[data-cb="leave"]'),
  takeover: $('[data-cb="takeover"]'),
  closeBtn: $('[data-cb="close-conv"]'),
  pending: $('[data-cb="transfer-pending"]'),
  pendingText: $('[data-role="pending-text"]'),
  pendingCancel: $('[data-cb="transfer-cancel"]'),
  flash: $('[data-cb="flash"]'),
  messages: $('[data-cb="messages"]'),
  typing: $('[data-cb="typing"]'),
  composer: $('[data-role="composer"]'),
  cannedList: $('[data-cb="canned-list"]'),
  noteToggle: $('[data-role="note-toggle"]'),
  noteMode: $('[data-cb="note-mode"]'),
  input: $('[data-cb="input"]'),
  send: $('[data-cb="send"]'),
};

export const me = {
  id: root ? Number(root.dataset.userId) : 0,
  name: root ? root.dataset.userName || "" : "",
  status: root ? root.dataset.status || "offline" : "offline",
  role: "agent",
};

export const isOverseer = () => me.role === "supervisor" || me.role === "admin";

// The console's shared, mutable state. One record per conversation shown (see
// lists.record); `selected` is the record in the center pane.
export const S = {
  convs: new Map(), // id -> record
  outbox: new Map(), // client_msg_id -> {conversation_id, client_msg_id, body}
  accepting: new Set(), // ids this agent just accepted: no "new assignment" beep
  selected: null,
  alerts: 0, // the "(n)" in the title
  view: "chats", // "chats" or "visitors": what the main area shows
};

export function el(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text != null) n.textContent = text;
  return n;
}

export function button(text, cb, cls) {
  const b = el("button", cls || "secondary", text);
  b.type = "button";
  if (cb) b.dataset.cb = cb;
  return b;
}

// The box sends times in its own zone; show the wall-clock part as is, never
// re-interpreted in the browser's zone (a remote agent may sit elsewhere).
export function hhmm(iso) {
  const m = /T(\d{2}):(\d{2})/.exec(iso || "");
  return m ? `${m[1]}:${m[2]}` : "";
}

// crypto.randomUUID exists only in secure contexts; the console is often plain
// http on the LAN, where getRandomValues still works.
export function uuid() {
  if (window.crypto && crypto.randomUUID) {
    try { return crypto.randomUUID(); } catch (_) { /* insecure context */ }
  }
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function visitorName(c) {
  const v = c.visitor || {};
  if (v.name) return v.name;
  const id = String(v.id || c.id || "");
  return `${T.visitor} ${id.slice(-4)}`;
}

export const tierText = (tier) => (tier === "vip" ? T.tierVip : tier === "member" ? T.tierMember : T.tierNew);

let flashTimer = 0;
export function flash(text) {
  ui.flash.textContent = text;
  ui.flash.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { ui.flash.hidden = true; }, FLASH_FOR);
}

export const errText = (e) => (e && e.message ? e.message : String(e));

// ---- HTTP ------------------------------------------------------------------
// The one client of the JSON API for every console page (console, admin, routing,
// work items), so sessions, CSRF and errors are handled alike everywhere.

/** The page's CSRF token, rendered by the server into a meta tag. */
export const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

/**
 * Call the JSON API. A body of another type (the admin's IP table file) goes as is,
 * streamed by the browser. A refusal throws an Error with the server's message and
 * its code, status and details (`info`: e.g. the routing rule and field refused).
 */
export async function api(method, path, body, type = "application/json") {
  const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") {
    opts.headers["Content-Type"] = type;
    opts.headers["X-CSRF-Token"] = csrf();
    opts.body = type === "application/json" ? JSON.stringify(body || {}) : body;
  }
  const res = await fetch(path, opts);
  if (res.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw new Error("log in first");
  }
  let data = null;
  try { data = await res.json(); } catch (_) { /* empty or non-JSON body */ }
  if (!res.ok) {
    const info = (data && data.error) || {};
    const err = new Error(info.message || res.statusText || String(res.status));
    err.code = info.code || String(res.status);
    err.status = res.status;
    err.info = info;
    throw err;
  }
  return data || {};
}

export const convPath = (id, tail) => `/api/console/conversations/${encodeURIComponent(id)}${tail || ""}`;

// ---- Title badge and sound --------------------------------------------------
export const renderTitle = () => { document.title = S.alerts > 0 ? `(${S.alerts}) ${T.title}` : T.title; };
export const clearAlerts = () => { S.alerts = 0; renderTitle(); };
export const notify = () => { S.alerts += 1; renderTitle(); beep(); };

let audio = null;
let lastBeep = 0;
// Browsers keep an AudioContext suspended until a user gesture, so it is created
// (or resumed) on the first click or key press; beeps before that are silent.
export function unlockAudio() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume();
  } catch (_) { audio = null; }
}

function beep() {
  const now = Date.now();
  if (now - lastBeep < BEEP_MIN_GAP) return;
  lastBeep = now;
  if (!audio || audio.state !== "running") return;
  const t0 = audio.currentTime;
  const osc = audio.createOscillator();
  const gain = audio.createGain();
  osc.type = "sine";
  osc.frequency.setValueAtTime(880, t0);
  osc.frequency.setValueAtTime(1320, t0 + 0.09);
  // Ramp instead of switching the gain, which would click.
  gain.gain.setValueAtTime(0.0001, t0);
  gain.gain.exponentialRampToValueAtTime(0.2, t0 + 0.015);
  gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.25);
  osc.connect(gain).connect(audio.destination);
  osc.start(t0);
  osc.stop(t0 + 0.27);
}

// A new item counts as "seen" only when it is on screen in a visible tab (not behind
// the visitors view).
export const onScreen = (rec) => rec === S.selected && !document.hidden && S.view !== "visitors";

// ---- Dialogs -----------------------------------------------------------------
// One modal <dialog> at a time, rebuilt for each use; Esc and the × close it.
let dlg = null;

export function openDialog(title, nodes, cb) {
  if (!dlg) {
    dlg = el("dialog", "dlg");
    root.append(dlg);
    dlg.addEventListener("close", () => dlg.replaceChildren());
  }
  dlg.dataset.cb = cb;
  const x = button("×", "dialog-close", "link close-x");
  x.setAttribute("aria-label", T.closeDialog);
  x.addEventListener("click", () => dlg.close());
  const head = el("div", "dlg-head");
  head.append(el("h2", null, title), x);
  dlg.replaceChildren(head, ...nodes);
  if (!dlg.open) dlg.showModal();
  return dlg;
}

export const closeDialog = () => { if (dlg && dlg.open) dlg.close(); };

// A form with an error line and Cancel/OK buttons. onSubmit may throw: the error is
// shown in the form (err.plain: as is); it returns false to keep the dialog open.
export function formPanel(fields, okText, onSubmit, cb) {
  const form = el("form", "dlg-form");
  form.dataset.cb = cb;
  const err = el("p", "error");
  err.hidden = true;
  err.dataset.role = "dialog-error";
  const ok = button(okText, `${cb}-ok`, "primary");
  ok.type = "submit";
  const cancel = button(T.cancel, `${cb}-cancel`);
  cancel.addEventListener("click", closeDialog);
  const actions = el("div", "actions");
  actions.append(cancel, ok);
  form.append(...fields, err, actions);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    ok.disabled = true;
    err.hidden = true;
    try {
      if ((await onSubmit(form)) !== false) closeDialog();
    } catch (x) {
      err.textContent = x.plain ? x.message : fmt("failed", { msg: errText(x) });
      err.hidden = false;
    } finally {
      ok.disabled = false;
    }
  });
  return form;
}

/** A section's words from its data-l-* attributes: data-l-send-now="…" becomes sendNow. */
export function sectionWords(root) {
  return Object.fromEntries(
    Object.entries(root ? root.dataset : {})
      .filter(([k]) => /^l[A-Z]/.test(k))
      .map(([k, v]) => [k[1].toLowerCase() + k.slice(2), v]),
  );
}

/** Put {name} values into a text (used only as text, never as HTML). */
export function fill(text, vars) {
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

/** Fill a table: a header row, then one row per array; a cell is a node, or text (null
 * shows "–"). Cells from column `numFrom` on that are not nodes get class "num". */
export function fillTable(node, head, rows, numFrom = Infinity) {
  node.replaceChildren();
  const tr = node.createTHead().insertRow();
  for (const h of head) tr.append(el("th", "", h));
  const body = node.createTBody();
  for (const r of rows) {
    const line = body.insertRow();
    r.forEach((cell, i) => {
      const td = line.insertCell();
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell === null || cell === undefined ? "–" : String(cell);
      if (i >= numFrom && !(cell instanceof Node)) td.className = "num";
    });
  }
}

export function plainError(text) {
  const e = new Error(text);
  e.plain = true;
  return e;
}
