// ---- strings: the UI catalog, one per language ----------------------------------------
// The "widget" section of locales/<lang>.json, filled in at start (assets.widget_script).
const CATALOG = /*@catalog*/{};

// data-lang, else the browser's: that language, else one its primary subtag starts, else zh-CN.
const LANG = (() => {
  const want = (script.getAttribute("data-lang") || navigator.language || "").toLowerCase();
  const langs = Object.keys(CATALOG);
  return langs.find((l) => l.toLowerCase() === want) ||
    langs.find((l) => want.startsWith(l.split("-")[0].toLowerCase())) || langs[0];
})();

/** Look up a UI string; {vars} are filled in, and the result is only ever used as text. */
function t(key, vars) {
  const s = CATALOG[LANG][key] || CATALOG.en[key] || key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k] != null ? String(vars[k]) : ""));
}
