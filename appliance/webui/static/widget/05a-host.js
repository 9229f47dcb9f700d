// ---- host: where the widget is drawn, out of the host page's reach -------------------
// A filter, transform or zoom on the page's <body> (the grey mourning style many Chinese
// sites apply) makes the body the containing block of its position:fixed descendants:
// the launcher would sit at the bottom of the body, off screen on a long page. So the
// widget hangs off <html>, not <body>, and where the Popover API exists it is shown in
// the top layer, which no ancestor's filter, transform or stacking reaches. A page that
// shows its own dialog or popover later still gets it above the widget.
// The stylesheet is constructed (CSSOM): a <style> element is inline style to a
// Content-Security-Policy, which sites without 'unsafe-inline' refuse (docs/widget-guide.md).
try {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  shadow.adoptedStyleSheets = [sheet];
} catch (e) { shadow.appendChild(h("style", {}, [CSS])); } // no constructable sheets (Safari < 16.4)

function mount() {
  document.documentElement.appendChild(host);
  if (!host.showPopover) return;
  host.setAttribute("popover", "manual"); // never dismissed by a click elsewhere or Escape
  try { host.showPopover(); } catch (e) { /* stays a plain element under <html> */ }
}
