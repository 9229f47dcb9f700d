// Callbox webhooks (a tab of the desk settings page; docs/webhooks.md): the receivers
// of the service desk's events, switched on and off in the list, and one form that
// adds, changes, pings or deletes one through /api/console/webhooks. The API shows a
// webhook's signing secret once, when it is made or renewed: the page shows it then,
// to copy, and never again. One webhook's delivery log opens below the list (status,
// attempts, the receiver's last answer, the next retry) and refreshes itself while
// it is shown; a delivered or given-up delivery can be sent again.
// Keys on this tab: N new webhook, Esc close, Ctrl+Enter save. Names go in as text.

import { T, fmt } from "./console-i18n.js";
import { api, el } from "./console-base.js";
import { when } from "./ticket-fields.js";
import {
  checkedValues, editorKeys, fillChecks, flashSaved, listText, markRefused, showRefusal,
} from "./desk-editor.js";

export const LOG_REFRESH = 5000; // ms between refreshes of an open delivery log
const LOG_MAX = 100; // deliveries one request may list (the API's most)

const KNOWN = [
  [/^url /, "dsWhBadUrl"],
  [/^at most (?<n>\d+) webhooks/, "dsWhTooMany"],
  [/^the webhook is disabled/, "dsWhDisabled"],
  [/^the delivery is still pending/, "dsWhPending"],
];
const EVENT_TEXT = {
  "ticket.created": T.dsEvCreated,
  "ticket.updated": T.dsEvUpdated,
  "ticket.state_changed": T.dsEvStateChanged,
  "ticket.replied": T.dsEvReplied,
  "ticket.sla_warning": T.dsEvSlaWarning,
  "ticket.sla_breached": T.dsEvSlaBreached,
  "webhook.ping": T.dsEvPing,
};
const STATUS_TEXT = {
  queued: T.dsStQueued,
  delivered: T.dsStDelivered,
  failed: T.dsStFailed,
  gave_up: T.dsStGaveUp,
};
const named = (map, value) => map[value] || String(value);
const clone = (tpl) => tpl.content.firstElementChild.cloneNode(true);
const part = (node, name) => node.querySelector(`[data-f="${name}"]`);

export async function startWebhooks(desk) {
  const area = desk.root.querySelector('[data-cb="area-webhooks"]');
  const $ = (name) => area.querySelector(`[data-cb="${name}"]`);
  const ui = {
    rows: $("webhook-rows"),
    rowTpl: $("webhook-row-tpl"),
    empty: $("webhooks-empty"),
    listError: $("webhooks-error"),
    form: $("webhook-form"),
    title: $("webhook-form-title"),
    events: $("webhook-events"),
    error: $("webhook-error"),
    save: $("webhook-save"),
    ping: $("webhook-ping"),
    rotate: $("webhook-rotate"),
    remove: $("webhook-delete"),
    ok: $("webhook-ok"),
    secret: $("secret-box"),
    secretOf: $("secret-of"),
    secretValue: $("secret-value"),
    copied: $("secret-copied"),
    log: $("log"),
    logTitle: $("log-title"),
    logRows: $("log-rows"),
    logTpl: $("delivery-row-tpl"),
    logEmpty: $("log-empty"),
    logError: $("log-error"),
    logMore: $("log-more"),
  };
  const f = ui.form.elements;
  const EVENTS = desk.V.events;
  let hooks = [];
  let editing = null; // the id in the form, 0 for a new one, null when closed
  let logOf = null; // the webhook whose log is open
  let deliveries = [];
  let logTimer = 0;

  const eventsText = (events) => (events.length ? listText(events.map((e) => named(EVENT_TEXT, e))) : T.dsWhAllEvents);

  // ---- The list -------------------------------------------------------------------------
  function row(h) {
    const tr = clone(ui.rowTpl);
    tr.dataset.webhookId = String(h.id);
    tr.classList.toggle("off", !h.enabled);
    tr.classList.toggle("editing", h.id === editing);
    part(tr, "name").textContent = h.name;
    part(tr, "url").textContent = h.url;
    part(tr, "events").textContent = eventsText(h.events);
    const box = part(tr, "enabled");
    box.checked = h.enabled;
    box.setAttribute("aria-label", fmt("dsEnabledFor", { name: h.name }));
    part(tr, "enabled-text").textContent = h.enabled ? T.ruleOn : T.ruleOff;
    box.addEventListener("change", () => toggle(h, box));
    part(tr, "log").addEventListener("click", () => openLog(h));
    part(tr, "edit").addEventListener("click", () => open(h));
    return tr;
  }

  function render() {
    ui.rows.replaceChildren(...hooks.map(row));
    ui.rows.closest("table").hidden = hooks.length === 0;
    ui.empty.hidden = hooks.length > 0;
  }

  async function load() {
    hooks = (await api("GET", "/api/console/webhooks")).webhooks;
    render();
  }

  async function toggle(h, box) {
    showRefusal(ui.listError, null);
    box.disabled = true;
    try {
      await api("PATCH", `/api/console/webhooks/${h.id}`, { enabled: box.checked });
      if (editing === h.id) f.enabled.checked = box.checked;
      await load();
      part(ui.rows.querySelector(`[data-webhook-id="${h.id}"]`), "enabled").focus();
    } catch (err) {
      box.checked = !box.checked;
      box.disabled = false;
      showRefusal(ui.listError, err, KNOWN);
    }
  }

  // ---- The secret, shown once -------------------------------------------------------------
  function showSecret(hook, secret) {
    ui.secretOf.textContent = hook.name;
    ui.secretValue.value = secret;
    ui.copied.hidden = true;
    ui.secret.hidden = false;
    ui.secret.scrollIntoView({ block: "nearest" });
    ui.secretValue.focus();
    ui.secretValue.select();
  }

  function hideSecret() {
    ui.secretValue.value = "";
    ui.secret.hidden = true;
  }

  async function copySecret() {
    ui.secretValue.select();
    try {
      await navigator.clipboard.writeText(ui.secretValue.value);
    } catch (_) {
      // No clipboard API outside secure contexts (plain http on the LAN): the old way.
      document.execCommand("copy");
    }
    ui.copied.textContent = T.dsWhCopied;
    ui.copied.hidden = false;
  }

  // ---- The form -------------------------------------------------------------------------
  function open(h) {
    editing = h ? h.id : 0;
    ui.form.reset();
    showRefusal(ui.error, null);
    markRefused(ui.form, null);
    ui.ok.hidden = true;
    ui.title.textContent = h ? h.name : T.dsWhNew;
    f.name.value = h ? h.name : "";
    f.url.value = h ? h.url : "";
    f.enabled.checked = h ? h.enabled : true;
    fillChecks(ui.events, EVENTS.map((e) => [e, named(EVENT_TEXT, e)]), h ? h.events : []);
    for (const button of [ui.ping, ui.rotate, ui.remove]) button.hidden = !h;
    ui.form.hidden = false;
    render();
    ui.form.scrollIntoView({ block: "nearest" });
    f.name.focus();
  }

  function close() {
    editing = null;
    ui.form.hidden = true;
    render();
  }

  function read() {
    return {
      name: f.name.value.trim(),
      url: f.url.value.trim(),
      events: checkedValues(ui.events),
      enabled: f.enabled.checked,
    };
  }

  function refusedPart(err) {
    const message = String(err.message || "");
    if (/^url\b|\$\.url/.test(message)) return f.url;
    if (/^name\b|\$\.name/.test(message)) return f.name;
    if (/event/.test(message)) return $("webhook-events-box");
    return null;
  }

  function said(text) {
    ui.ok.textContent = text;
    flashSaved(ui.ok);
  }

  async function save(e) {
    e.preventDefault();
    showRefusal(ui.error, null);
    markRefused(ui.form, null);
    ui.ok.hidden = true;
    ui.save.disabled = true;
    try {
      const body = read();
      let saved;
      if (editing) {
        saved = (await api("PATCH", `/api/console/webhooks/${editing}`, body)).webhook;
      } else {
        const made = await api("POST", "/api/console/webhooks", body);
        saved = made.webhook;
        showSecret(saved, made.secret);
      }
      editing = saved.id;
      ui.title.textContent = saved.name;
      for (const button of [ui.ping, ui.rotate, ui.remove]) button.hidden = false;
      await load();
      if (logOf && logOf.id === saved.id) openLog(saved);
      said(T.saved);
    } catch (err) {
      showRefusal(ui.error, err, KNOWN);
      markRefused(ui.form, refusedPart(err));
    } finally {
      ui.save.disabled = false;
    }
  }

  async function act(work) {
    showRefusal(ui.error, null);
    try {
      await work(hooks.find((x) => x.id === editing));
    } catch (err) {
      showRefusal(ui.error, err, KNOWN);
    }
  }

  const ping = () => act(async (h) => {
    await api("POST", `/api/console/webhooks/${h.id}/ping`);
    said(T.dsWhPinged);
    openLog(h);
  });

  const rotate = () => act(async (h) => {
    if (!window.confirm(fmt("dsWhConfirmRotate", { name: h.name }))) return;
    const renewed = await api("POST", `/api/console/webhooks/${h.id}/rotate-secret`);
    showSecret(renewed.webhook, renewed.secret);
  });

  const remove = () => act(async (h) => {
    if (!window.confirm(fmt("dsWhConfirmDelete", { name: h.name }))) return;
    await api("DELETE", `/api/console/webhooks/${h.id}`);
    if (logOf && logOf.id === h.id) closeLog();
    close();
    await load();
  });

  // ---- The delivery log -----------------------------------------------------------------
  function answerText(d) {
    const parts = [];
    if (d.last_status_code != null) parts.push(`HTTP ${d.last_status_code}`);
    else if (d.attempts > 0) parts.push(T.dsLogNoAnswer);
    if (d.last_error && !parts.includes(d.last_error)) parts.push(d.last_error); // "HTTP 500" once
    if (d.status === "failed" && d.next_attempt_at) parts.push(fmt("dsLogNext", { time: when(d.next_attempt_at) }));
    if (d.status === "delivered" && d.delivered_at) parts.push(fmt("dsLogDelivered", { time: when(d.delivered_at) }));
    return parts.join(" · ");
  }

  function deliveryRow(d) {
    const tr = clone(ui.logTpl);
    tr.dataset.deliveryId = d.id;
    tr.dataset.event = d.event;
    part(tr, "time").textContent = when(d.created_at);
    part(tr, "event").textContent = named(EVENT_TEXT, d.event);
    const status = part(tr, "status");
    status.textContent = named(STATUS_TEXT, d.status);
    status.dataset.status = d.status;
    status.classList.add(`st-${d.status.replace("_", "-")}`);
    part(tr, "attempts").textContent = String(d.attempts);
    part(tr, "answer").textContent = answerText(d);
    const again = part(tr, "redeliver");
    again.hidden = !(d.status === "delivered" || d.status === "gave_up");
    again.addEventListener("click", () => redeliver(d, again));
    return tr;
  }

  function renderLog(more) {
    ui.logRows.replaceChildren(...deliveries.map(deliveryRow));
    ui.logRows.closest("table").hidden = deliveries.length === 0;
    ui.logEmpty.hidden = deliveries.length > 0;
    ui.logMore.hidden = !more;
  }

  /** Read the newest deliveries again, as many as are shown (a page at least). */
  async function refreshLog() {
    if (!logOf) return;
    const limit = Math.min(LOG_MAX, Math.max(desk.V.log_page, deliveries.length));
    const hook = logOf;
    try {
      const page = (await api("GET", `/api/console/webhooks/${hook.id}/deliveries?limit=${limit}`)).deliveries;
      if (logOf !== hook) return;
      deliveries = page;
      showRefusal(ui.logError, null);
      renderLog(page.length === limit);
    } catch (err) {
      showRefusal(ui.logError, err, KNOWN);
    }
  }

  async function moreLog() {
    const last = deliveries[deliveries.length - 1];
    if (!logOf || !last) return;
    const query = `limit=${desk.V.log_page}&before=${encodeURIComponent(last.id)}`;
    try {
      const page = (await api("GET", `/api/console/webhooks/${logOf.id}/deliveries?${query}`)).deliveries;
      deliveries = deliveries.concat(page);
      renderLog(page.length === desk.V.log_page);
    } catch (err) {
      showRefusal(ui.logError, err, KNOWN);
    }
  }

  function openLog(h) {
    const other = !logOf || logOf.id !== h.id;
    logOf = h;
    ui.logTitle.textContent = fmt("dsLogOf", { name: h.name });
    ui.log.hidden = false;
    if (other) {
      deliveries = [];
      renderLog(false);
      ui.log.scrollIntoView({ block: "nearest" });
    }
    refreshLog();
    clearInterval(logTimer);
    logTimer = setInterval(() => {
      if (!document.hidden && desk.isShown("webhooks")) refreshLog();
    }, LOG_REFRESH);
  }

  function closeLog() {
    logOf = null;
    clearInterval(logTimer);
    ui.log.hidden = true;
  }

  async function redeliver(d, button) {
    button.disabled = true;
    showRefusal(ui.logError, null);
    try {
      await api("POST", `/api/console/webhooks/${d.webhook_id}/deliveries/${encodeURIComponent(d.id)}/redeliver`);
      await refreshLog();
    } catch (err) {
      button.disabled = false;
      showRefusal(ui.logError, err, KNOWN);
    }
  }

  ui.form.addEventListener("submit", save);
  $("webhook-new").addEventListener("click", () => open(null));
  $("webhook-cancel").addEventListener("click", close);
  ui.ping.addEventListener("click", ping);
  ui.rotate.addEventListener("click", rotate);
  ui.remove.addEventListener("click", remove);
  $("secret-copy").addEventListener("click", copySecret);
  $("secret-done").addEventListener("click", hideSecret);
  $("log-refresh").addEventListener("click", refreshLog);
  $("log-close").addEventListener("click", closeLog);
  ui.logMore.addEventListener("click", moreLog);
  editorKeys({ form: ui.form, onNew: () => open(null), onClose: close, active: () => desk.isShown("webhooks") });
  desk.on("shown", () => { if (desk.isShown("webhooks")) refreshLog(); });
  await load();
}
