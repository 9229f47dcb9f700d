/* Callbox visitor widget: the rating form shown when a chat ends. Loaded on first use
 * (13-read.js offerRating) from /api/visitor/assets/rating.js, so the widget every page
 * loads stays small. It runs outside the widget's closure and leaves nothing on window:
 * it hands the widget a function over a "callbox:rating" event, and the widget calls it
 * with its own tools (element builder, strings, API client). Text goes in as text.
 * Its own strings (the catalog's widget keys named later…) are filled in at start and
 * join the widget's catalog here.
 *
 * The visitor picks 1-5 (the scale of the service desk's ticket ratings), may add a
 * comment and may ask for the transcript by e-mail. Until the window of the box closes
 * (24 h after the chat ended) they may change the rating.
 */
(() => {
  "use strict";
  const COMMENT_MAX = 1000; // characters, the box's limit
  const EMAIL_MAX = 254;
  const TEXTS = /*@catalog*/{};

  function part(w) {
    const { h, t, api, field, errLine, say, keepBottom, ensureSession, id } = w;
    Object.keys(TEXTS).forEach((lang) => Object.assign(w.CATALOG[lang] || {}, TEXTS[lang]));
    const stars = [1, 2, 3, 4, 5].map((n) => h("input", { type: "radio", name: "cb-rate",
      value: String(n), "data-cb": "rate-score" }));
    const comment = h("textarea", { rows: "2", maxlength: String(COMMENT_MAX), "data-cb": "rate-comment" });
    const wants = h("input", { type: "checkbox", "data-cb": "rate-transcript" });
    const email = h("input", { type: "email", maxlength: String(EMAIL_MAX), autocomplete: "email",
      "data-cb": "rate-email" });
    const emailField = field(t("laterEmail"), email);
    emailField.hidden = true;
    const err = errLine("rate-error");
    const send = h("button", { type: "submit", class: "primary", "data-cb": "rate-send" }, [t("tkRateSend")]);
    const form = h("form", { novalidate: "" }, [
      h("fieldset", {}, [h("legend", {}, [t("tkRateAsk")]),
        h("div", { class: "stars" }, stars.map((i) => h("label", {}, [i, i.value])))]),
      field(t("tkComment"), comment),
      h("label", { class: "stars" }, [wants, t("laterTranscript")]),
      emailField, err, h("div", { class: "actions" }, [send]),
    ]);
    const thanks = h("p", { "data-cb": "rate-thanks", role: "status", tabindex: "-1" });
    const change = h("button", { type: "button", "data-cb": "rate-change" }, [t("laterChange")]);
    const done = h("div", { hidden: "" }, [thanks, h("div", { class: "actions" }, [change])]);
    // At the end of the transcript, as wide as a message; styled through the CSSOM,
    // which a Content-Security-Policy without inline styles allows.
    const box = h("div", { class: "box", "data-cb": "rating" }, [form, done]);
    box.style.flexShrink = "0";

    const path = (tail) => "/api/visitor/conversations/" + encodeURIComponent(id) + tail;
    const show = (on) => keepBottom(() => { form.hidden = on; done.hidden = !on; });

    wants.addEventListener("change", () => keepBottom(() => { emailField.hidden = !wants.checked; }));
    form.addEventListener("input", () => say(err, ""));
    change.addEventListener("click", () => { show(false); stars[0].focus(); });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const picked = stars.find((i) => i.checked);
      const address = email.value.trim();
      if (!picked && !wants.checked) { say(err, t("tkRatePick")); stars[0].focus(); return; }
      if (wants.checked && !/^[^\s@]+@[^\s@]+$/.test(address)) { say(err, t("laterEmailBad")); email.focus(); return; }
      send.disabled = true;
      say(err, "");
      let chain = ensureSession();
      if (picked) chain = chain.then(() => api("POST", path("/rating"), { score: Number(picked.value), comment: comment.value.trim() }));
      if (wants.checked) chain = chain.then(() => api("POST", path("/transcript"), { email: address }));
      chain.then(() => {
        const lines = picked ? [t("tkThanks"), t("tkRated", { n: picked.value })] : [];
        if (wants.checked) lines.push(t("laterAsked", { email: address }));
        thanks.textContent = lines.join("\n");
        thanks.style.whiteSpace = "pre-line";
        change.hidden = !picked;
        show(true);
        thanks.focus();
      }, (x) => {
        say(err, t(x.code === "rate_limited" ? "rateLimited" : x.code === "rating_closed" ? "laterClosed" : "wiErrFailed"));
      }).finally(() => { send.disabled = false; });
    });
    return box;
  }

  document.dispatchEvent(new CustomEvent("callbox:rating", { detail: part }));
})();
