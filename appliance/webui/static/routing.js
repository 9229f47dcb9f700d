// Callbox routing settings: groups and their hours, agents' scope, pre-chat topics,
// routing rules and priority points, edited through the console JSON API. Each part
// saves on its own and shows the server's message next to itself when refused.
// Framework-free (STYLE.md #12); names typed by users go in as text, never as HTML.
import { api } from "./console-base.js";

(() => {
  const root = document.querySelector('[data-cb="routing"]');
  if (!root) return;
  const SAVED_FOR = 3000; // ms the "saved" note stays up
  const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  // One span of opening hours as people type it: 9:00-18:00, 09:00 – 18:00, 09:00~18:00.
  const SPAN = /^(\d{1,2}:\d{2})\s*[-–—~～至到]\s*(\d{1,2}:\d{2})$/;

  const L = root.dataset; // translated strings rendered by the server (data-l-*)
  const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
  const state = { groups: [], agents: [], topics: [], routes: [], priority: null };

  // ---- Small helpers -------------------------------------------------------
  function clone(name) {
    return $(name).content.firstElementChild.cloneNode(true);
  }

  const field = (node, name) => node.querySelector(`[data-f="${name}"]`);

  // A whole number when it looks like one; otherwise the text, so the server says what is wrong.
  function whole(text) {
    const s = String(text).trim();
    return /^-?\d+$/.test(s) ? Number(s) : s;
  }

  function number(text) {
    const s = String(text).trim();
    if (s === "") return null;
    const n = Number(s);
    return Number.isFinite(n) ? n : s;
  }

  const names = (text) => text.split(/[,，、;；]/).map((s) => s.trim()).filter(Boolean);

  function showError(box, err) {
    box.textContent = err ? fill(L.lError, { message: err.message || String(err) }) : "";
    box.hidden = !err;
  }

  function showSaved(note) {
    note.hidden = false;
    clearTimeout(note.timer);
    note.timer = setTimeout(() => { note.hidden = true; }, SAVED_FOR);
  }

  // Run one save: clear the old error, disable the button, show the outcome in place.
  async function saving(button, errorBox, okNote, work) {
    showError(errorBox, null);
    okNote.hidden = true;
    button.disabled = true;
    try {
      await work();
      showSaved(okNote);
    } catch (err) {
      if (!err.quiet) showError(errorBox, err);
    } finally {
      button.disabled = false;
    }
  }

  function groupOptions(select, value, none) {
    const options = none == null ? [] : [new Option(none, "")];
    for (const g of state.groups) options.push(new Option(g.name, String(g.id)));
    select.replaceChildren(...options);
    select.value = value == null ? "" : String(value);
    if (select.selectedIndex < 0 && select.options.length) select.selectedIndex = 0;
  }

  function checkbox(value, label, checked) {
    const wrap = document.createElement("label");
    wrap.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = String(value);
    box.checked = checked;
    wrap.append(box, ` ${label}`);
    return wrap;
  }

  const checkedIds = (container) =>
    Array.from(container.querySelectorAll("input[type=checkbox]:checked"), (b) => Number(b.value));

  const agentName = (a) => (a.display_name === a.username ? a.username : `${a.display_name} (${a.username})`);

  // ---- Groups --------------------------------------------------------------
  const form = $("group-form");
  const f = form.elements;
  const groupError = $("group-error");
  let editing = null; // id of the group in the form; 0 for a new one, null when closed

  function optionText(select, value) {
    const option = Array.from(select.options).find((o) => o.value === value);
    return option ? option.textContent : value;
  }

  function dayLabel(day) {
    return form.querySelector(`[data-day="${day}"]`).textContent;
  }

  function hoursText(g) {
    const parts = [];
    if (g.hours == null) parts.push(L.lAlwaysOpen);
    else {
      for (const day of DAYS) {
        const spans = g.hours[day] || [];
        if (spans.length) parts.push(`${dayLabel(day)} ${spans.map((s) => s.join("–")).join(", ")}`);
      }
    }
    if (g.holidays.length) parts.push(fill(L.lHolidays, { n: g.holidays.length }));
    return parts.join(" · ");
  }

  function renderGroups() {
    const byId = new Map(state.agents.map((a) => [a.id, a.display_name]));
    const rows = state.groups.map((g) => {
      const tr = document.createElement("tr");
      tr.dataset.groupId = g.id;
      const name = document.createElement("td");
      name.append(document.createElement("strong"));
      name.firstChild.textContent = g.name;
      if (g.is_default) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = L.lDefault;
        name.append(" ", badge);
      }
      const cells = [
        optionText(f.strategy, g.strategy),
        `${g.target_wait} s`,
        hoursText(g),
        g.members.map((id) => byId.get(id) || `#${id}`).join(L.lSep),
      ].map((text) => {
        const td = document.createElement("td");
        td.textContent = text;
        return td;
      });
      const edit = document.createElement("button");
      edit.type = "button";
      edit.className = "secondary";
      edit.textContent = L.lEdit;
      edit.addEventListener("click", () => openGroup(g));
      const last = document.createElement("td");
      last.append(edit);
      tr.append(name, ...cells, last);
      return tr;
    });
    $("groups-list").replaceChildren(...rows);
  }

  // Typed spans stay in their fields while hidden, so unticking brings them back.
  function setAlwaysOpen(on) {
    $("group-days").hidden = on;
  }

  function openGroup(g) {
    editing = g ? g.id : 0;
    form.reset();
    showError(groupError, null);
    $("group-ok").hidden = true;
    $("group-form-title").textContent = g ? g.name : L.lNewGroup;
    const fallbackNone = f.fallback_group_id.dataset.none;
    groupOptions(f.fallback_group_id, g ? g.fallback_group_id : null, fallbackNone);
    if (g) {
      // A group cannot fall back to itself.
      const own = f.fallback_group_id.querySelector(`option[value="${g.id}"]`);
      if (own) own.remove();
      f.name.value = g.name;
      f.strategy.value = g.strategy;
      for (const key of ["target_wait", "answer_timeout", "max_wait", "fallback_after"]) {
        f[key].value = String(g[key]);
      }
      f.sticky.checked = g.sticky;
      f.always_open.checked = g.hours == null;
      for (const day of DAYS) {
        const spans = (g.hours && g.hours[day]) || [];
        f[`day-${day}`].value = spans.map((s) => s.join("-")).join(", ");
      }
      f.holidays.value = g.holidays.join("\n");
    }
    setAlwaysOpen(f.always_open.checked);
    const members = new Set(g ? g.members : []);
    $("group-members").replaceChildren(
      ...state.agents.map((a) => checkbox(a.id, agentName(a), members.has(a.id))),
    );
    $("group-delete").hidden = !g || g.is_default;
    form.hidden = false;
    form.scrollIntoView({ block: "nearest" });
    f.name.focus();
  }

  function closeGroup() {
    editing = null;
    form.hidden = true;
  }

  function readHours() {
    if (f.always_open.checked) return null;
    const hours = {};
    for (const day of DAYS) {
      hours[day] = names(f[`day-${day}`].value).map((text) => {
        const m = SPAN.exec(text);
        if (!m) throw new Error(fill(L.lBadSpan, { text: `${dayLabel(day)} ${text}` }));
        return [m[1], m[2]].map((t) => t.padStart(5, "0"));
      });
    }
    return hours;
  }

  function groupBody() {
    return {
      name: f.name.value,
      strategy: f.strategy.value,
      target_wait: whole(f.target_wait.value),
      answer_timeout: whole(f.answer_timeout.value),
      max_wait: whole(f.max_wait.value),
      fallback_group_id: f.fallback_group_id.value ? Number(f.fallback_group_id.value) : null,
      fallback_after: whole(f.fallback_after.value),
      sticky: f.sticky.checked,
      hours: readHours(),
      holidays: f.holidays.value.split(/[\s,，;；]+/).filter(Boolean),
    };
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    saving($("group-save"), groupError, $("group-ok"), async () => {
      const body = groupBody();
      const members = checkedIds($("group-members"));
      const group = editing
        ? (await api("PATCH", `/api/console/groups/${editing}`, body)).group
        : (await api("POST", "/api/console/groups", body)).group;
      editing = group.id; // a retry after a refused member list must not create it twice
      $("group-form-title").textContent = group.name;
      await api("PUT", `/api/console/groups/${group.id}/members`, { members });
      await loadTeam();
      $("group-delete").hidden = group.is_default;
    });
  });

  f.always_open.addEventListener("change", () => setAlwaysOpen(f.always_open.checked));
  $("group-new").addEventListener("click", () => openGroup(null));
  $("group-cancel").addEventListener("click", closeGroup);
  $("group-delete").addEventListener("click", async () => {
    const group = state.groups.find((g) => g.id === editing);
    if (!group || !window.confirm(fill(L.lConfirmDelete, { name: group.name }))) return;
    showError(groupError, null);
    try {
      await api("DELETE", `/api/console/groups/${group.id}`);
      closeGroup();
      await loadTeam();
      await loadLists(); // topics and rules of a deleted group went with it
    } catch (err) {
      showError(groupError, err);
    }
  });

  // ---- Agents' scope ------------------------------------------------------
  function agentRow(a) {
    const tr = clone("agent-tpl");
    tr.dataset.userId = a.id;
    field(tr, "name").textContent = a.display_name;
    field(tr, "who").textContent = `${a.username} · ${a.role}`;
    tr.querySelector("[name=skills]").value = a.skills.join(", ");
    tr.querySelector("[name=regions]").value = a.regions.join(", ");
    tr.querySelector("[name=tier]").value = a.tier;
    tr.querySelector("[name=max_chats]").value = String(a.max_chats);
    const mine = new Set(a.groups);
    field(tr, "groups").replaceChildren(...state.groups.map((g) => checkbox(g.id, g.name, mine.has(g.id))));
    const button = field(tr, "save");
    button.addEventListener("click", () =>
      saving(button, field(tr, "error"), field(tr, "ok"), async () => {
        const body = {
          skills: names(tr.querySelector("[name=skills]").value),
          regions: names(tr.querySelector("[name=regions]").value),
          tier: tr.querySelector("[name=tier]").value,
          max_chats: whole(tr.querySelector("[name=max_chats]").value),
          groups: checkedIds(field(tr, "groups")),
        };
        const agent = (await api("PATCH", `/api/console/agents/${a.id}`, body)).agent;
        state.agents = state.agents.map((x) => (x.id === agent.id ? agent : x));
        state.groups = (await api("GET", "/api/console/groups")).groups;
        renderGroups();
        if (editing) syncMemberBox(agent);
      }),
    );
    return tr;
  }

  // Keep an open group form's member tick for an agent whose groups just changed.
  function syncMemberBox(agent) {
    const box = $("group-members").querySelector(`input[value="${agent.id}"]`);
    if (box) box.checked = agent.groups.includes(editing);
  }

  function renderAgents() {
    $("agents-list").replaceChildren(...state.agents.map(agentRow));
  }

  // ---- Topics and rules -----------------------------------------------------
  function topicRow(t) {
    const tr = clone("topic-tpl");
    tr.querySelector("[name=key]").value = t.key || "";
    tr.querySelector("[name=label]").value = t.label || "";
    groupOptions(tr.querySelector("[name=group_id]"), t.group_id);
    tr.querySelector("[name=skill]").value = t.skill || "";
    field(tr, "remove").addEventListener("click", () => tr.remove());
    return tr;
  }

  function routeRow(r) {
    const tr = clone("route-tpl");
    tr.querySelector("[name=url_pattern]").value = r.url_pattern || "";
    tr.querySelector("[name=region]").value = r.region || "";
    groupOptions(tr.querySelector("[name=group_id]"), r.group_id);
    tr.querySelector("[name=skill]").value = r.skill || "";
    field(tr, "remove").addEventListener("click", () => tr.remove());
    field(tr, "up").addEventListener("click", () => {
      if (tr.previousElementSibling) tr.previousElementSibling.before(tr);
    });
    field(tr, "down").addEventListener("click", () => {
      if (tr.nextElementSibling) tr.nextElementSibling.after(tr);
    });
    return tr;
  }

  const rowValues = (list, keys) =>
    Array.from(list.children, (tr) => {
      const item = {};
      for (const key of keys) item[key] = tr.querySelector(`[name=${key}]`).value;
      item.group_id = item.group_id ? Number(item.group_id) : null;
      return item;
    });

  // Group choices in unsaved rows follow renamed, new or deleted groups; values stay.
  function refreshGroupChoices() {
    for (const select of root.querySelectorAll('[data-cb$="-list"] select[name=group_id]')) {
      groupOptions(select, select.value || null, select.dataset.none);
    }
  }

  function renderTopics() {
    $("topics-list").replaceChildren(...state.topics.map(topicRow));
  }

  function renderRoutes() {
    $("routes-list").replaceChildren(...state.routes.map(routeRow));
  }

  $("topics-add").addEventListener("click", () => {
    const tr = topicRow({});
    $("topics-list").append(tr);
    tr.querySelector("input").focus();
  });
  $("routes-add").addEventListener("click", () => {
    const tr = routeRow({});
    $("routes-list").append(tr);
    tr.querySelector("input").focus();
  });

  $("topics-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    saving($("topics-save"), $("topics-error"), $("topics-ok"), async () => {
      const topics = rowValues($("topics-list"), ["key", "label", "group_id", "skill"]);
      state.topics = (await api("PUT", "/api/console/topics", { topics })).topics;
      renderTopics();
      renderPoints(); // topic points are listed per topic key
    });
  });

  $("routes-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    saving($("routes-save"), $("routes-error"), $("routes-ok"), async () => {
      const routes = rowValues($("routes-list"), ["url_pattern", "region", "group_id", "skill"]);
      state.routes = (await api("PUT", "/api/console/routes", { routes })).routes;
      renderRoutes();
    });
  });

  // ---- Priority points ------------------------------------------------------
  const pf = $("priority-form").elements;

  function renderPoints() {
    const p = state.priority;
    if (!p) return;
    for (const tier of Object.keys(p.tier).concat(["vip", "member", "new"])) {
      const input = pf[`tier-${tier}`];
      if (input) input.value = p.tier[tier] == null ? "" : String(p.tier[tier]);
    }
    pf.wait.value = String(p.wait);
    pf.transfer.value = String(p.transfer);
    // Every topic gets a row; points kept for a key no longer offered stay visible too.
    const labels = new Map(state.topics.map((t) => [t.key, t.label]));
    const keys = [...labels.keys()];
    for (const key of Object.keys(p.topic)) if (!labels.has(key)) keys.push(key);
    $("topic-points").replaceChildren(
      ...keys.map((key) => {
        const tr = clone("points-tpl");
        tr.dataset.key = key;
        field(tr, "key").textContent = key;
        field(tr, "label").textContent = labels.get(key) || "—";
        tr.querySelector("[name=points]").value = p.topic[key] == null ? "" : String(p.topic[key]);
        return tr;
      }),
    );
  }

  $("priority-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    saving($("priority-save"), $("priority-error"), $("priority-ok"), async () => {
      const body = { tier: {}, topic: {} };
      for (const tier of ["vip", "member", "new"]) {
        const value = number(pf[`tier-${tier}`].value);
        if (value != null) body.tier[tier] = value;
      }
      for (const tr of $("topic-points").children) {
        const value = number(tr.querySelector("[name=points]").value);
        if (value != null) body.topic[tr.dataset.key] = value;
      }
      for (const key of ["wait", "transfer"]) {
        const value = number(pf[key].value);
        if (value != null) body[key] = value;
      }
      state.priority = (await api("PUT", "/api/console/priority", body)).priority;
      renderPoints();
    });
  });

  // ---- Automatic invitation rules ----------------------------------------------
  const rulesList = $("invite-rules-list");
  const RL = $("invite-rules").dataset;

  function ruleRow(r) {
    const node = clone("invite-rule-tpl");
    const input = (name) => node.querySelector(`[name=${name}]`);
    if (r.id != null) node.dataset.ruleId = String(r.id);
    input("name").value = r.name || "";
    input("enabled").checked = r.enabled !== false;
    input("url_pattern").value = r.url_pattern || "";
    input("min_seconds").value = String(r.min_seconds ?? 0);
    input("min_visits").value = String(r.min_visits ?? 0);
    input("audience").value = r.audience || "any";
    input("source").value = r.source || "any";
    input("message").value = r.message ?? RL.lDefaultMessage;
    const group = input("group_id");
    groupOptions(group, r.group_id, group.dataset.none);
    field(node, "remove").addEventListener("click", () => { node.remove(); renumberRules(); });
    field(node, "up").addEventListener("click", () => {
      if (node.previousElementSibling) node.previousElementSibling.before(node);
      renumberRules();
    });
    field(node, "down").addEventListener("click", () => {
      if (node.nextElementSibling) node.nextElementSibling.after(node);
      renumberRules();
    });
    return node;
  }

  function renumberRules() {
    Array.from(rulesList.children).forEach((node, i) => {
      field(node, "legend").textContent = fill(RL.lRule, { n: i + 1 });
    });
    $("invite-rules-empty").hidden = rulesList.children.length > 0;
  }

  function renderRules(rules) {
    rulesList.replaceChildren(...rules.map(ruleRow));
    renumberRules();
  }

  function ruleValues() {
    return Array.from(rulesList.children, (node) => {
      const input = (name) => node.querySelector(`[name=${name}]`);
      const rule = {
        name: input("name").value,
        enabled: input("enabled").checked,
        url_pattern: input("url_pattern").value,
        min_seconds: whole(input("min_seconds").value),
        min_visits: whole(input("min_visits").value),
        audience: input("audience").value,
        source: input("source").value,
        message: input("message").value,
        group_id: input("group_id").value ? Number(input("group_id").value) : null,
      };
      if (node.dataset.ruleId) rule.id = Number(node.dataset.ruleId);
      return rule;
    });
  }

  // The rule a refusal names: an index (0-based), a "rules[2]..." field path, or a
  // message that starts "rule 3: ..." (counted from 1, as the legends are).
  function refusedRule(info) {
    if (Number.isInteger(info.index)) return info.index;
    const path = /rules\[(\d+)\]/.exec(String(info.field || ""));
    if (path) return Number(path[1]);
    const said = /^rule (\d+)\b/i.exec(String(info.message || ""));
    return said ? Number(said[1]) - 1 : null;
  }

  $("invite-rules-add").addEventListener("click", () => {
    const node = ruleRow({});
    rulesList.append(node);
    renumberRules();
    node.querySelector("input").focus();
  });

  $("invite-rules-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    for (const node of rulesList.children) showError(field(node, "error"), null);
    const formError = $("invite-rules-error");
    saving($("invite-rules-save"), formError, $("invite-rules-ok"), async () => {
      try {
        const rules = (await api("PUT", "/api/console/invite-rules", { rules: ruleValues() })).rules;
        renderRules(rules || []);
      } catch (err) {
        const at = err.info ? refusedRule(err.info) : null;
        const node = at == null ? null : rulesList.children[at];
        if (!node) throw err;
        // Shown next to the rule it is about; the form's own line stays empty.
        showError(field(node, "error"), err);
        node.scrollIntoView({ block: "nearest" });
        const quiet = new Error("");
        quiet.quiet = true;
        throw quiet;
      }
    });
  });

  async function loadInviteRules() {
    try {
      renderRules((await api("GET", "/api/console/invite-rules")).rules || []);
    } catch (err) {
      showError($("invite-rules-error"), err);
    }
  }

  // ---- Loading ----------------------------------------------------------------
  async function loadTeam() {
    const [groups, agents] = await Promise.all([
      api("GET", "/api/console/groups"),
      api("GET", "/api/console/agents"),
    ]);
    state.groups = groups.groups;
    state.agents = agents.agents;
    renderGroups();
    renderAgents();
    refreshGroupChoices();
  }

  async function loadLists() {
    const [topics, routes, priority] = await Promise.all([
      api("GET", "/api/console/topics"),
      api("GET", "/api/console/routes"),
      api("GET", "/api/console/priority"),
    ]);
    state.topics = topics.topics;
    state.routes = routes.routes;
    state.priority = priority.priority;
    renderTopics();
    renderRoutes();
    renderPoints();
  }

  (async () => {
    try {
      await loadTeam();
      await loadLists();
    } catch (err) {
      showError($("load-error"), err);
    }
    await loadInviteRules(); // after the groups, which its rows offer
  })();
})();
