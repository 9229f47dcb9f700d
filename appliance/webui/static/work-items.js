// Callbox work items: messages and call-back requests visitors left when no one could
// take their chat. Polls the list; "done" closes one. Text from visitors goes in as text.
import { api } from "./console-base.js";

(() => {
  const root = document.querySelector('[data-cb="work-items"]');
  if (!root) return;
  const POLL = Number(root.dataset.pollMs) || 5000; // ms between refreshes
  const L = root.dataset; // translated strings rendered by the server (data-l-*)
  const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
  const ui = {
    list: $("work-list"),
    empty: $("work-empty"),
    count: $("work-count"),
    error: $("work-error"),
    showClosed: $("show-closed"),
    tpl: $("work-tpl"),
  };
  let groups = new Map(); // id -> name
  let timer = 0;
  let seq = 0; // the latest refresh; an older one finishing late neither draws nor re-arms
  let shown = ""; // what the list shows, so an unchanged poll keeps a user's text selection

  // The box sends its own local time with an offset; show its wall-clock part as is.
  function when(iso) {
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso || "");
    return m ? `${m[1]} ${m[2]}` : "";
  }

  function showError(err) {
    ui.error.textContent = err ? `${L.lStale} (${err.message || err})` : "";
    ui.error.hidden = !err;
  }

  function row(item) {
    const tr = ui.tpl.content.firstElementChild.cloneNode(true);
    const f = (name) => tr.querySelector(`[data-f="${name}"]`);
    tr.dataset.itemId = item.id;
    tr.classList.toggle("closed", item.status === "closed");
    f("kind").textContent = item.kind === "callback" ? L.lCallback : L.lMessage;
    f("kind").classList.add(item.kind);
    f("name").textContent = item.name || "—";
    f("contact").textContent = item.contact || "—";
    f("preferred").textContent = item.preferred_time || "—";
    f("body").textContent = item.body || "";
    f("created").textContent = when(item.created_at);
    f("group").textContent = item.group_id == null ? "—" : groups.get(item.group_id) || `#${item.group_id}`;
    const button = f("close");
    if (item.status === "closed") {
      button.remove();
      f("closed").textContent = fill(L.lClosedAt, { time: when(item.closed_at) });
    } else {
      button.addEventListener("click", () => close(item.id, button));
    }
    return tr;
  }

  async function close(id, button) {
    button.disabled = true;
    try {
      await api("POST", `/api/console/work-items/${encodeURIComponent(id)}/close`);
    } catch (err) {
      // 409: a colleague closed it first; the refresh below shows that.
      if (err.status !== 409) {
        button.disabled = false;
        showError(err);
        return;
      }
    }
    refresh();
  }

  async function refresh() {
    clearTimeout(timer);
    const mine = ++seq;
    try {
      if (groups.size === 0) {
        const team = await api("GET", "/api/console/colleagues");
        groups = new Map(team.groups.map((g) => [g.id, g.name]));
      }
      const open = (await api("GET", "/api/console/work-items?status=open")).items;
      const closed = ui.showClosed.checked
        ? (await api("GET", "/api/console/work-items?status=closed")).items
        : [];
      if (mine !== seq) return;
      const now = JSON.stringify([open, closed, [...groups]]);
      if (now !== shown) {
        shown = now;
        ui.list.replaceChildren(...open.map(row), ...closed.map(row));
      }
      ui.count.textContent = open.length ? String(open.length) : "";
      ui.empty.hidden = open.length + closed.length > 0;
      showError(null);
    } catch (err) {
      if (mine !== seq) return;
      showError(err);
    }
    timer = setTimeout(refresh, POLL);
  }

  ui.showClosed.addEventListener("change", refresh);
  refresh();
})();
