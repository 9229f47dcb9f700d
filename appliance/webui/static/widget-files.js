// Pictures and files in the visitor widget: an ES module the widget imports from
// /api/visitor/assets/ the first time a file is sent or shown (widget/10a-files.js), so
// a page view that never needs it never loads it.
//
// start(w) takes what it needs of the widget (its catalog's t(), api(), the message list
// and bubble builder, the composer, the visitor's token, a promise of the conversation)
// and returns { upload(file), draw(body, message), emoji() }.
//
// An upload is the file as the raw body of one POST, by XMLHttpRequest for its progress
// events; its bubble shows the percentage, then the stored message replaces it. A
// failure says why (too large, a format the box refuses, a name that lies about the
// content, the network) and offers a retry under the same client_msg_id, which the box
// answers with the first upload's message if that one was stored after all: a retry never
// sends a file twice. Files are read with the visitor's token (never a cookie, never a
// token in a URL) and shown from blob: URLs; a host page with a Content-Security-Policy
// needs `img-src blob:` for the thumbnails (docs/files.md).

const CSS = `
.thumb { display: block; max-width: 200px; max-height: 200px; min-width: 48px; min-height: 48px;
  border-radius: 8px; cursor: zoom-in; }
.file-link { border: 0; padding: 0; background: none; color: inherit; text-decoration: underline;
  text-align: left; overflow-wrap: anywhere; }
.retry { margin-left: 6px; border: 0; padding: 0; background: none; color: #2563eb;
  text-decoration: underline; font-size: 11px; }`;

const ERRORS = {
  file_too_large: "fileTooLarge", type_not_allowed: "fileType", type_mismatch: "fileMismatch",
  image_invalid: "fileType", file_empty: "fileType", rate_limited: "rateLimited",
  storage_full: "storageFull",
};

// Refusals of the file itself, not of the moment.
const FINAL = new Set(["file_too_large", "type_not_allowed", "type_mismatch", "image_invalid", "file_empty"]);

function adopt(root) {
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  } catch (_) { // no constructable stylesheets (Safari before 16.4)
    const style = document.createElement("style");
    style.textContent = CSS;
    root.appendChild(style);
  }
}

function el(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text != null) n.textContent = text;
  return n;
}

function uuid() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (v) => (v + 0x100).toString(16).slice(1)).join("");
}

export function start(w) {
  const { t } = w;
  adopt(w.shadow);
  let limitsP = null;
  let viewerP = null;

  const limits = () => limitsP || (limitsP = w.api("GET", "/api/visitor/files/limits")
    .catch((e) => { limitsP = null; throw e; }));

  // A file of this conversation, read with the visitor's token (anyone else gets 404).
  function fetchFile(m, query) {
    const url = `${w.BASE}/api/visitor/conversations/${encodeURIComponent(m.conversation_id)}` +
      `/files/${encodeURIComponent(m.file.id)}${query}`;
    return fetch(url, { headers: { Authorization: `Bearer ${w.token()}` }, mode: "cors", credentials: "omit" })
      .then((r) => { if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.blob(); });
  }

  function openPicture(m) {
    viewerP = viewerP || import(`${w.BASE}/api/visitor/assets/image-viewer.js`);
    Promise.all([viewerP, fetchFile(m, "")]).then(([viewer, blob]) => viewer.openViewer({
      parent: w.root, styleRoot: w.shadow, src: URL.createObjectURL(blob), name: m.file.name,
      labels: { close: t("fileClose"), download: t("fileSave") },
    }), () => { viewerP = null; w.notice(t("offline")); });
  }

  function draw(body, m) {
    const f = m.file;
    if (f.kind === "image") {
      const img = el("img", "thumb");
      img.alt = f.name;
      img.dataset.cb = "thumb";
      if (f.width && f.height) img.style.aspectRatio = `${f.width} / ${f.height}`;
      img.addEventListener("click", () => openPicture(m));
      fetchFile(m, f.thumb ? "?thumb=1" : "").then((b) => { img.src = URL.createObjectURL(b); }, () => {});
      body.replaceChildren(img);
    } else {
      const link = el("button", "file-link", `\u{1F4CE} ${f.name}`);
      link.type = "button";
      link.dataset.cb = "file-link";
      link.addEventListener("click", () => fetchFile(m, "?download=1").then((b) => {
        const a = el("a");
        a.href = URL.createObjectURL(b);
        a.download = f.name;
        a.click();
      }, () => w.notice(t("offline"))));
      body.replaceChildren(link);
    }
  }

  function send(convId, file, id, progress) {
    return new Promise((ok, no) => {
      const x = new XMLHttpRequest();
      x.open("POST", `${w.BASE}/api/visitor/conversations/${encodeURIComponent(convId)}/files` +
        `?client_msg_id=${encodeURIComponent(id)}&name=${encodeURIComponent(file.name)}`);
      x.setRequestHeader("Authorization", `Bearer ${w.token()}`);
      x.setRequestHeader("Content-Type", file.type || "application/octet-stream");
      x.upload.onprogress = (e) => { if (e.lengthComputable) progress(Math.floor((e.loaded * 100) / e.total)); };
      x.onload = () => {
        let data = {};
        try { data = JSON.parse(x.responseText); } catch (_) { /* not JSON: a proxy's page */ }
        if (x.status < 300 && data.message) ok(data.message);
        else no(data.error || {});
      };
      x.onerror = () => no({}); // the network: nothing was stored, the retry is safe
      x.send(file);
    });
  }

  function upload(file, id = uuid()) {
    if (w.isClosed()) w.newChat();
    const bubble = w.buildBubble({ sender_type: "visitor", body: `\u{1F4CE} ${file.name}` });
    const meta = bubble.querySelector(".meta");
    bubble.setAttribute("data-pending", "1"); // pending bubbles stay last
    bubble.dataset.cb = "upload";
    meta.textContent = t("sending");
    w.list.appendChild(bubble);
    w.toBottom();
    let max = 0;
    limits()
      .then((lim) => {
        max = lim.max_mb;
        if (file.size > lim.max_bytes) throw { code: "file_too_large" };
        return w.conv();
      })
      .then((convId) => send(convId, file, id, (p) => { meta.textContent = t("uploading", { p }); }))
      .then((message) => {
        bubble.remove();
        w.onMessage(message);
      }, (err) => {
        bubble.removeAttribute("data-pending");
        bubble.setAttribute("data-failed", "1");
        meta.textContent = t(ERRORS[err.code] || "uploadFailed", { mb: max });
        if (FINAL.has(err.code)) return; // sending the same file again cannot help
        const again = el("button", "retry", t("retry"));
        again.type = "button";
        again.dataset.cb = "retry";
        again.addEventListener("click", () => { bubble.remove(); upload(file, id); });
        meta.append(again);
      });
  }

  let picker = null;
  let pickerP = null;

  /** Open the emoji picker above the composer, or close it; a pick goes in at the caret. */
  function emoji() {
    if (picker) { picker.close(); return; }
    pickerP = pickerP || import(`${w.BASE}/api/visitor/assets/emoji-picker.js`);
    pickerP.then((mod) => {
      const input = w.input;
      picker = mod.openPicker({
        before: input.parentNode, styleRoot: w.shadow, lang: w.LANG,
        labels: { search: t("emojiSearch") },
        onPick: (e) => {
          input.setRangeText(e, input.selectionStart, input.selectionEnd, "end");
          w.onInput();
        },
        onClose: () => { picker = null; input.focus(); },
      });
    }, () => { pickerP = null; w.notice(t("offline")); });
  }

  return { upload: (file) => upload(file), draw, emoji };
}
