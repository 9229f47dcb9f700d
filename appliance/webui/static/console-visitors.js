// The 访客 view: live visitors in this agent's scope, filtered and paged by the server
// over the console socket (watch_visitors / visitors frames), and a detail panel per
// visitor with the trail of the visit, earlier visits and chats, and an invitation form.
// Visitor data is untrusted: it goes in as text (see console-visit.js for links).

import { T, fmt } from "./console-i18n.js";
import { S, api, convPath, el, errText, me, root } from "./console-base.js";
import {
  chatLines, deviceText, dwellText, listOf, pageLink, regionText, section, sourceText, wireMs,
  statusOf, statusText, tierBadge, trailList, visitLines, visitorLabel,
} from "./console-visit.js";
import { applyConversation, fillItem } from "./console-lists.js";
import { select } from "./console-chat.js";
import { wsSend } from "./console-ws.js";
import { profileSummary, syncProfilePanel } from "./console-customer.js";

export const PAGE = 50; // visitors per page, the server's default page
const TYPE_DEBOUNCE = 300; // ms after the last keystroke before a filter goes out
const TICK = 1000; // ms between updates of the "time on page" counters
const DETAIL_REFRESH = 2000; // ms; at most one detail reload per this while a visitor moves

const $ = (cb) => root.querySelector(`[data-cb="${cb}"]`);

const V = {
  active: false, // the view is open and watching
  filter: { q: "", region: "", source: "", status: "" },
  offset: 0,
  total: null, // from the last frame of the current watch
  rows: new Map(), // visitor id -> {tr, keys, row}
  selected: null, // visitor id in the detail panel
  detail: null, // last GET /api/console/visitors/{id} answer for it
  invites: new Map(), // visitor id -> {id, status, conversation_id} sent from this console
  typingTimer: 0,
  tickTimer: 0,
  detailTimer: 0,
  detailAt: 0,
  detailToken: 0,
};

let dom = null;

// ---- The list --------------------------------------------------------------
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function makeRow(id) {
  const tr = el("tr", "visitor-row");
  tr.dataset.cb = "visitor-row";
  tr.dataset.id = id;
  tr.tabIndex = 0;
  tr.setAttribute("aria-selected", "false");
  for (const cls of ["who", "where", "src", "page"]) tr.append(el("td", cls));
  return tr;
}

// What each cell shows, as a string: a cell is rebuilt only when its key changes.
function cellKeys(r) {
  const cur = r.current || {};
  return {
    who: JSON.stringify([r.id, !!r.online, r.customer, r.tier, statusOf(r)]),
    where: JSON.stringify([r.region, r.device]),
    src: JSON.stringify([r.source, r.visits, !!r.returning]),
    page: JSON.stringify([cur.url, cur.title, r.pages]),
  };
}

function whoCell(td, r) {
  const name = el("div", "name");
  const dot = el("span", `dot ${r.online ? "online" : "offline"}`);
  dot.title = r.online ? T.online : T.offlineNow;
  name.append(dot, el("strong", null, (r.customer && r.customer.name) || visitorLabel(r.id)));
  const marks = el("div", "badges");
  const status = statusOf(r);
  const st = el("span", `badge status-${status}`, statusText(status));
  st.dataset.cb = "visitor-status";
  marks.append(st);
  const tier = tierBadge((r.customer && r.customer.tier) || r.tier);
  if (tier) marks.append(tier);
  if (r.customer && r.customer.verified) marks.append(el("span", "badge verified", T.verified));
  td.replaceChildren(name, marks);
}

function whereCell(td, r) {
  const region = el("div", "region", regionText(r.region));
  region.dataset.cb = "visitor-region";
  td.replaceChildren(region, el("div", "muted small", deviceText(r.device)));
}

function srcCell(td, r) {
  const src = el("div", "source", sourceText(r.source));
  src.dataset.cb = "visitor-source";
  const visits = r.returning ? fmt("visitReturning", { n: r.visits || 2 }) : T.visitNew;
  td.replaceChildren(src, el("div", "muted small", visits));
}

// Without the scheme: what matters (host and path) fits the column better.
const shortUrl = (url) => String(url || "").replace(/^https?:\/\//i, "");

function pageCell(td, r) {
  const cur = r.current || {};
  const title = el("div", "title", cur.title || shortUrl(cur.url) || "—");
  title.dataset.cb = "visitor-page";
  const link = el("div", "small page-url");
  link.append(pageLink(cur.url, shortUrl(cur.url), "url"));
  const line = el("div", "muted small");
  line.append(el("span", "on-page"), el("span", "sep", "·"), el("span", "pages", fmt("pagesN", { n: r.pages || 0 })));
  td.replaceChildren(title, link, line);
}

const FILL = { who: whoCell, where: whereCell, src: srcCell, page: pageCell };

function fillRow(item, r) {
  const keys = cellKeys(r);
  const tr = item.tr;
  for (const [i, name] of ["who", "where", "src", "page"].entries()) {
    if (!item.keys || item.keys[name] !== keys[name]) FILL[name](tr.children[i], r);
  }
  item.keys = keys;
  item.row = r;
  tr.dataset.status = statusOf(r);
  tr.dataset.online = r.online ? "1" : "0";
  const sel = r.id === V.selected;
  tr.classList.toggle("selected", sel);
  tr.setAttribute("aria-selected", String(sel));
  tickRow(item, Date.now());
}

function tickRow(item, now) {
  const since = wireMs(item.row && item.row.current && item.row.current.since);
  const span = item.tr.querySelector(".on-page");
  if (span) setText(span, since !== null ? fmt("onPageFor", { t: dwellText(now - since) }) : "");
}

function tick() {
  if (document.hidden) return;
  const now = Date.now();
  for (const item of V.rows.values()) tickRow(item, now);
}

export function onVisitorsFrame(f) {
  if (!V.active) return;
  // A page that answered an earlier watch (filter or page since changed) is stale.
  if (typeof f.offset === "number" && f.offset !== V.offset) return;
  if (f.filter && typeof f.filter === "object") {
    for (const k of Object.keys(V.filter)) if ((f.filter[k] || "") !== V.filter[k]) return;
  }
  render(Array.isArray(f.visitors) ? f.visitors : [], Number(f.total) || 0);
}

function render(rows, total) {
  V.total = total;
  const order = [];
  const seen = new Set();
  let selectedRow = null;
  for (const r of rows) {
    if (!r || typeof r.id !== "string" || seen.has(r.id)) continue;
    seen.add(r.id);
    let item = V.rows.get(r.id);
    if (!item) {
      item = { tr: makeRow(r.id), keys: null, row: null };
      V.rows.set(r.id, item);
    }
    const before = item.keys;
    fillRow(item, r);
    if (r.id === V.selected) {
      selectedRow = r;
      if (before && before.page !== item.keys.page) refreshDetailSoon();
    }
    order.push(item.tr);
  }
  for (const [id, item] of V.rows) {
    if (!seen.has(id)) {
      item.tr.remove();
      V.rows.delete(id);
    }
  }
  const now = [...dom.rows.children];
  if (order.length !== now.length || order.some((tr, i) => tr !== now[i])) dom.rows.append(...order);
  dom.empty.hidden = order.length > 0;
  renderPager();
  if (V.selected) renderDetailHead(selectedRow || (V.detail && V.detail.visitor), !!selectedRow);
  // The page ran past the end (visitors left): step back to the last page.
  if (total > 0 && V.offset >= total) {
    V.offset = Math.floor((total - 1) / PAGE) * PAGE;
    watch();
  }
}

function renderPager() {
  const total = V.total;
  setText(dom.total, total === null ? "" : fmt("visitorsTotal", { n: total }));
  const shown = V.rows.size;
  setText(dom.range, total ? fmt("visitorsRange", { from: V.offset + 1, to: V.offset + shown }) : "");
  dom.prev.disabled = V.offset === 0;
  dom.next.disabled = total === null || V.offset + PAGE >= total;
  setText(dom.tabCount, V.active && total ? String(total) : "");
}

// ---- Watching ----------------------------------------------------------------
function watch() {
  if (!V.active) return;
  wsSend({ type: "watch_visitors", filter: { ...V.filter }, offset: V.offset, limit: PAGE });
}

// After a reconnect the server has forgotten the watch.
export function rewatch() {
  watch();
}

function readFilter() {
  const next = {
    q: dom.q.value.trim(),
    region: dom.region.value.trim(),
    source: dom.source.value,
    status: dom.status.value,
  };
  if (Object.keys(next).every((k) => next[k] === V.filter[k])) return;
  V.filter = next;
  V.offset = 0;
  watch();
}

function typed() {
  clearTimeout(V.typingTimer);
  V.typingTimer = setTimeout(readFilter, TYPE_DEBOUNCE);
}

function page(step) {
  const next = Math.max(0, V.offset + step * PAGE);
  if (next === V.offset || (V.total !== null && next >= V.total && step > 0)) return;
  V.offset = next;
  watch();
}

// ---- Views -----------------------------------------------------------------------
export function showView(view) {
  const before = S.view || "chats";
  S.view = view;
  root.dataset.view = view;
  for (const tab of dom.tabs) tab.setAttribute("aria-selected", String(tab.dataset.view === view));
  dom.chat.hidden = view !== "chats";
  dom.visitors.hidden = view !== "visitors";
  syncProfilePanel();
  if (view === before) return;
  if (view === "visitors") {
    V.active = true;
    watch();
    V.tickTimer = setInterval(tick, TICK);
  } else {
    V.active = false;
    clearInterval(V.tickTimer);
    clearTimeout(V.typingTimer);
    wsSend({ type: "unwatch_visitors" });
    setText(dom.tabCount, "");
    // Back on the chat: what arrived in it meanwhile has now been seen.
    const rec = S.selected;
    if (rec && rec.unread && !document.hidden) {
      rec.unread = 0;
      if (rec.li) fillItem(rec);
    }
  }
}

// ---- Detail panel ------------------------------------------------------------------
function selectVisitor(id) {
  if (!id) return;
  if (V.selected !== id) {
    V.selected = id;
    V.detail = null;
    dom.inviteError.hidden = true;
    dom.sections.replaceChildren();
  }
  for (const item of V.rows.values()) {
    const sel = item.row && item.row.id === id;
    item.tr.classList.toggle("selected", sel);
    item.tr.setAttribute("aria-selected", String(sel));
  }
  dom.detailEmpty.hidden = true;
  dom.detailBody.hidden = false;
  const item = V.rows.get(id);
  renderDetailHead(item ? item.row : null, !!item);
  loadDetail();
}

function refreshDetailSoon() {
  if (V.detailTimer) return;
  const wait = Math.max(0, V.detailAt + DETAIL_REFRESH - Date.now());
  V.detailTimer = setTimeout(() => { V.detailTimer = 0; loadDetail(); }, wait);
}

async function loadDetail() {
  const id = V.selected;
  const token = ++V.detailToken;
  V.detailAt = Date.now();
  try {
    const r = await api("GET", `/api/console/visitors/${encodeURIComponent(id)}`);
    if (token !== V.detailToken || id !== V.selected) return;
    V.detail = r;
    const item = V.rows.get(id);
    renderDetailHead(item ? item.row : r.visitor, !!item);
    renderSections(r.visitor || {});
  } catch (e) {
    if (token !== V.detailToken || id !== V.selected) return;
    if (e.code === "not_found") {
      dom.sections.replaceChildren(el("p", "muted", T.profileGone));
    } else {
      dom.sections.replaceChildren(el("p", "error", fmt("failed", { msg: errText(e) })));
    }
  }
}

function renderDetailHead(row, live) {
  if (!row) return;
  dom.detailDot.className = `dot ${row.online && live ? "online" : "offline"}`;
  setText(dom.detailName, (row.customer && row.customer.name) || visitorLabel(row.id));
  const marks = [];
  const status = statusOf(row);
  marks.push(el("span", `badge status-${status}`, statusText(status)));
  const tier = tierBadge((row.customer && row.customer.tier) || row.tier);
  if (tier) marks.push(tier);
  if (row.customer && row.customer.verified) marks.push(el("span", "badge verified", T.verified));
  dom.detailBadges.replaceChildren(...marks);
  const visits = row.returning ? fmt("visitReturning", { n: row.visits || 2 }) : T.visitNew;
  setText(dom.detailSub, [regionText(row.region), sourceText(row.source), visits, deviceText(row.device)].join(" · "));
  // Someone else's invitation (a rule's, another tab's) is known only while it is
  // pending; this console's own follow their frames to the end.
  const known = V.invites.get(row.id);
  const inv = row.invitation;
  if (inv && inv.id && (!known || known.id !== inv.id)) {
    V.invites.set(row.id, { id: inv.id, status: inv.status, conversation_id: null, own: false });
  } else if (!inv && known && !known.own && live) {
    V.invites.delete(row.id);
  }
  renderInvite(row);
}

function renderSections(v) {
  const parts = [
    section(T.trail, "detail-trail", trailList(v.trail, v.online)),
    section(T.earlierVisits, "detail-visits", listOf(visitLines(v.visits), "plain")),
    section(T.earlierChats, "detail-chats", listOf(chatLines(v.conversations), "plain")),
  ];
  if (v.customer) parts.unshift(section(T.customer, "detail-customer", profileSummary(v.customer)));
  dom.sections.replaceChildren(...parts);
}

// ---- Invitations ---------------------------------------------------------------------
const INV_TEXT = { pending: "invPending", accepted: "invAccepted", declined: "invDeclined", expired: "invExpired" };

function renderInvite(row) {
  const id = V.selected;
  if (!id) return;
  const inv = V.invites.get(id);
  const r = row || (V.rows.get(id) || {}).row || (V.detail && V.detail.visitor) || {};
  const status = inv ? inv.status : "";
  let text = status ? T[INV_TEXT[status]] || status : "";
  if (status === "accepted" && inv.queued) text = T.invQueued;
  setText(dom.inviteStatus, text);
  dom.inviteStatus.dataset.status = status;
  dom.inviteSend.disabled = status === "pending" || statusOf(r) === "chatting";
}

function inviteError(e) {
  if (e.code === "chatting") return T.errChatting;
  if (e.code === "already_invited") return T.errAlreadyInvited;
  if (e.code === "not_found") return T.errGone;
  return fmt("failed", { msg: errText(e) });
}

async function sendInvite(ev) {
  ev.preventDefault();
  const id = V.selected;
  if (!id) return;
  const message = dom.inviteMessage.value.trim();
  dom.inviteError.hidden = true;
  if (!message) {
    dom.inviteError.textContent = T.errEmptyInvite;
    dom.inviteError.hidden = false;
    return;
  }
  dom.inviteSend.disabled = true;
  try {
    const r = await api("POST", `/api/console/visitors/${encodeURIComponent(id)}/invite`, { message });
    const inv = r.invitation || {};
    const known = V.invites.get(id);
    // A frame may already have told a later status of this invitation.
    if (!known || known.id !== inv.id || !known.own) {
      V.invites.set(id, { id: inv.id, status: inv.status || "pending", conversation_id: inv.conversation_id || null, own: true });
    }
  } catch (e) {
    dom.inviteError.textContent = inviteError(e);
    dom.inviteError.hidden = false;
  } finally {
    dom.inviteSend.disabled = false;
    renderInvite();
  }
}

export function onInvitationFrame(f) {
  const inv = f.invitation;
  if (!inv || !inv.visitor_id) return;
  if (inv.agent_id != null && Number(inv.agent_id) !== me.id) return;
  const entry = { id: inv.id, status: inv.status, conversation_id: inv.conversation_id || null, own: true };
  V.invites.set(inv.visitor_id, entry);
  if (inv.visitor_id === V.selected) renderInvite();
  if (inv.status === "accepted" && entry.conversation_id) openInvitedChat(inv.visitor_id, entry);
}

// The visitor said yes: the chat is this agent's (or queued, preferring them).
async function openInvitedChat(vid, entry) {
  const id = entry.conversation_id;
  let rec = S.convs.get(id);
  if (!rec || rec.where !== "mine") {
    try {
      const r = await api("GET", convPath(id));
      applyConversation(r.conversation, false);
    } catch (e) {
      console.warn("callbox: invited chat not loaded", e);
    }
    rec = S.convs.get(id);
  }
  if (rec && rec.where === "mine") {
    showView("chats");
    select(id);
  } else {
    entry.queued = true;
  }
  if (vid === V.selected) renderInvite();
}

// ---- Wiring ----------------------------------------------------------------------------
export function wireVisitors() {
  dom = {
    tabs: [...root.querySelectorAll('[data-cb="view-tabs"] [data-view]')],
    tabCount: root.querySelector('[data-role="visitors-count"]'),
    chat: $("chat"),
    visitors: $("visitors"),
    q: $("filter-q"),
    region: $("filter-region"),
    source: $("filter-source"),
    status: $("filter-status"),
    rows: $("visitor-rows"),
    empty: $("visitors-empty"),
    total: $("visitors-total"),
    range: $("visitors-range"),
    prev: $("visitors-prev"),
    next: $("visitors-next"),
    detailEmpty: $("detail-empty"),
    detailBody: $("detail-body"),
    detailDot: $("detail-dot"),
    detailName: $("detail-name"),
    detailBadges: $("detail-badges"),
    detailSub: $("detail-sub"),
    inviteForm: $("visitor-invite-form"),
    inviteMessage: $("visitor-invite-message"),
    inviteSend: $("visitor-invite-send"),
    inviteStatus: $("visitor-invite-status"),
    inviteError: $("visitor-invite-error"),
    sections: $("detail-sections"),
  };
  S.view = "chats";
  root.dataset.view = "chats";
  dom.inviteMessage.value = T.inviteDefault;
  for (const tab of dom.tabs) tab.addEventListener("click", () => showView(tab.dataset.view));
  $("visitor-filters").addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(V.typingTimer); readFilter(); });
  dom.q.addEventListener("input", typed);
  dom.region.addEventListener("input", typed);
  dom.source.addEventListener("change", readFilter);
  dom.status.addEventListener("change", readFilter);
  dom.prev.addEventListener("click", () => page(-1));
  dom.next.addEventListener("click", () => page(1));
  dom.rows.addEventListener("click", (e) => {
    if (e.target.closest("a")) return; // a link to the visitor's page opens, nothing more
    const tr = e.target.closest("tr[data-id]");
    if (tr) selectVisitor(tr.dataset.id);
  });
  dom.rows.addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr[data-id]");
    if (tr && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); selectVisitor(tr.dataset.id); }
  });
  dom.inviteForm.addEventListener("submit", sendInvite);
  // Opening a chat from the sidebar (or accepting one) shows the chats again.
  root.addEventListener("cb:select", (e) => { if (!e.detail.auto) showView("chats"); });
  document.addEventListener("visibilitychange", () => { if (V.active && !document.hidden) tick(); });
}
