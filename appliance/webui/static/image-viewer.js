// The picture viewer of the visitor widget and the agent console, an ES module each
// imports the first time someone opens a picture (the widget from /api/visitor/assets/,
// the console from /static/).
//
// openViewer({ parent, styleRoot, src, name, labels }) shows the picture over
// everything, as large as the window allows, with its name, a download link and a close
// button; Escape, the close button or a click beside the picture closes it, and focus
// goes back where it was. `src` is a URL the caller may read (the console's own, or a
// blob: URL the widget made from an authorised fetch). Styles go in as a constructed
// stylesheet of styleRoot, which a strict Content-Security-Policy allows.

const CSS = `
.cb-viewer { position: fixed; inset: 0; z-index: 2147483001; background: rgba(0,0,0,.82);
  display: flex; flex-direction: column; align-items: center; justify-content: center;
  gap: 10px; padding: 16px; }
.cb-viewer img { max-width: 100%; max-height: calc(100% - 56px); object-fit: contain;
  border-radius: 4px; background: #fff; }
.cb-viewer .cb-bar { display: flex; align-items: center; gap: 12px; max-width: 100%;
  color: #fff; font-size: 14px; }
.cb-viewer .cb-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.cb-viewer a, .cb-viewer button { flex: none; padding: 6px 14px; border: 1px solid #fff;
  border-radius: 6px; background: none; color: #fff; font: inherit; text-decoration: none;
  cursor: pointer; }`;

const adopted = new WeakSet();

function adopt(styleRoot) {
  if (adopted.has(styleRoot)) return;
  adopted.add(styleRoot);
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    styleRoot.adoptedStyleSheets = [...styleRoot.adoptedStyleSheets, sheet];
  } catch (_) { // no constructable stylesheets (Safari before 16.4): a style element
    const style = document.createElement("style");
    style.textContent = CSS;
    (styleRoot.head || styleRoot).appendChild(style);
  }
}

/** Show a picture over the page; return { close }. */
export function openViewer({ parent, styleRoot, src, name, labels }) {
  adopt(styleRoot);
  const back = parent.getRootNode().activeElement; // in a shadow root, its own
  const box = document.createElement("div");
  box.className = "cb-viewer";
  box.dataset.cb = "viewer";
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-modal", "true");
  box.setAttribute("aria-label", name);
  box.tabIndex = -1;
  const img = document.createElement("img");
  img.src = src;
  img.alt = name;
  img.dataset.cb = "viewer-image";
  const bar = document.createElement("div");
  bar.className = "cb-bar";
  const title = document.createElement("span");
  title.className = "cb-name";
  title.textContent = name;
  const save = document.createElement("a");
  save.href = src;
  save.download = name;
  save.textContent = labels.download;
  save.dataset.cb = "viewer-download";
  const shut = document.createElement("button");
  shut.type = "button";
  shut.textContent = labels.close;
  shut.dataset.cb = "viewer-close";
  bar.append(title, save, shut);
  box.append(img, bar);

  function close() {
    if (!box.isConnected) return;
    box.remove();
    if (back && typeof back.focus === "function") back.focus();
  }
  shut.addEventListener("click", close);
  box.addEventListener("click", (event) => { if (event.target === box) close(); });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.stopPropagation(); close(); }
    // Focus stays inside while it is open: Tab goes round its two controls.
    if (event.key === "Tab") {
      event.preventDefault();
      (box.getRootNode().activeElement === save ? shut : save).focus();
    }
  });
  parent.appendChild(box);
  shut.focus();
  return { close };
}
