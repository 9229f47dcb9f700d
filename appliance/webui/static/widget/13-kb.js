// ---- self-service before a chat: search and suggested articles (later/kb.js) ---------
// While no chat runs, the panel offers a search of the public knowledge base and the
// articles suggested for this page (docs/knowledge-base.md); the part that draws them
// is loaded from /api/visitor/assets/kb.js the first time the panel opens without a
// chat. It is shown and hidden here, on the panel opening and on every status change.
const kbEl = h("section", { class: "kb", "data-cb": "kb", hidden: "" });
list.before(kbEl);
let kbPart = null; // null: not asked for; 0: on its way; else it has drawn itself

function renderKb() {
  const show = isOpen && !deskOn && (!convId || isClosed()) && !outbox.length;
  if (show && kbPart === null) {
    kbPart = 0;
    document.addEventListener("callbox:kb", (e) => {
      kbPart = e.detail({ h, t, api, ensureSession, kbEl, BASE, LANG, CATALOG, keepBottom, input });
      renderKb();
    }, { once: true });
    document.head.appendChild(h("script", { src: BASE + "/api/visitor/assets/kb.js" }));
  }
  kbEl.hidden = !show || !kbPart;
}
new MutationObserver(renderKb).observe(panel, { attributes: true, attributeFilter: ["hidden"] });
new MutationObserver(renderKb).observe(statusEl, { attributes: true });
