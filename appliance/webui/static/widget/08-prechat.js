// ---- pre-chat topics -----------------------------------------------------------------
/** Fetch the topics a visitor may pick before a chat; without any there is no pre-chat step. */
function loadTopics() {
  if (!topicsP) {
    topicsP = api("GET", "/api/visitor/topics", null, true)
      .then((r) => {
        topics = (Array.isArray(r.topics) ? r.topics : []).filter((x) =>
          x && typeof x.key === "string" && x.key && typeof x.label === "string");
        topicSel.textContent = "";
        topicSel.appendChild(h("option", { value: "" }, [t("topicPick")]));
        topics.forEach((x) => topicSel.appendChild(h("option", { value: x.key }, [x.label])));
        setStatus();
      })
      .catch(() => { topicsP = null; }); // chatting works without; opening the panel asks again
  }
  return topicsP;
}

function renderPrechat() {
  const show = topics.length > 0 && (!convId || isClosed());
  if (prechatEl.hidden === show) keepBottom(() => { prechatEl.hidden = !show; });
}

/** Return the body that opens a conversation: the page, the language, the pre-chat answers. */
function prechatBody() {
  const body = { page_url: location.href, lang: LANG };
  if (!prechatEl.hidden) {
    const name = nameIn.value.trim();
    const contact = contactIn.value.trim();
    if (name) body.name = name;
    if (contact) body.contact = contact;
    if (topicSel.value) body.topic = topicSel.value;
  }
  return body;
}

/** Say why the box would not open the chat; the words typed go back into the composer. */
function prechatRefused(err) {
  const held = outbox.filter((i) => !i.conversation_id);
  held.forEach((i) => {
    const el = bubbles.get(i.client_msg_id);
    if (el) el.remove();
    bubbles.delete(i.client_msg_id);
  });
  outbox = outbox.filter((i) => i.conversation_id);
  saveOutbox();
  const text = held.map((i) => i.body).join("\n");
  if (text) input.value = input.value ? text + "\n" + input.value : text;
  autosize();
  // The box's messages are English and name the field; a bad contact is said in the
  // visitor's language, worded as in the leave-a-message form.
  const about = String(err.code || "") + " " + String(err.message || "");
  const known = LEAVE_ERRORS.get(err.code) || (/^invalid contact\b/.test(about) ? "wiErrContact" : "");
  const message = known ? t(known) : err.message || t("wiErrFailed");
  if (prechatEl.hidden) { notice(message); return; }
  keepBottom(() => { prechatError.textContent = message; prechatError.hidden = false; });
  (/contact/i.test(about) ? contactIn : /name/i.test(about) ? nameIn : input).focus();
}
