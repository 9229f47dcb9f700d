// The bell in every console page's top bar: the signed-in user's notifications (SLA
// warnings, breaches and escalations, rules' notify actions), with the unread count.
// On the console page the socket brings them as `notice` frames (console-ws.js hands
// them over as "callbox:notice" events); elsewhere the count is asked every POLL_EVERY
// while the tab is visible. A notification opens its ticket and is marked read.
// Everything from the API goes in as text.

import { T, fmt } from "./console-i18n.js";
import { api, el } from "./console-base.js";
import { ticketPage, when } from "./ticket-fields.js";

export const POLL_EVERY = 30000; // ms between counts asked without a socket
const PAGE = 20; // notifications per page of the list
const COUNT_CAP = 99; // a larger count shows as "99+"
const EVERY = Number.MAX_SAFE_INTEGER; // "up to" every id

const bell = document.querySelector('[data-cb="bell"]');
const $ = (name) => bell.querySelector(`[data-cb="${name}"]`);
const ui = bell && {
  button: $("bell-button"),
  count: $("bell-count"),
  panel: $("bell-panel"),
  list: $("bell-list"),
  empty: $("bell-empty"),
  readAll: $("bell-read-all"),
  more: $("bell-more"),
};

let unread = 0;
let shown = []; // the notifications in the list, newest first
let more = false; // older ones exist beyond the list
let live = false; // a console socket delivers notices on this page
let seq = 0; // the newest request wins

const METRIC_TEXT = {
  first_response: () => T.slaFirstResponse,
  next_response: () => T.slaNextResponse,
  resolution: () => T.slaResolution,
};
const metricText = (m) => (METRIC_TEXT[m] ? METRIC_TEXT[m]() : m || "");

/** What a notification says, in the page's language. */
export function noticeText(n) {
  const metric = metricText(n.metric);
  if (n.kind === "sla_warning") return fmt("noticeWarning", { metric });
  if (n.kind === "sla_breach") return fmt("noticeBreach", { metric });
  if (n.kind === "sla_level") {
    const mins = Math.abs(n.offset_minutes || 0);
    if ((n.offset_minutes || 0) < 0) return fmt("noticeLevelBefore", { metric, n: mins });
    if (n.offset_minutes > 0) return fmt("noticeLevelAfter", { metric, n: mins });
    return fmt("noticeLevelAt", { metric });
  }
  if (n.kind === "rule") {
    return n.text ? fmt("noticeRule", { name: n.rule_name || "", text: n.text }) : fmt("noticeRuleOnly", { name: n.rule_name || "" });
  }
  return n.kind;
}

function renderCount() {
  ui.count.hidden = unread <= 0;
  ui.count.textContent = unread > COUNT_CAP ? `${COUNT_CAP}+` : String(unread);
  ui.button.dataset.unread = String(unread);
  ui.button.setAttribute("aria-label", unread > 0 ? fmt("noticesUnread", { n: unread }) : T.notices);
}

function item(n) {
  const li = el("li", n.read ? "notice" : "notice unread");
  li.dataset.cb = "notice";
  li.dataset.id = String(n.id);
  li.dataset.kind = n.kind;
  li.dataset.read = n.read ? "1" : "0";
  const body = el(n.ticket ? "a" : "div", "notice-body");
  if (n.ticket) {
    body.href = ticketPage(n.ticket.id);
    body.dataset.cb = "notice-link";
    body.addEventListener("click", (e) => openNotice(e, n, body.href));
  }
  const what = el("span", "notice-text", noticeText(n));
  what.dataset.cb = "notice-text";
  body.append(what);
  if (n.ticket) {
    const about = el("span", "notice-ticket", fmt("noticeTicket", { number: n.ticket.number, subject: n.ticket.subject }));
    about.dataset.cb = "notice-ticket";
    body.append(about);
  }
  body.append(el("time", "notice-at", when(n.at)));
  li.append(body);
  return li;
}

function renderList() {
  ui.list.replaceChildren(...shown.map(item));
  ui.empty.hidden = shown.length > 0;
  ui.more.hidden = !more;
  ui.readAll.disabled = unread <= 0;
}

/** Read the newest page (the list, when open) or only the count. */
async function refresh() {
  const mine = ++seq;
  try {
    const r = await api("GET", `/api/console/notifications?limit=${ui.panel.hidden ? 1 : PAGE}`);
    if (mine !== seq) return;
    unread = r.unread;
    renderCount();
    if (!ui.panel.hidden) {
      shown = r.notices;
      more = r.more;
      renderList();
    }
  } catch (e) {
    console.warn("callbox: notifications failed", e);
  }
}

async function older() {
  const last = shown[shown.length - 1];
  if (!last) return;
  try {
    const r = await api("GET", `/api/console/notifications?limit=${PAGE}&before=${last.id}`);
    shown = shown.concat(r.notices);
    more = r.more;
    unread = r.unread;
    renderCount();
    renderList();
  } catch (e) {
    console.warn("callbox: notifications failed", e);
  }
}

async function markRead(body) {
  try {
    const r = await api("POST", "/api/console/notifications/read", body);
    unread = r.unread;
  } catch (e) {
    console.warn("callbox: marking read failed", e);
  }
}

async function openNotice(e, n, href) {
  if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  if (!n.read) await markRead({ ids: [n.id] });
  location.assign(href);
}

async function readAll() {
  // Up to the newest shown: one that arrives meanwhile stays unread.
  const newest = shown.length ? shown[0].id : EVERY;
  await markRead({ up_to: newest });
  shown = shown.map((n) => (n.id <= newest ? { ...n, read: true } : n));
  renderCount();
  renderList();
}

function setOpen(open) {
  ui.panel.hidden = !open;
  ui.button.setAttribute("aria-expanded", String(open));
  if (open) {
    renderList();
    refresh();
  }
}

function onNotice(n) {
  if (!n || typeof n !== "object" || shown.some((x) => x.id === n.id)) return;
  if (!n.read) unread += 1;
  renderCount();
  if (!ui.panel.hidden) {
    shown = [n, ...shown];
    renderList();
  }
}

if (bell) {
  ui.button.addEventListener("click", () => setOpen(ui.panel.hidden));
  ui.readAll.addEventListener("click", readAll);
  ui.more.addEventListener("click", older);
  document.addEventListener("click", (e) => {
    if (!ui.panel.hidden && !bell.contains(e.target)) setOpen(false);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !ui.panel.hidden) {
      setOpen(false);
      ui.button.focus();
    }
  });
  // The console's socket: notices as they come, and a fresh count at each (re)connect.
  document.addEventListener("callbox:notice", (e) => onNotice(e.detail));
  document.addEventListener("callbox:live", (e) => {
    live = !!e.detail;
    if (live) refresh();
  });
  // Another script saw something that tells users (the ticket page, an SLA change).
  document.addEventListener("callbox:notices-stale", () => refresh());
  setInterval(() => { if (!live && !document.hidden) refresh(); }, POLL_EVERY);
  document.addEventListener("visibilitychange", () => { if (!document.hidden && !live) refresh(); });
  refresh();
}
