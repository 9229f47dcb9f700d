// The mails of an e-mail ticket on its page (GET /api/console/tickets/{id}/mails): who
// sent each, its files as downloads, and its HTML on demand.
// The HTML was sanitised when it came in (core/mail_parse.py) and is still the
// customer's: it is shown only inside an iframe with an empty sandbox (no scripts, no
// forms, an opaque origin: nothing in it can reach the console) and its own policy
// that allows no request at all. Inline images (cid:) are read here and handed in as
// data: URLs; remote images stay blocked (tracking pixels, more often than content),
// and the frame says how many there were.

import { T, fmt } from "./console-i18n.js";
import { api, el } from "./console-base.js";
import { ticketPath, when } from "./ticket-fields.js";

const INLINE_MAX = 5 * 1024 * 1024; // bytes of an inline image put into the frame
// The frame's own policy, on top of the console's (which a srcdoc frame inherits, so
// no inline style either): no fetch of any kind, images only as data: URLs.
const FRAME_CSP = "default-src 'none'; img-src data:";

const sizeText = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`);

function fileUrl(ticketId, sha) {
  return `${ticketPath(ticketId)}/mails/files/${sha}`;
}

async function dataUrl(ticketId, file) {
  const res = await fetch(fileUrl(ticketId, file.sha256), { credentials: "same-origin" });
  if (!res.ok) throw new Error(String(res.status));
  const blob = await res.blob();
  const type = /^image\/(png|jpeg|gif|webp|bmp)$/.test(file.type) ? file.type : "application/octet-stream";
  return await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^;,]*/, `data:${type}`));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** Build the frame's document: the sanitised HTML with cid: images as data: URLs and
 * remote images taken out (counted). Parsed by the browser, never run: the document is
 * inert (DOMParser runs no script), and the frame is sandboxed anyway. */
export async function frameDocument(ticketId, mail) {
  const doc = new DOMParser().parseFromString(mail.html, "text/html");
  const byCid = new Map(mail.files.filter((f) => f.cid).map((f) => [f.cid, f]));
  let blocked = 0;
  for (const img of Array.from(doc.querySelectorAll("img"))) {
    const src = img.getAttribute("src") || "";
    if (src.toLowerCase().startsWith("cid:")) {
      const file = byCid.get(src.slice(4));
      if (file && file.size <= INLINE_MAX && file.type.startsWith("image/")) {
        try {
          img.setAttribute("src", await dataUrl(ticketId, file));
          continue;
        } catch { /* shown as missing below */ }
      }
    } else if (src && !src.toLowerCase().startsWith("data:")) {
      blocked += 1;
    }
    const alt = img.getAttribute("alt");
    img.replaceWith(doc.createTextNode(alt ? `[${alt}]` : "[image]"));
  }
  const head = `<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${FRAME_CSP}">` +
    `<base target="_blank">`;
  return { html: `<!doctype html><html><head>${head}</head><body>${doc.body.innerHTML}</body></html>`, blocked };
}

function fileList(ticketId, mail) {
  const ul = el("ul", "mail-files");
  ul.dataset.cb = "mail-files";
  for (const f of mail.files) {
    const li = el("li");
    const a = el("a", null, f.name);
    a.href = fileUrl(ticketId, f.sha256);
    a.download = f.name;
    a.dataset.cb = "mail-file";
    li.append(a, el("span", "muted", ` ${sizeText(f.size)}${f.cid ? ` · ${T.mailInline}` : ""}`));
    ul.append(li);
  }
  return ul;
}

function mailItem(ticketId, mail) {
  const li = el("li", "mail");
  li.dataset.cb = "mail";
  li.dataset.id = String(mail.id);
  const meta = el("div", "meta");
  const time = el("time", null, when(mail.at));
  time.dateTime = mail.at;
  meta.append(el("span", "who", mail.sender || T.mailNoSender), el("span", "subject", mail.subject), time);
  li.append(meta);
  if (mail.html) {
    const details = el("details", "mail-html");
    details.dataset.cb = "mail-html";
    const note = el("p", "muted");
    note.dataset.cb = "mail-blocked";
    note.hidden = true;
    details.append(el("summary", null, T.mailShowHtml), note);
    details.addEventListener("toggle", async () => {
      if (!details.open || details.querySelector("iframe")) return;
      const frame = document.createElement("iframe");
      frame.setAttribute("sandbox", "allow-popups allow-popups-to-escape-sandbox");
      frame.setAttribute("referrerpolicy", "no-referrer");
      frame.title = fmt("mailFrameTitle", { sender: mail.sender });
      frame.dataset.cb = "mail-frame";
      const made = await frameDocument(ticketId, mail);
      frame.srcdoc = made.html;
      if (made.blocked) {
        note.textContent = fmt("mailImagesBlocked", { n: made.blocked });
        note.hidden = false;
      }
      details.append(frame);
    });
    li.append(details);
  }
  if (mail.files.length) li.append(fileList(ticketId, mail));
  return li;
}

/** Fill the ticket page's mails card (hidden when the ticket has no mail). */
export async function renderMails(ticketId, card, list) {
  let mails;
  try {
    mails = await api("GET", `${ticketPath(ticketId)}/mails`);
  } catch {
    return; // the card stays hidden: the rest of the page does not depend on it
  }
  card.hidden = mails.length === 0;
  list.replaceChildren(...mails.map((m) => mailItem(ticketId, m)));
}
