// ---- tracking: page views, time on page, identity ------------------------------------
// Each page, and each route of a single-page app, is a page view. Its dwell is the time
// it was visible: a tab forgotten in the background is not a visitor reading. The box
// answers tracked:false when it honours Do-Not-Track; then nothing more is sent and no
// presence socket is kept. data-track="off" sends no page view at all.
const clockMs = () => performance.now(); // monotonic: a clock change must not bend a dwell

/** The part of a URL that names a page: an in-page anchor is not a new page, a #/ route is. */
function pageKey(url) {
  const i = url.indexOf("#");
  return i < 0 || /^#!?\//.test(url.slice(i)) ? url : url.slice(0, i);
}

function openView(referrer) {
  view = { id: null, url: location.href, referrer, shownMs: 0, sentMs: 0, done: false, timer: 0,
    since: document.visibilityState === "visible" ? clockMs() : null };
  return view;
}

function pauseView(v) {
  if (v.since == null) return;
  v.shownMs += clockMs() - v.since;
  v.since = null;
}

function resumeView(v) {
  if (v.since == null && !v.done) v.since = clockMs();
}

function postView(v) {
  // The token in the body, not a header: a simple request, no preflight.
  const body = { url: v.url, title: document.title, referrer: v.referrer, site: SITE, token: identity.token };
  api("POST", "/api/visitor/pageviews", body, true)
    .then((r) => {
      if (!r.tracked) { stopTracking(); return; }
      v.id = r.page_view ? r.page_view.id : null;
      if (v.done) sendDwell(v); // a route change came before the box's answer
      if (!presence && tracking) {
        presence = true;
        if (!ws) sync();
      }
    })
    .catch((err) => console.debug("callbox: page view not recorded:", err.code || err.message));
}

function stopTracking() {
  tracking = false;
  if (view) clearTimeout(view.timer);
  view = null;
  if (!presence) return;
  presence = false;
  if (ws && !chatting()) dropSocket();
}

/** Send the page's visible time so far; the box keeps the largest it got. */
function sendDwell(v) {
  if (v.id == null || !identity) return;
  const ms = Math.round(v.shownMs + (v.since != null ? clockMs() - v.since : 0));
  if (ms <= v.sentMs) return;
  v.sentMs = ms;
  const url = BASE + "/api/visitor/pageviews/" + encodeURIComponent(v.id) + "/dwell";
  const body = JSON.stringify({ token: identity.token, dwell_ms: ms });
  // text/plain and no Authorization header make a "simple" cross-origin request: no
  // preflight, which a page being closed could not wait for.
  try {
    if (navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], { type: "text/plain" }))) return;
  } catch (e) { /* a refused beacon (size, policy): try fetch below */ }
  fetch(url, { method: "POST", body, keepalive: true, mode: "no-cors", credentials: "omit" })
    .catch(() => { /* the page is going away; nothing to tell anyone */ });
}

function finishView(v) {
  pauseView(v);
  v.done = true;
  sendDwell(v);
}

/** A single-page app changed the URL: end the old page view and start the next one. */
function onUrlChange() {
  const v = view;
  if (!tracking || !v || pageKey(location.href) === pageKey(v.url)) return;
  if (v.timer) { v.url = location.href; return; } // redirects within the settle time: one page
  finishView(v);
  const next = openView(v.url);
  // The app sets the new title after it pushes the URL; give it a moment.
  next.timer = setTimeout(() => {
    next.timer = 0;
    if (view === next) postView(next);
  }, SPA_SETTLE);
}

function watchHistory() {
  ["pushState", "replaceState"].forEach((name) => {
    const original = history[name];
    if (typeof original !== "function") return;
    // Wrapped, not replaced: the page's call does exactly what it did, then we look.
    history[name] = function () {
      const result = original.apply(this, arguments);
      try { onUrlChange(); } catch (e) { console.debug("callbox:", e); }
      return result;
    };
  });
  window.addEventListener("popstate", onUrlChange);
  window.addEventListener("hashchange", onUrlChange);
}

function startTracking() {
  if (!tracking) return;
  watchHistory();
  postView(openView(document.referrer));
}

document.addEventListener("visibilitychange", () => {
  if (!view) return;
  if (document.visibilityState === "visible") resumeView(view);
  else { pauseView(view); sendDwell(view); }
});
// pagehide, not unload: it fires on phones and keeps the page eligible for the back cache.
window.addEventListener("pagehide", () => { if (view) { pauseView(view); sendDwell(view); } });
window.addEventListener("pageshow", (e) => { if (e.persisted && view) resumeView(view); });

/** Tell the box who the host site says this visitor is (a signed identity); once per page. */
function identify() {
  const attr = (name) => (script.getAttribute("data-customer-" + name) || "").trim();
  const id = attr("id");
  const ts = attr("ts");
  const sig = attr("sig");
  if (!id || !ts || !sig) return;
  const body = { site: SITE, customer_id: id, ts: /^\d+$/.test(ts) ? Number(ts) : ts, sig };
  ["name", "email", "phone"].forEach((k) => { if (attr(k)) body[k] = attr(k); });
  // A stale or wrong signature is the host site's bug, not the visitor's: say it quietly.
  api("POST", "/api/visitor/identify", body)
    .catch((err) => console.debug("callbox: identity not accepted:", err.code || err.message));
}
