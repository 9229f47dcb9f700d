// Callbox recurring tasks (a tab of the desk settings page): each opens a ticket
// from a template on a schedule (docs/service-desk.md). The list shows when each runs
// next and switches it on and off; one form adds, changes or deletes a task. Its
// builder writes the RRULE for the common cases (daily, weekly on chosen weekdays,
// monthly on a day, at a time, every n of them); the rule field shows what it wrote
// and takes any other rule. While the form is open, the box lists the next runs of
// the rule as typed (POST /api/console/ticket-schedules/preview), in its own time.
// Keys on this tab: N new task, Esc close, Ctrl+Enter save. Names go in as text.

import { T, fmt } from "./console-i18n.js";
import { api, el } from "./console-base.js";
import { ticketPage, when } from "./ticket-fields.js";
import {
  editorKeys, flashSaved, listText, markRefused, plain, refusal, showRefusal,
} from "./desk-editor.js";
import { offsetOf, ruleOf, specOf, weekdayOf } from "./schedule-rule.js";

export const PREVIEW_DELAY = 300; // ms after the last change before the runs are asked for

const KNOWN = [
  [/^another schedule has this name/, "dsSchNameTaken"],
  [/^(rule |FREQ |INTERVAL |COUNT |UNTIL|BYMONTH|BYMONTHDAY |BYHOUR|BYMINUTE|no month|a weekday)/, "dsSchRuleRefused"],
  [/^template_id must name/, "dsSchPickTemplate"],
];
const UNIT_TEXT = { daily: T.dsUnitDay, weekly: T.dsUnitWeek, monthly: T.dsUnitMonth };

const clone = (tpl) => tpl.content.firstElementChild.cloneNode(true);
const part = (node, name) => node.querySelector(`[data-f="${name}"]`);

export async function startSchedules(desk) {
  const area = desk.root.querySelector('[data-cb="area-schedules"]');
  const $ = (name) => area.querySelector(`[data-cb="${name}"]`);
  const ui = {
    rows: $("schedule-rows"),
    rowTpl: $("schedule-row-tpl"),
    empty: $("schedules-empty"),
    listError: $("schedules-error"),
    form: $("schedule-form"),
    title: $("schedule-form-title"),
    template: $("schedule-template"),
    noTemplate: $("schedule-no-template"),
    starts: $("schedule-starts"),
    builder: $("builder"),
    interval: $("schedule-interval"),
    unit: $("interval-unit"),
    weekdayRow: $("weekday-row"),
    weekdays: $("weekdays"),
    monthdayRow: $("monthday-row"),
    monthday: $("schedule-monthday"),
    monthdayHint: $("monthday-hint"),
    time: $("schedule-time"),
    rule: $("schedule-rule"),
    runs: $("schedule-runs"),
    runsZone: $("runs-zone"),
    runsNote: $("runs-note"),
    error: $("schedule-error"),
    save: $("schedule-save"),
    remove: $("schedule-delete"),
    ok: $("schedule-ok"),
  };
  const f = ui.form.elements;
  const CODES = Object.values(desk.V.weekdays); // MO ... SU, the week's order
  let schedules = [];
  let editing = null; // the id in the form, 0 for a new one, null when closed
  let startsFrom = null; // the edited task's start, kept unless its date is changed
  let asked = 0; // the latest preview asked for; older answers are dropped
  let timer = 0;

  const dayName = (code) => (area.querySelector(`[data-day="${code}"]`) || {}).textContent || code;
  const templateName = (id) => (desk.templates.find((t) => t.id === id) || {}).name || `#${id}`;

  function describe(rule) {
    const spec = specOf(rule, CODES);
    if (!spec) return rule;
    const { interval: n, time } = spec;
    if (spec.freq === "daily") return n > 1 ? fmt("dsEveryDays", { n, time }) : fmt("dsDaily", { time });
    if (spec.freq === "weekly") {
      const days = listText(spec.days.map(dayName));
      return n > 1 ? fmt("dsEveryWeeks", { n, days, time }) : fmt("dsWeekly", { days, time });
    }
    if (spec.monthDay === -1) return n > 1 ? fmt("dsEveryMonthsLast", { n, time }) : fmt("dsMonthlyLast", { time });
    const day = spec.monthDay;
    return n > 1 ? fmt("dsEveryMonths", { n, day, time }) : fmt("dsMonthly", { day, time });
  }

  // ---- The list -------------------------------------------------------------------------
  function row(s) {
    const tr = clone(ui.rowTpl);
    tr.dataset.scheduleId = String(s.id);
    tr.classList.toggle("off", !s.enabled);
    tr.classList.toggle("editing", s.id === editing);
    part(tr, "name").textContent = s.name;
    const whenCell = part(tr, "when");
    whenCell.textContent = describe(s.rule);
    whenCell.title = s.rule;
    part(tr, "template").textContent = templateName(s.template_id);
    part(tr, "next").textContent = s.next_run_at ? `${when(s.next_run_at)} ${dayName(weekdayOf(s.next_run_at))}` : "—";
    const last = part(tr, "last");
    if (s.last_ticket_id != null) {
      const link = el("a", null, when(s.last_run_at));
      link.href = ticketPage(s.last_ticket_id);
      last.replaceChildren(link);
    } else {
      last.textContent = "—";
    }
    const box = part(tr, "enabled");
    box.checked = s.enabled;
    box.setAttribute("aria-label", fmt("dsEnabledFor", { name: s.name }));
    part(tr, "enabled-text").textContent = s.enabled ? T.ruleOn : T.ruleOff;
    box.addEventListener("change", () => toggle(s, box));
    part(tr, "edit").addEventListener("click", () => open(s));
    return tr;
  }

  function render() {
    ui.rows.replaceChildren(...schedules.map(row));
    ui.rows.closest("table").hidden = schedules.length === 0;
    ui.empty.hidden = schedules.length > 0;
  }

  const inputOf = (s) => ({ name: s.name, rule: s.rule, template_id: s.template_id, starts_at: s.starts_at, enabled: s.enabled });

  async function toggle(s, box) {
    showRefusal(ui.listError, null);
    box.disabled = true;
    try {
      await api("PUT", `/api/console/ticket-schedules/${s.id}`, { ...inputOf(s), enabled: box.checked });
      if (editing === s.id) f.enabled.checked = box.checked;
      await load();
      part(ui.rows.querySelector(`[data-schedule-id="${s.id}"]`), "enabled").focus();
    } catch (err) {
      box.checked = !box.checked;
      box.disabled = false;
      showRefusal(ui.listError, err, KNOWN);
    }
  }

  // ---- The builder ----------------------------------------------------------------------
  const freqNow = () => (ui.form.querySelector('input[name="freq"]:checked') || {}).value || "daily";
  const checkedDays = () => Array.from(ui.weekdays.querySelectorAll("input:checked"), (b) => b.value);

  function syncBuilder() {
    const freq = freqNow();
    ui.builder.hidden = freq === "custom";
    ui.unit.textContent = UNIT_TEXT[freq] || "";
    ui.weekdayRow.hidden = freq !== "weekly";
    ui.monthdayRow.hidden = freq !== "monthly";
    ui.monthdayHint.hidden = freq !== "monthly";
  }

  /** The builder's choice as a spec, or a plain error naming what is missing. */
  function builtSpec() {
    const freq = freqNow();
    const interval = Number(ui.interval.value || 1);
    if (!/^\d{1,2}:\d{2}$/.test(ui.time.value)) throw Object.assign(plain(T.dsSchBadTime), { node: ui.time });
    if (!Number.isInteger(interval) || interval < 1) throw Object.assign(plain(T.dsSchBadInterval), { node: ui.interval });
    const days = checkedDays();
    if (freq === "weekly" && !days.length) throw Object.assign(plain(T.dsSchPickDay), { node: ui.weekdayRow });
    return { freq, interval, days, monthDay: Number(ui.monthday.value), time: ui.time.value };
  }

  /** Write the builder's rule into the rule field (when the builder is in use). */
  function build() {
    syncBuilder();
    if (freqNow() === "custom") return;
    try {
      ui.rule.value = ruleOf(builtSpec());
    } catch (_) {
      ui.rule.value = ""; // what is missing is said by the preview and on saving
    }
  }

  /** Show a rule in the builder when it can be; else the builder steps aside. */
  function showRule(rule) {
    const spec = specOf(rule, CODES);
    const freq = spec ? spec.freq : "custom";
    ui.form.querySelector(`input[name="freq"][value="${freq}"]`).checked = true;
    if (spec) {
      ui.interval.value = String(spec.interval);
      ui.time.value = spec.time;
      for (const box of ui.weekdays.querySelectorAll("input")) box.checked = spec.days.includes(box.value);
      ui.monthday.value = String(spec.monthDay);
    }
    syncBuilder();
  }

  // ---- The next runs --------------------------------------------------------------------
  function runsNote(text) {
    ui.runs.replaceChildren();
    ui.runsZone.textContent = "";
    ui.runsNote.textContent = text;
    ui.runsNote.hidden = !text;
  }

  async function preview() {
    const mine = ++asked;
    let body;
    try {
      if (freqNow() !== "custom") builtSpec(); // say what the builder lacks first
      body = { rule: ui.rule.value.trim() };
      const starts = startsAt();
      if (starts) body.starts_at = starts;
      if (!body.rule) throw plain(T.dsSchNoRule);
    } catch (err) {
      runsNote(err.message);
      return;
    }
    try {
      const { runs } = await api("POST", "/api/console/ticket-schedules/preview", body);
      if (mine !== asked) return;
      if (!runs.length) {
        runsNote(T.dsRunsNone);
        return;
      }
      ui.runsNote.hidden = true;
      ui.runsZone.textContent = fmt("dsRunsZone", { offset: offsetOf(runs[0]) });
      ui.runs.replaceChildren(...runs.map((at) => {
        const li = el("li", null, `${when(at)} ${dayName(weekdayOf(at))}`);
        li.dataset.at = at;
        return li;
      }));
    } catch (err) {
      if (mine !== asked) return;
      runsNote(err.status === 422 ? fmt("dsRunsRefused", { msg: err.message }) : refusal(err).text);
    }
  }

  function previewSoon() {
    clearTimeout(timer);
    timer = setTimeout(preview, PREVIEW_DELAY);
  }

  // ---- The form -------------------------------------------------------------------------
  function fillTemplates(current) {
    const pairs = desk.templates.map((t) => [t.id, t.name]);
    if (current != null && !pairs.some(([id]) => id === current)) pairs.push([current, `#${current}`]);
    ui.template.replaceChildren(...pairs.map(([id, name]) => Object.assign(el("option", null, name), { value: String(id) })));
    if (current != null) ui.template.value = String(current);
    ui.noTemplate.hidden = pairs.length > 0;
  }

  /** The start to send: the edited task's own unless its date changed; none if empty. */
  function startsAt() {
    const date = ui.starts.value;
    if (!date) return null;
    if (startsFrom && startsFrom.startsWith(date)) return startsFrom;
    return `${date}T00:00:00`;
  }

  function open(s) {
    editing = s ? s.id : 0;
    ui.form.reset();
    showRefusal(ui.error, null);
    markRefused(ui.form, null);
    ui.ok.hidden = true;
    ui.title.textContent = s ? s.name : T.dsSchNew;
    f.name.value = s ? s.name : "";
    f.enabled.checked = s ? s.enabled : true;
    fillTemplates(s ? s.template_id : null);
    startsFrom = s ? s.starts_at : null;
    ui.starts.value = s ? s.starts_at.slice(0, 10) : "";
    if (s) {
      ui.rule.value = s.rule;
      showRule(s.rule);
    } else {
      build();
    }
    ui.remove.hidden = !s;
    ui.form.hidden = false;
    render();
    preview();
    ui.form.scrollIntoView({ block: "nearest" });
    f.name.focus();
  }

  function close() {
    editing = null;
    clearTimeout(timer);
    asked += 1;
    ui.form.hidden = true;
    render();
  }

  function read() {
    if (freqNow() !== "custom") ui.rule.value = ruleOf(builtSpec());
    if (!ui.template.value) throw Object.assign(plain(T.dsSchNoTemplate), { node: ui.template });
    return {
      name: f.name.value.trim(),
      rule: ui.rule.value.trim(),
      template_id: Number(ui.template.value),
      starts_at: startsAt(),
      enabled: f.enabled.checked,
    };
  }

  function refusedPart(err) {
    if (err.node) return err.node;
    const message = String(err.message || "");
    if (/^name\b|another schedule|\$\.name/.test(message)) return f.name;
    if (/template_id/.test(message)) return ui.template;
    if (/starts_at/.test(message)) return ui.starts;
    if (/^(rule|FREQ|INTERVAL|COUNT|UNTIL|BY|no month|a weekday)|\$\.rule/.test(message)) return ui.rule;
    return null;
  }

  async function save(e) {
    e.preventDefault();
    showRefusal(ui.error, null);
    markRefused(ui.form, null);
    ui.ok.hidden = true;
    ui.save.disabled = true;
    try {
      const body = read();
      const saved = editing
        ? (await api("PUT", `/api/console/ticket-schedules/${editing}`, body)).schedule
        : (await api("POST", "/api/console/ticket-schedules", body)).schedule;
      editing = saved.id;
      startsFrom = saved.starts_at;
      ui.title.textContent = saved.name;
      ui.remove.hidden = false;
      await load();
      flashSaved(ui.ok);
    } catch (err) {
      showRefusal(ui.error, err, KNOWN);
      markRefused(ui.form, refusedPart(err));
    } finally {
      ui.save.disabled = false;
    }
  }

  async function remove() {
    const s = schedules.find((x) => x.id === editing);
    if (!s || !window.confirm(fmt("dsSchConfirmDelete", { name: s.name }))) return;
    showRefusal(ui.error, null);
    try {
      await api("DELETE", `/api/console/ticket-schedules/${s.id}`);
      close();
      await load();
    } catch (err) {
      showRefusal(ui.error, err, KNOWN);
    }
  }

  async function load() {
    schedules = (await api("GET", "/api/console/ticket-schedules")).schedules;
    render();
  }

  ui.form.addEventListener("submit", save);
  $("schedule-new").addEventListener("click", () => open(null));
  $("schedule-cancel").addEventListener("click", close);
  ui.remove.addEventListener("click", remove);
  for (const node of [ui.builder, $("freq")]) {
    node.addEventListener("input", () => { build(); previewSoon(); });
    node.addEventListener("change", () => { build(); previewSoon(); });
  }
  ui.rule.addEventListener("input", () => { showRule(ui.rule.value); previewSoon(); });
  ui.starts.addEventListener("change", previewSoon);
  editorKeys({ form: ui.form, onNew: () => open(null), onClose: close, active: () => desk.isShown("schedules") });
  desk.on("templates", () => {
    if (!ui.form.hidden) fillTemplates(ui.template.value ? Number(ui.template.value) : null);
    render();
  });
  await load();
}
