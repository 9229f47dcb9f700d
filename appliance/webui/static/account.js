// The user's own settings (templates/account.html): switch two-factor login on (scan,
// confirm with a code, keep the recovery codes shown this once), get new recovery
// codes, switch it off, change the password. Through /api/console/account.
import { api } from "./console-base.js";
import { T, fmt } from "./console-i18n.js";

// Refusals the user can act on, in the page's language; others show the server's words.
const REFUSED = {
  wrong_code: "tfWrongCode",
  wrong_password: "tfWrongPassword",
  two_factor_required: "tfRequired",
  not_enrolling: "tfNotEnrolling",
  rate_limited: "usrRateLimited",
};

(() => {
  const root = document.querySelector('[data-cb="two-factor"]');
  if (!root) return;
  const $ = (name) => document.querySelector(`[data-cb="${name}"]`);
  const problem = (err) => (REFUSED[err.code] ? T[REFUSED[err.code]] : err.message);

  function fail(where, err) {
    $(where).textContent = err ? fmt("usrFailed", { message: problem(err) }) : "";
    $(where).hidden = !err;
  }

  function showCodes(codes) {
    const list = $("recovery-codes");
    list.replaceChildren(
      ...codes.map((code) => {
        const li = document.createElement("li");
        const c = document.createElement("code");
        c.textContent = code;
        li.append(c);
        return li;
      }),
    );
    $("tf-codes-box").hidden = false;
    $("tf-enrol").hidden = true;
    $("tf-manage").hidden = true;
    $("tf-actions").hidden = true;
  }

  function showStatus(status) {
    let text = status.on ? fmt("tfStateOn", { n: status.recovery_codes_left }) : T.tfStateOff;
    if (status.required) text += ` ${T.tfStateRequired}`;
    $("tf-state").textContent = text;
    $("tf-actions").hidden = false;
    $("tf-start").hidden = status.on;
    $("tf-new-phone").hidden = !status.on;
    $("tf-manage").hidden = !status.on;
    $("tf-off").hidden = status.required;
    $("tf-enrol").hidden = true;
  }

  async function load() {
    try {
      showStatus(await api("GET", "/api/console/account/two-factor"));
      fail("tf-error", null);
    } catch (err) {
      fail("tf-error", err);
    }
  }

  async function start() {
    try {
      const enrolment = await api("POST", "/api/console/account/two-factor/setup");
      $("tf-qr").src = enrolment.qr; // a data: URL the server made; an image, never markup
      $("tf-secret").textContent = enrolment.secret.replace(/(.{4})(?=.)/g, "$1 ");
      $("tf-enrol").hidden = false;
      $("tf-actions").hidden = true;
      $("tf-manage").hidden = true;
      $("tf-confirm-code").value = "";
      $("tf-confirm-code").focus();
      fail("tf-error", null);
    } catch (err) {
      fail("tf-error", err);
    }
  }

  $("tf-start").addEventListener("click", start);
  $("tf-new-phone").addEventListener("click", start);
  $("tf-cancel").addEventListener("click", load);

  $("tf-enrol").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const data = await api("POST", "/api/console/account/two-factor/confirm", {
        code: $("tf-confirm-code").value.trim(),
      });
      fail("tf-error", null);
      showCodes(data.recovery_codes);
    } catch (err) {
      fail("tf-error", err);
    }
  });

  $("tf-codes-saved").addEventListener("click", () => {
    $("recovery-codes").replaceChildren(); // shown once: not left in the page
    $("tf-codes-box").hidden = true;
    load();
  });

  $("tf-manage").addEventListener("submit", async (event) => {
    event.preventDefault();
    const which = event.submitter ? event.submitter.value : "codes";
    const code = $("tf-manage-code").value.trim();
    try {
      if (which === "off") {
        if (!window.confirm(T.tfConfirmOff)) return;
        showStatus(await api("POST", "/api/console/account/two-factor/off", { code }));
      } else {
        const data = await api("POST", "/api/console/account/two-factor/recovery-codes", { code });
        showCodes(data.recovery_codes);
      }
      $("tf-manage-code").value = "";
      fail("tf-error", null);
    } catch (err) {
      fail("tf-error", err);
    }
  });

  $("password-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("password-result").textContent = "";
    if ($("password-new").value !== $("password-new2").value) {
      fail("password-error", { code: "", message: T.tfPasswordsDiffer });
      return;
    }
    try {
      await api("PUT", "/api/console/account/password", {
        current: $("current-password").value,
        new: $("password-new").value,
      });
      $("password-form").reset();
      fail("password-error", null);
      $("password-result").textContent = T.tfPasswordChanged;
    } catch (err) {
      fail("password-error", err);
    }
  });

  load();
})();
