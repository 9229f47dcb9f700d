// Read state, sneak peek and the visitor's rating, in the center pane.
// - The agent's side: when a chat the agent owns (or was invited into) is on screen,
//   the console tells the box how far it has been read (`read`, once per burst); the
//   box tells the visitor. The visitor's side comes back as `read` frames and marks
//   the agent's own messages "read".
// - Sneak peek: `peek` frames carry what the visitor is typing; the typing line shows
//   it until they send it or clear it (console-chat.js renderTyping).
// - Feedback: an ended chat shows the visitor's rating, comment and transcript request
//   (fetched when the chat is opened, updated by `feedback` frames).
// Every string from a visitor is inserted as text.

import { T, fmt } from "./console-i18n.js";
import { S, api, convPath, el, onScreen, root } from "./console-base.js";
import { roleOf } from "./console-lists.js";
import { renderTyping } from "./console-chat.js";
import { wsSend } from "./console-ws.js";

const READ_DELAY = 300; // ms; messages shown in a burst are told in one read frame

/** Tell the box the agent has read the chat on screen, soon and once per burst. */
export function readSoon(rec) {
  if (!rec || rec.readTimer) return;
  rec.readTimer = setTimeout(() => {
    rec.readTimer = 0;
    const role = roleOf(rec);
    if (!onScreen(rec) || (role !== "owner" && role !== "guest")) return;
    if (rec.lastSeq > (rec.readSent || 0) && wsSend({ type: "read", conversation_id: rec.id, seq: rec.lastSeq })) {
      rec.readSent = rec.lastSeq;
    }
  }, READ_DELAY);
}

/** Mark the agents' messages the visitor has read. */
export function paintRead(rec) {
  const upTo = rec.visitorRead || 0;
  for (const b of rec.list.querySelectorAll('.msg.agent[data-seq]:not([data-read])')) {
    if (Number(b.dataset.seq) > upTo || b.dataset.visibility === "staff") continue;
    b.dataset.read = "1";
    const meta = b.querySelector(".meta");
    if (meta) meta.append(el("span", "read", T.readByVisitor));
  }
}

export function onReadFrame(f) {
  const rec = S.convs.get(f.conversation_id);
  if (!rec || typeof f.seq !== "number") return;
  if (f.reader === "visitor") {
    rec.visitorRead = Math.max(rec.visitorRead || 0, f.seq);
    paintRead(rec);
  } else {
    rec.readSent = Math.max(rec.readSent || 0, f.seq); // a colleague, or another tab
  }
}

export function onPeekFrame(f) {
  const rec = S.convs.get(f.conversation_id);
  if (!rec) return;
  rec.peek = typeof f.text === "string" ? f.text : "";
  if (rec === S.selected) renderTyping();
}

// ---- feedback ----------------------------------------------------------------
function feedbackEl(rec) {
  if (!rec.feedbackEl) {
    rec.feedbackEl = el("div", "feedback");
    rec.feedbackEl.dataset.cb = "feedback";
    rec.feedbackEl.setAttribute("role", "status");
    rec.pane.append(rec.feedbackEl);
  }
  return rec.feedbackEl;
}

function renderFeedback(rec, fb) {
  const box = feedbackEl(rec);
  const lines = [];
  if (fb && fb.rating) {
    const r = el("p", "rating", fmt("ratingLine", { n: fb.rating.score }));
    r.dataset.cb = "feedback-rating";
    r.dataset.score = String(fb.rating.score);
    lines.push(r);
    if (fb.rating.comment) {
      const c = el("p", "comment", fb.rating.comment);
      c.dataset.cb = "feedback-comment";
      lines.push(c);
    }
  }
  if (fb && fb.transcript) {
    const key = fb.transcript.sent_at ? "transcriptMailed" : "transcriptAsked";
    const tr = el("p", "transcript", fmt(key, { email: fb.transcript.email }));
    tr.dataset.cb = "feedback-transcript";
    lines.push(tr);
  }
  box.replaceChildren(...lines);
  box.hidden = !lines.length;
  if (fb && fb.rating) rec.conv = { ...rec.conv, rating: fb.rating.score };
}

export function onFeedbackFrame(f) {
  const fb = f.feedback;
  const rec = fb && S.convs.get(fb.conversation_id);
  if (rec) renderFeedback(rec, fb);
}

async function loadFeedback(rec) {
  if (rec.feedbackLoaded) return;
  rec.feedbackLoaded = true;
  try {
    const r = await api("GET", convPath(rec.id, "/feedback"));
    renderFeedback(rec, r.feedback);
  } catch (_) {
    rec.feedbackLoaded = false; // asked again the next time it is opened
  }
}

/** Follow the open chat: read it, and show an ended one's feedback. */
export function wireRead() {
  root.addEventListener("cb:select", (e) => {
    const rec = S.convs.get(e.detail.id);
    if (!rec) return;
    readSoon(rec);
    if (rec.closed) loadFeedback(rec);
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) readSoon(S.selected); });
}

/** A chat on screen ended (its "closed" event was shown). */
export function chatEnded(rec) {
  if (rec === S.selected) loadFeedback(rec);
}
