// The side panel of the open chat: the customer behind the visitor when known (name,
// contact, tier, notes editable; visits and conversations across devices), else what
// this visit tells (region, source, trail). Everything from visitors goes in as text.

import { T, fmt } from "./console-i18n.js";
import { S, api, el, errText, root, tierText, ui } from "./console-base.js";
import { fillItem } from "./console-lists.js";
import { renderChatHead } from "./console-chat.js";
import { stateBadge, ticketPage } from "./ticket-fields.js";
import {
  boxDateTime, chatLines, deviceText, listOf, regionText, section, sourceText, tierBadge,
  trailList, visitLines,
} from "./console-visit.js";

const RELOAD_AFTER = 30000; // ms; re-opening the same chat within this keeps the panel as is
const SAVED_FOR = 3000; // ms the "saved" note stays up
const TICKETS_SHOWN = 5; // the customer's latest tickets in the panel; the list has all
const TIER_RELOAD = 1000; // ms after a tier change in the chat head before the panel reloads
const COLLAPSED_KEY = "callbox.profile.hidden";

const P = {
  panel: null,
  toggle: null,
  vid: null, // visitor shown
  loadedAt: 0,
  token: 0,
  dirty: false, // the agent has typed into the form and not saved
  collapsed: false,
};

const TIERS = ["vip", "member", "new"];

// ---- Summary (also shown in the visitors view's detail panel) -----------------------
export function profileSummary(c) {
  const head = el("div", "profile-name");
  head.append(el("strong", null, c.name || T.customer));
  const tier = tierBadge(c.tier);
  if (tier) head.append(" ", tier);
  head.append(" ", el("span", `badge ${c.verified ? "verified" : "unverified"}`, c.verified ? T.verified : T.unverified));
  const out = [head];
  const dl = el("dl", "facts");
  const fact = (label, value) => { if (value) dl.append(el("dt", null, label), el("dd", null, value)); };
  fact(T.fieldEmail, c.email);
  fact(T.fieldPhone, c.phone);
  fact(T.fieldNotes, c.notes);
  if (Array.isArray(c.visits)) fact(T.earlierVisits, fmt("visitsCount", { n: c.visits.length }));
  if (dl.children.length) out.push(dl);
  return out;
}

// ---- Panel -----------------------------------------------------------------------------
const visitorOf = (rec) => (rec && rec.conv.visitor && rec.conv.visitor.id) || null;

export function syncProfilePanel() {
  if (!P.panel) return;
  const chats = (S.view || "chats") === "chats";
  const vid = visitorOf(S.selected);
  P.toggle.hidden = !vid;
  P.toggle.setAttribute("aria-pressed", String(!P.collapsed));
  P.toggle.textContent = P.collapsed ? T.profile : T.profileHide;
  P.panel.hidden = !(chats && vid && !P.collapsed);
  root.classList.toggle("with-profile", !P.panel.hidden);
}

function onSelect() {
  syncProfilePanel();
  const vid = visitorOf(S.selected);
  if (!vid) return;
  if (vid === P.vid && (P.dirty || Date.now() - P.loadedAt < RELOAD_AFTER)) return;
  load(vid);
}

const heading = (text) => el("h2", null, text);

async function load(vid) {
  const token = ++P.token;
  P.vid = vid;
  P.dirty = false;
  P.loadedAt = Date.now();
  let visitor = null;
  try {
    visitor = (await api("GET", `/api/console/visitors/${encodeURIComponent(vid)}`)).visitor || null;
  } catch (e) {
    if (token !== P.token) return;
    P.panel.replaceChildren(heading(T.profile), el("p", "muted", e.code === "not_found" ? T.profileGone : fmt("failed", { msg: errText(e) })));
    P.panel.dataset.kind = "none";
    return;
  }
  if (token !== P.token) return;
  const known = visitor && visitor.customer;
  if (!known) {
    renderVisitor(visitor || { id: vid });
    return;
  }
  // The visitor's answer carries the whole profile; ask for it only when it does not.
  let profile = known;
  if (!Array.isArray(known.visits)) {
    try {
      profile = (await api("GET", `/api/console/customers/${encodeURIComponent(known.id)}`)).customer || known;
    } catch (e) {
      console.warn("callbox: customer profile not loaded", e);
    }
  }
  if (token !== P.token) return;
  renderCustomer(profile, visitor);
}

// An unknown visitor: nothing to create, only what this visit says.
function renderVisitor(v) {
  P.panel.dataset.kind = "visitor";
  const dl = el("dl", "facts");
  const fact = (label, value) => dl.append(el("dt", null, label), el("dd", null, value));
  fact(T.filterRegion, regionText(v.region));
  fact(T.filterSource, sourceText(v.source));
  // Each fact under its own name (the live list's columns pair two facts per heading).
  fact(T.factVisit, v.returning ? fmt("visitReturning", { n: v.visits || 2 }) : T.visitNew);
  fact(T.factDevice, deviceText(v.device));
  if (v.first_seen_at) fact("", fmt("firstSeen", { date: boxDateTime(v.first_seen_at) }));
  const hint = el("p", "muted", T.notIdentified);
  hint.dataset.cb = "profile-unknown";
  P.panel.replaceChildren(
    heading(T.viewVisitors),
    hint,
    dl,
    section(T.trail, "profile-trail", trailList(v.trail, v.online)),
    section(T.earlierVisits, "profile-visits", listOf(visitLines(v.visits), "plain")),
    section(T.earlierChats, "profile-chats", listOf(chatLines(v.conversations), "plain")),
  );
}

function input(name, value, label, max) {
  const wrap = el("label", "field");
  const box = name === "notes" ? el("textarea") : el("input");
  box.name = name;
  box.value = value || "";
  box.maxLength = max;
  if (name === "notes") box.rows = 4;
  if (name === "email") box.type = "email";
  if (name === "phone") box.type = "tel";
  box.dataset.cb = `customer-${name}`;
  wrap.append(el("span", null, label), box);
  return wrap;
}

function renderCustomer(c, visitor) {
  P.panel.dataset.kind = "customer";
  P.panel.dataset.customerId = String(c.id);
  const head = el("div", "profile-name");
  head.dataset.cb = "customer-head";
  head.append(el("strong", null, c.name || T.customer));
  const tier = tierBadge(c.tier);
  if (tier) head.append(" ", tier);
  const badge = el("span", `badge ${c.verified ? "verified" : "unverified"}`, c.verified ? T.verified : T.unverified);
  badge.dataset.cb = "customer-verified";
  head.append(" ", badge);

  const form = el("form", "profile-form");
  form.dataset.cb = "customer-form";
  form.autocomplete = "off";
  const tierSel = el("select");
  tierSel.name = "tier";
  tierSel.dataset.cb = "customer-tier";
  for (const t of TIERS) tierSel.append(Object.assign(el("option", null, tierText(t)), { value: t }));
  tierSel.value = TIERS.includes(c.tier) ? c.tier : "new";
  const tierRow = el("label", "field");
  tierRow.append(el("span", null, T.tier), tierSel);
  const err = el("p", "error");
  err.hidden = true;
  err.dataset.cb = "customer-error";
  err.setAttribute("role", "alert");
  const ok = el("span", "ok", T.saved);
  ok.hidden = true;
  ok.dataset.cb = "customer-saved";
  const save = el("button", null, T.save);
  save.type = "submit";
  save.dataset.cb = "customer-save";
  const actions = el("div", "actions");
  actions.append(save, ok);
  form.append(
    input("name", c.name, T.fieldName, 100),
    input("email", c.email, T.fieldEmail, 254),
    input("phone", c.phone, T.fieldPhone, 32),
    tierRow,
    input("organisation", c.organisation, T.fieldOrganisation, 100),
    input("notes", c.notes, T.fieldNotes, 2000),
    err,
    actions,
  );
  form.addEventListener("input", () => { P.dirty = true; ok.hidden = true; });
  form.addEventListener("submit", (e) => { e.preventDefault(); saveCustomer(c, form, save, err, ok, visitor); });

  const devices = (c.visitors || []).map((d) => el("li", null, [deviceText(d.device), d.last_seen_at ? boxDateTime(d.last_seen_at) : ""].filter(Boolean).join(" · ")));
  const trail = visitor && visitor.trail ? [section(T.trail, "profile-trail", trailList(visitor.trail, visitor.online))] : [];
  P.panel.replaceChildren(
    heading(T.profile),
    head,
    form,
    ...trail,
    section(T.earlierVisits, "profile-visits", listOf(visitLines(c.visits), "plain")),
    section(T.earlierChats, "profile-chats", listOf(chatLines(c.conversations), "plain")),
    section(T.devices, "profile-devices", listOf(devices, "plain")),
    customerTickets(c),
  );
}

// The customer's latest tickets (those the user may see), newest change first, with a
// link to all of them in the ticket list; filled in when the list answers.
function customerTickets(c) {
  const box = section(T.customerTickets, "profile-tickets", [el("p", "muted", "…")]);
  const token = P.token;
  const p = new URLSearchParams({ view: "all", requester_id: String(c.id), limit: String(TICKETS_SHOWN) });
  api("GET", `/api/console/tickets?${p}`).then((r) => {
    if (token !== P.token) return;
    const lines = r.tickets.map((t) => {
      const li = el("li");
      const a = el("a", null, `${t.number} ${t.subject}`);
      a.href = ticketPage(t.id);
      a.target = "_blank";
      a.rel = "noopener";
      li.append(a, " ", stateBadge(t.state, el("span")));
      return li;
    });
    const all = el("a", null, fmt("customerTicketsAll", { n: r.total }));
    all.href = `/console/tickets?${new URLSearchParams({ view: "all", requester_id: String(c.id) })}`;
    all.target = "_blank";
    all.dataset.cb = "profile-tickets-all";
    box.replaceChildren(box.firstChild, ...(lines.length ? [...listOf(lines, "plain"), all] : [el("p", "muted", T.nothing)]));
  }).catch((e) => {
    if (token === P.token) box.replaceChildren(box.firstChild, el("p", "muted", fmt("failed", { msg: errText(e) })));
  });
  return box;
}

async function saveCustomer(c, form, save, err, ok, visitor) {
  const body = {};
  for (const name of ["name", "email", "phone", "tier", "organisation", "notes"]) {
    const value = form.elements[name].value;
    if (value !== (c[name] || "")) body[name] = name === "tier" ? value : value.trim();
  }
  err.hidden = true;
  if (!Object.keys(body).length) { P.dirty = false; return; }
  save.disabled = true;
  try {
    const r = await api("PATCH", `/api/console/customers/${encodeURIComponent(c.id)}`, body);
    const fresh = { ...c, ...(r.customer || body) };
    P.dirty = false;
    if (body.tier) showTier(fresh, body.tier);
    renderCustomer(fresh, visitor);
    const note = P.panel.querySelector('[data-cb="customer-saved"]');
    if (note) {
      note.hidden = false;
      setTimeout(() => { note.hidden = true; }, SAVED_FOR);
    }
  } catch (e) {
    err.textContent = fmt("failed", { msg: errText(e) });
    err.hidden = false;
  } finally {
    save.disabled = false;
  }
}

// The box gives every device of the customer the new tier: so do their chats here.
function showTier(c, tier) {
  const ids = new Set((c.visitors || []).map((v) => v.id));
  ids.add(P.vid);
  for (const rec of S.convs.values()) {
    if (!rec.conv.visitor || !ids.has(rec.conv.visitor.id)) continue;
    rec.conv = { ...rec.conv, tier };
    if (rec.li) fillItem(rec);
  }
  renderChatHead();
}

export function wireProfile() {
  P.panel = root.querySelector('[data-cb="profile"]');
  P.toggle = root.querySelector('[data-cb="profile-toggle"]');
  try { P.collapsed = localStorage.getItem(COLLAPSED_KEY) === "1"; } catch (_) { /* storage off */ }
  P.toggle.addEventListener("click", () => {
    P.collapsed = !P.collapsed;
    try { localStorage.setItem(COLLAPSED_KEY, P.collapsed ? "1" : "0"); } catch (_) { /* storage off */ }
    syncProfilePanel();
    if (!P.collapsed) onSelect();
  });
  root.addEventListener("cb:select", onSelect);
  // A tier chosen in the chat head goes to the customer too: show it once saved.
  ui.tier.addEventListener("change", () => {
    P.loadedAt = 0;
    setTimeout(() => { if (!P.dirty && P.vid === visitorOf(S.selected)) load(P.vid); }, TIER_RELOAD);
  });
  syncProfilePanel();
}
