// Callbox agent console: queue, own and invited conversations, supervisors' live view,
// all over /api/console/ws. An ES module (no build step); its parts:
//   console-i18n.js   text catalog        console-base.js   state, HTTP, dialogs
//   console-lists.js  the sidebar lists   console-chat.js   the center pane
//   console-ws.js     socket, presence    console-team.js   transfer, conference, collision
//   canned.js         canned answers
//   console-visitors.js  the visitors view and invitations
//   console-visit.js     how a visit reads (times, sources, trails)
//   console-customer.js  the customer profile beside the chat
//   console-ticket.js    turn the open chat into a ticket
//   console-read.js      read state, sneak peek, the visitor's rating
//   console-kb.js        knowledge-base suggestions beside the chat, one key to insert
// Framework-free on purpose (STYLE.md #12). Every string that came from a user or
// visitor is inserted with textContent, never as HTML.

import { T, fmt } from "./console-i18n.js";
import {
  S, api, clearAlerts, convPath, errText, flash, me, renderTitle, root, ui, unlockAudio, visitorName,
} from "./console-base.js";
import {
  applyConversation, fillItem, loadTopics, startPolling, syncLists,
} from "./console-lists.js";
import {
  onInput, rememberScroll, renderChatHead, sendMessage, setNoteMode,
} from "./console-chat.js";
import { changePresence, connect, setPresence } from "./console-ws.js";
import { applyRole, loadWorkItems, wireTeam } from "./console-team.js";
import { closePicker, loadCanned, openManager, pickerKey, updatePicker } from "./canned.js";
import { wireVisitors } from "./console-visitors.js";
import { setBoxOffset } from "./console-visit.js";
import { wireProfile } from "./console-customer.js";
import { wireTicket } from "./console-ticket.js";
import { wireRead } from "./console-read.js";
import { wireFiles } from "./console-files.js";
import { wireSuggestions } from "./console-kb.js";

function translatePage() {
  for (const n of root.querySelectorAll("[data-i18n]")) n.textContent = T[n.dataset.i18n] || "";
  for (const n of root.querySelectorAll("[data-i18n-placeholder]")) n.placeholder = T[n.dataset.i18nPlaceholder] || "";
  for (const n of root.querySelectorAll("[data-i18n-label]")) {
    n.setAttribute("aria-label", T[n.dataset.i18nLabel] || "");
    n.title = T[n.dataset.i18nLabel] || "";
  }
}

async function closeSelected() {
  const rec = S.selected;
  if (!rec) return;
  // Ending a chat cannot be undone: one click beside the other buttons must not do it.
  if (!window.confirm(fmt("closeConfirm", { name: visitorName(rec.conv) }))) return;
  ui.closeBtn.disabled = true;
  try {
    const r = await api("POST", convPath(rec.id, "/close"), {});
    applyConversation(r.conversation, false);
  } catch (e) {
    flash(fmt("failed", { msg: errText(e) }));
  } finally {
    ui.closeBtn.disabled = false;
  }
}

function wireComposer() {
  ui.composer.addEventListener("submit", (e) => { e.preventDefault(); closePicker(); sendMessage(); });
  ui.input.addEventListener("input", () => { onInput(); updatePicker(); });
  ui.input.addEventListener("blur", closePicker);
  ui.input.addEventListener("keydown", (e) => {
    if (pickerKey(e)) return;
    // isComposing: Enter also confirms a pinyin/IME candidate and must not send.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendMessage();
    }
  });
  ui.noteMode.addEventListener("change", () => setNoteMode(ui.noteMode.checked));
}

// Who the user is decides the supervisor parts; the ready frame repeats it.
async function loadMe() {
  try {
    const r = await api("GET", "/api/console/me");
    setBoxOffset(r.utc_offset);
    if (r.user) {
      applyRole(r.user.role);
      if (r.user.status) setPresence(r.user.status);
    }
  } catch (e) {
    console.warn("callbox: /api/console/me failed", e);
  }
}

async function start() {
  translatePage();
  setPresence(me.status);
  renderTitle();
  renderChatHead();
  ui.presence.addEventListener("change", changePresence);
  ui.closeBtn.addEventListener("click", closeSelected);
  ui.cannedManage.addEventListener("click", openManager);
  wireComposer();
  wireTeam();
  wireVisitors();
  wireProfile();
  wireTicket();
  wireRead();
  wireFiles();
  wireSuggestions();
  ui.messages.addEventListener("scroll", rememberScroll);
  const seen = () => {
    if (document.hidden) return;
    clearAlerts();
    const rec = S.selected;
    if (rec && rec.unread && S.view === "chats") { rec.unread = 0; if (rec.li) fillItem(rec); }
  };
  window.addEventListener("focus", seen);
  document.addEventListener("visibilitychange", seen);
  for (const ev of ["pointerdown", "keydown"]) window.addEventListener(ev, unlockAudio, { passive: true });

  await loadMe();
  loadTopics().then(() => { for (const r of S.convs.values()) if (r.li) fillItem(r); });
  loadCanned();
  loadWorkItems();
  syncLists().catch((e) => flash(fmt("failed", { msg: errText(e) })));
  startPolling();
  connect();
}

if (root) start();
