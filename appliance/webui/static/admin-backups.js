// Backups and restore on the admin page: the key and its emergency kit (shown once),
// the schedule, "back up now" with progress, recent runs, and restores. The JSON API
// through console-base.js; labels come from data-l-* attributes of the section.
import { api } from "./console-base.js";

const POLL = 1000; // ms between looks at a running job
const RETRY = 2000; // ms between looks while the box restarts
const MB = 1024 * 1024;

(() => {
  const root = document.querySelector('[data-cb="backups"]');
  if (!root) return;
  const L = root.dataset;
  const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
  const label = (prefix, value) => L[prefix + value.charAt(0).toUpperCase() + value.slice(1)] || value;
  let polling = null;
  let restoring = false;

  function when(iso) {
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso || "");
    return m ? `${m[1]} ${m[2]}` : L.lNever;
  }
  const size = (bytes) => (bytes >= MB ? `${(bytes / MB).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`);

  function showError(name, err) {
    const el = $(name);
    el.textContent = err ? fill(L.lError, { message: err.message || err }) : "";
    el.hidden = !err;
  }

  function phaseText(progress) {
    const [phase, target] = progress.phase.split(":");
    const key = "lPhase" + phase.charAt(0).toUpperCase() + phase.slice(1);
    const name = target ? label("lTarget", target) : "";
    let text = fill(L[key] || phase, { target: name });
    if (progress.total > 1) text += ` · ${size(progress.done)} / ${size(progress.total)}`;
    return text;
  }

  function renderJob(job) {
    const box = $("bk-progress");
    if (!job || (job.state !== "running" && !(job.kind === "restore" && job.state === "done"))) {
      box.hidden = true;
      if (job && job.state === "failed") {
        showError("bk-error", job.kind === "restore" ? null : job.error);
        if (job.kind === "restore") {
          const el = $("bk-restore-error");
          el.textContent = fill(L.lRefused, { message: job.error });
          el.hidden = false;
        }
      }
      return;
    }
    box.hidden = false;
    const bar = $("bk-bar");
    const p = job.progress;
    if (p.total > 0) {
      bar.max = p.total;
      bar.value = p.done;
    } else {
      bar.removeAttribute("value");
    }
    $("bk-phase").textContent = job.kind === "restore" && job.state === "done" ? L.lRestarting : phaseText(p);
  }

  function resultText(run) {
    if (run.ok === null) return L.lRunning;
    return run.ok ? L.lOk : `${L.lFailed}: ${run.error}`;
  }

  function render(state) {
    const key = state.key;
    $("bk-key-state").textContent = key.ready ? fill(L.lKeyReady, { date: when(key.created_at) }) : L.lKeyNone;
    $("bk-make-key").hidden = key.ready;
    $("bk-replace-key").hidden = !key.ready;
    const running = state.job && state.job.state === "running";
    $("bk-run").disabled = !key.ready || running;
    $("bk-restore").disabled = running;
    $("bk-next").textContent = state.next_run ? when(state.next_run) : L.lOff;
    const last = state.runs.find((r) => r.ok !== null);
    $("bk-last").textContent = last ? `${when(last.finished_at)} · ${resultText(last)}` : L.lNever;
    $("bk-targets").textContent = state.targets
      .map((t) => (t === "local" ? `${label("lTarget", t)} (${state.settings.local_folder})` : `${label("lTarget", t)} (${state.settings.webdav_url})`))
      .join(" · ");
    const runs = $("bk-runs");
    runs.replaceChildren(
      ...state.runs.map((run) => {
        const tr = document.createElement("tr");
        for (const text of [when(run.started_at), label("lTrigger", run.trigger), resultText(run), run.archive, run.size ? size(run.size) : ""]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.append(td);
        }
        return tr;
      }),
    );
    const r = state.restore;
    $("bk-last-restore").hidden = !r;
    if (r) {
      $("bk-restore-state").textContent = `${label("lState", r.state)} · ${r.archive || ""} ${when(r.at)}${r.error ? ` · ${r.error}` : ""}`;
      $("bk-previous-line").hidden = !(r.previous && r.state === "started");
      $("bk-previous").textContent = r.previous;
    }
    renderJob(state.job);
    return state;
  }

  function fillSettings(s) {
    $("bk-enabled").checked = s.enabled;
    $("bk-daily-at").value = s.daily_at;
    $("bk-keep-daily").value = String(s.keep_daily);
    $("bk-keep-weekly").value = String(s.keep_weekly);
    $("bk-local-dir").value = s.local_dir;
    $("bk-local-dir").placeholder = s.local_folder;
    $("bk-webdav-url").value = s.webdav_url;
    $("bk-webdav-user").value = s.webdav_user;
    $("bk-webdav-password").value = "";
    $("bk-webdav-password").placeholder = s.webdav_password_set ? L.lPasswordKept : "";
  }

  async function refresh() {
    const state = render(await api("GET", "/api/admin/backups"));
    const running = state.job && state.job.state === "running";
    if (running && !polling) polling = setInterval(tick, POLL);
    if (!running && polling) {
      clearInterval(polling);
      polling = null;
    }
    if (state.job && state.job.kind === "restore" && state.job.state === "done") waitForRestart();
    return state;
  }

  async function tick() {
    try {
      await refresh();
    } catch (err) {
      if (!restoring) showError("bk-error", err);
    }
  }

  // The box stops and starts again on the restored data: its sessions are those of
  // the archive, so the login page is the likely next stop (api() goes there on 401).
  function waitForRestart() {
    if (restoring) return;
    restoring = true;
    if (polling) clearInterval(polling);
    polling = null;
    const again = async () => {
      try {
        const state = await api("GET", "/api/admin/backups");
        if (!state.job || state.job.kind !== "restore") {
          location.reload();
          return;
        }
      } catch (_) { /* down while it restarts */ }
      setTimeout(again, RETRY);
    };
    setTimeout(again, RETRY);
  }

  // --- the key and its emergency kit ----------------------------------------------
  async function makeKey(replace) {
    showError("bk-error", null);
    try {
      const kit = await api("POST", "/api/admin/backups/key", { replace });
      $("bk-kit-box").textContent = kit.box;
      $("bk-kit-date").textContent = when(kit.created_at);
      $("bk-kit-key").textContent = kit.identity;
      $("bk-kit-recipient").textContent = kit.recipient;
      $("bk-kit").hidden = false;
      document.body.classList.add("bk-printing-kit");
      await refresh();
    } catch (err) {
      showError("bk-error", err);
    }
  }
  $("bk-make-key").addEventListener("click", () => makeKey(false));
  $("bk-replace-key").addEventListener("click", () => {
    if (window.confirm(L.lReplaceConfirm)) makeKey(true);
  });
  $("bk-print").addEventListener("click", () => window.print());
  $("bk-kit-done").addEventListener("click", () => {
    // The key leaves the page: nothing on the box can show it again.
    $("bk-kit-key").textContent = "";
    $("bk-kit").hidden = true;
    document.body.classList.remove("bk-printing-kit");
  });

  // --- back up now ----------------------------------------------------------------
  $("bk-run").addEventListener("click", async () => {
    showError("bk-error", null);
    $("bk-run").disabled = true;
    try {
      renderJob(await api("POST", "/api/admin/backups/run"));
      await refresh();
    } catch (err) {
      showError("bk-error", err);
      $("bk-run").disabled = false;
    }
  });

  // --- settings -------------------------------------------------------------------
  $("bk-settings").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      enabled: $("bk-enabled").checked,
      daily_at: $("bk-daily-at").value,
      keep_daily: Number($("bk-keep-daily").value),
      keep_weekly: Number($("bk-keep-weekly").value),
      local_dir: $("bk-local-dir").value.trim(),
      webdav_url: $("bk-webdav-url").value.trim(),
      webdav_user: $("bk-webdav-user").value.trim(),
    };
    const password = $("bk-webdav-password").value;
    if (password) body.webdav_password = password;
    try {
      const state = render(await api("PUT", "/api/admin/backups/settings", body));
      fillSettings(state.settings);
      showError("bk-settings-error", null);
      $("bk-settings-result").textContent = L.lSaved;
    } catch (err) {
      $("bk-settings-result").textContent = "";
      showError("bk-settings-error", err);
    }
  });

  // --- restore --------------------------------------------------------------------
  const source = $("bk-source");
  source.addEventListener("change", () => {
    const upload = source.value === "upload";
    $("bk-file-label").hidden = !upload;
    $("bk-pick").hidden = upload;
  });

  $("bk-list").addEventListener("click", async () => {
    const select = $("bk-archive");
    try {
      const found = await api("GET", "/api/admin/backups/archives");
      select.replaceChildren(
        ...found.archives.map((a) => {
          const option = document.createElement("option");
          option.value = `${a.target}/${a.name}`;
          option.textContent = `${label("lTarget", a.target)} · ${when(a.created_at)} · ${size(a.size)}`;
          return option;
        }),
      );
      const problems = found.errors.map((e) => `${label("lTarget", e.target)}: ${e.error}`);
      if (!found.archives.length) problems.unshift(L.lNoArchives);
      showError("bk-restore-error", problems.length ? problems.join("; ") : null);
    } catch (err) {
      showError("bk-restore-error", err);
    }
  });

  $("bk-restore-key-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) $("bk-restore-key").value = (await file.text()).slice(0, 4096);
  });

  $("bk-restore-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("bk-restore-error", null);
    const key = $("bk-restore-key").value.trim();
    if (!key) return showError("bk-restore-error", L.lNeedKey);
    const body = { key, source: "upload" };
    if (source.value === "upload") {
      if (!$("bk-file").files[0]) return showError("bk-restore-error", L.lChooseArchive);
    } else {
      const picked = $("bk-archive").value;
      if (!picked) return showError("bk-restore-error", L.lChooseArchive);
      [body.source, body.name] = picked.split("/");
    }
    if (!window.confirm(L.lRestoreConfirm)) return;
    $("bk-restore").disabled = true;
    try {
      if (body.source === "upload") {
        $("bk-progress").hidden = false;
        $("bk-phase").textContent = L.lUploading;
        await api("POST", "/api/admin/backups/upload", $("bk-file").files[0], "application/octet-stream");
      }
      renderJob(await api("POST", "/api/admin/backups/restore", body));
      $("bk-restore-key").value = "";
      await refresh();
    } catch (err) {
      $("bk-progress").hidden = true;
      showError("bk-restore-error", err);
      $("bk-restore").disabled = false;
    }
  });

  $("bk-remove-previous").addEventListener("click", async () => {
    if (!window.confirm(L.lRemoveConfirm)) return;
    try {
      await api("DELETE", "/api/admin/backups/previous");
      await refresh();
    } catch (err) {
      showError("bk-error", err);
    }
  });

  refresh()
    .then((state) => fillSettings(state.settings))
    .catch((err) => showError("bk-error", err));
})();
