// Working as a team in the console: transfer, conference (invite/leave), supervisor
// take-over, customer tier, who else has a chat open or is typing (collision), the
// overseer-only parts of the page and the count of untaken left messages (tickets).

import { T, fmt } from "./console-i18n.js";
import {
  S, api, convPath, el, errText, flash, formPanel, isOverseer, me, notify, openDialog,
  plainError, root, tierText, ui,
} from "./console-base.js";
import { applyConversation, badges, fillItem } from "./console-lists.js";
import { TYPING_STALE, renderChatHead } from "./console-chat.js";
import { renderTicketButton } from "./console-ticket.js";

const openItems = new Set(); // ids of untaken left messages and call-backs (tickets)

// ---- Chat head ---------------------------------------------------------------
export function renderTeamHead(rec, role) {
  const c = rec ? rec.conv : null;
  const open = !!c && !rec.closed && c.status === "active" && role !== "none";
  ui.chatBadges.replaceChildren(...(c ? badges(c) : []));
  const guests = (c && c.participants) || [];
  ui.participants.textContent = c && c.agent && guests.length
    ? fmt("participants", {
      names: [fmt("owner", { name: c.agent.display_name || "" }), ...guests.map((p) => p.display_name || "")]
        .join(T.listSep),
    })
    : "";
  const pending = open && role === "owner" && !!c.transfer_pending;
  ui.transfer.hidden = !(open && role === "owner") || pending;
  ui.invite.hidden = !(open && (role === "owner" || role === "guest"));
  ui.leave.hidden = !(open && role === "guest");
  ui.takeover.hidden = !(open && role === "watch");
  ui.closeBtn.hidden = !(open && role === "owner");
  renderTicketButton(rec, role);
  ui.tier.hidden = !open;
  if (c) ui.tier.value = c.tier || "new";
  ui.pending.hidden = !pending;
  ui.pendingText.textContent = pending
    ? fmt("pendingTransfer", { target: c.expert ? T.expert : (c.group && c.group.name) || "" })
    : "";
  renderCollision(rec);
}

// ---- Collision: who else has it open, who else is typing ----------------------
export function onViewers(rec, viewers) {
  rec.viewers = (viewers || []).filter((v) => Number(v.id) !== me.id);
  if (rec === S.selected) renderCollision(rec);
}

export function onStaffTyping(rec, f) {
  const name = f.sender_name || "";
  clearStaffTyping(rec, name, true);
  if (f.active) {
    // A lost "active:false" must not leave the indicator on forever.
    const timer = setTimeout(() => clearStaffTyping(rec, name), TYPING_STALE);
    rec.staffTyping.set(name, { internal: !!f.internal, timer });
  }
  if (rec === S.selected) renderCollision(rec);
}

export function clearStaffTyping(rec, name, quiet) {
  const t = rec.staffTyping.get(name);
  if (!t) return;
  clearTimeout(t.timer);
  rec.staffTyping.delete(name);
  if (!quiet && rec === S.selected) renderCollision(rec);
}

function renderCollision(rec) {
  const parts = [];
  if (rec && !rec.closed) {
    for (const [name, t] of rec.staffTyping) parts.push(fmt(t.internal ? "staffNoting" : "staffTyping", { name }));
    for (const v of rec.viewers) {
      if (!rec.staffTyping.has(v.display_name)) parts.push(fmt("viewing", { name: v.display_name || "" }));
    }
  }
  ui.collision.replaceChildren(...parts.map((p) => el("span", "who", p)));
}

// ---- Transfer and invite --------------------------------------------------------
const inChat = (c, id) => (c.agent && Number(c.agent.id) === id) || (c.participants || []).some((p) => Number(p.id) === id);

// One radio row per colleague: status and load shown; those who cannot take it disabled.
function colleagueRows(agents, c, countLimit) {
  const rows = [];
  for (const a of agents) {
    if (a.id === me.id || inChat(c, a.id)) continue;
    const full = countLimit && a.load >= a.max_chats;
    const input = el("input");
    Object.assign(input, { type: "radio", name: "target", value: String(a.id), disabled: a.status !== "online" || full });
    Object.assign(input.dataset, { cb: "pick-agent", id: String(a.id) });
    const row = el("label", `pick ${a.status}`);
    Object.assign(row.dataset, { cb: "colleague", id: String(a.id), status: a.status });
    row.append(input, el("span", `dot ${a.status}`), el("span", "name", a.display_name));
    if (a.tier === "expert") row.append(el("span", "badge expert", T.expert));
    row.append(
      el("span", "status", T[a.status] || a.status),
      el("span", "load", full ? T.full : fmt("load", { load: a.load, max: a.max_chats })),
    );
    rows.push(row);
  }
  return rows.length ? rows : [el("p", "empty", T.noColleague)];
}

function fieldset(legend, nodes) {
  const f = el("fieldset");
  f.append(el("legend", null, legend), ...nodes);
  return f;
}

const nameOf = (agents, id) => (agents.find((a) => a.id === id) || {}).display_name || "";

function teamError(e, name) {
  if (e.code === "not_available") return plainError(fmt("notAvailable", { name }));
  if (e.code === "limit_reached") return plainError(fmt("atLimit", { name }));
  return e;
}

async function colleagues() {
  try {
    return await api("GET", "/api/console/colleagues");
  } catch (e) {
    flash(fmt("failed", { msg: errText(e) }));
    return null;
  }
}

async function openTransfer() {
  const rec = S.selected;
  const team = rec && (await colleagues());
  if (!team) return;
  const groupRadio = el("input");
  Object.assign(groupRadio, { type: "radio", name: "target", value: "group", disabled: !team.groups.length });
  const groupSel = el("select");
  groupSel.dataset.cb = "transfer-group";
  for (const g of team.groups) groupSel.append(Object.assign(el("option", null, g.name), { value: String(g.id) }));
  groupSel.disabled = !team.groups.length;
  groupSel.addEventListener("change", () => { groupRadio.checked = true; });
  const groupRow = el("label", "pick");
  groupRow.append(groupRadio, el("span", "name", T.toGroup), team.groups.length ? groupSel : el("span", "empty", T.noGroup));
  const expertRadio = el("input");
  Object.assign(expertRadio, { type: "radio", name: "target", value: "expert" });
  expertRadio.dataset.cb = "pick-expert";
  const expertRow = el("label", "pick");
  expertRow.append(expertRadio, el("span", "name", T.toExpert));
  const note = el("textarea");
  Object.assign(note, { name: "note", rows: 3, maxLength: 2000 });
  note.dataset.cb = "transfer-note";
  const noteRow = el("label", "field");
  noteRow.append(el("span", null, T.transferNote), note);
  const form = formPanel(
    [fieldset(T.toColleague, colleagueRows(team.agents, rec.conv, true)), fieldset(T.toTeam, [groupRow, expertRow]), noteRow],
    T.transfer,
    async (f) => {
      const choice = f.querySelector('input[name="target"]:checked');
      if (!choice) throw plainError(T.chooseTarget);
      const body = { note: note.value };
      let name = "";
      if (choice.value === "group") {
        body.group_id = Number(groupSel.value);
        name = groupSel.selectedOptions[0] ? groupSel.selectedOptions[0].textContent : "";
      } else if (choice.value === "expert") {
        body.expert = true;
        name = T.expert;
      } else {
        body.agent_id = Number(choice.value);
        name = nameOf(team.agents, body.agent_id);
      }
      try {
        const r = await api("POST", convPath(rec.id, "/transfer"), body);
        applyConversation(r.conversation, false);
      } catch (e) {
        throw teamError(e, name);
      }
      if (body.agent_id) flash(fmt("transferredTo", { name }));
    },
    "transfer-form",
  );
  openDialog(T.transferTitle, [form], "transfer-dialog");
}

async function openInvite() {
  const rec = S.selected;
  const team = rec && (await colleagues());
  if (!team) return;
  const form = formPanel(
    [fieldset(T.toColleague, colleagueRows(team.agents, rec.conv, false))],
    T.invite,
    async (f) => {
      const choice = f.querySelector('input[name="target"]:checked');
      if (!choice) throw plainError(T.chooseTarget);
      const id = Number(choice.value);
      try {
        const r = await api("POST", convPath(rec.id, "/invite"), { agent_id: id });
        applyConversation(r.conversation, false);
      } catch (e) {
        throw teamError(e, nameOf(team.agents, id));
      }
      flash(fmt("invited", { name: nameOf(team.agents, id) }));
    },
    "invite-form",
  );
  openDialog(T.inviteTitle, [form], "invite-dialog");
}

// A one-click action on the open chat whose answer is the conversation.
async function act(btn, tail) {
  const rec = S.selected;
  if (!rec) return;
  btn.disabled = true;
  try {
    const r = await api("POST", convPath(rec.id, tail), {});
    applyConversation(r.conversation, false);
  } catch (e) {
    flash(fmt("failed", { msg: errText(e) }));
  } finally {
    btn.disabled = false;
  }
}

async function setTier() {
  const rec = S.selected;
  const vid = rec && rec.conv.visitor && rec.conv.visitor.id;
  if (!vid) return;
  const tier = ui.tier.value;
  ui.tier.disabled = true;
  try {
    const r = await api("PUT", `/api/console/visitors/${encodeURIComponent(vid)}/tier`, { tier });
    for (const x of S.convs.values()) {
      if (x.conv.visitor && x.conv.visitor.id === vid) {
        x.conv = { ...x.conv, tier: r.tier || tier };
        if (x.li) fillItem(x);
      }
    }
    flash(fmt("tierSet", { tier: tierText(r.tier || tier) }));
  } catch (e) {
    flash(fmt("failed", { msg: errText(e) }));
  } finally {
    ui.tier.disabled = false;
    renderChatHead();
  }
}

// ---- Roles and work items --------------------------------------------------------
export function applyRole(role) {
  me.role = role || "agent";
  for (const n of root.querySelectorAll("[data-overseer]")) n.hidden = !isOverseer();
  root.dataset.role = me.role;
}

// A left message or call-back request is a ticket of channel message or callback; the
// count is of those nobody has taken yet (state new), live from "ticket" frames.
const LEFT = new Set(["message", "callback"]);

export function onTicket(t, live) {
  if (!LEFT.has(t.channel)) return;
  const isNew = t.state === "new" && !openItems.has(t.id);
  if (t.state === "new") openItems.add(t.id);
  else openItems.delete(t.id);
  ui.workCount.textContent = openItems.size || "";
  ui.workAlert.hidden = openItems.size === 0;
  if (live && isNew) {
    notify();
    flash(fmt("ticketLeftNew", { number: t.number }));
  }
}

export async function loadWorkItems() {
  try {
    const r = await api("GET", "/api/console/tickets?view=left&sort=created_at%20ASC&limit=200");
    for (const t of r.tickets || []) onTicket(t, false);
  } catch (e) {
    console.warn("callbox: left messages not loaded", e);
  }
}

export function wireTeam() {
  ui.transfer.addEventListener("click", openTransfer);
  ui.invite.addEventListener("click", openInvite);
  ui.leave.addEventListener("click", () => act(ui.leave, "/leave"));
  ui.pendingCancel.addEventListener("click", () => act(ui.pendingCancel, "/transfer/cancel"));
  ui.takeover.addEventListener("click", () => {
    const id = S.selected && S.selected.id;
    S.accepting.add(id); // one's own take-over is no news worth a beep
    setTimeout(() => S.accepting.delete(id), 10000);
    act(ui.takeover, "/takeover");
  });
  ui.tier.addEventListener("change", setTier);
}
