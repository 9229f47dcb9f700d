/* Callbox visitor chat widget.
 *
 * A company embeds it with one tag:
 *   <script src="https://BOX/widget.js" async data-lang="en" data-site="shop"></script>
 * The protocol it speaks is docs/api.md. The UI lives in a shadow root (closed unless
 * data-shadow="open", which tests use) so the host page's CSS cannot reach it, and the
 * whole script is one closure: nothing is left on window (history.pushState and
 * replaceState are wrapped, not replaced, to see single-page navigations).
 *
 * Sections: state, DOM, rendering, HTTP, WebSocket, pre-chat, queue and overflow,
 * composer, tracking (page views, time on page, identity), invitation, start.
 */
(() => {
  "use strict";

  // Timing and limits, at the top so tests and integrators can find them.
  const BACKOFF_START = 500; // ms, first reconnect delay (doubles per failed attempt)
  const BACKOFF_CAP = 10000; // ms, longest reconnect delay
  const HEARTBEAT = 25000; // ms between pings; one still unanswered at the next tick = dead socket
  const TYPING_THROTTLE = 2000; // ms, the protocol allows one typing frame per 2 s
  const TYPING_IDLE = 3000; // ms without input before we tell the agent typing stopped
  const AGENT_TYPING_TTL = 6000; // ms; hide the agent's indicator if its "stopped" frame is lost
  const NOTICE_TTL = 6000; // ms an error notice stays up
  const CONFIRM_TTL = 4000; // ms the "end chat?" confirmation waits for the second click
  const MAX_BODY = 4096; // bytes of UTF-8; the server refuses larger bodies
  const SPA_SETTLE = 300; // ms after a history change before its page view is sent (title updates)

  const K_VISITOR = "callbox.visitor"; // JSON {visitor_id, token}
  const K_CONV = "callbox.conversation"; // plain conversation id
  const K_SEQ = "callbox.seq"; // JSON {conversation_id: highest seq the visitor has seen}
  const K_OUTBOX = "callbox.outbox"; // JSON [{client_msg_id, conversation_id, body}]

  // async scripts have document.currentScript too, but a loader may have run us later.
  const script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  if (!script || document.querySelector("callbox-widget")) return; // pasted twice: one widget
  const BASE = new URL(script.src, location.href).origin;
  const WS_URL = BASE.replace(/^http/, "ws") + "/api/visitor/ws";
  const dataLang = script.getAttribute("data-lang");
  const LANG = dataLang
    ? /^en/i.test(dataLang) ? "en" : "zh-CN"
    : /^en/i.test(navigator.language || "") ? "en" : "zh-CN";
  const SHADOW_MODE = script.getAttribute("data-shadow") === "open" ? "open" : "closed";
  const SITE = script.getAttribute("data-site") || "default";
  const TRACK = script.getAttribute("data-track") !== "off";

  const CATALOG = {
    "zh-CN": {
      title: "在线客服", open: "打开在线客服", minimize: "收起", send: "发送",
      placeholder: "输入消息，Enter 发送", endChat: "结束对话", endConfirm: "确认结束？",
      newChat: "开始新对话", typing: "客服正在输入…", idle: "您好，有什么可以帮您？",
      connecting: "正在连接…", reconnecting: "网络中断，正在重新连接…",
      waiting: "正在排队，请稍候…", active: "客服 {name} 正在为您服务", closed: "对话已结束",
      assigned: "客服 {name} 已接入", closedEvent: "对话已结束", sending: "发送中…",
      failed: "未发送", tooLarge: "消息过长（最多 4096 字节）", rateLimited: "发送太频繁，请稍后再试",
      storageFull: "客服系统暂时无法保存消息，稍后将自动重发",
      offline: "暂时无法连接客服，请稍后再试", unread: "{n} 条未读消息",
      // system events
      evTransferred: "{name} 已加入对话，为您继续服务", evTransferRequested: "{name} 正在为您邀请同事",
      evJoined: "{name} 加入了对话", evLeft: "{name} 离开了对话",
      // pre-chat
      nameLabel: "您的称呼（选填）", topicLabel: "咨询类型", topicPick: "请选择（选填）",
      contactLabel: "手机或邮箱（选填）",
      // invitation
      invLabel: "在线客服邀请", invTeam: "在线客服",
      invAccept: "接受", invDecline: "不用了",
      // queue place
      queueNext: "下一位就是您", queueAheadOne: "您前面还有 1 位", queueAhead: "您前面还有 {n} 位",
      etaUnderMinute: "预计等待不到 1 分钟", etaMinute: "预计等待约 1 分钟",
      etaMinutes: "预计等待约 {m} 分钟", sep: "，",
      // overflow: leave a message or ask for a call back
      ofClosed: "现在不是客服工作时间，暂时无法接入在线客服。",
      ofNoAgent: "暂时没有客服可以接待您。",
      ofLongWait: "目前咨询人数较多，等待时间可能较长。",
      ofOffer: "您可以给我们留言，或留下电话，我们会给您回电。",
      ofOfferWait: "您也可以继续排队等候。",
      leaveMessage: "留言", askCallback: "请求回电", keepWaiting: "继续等待",
      wiName: "您的称呼", wiContactAny: "电话或邮箱（选填）", wiPhone: "电话号码",
      wiTime: "方便接听的时间（选填）", wiTimeHint: "例如：明天下午 2 点以后", wiBody: "留言内容",
      wiSendMessage: "提交留言", wiSendCallback: "提交回电请求", wiBack: "返回", wiSending: "提交中…",
      wiErrPhone: "请填写有效的电话号码", wiErrBody: "请填写留言内容",
      wiErrContact: "请填写有效的电话号码或邮箱地址", wiErrFailed: "提交未成功，请稍后再试",
      doneMessage: "留言已收到，我们会尽快回复您。", doneCallback: "回电请求已收到，我们会尽快致电 {phone}。",
    },
    en: {
      title: "Chat with us", open: "Open chat", minimize: "Minimize", send: "Send",
      placeholder: "Type a message, Enter to send", endChat: "End chat", endConfirm: "End chat?",
      newChat: "Start a new chat", typing: "Agent is typing…", idle: "Hi! How can we help?",
      connecting: "Connecting…", reconnecting: "Connection lost, reconnecting…",
      waiting: "Waiting in queue for an agent…", active: "Connected with {name}",
      closed: "This chat has ended", assigned: "{name} joined the chat",
      closedEvent: "The chat has ended", sending: "Sending…", failed: "Not sent",
      tooLarge: "Message too long (max 4096 bytes)",
      rateLimited: "You are sending too fast, please try again shortly",
      storageFull: "The service cannot store messages right now; we will resend shortly",
      offline: "Can't reach the chat service right now, please try again later",
      unread: "{n} unread messages",
      evTransferred: "{name} joined to help you", evTransferRequested: "{name} is bringing in a colleague",
      evJoined: "{name} joined the chat", evLeft: "{name} left the chat",
      nameLabel: "Your name (optional)", topicLabel: "Topic", topicPick: "Choose (optional)",
      contactLabel: "Phone or e-mail (optional)",
      invLabel: "Chat invitation", invTeam: "Customer service",
      invAccept: "Accept", invDecline: "No thanks",
      queueNext: "You are next in line", queueAheadOne: "1 person ahead of you",
      queueAhead: "{n} people ahead of you", etaUnderMinute: "estimated wait under a minute",
      etaMinute: "estimated wait about 1 minute", etaMinutes: "estimated wait about {m} minutes",
      sep: ", ",
      ofClosed: "We are outside our opening hours, so no agent can chat right now.",
      ofNoAgent: "No agent is available right now.",
      ofLongWait: "Many people are waiting, so this may take a while.",
      ofOffer: "You can leave us a message, or leave your phone number and we will call you back.",
      ofOfferWait: " Or keep waiting for an agent.",
      leaveMessage: "Leave a message", askCallback: "Ask for a call back", keepWaiting: "Keep waiting",
      wiName: "Your name", wiContactAny: "Phone or e-mail (optional)", wiPhone: "Phone number",
      wiTime: "Best time to call (optional)", wiTimeHint: "e.g. tomorrow after 2 pm",
      wiBody: "Your message", wiSendMessage: "Send message", wiSendCallback: "Request call back",
      wiBack: "Back", wiSending: "Sending…", wiErrPhone: "Please enter a valid phone number",
      wiErrBody: "Please write your message",
      wiErrContact: "Please enter a valid phone number or e-mail address",
      wiErrFailed: "Could not send this, please try again shortly",
      doneMessage: "Thank you, we received your message and will reply soon.",
      doneCallback: "Thank you, we will call you back at {phone} soon.",
    },
  };

  /** Look up a UI string; {vars} are filled in, and the result is only ever used as text. */
  function t(key, vars) {
    const s = CATALOG[LANG][key] || CATALOG.en[key] || key;
    return s.replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k] != null ? String(vars[k]) : ""));
  }

  // localStorage can throw (Safari private mode, sandboxed iframes, quota): we then live in memory.
  const store = {
    get(key) {
      try { return localStorage.getItem(key); } catch (e) { return null; }
    },
    set(key, value) {
      try {
        if (value == null) localStorage.removeItem(key);
        else localStorage.setItem(key, value);
      } catch (e) { /* memory only */ }
    },
    getJSON(key, fallback) {
      try { const v = JSON.parse(store.get(key)); return v == null ? fallback : v; } catch (e) { return fallback; }
    },
    setJSON(key, value) { store.set(key, value == null ? null : JSON.stringify(value)); },
  };

  // ---- state ---------------------------------------------------------------------------
  let identity = store.getJSON(K_VISITOR, null); // {visitor_id, token}
  let convId = store.get(K_CONV);
  let conv = null; // the last conversation object the server told us about
  let lastSeq = 0; // highest seq received in order from the stream, for what is on screen
  const shownSeqs = new Set(); // seqs on screen, including own messages confirmed by an ack first
  const bubbles = new Map(); // client_msg_id -> bubble element, so an own message shows once
  let outbox = store.getJSON(K_OUTBOX, []);
  if (!Array.isArray(outbox)) outbox = [];
  outbox = outbox.filter((i) => i && i.client_msg_id && typeof i.body === "string" &&
    (!i.conversation_id || i.conversation_id === convId));
  let seen = store.getJSON(K_SEQ, {});
  if (typeof seen !== "object" || Array.isArray(seen)) seen = {};
  let unread = 0;
  let isOpen = false;
  let topics = []; // [{key, label}] the box offers before a chat; none: no pre-chat step
  let topicsP = null;
  let queuePlace = null; // {position, eta, overflow} of the waiting conversation, from the server
  let leave = freshLeave(); // the leave-a-message / call-back panel's state
  let tracking = TRACK; // false after data-track="off", or once the box honours Do-Not-Track
  let presence = false; // tracking is on and the box tracks us: keep a socket open to be seen
  let view = null; // the page being read: {id, url, shownMs, since, sentMs, done, timer}
  let invitation = null; // the pending invitation on the card: {id, message, agent, busy}

  let ws = null;
  let wsReady = false; // "ready" received on ws
  let joinedId = null; // conversation joined on the current socket
  let attempt = 0; // failed connection attempts since the last "ready"
  let pingOutstanding = false;
  let holdUntil = 0; // rate limited: no sends before this time (ms epoch)
  let sessionP = null; // in-flight requests, shared by concurrent callers
  let creatingP = null;
  let typingSentAt = 0;
  let typingOn = false;
  let retryTimer = 0, pingTimer = 0, holdTimer = 0, typingIdleTimer = 0; // timer handles
  let agentTypingTimer = 0, noticeTimer = 0, confirmTimer = 0;

  const saveOutbox = () => store.setJSON(K_OUTBOX, outbox.length ? outbox : null);
  const isClosed = () => !!(conv && conv.status === "closed");
  // A live conversation, or something to deliver: the chat needs the socket.
  const chatting = () => !!((convId && !isClosed()) || outbox.length);
  // A socket is worth (re)opening for a chat, or for presence (agents see and invite us).
  const wanted = () => chatting() || presence;

  // ---- DOM -----------------------------------------------------------------------------
  const CSS = `
:host { all: initial !important; }
[hidden] { display: none !important; }
* { box-sizing: border-box; }
.root { font: 14px/1.45 system-ui, -apple-system, "PingFang SC", "Hiragino Sans GB",
  "Microsoft YaHei", "Segoe UI", Roboto, sans-serif; color: #1f2328; text-align: left;
  -webkit-text-size-adjust: 100%; }
button, textarea, input, select { font: inherit; color: inherit; margin: 0; letter-spacing: normal; }
button { cursor: pointer; }
button:disabled { cursor: default; opacity: .6; }
button:focus-visible, textarea:focus-visible, input:focus-visible, select:focus-visible {
  outline: 2px solid #93c5fd; outline-offset: 2px; }
.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 56px;
  height: 56px; padding: 0; border: 0; border-radius: 50%; background: #2563eb; color: #fff;
  box-shadow: 0 4px 14px rgba(0,0,0,.25); display: flex; align-items: center;
  justify-content: center; }
.launcher svg { width: 28px; height: 28px; fill: none; stroke: currentColor; stroke-width: 2;
  stroke-linecap: round; stroke-linejoin: round; }
.badge { position: absolute; top: -4px; right: -4px; min-width: 20px; height: 20px;
  padding: 0 6px; border-radius: 10px; background: #dc2626; color: #fff; font-size: 12px;
  line-height: 20px; text-align: center; }
.panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483000; width: 360px;
  height: 560px; max-height: calc(100vh - 108px); display: flex; flex-direction: column;
  background: #fff; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.25);
  overflow: hidden; }
.head { display: flex; align-items: center; gap: 8px; padding: 10px 10px 10px 16px;
  background: #2563eb; color: #fff; }
.title { flex: 1; font-size: 16px; font-weight: 600; }
.head button { border: 0; border-radius: 6px; padding: 4px 10px; font-size: 13px;
  background: rgba(255,255,255,.18); color: #fff; }
.status { padding: 6px 16px; font-size: 12px; color: #57606a; background: #f6f8fa;
  border-bottom: 1px solid #eaeef2; }
.status[data-state="reconnecting"] { color: #9a6700; background: #fff8c5; }
.messages { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column;
  gap: 8px; overscroll-behavior: contain; }
.msg { max-width: 80%; display: flex; flex-direction: column; align-items: flex-start; }
.msg .who { font-size: 11px; color: #57606a; margin-bottom: 2px; }
.msg .body { padding: 8px 12px; border-radius: 12px; white-space: pre-wrap;
  overflow-wrap: anywhere; background: #f0f2f5; border-bottom-left-radius: 4px; }
.msg .meta { font-size: 11px; color: #8c959f; margin-top: 2px; }
.msg.visitor { align-self: flex-end; align-items: flex-end; }
.msg.visitor .body { background: #2563eb; color: #fff; border-radius: 12px;
  border-bottom-right-radius: 4px; }
.msg.system { align-self: center; max-width: 90%; align-items: center; }
.msg.system .body { background: none; padding: 0; font-size: 12px; color: #57606a; }
.msg[data-pending] .body { opacity: .6; }
.msg[data-failed] .body { background: #fee2e2; color: #991b1b; }
.msg[data-failed] .meta { color: #b91c1c; }
.typing { padding: 0 16px 4px; font-size: 12px; color: #57606a; font-style: italic; }
.notice { margin: 0 12px 6px; padding: 6px 10px; border-radius: 6px; background: #fef3c7;
  color: #92400e; font-size: 12px; }
.newchat { margin: 0 12px 8px; padding: 8px; border: 1px solid #2563eb; border-radius: 8px;
  background: #fff; color: #2563eb; }
.composer { display: flex; gap: 8px; align-items: flex-end; padding: 10px 12px;
  border-top: 1px solid #eaeef2; }
.composer textarea { flex: 1; resize: none; min-height: 38px; max-height: 120px;
  padding: 8px 10px; border: 1px solid #d0d7de; border-radius: 8px; background: #fff;
  line-height: 20px; font-size: 14px; }
.composer textarea:focus { border-color: #2563eb; outline: none; }
.send { height: 38px; padding: 0 14px; border: 0; border-radius: 8px; background: #2563eb;
  color: #fff; }
.queue { padding: 6px 16px; font-size: 13px; color: #1e40af; background: #eff6ff;
  border-bottom: 1px solid #dbeafe; }
.field { display: flex; flex-direction: column; gap: 2px; flex: 1; min-width: 0;
  font-size: 12px; color: #57606a; }
.field input, .field select, .field textarea { width: 100%; padding: 6px 8px; font-size: 14px;
  border: 1px solid #d0d7de; border-radius: 6px; background: #fff; color: #1f2328; }
.field textarea { resize: vertical; min-height: 72px; }
.prechat { display: flex; flex-wrap: wrap; gap: 8px; padding: 8px 12px 0;
  border-top: 1px solid #eaeef2; }
.prechat .field { flex: 1 1 140px; }
.prechat .err { flex: 1 0 100%; }
.prechat + .composer { border-top: 0; }
.overflow { flex-shrink: 0; max-height: 70%; overflow-y: auto; margin: 0 12px 8px;
  padding: 10px 12px; border: 1px solid #d0d7de; border-radius: 8px; background: #f6f8fa;
  display: flex; flex-direction: column; gap: 8px; }
.overflow p { margin: 0; }
.overflow form { display: flex; flex-direction: column; gap: 8px; margin: 0; }
.choices, .actions { display: flex; flex-wrap: wrap; gap: 6px; }
.actions { justify-content: flex-end; }
.choices button, .actions button { padding: 6px 12px; border: 1px solid #2563eb;
  border-radius: 6px; background: #fff; color: #2563eb; }
.choices button.primary, .actions button.primary { background: #2563eb; color: #fff; }
.err { padding: 6px 10px; border-radius: 6px; background: #fee2e2; color: #991b1b; font-size: 12px; }
.done { margin: 0 12px 8px; padding: 10px 12px; border-radius: 8px; background: #dcfce7;
  color: #166534; }
.invite { position: fixed; right: 20px; bottom: 88px; z-index: 2147483000; width: 300px;
  max-width: calc(100vw - 40px); padding: 14px 16px 12px; background: #fff; border-radius: 12px;
  box-shadow: 0 8px 30px rgba(0,0,0,.25); display: flex; flex-direction: column; gap: 10px; }
.invite .summary { display: flex; flex-direction: column; gap: 8px; }
.invite .who { display: flex; align-items: center; gap: 10px; }
.invite .avatar { flex: none; width: 36px; height: 36px; border-radius: 50%; background: #2563eb;
  color: #fff; font-weight: 600; display: flex; align-items: center; justify-content: center; }
.invite .name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.invite .role { font-size: 12px; color: #57606a; }
.invite .text { margin: 0; max-height: 9.5em; overflow-y: auto; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.invite .actions button { padding: 8px 14px; }
@media (max-width: 480px) {
  .panel { top: 0; right: 0; bottom: 0; left: 0; width: 100%; height: 100%;
    max-height: none; border-radius: 0; }
  .root.open .launcher { display: none; }
  .composer textarea, .field input, .field select, .field textarea {
    font-size: 16px; } /* iOS zooms into inputs under 16px */
  .invite { left: 12px; right: 12px; bottom: 88px; width: auto; max-width: none; }
  .invite .actions button { min-height: 44px; flex: 1; } /* a thumb-sized target */
}`;

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
  shadow.appendChild(h("style", {}, [CSS]));
  shadow.appendChild(root);

  // Keys typed into the chat must not trigger the host page's own shortcuts.
  ["keydown", "keyup", "keypress"].forEach((ev) => root.addEventListener(ev, (e) => e.stopPropagation()));

  // ---- small helpers -------------------------------------------------------------------
  function uuid() {
    if (typeof crypto.randomUUID === "function") return crypto.randomUUID(); // secure contexts only
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = Array.from(b, (v) => (v + 0x100).toString(16).slice(1)).join("");
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }
  const byteLength = (s) => new TextEncoder().encode(s).length;
  // Times are the box's local time and are shown as sent (docs/api.md), not converted.
  const clock = (iso) => { const m = /T(\d\d:\d\d)/.exec(iso || ""); return m ? m[1] : ""; };

  function notice(text) {
    keepBottom(() => { noticeEl.textContent = text; noticeEl.hidden = false; });
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => keepBottom(() => { noticeEl.hidden = true; }), NOTICE_TTL);
  }

  function setStatus() {
    let state;
    let text;
    if (isClosed()) { state = "closed"; text = t("closed"); }
    else if (retryTimer && chatting()) { state = "reconnecting"; text = t("reconnecting"); }
    else if ((convId || outbox.length) && !wsReady) { state = "connecting"; text = t("connecting"); }
    else if (conv && conv.status === "active") {
      state = "active";
      text = t("active", { name: conv.agent && conv.agent.display_name });
    } else if (convId) { state = "waiting"; text = t("waiting"); }
    else { state = "idle"; text = t("idle"); }
    statusEl.textContent = text;
    statusEl.setAttribute("data-state", state);
    closeBtn.hidden = !convId || isClosed();
    keepBottom(() => { newChatBtn.hidden = !isClosed(); });
    renderQueue();
    renderLeave();
    renderPrechat();
    renderInvite();
  }

  // ---- rendering -----------------------------------------------------------------------
  // System events the visitor is told about; sender_name is the agent the line is about.
  const EVENT_TEXT = {
    assigned: "assigned", closed: "closedEvent", transferred: "evTransferred",
    transfer_requested: "evTransferRequested", joined: "evJoined", left: "evLeft",
  };

  function buildBubble(m) {
    const kind = m.sender_type === "visitor" || m.sender_type === "agent" ? m.sender_type : "system";
    // An accepted invitation that went to the queue keeps the inviting agent's words as an
    // "invitation" event: shown as what it is, their message, not as a status line.
    const invited = kind === "system" && m.event === "invitation";
    const look = invited ? "agent" : kind;
    const el = h("div", { class: "msg " + look, "data-cb": "message", "data-sender": kind });
    let text = m.body;
    if (invited) el.setAttribute("data-event", "invitation");
    else if (kind === "system") {
      const key = Object.prototype.hasOwnProperty.call(EVENT_TEXT, m.event) ? EVENT_TEXT[m.event] : null;
      text = key ? t(key, { name: m.sender_name }) : "";
      if (m.event) el.setAttribute("data-event", String(m.event));
      // An event newer than this widget: keep its seq in order, show nothing.
      if (!key) el.hidden = true;
    }
    // The box keeps staff-only messages (notes, whispers) from visitors; never show a stray one.
    if (m.visibility === "staff") el.hidden = true;
    if (look === "agent" && m.sender_name) el.appendChild(h("div", { class: "who" }, [m.sender_name]));
    el.appendChild(h("div", { class: "body", "data-cb": "body" }, [text || ""]));
    if (look !== "system") el.appendChild(h("div", { class: "meta" }, [clock(m.created_at)]));
    if (m.seq != null) el.setAttribute("data-seq", String(m.seq));
    return el;
  }

  const toBottom = () => { list.scrollTop = list.scrollHeight; };
  /** Run a DOM change; stay at the newest message if we were there, unless the visitor scrolled up. */
  function keepBottom(change) {
    const pinned = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    change();
    if (pinned) toBottom();
  }

  /** Put a confirmed bubble in seq order: pending ones stay last, an early ack may precede a gap. */
  function place(el, seq) {
    keepBottom(() => {
      el.remove(); // confirming a pending bubble moves it
      let node = list.lastElementChild;
      while (node && (node.hasAttribute("data-pending") ||
        (node.hasAttribute("data-seq") && Number(node.getAttribute("data-seq")) > seq))) {
        node = node.previousElementSibling;
      }
      list.insertBefore(el, node ? node.nextElementSibling : list.firstElementChild);
    });
  }

  function addPending(item) {
    const el = buildBubble({ sender_type: "visitor", body: item.body });
    el.setAttribute("data-pending", "1");
    el.querySelector(".meta").textContent = t("sending");
    bubbles.set(item.client_msg_id, el);
    list.appendChild(el);
    toBottom(); // the visitor's own message: always show it
  }

  function confirmBubble(el, m) {
    el.removeAttribute("data-pending");
    el.setAttribute("data-seq", String(m.seq));
    el.querySelector(".meta").textContent = clock(m.created_at);
    place(el, m.seq);
  }

  function failBubble(clientMsgId) {
    const el = bubbles.get(clientMsgId);
    if (!el) return;
    el.removeAttribute("data-pending");
    el.setAttribute("data-failed", "1");
    el.querySelector(".meta").textContent = t("failed");
  }

  function dropFromOutbox(clientMsgId) {
    const before = outbox.length;
    outbox = outbox.filter((i) => i.client_msg_id !== clientMsgId);
    if (outbox.length !== before) saveOutbox();
  }

  /** Show a streamed message once, in order; own messages replace their pending bubble. */
  function onMessage(m) {
    if (!m || typeof m.seq !== "number" || (m.conversation_id && m.conversation_id !== convId)) return;
    const own = m.client_msg_id ? bubbles.get(m.client_msg_id) : null;
    if (m.client_msg_id) dropFromOutbox(m.client_msg_id);
    if (m.seq <= lastSeq || shownSeqs.has(m.seq)) {
      lastSeq = Math.max(lastSeq, m.seq);
      if (own && own.hasAttribute("data-pending")) confirmBubble(own, m);
      return;
    }
    // Seqs may jump (staff-only messages never reach us): order matters, not contiguity.
    lastSeq = m.seq;
    shownSeqs.add(m.seq);
    const el = own || buildBubble(m);
    if (own) confirmBubble(own, m);
    else place(el, m.seq);
    if (m.sender_type === "agent") showAgentTyping(false);
    if (m.sender_type === "system") applyEvent(m);
    if (el.hidden) return;
    if (m.sender_type !== "visitor" && (!isOpen || document.hidden) && m.seq > (seen[convId] || 0)) {
      unread += 1;
      badge.textContent = String(unread);
      badge.setAttribute("aria-label", t("unread", { n: unread }));
      badge.hidden = false;
    } else if (isOpen && !document.hidden) markSeen();
  }

  function onAck(f) {
    dropFromOutbox(f.client_msg_id);
    const el = bubbles.get(f.client_msg_id);
    const m = f.message;
    if (!el || !m || !el.hasAttribute("data-pending")) return;
    confirmBubble(el, m);
    shownSeqs.add(m.seq);
    if (m.seq === lastSeq + 1) lastSeq = m.seq; // only in order: a gap must still be replayed
  }

  // Replayed history carries events too; keep the status line true to the ones newer than
  // the conversation we hold. Older ones are already in it: replaying an "assigned" that a
  // staff-only "missed" undid (the chat rang out and went back to the queue) would lie.
  function applyEvent(m) {
    if (!conv || isClosed()) return;
    if (typeof conv.last_seq === "number" && m.seq <= conv.last_seq) return;
    const seq = { last_seq: m.seq };
    if (m.event === "assigned" || m.event === "transferred") {
      applyConversation(Object.assign({}, conv, seq,
        { status: "active", agent: { display_name: m.sender_name } }));
    } else if (m.event === "closed") {
      applyConversation(Object.assign({}, conv, seq, { status: "closed" }));
    }
  }

  function applyConversation(c) {
    const wasClosed = isClosed();
    conv = c;
    if (isClosed() && !wasClosed) {
      store.set(K_CONV, null); // a reload starts fresh; the transcript stays on screen until then
      stopTyping();
      showAgentTyping(false);
      outbox.filter((i) => i.conversation_id === convId).forEach((i) => failBubble(i.client_msg_id));
      outbox = outbox.filter((i) => i.conversation_id !== convId);
      saveOutbox();
    }
    setStatus();
  }

  function showAgentTyping(active) {
    clearTimeout(agentTypingTimer);
    keepBottom(() => { typingEl.hidden = !active; });
    if (active) agentTypingTimer = setTimeout(() => showAgentTyping(false), AGENT_TYPING_TTL);
  }

  function markSeen() {
    unread = 0;
    badge.hidden = true;
    if (convId && lastSeq && seen[convId] !== lastSeq) {
      seen = { [convId]: lastSeq }; // only the current conversation matters
      store.setJSON(K_SEQ, seen);
    }
  }

  /** Drop the on-screen conversation; seqs restart at 1 in the next one. Pending sends survive. */
  function clearView() {
    Array.from(list.children).forEach((n) => { if (!n.hasAttribute("data-pending")) n.remove(); });
    bubbles.forEach((el, id) => { if (!el.isConnected) bubbles.delete(id); });
    shownSeqs.clear();
    lastSeq = 0;
    queuePlace = null;
    resetLeave();
  }

  function forgetConversation() {
    convId = null;
    conv = null;
    joinedId = null;
    store.set(K_CONV, null);
    store.set(K_SEQ, null);
    seen = {};
    clearView();
    outbox.forEach((i) => { i.conversation_id = null; }); // they go to a fresh conversation
    saveOutbox();
    setStatus();
  }

  function newChat() {
    forgetConversation();
    input.focus();
  }

  // ---- HTTP ----------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = {};
    if (body) headers["Content-Type"] = "application/json";
    if (identity && identity.token) headers.Authorization = "Bearer " + identity.token;
    const res = await fetch(BASE + path, { method, headers, body: body ? JSON.stringify(body) : undefined,
      mode: "cors", credentials: "omit", cache: "no-store" });
    let data = null;
    try { data = await res.json(); } catch (e) { /* empty or non-JSON body */ }
    if (!res.ok) {
      const e = (data && data.error) || {};
      const err = new Error(e.message || "HTTP " + res.status);
      err.status = res.status;
      err.code = e.code;
      // Retry-After is only readable cross-origin if exposed; the body carries it too.
      err.retryAfter = Number(res.headers.get("Retry-After")) || Number(e.retry_after) || 0;
      throw err;
    }
    return data || {};
  }

  function ensureSession() {
    if (!sessionP) {
      sessionP = api("POST", "/api/visitor/session", identity && identity.token ? { token: identity.token } : {})
        .then((r) => {
          identity = { visitor_id: r.visitor_id, token: r.token };
          store.setJSON(K_VISITOR, identity);
        })
        .catch((err) => { sessionP = null; throw err; });
    }
    return sessionP;
  }

  function adoptConversation(c) {
    if (c.id !== convId) clearView();
    convId = c.id;
    conv = c;
    store.set(K_CONV, c.id);
    outbox.forEach((i) => { if (!i.conversation_id) i.conversation_id = c.id; });
    saveOutbox();
    setStatus();
  }

  function createConversation() {
    if (!creatingP) {
      creatingP = api("POST", "/api/visitor/conversations", prechatBody())
        .then((r) => { prechatError.hidden = true; adoptConversation(r.conversation); })
        .catch((err) => { err.opening = true; throw err; })
        .finally(() => { creatingP = null; });
    }
    return creatingP;
  }

  /** Bring everything up to date: session, conversation if there is something to send, socket. */
  function sync() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    return ensureSession()
      .then(() => (!convId && outbox.length ? createConversation() : null))
      .then(() => { if (wanted()) connect(); })
      .catch((err) => {
        // The box refused what the pre-chat form says: retrying the same would not help.
        if (err.opening && err.status === 422) { prechatRefused(err); return; }
        // Presence alone is nothing the visitor waits for: it retries without a word.
        if (chatting()) {
          if (err.code === "rate_limited") notice(t("rateLimited"));
          else if (err.code === "storage_full") notice(t("storageFull"));
          else if (!navigator.onLine || !err.status || err.status >= 500) notice(t("offline"));
        }
        if (wanted()) scheduleRetry(err.retryAfter * 1000);
      })
      .then(setStatus);
  }

  function scheduleRetry(minDelay) {
    if (retryTimer) return;
    const base = Math.min(BACKOFF_CAP, BACKOFF_START * 2 ** attempt);
    attempt += 1;
    // Jitter spreads a crowd of visitors that lost the box at the same moment.
    const delay = Math.max(minDelay || 0, base / 2 + Math.random() * (base / 2));
    retryTimer = setTimeout(() => { retryTimer = 0; sync(); }, delay);
    setStatus();
  }

  /** Reconnect at once when the browser says the network or the tab is back. */
  function wake() {
    if (ws || !wanted()) return;
    attempt = 0;
    sync();
  }

  // ---- WebSocket -----------------------------------------------------------------------
  function sendFrame(frame) {
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    if (ws) { if (wsReady) joinAndFlush(); return; }
    if (!identity) return;
    let sock;
    try { sock = new WebSocket(WS_URL); } catch (e) { scheduleRetry(); return; }
    ws = sock;
    sock.onopen = () => sock.send(JSON.stringify({ type: "auth", token: identity.token }));
    sock.onmessage = (e) => { if (sock === ws) onFrame(e.data); };
    sock.onclose = () => { if (sock === ws) dropSocket(); };
    setStatus();
  }

  /** Forget the socket now; a close handshake on a dead link can take minutes to report. */
  function dropSocket() {
    const sock = ws;
    ws = null;
    wsReady = false;
    joinedId = null;
    pingOutstanding = false;
    clearInterval(pingTimer);
    showAgentTyping(false);
    if (sock && sock.readyState < 2) sock.close();
    if (wanted()) scheduleRetry();
    setStatus();
  }

  function heartbeat() {
    if (pingOutstanding) { dropSocket(); return; } // nothing heard since the last ping: half-open
    pingOutstanding = sendFrame({ type: "ping" });
  }

  function joinAndFlush() {
    if (!convId || isClosed()) return;
    if (joinedId !== convId) {
      joinedId = convId;
      sendFrame({ type: "join", conversation_id: convId, after_seq: lastSeq });
    }
    flushOutbox();
  }

  // Resending is safe: the server answers a known client_msg_id with the original ack.
  function flushOutbox() {
    if (!wsReady || !convId || Date.now() < holdUntil) return;
    outbox.forEach((i) => {
      if (i.conversation_id === convId) {
        sendFrame({ type: "send", conversation_id: convId, client_msg_id: i.client_msg_id, body: i.body });
      }
    });
  }

  function onFrame(data) {
    let f;
    try { f = JSON.parse(data); } catch (e) { return; }
    if (!f || typeof f !== "object") return;
    pingOutstanding = false; // any frame proves the socket is alive
    switch (f.type) {
      case "ready":
        wsReady = true;
        attempt = 0;
        clearInterval(pingTimer);
        pingTimer = setInterval(heartbeat, HEARTBEAT);
        joinAndFlush();
        setStatus();
        break;
      case "message": onMessage(f.message); break;
      case "ack": onAck(f); break;
      case "conversation":
        if (f.conversation && f.conversation.id === convId) applyConversation(f.conversation);
        break;
      case "typing":
        if (f.conversation_id === convId && f.sender_type === "agent") showAgentTyping(!!f.active);
        break;
      case "queue": onQueue(f); break;
      case "invitation": onInvitation(f.invitation); break;
      case "invitation_closed": onInvitationClosed(f); break;
      case "error": onError(f); break;
      default: break; // pong, and frames newer than this widget
    }
  }

  function onError(f) {
    const item = f.ref ? outbox.find((i) => i.client_msg_id === f.ref) : null;
    switch (f.code) {
      case "message_too_large":
        if (item) { failBubble(item.client_msg_id); dropFromOutbox(item.client_msg_id); }
        notice(t("tooLarge"));
        break;
      case "storage_full": // the box's disk is full: the message waits and goes again
      case "rate_limited": {
        // typing frames are limited too; those need no word
        if (item) notice(t(f.code === "rate_limited" ? "rateLimited" : "storageFull"));
        const wait = Math.max(1, Number(f.retry_after) || 1) * 1000; // retry_after is in seconds
        holdUntil = Date.now() + wait;
        clearTimeout(holdTimer);
        holdTimer = setTimeout(() => { holdUntil = 0; flushOutbox(); }, wait);
        break;
      }
      case "not_found":
      case "forbidden": {
        // The stored conversation is gone or not ours: pending text goes to a fresh one.
        const about = f.conversation_id || (item && item.conversation_id);
        if (!convId || (about && about !== convId)) break; // about a conversation we left
        forgetConversation();
        if (outbox.length) sync();
        break;
      }
      case "not_authenticated":
        sessionP = null; // the retry re-posts the token; the server keeps it if still valid
        dropSocket();
        break;
      default: break;
    }
  }

  // ---- pre-chat topics -----------------------------------------------------------------
  /** Fetch the topics a visitor may pick before a chat; without any there is no pre-chat step. */
  function loadTopics() {
    if (!topicsP) {
      topicsP = api("GET", "/api/visitor/topics")
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

  // ---- queue place and overflow --------------------------------------------------------
  const BLOCKED = ["closed", "no_agent"]; // nobody can take the chat now: a place means nothing
  const OVERFLOWS = BLOCKED.concat(["long_wait"]);
  const REASON_TEXT = { closed: "ofClosed", no_agent: "ofNoAgent", long_wait: "ofLongWait" };
  // The box's 422 messages are English; the ones a visitor can cause are said in their
  // language, by error code.
  const LEAVE_ERRORS = new Map([
    ["phone_required", "wiErrPhone"],
    ["message_empty", "wiErrBody"],
    ["contact_invalid", "wiErrContact"],
  ]);
  const isWaiting = () => !!(conv && conv.status === "waiting");

  function freshLeave() {
    // mode "offer" shows the two choices, "form" one of them (kind); dismissed is the overflow
    // reason the visitor chose to wait through; done is the confirmation once the box has it.
    return { mode: "offer", kind: "message", reason: null, dismissed: null, sending: false, done: "" };
  }

  function resetLeave() {
    leave = freshLeave();
    wiError.hidden = true;
  }

  /** Take a {"type":"queue"} frame: the waiting conversation's place, wait and overflow. */
  function onQueue(f) {
    if (!convId || f.conversation_id !== convId) return;
    queuePlace = {
      position: Number.isInteger(f.position) && f.position > 0 ? f.position : null,
      eta: typeof f.eta === "number" && f.eta >= 0 ? f.eta : null,
      overflow: OVERFLOWS.indexOf(f.overflow) >= 0 ? f.overflow : null,
    };
    renderQueue();
    renderLeave();
  }

  /** Say the place in words; position 1 is the first in line, so nobody is ahead of them. */
  function queueText(p) {
    const parts = [];
    if (p.position === 1) parts.push(t("queueNext"));
    else if (p.position > 1) {
      parts.push(t(p.position === 2 ? "queueAheadOne" : "queueAhead", { n: p.position - 1 }));
    }
    if (p.eta != null) parts.push(etaText(p.eta));
    return parts.join(t("sep"));
  }

  function etaText(seconds) {
    if (seconds < 60) return t("etaUnderMinute");
    const minutes = Math.max(1, Math.round(seconds / 60));
    return minutes === 1 ? t("etaMinute") : t("etaMinutes", { m: minutes });
  }

  function renderQueue() {
    const p = queuePlace;
    const text = isWaiting() && p && BLOCKED.indexOf(p.overflow) < 0 ? queueText(p) : "";
    const position = text && p.position ? String(p.position) : "";
    const eta = text && p.eta != null ? String(p.eta) : "";
    queueEl.setAttribute("data-position", position);
    queueEl.setAttribute("data-eta", eta);
    // Rewriting the same words would make screen readers announce them again.
    if (text === queueEl.textContent && queueEl.hidden === !text) return;
    keepBottom(() => {
      queueEl.textContent = text;
      queueEl.hidden = !text;
    });
  }

  /** Show the overflow offer, its form, or the confirmation, as the queue and the visitor say. */
  function renderLeave() {
    const p = queuePlace;
    const offered = isWaiting() && p && p.overflow && p.overflow !== leave.dismissed;
    if (offered) leave.reason = p.overflow;
    const active = !!(conv && conv.status === "active");
    // A form the visitor started stays until they send it, or an agent takes the chat after all.
    const show = !leave.done &&
      (leave.sending || !!offered || (leave.mode === "form" && !!leave.reason && !active));
    keepBottom(() => {
      overflowEl.hidden = !show;
      doneEl.hidden = !leave.done;
      doneEl.textContent = leave.done;
      if (!show) return;
      const form = leave.mode === "form";
      const callback = leave.kind === "callback";
      overflowEl.setAttribute("data-reason", leave.reason);
      ofReason.textContent = t(REASON_TEXT[leave.reason]);
      ofOffer.textContent = t("ofOffer") + (leave.reason === "long_wait" ? t("ofOfferWait") : "");
      ofOffer.hidden = form;
      ofChoices.hidden = form;
      ofWaitBtn.hidden = leave.reason !== "long_wait";
      wiForm.hidden = !form;
      wiForm.setAttribute("data-kind", leave.kind);
      contactField.firstChild.textContent = t(callback ? "wiPhone" : "wiContactAny");
      wiContact.setAttribute("type", callback ? "tel" : "text");
      timeField.hidden = !callback;
      bodyField.hidden = callback;
      wiSubmit.textContent = t(leave.sending ? "wiSending" : callback ? "wiSendCallback" : "wiSendMessage");
      wiSubmit.disabled = leave.sending;
      wiBack.disabled = leave.sending;
    });
  }

  function openLeaveForm(kind) {
    if (leave.kind !== kind) wiError.hidden = true;
    leave.mode = "form";
    leave.kind = kind;
    if (!wiName.value && nameIn.value.trim()) wiName.value = nameIn.value.trim();
    renderLeave();
    (!wiName.value ? wiName : kind === "callback" ? wiContact : wiBody).focus();
  }

  function keepWaiting() {
    leave.dismissed = leave.reason;
    leave.mode = "offer";
    renderLeave();
  }

  function leaveError(text, focus) {
    keepBottom(() => { wiError.textContent = text; wiError.hidden = false; });
    if (focus) focus.focus();
  }

  /** Send what the visitor left; every field stays as typed until the box has accepted it. */
  function submitLeave() {
    if (leave.sending) return;
    const kind = leave.kind;
    const item = { kind, name: wiName.value.trim(), contact: wiContact.value.trim() };
    if (kind === "callback") item.preferred_time = wiTime.value.trim();
    else item.body = wiBody.value.trim();
    // The box checks too; saying what is missing before a round trip is kinder.
    if (kind === "callback" && !item.contact) { leaveError(t("wiErrPhone"), wiContact); return; }
    if (kind === "message" && !item.body) { leaveError(t("wiErrBody"), wiBody); return; }
    const id = convId;
    if (id) item.conversation_id = id; // the box ends the waiting chat this replaces
    leave.sending = true;
    wiError.hidden = true;
    renderLeave();
    ensureSession()
      .then(() => api("POST", "/api/visitor/work-items", item))
      .then(() => {
        leave.done = kind === "callback" ? t("doneCallback", { phone: item.contact }) : t("doneMessage");
        leave.mode = "offer";
        wiTime.value = "";
        wiBody.value = "";
        if (id && id === convId) refreshConversation(id); // a socket in a blip would not say
      }, (err) => {
        if (err.status === 401) sessionP = null;
        const known = err.status === 422 && LEAVE_ERRORS.get(err.code);
        let text = t("wiErrFailed");
        if (known) text = t(known);
        else if (err.status === 422 && err.message) text = err.message;
        else if (err.code === "rate_limited") text = t("rateLimited");
        leaveError(text, known === "wiErrBody" ? wiBody : known ? wiContact : null);
      })
      .finally(() => { leave.sending = false; renderLeave(); });
  }

  function refreshConversation(id) {
    api("GET", "/api/visitor/conversations/" + encodeURIComponent(id))
      .then((r) => { if (id === convId && r.conversation) applyConversation(r.conversation); })
      .catch(() => { /* the socket tells us when it is back */ });
  }

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
    }
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
    if (isOpen) markSeen();
  });

  // ---- tracking: page views, time on page, identity ------------------------------------
  // Each page, and each route of a single-page app, is a page view. Its dwell is the time
  // it was visible: a tab forgotten in the background is not a visitor reading. The box
  // answers tracked:false when it honours Do-Not-Track; then nothing more is sent and no
  // presence socket is kept. data-track="off" sends no page view at all.
  const clockMs = () => performance.now(); // monotonic: a clock change must not bend a dwell

  /** The part of a URL that names a page: an in-page anchor is not a new page, a #/ route is. */
  function pageKey(url) {
    const i = url.indexOf("#");
    return i < 0 || /^#!?\//.test(url.slice(i)) ? url : url.slice(0, i);
  }

  function openView(referrer) {
    view = { id: null, url: location.href, referrer, shownMs: 0, sentMs: 0, done: false, timer: 0,
      since: document.visibilityState === "visible" ? clockMs() : null };
    return view;
  }

  function pauseView(v) {
    if (v.since == null) return;
    v.shownMs += clockMs() - v.since;
    v.since = null;
  }

  function resumeView(v) {
    if (v.since == null && !v.done) v.since = clockMs();
  }

  function postView(v) {
    const body = { url: v.url, title: document.title, referrer: v.referrer, site: SITE };
    api("POST", "/api/visitor/pageviews", body)
      .then((r) => {
        if (!r.tracked) { stopTracking(); return; }
        v.id = r.page_view ? r.page_view.id : null;
        if (v.done) sendDwell(v); // a route change came before the box's answer
        if (!presence && tracking) {
          presence = true;
          if (!ws) sync();
        }
      })
      .catch((err) => console.debug("callbox: page view not recorded:", err.code || err.message));
  }

  function stopTracking() {
    tracking = false;
    if (view) clearTimeout(view.timer);
    view = null;
    if (!presence) return;
    presence = false;
    if (ws && !chatting()) dropSocket();
  }

  /** Send the page's visible time so far; the box keeps the largest it got. */
  function sendDwell(v) {
    if (v.id == null || !identity) return;
    const ms = Math.round(v.shownMs + (v.since != null ? clockMs() - v.since : 0));
    if (ms <= v.sentMs) return;
    v.sentMs = ms;
    const url = BASE + "/api/visitor/pageviews/" + encodeURIComponent(v.id) + "/dwell";
    const body = JSON.stringify({ token: identity.token, dwell_ms: ms });
    // text/plain and no Authorization header make a "simple" cross-origin request: no
    // preflight, which a page being closed could not wait for.
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], { type: "text/plain" }))) return;
    } catch (e) { /* a refused beacon (size, policy): try fetch below */ }
    fetch(url, { method: "POST", body, keepalive: true, mode: "no-cors", credentials: "omit" })
      .catch(() => { /* the page is going away; nothing to tell anyone */ });
  }

  function finishView(v) {
    pauseView(v);
    v.done = true;
    sendDwell(v);
  }

  /** A single-page app changed the URL: end the old page view and start the next one. */
  function onUrlChange() {
    const v = view;
    if (!tracking || !v || pageKey(location.href) === pageKey(v.url)) return;
    if (v.timer) { v.url = location.href; return; } // redirects within the settle time: one page
    finishView(v);
    const next = openView(v.url);
    // The app sets the new title after it pushes the URL; give it a moment.
    next.timer = setTimeout(() => {
      next.timer = 0;
      if (view === next) postView(next);
    }, SPA_SETTLE);
  }

  function watchHistory() {
    ["pushState", "replaceState"].forEach((name) => {
      const original = history[name];
      if (typeof original !== "function") return;
      // Wrapped, not replaced: the page's call does exactly what it did, then we look.
      history[name] = function () {
        const result = original.apply(this, arguments);
        try { onUrlChange(); } catch (e) { console.debug("callbox:", e); }
        return result;
      };
    });
    window.addEventListener("popstate", onUrlChange);
    window.addEventListener("hashchange", onUrlChange);
  }

  function startTracking() {
    if (!tracking) return;
    watchHistory();
    postView(openView(document.referrer));
  }

  document.addEventListener("visibilitychange", () => {
    if (!view) return;
    if (document.visibilityState === "visible") resumeView(view);
    else { pauseView(view); sendDwell(view); }
  });
  // pagehide, not unload: it fires on phones and keeps the page eligible for the back cache.
  window.addEventListener("pagehide", () => { if (view) { pauseView(view); sendDwell(view); } });
  window.addEventListener("pageshow", (e) => { if (e.persisted && view) resumeView(view); });

  /** Tell the box who the host site says this visitor is (a signed identity); once per page. */
  function identify() {
    const attr = (name) => (script.getAttribute("data-customer-" + name) || "").trim();
    const id = attr("id");
    const ts = attr("ts");
    const sig = attr("sig");
    if (!id || !ts || !sig) return;
    const body = { site: SITE, customer_id: id, ts: /^\d+$/.test(ts) ? Number(ts) : ts, sig };
    ["name", "email", "phone"].forEach((k) => { if (attr(k)) body[k] = attr(k); });
    // A stale or wrong signature is the host site's bug, not the visitor's: say it quietly.
    api("POST", "/api/visitor/identify", body)
      .catch((err) => console.debug("callbox: identity not accepted:", err.code || err.message));
  }

  // ---- invitation ----------------------------------------------------------------------
  // An agent (or a rule) invites the visitor over the presence socket. The card stays down
  // while a chat is under way or the panel is up, and goes away once answered anywhere.
  let followUntil = 0; // ms epoch: until then, adopt a chat another tab opens by accepting
  const FOLLOW_TTL = 10000; // ms another tab has to store the conversation it accepted

  function onInvitation(inv) {
    if (!inv || inv.id == null || typeof inv.message !== "string") return;
    if (invitation && String(invitation.id) === String(inv.id)) return; // resent on reconnect
    const agent = inv.agent && typeof inv.agent.display_name === "string" && inv.agent.display_name
      ? inv.agent : null;
    invitation = { id: inv.id, message: inv.message, agent, busy: false };
    renderInvite();
  }

  function onInvitationClosed(f) {
    if (!invitation || String(f.invitation_id) !== String(invitation.id)) return;
    const ours = invitation.busy; // our own accept: its HTTP answer brings the conversation
    invitation = null;
    renderInvite();
    if (f.status === "accepted" && !ours) {
      followUntil = Date.now() + FOLLOW_TTL;
      followConversation(store.get(K_CONV));
    }
  }

  /** Show the chat another tab of this visitor opened by accepting the invitation there. */
  function followConversation(id) {
    if (!id || id === convId || chatting() || Date.now() > followUntil) return;
    followUntil = 0;
    api("GET", "/api/visitor/conversations/" + encodeURIComponent(id))
      .then((r) => {
        if (!r.conversation || r.conversation.status === "closed" || chatting()) return;
        adoptConversation(r.conversation);
        sync();
      })
      .catch(() => { /* this tab shows it after its next load */ });
  }

  function renderInvite() {
    const inv = invitation;
    const show = !!inv && !isOpen && !chatting();
    if (!show) {
      if (inviteEl.hidden) return;
      const focused = shadow.activeElement && inviteEl.contains(shadow.activeElement);
      inviteEl.hidden = true;
      inviteEl.removeAttribute("data-invitation");
      if (focused) launcher.focus(); // not lost on the page behind
      return;
    }
    invAccept.disabled = inv.busy;
    invDecline.disabled = inv.busy;
    if (inviteEl.getAttribute("data-invitation") === String(inv.id)) return;
    inviteEl.hidden = false;
    inviteEl.setAttribute("data-invitation", String(inv.id));
    // Filled after it is shown, so the live region reads it out.
    const name = inv.agent ? inv.agent.display_name : t("invTeam");
    invAvatar.textContent = Array.from(name)[0] || "";
    invName.textContent = name;
    invRole.hidden = !inv.agent;
    invText.textContent = inv.message;
  }

  function acceptInvite() {
    const inv = invitation;
    if (!inv || inv.busy) return;
    inv.busy = true;
    renderInvite();
    ensureSession()
      .then(() => api("POST", "/api/visitor/invitations/" + encodeURIComponent(inv.id) + "/accept",
        { lang: LANG }))
      .then((r) => {
        if (invitation === inv) invitation = null;
        if (!r.conversation) return;
        adoptConversation(r.conversation);
        setOpen(true);
        sync(); // joining replays the history: the agent's invitation is its first message
      }, (err) => {
        console.debug("callbox: invitation not accepted:", err.code || err.message);
        inv.busy = false;
        // Answered elsewhere or expired: take the card down. A network blip: let them retry.
        const gone = err.status && err.status < 500 && err.code !== "rate_limited";
        if (gone && invitation === inv) invitation = null;
      })
      .then(renderInvite);
  }

  function declineInvite() {
    const inv = invitation;
    if (!inv || inv.busy) return;
    invitation = null;
    renderInvite();
    ensureSession()
      .then(() => api("POST", "/api/visitor/invitations/" + encodeURIComponent(inv.id) + "/decline"))
      .catch((err) => console.debug("callbox: decline not recorded:", err.code || err.message));
  }

  invAccept.addEventListener("click", acceptInvite);
  invDecline.addEventListener("click", declineInvite);
  inviteEl.addEventListener("keydown", (e) => { if (e.key === "Escape") declineInvite(); });
  window.addEventListener("storage", (e) => { if (e.key === K_CONV) followConversation(e.newValue); });

  // ---- start ---------------------------------------------------------------------------
  function start() {
    document.body.appendChild(host);
    outbox.forEach(addPending); // unsent text from before a reload is still on its way
    setStatus();
    ensureSession()
      .then(() => {
        identify();
        startTracking();
        loadTopics();
        if (!convId) return null;
        return api("GET", "/api/visitor/conversations/" + encodeURIComponent(convId)).then(
          (r) => {
            if (!r.conversation || r.conversation.status === "closed") forgetConversation();
            else conv = r.conversation; // history is replayed by join, from seq 0 on a fresh page
          },
          (err) => { if (err.status === 404) forgetConversation(); else throw err; });
      })
      .then(() => (wanted() ? sync() : setStatus()))
      .catch(() => { if (wanted()) scheduleRetry(); });
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
