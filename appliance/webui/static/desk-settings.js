// Callbox service desk settings (docs/service-desk.md, docs/webhooks.md): one page, a
// tab each for ticket types, templates, recurring tasks and webhooks. This module
// switches the tabs (the address keeps the one shown: #types, #templates …; ← → on
// the tabs move between them), reads what the areas share (the groups, the types, the
// templates) once, and starts each area's script. An area that changes a shared list
// says so (desk.changed), and the areas that show it redraw.

import { fmt } from "./console-i18n.js";
import { api } from "./console-base.js";
import { directory, ticketTypes } from "./ticket-fields.js";
import { vocabulary } from "./desk-editor.js";
import { startTypes } from "./desk-types.js";
import { startTemplates } from "./desk-templates.js";
import { startSchedules } from "./desk-schedules.js";
import { startWebhooks } from "./desk-webhooks.js";

const root = document.querySelector('[data-cb="desk-settings"]');

/** What the areas share: the page, its words, the lists, the tab shown, a bus. */
function sharedDesk() {
  const bus = new EventTarget();
  return {
    root,
    V: vocabulary(root),
    shown: "",
    groups: [], // [[id, name]]
    types: [], // [{name, position, active}]
    templates: [],
    isShown(area) { return this.shown === area; },
    changed(list) { bus.dispatchEvent(new Event(list)); },
    on(list, fn) { bus.addEventListener(list, fn); },
  };
}

// ---- Tabs -------------------------------------------------------------------------------
function tabs(desk) {
  const buttons = Array.from(root.querySelectorAll('[data-cb="area-tabs"] [role="tab"]'));
  const panels = new Map(Array.from(root.querySelectorAll("section.area"), (p) => [p.dataset.area, p]));
  const show = (area, focus) => {
    if (!panels.has(area)) area = desk.V.areas[0];
    desk.shown = area;
    for (const b of buttons) {
      const on = b.dataset.area === area;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
      if (on && focus) b.focus();
    }
    for (const [name, panel] of panels) panel.hidden = name !== area;
    if (location.hash !== `#${area}`) history.replaceState(null, "", `#${area}`);
    desk.changed("shown");
  };
  for (const b of buttons) {
    b.addEventListener("click", () => show(b.dataset.area, false));
    b.addEventListener("keydown", (e) => {
      if (!["ArrowRight", "ArrowLeft", "Home", "End"].includes(e.key)) return;
      e.preventDefault();
      const at = buttons.indexOf(b);
      const n = buttons.length;
      const next = e.key === "Home" ? 0 : e.key === "End" ? n - 1 : (at + (e.key === "ArrowRight" ? 1 : n - 1)) % n;
      show(buttons[next].dataset.area, true);
    });
  }
  window.addEventListener("hashchange", () => show(location.hash.slice(1), false));
  show(location.hash.slice(1), false);
}

// ---- Start ------------------------------------------------------------------------------
async function start() {
  const desk = sharedDesk();
  const failed = root.querySelector('[data-cb="load-error"]');
  tabs(desk);
  try {
    const [dir, types, listed] = await Promise.all([
      directory(), ticketTypes(), api("GET", "/api/console/ticket-templates"),
    ]);
    desk.groups = Array.from(dir.groups);
    desk.types = types;
    desk.templates = listed.templates;
  } catch (err) {
    failed.textContent = fmt("failed", { msg: err.message });
    failed.hidden = false;
    return;
  }
  for (const area of [startTypes, startTemplates, startSchedules, startWebhooks]) {
    area(desk).catch((err) => {
      failed.textContent = fmt("failed", { msg: err.message });
      failed.hidden = false;
    });
  }
}

if (root) start();
