// Import and export of articles on the knowledge page (docs/knowledge-base.md,
// "Import and export"). Export is a plain download of the streamed zip. Import sends
// the chosen zip as the request body; the box checks it whole, then imports in the
// background, and the progress bar follows GET /api/console/kb/import until it ends
// (as the backup page follows its job). The report lists what became of the files;
// file names and reasons go in as text.

import { T, fmt } from "./console-i18n.js";
import { api } from "./console-base.js";

const POLL = 500; // ms between looks at a running import

const root = document.querySelector('[data-cb="knowledge"]');
const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
const URL = "/api/console/kb/import";

function show(job) {
  const box = $("kb-import");
  if (!job) { box.hidden = true; return; }
  box.hidden = false;
  const bar = $("kb-import-bar");
  bar.max = Math.max(job.total, 1);
  bar.value = job.done;
  const counts = { done: job.done, total: job.total, created: job.created, updated: job.updated, unchanged: job.unchanged, failed: job.failed };
  $("kb-import-text").textContent = fmt(job.state === "running" ? "kbImportRunning" : job.state === "done" ? "kbImportDone" : "kbImportStopped", counts);
  const list = $("kb-import-errors");
  list.replaceChildren(...job.errors.map((e) => {
    const li = document.createElement("li");
    li.textContent = fmt("kbImportProblem", { path: e.path, error: e.error });
    return li;
  }));
}

async function follow() {
  let job = null;
  try {
    job = (await api("GET", URL)).job;
  } catch (err) {
    $("kb-import-text").textContent = fmt("kbImportFailed", { msg: err.message || "" });
    return;
  }
  show(job);
  if (job && job.state === "running") setTimeout(follow, POLL);
  else if (job) root.dispatchEvent(new CustomEvent("cb:kb-changed"));
}

async function upload(file) {
  const box = $("kb-import");
  box.hidden = false;
  $("kb-import-bar").removeAttribute("value"); // indeterminate while it uploads
  $("kb-import-errors").replaceChildren();
  $("kb-import-text").textContent = T.kbImportUploading;
  try {
    show(await api("POST", URL, file, "application/octet-stream"));
    setTimeout(follow, POLL);
  } catch (err) {
    $("kb-import-text").textContent = fmt("kbImportFailed", { msg: err.message || "" });
  }
}

if (root && $("kb-import-file")) {
  const input = $("kb-import-file");
  input.addEventListener("change", () => {
    if (input.files && input.files[0]) upload(input.files[0]);
    input.value = "";
  });
  // An import started earlier (or in another tab) may still run.
  api("GET", URL).then((r) => { if (r.job && r.job.state === "running") follow(); }).catch(() => {});
}
