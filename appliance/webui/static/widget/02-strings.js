// ---- strings: the UI catalog, one per language ----------------------------------------
// The "widget" section of appliance/webui/locales/<lang>.json in every language, filled
// in by the server when it joins the parts at start (assets.widget_script).
const CATALOG = /*@catalog*/{};

// The page's data-lang, else the browser's language: the catalog whose primary subtag
// starts it, else the first, zh-CN (so "en-GB" is English, "zh-TW" and "fr" Chinese).
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
