// Turn the open chat into a ticket: subject (the visitor's first message to start
// with), type and priority; the box keeps the transcript as an internal note and
// links the chat (POST /api/console/tickets/from-chat). The answer links the ticket.

import { T, fmt } from "./console-i18n.js";
import { S, api, convPath, el, errText, flash, formPanel, me, openDialog, ui } from "./console-base.js";
import { fillSelect, priorityPairs, ticketPage, ticketTypes, typePairs } from "./ticket-fields.js";

const SUBJECT_FROM_CHAT = 80; // characters of the first message the subject starts with

// A user may make a ticket of a chat they can see: theirs (closed too), one they
// joined, one they watch as a supervisor. Not one handed over or left.
export function renderTicketButton(rec, role) {
  if (!ui.makeTicket) return;
  const c = rec && rec.conv;
  const own = !!(c && c.agent && Number(c.agent.id) === me.id);
  ui.makeTicket.hidden = !c || c.status === "waiting" || (role === "none" && !own);
}

async function firstVisitorLine(id) {
  const r = await api("GET", convPath(id, "/messages?after_seq=0"));
  const first = (r.messages || []).find((m) => m.sender_type === "visitor" && !m.event && m.body);
  return first ? first.body.replace(/\s+/g, " ").trim().slice(0, SUBJECT_FROM_CHAT) : "";
}

function field(label, control) {
  const row = el("label", "field");
  row.append(el("span", null, label), control);
  return row;
}

function made(ticket) {
  const text = el("p", null, fmt("ticketMade", { number: ticket.number }));
  text.dataset.cb = "ticket-made";
  const link = el("a", "button", T.openTicket);
  link.href = ticketPage(ticket.id);
  link.target = "_blank";
  link.rel = "noopener";
  link.dataset.cb = "ticket-made-link";
  const actions = el("div", "actions");
  actions.append(link);
  openDialog(T.makeTicketTitle, [text, actions], "ticket-dialog");
  link.focus();
}

async function openMakeTicket() {
  const rec = S.selected;
  if (!rec) return;
  let types;
  let first;
  try {
    [types, first] = await Promise.all([ticketTypes(), firstVisitorLine(rec.id)]);
  } catch (e) {
    flash(fmt("failed", { msg: errText(e) }));
    return;
  }
  const subject = Object.assign(el("input"), { name: "subject", maxLength: 200, required: true, value: first });
  subject.dataset.cb = "ticket-subject";
  const type = el("select");
  type.dataset.cb = "ticket-type";
  fillSelect(type, typePairs(types.filter((t) => t.active), "", T.typeNone), "");
  const priority = el("select");
  priority.dataset.cb = "ticket-priority";
  fillSelect(priority, priorityPairs(), "normal");
  const form = formPanel(
    [field(T.tfSubject, subject), field(T.tfType, type), field(T.tfPriority, priority),
      el("p", "hint", T.makeTicketHint)],
    T.makeTicketOk,
    async () => {
      const r = await api("POST", "/api/console/tickets/from-chat", {
        conversation_id: rec.id,
        subject: subject.value.trim(),
        type: type.value,
        priority: priority.value,
      });
      made(r.ticket);
      return false; // the dialog stays, now with the link to the ticket
    },
    "ticket-form",
  );
  openDialog(T.makeTicketTitle, [form], "ticket-dialog");
  subject.focus();
}

export function wireTicket() {
  if (ui.makeTicket) ui.makeTicket.addEventListener("click", openMakeTicket);
}
