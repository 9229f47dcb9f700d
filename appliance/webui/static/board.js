// Callbox wallboard: queues and agents from GET /api/console/board, refreshed every
// few seconds. Framework-free (STYLE.md #12); names typed by users go in as text.
"use strict";

(() => {
  const root = document.querySelector('[data-cb="board"]');
  if (!root) return;
  const POLL = Number(root.dataset.pollMs) || 2000; // ms between refreshes
  const FETCH_TIMEOUT = 8000; // ms before a refresh counts as failed
  const SLOW_WAIT = 1.0; // fraction of the target after which a wait shows as late
  const GOOD_LEVEL = 0.8; // service level at or above which it shows as good

  const L = root.dataset; // translated strings rendered by the server (data-l-*)
  const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
  const ui = {
    queues: $("queues"),
    queuesEmpty: $("queues-empty"),
    agents: $("agents"),
    updated: $("board-updated"),
    error: $("board-error"),
    queueTpl: $("queue-tpl"),
    agentTpl: $("agent-tpl"),
  };

  function clone(tpl) {
    return tpl.content.firstElementChild.cloneNode(true);
  }

  function field(node, name) {
    return node.querySelector(`[data-f="${name}"]`);
  }

  function mmss(seconds) {
    const s = Math.max(0, Math.floor(seconds || 0));
    return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  }

  function hhmmss(date) {
    return [date.getHours(), date.getMinutes(), date.getSeconds()]
      .map((n) => String(n).padStart(2, "0"))
      .join(":");
  }

  // One card per queue, kept by id so a refresh changes numbers without flicker.
  const cards = new Map();

  function renderQueues(queues) {
    const seen = new Set();
    for (const q of queues) {
      seen.add(q.id);
      let card = cards.get(q.id);
      if (!card) {
        card = clone(ui.queueTpl);
        cards.set(q.id, card);
      }
      ui.queues.append(card); // keeps the server's order (by name)
      field(card, "name").textContent = q.name;
      field(card, "waiting").textContent = String(q.waiting);
      field(card, "transfers").textContent = String(q.transfers);
      const longest = field(card, "longest");
      longest.textContent = mmss(q.longest_wait);
      longest.classList.toggle("late", q.waiting > 0 && q.longest_wait > q.target_wait * SLOW_WAIT);
      const level = field(card, "level");
      if (q.service_level == null) {
        level.textContent = "—";
        level.classList.remove("good", "late");
      } else {
        level.textContent = `${Math.round(q.service_level * 100)}%`;
        level.classList.toggle("good", q.service_level >= GOOD_LEVEL);
        level.classList.toggle("late", q.service_level < GOOD_LEVEL);
      }
      field(card, "target").textContent = fill(L.lTarget, { seconds: q.target_wait });
      field(card, "offered").textContent = fill(L.lOffered, { n: q.offered });
      card.classList.toggle("busy", q.waiting > 0);
    }
    for (const [id, card] of cards) {
      if (!seen.has(id)) {
        card.remove();
        cards.delete(id);
      }
    }
    ui.queuesEmpty.hidden = queues.length > 0;
  }

  function renderAgents(agents, queues) {
    const names = new Map(queues.map((q) => [q.id, q.name]));
    const rows = agents.map((a) => {
      const tr = clone(ui.agentTpl);
      tr.dataset.status = a.status;
      field(tr, "name").textContent = a.display_name;
      field(tr, "dot").className = `dot ${a.status}`;
      field(tr, "status").textContent = L[`l${a.status[0].toUpperCase()}${a.status.slice(1)}`] || a.status;
      field(tr, "load").textContent = `${a.load} / ${a.max_chats}`;
      field(tr, "load").classList.toggle("full", a.status === "online" && a.load >= a.max_chats);
      field(tr, "missed").textContent = String(a.missed_today);
      field(tr, "missed").classList.toggle("late", a.missed_today > 0);
      field(tr, "groups").textContent = a.groups.map((id) => names.get(id) || `#${id}`).join(L.lSep);
      return tr;
    });
    ui.agents.replaceChildren(...rows);
  }

  async function refresh() {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT);
    try {
      const res = await fetch("/api/console/board", {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: ctl.signal,
      });
      if (res.status === 401) {
        location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
        return false;
      }
      const data = await res.json();
      if (res.status === 403) {
        ui.error.textContent = data.error.message;
        ui.error.hidden = false;
        return false;
      }
      if (!res.ok) throw new Error((data.error && data.error.message) || String(res.status));
      renderQueues(data.queues);
      renderAgents(data.agents, data.queues);
      ui.updated.textContent = fill(L.lUpdated, { time: hhmmss(new Date()) });
      ui.error.hidden = true;
      root.classList.remove("stale");
      return true;
    } catch (err) {
      ui.error.textContent = `${L.lStale} (${err && err.message ? err.message : err})`;
      ui.error.hidden = false;
      root.classList.add("stale");
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  // The next refresh is planned after the last one ends, so a slow box is not piled on.
  async function loop() {
    if (await refresh()) setTimeout(loop, POLL);
  }
  loop();
})();
