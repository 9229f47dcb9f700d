// Knowledge-base suggestions beside the open chat: from the visitor's last messages the
// box suggests up to three published articles (GET /api/console/kb/suggest); the agent
// puts one into the reply with one key. Alt+1..3 inserts suggestion 1..3: a public
// article as its title and link, an internal one (no page for visitors) as its first
// paragraph; Alt+Shift+1..3 always inserts the paragraph. On a focused suggestion, Enter
// and Shift+Enter do the same. Titles, snippets and summaries go in as text.

import { T, fmt } from "./console-i18n.js";
import { S, api, el, root, ui } from "./console-base.js";

const DEBOUNCE = 600; // ms after the last visitor message before asking
const MESSAGES = 3; // the visitor's latest messages looked at
const TEXT_MAX = 600; // characters sent (the server's bound)
const SHOWN = 3; // suggestions shown, one key each

const K = { panel: null, list: null, timer: 0, asked: "", token: 0, items: [] };

// The visitor's latest messages in the open chat, newest last, as one text.
function visitorText(rec) {
  const bodies = [...rec.list.querySelectorAll('[data-sender="visitor"] .body')].slice(-MESSAGES);
  const text = bodies.map((b) => b.textContent.trim()).filter(Boolean).join("\n");
  return text.slice(-TEXT_MAX);
}

const composing = () => !!S.selected && !ui.input.disabled;

function clear() {
  K.items = [];
  K.list.replaceChildren();
  K.panel.hidden = true;
}

function refreshSoon() {
  clearTimeout(K.timer);
  K.timer = setTimeout(refresh, DEBOUNCE);
}

async function refresh() {
  const rec = S.selected;
  if (!rec || !composing()) { clear(); K.asked = ""; return; }
  const text = visitorText(rec);
  if (!text) { clear(); K.asked = ""; return; }
  if (text === K.asked && K.items.length) { K.panel.hidden = false; return; }
  K.asked = text;
  const token = ++K.token;
  try {
    const r = await api("GET", `/api/console/kb/suggest?limit=${SHOWN}&text=${encodeURIComponent(text)}`);
    if (token !== K.token || rec !== S.selected) return;
    render(r.suggestions || []);
  } catch (e) {
    console.warn("callbox: suggestions failed", e);
  }
}

function snippetNode(pieces) {
  const p = el("p", "kb-snippet");
  for (const piece of pieces || []) p.append(piece.mark ? el("mark", null, piece.text) : document.createTextNode(piece.text));
  return p;
}

function render(found) {
  K.items = found.slice(0, SHOWN);
  K.list.replaceChildren();
  K.items.forEach((s, i) => {
    const li = el("li", "kb-suggestion");
    li.dataset.cb = "kb-suggestion";
    li.dataset.articleId = String(s.article_id);
    li.tabIndex = 0;
    const head = el("div", "kb-suggestion-head");
    head.append(el("kbd", null, `Alt+${i + 1}`), " ", el("strong", null, s.title));
    if (s.audience === "internal") head.append(" ", el("span", "badge", T.kbSuggestInternal));
    li.append(head, snippetNode(s.snippet));
    const actions = el("div", "kb-suggestion-actions");
    if (s.url) actions.append(insertButton(T.kbInsertLink, () => insert(i, "link"), "kb-insert-link"));
    actions.append(insertButton(T.kbInsertSnippet, () => insert(i, "snippet"), "kb-insert-snippet"));
    li.append(actions);
    li.title = fmt("kbSuggestKeys", { n: i + 1 });
    K.list.append(li);
  });
  K.panel.hidden = !K.items.length;
}

function insertButton(text, onClick, hook) {
  const b = el("button", "link", text);
  b.type = "button";
  b.dataset.cb = hook;
  b.addEventListener("click", onClick);
  return b;
}

// What a suggestion puts into the reply: its link (public) or its first paragraph.
function textOf(s, how) {
  if (how === "link" && s.url) return fmt("kbLinkText", { title: s.title, url: s.url });
  return s.summary || s.title;
}

// Into the composer at the caret (replacing a selection), as if typed.
export function insert(index, how) {
  const s = K.items[index];
  if (!s || !composing()) return false;
  const input = ui.input;
  const text = textOf(s, how);
  const start = input.selectionStart ?? input.value.length;
  const end = input.selectionEnd ?? start;
  const before = input.value.slice(0, start);
  const pad = /[A-Za-z0-9.,!?:;]$/.test(before) ? " " : ""; // after a Latin word, a space
  input.setRangeText(pad + text, start, end, "end");
  input.dispatchEvent(new Event("input", { bubbles: true }));
  input.focus();
  return true;
}

function onKey(e) {
  if (!K.items.length || K.panel.hidden) return;
  const m = /^Digit([1-9])$/.exec(e.code || "");
  if (e.altKey && !e.ctrlKey && !e.metaKey && m) {
    const index = Number(m[1]) - 1;
    if (index >= K.items.length) return;
    e.preventDefault();
    insert(index, e.shiftKey ? "snippet" : "link");
    return;
  }
  const item = e.target.closest && e.target.closest('[data-cb="kb-suggestion"]');
  if (item && e.key === "Enter" && !e.isComposing) {
    e.preventDefault();
    insert([...K.list.children].indexOf(item), e.shiftKey ? "snippet" : "link");
  }
}

export function wireSuggestions() {
  K.panel = root.querySelector('[data-cb="kb-suggest"]');
  if (!K.panel) return;
  K.list = el("ol", "kb-suggestions");
  K.panel.append(el("h2", null, T.kbSuggestTitle), K.list);
  root.addEventListener("cb:select", () => { K.asked = ""; clear(); refreshSoon(); });
  root.addEventListener("cb:visitor-message", (e) => {
    if (S.selected && e.detail && e.detail.id === S.selected.id) refreshSoon();
  });
  root.addEventListener("keydown", onKey);
}
