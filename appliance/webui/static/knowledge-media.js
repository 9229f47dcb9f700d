// The knowledge page's self-service tools (docs/knowledge-base.md), beside knowledge.js:
// a picture upload that puts the picture's Markdown into the body being edited, a
// preview of the body as readers will see it, the pages of the company's site the open
// article is suggested on (reviewers), and the deflection figure (supervisors).
// The preview is HTML the box rendered and sanitised; it is parsed into an inert
// document and copied here through the same allow-list, so nothing in it can run.

import { T, fmt } from "./console-i18n.js";
import { api } from "./console-base.js";

const root = document.querySelector('[data-cb="knowledge"]');
const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
const KB = "/api/console/kb";
const TAGS = new Set(["P", "BR", "HR", "H1", "H2", "H3", "H4", "H5", "H6", "STRONG", "EM",
  "DEL", "S", "CODE", "PRE", "BLOCKQUOTE", "UL", "OL", "LI", "A", "IMG", "TABLE", "THEAD",
  "TBODY", "TR", "TH", "TD"]);
const ATTRS = { A: ["href", "title"], IMG: ["src", "alt", "title"], OL: ["start"] };

function node(tag, text, attrs) {
  const made = document.createElement(tag);
  if (text) made.textContent = text;
  Object.entries(attrs || {}).forEach(([k, v]) => made.setAttribute(k, v));
  return made;
}

function adopt(from, into) {
  from.childNodes.forEach((n) => {
    if (n.nodeType === 3) { into.appendChild(document.createTextNode(n.nodeValue)); return; }
    if (n.nodeType !== 1) return;
    if (!TAGS.has(n.tagName)) { adopt(n, into); return; }
    const el = document.createElement(n.tagName.toLowerCase());
    (ATTRS[n.tagName] || []).forEach((name) => {
      const v = n.getAttribute(name);
      if (v == null) return;
      if ((name === "href" || name === "src") && !/^(\/(?!\/)|https?:|mailto:|tel:)/i.test(v)) return;
      el.setAttribute(name, v);
    });
    if (n.tagName === "A") el.setAttribute("rel", "noopener noreferrer nofollow");
    adopt(n, el);
    into.appendChild(el);
  });
}

// The body being edited: the Chinese one, or the English one when its tab is open.
const body = () => ($("kb-pane-en").hidden ? $("kb-body") : $("kb-body-en"));
const openId = () => (/^#article-(\d+)$/.exec(location.hash) || [])[1];

function tools() {
  const file = node("input", "", { type: "file", accept: "image/png,image/jpeg,image/webp",
    hidden: "", "data-cb": "kb-image-file" });
  const upload = node("button", T.kbImage, { type: "button", class: "secondary", "data-cb": "kb-image" });
  const show = node("button", T.kbPreview, { type: "button", class: "secondary", "data-cb": "kb-preview" });
  const note = node("span", "", { class: "muted", role: "status", "data-cb": "kb-media-note" });
  const hint = node("p", T.kbMarkdownHint, { class: "muted" });
  const preview = node("div", "", { class: "kb-preview", "data-cb": "kb-preview-out", hidden: "" });
  const bar = node("div", "", { class: "kb-media" });
  bar.append(upload, show, file, note);
  $("kb-pane-en").after(bar, hint, preview);

  upload.addEventListener("click", () => file.click());
  file.addEventListener("change", async () => {
    const picked = file.files[0];
    file.value = "";
    if (!picked) return;
    note.textContent = T.kbImageSending;
    try {
      const alt = encodeURIComponent(picked.name.replace(/\.[^.]*$/, "").slice(0, 100));
      const stored = await api("POST", `${KB}/images?alt=${alt}`, picked, picked.type || "application/octet-stream");
      const area = body();
      const at = area.selectionStart ?? area.value.length;
      const text = `\n${stored.markdown}\n`;
      area.value = area.value.slice(0, at) + text + area.value.slice(area.selectionEnd ?? at);
      area.dispatchEvent(new Event("input", { bubbles: true }));
      note.textContent = T.kbImageDone;
    } catch (err) {
      note.textContent = fmt("kbFailed", { reason: err.message || "" });
    }
  });
  show.addEventListener("click", async () => {
    try {
      const answer = await api("POST", `${KB}/preview`, { body: body().value });
      preview.textContent = "";
      adopt(new DOMParser().parseFromString(answer.html, "text/html").body, preview);
      preview.hidden = false;
    } catch (err) {
      note.textContent = fmt("kbFailed", { reason: err.message || "" });
    }
  });
}

function pages() {
  const input = node("input", "", { maxlength: "1000", "data-cb": "kb-pages", placeholder: "/shop, /help/broadband" });
  const save = node("button", T.kbPagesSave, { type: "button", class: "secondary", "data-cb": "kb-pages-save" });
  const label = node("label", T.kbPages);
  label.append(" ", input);
  const box = node("div", "", { class: "kb-pages", "data-cb": "kb-pages-box", hidden: "" });
  box.append(label, save);
  $("kb-votes").before(box);
  let shown = null;

  async function load() {
    const id = openId();
    if (!id || id === shown) return;
    shown = id;
    try {
      const found = await api("GET", `${KB}/articles/${id}/pages`);
      input.value = found.prefixes.join(", ");
      box.hidden = false;
    } catch (_) {
      box.hidden = true;
    }
  }
  save.addEventListener("click", async () => {
    const prefixes = input.value.split(/[,\uFF0C\s]+/).filter(Boolean);
    try {
      const found = await api("PUT", `${KB}/articles/${openId()}/pages`, { prefixes });
      input.value = found.prefixes.join(", ");
      save.textContent = T.kbPagesSaved;
    } catch (err) {
      save.textContent = err.status === 403 ? T.kbPagesReviewers : fmt("kbFailed", { reason: err.message || "" });
    }
    setTimeout(() => { save.textContent = T.kbPagesSave; }, 3000);
  });
  window.addEventListener("hashchange", load);
  new MutationObserver(load).observe($("kb-form"), { attributes: true, attributeFilter: ["hidden"] });
  load();
}

async function deflection() {
  try {
    const d = await api("GET", `${KB}/deflection?days=30`);
    const line = node("p", "", { class: "muted", "data-cb": "kb-deflection" });
    line.textContent = d.rate === null
      ? fmt("kbDeflectionNone", { visitors: d.visitors })
      : fmt("kbDeflection", { deflected: d.deflected, visitors: d.visitors,
        rate: Math.round(d.rate * 100), minutes: Math.round(d.window_seconds / 60) });
    $("kb-articles").before(line);
  } catch (_) { /* not a supervisor: the figure is theirs */ }
}

tools();
pages();
deflection();
