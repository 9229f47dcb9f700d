// ---- DOM -----------------------------------------------------------------------------
/** Build an element; children that are strings become text nodes, never markup. */
function h(tag, attrs, kids) {
  const n = document.createElement(tag);
  Object.keys(attrs || {}).forEach((k) => n.setAttribute(k, attrs[k]));
  (kids || []).forEach((c) => n.appendChild(typeof c === "string" ? document.createTextNode(c) : c));
  return n;
}

function icon(d) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const p = document.createElementNS(NS, "path");
  p.setAttribute("d", d);
  svg.appendChild(p);
  return svg;
}
const CHAT_ICON = "M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12z";
const CLOSE_ICON = "M6 6l12 12M18 6L6 18";

const host = document.createElement("callbox-widget"); // custom tag: host `div {...}` rules miss it
const shadow = host.attachShadow({ mode: SHADOW_MODE });
const badge = h("span", { class: "badge", "data-cb": "unread", hidden: "" });
const launcher = h("button", { class: "launcher", type: "button", "data-cb": "launcher",
  "aria-label": t("open"), "aria-expanded": "false" }, [icon(CHAT_ICON), badge]);
const closeBtn = h("button", { type: "button", "data-cb": "close", hidden: "" }, [t("endChat")]);
const minBtn = h("button", { type: "button", "data-cb": "minimize", "aria-label": t("minimize"),
  title: t("minimize") }, ["\u2715"]);
const statusEl = h("div", { class: "status", "data-cb": "status", role: "status" });
const list = h("div", { class: "messages", "data-cb": "messages", "aria-live": "polite" });
const typingEl = h("div", { class: "typing", "data-cb": "typing", hidden: "" }, [t("typing")]);
const noticeEl = h("div", { class: "notice", "data-cb": "notice", role: "alert", hidden: "" });
const newChatBtn = h("button", { class: "newchat", type: "button", "data-cb": "new-chat", hidden: "" },
  [t("newChat")]);
const input = h("textarea", { rows: "1", "data-cb": "input", placeholder: t("placeholder"),
  "aria-label": t("placeholder") });
const sendBtn = h("button", { class: "send", type: "button", "data-cb": "send" }, [t("send")]);

/** A labelled form control; returns the label so its text can change with the control's use. */
function field(text, control) {
  return h("label", { class: "field" }, [h("span", {}, [text]), control]);
}

// Pre-chat step: only shown when the box offers topics.
const nameIn = h("input", { type: "text", "data-cb": "name", maxlength: "64", autocomplete: "name" });
const contactIn = h("input", { type: "text", "data-cb": "contact", maxlength: "254",
  autocomplete: "email" });
const topicSel = h("select", { "data-cb": "topic" });
const prechatError = h("div", { class: "err", "data-cb": "prechat-error", role: "alert", hidden: "" });
const prechatEl = h("div", { class: "prechat", "data-cb": "prechat", hidden: "" }, [
  field(t("nameLabel"), nameIn), field(t("contactLabel"), contactIn), field(t("topicLabel"), topicSel),
  prechatError,
]);

// Place in the queue, and what to do when nobody can take the chat.
const queueEl = h("div", { class: "queue", "data-cb": "queue", role: "status", hidden: "" });
const ofReason = h("p", { "data-cb": "overflow-reason" });
const ofOffer = h("p", {}, [t("ofOffer")]);
const ofMessageBtn = h("button", { type: "button", class: "primary", "data-cb": "overflow-message" },
  [t("leaveMessage")]);
const ofCallbackBtn = h("button", { type: "button", class: "primary", "data-cb": "overflow-callback" },
  [t("askCallback")]);
const ofWaitBtn = h("button", { type: "button", "data-cb": "overflow-wait" }, [t("keepWaiting")]);
const ofChoices = h("div", { class: "choices" }, [ofMessageBtn, ofCallbackBtn, ofWaitBtn]);
const wiName = h("input", { type: "text", "data-cb": "wi-name", maxlength: "64", autocomplete: "name" });
const wiContact = h("input", { type: "text", "data-cb": "wi-contact", maxlength: "254" });
const wiTime = h("input", { type: "text", "data-cb": "wi-time", maxlength: "64",
  placeholder: t("wiTimeHint") });
const wiBody = h("textarea", { "data-cb": "wi-body", rows: "4", maxlength: "4000" });
const wiError = h("div", { class: "err", "data-cb": "overflow-error", role: "alert", hidden: "" });
const wiSubmit = h("button", { type: "submit", class: "primary", "data-cb": "overflow-submit" });
const wiBack = h("button", { type: "button", "data-cb": "overflow-back" }, [t("wiBack")]);
const contactField = field("", wiContact);
const timeField = field(t("wiTime"), wiTime);
const bodyField = field(t("wiBody"), wiBody);
const wiForm = h("form", { "data-cb": "overflow-form", novalidate: "", hidden: "" }, [
  field(t("wiName"), wiName), contactField, timeField, bodyField, wiError,
  h("div", { class: "actions" }, [wiBack, wiSubmit]),
]);
const overflowEl = h("div", { class: "overflow", "data-cb": "overflow", hidden: "" },
  [ofReason, ofOffer, ofChoices, wiForm]);
const doneEl = h("div", { class: "done", "data-cb": "overflow-done", role: "status", hidden: "" });

const panel = h("div", { class: "panel", "data-cb": "panel", role: "dialog", "aria-label": t("title"),
  hidden: "" }, [
  h("div", { class: "head" }, [h("div", { class: "title" }, [t("title")]), closeBtn, minBtn]),
  statusEl, queueEl, list, typingEl, overflowEl, doneEl, noticeEl, newChatBtn, prechatEl,
  h("div", { class: "composer" }, [input, sendBtn]),
]);
// An agent's invitation to chat, above the launcher. Not modal: the page stays usable,
// and focus is not taken from whatever the visitor is doing there.
const invAvatar = h("div", { class: "avatar", "aria-hidden": "true" });
const invName = h("div", { class: "name", id: "cb-invite-name", "data-cb": "invite-agent" });
const invRole = h("div", { class: "role" }, [t("invTeam")]);
const invText = h("p", { class: "text", id: "cb-invite-text", "data-cb": "invite-message" });
const invAccept = h("button", { type: "button", class: "primary", "data-cb": "invite-accept" },
  [t("invAccept")]);
const invDecline = h("button", { type: "button", "data-cb": "invite-decline" }, [t("invDecline")]);
const inviteEl = h("div", { class: "invite", "data-cb": "invitation", role: "dialog",
  "aria-modal": "false", "aria-label": t("invLabel"), "aria-describedby": "cb-invite-name cb-invite-text",
  hidden: "" }, [
  // A live region, so a screen reader says the invitation without moving focus to it.
  h("div", { class: "summary", "aria-live": "polite" }, [
    h("div", { class: "who" }, [invAvatar, h("div", {}, [invName, invRole])]),
    invText,
  ]),
  h("div", { class: "actions" }, [invDecline, invAccept]),
]);
const root = h("div", { class: "root", lang: LANG }, [inviteEl, launcher, panel]);
shadow.appendChild(root); // styled by 05a-host.js

// Keys typed into the chat must not trigger the host page's own shortcuts.
["keydown", "keyup", "keypress"].forEach((ev) => root.addEventListener(ev, (e) => e.stopPropagation()));
