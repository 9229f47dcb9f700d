// How a ticket's history reads on its page: the thread (public replies and internal
// notes, a chat's transcript folded) and the whole history, who did what and when, a
// field change as old -> new. Everything from the API goes in as text.

import { T, fmt } from "./console-i18n.js";
import { el } from "./console-base.js";
import { groupName, priorityText, stateText, ticketPage, userName, when } from "./ticket-fields.js";

const DESCRIPTION_SHOWN = 80; // characters of a changed description the history shows

/** Who made an entry: a colleague, the requester, or the box itself. */
export function actorName(h, page, dir) {
  if (h.by === "system") return T.systemActor;
  if (h.by === "customer") return (page.requester && page.requester.name) || T.customer;
  return userName(dir, Number(h.actor_id));
}

const chatLink = (id) => {
  const a = el("a", null, fmt("linkedChatId", { id: String(id || "").slice(-6) }));
  a.href = `/console/history/${encodeURIComponent(id || "")}`;
  return a;
};

// ---- The thread ------------------------------------------------------------------------
function threadEntry(h, page, dir, unfolded) {
  const publicReply = h.kind === "reply";
  const li = el("li", `entry ${h.kind}`);
  li.dataset.cb = "thread-entry";
  li.dataset.kind = h.kind;
  li.dataset.seq = String(h.seq);
  const meta = el("div", "meta");
  const time = el("time", null, when(h.at));
  time.dateTime = h.at;
  const label = el("span", "label", publicReply ? T.threadReply : T.threadNote);
  meta.append(label, el("span", "who", actorName(h, page, dir)), time);
  li.append(meta);
  const body = h.data.body || "";
  if (h.data.transcript_of) {
    // A chat's whole transcript: open, it would bury the thread.
    li.dataset.transcript = "1";
    const details = el("details", "transcript");
    details.dataset.cb = "transcript";
    details.open = unfolded.has(h.seq);
    details.addEventListener("toggle", () => {
      if (details.open) unfolded.add(h.seq);
      else unfolded.delete(h.seq);
    });
    const lines = body ? body.split("\n").length : 0;
    details.append(el("summary", null, fmt("transcriptSummary", { n: lines })), el("div", "text", body));
    li.append(details);
  } else if (h.data.merged_from) {
    // The box wrote "#<number> merged into this ticket" (for the API and older pages) and
    // the number on its own; said here in the page's language.
    const number = h.data.merged_from_number || (/^#(\S+)/.exec(body) || [])[1] || `#${h.data.merged_from}`;
    const link = el("a", null, fmt("mergedFrom", { number }));
    link.href = ticketPage(h.data.merged_from);
    const text = el("div", "text");
    text.append(link);
    li.append(text);
  } else {
    li.append(el("div", "text", body));
  }
  // Files the customer attached in the portal: downloads, by name.
  for (const f of Array.isArray(h.data.files) ? h.data.files : []) {
    const a = el("a", "file", String(f.name || ""));
    a.href = `/api/console/tickets/${page.ticket.id}/files/${encodeURIComponent(f.sha256 || "")}`;
    a.download = String(f.name || "");
    a.dataset.cb = "thread-file";
    const row = el("div", "files");
    row.append(a);
    li.append(row);
  }
  return li;
}

/**
 * The replies and notes, oldest first. `unfolded` holds the seqs of the transcripts
 * the agent opened, so they stay open when the page draws the ticket again.
 */
export function threadItems(page, dir, unfolded) {
  return page.history
    .filter((h) => h.kind === "reply" || h.kind === "note")
    .map((h) => threadEntry(h, page, dir, unfolded));
}

// ---- The history ---------------------------------------------------------------------------
const FIELD_TEXT = {
  subject: T.tfSubject,
  description: T.tfDescription,
  type: T.tfType,
  priority: T.tfPriority,
  group_id: T.tfGroup,
  owner_id: T.tfOwner,
  due_at: T.tfDue,
  tags: T.tfTags,
  followers: T.tfFollowers,
};

function valueText(field, v, dir) {
  if (v == null || v === "" || (Array.isArray(v) && !v.length)) {
    return field === "owner_id" ? T.unassigned : T.nothing;
  }
  if (field === "priority") return priorityText(v);
  if (field === "group_id") return groupName(dir, v);
  if (field === "owner_id") return userName(dir, v);
  if (field === "due_at") return when(v);
  if (field === "tags") return v.join(" ");
  if (field === "followers") return v.map((id) => userName(dir, id)).join(T.listSep);
  if (field === "description") return v.length > DESCRIPTION_SHOWN ? `${v.slice(0, DESCRIPTION_SHOWN)}…` : v;
  return String(v);
}

function historyItem(h, who, what, details, link) {
  const li = el("li");
  li.dataset.cb = "history-entry";
  li.dataset.kind = h.kind;
  const time = el("time", "when", when(h.at));
  time.dateTime = h.at;
  const line = el("div", "what");
  line.append(el("span", "who", who), " ", el("span", null, what));
  if (link) line.append(" ", link);
  li.append(time, line);
  if (details.length) {
    const ul = el("ul", "changes");
    for (const d of details) {
      const item = el("li", null, d.text);
      item.dataset.field = d.field;
      ul.append(item);
    }
    li.append(ul);
  }
  return li;
}

const SLA_METRIC = {
  first_response: () => T.slaFirstResponse,
  next_response: () => T.slaNextResponse,
  resolution: () => T.slaResolution,
};
const SLA_CHANGE = {
  started: () => T.slaStarted,
  paused: () => T.slaPausedChange,
  resumed: () => T.slaResumed,
  fulfilled: () => T.slaFulfilled,
  retargeted: () => T.slaRetargeted,
  stopped: () => T.slaStopped,
  warning: () => T.slaWarning,
  breach: () => T.slaBreach,
  level: () => T.slaLevel,
};

/** Every entry, newest first. */
export function historyItems(page, dir) {
  // Replay the entries to know each field's value before a change (created holds them
  // all), so a change reads as old -> new; a field never set before shows its new value.
  const now = {};
  let state = null;
  const items = [];
  for (const h of page.history) {
    const data = h.data || {};
    let what = h.kind; // a kind this page does not know yet (SLA, rules) shows as named
    let details = [];
    let link = null;
    if (h.kind === "created") {
      Object.assign(now, data);
      state = "new";
      what = T.histCreated;
    } else if (h.kind === "changed") {
      what = T.histChanged;
      details = Object.entries(data).map(([field, to]) => {
        const label = FIELD_TEXT[field] || field;
        const text = field in now
          ? fmt("histFieldChange", { field: label, from: valueText(field, now[field], dir), to: valueText(field, to, dir) })
          : fmt("histFieldSet", { field: label, to: valueText(field, to, dir) });
        now[field] = to;
        return { field, text };
      });
    } else if (h.kind === "state") {
      what = state
        ? fmt("histState", { from: stateText(state), to: stateText(data.to) })
        : fmt("histStateSet", { to: stateText(data.to) });
      state = data.to;
    } else if (h.kind === "reply") {
      what = T.histReply;
    } else if (h.kind === "note") {
      what = data.transcript_of ? T.histTranscript : T.histNote;
    } else if (h.kind === "merged") {
      what = T.histMerged;
      state = "merged";
      link = el("a", null, T.openTicket);
      link.href = ticketPage(data.into);
    } else if (h.kind === "linked") {
      what = T.histLinked;
      link = chatLink(data.conversation_id);
    } else if (h.kind === "sla") {
      const metric = (SLA_METRIC[data.metric] || (() => data.metric))();
      const change = (SLA_CHANGE[data.change] || (() => data.change))();
      what = fmt("histSla", { metric, change });
    } else if (h.kind === "rule") {
      what = fmt("histRule", { name: data.name || "" });
    } else if (h.kind === "work") {
      what = fmt("histWork", { minutes: data.minutes || 0, materials: data.materials || "" });
    } else if (h.kind === "rating") {
      what = fmt("histRating", { score: data.score });
    }
    items.push(historyItem(h, actorName(h, page, dir), what, details, link));
  }
  return items.reverse();
}
