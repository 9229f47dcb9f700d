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
