// How a visit reads in the console: box-local times, regions, sources, devices,
// page links, trails and the lists of visits and conversations, shared by the
// visitors view and the profile panel. Visitor data goes in as text; links only
// to http(s) pages, opened without opener or referrer.

import { LANG, T, fmt } from "./console-i18n.js";
import { el, isOverseer, me, tierText } from "./console-base.js";

// ---- Times --------------------------------------------------------------------
let zoneOffset = null; // minutes east of UTC of the box, once known
let zoneTold = false; // the box said it (me, ready frame): ISO strings no longer count

// The box's offset from UTC, as /api/console/me and the ready frame tell it.
export function setBoxOffset(minutes) {
  if (typeof minutes !== "number" || !Number.isFinite(minutes)) return;
  zoneOffset = minutes;
  zoneTold = true;
}

// Until it is told, learn it from the times the box sends (ISO 8601 with its offset),
// so they show the box's wall clock (a remote agent may sit elsewhere).
function learnZone(iso) {
  if (zoneTold || typeof iso !== "string") return;
  const m = /([+-])(\d{2}):?(\d{2})$/.exec(iso);
  if (m) zoneOffset = (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  else if (/Z$/.test(iso)) zoneOffset = 0;
}

// Epoch milliseconds of a wire time (ISO 8601), or null.
export function wireMs(text) {
  if (typeof text !== "string") return null;
  const ms = new Date(text).getTime();
  return Number.isFinite(ms) ? ms : null;
}

// {date: "YYYY-MM-DD", time: "HH:MM"} in box-local time, from a wire time.
export function boxClock(value) {
  const ms = wireMs(value);
  if (ms === null) return { date: "", time: "" };
  learnZone(value);
  const offset = zoneOffset === null ? -new Date(ms).getTimezoneOffset() : zoneOffset;
  const iso = new Date(ms + offset * 60000).toISOString();
  return { date: iso.slice(0, 10), time: iso.slice(11, 16) };
}

export const boxDateTime = (value) => {
  const c = boxClock(value);
  return c.date ? `${c.date} ${c.time}` : "";
};

// mm:ss, or h:mm:ss from an hour on.
export function dwellText(ms) {
  const s = Math.max(0, Math.floor((Number(ms) || 0) / 1000));
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${mm}:${ss}`;
}

const ENGINES = {
  "zh-CN": { baidu: "百度", sogou: "搜狗", so360: "360 搜索", shenma: "神马", bing: "必应", google: "谷歌", toutiao: "头条搜索", yandex: "Yandex", duckduckgo: "DuckDuckGo", yahoo: "雅虎" },
  en: { baidu: "Baidu", sogou: "Sogou", so360: "360 Search", shenma: "Shenma", bing: "Bing", google: "Google", toutiao: "Toutiao", yandex: "Yandex", duckduckgo: "DuckDuckGo", yahoo: "Yahoo" },
};
const engineName = (key) => ENGINES[LANG][key] || key || T.sourceSearch;

export function regionText(region) {
  const r = region || {};
  if (r.label) return r.label;
  return r.status === "private" ? T.regionPrivate : T.regionUnknown;
}

// A source object as the server sends it, or the flat columns of a stored visit.
export function sourceText(src) {
  const s = src || {};
  const kind = s.kind || s.source_kind || "direct";
  if (kind === "search") {
    const engine = engineName(s.engine);
    return s.keyword ? fmt("searchKeyword", { engine, keyword: s.keyword }) : fmt("searchHidden", { engine });
  }
  if (kind === "campaign") {
    const utm = s.utm || {};
    const name = s.campaign || utm.utm_campaign || utm.campaign || s.site || s.referrer_host || "";
    return name ? fmt("campaignName", { name }) : T.sourceCampaign;
  }
  if (kind === "referral") {
    const site = s.site || s.referrer_host || "";
    return site ? fmt("referralSite", { site }) : T.sourceReferral;
  }
  return T.sourceDirect;
}

const KINDS = { mobile: "kindMobile", tablet: "kindTablet", desktop: "kindDesktop", bot: "kindBot" };

export function deviceText(device) {
  const d = device || {};
  const kind = T[KINDS[d.kind] || "kindUnknown"];
  const parts = [d.browser, d.os].filter(Boolean).join(" · ");
  if (!parts) return kind;
  return LANG === "en" ? `${parts} (${kind})` : `${parts}（${kind}）`;
}

// A link to a page the visitor saw: only http(s), new tab, no opener, no referrer.
export function pageLink(url, text, cls) {
  let u = null;
  try { u = new URL(String(url || "")); } catch (_) { /* not an absolute URL */ }
  const label = text || String(url || "");
  if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) return el("span", cls || "url", label);
  const a = el("a", cls || "url", label);
  a.href = u.href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.title = u.href;
  return a;
}

export const visitorLabel = (id) => `${T.visitor} ${String(id || "").slice(-4)}`;

export function statusOf(row) {
  if (row.status === "browsing" || row.status === "chatting" || row.status === "invited") return row.status;
  if (row.conversation_id) return "chatting";
  if (row.invitation && row.invitation.status === "pending") return "invited";
  return "browsing";
}

const STATUS_TEXT = { browsing: "statusBrowsing", chatting: "statusChatting", invited: "statusInvited" };
export const statusText = (status) => T[STATUS_TEXT[status]];

export function tierBadge(tier) {
  return tier === "vip" || tier === "member" ? el("span", `badge tier-${tier}`, tierText(tier)) : null;
}

// ---- Lists ----------------------------------------------------------------------
export function section(title, cb, nodes) {
  const s = el("section", "detail-section");
  s.dataset.cb = cb;
  s.append(el("h3", null, title), ...(nodes.length ? nodes : [el("p", "muted", T.nothing)]));
  return s;
}

// How long a step of the trail was looked at: the visible time its beacon reported;
// without a report, the time until the next page (or until now on the last one).
function stepDwell(steps, i, online) {
  const p = steps[i];
  const last = i === steps.length - 1;
  if (p.dwell_ms > 0 && !(online && last)) return p.dwell_ms;
  const end = last ? (online ? Date.now() : null) : wireMs(steps[i + 1].started_at);
  const start = wireMs(p.started_at);
  if (end === null || start === null) return p.dwell_ms || 0;
  return Math.max(p.dwell_ms || 0, end - start);
}

// The pages of one visit, with their time on page.
export function trailList(trail, online) {
  const ol = el("ol", "trail");
  const steps = trail || [];
  steps.forEach((p, i) => {
    const li = el("li");
    li.dataset.cb = "trail-item";
    const time = el("span", "time", boxClock(p.started_at).time);
    const dwell = el("span", "dwell", dwellText(stepDwell(steps, i, online)));
    dwell.dataset.cb = "dwell";
    li.append(time, pageLink(p.url, p.title || p.url, "title"), dwell);
    ol.append(li);
  });
  return ol.children.length ? [ol] : [];
}

export function visitLines(visits) {
  return (visits || []).map((v) => {
    const li = el("li", null, fmt("visitLine", {
      date: boxDateTime(v.started_at),
      source: sourceText(v.source || v),
      pages: v.pages || 0,
    }));
    li.dataset.cb = "visit-item";
    return li;
  });
}

// The transcript page opens for supervisors, and for agents on their own chats only.
function mayRead(c) {
  if (isOverseer()) return true;
  if (c.agent_id != null) return Number(c.agent_id) === me.id;
  return typeof c.agent === "string" && c.agent === me.name;
}

export function chatLines(convs) {
  return (convs || []).map((c) => {
    const li = el("li");
    li.dataset.cb = "chat-item";
    const agent = (typeof c.agent === "string" ? c.agent : c.agent && c.agent.display_name) || "—";
    li.append(el("span", null, fmt("chatLine", { date: boxDateTime(c.created_at), agent })));
    if (c.rating) {
      const r = el("span", "badge rating", fmt("ratingShort", { n: c.rating }));
      r.dataset.cb = "chat-rating";
      li.append(" ", r);
    }
    if (mayRead(c)) {
      const a = el("a", null, T.transcriptLink);
      a.href = `/console/history/${encodeURIComponent(c.id)}`;
      a.target = "_blank";
      a.rel = "noopener";
      li.append(" ", a);
    }
    // The quality review page, as on the transcript page: overseers, ended chats.
    if (isOverseer() && c.status === "closed") {
      const q = el("a", null, T.qaReview);
      q.href = `/console/history/${encodeURIComponent(c.id)}/review`;
      q.target = "_blank";
      q.rel = "noopener";
      q.dataset.cb = "qa-open";
      li.append(" ", q);
    }
    return li;
  });
}

export function listOf(items, cls) {
  if (!items.length) return [];
  const ul = el("ul", cls);
  ul.append(...items);
  return [ul];
}
