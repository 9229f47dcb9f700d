// Callbox admin page: the audit log card. Lists GET /api/admin/audit newest first with
// the filters, pages on with "older entries", and keeps the CSV link's query in step.
import { api } from "./console-base.js";

(() => {
  const root = document.querySelector('[data-cb="audit"]');
  if (!root) return;
  const L = root.dataset;
  const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
  let next = null; // `next_before` of the last page shown

  function when(iso) {
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(iso || "");
    return m ? `${m[1]} ${m[2]}` : "";
  }

  function filters() {
    const query = new URLSearchParams();
    for (const name of ["action", "user", "since", "until"]) {
      const value = $(`audit-${name}`).value;
      if (value) query.set(name, value);
    }
    return query;
  }

  function detailText(detail) {
    return Object.entries(detail)
      .map(([k, v]) => `${k}: ${typeof v === "object" && v !== null ? JSON.stringify(v) : v}`)
      .join("; ");
  }

  function row(entry) {
    const tr = document.createElement("tr");
    tr.dataset.action = entry.action;
    const user = entry.user_name || (entry.user_id === null ? "—" : `#${entry.user_id}`);
    for (const text of [when(entry.at), user, entry.address, entry.action, entry.target, detailText(entry.detail)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }

  function fail(err) {
    const error = $("audit-error");
    error.textContent = err ? fill(L.lFailed, { message: err.message || err }) : "";
    error.hidden = !err;
  }

  async function load(more) {
    const query = filters();
    if (more && next !== null) query.set("before", String(next));
    try {
      const page = await api("GET", `/api/admin/audit?${query}`);
      const rows = page.entries.map(row);
      if (more) $("audit-list").append(...rows); else $("audit-list").replaceChildren(...rows);
      next = page.next_before;
      $("audit-more").hidden = next === null;
      $("audit-empty").hidden = $("audit-list").children.length > 0;
      fail(null);
    } catch (err) {
      fail(err);
    }
  }

  function syncExport() {
    const query = filters().toString();
    $("audit-export").href = `/api/admin/audit.csv${query ? `?${query}` : ""}`;
  }

  function options(select, values) {
    const chosen = select.value;
    const first = select.options[0];
    select.replaceChildren(first, ...values.map((v) => new Option(v, v)));
    select.value = values.includes(chosen) ? chosen : "";
  }

  async function facets() {
    try {
      const found = await api("GET", "/api/admin/audit/facets");
      // Families first ("user." for every user action), then each code.
      const families = [...new Set(found.actions.map((a) => `${a.split(".")[0]}.`))];
      options($("audit-action"), [...families, ...found.actions]);
      options($("audit-user"), found.users);
    } catch (err) {
      fail(err);
    }
  }

  $("audit-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    syncExport();
    load(false);
  });
  $("audit-filters").addEventListener("change", syncExport);
  $("audit-more").addEventListener("click", () => load(true));

  facets();
  syncExport();
  load(false);
})();
