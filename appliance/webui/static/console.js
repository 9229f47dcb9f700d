// Callbox agent console: queue, own conversations, live chat over /api/console/ws.
// Framework-free on purpose (STYLE.md #12). Every string that came from a user or
// visitor is inserted with textContent, never as HTML.
"use strict";

(() => {
  // Timing constants, module level so tests can find and shrink them.
  const RECONNECT_BASE = 500; // ms, first reconnect delay
  const RECONNECT_CAP = 10000; // ms, longest reconnect delay
  const PING_EVERY = 25000; // ms; keeps NATs and proxies from dropping an idle socket
  const PONG_TIMEOUT = 10000; // ms without pong before the socket is treated as dead
  const TYPING_THROTTLE = 2000; // ms between outgoing typing:true (protocol limit)
  const TYPING_IDLE = 3000; // ms of no keystrokes before typing:false
  const TYPING_STALE = 6000; // ms before a visitor's typing indicator expires on its own
  const GAP_FILL_DELAY = 3000; // ms to wait for a missing seq before fetching it over HTTP
  const FLASH_FOR = 6000; // ms a flash note stays up
  const BEEP_MIN_GAP = 1000; // ms; a burst of events gives one beep, not a chord
  const MAX_BODY_BYTES = 4096; // server limit on a message body (UTF-8)

  const CATALOG = {
    "zh-CN": {
      title: "Callbox 控制台",
      presence: "状态",
      online: "在线",
      away: "离开",
      offline: "离线",
      waiting: "排队中",
      mine: "我的会话",
      accept: "接入",
      emptyWaiting: "没有排队的访客",
      emptyMine: "暂无进行中的会话",
      pickOne: "从左侧选择一个会话",
      placeholder: "输入消息，Enter 发送，Shift+Enter 换行",
      send: "发送",
      close: "结束会话",
      typing: "访客正在输入…",
      visitor: "访客",
      you: "我",
      joined: "{name} 已接入会话",
      closed: "会话已结束",
      since: "{time} 开始",
      sending: "发送中…",
      tooLarge: "消息太长（最多 4096 字节），未发送。",
      rateLimited: "发送过快，{n} 秒后自动重试。",
      notSent: "未发送：{msg}",
      edit: "重新编辑",
      unread: "{n} 条未读",
      connecting: "正在连接…",
      reconnecting: "连接已断开，正在重连…",
      limitReached: "已达到您的同时会话上限。",
      notWaiting: "该会话已被接入或已结束。",
      failed: "操作失败：{msg}",
      presenceFailed: "状态未能更改：{msg}",
    },
    en: {
      title: "Callbox console",
      presence: "Status",
      online: "Online",
      away: "Away",
      offline: "Offline",
      waiting: "Waiting",
      mine: "My conversations",
      accept: "Accept",
      emptyWaiting: "No one is waiting",
      emptyMine: "No active conversations",
      pickOne: "Select a conversation on the left",
      placeholder: "Type a message. Enter sends, Shift+Enter adds a line",
      send: "Send",
      close: "Close",
      typing: "Visitor is typing…",
      visitor: "Visitor",
      you: "You",
      joined: "{name} joined",
      closed: "Conversation closed",
      since: "since {time}",
      sending: "Sending…",
      tooLarge: "Too long (at most 4096 bytes): not sent.",
      rateLimited: "Sending too fast; retrying in {n} s.",
      notSent: "Not sent: {msg}",
      edit: "Edit again",
      unread: "{n} unread",
      connecting: "Connecting…",
      reconnecting: "Connection lost, reconnecting…",
      limitReached: "You have reached your limit of concurrent chats.",
      notWaiting: "This conversation was already taken or has ended.",
      failed: "Failed: {msg}",
      presenceFailed: "Status not changed: {msg}",
    },
  };
  const LANG = (document.documentElement.lang || "").toLowerCase().startsWith("en") ? "en" : "zh-CN";
  const T = CATALOG[LANG];
  const fmt = (key, vars) => T[key].replace(/\{(\w+)\}/g, (_, k) => String(vars[k]));

  const root = document.querySelector('[data-cb="console"]');
  if (!root) return;
  const $ = (sel) => root.querySelector(sel);
  const ui = {
    presence: $('[data-cb="presence"]'),
    dot: $('[data-role="status-dot"]'),
    conn: $('[data-cb="conn"]'),
    waiting: $('[data-cb="waiting-list"]'),
    mine: $('[data-cb="mine-list"]'),
    waitingCount: $('[data-role="waiting-count"]'),
    mineCount: $('[data-role="mine-count"]'),
    chatName: $('[data-role="chat-name"]'),
    chatSub: $('[data-role="chat-sub"]'),
    closeBtn: $('[data-cb="close-conv"]'),
    flash: $('[data-cb="flash"]'),
    messages: $('[data-cb="messages"]'),
    typing: $('[data-cb="typing"]'),
    composer: $('[data-role="composer"]'),
    input: $('[data-cb="input"]'),
    send: $('[data-cb="send"]'),
  };
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const me = {
    id: Number(root.dataset.userId),
    name: root.dataset.userName || "",
    status: root.dataset.status || "offline",
  };

  // ---- State ---------------------------------------------------------------
  // One record per conversation we show. Each keeps its own detached message pane,
  // so switching chats keeps messages, draft and scroll without re-rendering.
  const convs = new Map(); // id -> record
  const outbox = new Map(); // client_msg_id -> {conversation_id, client_msg_id, body}
  const accepting = new Set(); // ids this agent just accepted: no "new assignment" beep
  let selected = null;
  let alerts = 0; // the "(n)" in the title
  const syncing = new Set(); // per snapshot in flight: ids that frames changed meanwhile
  let synced = false; // after the first snapshot, arrivals are news worth a beep

  function record(c) {
    let rec = convs.get(c.id);
    if (rec) return rec;
    const pane = el("div", "pane");
    rec = {
      id: c.id, conv: c, where: null, li: null,
      lastSeq: 0, baseSeq: 0, held: new Map(), gapTimer: 0,
      pane, list: el("div", "confirmed"), pend: el("div", "pending"), pendingEls: new Map(),
      draft: "", scrollTop: 0, stick: true, unread: 0, preview: "",
      joined: false, closed: false, visitorTyping: false, typingTimer: 0,
    };
    pane.append(rec.list, rec.pend);
    convs.set(c.id, rec);
    return rec;
  }

  // ---- Small helpers -------------------------------------------------------
  function el(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    return n;
  }

  // The box sends times in its own zone; show the wall-clock part as is, never
  // re-interpreted in the browser's zone (a remote agent may sit elsewhere).
  function hhmm(iso) {
    const m = /T(\d{2}):(\d{2})/.exec(iso || "");
    return m ? `${m[1]}:${m[2]}` : "";
  }

  // crypto.randomUUID exists only in secure contexts; the console is often plain
  // http on the LAN, where getRandomValues still works.
  function uuid() {
    if (window.crypto && crypto.randomUUID) {
      try { return crypto.randomUUID(); } catch (_) { /* insecure context */ }
    }
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function visitorName(c) {
    const v = c.visitor || {};
    if (v.name) return v.name;
    const id = String(v.id || c.id || "");
    return `${T.visitor} ${id.slice(-4)}`;
  }

  let flashTimer = 0;
  function flash(text) {
    ui.flash.textContent = text;
    ui.flash.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { ui.flash.hidden = true; }, FLASH_FOR);
  }

  const errText = (e) => (e && e.message ? e.message : String(e));

  // ---- HTTP ----------------------------------------------------------------
  async function api(method, path, body) {
    const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf;
      opts.body = JSON.stringify(body || {});
    }
    const res = await fetch(path, opts);
    if (res.status === 401) {
      location.assign("/login");
      throw new Error("not authenticated");
    }
    let data = null;
    try { data = await res.json(); } catch (_) { /* empty or non-JSON body */ }
    if (!res.ok) {
      const info = (data && data.error) || {};
      const err = new Error(info.message || res.statusText || String(res.status));
      err.code = info.code || String(res.status);
      throw err;
    }
    return data || {};
  }
  const convPath = (id, tail) => `/api/console/conversations/${encodeURIComponent(id)}${tail || ""}`;

  // ---- Title badge and sound ------------------------------------------------
  const renderTitle = () => { document.title = alerts > 0 ? `(${alerts}) ${T.title}` : T.title; };
  const clearAlerts = () => { alerts = 0; renderTitle(); };
  const notify = () => { alerts += 1; renderTitle(); beep(); };

  let audio = null;
  let lastBeep = 0;
  // Browsers keep an AudioContext suspended until a user gesture, so it is created
  // (or resumed) on the first click or key press; beeps before that are silent.
  function unlockAudio() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
    } catch (_) { audio = null; }
  }
  function beep() {
    const now = Date.now();
    if (now - lastBeep < BEEP_MIN_GAP) return;
    lastBeep = now;
    if (!audio || audio.state !== "running") return;
    const t0 = audio.currentTime;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.setValueAtTime(880, t0);
    osc.frequency.setValueAtTime(1320, t0 + 0.09);
    // Ramp instead of switching the gain, which would click.
    gain.gain.setValueAtTime(0.0001, t0);
    gain.gain.exponentialRampToValueAtTime(0.2, t0 + 0.015);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start(t0);
    osc.stop(t0 + 0.27);
  }

  // A new item counts as "seen" only when it is on screen in a visible tab.
  const onScreen = (rec) => rec === selected && !document.hidden;

  // ---- Lists ---------------------------------------------------------------
  function placeOf(c) {
    if (c.status === "waiting") return "waiting";
    if (c.status === "active" && c.agent && Number(c.agent.id) === me.id) return "mine";
    return null;
  }

  // Apply a conversation object from a frame, a list snapshot or an HTTP answer.
  function applyConversation(c, live) {
    for (const touched of syncing) touched.add(c.id);
    const old = convs.get(c.id);
    // Assignment and closing each add a system message, so last_seq orders snapshots.
    if (old && typeof c.last_seq === "number" && c.last_seq < (old.conv.last_seq || 0)) return;
    const where = placeOf(c);
    if (!old && !where) return;
    const rec = record(c);
    rec.conv = c;
    const was = rec.where;
    if (where === "mine" && was !== "mine") {
      rec.baseSeq = Math.max(rec.baseSeq, c.last_seq || 0);
      if (live && !accepting.has(c.id)) {
        if (!onScreen(rec)) rec.unread += 1;
        notify();
      }
    } else if (where === "waiting" && was !== "waiting" && live) {
      notify();
    }
    rec.where = where;
    if (where === "mine") rec.closed = false;
    if (!where && c.status === "closed") rec.closed = true;
    renderItem(rec);
    if (where === "mine") join(rec);
    if (!where && rec !== selected) forget(rec);
    if (rec === selected) renderChatHead();
  }

  function forget(rec) {
    if (rec.li) rec.li.remove();
    clearTimeout(rec.gapTimer);
    clearTimeout(rec.typingTimer);
    for (const id of rec.pendingEls.keys()) outbox.delete(id);
    convs.delete(rec.id);
  }

  function renderItem(rec) {
    const list = rec.where === "waiting" ? ui.waiting : rec.where === "mine" ? ui.mine : null;
    if (!list) {
      if (rec.li) rec.li.remove();
      rec.li = null;
    } else {
      if (!rec.li || rec.li.dataset.place !== rec.where) {
        if (rec.li) rec.li.remove();
        rec.li = makeItem(rec);
        list.append(rec.li);
      }
      fillItem(rec);
    }
    ui.waitingCount.textContent = ui.waiting.children.length || "";
    ui.mineCount.textContent = ui.mine.children.length || "";
  }

  function makeItem(rec) {
    const li = el("li", `conv ${rec.where}`);
    Object.assign(li.dataset, { cb: "conv", id: rec.id, place: rec.where });
    const top = el("div", "conv-top");
    li.append(top);
    if (rec.where === "waiting") {
      top.append(el("span", "name"), el("span", "since"));
      const btn = el("button", "accept", T.accept);
      btn.type = "button";
      btn.dataset.cb = "accept";
      btn.addEventListener("click", () => accept(rec.id, btn));
      li.append(btn);
      return li;
    }
    top.append(el("span", "name"), el("span", "unread"));
    li.append(el("div", "preview"));
    li.tabIndex = 0;
    li.setAttribute("role", "button");
    li.addEventListener("click", () => select(rec.id));
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(rec.id); }
    });
    return li;
  }

  function fillItem(rec) {
    const li = rec.li;
    li.querySelector(".name").textContent = visitorName(rec.conv);
    if (rec.where === "waiting") {
      li.querySelector(".since").textContent = fmt("since", { time: hhmm(rec.conv.created_at) });
      return;
    }
    const badge = li.querySelector(".unread");
    badge.hidden = rec.unread === 0;
    badge.textContent = String(rec.unread);
    badge.title = fmt("unread", { n: rec.unread });
    li.dataset.unread = String(rec.unread);
    li.querySelector(".preview").textContent = rec.preview;
    li.classList.toggle("selected", rec === selected);
    li.setAttribute("aria-current", rec === selected ? "true" : "false");
  }

  // Replace list membership with a server snapshot (at start and after every
  // reconnect, since frames may have been missed while the socket was down).
  async function syncLists() {
    const touched = new Set();
    syncing.add(touched);
    let mine, waiting;
    try {
      [mine, waiting] = await Promise.all([
        api("GET", "/api/console/conversations?scope=mine"),
        api("GET", "/api/console/conversations?scope=waiting"),
      ]);
    } finally {
      syncing.delete(touched);
    }
    const fresh = new Map();
    for (const c of [...(mine.conversations || []), ...(waiting.conversations || [])]) fresh.set(c.id, c);
    for (const rec of [...convs.values()]) {
      if (rec.where && !fresh.has(rec.id) && !touched.has(rec.id)) {
        applyConversation({ ...rec.conv, status: "closed", last_seq: undefined }, false);
      }
    }
    for (const c of fresh.values()) if (!touched.has(c.id)) applyConversation(c, synced);
    synced = true;
  }

  async function accept(id, btn) {
    btn.disabled = true;
    accepting.add(id);
    setTimeout(() => accepting.delete(id), 10000);
    try {
      const r = await api("POST", convPath(id, "/accept"), {});
      applyConversation(r.conversation, false);
      select(id);
    } catch (e) {
      btn.disabled = false;
      if (e.code === "limit_reached") flash(T.limitReached);
      else if (e.code === "not_waiting" || e.code === "not_found") {
        flash(T.notWaiting);
        const rec = convs.get(id);
        if (rec && rec.where === "waiting") { rec.where = null; renderItem(rec); forget(rec); }
      } else flash(fmt("failed", { msg: errText(e) }));
    }
  }

  // ---- Center pane ---------------------------------------------------------
  const nearBottom = () => ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
  const toBottom = () => { ui.messages.scrollTop = ui.messages.scrollHeight; };

  function select(id) {
    const rec = convs.get(id);
    if (!rec) return;
    const prev = selected;
    if (prev && prev !== rec) {
      prev.draft = ui.input.value;
      prev.scrollTop = ui.messages.scrollTop;
      prev.stick = nearBottom();
      stopTyping();
      if (!prev.where) forget(prev);
    }
    selected = rec;
    ui.messages.replaceChildren(rec.pane);
    ui.input.value = rec.draft;
    if (rec.stick) toBottom();
    else ui.messages.scrollTop = rec.scrollTop;
    rec.unread = 0;
    clearAlerts();
    for (const r of convs.values()) if (r.li && r.where === "mine") fillItem(r);
    renderChatHead();
    renderTyping();
    if (!ui.input.disabled) ui.input.focus();
  }

  function renderChatHead() {
    const rec = selected;
    if (!rec) {
      ui.chatName.textContent = "";
      ui.chatSub.textContent = "";
      ui.closeBtn.hidden = true;
      ui.input.disabled = ui.send.disabled = true;
      ui.messages.replaceChildren(el("p", "placeholder", T.pickOne));
      return;
    }
    ui.chatName.textContent = visitorName(rec.conv);
    ui.chatSub.textContent = rec.closed ? T.closed : fmt("since", { time: hhmm(rec.conv.created_at) });
    const open = rec.where === "mine" && !rec.closed;
    ui.closeBtn.hidden = !open;
    ui.input.disabled = ui.send.disabled = !open;
    ui.composer.classList.toggle("off", !open);
  }

  function renderTyping() {
    const on = !!(selected && selected.visitorTyping && !selected.closed);
    ui.typing.hidden = !on;
    ui.typing.textContent = on ? T.typing : "";
  }

  // A bubble. data-seq/data-sender are stable hooks for tests.
  function bubble(m) {
    const sender = m.sender_type || "agent";
    const b = el("div", `msg ${sender}`);
    b.dataset.cb = "message";
    b.dataset.sender = sender;
    if (m.seq) b.dataset.seq = String(m.seq);
    if (sender === "system") {
      const text = m.event === "assigned" ? fmt("joined", { name: m.sender_name || "" })
        : m.event === "closed" ? T.closed : (m.body || "");
      b.append(el("span", "body", text), el("time", "time", hhmm(m.created_at)));
    } else {
      const who = sender === "agent" && m.sender_name === me.name ? T.you : (m.sender_name || T.visitor);
      const meta = el("div", "meta");
      meta.append(el("span", "who", who), el("time", "time", m.created_at ? hhmm(m.created_at) : T.sending));
      b.append(meta, el("div", "body", m.body || ""));
    }
    if (m.created_at) b.querySelector("time").setAttribute("datetime", m.created_at);
    return b;
  }

  // Accept a message only in seq order: drop repeats, hold early arrivals until the
  // gap before them is filled. The server orders frames per socket, so holding is a
  // safety net (e.g. an ack whose echo and predecessors were lost with a socket).
  function ingest(rec, m) {
    if (!m || typeof m.seq !== "number" || m.seq <= rec.lastSeq) return;
    if (m.seq > rec.lastSeq + 1) {
      rec.held.set(m.seq, m);
      if (!rec.gapTimer) rec.gapTimer = setTimeout(() => fillGap(rec), GAP_FILL_DELAY);
      return;
    }
    show(rec, m);
    for (let next = rec.held.get(rec.lastSeq + 1); next; next = rec.held.get(rec.lastSeq + 1)) {
      rec.held.delete(next.seq);
      show(rec, next);
    }
    for (const s of rec.held.keys()) if (s <= rec.lastSeq) rec.held.delete(s);
  }

  async function fillGap(rec) {
    rec.gapTimer = 0;
    if (!rec.held.size || !convs.has(rec.id)) return;
    try {
      const r = await api("GET", convPath(rec.id, `/messages?after_seq=${rec.lastSeq}`));
      for (const m of r.messages || []) ingest(rec, m);
    } catch (e) {
      console.warn("callbox: could not fill message gap", e);
    }
  }

  function show(rec, m) {
    rec.lastSeq = m.seq;
    const stick = rec === selected && nearBottom();
    const pending = m.client_msg_id && rec.pendingEls.get(m.client_msg_id);
    if (pending) {
      pending.remove();
      rec.pendingEls.delete(m.client_msg_id);
      outbox.delete(m.client_msg_id);
    }
    rec.list.append(bubble(m));
    if (m.sender_type === "system") {
      if (m.event === "closed") rec.closed = true;
    } else {
      rec.preview = (m.body || "").slice(0, 80);
    }
    if (m.sender_type === "visitor") {
      rec.visitorTyping = false;
      if (rec === selected) renderTyping();
      if (m.seq > rec.baseSeq && !onScreen(rec)) {
        rec.unread += 1;
        notify();
      }
    }
    if (rec.li) fillItem(rec);
    if (rec === selected) {
      if (stick || pending) toBottom();
      if (rec.closed) renderChatHead();
    }
  }

  // ---- Sending -------------------------------------------------------------
  function sendMessage() {
    const rec = selected;
    if (!rec || rec.where !== "mine" || rec.closed) return;
    const body = ui.input.value;
    if (!body.trim()) return;
    ui.input.value = "";
    rec.draft = "";
    stopTyping();
    const id = uuid();
    const b = bubble({ sender_type: "agent", sender_name: me.name, body });
    b.dataset.pending = "1";
    rec.pend.append(b);
    rec.pendingEls.set(id, b);
    toBottom();
    // Checked here too: a huge body could exceed the 64 KiB frame limit and cost
    // the whole socket (close 1009) instead of one polite error.
    if (new TextEncoder().encode(body).length > MAX_BODY_BYTES) {
      markFailed(rec, id, T.tooLarge, body);
      return;
    }
    const entry = { conversation_id: rec.id, client_msg_id: id, body };
    outbox.set(id, entry);
    transmit(entry);
  }

  const transmit = (entry) => wsSend({ type: "send", ...entry });

  function noteOn(b, text) {
    let n = b.querySelector(".note");
    if (!n) { n = el("div", "note"); b.append(n); }
    n.replaceChildren(el("span", null, text));
    return n;
  }

  function markFailed(rec, id, text, body) {
    outbox.delete(id);
    const b = rec.pendingEls.get(id);
    if (!b) return;
    rec.pendingEls.delete(id);
    // Out of the pending tail, so later messages go below it, in time order.
    rec.list.append(b);
    delete b.dataset.pending;
    b.dataset.failed = "1";
    b.classList.add("failed");
    const t = b.querySelector("time");
    if (t) t.textContent = "";
    const n = noteOn(b, text);
    // Put the text back in the composer so the agent can shorten or retry it.
    const again = el("button", "link", T.edit);
    again.type = "button";
    again.addEventListener("click", () => {
      b.remove();
      if (selected === rec && !ui.input.disabled) {
        ui.input.value = ui.input.value ? `${ui.input.value}\n${body}` : body;
        rec.draft = ui.input.value;
        ui.input.focus();
      }
    });
    n.append(" ", again);
  }

  function findPending(id) {
    for (const rec of convs.values()) if (rec.pendingEls.has(id)) return rec;
    return null;
  }

  // ---- Typing --------------------------------------------------------------
  let typingConv = null;
  let typingSentAt = 0;
  let typingIdle = 0;

  function onInput() {
    const rec = selected;
    if (!rec || ui.input.disabled) return;
    rec.draft = ui.input.value;
    if (!ui.input.value) { stopTyping(); return; }
    const now = Date.now();
    if (typingConv !== rec.id || now - typingSentAt >= TYPING_THROTTLE) {
      if (typingConv && typingConv !== rec.id) stopTyping();
      wsSend({ type: "typing", conversation_id: rec.id, active: true });
      typingConv = rec.id;
      typingSentAt = now;
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, TYPING_IDLE);
  }

  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingConv) wsSend({ type: "typing", conversation_id: typingConv, active: false });
    typingConv = null;
    typingSentAt = 0;
  }

  function onTypingFrame(f) {
    if (f.sender_type !== "visitor") return;
    const rec = convs.get(f.conversation_id);
    if (!rec) return;
    rec.visitorTyping = !!f.active;
    clearTimeout(rec.typingTimer);
    // A lost "active:false" must not leave the indicator on forever.
    if (rec.visitorTyping) {
      rec.typingTimer = setTimeout(() => { rec.visitorTyping = false; if (rec === selected) renderTyping(); }, TYPING_STALE);
    }
    if (rec === selected) renderTyping();
  }

  // ---- WebSocket -----------------------------------------------------------
  let sock = null;
  let sockReady = false;
  let attempt = 0;
  let reconnectTimer = 0;
  let pingTimer = 0;
  let pongTimer = 0;

  function wsSend(frame) {
    if (!sock || !sockReady) return false;
    sock.send(JSON.stringify(frame));
    return true;
  }

  function setConn(state) {
    ui.conn.hidden = state === "online";
    ui.conn.textContent = state === "connecting" ? T.connecting : state === "lost" ? T.reconnecting : "";
    root.dataset.conn = state;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    setConn(attempt === 0 ? "connecting" : "lost");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/api/console/ws`);
    sock = ws;
    sockReady = false;
    ws.onmessage = (e) => {
      if (ws !== sock) return;
      let f;
      try { f = JSON.parse(e.data); } catch (_) { return; }
      if (f && typeof f === "object") onFrame(f);
    };
    ws.onclose = () => { if (ws === sock) drop(); };
  }

  // Give up on the current socket and schedule the next one. The old socket is
  // detached first: a dead TCP link can take minutes to report its own close.
  function drop() {
    const ws = sock;
    sock = null;
    sockReady = false;
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
    for (const rec of convs.values()) rec.joined = false;
    typingConv = null;
    if (ws) { try { ws.close(); } catch (_) { /* already closing */ } }
    setConn("lost");
    // Full doubling with "equal jitter": half fixed, half random, so a whole office
    // reconnecting after a blip does not arrive in one burst.
    const ceiling = Math.min(RECONNECT_CAP, RECONNECT_BASE * 2 ** attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    attempt += 1;
    reconnectTimer = setTimeout(async () => {
      // A socket that never opens may mean the session expired: api() redirects then.
      if (attempt >= 3) { try { await api("GET", "/api/console/me"); } catch (_) { /* keep trying */ } }
      connect();
    }, delay);
  }

  function startPing() {
    clearInterval(pingTimer);
    pingTimer = setInterval(() => {
      if (!wsSend({ type: "ping" })) return;
      clearTimeout(pongTimer);
      pongTimer = setTimeout(drop, PONG_TIMEOUT);
    }, PING_EVERY);
  }

  function join(rec) {
    if (rec.joined || rec.where !== "mine") return;
    if (wsSend({ type: "join", conversation_id: rec.id, after_seq: rec.lastSeq })) rec.joined = true;
  }

  async function onReady(f) {
    attempt = 0;
    sockReady = true;
    setConn("online");
    startPing();
    if (f.user && f.user.status) setPresence(f.user.status);
    const ws = sock;
    try { await syncLists(); } catch (e) { console.warn("callbox: list sync failed", e); }
    if (ws !== sock) return;
    for (const rec of convs.values()) join(rec);
    // Same client_msg_id as before: the server answers repeats with the original ack.
    for (const entry of outbox.values()) transmit(entry);
  }

  function onFrame(f) {
    switch (f.type) {
      case "ready": onReady(f); break;
      case "pong": clearTimeout(pongTimer); break;
      case "conversation": if (f.conversation) applyConversation(f.conversation, true); break;
      case "message": {
        const rec = f.message && convs.get(f.message.conversation_id);
        if (rec) ingest(rec, f.message);
        break;
      }
      case "ack": {
        outbox.delete(f.client_msg_id);
        const rec = f.message && convs.get(f.message.conversation_id);
        // The ack names the id even if its message echo does not; keep them paired.
        if (rec) ingest(rec, { ...f.message, client_msg_id: f.message.client_msg_id || f.client_msg_id });
        break;
      }
      case "typing": onTypingFrame(f); break;
      // Not in docs/api.md, but the server sends it when the status changes
      // elsewhere (another tab, or the offline grace after all sockets closed).
      case "presence": if (f.status) setPresence(f.status); break;
      case "error": onError(f); break;
      default: break;
    }
  }

  function onError(f) {
    const rec = f.ref ? findPending(f.ref) : null;
    if (f.code === "not_authenticated") { location.assign("/login"); return; }
    if (!rec) {
      if (f.code !== "rate_limited") console.warn("callbox: server error", f.code, f.message);
      return;
    }
    const entry = outbox.get(f.ref);
    if (f.code === "rate_limited" && entry) {
      const secs = Math.max(1, Number(f.retry_after) || 1);
      noteOn(rec.pendingEls.get(f.ref), fmt("rateLimited", { n: secs }));
      setTimeout(() => {
        if (!outbox.has(entry.client_msg_id)) return;
        const b = rec.pendingEls.get(entry.client_msg_id);
        const n = b && b.querySelector(".note");
        if (n) n.remove();
        transmit(entry);
      }, secs * 1000);
      return;
    }
    const text = f.code === "message_too_large" ? T.tooLarge : fmt("notSent", { msg: f.message || f.code });
    markFailed(rec, f.ref, text, entry ? entry.body : "");
  }

  // ---- Presence ------------------------------------------------------------
  function setPresence(status) {
    me.status = status;
    ui.presence.value = status;
    ui.dot.className = `dot ${status}`;
    root.dataset.status = status;
  }

  async function changePresence() {
    const wanted = ui.presence.value;
    const before = me.status;
    ui.presence.disabled = true;
    try {
      const r = await api("POST", "/api/console/presence", { status: wanted });
      setPresence(r.status || wanted);
    } catch (e) {
      setPresence(before);
      flash(fmt("presenceFailed", { msg: errText(e) }));
    } finally {
      ui.presence.disabled = false;
    }
  }

  // ---- Wiring --------------------------------------------------------------
  function translatePage() {
    for (const n of root.querySelectorAll("[data-i18n]")) n.textContent = T[n.dataset.i18n] || "";
    for (const n of root.querySelectorAll("[data-i18n-placeholder]")) n.placeholder = T[n.dataset.i18nPlaceholder] || "";
  }

  async function closeSelected() {
    const rec = selected;
    if (!rec) return;
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

  function start() {
    translatePage();
    setPresence(me.status);
    renderTitle();
    renderChatHead();
    ui.presence.addEventListener("change", changePresence);
    ui.closeBtn.addEventListener("click", closeSelected);
    ui.composer.addEventListener("submit", (e) => { e.preventDefault(); sendMessage(); });
    ui.input.addEventListener("input", onInput);
    ui.input.addEventListener("keydown", (e) => {
      // isComposing: Enter also confirms a pinyin/IME candidate and must not send.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        sendMessage();
      }
    });
    ui.messages.addEventListener("scroll", () => {
      if (!selected || selected.pane.parentNode !== ui.messages) return;
      selected.scrollTop = ui.messages.scrollTop;
      selected.stick = nearBottom();
    });
    const seen = () => {
      if (document.hidden) return;
      clearAlerts();
      if (selected && selected.unread) { selected.unread = 0; if (selected.li) fillItem(selected); }
    };
    window.addEventListener("focus", seen);
    document.addEventListener("visibilitychange", seen);
    for (const ev of ["pointerdown", "keydown"]) window.addEventListener(ev, unlockAudio, { passive: true });

    syncLists().catch((e) => flash(fmt("failed", { msg: errText(e) })));
    connect();
  }

  start();
})();
