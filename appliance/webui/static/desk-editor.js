// What the service desk's two editors (SLA policies, ticket rules) share: the API's
// refusals in the console's words, shown in the form they concern; choice boxes whose
// values keep their JSON type; durations as hours and minutes; opening hours as typed;
// the keys every editor form answers. Everything from the API goes in as text.

import { T, fmt } from "./console-i18n.js";
import { el, errText } from "./console-base.js";

export const SAVED_FOR = 3000; // ms the "saved" note stays up

/** The words the server gave the page for the API's fields, from core (data-vocab). */
export const vocabulary = (root) => JSON.parse(root.dataset.vocab || "{}");

export const listText = (items) => items.join(T.listSep);

/** A field label and the values it has, as a list shows them ("Priority: high, urgent"). */
export const labelled = (label, items) => fmt("deskLabelled", { label, list: listText(items) });

// ---- Durations -------------------------------------------------------------------------
/** Minutes as people read them: "1 h 30 min", "45 min", "16 h". */
export function duration(minutes) {
  const h = Math.floor(Math.abs(minutes) / 60);
  const m = Math.abs(minutes) % 60;
  if (h && m) return fmt("deskHoursMinutes", { h, m });
  return h ? fmt("deskHours", { h }) : fmt("deskMinutes", { m });
}

/** Fill an hours and a minutes box with an amount of minutes ("" for none). */
export function showMinutes(hBox, mBox, minutes) {
  if (minutes == null) {
    hBox.value = "";
    mBox.value = "";
    return;
  }
  const total = Math.abs(minutes);
  hBox.value = String(Math.floor(total / 60));
  mBox.value = String(total % 60);
}

/** The minutes in an hours and a minutes box: null when both are empty; what was typed
 * when it is no whole number, so the API says what is wrong with it. */
export function readMinutes(hBox, mBox) {
  const h = hBox.value.trim();
  const m = mBox.value.trim();
  if (h === "" && m === "") return null;
  const total = Number(h || 0) * 60 + Number(m || 0);
  return Number.isInteger(total) ? total : `${h}:${m}`;
}

// ---- Opening hours, as a supervisor types them ------------------------------------------
// One span: 9:00-18:00, 09:00 – 18:00, 09:00~18:00, and the Chinese "to" marks.
const SPAN = /^(\d{1,2}:\d{2})\s*[-\u2013\u2014~\uff5e\u81f3\u5230]\s*(\d{1,2}:\d{2})$/;

/** Split what was typed at the list marks people use (commas, the Chinese ones, ;). */
export const splitList = (text) =>
  String(text || "").split(/[,\uff0c\u3001;\uff1b]/).map((s) => s.trim()).filter(Boolean);

/** The spans typed for a day as [[open, close], ...]; throws a plain error naming the
 * span that cannot be read. */
export function readSpans(text, dayName) {
  return splitList(text).map((span) => {
    const m = SPAN.exec(span);
    if (!m) throw plain(fmt("deskBadSpan", { text: `${dayName} ${span}` }));
    return [m[1], m[2]].map((t) => t.padStart(5, "0"));
  });
}

export const spansText = (spans) => (spans || []).map((s) => s.join("-")).join(", ");

/** Holidays typed one a line (or with spaces or commas between). */
export const readDates = (text) => String(text || "").split(/[\s,\uff0c;\uff1b]+/).filter(Boolean);

// ---- Choice boxes ----------------------------------------------------------------------
// Values go through JSON so that an id stays a number, "" stays text and null stays null.
const encode = (value) => JSON.stringify(value);

export function checkbox(value, label, checked) {
  const wrap = el("label", "check");
  const box = el("input");
  box.type = "checkbox";
  box.value = encode(value);
  box.checked = checked;
  wrap.append(box, ` ${label}`);
  return wrap;
}

/** Fill a container with a box per [value, label] pair; ticks those in `chosen`. */
export function fillChecks(container, pairs, chosen) {
  const on = new Set((chosen || []).map(encode));
  container.replaceChildren(...pairs.map(([v, label]) => checkbox(v, label, on.has(encode(v)))));
}

export const checkedValues = (container) =>
  Array.from(container.querySelectorAll("input[type=checkbox]:checked"), (b) => JSON.parse(b.value));

/** Fill a select with [value, label] pairs; pick `value` (JSON-typed) when it is there. */
export function fillChoice(select, pairs, value) {
  select.replaceChildren(...pairs.map(([v, label]) => Object.assign(el("option", null, label), { value: encode(v) })));
  if (value !== undefined) select.value = encode(value);
  if (select.selectedIndex < 0 && select.options.length) select.selectedIndex = 0;
}

export const chosen = (select) => (select.value === "" ? undefined : JSON.parse(select.value));

// ---- Refusals --------------------------------------------------------------------------
export function plain(text) {
  const e = new Error(text);
  e.plain = true;
  return e;
}

// What an error code says in the console's words; the server's message says the rest.
const CODE_TEXT = {
  forbidden: T.deskForbidden,
  not_found: T.deskGone,
  too_large: T.deskTooLarge,
  storage_full: T.deskStorageFull,
};

/**
 * The refusal of a save as {text, detail, key}: a page's own reading of the message first
 * ([pattern, key] pairs, the pattern's named groups fill the text), then the code's
 * words, then the API's message as it is (422 and 409 say what is wrong and where).
 */
export function refusal(err, known = []) {
  if (err.plain) return { text: err.message, detail: "" };
  const message = String(err.message || "");
  // A known refusal is named by the API's code (a string) or read from its message (a
  // pattern, when the text carries names to show).
  for (const [pattern, key] of known) {
    const m = typeof pattern === "string" ? (err.code === pattern ? {} : null) : pattern.exec(message);
    if (m) return { text: fmt(key, m.groups || {}), detail: message, key };
  }
  if (CODE_TEXT[err.code]) return { text: CODE_TEXT[err.code], detail: message };
  if (err.status === 422 || err.status === 409) return { text: fmt("deskRefused", { msg: message }), detail: "" };
  return { text: fmt("failed", { msg: errText(err) }), detail: "" };
}

/** Show a refusal in a form's error box (null clears it). */
export function showRefusal(box, err, known) {
  if (!err) {
    box.replaceChildren();
    box.hidden = true;
    delete box.dataset.code;
    delete box.dataset.refusal;
    return;
  }
  const { text, detail, key } = refusal(err, known);
  const lines = [el("strong", null, text)];
  if (detail) lines.push(el("span", "detail", detail));
  box.replaceChildren(...lines);
  box.dataset.code = err.code || "";
  box.dataset.refusal = key || ""; // which of the page's own readings, if any
  box.hidden = false;
}

/** Mark the part of a form a refusal names (aria-invalid), clearing older marks. */
export function markRefused(form, node) {
  for (const old of form.querySelectorAll("[aria-invalid=true]")) old.removeAttribute("aria-invalid");
  for (const old of form.querySelectorAll(".refused")) old.classList.remove("refused");
  if (!node) return;
  if (node.matches("input, select, textarea")) node.setAttribute("aria-invalid", "true");
  else node.classList.add("refused");
  node.scrollIntoView({ block: "nearest" });
}

/** Show the "saved" note for a while. */
export function flashSaved(note) {
  note.hidden = false;
  clearTimeout(note.timer);
  note.timer = setTimeout(() => { note.hidden = true; }, SAVED_FOR);
}

// ---- Keys ------------------------------------------------------------------------------
export const typing = (t) => t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));

/**
 * The editor's keys: N opens a new form (when none is open, outside text fields), Esc
 * closes an open form without saving, Ctrl+Enter saves it from anywhere inside. On a
 * page of several editors, `active` tells whether this one is the one shown.
 */
export function editorKeys({ form, onNew, onClose, active }) {
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.metaKey || e.altKey) return;
    if (active && !active()) return;
    if (document.querySelector("dialog[open]")) return;
    if (!form.hidden && e.key === "Escape") {
      e.preventDefault();
      onClose();
    } else if (!form.hidden && e.ctrlKey && e.key === "Enter" && form.contains(e.target)) {
      e.preventDefault();
      form.requestSubmit();
    } else if (form.hidden && !e.ctrlKey && (e.key === "n" || e.key === "N") && !typing(e.target)) {
      e.preventDefault();
      onNew();
    }
  });
}

/** Swap a list's item with its neighbour: the new order of ids, or null at an end. */
export function moved(ids, id, step) {
  const at = ids.indexOf(id);
  const to = at + step;
  if (at < 0 || to < 0 || to >= ids.length) return null;
  const out = ids.slice();
  [out[at], out[to]] = [out[to], out[at]];
  return out;
}
