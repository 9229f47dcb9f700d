/* Callbox visitor widget: self-service before a chat. Loaded on first use (13-kb.js)
 * from /api/visitor/assets/kb.js, so the widget every page loads stays small. Like
 * rating.js it runs outside the widget's closure, leaves nothing on window, and hands
 * the widget a function over a "callbox:kb" event; its strings (the catalog's widget
 * keys named later…) are filled in at start and join the widget's catalog here.
 *
 * It shows a search box and the articles suggested for the page the visitor is on
 * (nothing at all while the box has no public article);
 * an article opens here, with helpful / not helpful. The box records each search, read
 * and vote; a visitor who then starts no chat within the window counts as deflected.
 * An article's HTML comes from the box rendered and sanitised (core/article_render.py);
 * it is parsed here into an inert document and copied element by element through the
 * same allow-list, so nothing in it can run even if the box were fooled. Titles and
 * snippets go in as text.
 */
(() => {
  "use strict";
  const TEXTS = /*@catalog*/{};
  const QUERY_MAX = 200; // characters, the box's limit
  const TAGS = new Set(["P", "BR", "HR", "H1", "H2", "H3", "H4", "H5", "H6", "STRONG", "EM",
    "DEL", "S", "CODE", "PRE", "BLOCKQUOTE", "UL", "OL", "LI", "A", "IMG", "TABLE", "THEAD",
    "TBODY", "TR", "TH", "TD"]);
  const ATTRS = { A: ["href", "title"], IMG: ["src", "alt", "title"], OL: ["start"] };
  const CSS = `
.kb[data-empty] { display: none; }
.kb { padding: 10px 12px; border-bottom: 1px solid #e5e7eb; font-size: 14px; max-height: 60%;
  overflow-y: auto; }
.kb form { display: flex; gap: 6px; }
.kb input[type=search] { flex: 1; min-width: 0; padding: 6px 8px; border: 1px solid #cbd5e1;
  border-radius: 6px; font: inherit; }
.kb button { font: inherit; }
.kb h3 { font-size: 13px; margin: 10px 0 4px; color: #6b7280; font-weight: 600; }
.kb article h3 { font-size: 15px; color: #111827; margin-top: 8px; }
.kb ul.kb-list { list-style: none; margin: 0; padding: 0; }
.kb ul.kb-list li { margin: 4px 0; }
.kb .kb-link { border: 0; padding: 0; background: none; color: #1d4ed8; text-align: left;
  text-decoration: underline; cursor: pointer; }
.kb .kb-snip { display: block; color: #6b7280; font-size: 12px; }
.kb mark { background: #fef08a; color: inherit; }
.kb .kb-note { color: #6b7280; font-size: 12px; margin: 6px 0; }
.kb .kb-body img { max-width: 100%; height: auto; }
.kb .kb-body pre { overflow-x: auto; background: #f3f4f6; padding: 8px; border-radius: 4px; }
.kb .kb-body table { border-collapse: collapse; display: block; overflow-x: auto; }
.kb .kb-body th, .kb .kb-body td { border: 1px solid #e5e7eb; padding: 4px 6px; }
.kb .kb-votes { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; margin-top: 8px; }`;

  function part(w) {
    const { h, t, api, ensureSession, kbEl, BASE, LANG, keepBottom } = w;
    Object.keys(TEXTS).forEach((lang) => Object.assign(w.CATALOG[lang] || {}, TEXTS[lang]));
    const english = /^en\b/i.test(LANG);
    const q = h("input", { type: "search", maxlength: String(QUERY_MAX), "data-cb": "kb-q",
      "aria-label": t("laterKbSearch"), placeholder: t("laterKbSearch") });
    const go = h("button", { type: "submit", "data-cb": "kb-go" }, [t("laterKbGo")]);
    const form = h("form", { role: "search", "data-cb": "kb-search" }, [q, go]);
    const note = h("p", { class: "kb-note", "data-cb": "kb-note", role: "status", hidden: "" });
    const listTitle = h("h3", { "data-cb": "kb-list-title" }, [t("laterKbSuggested")]);
    const rows = h("ul", { class: "kb-list", "data-cb": "kb-list" });
    const listing = h("div", {}, [listTitle, rows]);
    const back = h("button", { type: "button", class: "kb-link", "data-cb": "kb-back" }, [t("laterKbBack")]);
    const title = h("h3", { tabindex: "-1", "data-cb": "kb-title" });
    const body = h("div", { class: "kb-body", "data-cb": "kb-body" });
    const yes = h("button", { type: "button", "data-cb": "kb-helpful" }, [t("laterKbHelpful")]);
    const no = h("button", { type: "button", "data-cb": "kb-not-helpful" }, [t("laterKbNotHelpful")]);
    const voted = h("span", { class: "kb-note", "data-cb": "kb-voted", role: "status", hidden: "" });
    const ask = h("p", { class: "kb-note" }, [t("laterKbAsk")]);
    const reading = h("article", { "data-cb": "kb-article", hidden: "" },
      [back, title, body, h("div", { class: "kb-votes" }, [yes, no, voted]), ask]);
    kbEl.append(form, note, listing, reading);
    // A constructed sheet on the widget's shadow root: a <style> element is inline style
    // to a strict Content-Security-Policy (docs/widget-guide.md).
    const styleRoot = kbEl.getRootNode();
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      styleRoot.adoptedStyleSheets = [...styleRoot.adoptedStyleSheets, sheet];
    } catch (e) { kbEl.prepend(h("style", {}, [CSS])); } // Safari < 16.4
    let suggested = [];
    let open = null; // the article on screen
    let asked = 0; // the newest search: an older answer arriving late is dropped

    const say = (text) => { note.textContent = text || ""; note.hidden = !text; };
    const titleOf = (a) => (english && a.title_en) || a.title;

    /** Copy allow-listed nodes of sanitised HTML; box-relative links point at the box. */
    function adopt(from, into) {
      from.childNodes.forEach((n) => {
        if (n.nodeType === 3) { into.appendChild(document.createTextNode(n.nodeValue)); return; }
        if (n.nodeType !== 1) return;
        if (!TAGS.has(n.tagName)) { adopt(n, into); return; }
        const el = document.createElement(n.tagName.toLowerCase());
        (ATTRS[n.tagName] || []).forEach((name) => {
          let v = n.getAttribute(name);
          if (v == null) return;
          if (name === "href" || name === "src") {
            if (v.startsWith("/") && !v.startsWith("//")) v = BASE + v;
            if (!/^(https?:|mailto:|tel:)/i.test(v)) return;
          }
          el.setAttribute(name, v);
        });
        if (n.tagName === "A") { el.setAttribute("target", "_blank"); el.setAttribute("rel", "noopener noreferrer nofollow"); }
        adopt(n, el);
        into.appendChild(el);
      });
    }

    function show(list, heading) {
      keepBottom(() => {
        listTitle.textContent = heading;
        rows.textContent = "";
        list.forEach((a) => {
          const link = h("button", { type: "button", class: "kb-link", "data-cb": "kb-open",
            "data-id": String(a.id) }, [a.title]);
          const row = h("li", {}, [link]);
          if (a.snippet) {
            const snip = h("span", { class: "kb-snip" });
            a.snippet.forEach((p) => snip.appendChild(p.mark ? h("mark", {}, [p.text]) : document.createTextNode(p.text)));
            row.appendChild(snip);
          }
          link.addEventListener("click", () => read(a.id));
          rows.appendChild(row);
        });
        listing.hidden = !list.length;
        reading.hidden = true;
      });
    }

    function read(id) {
      ensureSession().then(() => api("GET", "/api/visitor/kb/articles/" + encodeURIComponent(id))).then((r) => {
        const a = r.article;
        open = a;
        keepBottom(() => {
          title.textContent = titleOf(a);
          body.textContent = "";
          const html = (english && a.html_en) || a.html || "";
          adopt(new DOMParser().parseFromString(html, "text/html").body, body);
          voted.hidden = true;
          yes.disabled = no.disabled = false;
          listing.hidden = true;
          reading.hidden = false;
        });
        say("");
        title.focus();
      }, () => say(t("laterKbFailed")));
    }

    function vote(helpful) {
      if (!open) return;
      yes.disabled = no.disabled = true;
      api("POST", "/api/visitor/kb/articles/" + encodeURIComponent(open.id) + "/vote", { helpful })
        .then(() => { voted.textContent = t("laterKbThanks"); voted.hidden = false; },
          () => { yes.disabled = no.disabled = false; say(t("laterKbFailed")); });
    }

    function search(e) {
      e.preventDefault();
      const text = q.value.trim();
      if (!text) { show(suggested, t("laterKbSuggested")); say(""); return; }
      const mine = ++asked;
      ensureSession().then(() => api("GET", "/api/visitor/kb/search?limit=5&q=" + encodeURIComponent(text)))
        .then((r) => {
          if (mine !== asked) return;
          const hits = (r.hits || []).map((x) => ({ id: Number(x.ref), title: x.title, snippet: x.snippet }));
          show(hits, t("laterKbResults"));
          say(!r.terms.length ? t("laterKbEmpty") : hits.length ? "" : t("laterKbNone"));
        }, (x) => { if (mine === asked) say(t(x.code === "query_too_long" ? "laterKbTooLong" : "laterKbFailed")); });
    }

    form.addEventListener("submit", search);
    back.addEventListener("click", () => { open = null; listing.hidden = false; reading.hidden = true; q.focus(); });
    yes.addEventListener("click", () => vote(true));
    no.addEventListener("click", () => vote(false));
    ensureSession()
      .then(() => api("GET", "/api/visitor/kb/suggested?limit=5&path=" + encodeURIComponent(location.pathname.slice(0, 512))))
      .then((r) => {
        suggested = (r.articles || []).map((a) => ({ id: a.id, title: titleOf(a) }));
        // None even among the most read: the box has no public article, nothing to search.
        if (!suggested.length) kbEl.setAttribute("data-empty", "");
        if (!open && reading.hidden && !rows.childNodes.length) show(suggested, t("laterKbSuggested"));
      }, () => { listing.hidden = true; });
    listing.hidden = true;
    return true;
  }

  document.dispatchEvent(new CustomEvent("callbox:kb", { detail: part }));
})();
