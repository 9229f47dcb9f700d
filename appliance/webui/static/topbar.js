// The console's top bar on every page: the link of the page shown is marked current
// (the settings menu's summary lights up when one of its pages is shown), and the
// settings menu closes on a click elsewhere or Escape, as menus do.

const bar = document.querySelector("header.topbar");
const menu = bar && bar.querySelector('[data-cb="nav-settings"]');

if (bar) {
  for (const a of bar.querySelectorAll("nav a")) {
    if (new URL(a.href, location.href).pathname === location.pathname) a.setAttribute("aria-current", "page");
  }
}

if (menu) {
  document.addEventListener("click", (e) => {
    if (menu.open && !menu.contains(e.target)) menu.open = false;
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && menu.open) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
}
