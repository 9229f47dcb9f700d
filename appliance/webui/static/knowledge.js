// Callbox knowledge base (docs/knowledge-base.md): articles listed by category and
// state; one editor with zh-CN and English tabs that saves a new version over the one
// it opened (a newer one saved meanwhile is refused, not overwritten); the moves core
// allows (submit, approve, send back, archive, restore); the version history with a
// diff of each version against the one before; votes; contributors' points. The search
// box searches articles, tickets and chats; snippets arrive as pieces of text with the
// hits marked, and each piece goes in as text inside its own element.

import { T, fmt } from "./console-i18n.js";
import { api } from "./console-base.js";

const root = document.querySelector('[data-cb="knowledge"]');
const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
const KB = "/api/console/kb";

const STATE_TEXT = {
  draft: T.kbStateDraft,
  review: T.kbStateReview,
  published: T.kbStatePublished,
  archived: T.kbStateArchived,
};
const KIND_TEXT = { article: T.kbKindArticle, ticket: T.kbKindTicket, chat: T.kbKindChat };
const FIELD_TEXT = {
  title: T.kbFieldTitle,
  body: T.kbFieldBody,
  title_en: T.kbFieldTitleEn,
  body_en: T.kbFieldBodyEn,
};
// The moves each state offers: [to, label, reviewers only].
const MOVES = {
  draft: [["review", T.kbSubmit, false], ["archived", T.kbArchive, true]],
  review: [
    ["published", T.kbApprove, true],
    ["draft", T.kbReturn, true],
    ["archived", T.kbArchive, true],
  ],
  published: [["archived", T.kbArchive, true]],
  archived: [["draft", T.kbRestore, true]],
};

const state = { article: null, categories: [] };

function node(tag, text, cls) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (cls) made.className = cls;
  return made;
}

function say(box, text) {
  box.textContent = text || "";
  box.hidden = !text;
}

function failed(err) {
  if (err && err.code === "stale_version") return T.kbStale;
  return fmt("kbFailed", { reason: (err && err.message) || "" });
}

// -- search ---------------------------------------------------------------------------

function hitLink(hit) {
  if (hit.kind === "ticket") return `/console/tickets/${encodeURIComponent(hit.ref)}`;
  if (hit.kind === "chat") return `/console/history/${encodeURIComponent(hit.ref)}`;
  return `#article-${encodeURIComponent(hit.ref)}`;
}

function showHits(answer) {
  const list = $("kb-hits");
  list.replaceChildren();
  $("kb-results").hidden = false;
  if (!answer.terms.length) say($("kb-results-note"), T.kbNoTerms);
  else say($("kb-results-note"), answer.hits.length ? "" : T.kbNoHits);
  for (const hit of answer.hits) {
    const item = node("li", undefined, "kb-hit");
    item.dataset.kind = hit.kind;
    const link = node("a", hit.title || hit.ref);
    link.href = hitLink(hit);
    if (hit.kind === "article") {
      link.addEventListener("click", (event) => {
        event.preventDefault();
        open(Number(hit.ref));
      });
    }
    const snippet = node("p", undefined, "kb-snippet");
    for (const piece of hit.snippet) {
      snippet.append(piece.mark ? node("mark", piece.text) : document.createTextNode(piece.text));
    }
    item.append(node("span", KIND_TEXT[hit.kind] || hit.kind, "kb-kind"), link, snippet);
    list.append(item);
  }
}

async function search(event) {
  event.preventDefault();
  const q = $("kb-q").value.trim();
  if (!q) return;
  const kinds = $("kb-kinds").value;
  try {
    const query = `q=${encodeURIComponent(q)}&kinds=${encodeURIComponent(kinds)}`;
    showHits(await api("GET", `/api/console/search?${query}`));
  } catch (err) {
    $("kb-hits").replaceChildren();
    $("kb-results").hidden = false;
    say($("kb-results-note"), failed(err));
  }
}

// -- lists ----------------------------------------------------------------------------

function fillCategories() {
  for (const select of [$("kb-filter-category"), $("kb-category")]) {
    const keep = select.value;
    while (select.options.length > 1) select.remove(1);
    for (const c of state.categories) {
      const option = node("option", c.name_en && document.documentElement.lang === "en" ? c.name_en : c.name);
      option.value = String(c.id);
      select.append(option);
    }
    select.value = keep;
  }
}

async function loadList() {
  const params = new URLSearchParams();
  if ($("kb-filter-category").value) params.set("category_id", $("kb-filter-category").value);
  if ($("kb-filter-state").value) params.set("state", $("kb-filter-state").value);
  const answer = await api("GET", `${KB}/articles?${params}`);
  const list = $("kb-articles");
  list.replaceChildren();
  for (const a of answer.articles) {
    const item = node("li");
    const link = node("a", a.title);
    link.href = `#article-${a.id}`;
    link.dataset.id = String(a.id);
    link.addEventListener("click", (event) => {
      event.preventDefault();
      open(a.id);
    });
    item.append(link, node("span", STATE_TEXT[a.state], `kb-state kb-${a.state}`));
    list.append(item);
  }
  $("kb-empty").hidden = answer.articles.length > 0;
}

async function loadPoints() {
  const answer = await api("GET", `${KB}/contributors`);
  $("kb-points").replaceChildren(
    ...answer.contributors.map((c) => node("li", fmt("kbPoints", { name: c.name, points: c.points }))),
  );
}

// -- the editor -----------------------------------------------------------------------

function tab(which) {
  const zh = which === "zh";
  $("kb-tab-zh").setAttribute("aria-selected", String(zh));
  $("kb-tab-en").setAttribute("aria-selected", String(!zh));
  $("kb-pane-zh").hidden = !zh;
  $("kb-pane-en").hidden = zh;
}

function fill(detail) {
  state.article = detail;
  const a = detail ? detail.article : null;
  const v = detail ? detail.current : null;
  $("kb-pick").hidden = true;
  $("kb-form").hidden = false;
  $("kb-title").value = v ? v.title : "";
  $("kb-body").value = v ? v.body : "";
  $("kb-title-en").value = v ? v.title_en : "";
  $("kb-body-en").value = v ? v.body_en : "";
  $("kb-note").value = "";
  $("kb-category").value = a && a.category_id ? String(a.category_id) : "";
  $("kb-audience").value = a ? a.audience : "internal";
  say($("kb-error"), "");
  tab("zh");
  const status = a
    ? `${STATE_TEXT[a.state]} · ${fmt("kbVersion", { version: a.version })}` +
      (a.published_version ? ` · ${fmt("kbPublishedAs", { version: a.published_version })}` : "")
    : T.kbStateDraft;
  $("kb-status").textContent = status;
  const moves = $("kb-moves");
  moves.replaceChildren();
  for (const [to, label, review] of a ? MOVES[a.state] : []) {
    if (review && !detail.may_review) continue;
    const b = node("button", label, "secondary");
    b.type = "button";
    b.dataset.to = to;
    b.addEventListener("click", () => move(to));
    moves.append(b);
  }
  $("kb-votes").hidden = !a || a.published_version === null;
  if (a) {
    $("kb-counts").textContent = fmt("kbCounts", { up: a.helpful, down: a.not_helpful, views: a.views });
  }
  $("kb-steps").replaceChildren(
    ...(detail ? detail.steps : []).map((s) =>
      node("li", fmt("kbStep", {
        time: s.at.slice(0, 16).replace("T", " "),
        name: s.actor_name,
        from: STATE_TEXT[s.from_state],
        to: STATE_TEXT[s.to_state],
        note: s.note,
      })),
    ),
  );
  $("kb-diff").hidden = true;
  $("kb-versions").replaceChildren();
  if (a) loadVersions(a.id);
}

async function loadVersions(id) {
  const answer = await api("GET", `${KB}/articles/${id}/versions`);
  const list = $("kb-versions");
  list.replaceChildren();
  for (const v of answer.versions) {
    const item = node("li", fmt("kbVersionLine", {
      version: v.version,
      name: v.author_name,
      time: v.created_at.slice(0, 16).replace("T", " "),
      note: v.note,
    }));
    if (v.version > 1) {
      const b = node("button", T.kbDiff, "link");
      b.type = "button";
      b.dataset.version = String(v.version);
      b.addEventListener("click", () => showDiff(id, v.version - 1, v.version));
      item.append(" ", b);
    }
    list.append(item);
  }
}

async function showDiff(id, old, now) {
  const answer = await api("GET", `${KB}/articles/${id}/diff?old=${old}&new=${now}`);
  const box = $("kb-diff");
  box.replaceChildren(node("h3", fmt("kbDiffTitle", { old, new: now })));
  for (const field of answer.fields) {
    box.append(node("h4", FIELD_TEXT[field.field] || field.field));
    const pre = node("pre");
    for (const line of field.lines) {
      const cls = line.startsWith("+") ? "kb-add" : line.startsWith("-") ? "kb-del" : "";
      pre.append(node("span", `${line}\n`, cls));
    }
    box.append(pre);
  }
  if (!answer.fields.length) box.append(node("p", T.kbSame, "muted"));
  box.hidden = false;
}

async function open(id) {
  try {
    fill(await api("GET", `${KB}/articles/${id}`));
    history.replaceState(null, "", `#article-${id}`);
  } catch (err) {
    say($("kb-error"), failed(err));
  }
}

function values() {
  const out = {
    title: $("kb-title").value,
    body: $("kb-body").value,
    title_en: $("kb-title-en").value,
    body_en: $("kb-body-en").value,
    audience: $("kb-audience").value,
    note: $("kb-note").value,
  };
  if ($("kb-category").value) out.category_id = Number($("kb-category").value);
  return out;
}

let flashTimer = 0;
function flash(text) {
  say($("kb-flash"), text);
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => say($("kb-flash"), ""), 4000);
}

async function save(event) {
  event.preventDefault();
  const current = state.article;
  try {
    const detail = current
      ? await api("PUT", `${KB}/articles/${current.article.id}`, { ...values(), base: current.article.version })
      : await api("POST", `${KB}/articles`, values());
    fill(detail);
    flash(fmt("kbSaved", { version: detail.article.version }));
    await loadList();
  } catch (err) {
    say($("kb-error"), failed(err));
  }
}

async function move(to) {
  const id = state.article.article.id;
  try {
    fill(await api("POST", `${KB}/articles/${id}/move`, { to, note: $("kb-note").value }));
    flash(STATE_TEXT[state.article.article.state]);
    await Promise.all([loadList(), loadPoints()]);
  } catch (err) {
    say($("kb-error"), failed(err));
  }
}

async function vote(helpful) {
  const a = state.article.article;
  try {
    const counts = await api("POST", `${KB}/articles/${a.id}/vote`, { helpful });
    $("kb-counts").textContent = fmt("kbCounts", { up: counts.helpful, down: counts.not_helpful, views: a.views });
    await loadPoints();
  } catch (err) {
    say($("kb-error"), failed(err));
  }
}

async function start() {
  $("kb-search").addEventListener("submit", search);
  $("kb-form").addEventListener("submit", save);
  $("kb-new").addEventListener("click", () => fill(null));
  $("kb-tab-zh").addEventListener("click", () => tab("zh"));
  $("kb-tab-en").addEventListener("click", () => tab("en"));
  $("kb-filter-category").addEventListener("change", loadList);
  $("kb-filter-state").addEventListener("change", loadList);
  // An import finished (kb-transfer.js): new categories and articles.
  root.addEventListener("cb:kb-changed", async () => {
    state.categories = (await api("GET", `${KB}/categories`)).categories;
    fillCategories();
    await loadList();
  });
  for (const b of root.querySelectorAll('[data-cb="kb-vote"]')) {
    b.addEventListener("click", () => vote(b.dataset.helpful === "1"));
  }
  state.categories = (await api("GET", `${KB}/categories`)).categories;
  fillCategories();
  await Promise.all([loadList(), loadPoints()]);
  const wanted = /^#article-(\d+)$/.exec(location.hash);
  if (wanted) await open(Number(wanted[1]));
  root.dataset.ready = "1";
}

if (root) start();
