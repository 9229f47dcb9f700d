// The company's look in the visitor widget (docs/widget-guide.md). The widget
// (widget/13-brand.js) loads this when there is a look to draw or its panel first opens.
// It draws the launcher (colour, the text on it, side, offsets, label), the header (logo,
// company name and reply-time hint; once an agent answers, their photo and name over the
// company's), the welcome, and opens the chat by itself when asked. The tag's data-*
// override the box's look for one site; every value is checked here, and texts only
// ever go in as text. The look's settings page frames a page of the box with the widget
// and sends drafts (the live preview); only the box's own origin, framing us, may.
//
// Nothing is left on the page's window: the widget hands over what this needs through
// this script element (`cb`), and gets back the function it calls on each change. New
// elements are styled through CSSOM (el.style), which a Content-Security-Policy without
// 'unsafe-inline' allows.
(() => {
  "use strict";

  const OFFSET_X_MAX = 200; // px, the box's bound
  const OFFSET_Y_MAX = 300; // px
  const OFFSET = 20; // px, the default distance from the side and the bottom
  const OPEN_AFTER_MAX = 600; // s
  const LABEL_MAX = 40; // characters of a tag's label
  const PHONE = 480; // px: at or under this width the chat never opens by itself
  const AUTO_KEY = "callbox.opened"; // sessionStorage: opened by itself once in this tab
  const CONTRAST_MIN = 4.5; // WCAG AA, normal text
  const INK = "#1f2328"; // the widget's body text, for the colour where it would not read

  const me = document.currentScript;
  if (!me || typeof me.cb !== "function") return;

  me.cb((w) => {
    const { h } = w;
    const attr = (n) => w.script.getAttribute("data-" + n);
    const hex = (c) => (typeof c === "string" && /^#([\da-f]{3}){1,2}$/i.test(c) ? c : "");
    const num = (v, high, fallback) => {
      const n = parseInt(v, 10);
      return n >= 0 ? Math.min(n, high) : fallback;
    };
    const pick = (m) => (m && typeof m === "object" && typeof m[w.LANG] === "string" ? m[w.LANG] : "");

    /** WCAG relative luminance of #rgb or #rrggbb. */
    function luminance(c) {
      const full = c.length === 4 ? c.replace(/\w/g, "$&$&") : c;
      return [0.2126, 0.7152, 0.0722].reduce((sum, weight, i) => {
        const v = parseInt(full.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
        return sum + weight * (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      }, 0);
    }
    const contrast = (a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);

    let draft = null; // the settings page's draft look, in the preview
    let drawn = ""; // the launcher's look last drawn (JSON), to draw only a change
    let autoTimer = 0;
    let clicked = false; // the visitor used the launcher: never open by ourselves after

    const label = h("span", { "data-cb": "launcher-label" });
    w.launcher.append(label);
    const pic = h("img", { alt: "", "data-cb": "brand-pic" });
    const nameEl = h("div", { "data-cb": "brand-name" });
    const subEl = h("div", { "data-cb": "brand-sub", hidden: "" });
    const welcome = h("div", { "data-cb": "welcome", hidden: "" });
    const title = w.panel.querySelector(".title");
    title.replaceChildren(nameEl, subEl);
    w.list.before(welcome);
    const clip = { overflow: "hidden", textOverflow: "ellipsis" };
    Object.assign(nameEl.style, clip);
    Object.assign(subEl.style, clip, { fontSize: "12px", fontWeight: "400" });
    Object.assign(label.style, clip, { whiteSpace: "nowrap", fontWeight: "600" });
    Object.assign(welcome.style, {
      margin: "12px 12px 0",
      padding: "8px 12px",
      maxWidth: "80%",
      alignSelf: "flex-start",
      borderRadius: "12px 12px 12px 4px",
      background: "#f0f2f5",
      whiteSpace: "pre-wrap",
      overflowWrap: "anywhere",
    });
    pic.style.flex = "none";
    // The header's picture is loaded apart first and shown only once it has loaded, so a
    // 404 (an agent without a photo) shows nothing and leaves no img in the widget. On
    // the picture itself an error event from a src taken away fired late, after the next
    // src was set, and removed that one for good.
    let wanted = "";

    /** Draw the launcher and the colours: the look, then the tag's overrides. */
    function drawLauncher(b) {
      const own = hex(attr("color"));
      const color = own || hex(b.color);
      let text = "";
      let ink = "";
      if (color) {
        const l = luminance(color);
        // The box picked (and checked) the text for its colour; a tag's gets the more readable.
        text = !own && hex(b.text) ? b.text : contrast(l, 1) >= contrast(l, 0) ? "#ffffff" : "#000000";
        ink = contrast(l, 1) >= CONTRAST_MIN ? color : INK;
      }
      const side = /^(left|right)$/.test(attr("position") || "") ? attr("position") : b.position;
      const x = num(attr("offset-x") ?? b.offset_x, OFFSET_X_MAX, OFFSET) + "px";
      const y = num(attr("offset-y") ?? b.offset_y, OFFSET_Y_MAX, OFFSET) + "px";
      const vars = { "--a": color, "--t": text, "--i": ink, "--y": y };
      vars["--r"] = side === "left" ? "auto" : x;
      vars["--l"] = side === "left" ? x : "";
      Object.entries(vars).forEach(([k, v]) => {
        if (v) w.root.style.setProperty(k, v);
        else w.root.style.removeProperty(k);
      });
      const tagLabel = attr("label");
      label.textContent = (tagLabel == null ? pick(b.label) : tagLabel).slice(0, LABEL_MAX);
      const wide = !!label.textContent;
      label.hidden = !wide;
      Object.assign(w.launcher.style, wide
        ? { width: "auto", padding: "0 20px 0 16px", borderRadius: "28px", gap: "8px" }
        : { width: "", padding: "", borderRadius: "", gap: "" });
      const open = attr("open");
      autoOpen(num(open == null ? b.open_after : open, OPEN_AFTER_MAX, -1));
    }

    /** Open the chat `after` s from the page's start: once per tab, never on a phone (it
     * would cover the page), never after the visitor used the launcher; the page keeps
     * its keyboard focus. */
    function autoOpen(after) {
      clearTimeout(autoTimer);
      if (after < 0 || clicked || innerWidth <= PHONE) return;
      try {
        if (sessionStorage.getItem(AUTO_KEY)) return;
      } catch (e) {
        return; // no sessionStorage (a sandbox): it would open on every page
      }
      autoTimer = setTimeout(() => {
        if (clicked || w.now().isOpen) return;
        try { sessionStorage.setItem(AUTO_KEY, "1"); } catch (e) { /* checked above */ }
        const had = document.activeElement;
        w.setOpen(true);
        w.input.blur();
        if (had && had.focus) had.focus();
      }, Math.max(0, after * 1000 - performance.now()));
    }

    /** Draw everything for the state as it is now. */
    function draw() {
      const s = w.now();
      const b = draft || (s.look && typeof s.look === "object" ? s.look : {});
      const key = JSON.stringify(b);
      if (key !== drawn) {
        drawn = key;
        drawLauncher(b);
      }
      const agent = s.conv && s.conv.status === "active" && s.conv.agent;
      const who = agent ? String(agent.display_name || "") : "";
      const company = (typeof b.name === "string" && b.name) || w.t("title");
      nameEl.textContent = who || company;
      subEl.textContent = who ? company : s.hint;
      subEl.hidden = !subEl.textContent;
      const logo = typeof b.logo === "string" && /^\/api\/visitor\/logo\/\w+$/.test(b.logo) ? w.BASE + b.logo : "";
      const src = agent ? (agent.id > 0 ? `${w.BASE}/api/visitor/avatars/${Number(agent.id)}` : "") : logo;
      // In the header only while there is a picture to show.
      if (wanted !== src) {
        wanted = src;
        pic.removeAttribute("src");
        pic.remove();
        if (src) {
          // A picture that fails to load (a busy box, a dropped connection) is asked
          // again a few times before the header goes without it.
          let tries = 0;
          const probe = document.createElement("img");
          probe.onload = () => {
            if (wanted !== src) return;
            pic.src = src;
            title.before(pic);
          };
          probe.onerror = () => {
            if (wanted !== src || ++tries > 4) return;
            setTimeout(() => { if (wanted === src) probe.src = `${src}${src.includes("?") ? "&" : "?"}r=${tries}`; }, 500 * tries);
          };
          probe.src = src;
        }
      }
      Object.assign(pic.style, agent
        ? { width: "32px", height: "32px", maxWidth: "", borderRadius: "50%", objectFit: "cover" }
        : { width: "", height: "28px", maxWidth: "96px", borderRadius: "", objectFit: "contain" });
      welcome.textContent = pick(b.welcome);
      w.keepBottom(() => { welcome.hidden = !welcome.textContent || s.chat; });
    }

    w.launcher.addEventListener("click", () => {
      clicked = true;
      clearTimeout(autoTimer);
    });
    window.addEventListener("message", (e) => {
      const d = e.data && e.data.callboxLook;
      if (e.origin !== w.BASE || e.source !== window.parent || window.parent === window) return;
      if (!d || typeof d !== "object") return;
      draft = d;
      draw();
    });
    // Framed by the settings page: ask it for the draft (its first may have come too early).
    if (window.parent !== window) window.parent.postMessage({ callboxLookReady: true }, w.BASE);
    return draw;
  });
})();
