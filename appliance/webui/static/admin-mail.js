// E-mail on the admin page: the SMTP server, mailboxes with their connection tests,
// the templates, and recent mail in and out. The JSON API through console-base.js;
// labels come from data-l-* attributes of the section; every value is set as text.
import { api } from "./console-base.js";

const BASE = "/api/admin/mail";

(() => {
  const root = document.querySelector('[data-cb="mail"]');
  if (!root) return;
  const L = root.dataset;
  const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
  let state = null;

  function say(name, text) {
    $(name).textContent = text;
  }
  const failed = (name) => (err) => say(name, fill(L.lError, { message: `${err.code}: ${err.message}` }));
  const tested = (name) => (check) =>
    say(name, fill(check.ok ? L.lTestOk : L.lTestBad, { code: check.code, detail: check.detail }));

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    row.append(td);
    return td;
  }

  function rows(name, items, make) {
    const body = $(name);
    body.replaceChildren();
    if (!items.length) {
      const tr = document.createElement("tr");
      cell(tr, name === "ml-boxes" ? L.lNoMailboxes : L.lNone).colSpan = 6;
      body.append(tr);
    }
    for (const item of items) {
      const tr = document.createElement("tr");
      make(tr, item);
      body.append(tr);
    }
  }

  function button(text, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  function showTemplate() {
    const form = $("ml-template");
    const found = state.templates.find((t) => t.kind === form.kind.value && t.lang === form.lang.value);
    form.subject.value = found ? found.subject : "";
    form.body.value = found ? found.body : "";
  }

  function render(next) {
    state = next;
    const smtp = $("ml-smtp");
    for (const name of ["host", "port", "security", "user", "from_address", "from_name"]) {
      smtp[name].value = state.smtp[name];
    }
    smtp.password.value = "";
    smtp.password.placeholder = state.smtp.password_set ? L.lPasswordKept : "";
    for (const box of smtp.querySelectorAll('input[name="notify"]')) {
      box.checked = state.smtp.notify.includes(box.value);
    }
    rows("ml-boxes", state.mailboxes, (tr, box) => {
      cell(tr, box.name);
      cell(tr, box.address);
      cell(tr, `${box.host}:${box.port}`);
      cell(tr, box.status || "…");
      cell(tr, box.enabled ? "✓" : "—");
      const actions = cell(tr, "");
      actions.append(
        button(L.lTest, () => {
          say("ml-box-result", L.lTesting);
          api("POST", `${BASE}/mailboxes/${box.id}/test`).then(tested("ml-box-result"), failed("ml-box-result"));
        }),
        button(box.enabled ? L.lDisable : L.lEnable, () => {
          api("PATCH", `${BASE}/mailboxes/${box.id}`, { enabled: !box.enabled }).then(load, failed("ml-box-result"));
        }),
      );
    });
    rows("ml-outbox", state.outbox, (tr, mail) => {
      cell(tr, mail.recipient);
      cell(tr, mail.kind);
      cell(tr, mail.last_error ? `${mail.state} · ${mail.last_error}` : mail.state);
      cell(tr, mail.attempts);
      cell(tr, mail.ticket_id ?? "");
    });
    rows("ml-inbox", state.messages, (tr, mail) => {
      cell(tr, mail.sender);
      cell(tr, mail.subject);
      cell(tr, [mail.outcome, mail.reason, mail.threaded_by].filter(Boolean).join(" · "));
      cell(tr, mail.ticket_id ?? "");
    });
    showTemplate();
  }

  function load() {
    return api("GET", BASE).then(render, failed("ml-smtp-result"));
  }

  $("ml-smtp").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const body = {
      host: form.host.value.trim(),
      port: Number(form.port.value),
      security: form.security.value,
      user: form.user.value.trim(),
      from_address: form.from_address.value.trim(),
      from_name: form.from_name.value.trim(),
      notify: [...form.querySelectorAll('input[name="notify"]:checked')].map((b) => b.value),
    };
    if (form.password.value) body.password = form.password.value;
    api("PUT", `${BASE}/smtp`, body).then((next) => {
      render(next);
      say("ml-smtp-result", L.lSaved);
    }, failed("ml-smtp-result"));
  });

  $("ml-smtp-test").addEventListener("click", () => {
    say("ml-smtp-result", L.lTesting);
    api("POST", `${BASE}/smtp/test`).then(tested("ml-smtp-result"), failed("ml-smtp-result"));
  });

  $("ml-add").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const body = {
      name: form.name.value.trim(),
      address: form.address.value.trim(),
      host: form.host.value.trim(),
      port: Number(form.port.value),
      security: form.security.value,
      username: form.username.value.trim(),
      password: form.password.value,
      folder: form.folder.value.trim() || "INBOX",
      lang: form.lang.value,
    };
    api("POST", `${BASE}/mailboxes`, body).then(() => {
      form.reset();
      say("ml-add-result", L.lSaved);
      return load();
    }, failed("ml-add-result"));
  });

  const template = $("ml-template");
  template.kind.addEventListener("change", showTemplate);
  template.lang.addEventListener("change", showTemplate);
  function saveTemplate(reset) {
    const body = { kind: template.kind.value, lang: template.lang.value, reset };
    if (!reset) Object.assign(body, { subject: template.subject.value, body: template.body.value });
    api("PUT", `${BASE}/templates`, body).then((next) => {
      render(next);
      say("ml-template-result", L.lSaved);
    }, failed("ml-template-result"));
  }
  template.addEventListener("submit", (event) => {
    event.preventDefault();
    saveTemplate(false);
  });
  $("ml-template-reset").addEventListener("click", () => saveTemplate(true));

  load();
})();
