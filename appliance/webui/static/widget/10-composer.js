// ---- composer ------------------------------------------------------------------------
function sendTyping(active) {
  if (convId && wsReady && !isClosed()) sendFrame({ type: "typing", conversation_id: convId, active });
}

function stopTyping() {
  clearTimeout(typingIdleTimer);
  if (typingOn) { typingOn = false; sendTyping(false); }
}

function autosize() {
  input.style.height = "auto";
  input.style.height = Math.min(input.scrollHeight + 2, 120) + "px";
}

function onInput() {
  autosize();
  if (!convId || !wsReady || isClosed()) return;
  peekSoon();
  clearTimeout(typingIdleTimer);
  typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE);
  if (Date.now() - typingSentAt >= TYPING_THROTTLE) {
    typingSentAt = Date.now();
    typingOn = true;
    sendTyping(true);
  }
}

function submit() {
  const body = input.value;
  if (!body.trim()) return;
  if (byteLength(body) > MAX_BODY) { notice(t("tooLarge")); return; } // kept in the box to shorten
  if (isClosed()) newChat();
  stopTyping();
  input.value = "";
  autosize();
  const item = { client_msg_id: uuid(), conversation_id: convId, body };
  outbox.push(item);
  saveOutbox();
  addPending(item);
  if (convId && wsReady) flushOutbox();
  else if (!creatingP) sync();
}

function setOpen(open) {
  isOpen = open;
  panel.hidden = !open;
  root.classList.toggle("open", open);
  launcher.setAttribute("aria-expanded", String(open));
  launcher.replaceChild(icon(open ? CLOSE_ICON : CHAT_ICON), launcher.firstChild);
  if (open) {
    markSeen();
    toBottom();
    input.focus();
    if (!convId) loadTopics(); // a no-op once they are in; asks again if the first try failed
    loadTickets();
  } else if (deskOn) closeDesk(false); // it opens again on the chat
  renderInvite();
}

function endChat() {
  if (!convId || isClosed()) return;
  // Two clicks: ending a chat by a stray tap would drop the visitor out of the queue.
  if (!closeBtn.hasAttribute("data-confirm")) {
    closeBtn.setAttribute("data-confirm", "1");
    closeBtn.textContent = t("endConfirm");
    confirmTimer = setTimeout(resetConfirm, CONFIRM_TTL);
    return;
  }
  resetConfirm();
  const id = convId;
  api("POST", "/api/visitor/conversations/" + encodeURIComponent(id) + "/close")
    .then((r) => { if (id === convId && r.conversation) applyConversation(r.conversation); })
    .catch(() => notice(t("offline")));
}

function resetConfirm() {
  clearTimeout(confirmTimer);
  closeBtn.removeAttribute("data-confirm");
  closeBtn.textContent = t("endChat");
}

launcher.addEventListener("click", () => setOpen(!isOpen));
minBtn.addEventListener("click", () => setOpen(false));
closeBtn.addEventListener("click", endChat);
newChatBtn.addEventListener("click", newChat);
ofMessageBtn.addEventListener("click", () => openLeaveForm("message"));
ofCallbackBtn.addEventListener("click", () => openLeaveForm("callback"));
ofWaitBtn.addEventListener("click", keepWaiting);
wiBack.addEventListener("click", () => { leave.mode = "offer"; renderLeave(); });
wiForm.addEventListener("submit", (e) => { e.preventDefault(); submitLeave(); });
sendBtn.addEventListener("click", () => { submit(); input.focus(); });
input.addEventListener("input", onInput);
[nameIn, contactIn, topicSel].forEach((el) => el.addEventListener("input", () => {
  if (!prechatError.hidden) keepBottom(() => { prechatError.hidden = true; });
}));
[nameIn, contactIn].forEach((el) => el.addEventListener("keydown", (e) => {
  // Enter in a pre-chat field sends what is in the composer, as Enter there would.
  if (e.key === "Enter" && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); submit(); }
}));
input.addEventListener("keydown", (e) => {
  // While an IME is composing (pinyin), Enter picks a candidate; it must not send.
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    submit();
  }
});
window.addEventListener("online", wake);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "visible") return;
  wake();
  if (isOpen && !deskOn) markSeen();
});
