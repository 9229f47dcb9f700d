// A resolved ticket made a draft article in one step (POST
// /api/console/tickets/{id}/to-article): its subject the title, its last public reply
// from staff the body. The draft opens in the knowledge base, where it goes through
// review like any other. ticket-page.js tells this module the ticket on every render.

import { T, fmt } from "./console-i18n.js";
import { api, errText } from "./console-base.js";

const root = document.querySelector('[data-cb="ticket"]');
const button = root && root.querySelector('[data-cb="ticket-to-article"]');
const note = root && root.querySelector('[data-cb="ticket-error"]');

async function makeArticle(ticketId) {
  button.disabled = true;
  try {
    const made = await api("POST", `/api/console/tickets/${ticketId}/to-article`, {});
    window.location.assign(`/console/knowledge#article-${made.article.id}`);
  } catch (e) {
    note.textContent = fmt("ticketToArticleFailed", { msg: errText(e) });
    note.hidden = false;
    button.disabled = false;
  }
}

if (button) {
  button.textContent = T.ticketToArticle;
  root.addEventListener("cb:ticket", (e) => {
    const t = e.detail;
    button.hidden = !t || !["resolved", "closed"].includes(t.state);
    button.onclick = () => makeArticle(t.id);
  });
}
