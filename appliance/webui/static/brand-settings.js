// The widget's look (templates/brand.html): a form on the left, the real widget on a
// stand-in page on the right. Every change is sent to the preview as it is typed (the
// widget takes a draft only from this box's origin, 13-brand.js); Save stores it through
// /api/console/brand, the logo goes up on its own as soon as it is picked.
import { api } from "./console-base.js";
import { T, fmt } from "./console-i18n.js";

const LANGS = ["zh-CN", "en"];
const CONTRAST_MIN = 4.5; // WCAG AA, normal text
// Refusals the user can act on, in the page's language; others show the server's words.
const BRAND_REFUSED = {
  color_invalid: "brandColorInvalid",
  color_low_contrast: "brandContrastRefused",
  image_too_large: "brandTooLarge",
  image_type: "brandNotImage",
  image_invalid: "brandBadImage",
};

/** WCAG relative luminance of #rrggbb. */
function luminance(hex) {
  return [0.2126, 0.7152, 0.0722].reduce((sum, weight, i) => {
    const c = parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
    return sum + weight * (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  }, 0);
}

/** WCAG contrast ratio of two #rrggbb colours, 1 to 21. */
function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** White or black, whichever reads better on the colour (core/brand.py text_on). */
const readable = (hex) => (contrast(hex, "#ffffff") >= contrast(hex, "#000000") ? "#ffffff" : "#000000");

(() => {
  const root = document.querySelector('[data-cb="brand"]');
  if (!root) return;
  const limits = JSON.parse(root.dataset.limits);
  const $ = (name) => document.querySelector(`[data-cb="${name}"]`);
  const frame = $("brand-preview");
  let logo = ""; // URL path of the saved logo
  let version = "";

  const problem = (err) =>
    BRAND_REFUSED[err.code] ? fmt(BRAND_REFUSED[err.code], { kb: limits.upload_kb }) : err.message;

  function say(where, text) {
    $(where).textContent = text || "";
    $(where).hidden = !text;
  }

  const hexColor = () => {
    const v = $("brand-color").value.trim().toLowerCase();
    const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/.exec(v);
    if (!m) return v ? null : "";
    return "#" + (m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1]);
  };
  const whole = (name, high, fallback) => {
    const n = Number($(name).value);
    return Number.isInteger(n) && n >= 0 ? Math.min(n, high) : fallback;
  };
  const texts = (prefix) => {
    const out = {};
    LANGS.forEach((l) => { const v = $(`${prefix}-${l}`).value.trim(); if (v) out[l] = v; });
    return out;
  };

  /** The form as the API takes it. */
  function draft() {
    return {
      color: $("brand-color").value.trim(),
      text_color: $("brand-text-color").value,
      name: $("brand-name").value.trim(),
      welcome: texts("brand-welcome"),
      label: texts("brand-label"),
      position: $("brand-position").value,
      offset_x: whole("brand-offset-x", limits.offset_x, 20),
      offset_y: whole("brand-offset-y", limits.offset_y, 20),
      open_after: $("brand-auto-open").checked ? whole("brand-open-after", limits.open_after, 0) : null,
    };
  }

  /** Say how readable text on the colour is, and what the box will do about it. */
  function showContrast() {
    const el = $("brand-contrast");
    const color = hexColor();
    const choice = $("brand-text-color").value;
    let text = T.brandDefault;
    let state = "ok";
    if (color === null) { text = T.brandColorInvalid; state = "warn"; }
    else if (color) {
      const white = contrast(color, "#ffffff");
      const on = choice === "auto" ? readable(color) : choice === "white" ? "#ffffff" : "#000000";
      const ratio = contrast(color, on).toFixed(1);
      const name = on === "#ffffff" ? T.brandWhite : T.brandBlack;
      if (Number(ratio) < CONTRAST_MIN) { text = fmt("brandContrastLow", { text: name, ratio }); state = "warn"; }
      else if (choice === "auto" && white < CONTRAST_MIN) {
        text = fmt("brandContrastAuto", { white: white.toFixed(1), ratio }); state = "warn";
      } else text = fmt("brandContrastOk", { text: name, ratio });
      $("brand-color-pick").value = color;
    }
    el.textContent = text;
    el.dataset.state = state;
    return color;
  }

  /** Send the draft to the widget on the stand-in page. */
  function preview() {
    const color = showContrast();
    const d = draft();
    const choice = d.text_color;
    const look = Object.assign({}, d, {
      color: color || "",
      text: color ? (choice === "auto" ? readable(color) : choice === "white" ? "#ffffff" : "#000000") : "",
      logo,
      version,
    });
    if (frame.contentWindow) frame.contentWindow.postMessage({ callboxLook: look }, location.origin);
  }

  function fill(look) {
    $("brand-color").value = look.color;
    $("brand-text-color").value = look.text_color;
    $("brand-name").value = look.name;
    LANGS.forEach((l) => {
      $(`brand-welcome-${l}`).value = look.welcome[l] || "";
      $(`brand-label-${l}`).value = look.label[l] || "";
    });
    $("brand-position").value = look.position;
    $("brand-offset-x").value = String(look.offset_x);
    $("brand-offset-y").value = String(look.offset_y);
    $("brand-auto-open").checked = look.open_after !== null;
    $("brand-open-after").value = String(look.open_after ?? 5);
    showLogo(look);
  }

  function showLogo(look) {
    logo = look.logo;
    version = look.version;
    const img = $("brand-logo-img");
    img.hidden = !logo;
    if (logo) img.src = logo;
    else img.removeAttribute("src");
    $("brand-logo-remove").hidden = !logo;
  }

  async function save(e) {
    e.preventDefault();
    say("brand-error", "");
    $("brand-saved").textContent = "";
    $("brand-save").disabled = true;
    try {
      const r = await api("PUT", "/api/console/brand", draft());
      fill(r.look);
      $("brand-saved").textContent = T.brandSaved;
    } catch (err) {
      say("brand-error", fmt("brandFailed", { message: problem(err) }));
    } finally {
      $("brand-save").disabled = false;
      preview();
    }
  }

  async function upload() {
    const file = $("brand-logo").files[0];
    if (!file) return;
    say("brand-error", "");
    $("brand-saved").textContent = "";
    try {
      // The box reads the type from the bytes; the name and the browser's type do not count.
      const r = await api("PUT", "/api/console/brand/logo", file, file.type || "application/octet-stream");
      showLogo(r.look);
      $("brand-saved").textContent = T.brandLogoSaved;
    } catch (err) {
      say("brand-error", fmt("brandFailed", { message: problem(err) }));
    } finally {
      $("brand-logo").value = "";
      preview();
    }
  }

  async function removeLogo() {
    say("brand-error", "");
    try {
      showLogo((await api("DELETE", "/api/console/brand/logo")).look);
      $("brand-saved").textContent = T.brandSaved;
    } catch (err) {
      say("brand-error", fmt("brandFailed", { message: problem(err) }));
    }
    preview();
  }

  /** Open the widget's panel on the stand-in page, as a visitor's click would. */
  function openPanel() {
    const doc = frame.contentDocument;
    const host = doc && doc.querySelector("callbox-widget");
    const button = host && host.shadowRoot && host.shadowRoot.querySelector('[data-cb="launcher"]');
    if (button && button.getAttribute("aria-expanded") !== "true") button.click();
  }

  $("brand-form").addEventListener("submit", save);
  $("brand-form").addEventListener("input", (e) => { if (e.target !== $("brand-logo")) preview(); });
  $("brand-color-pick").addEventListener("input", () => {
    $("brand-color").value = $("brand-color-pick").value;
    preview();
  });
  $("brand-logo").addEventListener("change", upload);
  $("brand-logo-remove").addEventListener("click", removeLogo);
  $("brand-preview-size").addEventListener("change", () => {
    frame.classList.toggle("phone", $("brand-preview-size").value === "phone");
  });
  $("brand-preview-open").addEventListener("click", openPanel);
  frame.addEventListener("load", preview);
  // The widget's look script, once loaded in the frame, asks for the draft.
  window.addEventListener("message", (e) => {
    if (e.origin === location.origin && e.source === frame.contentWindow && e.data && e.data.callboxLookReady) preview();
  });

  api("GET", "/api/console/brand")
    .then((r) => { fill(r.look); preview(); })
    .catch((err) => say("brand-error", fmt("brandFailed", { message: problem(err) })));
})();
