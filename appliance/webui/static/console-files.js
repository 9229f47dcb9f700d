// Pictures, files and emoji in the console's chat: pick, paste or drop a file to send it
// to the visitor (with its progress, and a clear reason when the box refuses it); files
// in messages as thumbnails that open the viewer, or as download links; the emoji
// picker. The picker and the viewer are modules of their own, imported on first use.

import { T, LANG, fmt } from "./console-i18n.js";
import { S, convPath, csrf, el, flash, root, ui, uuid } from "./console-base.js";
import { ingest } from "./console-chat.js";
import { roleOf } from "./console-lists.js";

const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
// The box's refusals, by code, as the agent reads them.
const ERRORS = {
  file_too_large: "fileTooLarge",
  type_not_allowed: "fileType",
  type_mismatch: "fileMismatch",
  image_invalid: "fileType",
  file_empty: "fileType",
  rate_limited: "fileBusy",
};
let limitsP = null;
let viewerP = null;
let picker = null;

const fileUrl = (m, query = "") =>
  convPath(m.conversation_id, `/files/${encodeURIComponent(m.file.id)}${query}`);

function openPicture(m) {
  viewerP = viewerP || import("./image-viewer.js");
  viewerP.then((viewer) => viewer.openViewer({
    parent: document.body, styleRoot: document, src: fileUrl(m), name: m.file.name,
    labels: { close: T.fileClose, download: T.fileSave },
  }), (e) => { viewerP = null; flash(fmt("failed", { msg: e.message })); });
}

/** The body of a bubble whose message carries a file. */
export function fileBody(m) {
  const f = m.file;
  const body = el("div", "body file");
  body.dataset.cb = "file";
  body.dataset.kind = f.kind;
  if (f.kind === "image") {
    const open = el("button", "thumb-button");
    open.type = "button";
    open.title = f.name;
    const img = el("img", "thumb");
    img.alt = f.name;
    img.dataset.cb = "thumb";
    img.loading = "lazy";
    img.src = fileUrl(m, f.thumb ? "?thumb=1" : "");
    if (f.width && f.height) img.style.aspectRatio = `${f.width} / ${f.height}`;
    open.append(img);
    open.addEventListener("click", () => openPicture(m));
    body.append(open);
  } else {
    const link = el("a", "file-link", `\u{1F4CE} ${f.name}`);
    link.href = fileUrl(m, "?download=1");
    link.download = f.name;
    link.dataset.cb = "file-link";
    body.append(link, " ", el("span", "size", sizeText(f.size)));
  }
  return body;
}

function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const limits = () => limitsP || (limitsP = fetch("/api/visitor/files/limits")
  .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
  .catch((e) => { limitsP = null; throw e; }));

function send(rec, file, id, progress) {
  return new Promise((ok, no) => {
    const x = new XMLHttpRequest();
    x.open("POST", convPath(rec.id, `/files?client_msg_id=${encodeURIComponent(id)}&name=${encodeURIComponent(file.name)}`));
    x.setRequestHeader("X-CSRF-Token", csrf());
    x.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    x.upload.onprogress = (e) => { if (e.lengthComputable) progress(Math.floor((e.loaded * 100) / e.total)); };
    x.onload = () => {
      let data = {};
      try { data = JSON.parse(x.responseText); } catch (_) { /* not JSON */ }
      if (x.status < 300 && data.message) ok(data.message);
      else no(data.error || { message: String(x.status) });
    };
    x.onerror = () => no({}); // the network: nothing was stored; the retry is safe
    x.send(file);
  });
}

function upload(rec, file, id = uuid()) {
  const b = el("div", "msg agent own");
  b.dataset.cb = "upload";
  b.dataset.pending = "1";
  const note = el("div", "meta", T.sending);
  b.append(note, el("div", "body", `\u{1F4CE} ${file.name}`));
  rec.pend.append(b);
  if (rec === S.selected) ui.messages.scrollTop = ui.messages.scrollHeight;
  let max = 0;
  limits()
    .then((lim) => {
      max = lim.max_mb;
      if (file.size > lim.max_bytes) throw { code: "file_too_large" };
      return send(rec, file, id, (p) => { note.textContent = fmt("uploading", { p }); });
    })
    .then((message) => {
      b.remove();
      ingest(rec, message);
      if (rec === S.selected) ui.messages.scrollTop = ui.messages.scrollHeight;
    }, (e) => {
      delete b.dataset.pending;
      b.dataset.failed = "1";
      b.classList.add("failed");
      rec.list.append(b);
      const key = ERRORS[e.code] || (e.code ? null : "uploadFailed");
      note.textContent = key ? fmt(key, { mb: max }) : fmt("notSent", { msg: e.message || "" });
      if (key && key !== "uploadFailed" && key !== "fileBusy") return; // the file itself: final
      const again = el("button", "link", T.retry);
      again.type = "button";
      again.dataset.cb = "retry";
      again.addEventListener("click", () => { b.remove(); upload(rec, file, id); });
      note.append(" ", again);
    });
}

function sendFiles(picked) {
  const rec = S.selected;
  const all = Array.from(picked || []);
  if (!rec || !all.length || ui.input.disabled) return;
  if (rec.noteMode || roleOf(rec) === "watch") {
    flash(T.filesNotInNotes);
    return;
  }
  all.forEach((file) => upload(rec, file));
}

function emoji() {
  if (picker) { picker.close(); return; }
  import("./emoji-picker.js").then((mod) => {
    picker = mod.openPicker({
      before: ui.composer, styleRoot: document, lang: LANG, labels: { search: T.emojiSearch },
      onPick: (e) => {
        ui.input.setRangeText(e, ui.input.selectionStart, ui.input.selectionEnd, "end");
        ui.input.dispatchEvent(new Event("input"));
      },
      onClose: () => { picker = null; if (!ui.input.disabled) ui.input.focus(); },
    });
  }, (e) => flash(fmt("failed", { msg: e.message })));
}

export function wireFiles() {
  const attach = $("attach");
  const smile = $("emoji");
  const picked = $("file-input");
  if (!attach) return;
  // The buttons follow the composer: off when there is nothing the agent may send to.
  const follow = () => {
    attach.disabled = smile.disabled = ui.input.disabled;
    if (ui.input.disabled && picker) picker.close();
  };
  new MutationObserver(follow).observe(ui.input, { attributes: true, attributeFilter: ["disabled"] });
  follow();
  attach.addEventListener("click", () => picked.click());
  picked.addEventListener("change", () => { sendFiles(picked.files); picked.value = ""; });
  smile.addEventListener("click", emoji);
  ui.input.addEventListener("paste", (e) => {
    if (e.clipboardData && e.clipboardData.files.length) {
      e.preventDefault();
      sendFiles(e.clipboardData.files);
    }
  });
  const chat = $("chat");
  chat.addEventListener("dragover", (e) => { if (!ui.input.disabled) e.preventDefault(); });
  chat.addEventListener("drop", (e) => {
    e.preventDefault();
    sendFiles(e.dataTransfer.files);
  });
}
