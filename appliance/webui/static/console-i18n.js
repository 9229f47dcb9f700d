// Console text in every language. The catalog is the "console" section of
// appliance/webui/locales/<lang>.json, filled in below by the server at start
// (assets.Assets.load), so a changed text changes this file's hash and URL.
// fmt() fills {slots}; callers insert the result with textContent, so a name or body in
// a slot is never markup.

const CATALOG = /*@catalog*/{};

// The page's language (the server sets <html lang>): the catalog whose primary subtag
// starts it, else the first (zh-CN).
const LANGS = Object.keys(CATALOG);
const want = (document.documentElement.lang || "").toLowerCase();
export const LANG =
  LANGS.find((l) => l.toLowerCase() === want) ||
  LANGS.find((l) => want.startsWith(l.split("-")[0].toLowerCase())) ||
  LANGS[0];
export const T = CATALOG[LANG];
export const fmt = (key, vars) => T[key].replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
