// The user's SLA notices by mail (templates/account.html, card "mail-notices"): an
// address and which notices go there, through /api/console/account/mail-notices.
import { api } from "./console-base.js";
import { T, fmt } from "./console-i18n.js";

(() => {
  const form = document.querySelector('[data-cb="mn-form"]');
  if (!form) return;
  const $ = (name) => form.querySelector(`[data-cb="${name}"]`);

  function show(prefs) {
    $("mn-address").value = prefs.address;
    $("mn-breach").checked = prefs.sla_breach;
    $("mn-warning").checked = prefs.sla_warning;
  }

  function fail(err) {
    $("mn-error").textContent = err ? fmt("usrFailed", { message: err.message }) : "";
    $("mn-error").hidden = !err;
  }

  api("GET", "/api/console/account/mail-notices").then(show, fail);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    $("mn-result").textContent = "";
    try {
      show(await api("PUT", "/api/console/account/mail-notices", {
        address: $("mn-address").value.trim(),
        sla_warning: $("mn-warning").checked,
        sla_breach: $("mn-breach").checked,
      }));
      fail(null);
      $("mn-result").textContent = T.saved;
    } catch (err) {
      fail(err);
    }
  });
})();
