// ---- brand: the company's look (docs/widget-guide.md) ---------------------------------
// The box's look rides on the session's answer (null: its defaults) and is kept for the
// next page view. static/widget-look.js draws it, the tag's data-* overrides, the header
// and the welcome: loaded at once when there is a look to draw, else when the panel first
// opens. Until it has drawn, a branded launcher stays hidden (BRAND_WAIT at most) rather
// than flash in the default blue.
const BRAND_WAIT = 1500; // ms
const K_BRAND = "callbox.brand";
const tagged = ["color", "position", "offset-x", "offset-y", "label", "open", "preview"]
  .some((n) => script.hasAttribute("data-" + n));
let look = store.getJSON(K_BRAND, null); // the box's look; 0: its defaults
let replyIn = 0; // s a new chat likely waits (the box's live queue)
let drawLook = null; // widget-look.js's drawing once it is loaded; 0 while it loads

function renderBrand() {
  if (drawLook) drawLook();
}

function loadLook() {
  if (drawLook != null) return;
  drawLook = 0;
  const s = h("script", { src: BASE + "/api/visitor/assets/widget-look.js", async: "" });
  s.cb = (make) => { // it hands its drawing back through its element: nothing on window
    drawLook = make({ h, t, LANG, BASE, script, root, launcher, panel, list, input, keepBottom,
      setOpen, now: () => ({ look, conv, isOpen, chat: !!convId && !isClosed(),
        hint: replyIn > 0 && !convId ? t("replyIn", { m: Math.ceil(replyIn / 60) }) : "" }) });
    drawLook();
  };
  s.onload = s.onerror = () => { s.remove(); launcher.hidden = false; };
  document.body.appendChild(s);
}

function onLook(r) {
  replyIn = r.reply_within;
  store.setJSON(K_BRAND, (look = r.brand || 0));
  if (look || tagged) loadLook();
  else launcher.hidden = false;
  renderBrand();
}

if (look !== 0 || tagged) {
  launcher.hidden = true;
  setTimeout(() => { launcher.hidden = false; }, BRAND_WAIT);
  if (look || tagged) loadLook();
}
new MutationObserver(() => panel.hidden || loadLook()).observe(panel, { attributes: true });
