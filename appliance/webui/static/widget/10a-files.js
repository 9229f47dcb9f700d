// ---- pictures, files, emoji: the work is in widget-files.js, imported on first use --
const tool = (name, icon) => h("button", { class: "tool", type: "button", "data-cb": name,
  "aria-label": t(name), title: t(name) }, [icon]);
const fileIn = h("input", { type: "file", multiple: "", hidden: "", "data-cb": "file-input" });
const attachBtn = tool("attach", "\u{1F4CE}");
const emojiBtn = tool("emoji", "\u{1F642}");
input.before(attachBtn, emojiBtn, fileIn);
let filesP = null;

function files() {
  return filesP || (filesP = import(BASE + "/api/visitor/assets/widget-files.js").then((mod) => mod.start({
    t, api, notice, buildBubble, onMessage, onInput, toBottom, newChat, isClosed, list, root, shadow,
    input, BASE, LANG, token: () => identity.token,
    conv: () => ensureSession().then(() => convId || createConversation().then(sync)).then(() => convId),
  }), (e) => { filesP = null; notice(t("offline")); throw e; }));
}
function fileBody(m) {
  const body = h("div", { class: "body", "data-cb": "body" }, ["\u{1F4CE} " + m.file.name]);
  files().then((f) => f.draw(body, m), () => {});
  return body;
}
const sendFiles = (picked) => {
  const all = Array.from(picked || []);
  if (all.length) files().then((f) => all.forEach(f.upload), () => {});
};
attachBtn.addEventListener("click", () => fileIn.click());
fileIn.addEventListener("change", () => { sendFiles(fileIn.files); fileIn.value = ""; });
input.addEventListener("paste", (e) => {
  if (e.clipboardData && e.clipboardData.files.length) { e.preventDefault(); sendFiles(e.clipboardData.files); }
});
panel.addEventListener("dragover", (e) => e.preventDefault());
panel.addEventListener("drop", (e) => { e.preventDefault(); sendFiles(e.dataTransfer.files); });
emojiBtn.addEventListener("click", () => files().then((f) => f.emoji(), () => {}));
