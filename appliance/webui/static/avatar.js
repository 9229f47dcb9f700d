// The user's own photo (templates/account.html): visitors see it in the widget's header
// when this user answers their chat. Uploaded as the raw picture; the box reads its
// type from the bytes, crops it square and re-encodes it (core/images.py).
import { api } from "./console-base.js";
import { T, fmt } from "./console-i18n.js";

const UPLOAD_KB = 512; // the box's limit (core/images.py UPLOAD_MAX)
// Refusals the user can act on, in the page's language; others show the server's words.
const AVATAR_REFUSED = {
  image_too_large: "brandTooLarge",
  image_type: "brandNotImage",
  image_invalid: "brandBadImage",
};

(() => {
  const root = document.querySelector('[data-cb="avatar"]');
  if (!root) return;
  const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
  const problem = (err) =>
    AVATAR_REFUSED[err.code] ? fmt(AVATAR_REFUSED[err.code], { kb: UPLOAD_KB }) : err.message;

  function show(r) {
    const img = $("avatar-img");
    img.hidden = !r.url;
    if (r.url) img.src = r.url;
    else img.removeAttribute("src");
    $("avatar-remove").hidden = !r.url;
  }

  function fail(err) {
    $("avatar-error").textContent = err ? fmt("brandFailed", { message: problem(err) }) : "";
    $("avatar-error").hidden = !err;
  }

  async function run(call, done) {
    fail(null);
    $("avatar-result").textContent = "";
    try {
      show(await call());
      $("avatar-result").textContent = done;
    } catch (err) {
      fail(err);
    }
  }

  $("avatar-file").addEventListener("change", async () => {
    const file = $("avatar-file").files[0];
    if (!file) return;
    await run(
      () => api("PUT", "/api/console/account/avatar", file, file.type || "application/octet-stream"),
      T.avatarSaved,
    );
    $("avatar-file").value = "";
  });
  $("avatar-remove").addEventListener("click", () =>
    run(() => api("DELETE", "/api/console/account/avatar"), T.avatarRemoved));
  api("GET", "/api/console/account/avatar").then(show, fail);
})();
