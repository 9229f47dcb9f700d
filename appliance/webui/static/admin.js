// Callbox admin page: import the IP table, change privacy settings, show and rotate the
// sites' secrets. The JSON API through console-base.js; labels come from data-l-* attributes.
import { api } from "./console-base.js";

(() => {
  const root = document.querySelector('[data-cb="admin-insight"]');
  if (!root) return;
  const L = root.dataset;
  const $ = (name, scope = root) => scope.querySelector(`[data-cb="${name}"]`);
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));

  // The box sends its own local time with an offset; show its wall-clock part as is.
  function when(iso) {
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso || "");
    return m ? `${m[1]} ${m[2]}` : L.lNever;
  }

  function show(errorEl, resultEl, err, text) {
    errorEl.textContent = err ? fill(L.lFailed, { message: err.message || err }) : "";
    errorEl.hidden = !err;
    if (resultEl) resultEl.textContent = err ? "" : text || "";
  }

  // --- IP table -------------------------------------------------------------------
  const ipForm = $("ip-form");
  ipForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("ip-file").files[0];
    const result = $("ip-result");
    if (!file) {
      show($("ip-error"), result, null, L.lChooseFile);
      return;
    }
    const fmt = $("ip-format-choice").value;
    $("ip-submit").disabled = true;
    show($("ip-error"), result, null, L.lImporting);
    try {
      // The file goes as the raw body: the browser streams it from disk.
      const table = await api(
        "POST", `/api/admin/ip-table?format=${encodeURIComponent(fmt)}`, file,
        "application/octet-stream",
      );
      $("ip-ranges").textContent = String(table.ranges);
      $("ip-format").textContent = table.format || "—";
      $("ip-imported").textContent = when(table.imported_at);
      show($("ip-error"), result, null, fill(L.lImportedOk, { n: table.ranges }));
      ipForm.reset();
    } catch (err) {
      show($("ip-error"), result, err);
    } finally {
      $("ip-submit").disabled = false;
    }
  });

  // --- privacy --------------------------------------------------------------------
  $("privacy-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      honour_dnt: $("honour-dnt").checked,
      sneak_peek: $("sneak-peek").checked,
      portal_organisation: $("portal-organisation").checked,
      page_view_days: Number($("page-view-days").value),
      decline_quiet_days: Number($("decline-quiet-days").value),
    };
    try {
      const saved = await api("PUT", "/api/admin/privacy", body);
      $("honour-dnt").checked = saved.honour_dnt;
      $("sneak-peek").checked = saved.sneak_peek;
      $("portal-organisation").checked = saved.portal_organisation;
      $("page-view-days").value = String(saved.page_view_days);
      $("decline-quiet-days").value = String(saved.decline_quiet_days);
      show($("privacy-error"), $("privacy-result"), null, L.lSaved);
    } catch (err) {
      show($("privacy-error"), $("privacy-result"), err);
    }
  });

  // --- sites ----------------------------------------------------------------------
  const list = $("site-list");
  const secrets = new Map(); // key -> secret, once fetched
  const MASK = "••••••••••••••••";

  async function fetchSecrets() {
    const data = await api("GET", "/api/admin/sites");
    for (const site of data.sites) secrets.set(site.key, site.secret);
  }

  function siteRow(site) {
    const tr = document.createElement("tr");
    tr.dataset.site = site.key;
    const cell = (child) => {
      const td = document.createElement("td");
      if (typeof child === "string") td.textContent = child; else td.append(child);
      tr.append(td);
      return td;
    };
    cell(site.key);
    cell(site.name);
    const secret = document.createElement("code");
    secret.className = "secret";
    secret.dataset.cb = "secret";
    secret.textContent = MASK;
    const reveal = document.createElement("button");
    Object.assign(reveal, { type: "button", className: "secondary", textContent: L.lReveal });
    reveal.dataset.cb = "reveal";
    const rotate = document.createElement("button");
    Object.assign(rotate, { type: "button", className: "danger", textContent: L.lRotate });
    rotate.dataset.cb = "rotate";
    const td = cell(secret);
    td.className = "secret-cell";
    td.append(reveal, rotate);
    const embed = document.createElement("code");
    embed.className = "embed";
    embed.dataset.cb = "embed";
    embed.textContent = `<script src="${L.widgetUrl}" async data-site="${site.key}"></script>`;
    cell(embed);
    return tr;
  }

  function setShown(tr, shown) {
    const key = tr.dataset.site;
    $("secret", tr).textContent = shown ? secrets.get(key) || "" : MASK;
    $("reveal", tr).textContent = shown ? L.lHide : L.lReveal;
    tr.dataset.shown = shown ? "1" : "";
  }

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    const tr = button && button.closest("tr[data-site]");
    if (!tr) return;
    const key = tr.dataset.site;
    try {
      if (button.dataset.cb === "reveal") {
        if (tr.dataset.shown) {
          setShown(tr, false);
          return;
        }
        if (!secrets.has(key)) await fetchSecrets();
        setShown(tr, true);
        show($("sites-error"), $("sites-result"), null, "");
      } else if (button.dataset.cb === "rotate") {
        if (!window.confirm(fill(L.lRotateConfirm, { key }))) return;
        const data = await api("POST", `/api/admin/sites/${encodeURIComponent(key)}/secret`);
        secrets.set(key, data.site.secret);
        setShown(tr, true);
        show($("sites-error"), $("sites-result"), null, `${L.lRotated}: ${key}`);
      }
    } catch (err) {
      show($("sites-error"), $("sites-result"), err);
    }
  });

  $("site-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const data = await api("POST", "/api/admin/sites", {
        key: $("site-key").value.trim(),
        name: $("site-name").value.trim(),
      });
      secrets.set(data.site.key, data.site.secret);
      const tr = siteRow(data.site);
      list.append(tr);
      setShown(tr, true);
      $("site-form").reset();
      show($("sites-error"), $("sites-result"), null, `${L.lSiteAdded}: ${data.site.key}`);
    } catch (err) {
      show($("sites-error"), $("sites-result"), err);
    }
  });
})();
