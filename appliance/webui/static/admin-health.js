// Callbox admin page: the health card. Fills it from GET /api/admin/health at once and
// again every data-refresh-ms (15 s) while the page is open; labels come from data-l-*.
import { api } from "./console-base.js";

(() => {
  const root = document.querySelector('[data-cb="health"]');
  if (!root) return;
  const L = root.dataset;
  const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));

  // The box sends its own local time with an offset; show its wall-clock part as is.
  function when(iso) {
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)/.exec(iso || "");
    return m ? `${m[1]} ${m[2]}` : "—";
  }

  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = Number(n) || 0;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
  }

  function uptime(report) {
    const s = report.uptime_seconds;
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    return fill(L.lUptime, { time: when(report.started_at), d, h, m });
  }

  function tunnel(relay) {
    if (!relay) return L.lNotEnrolled;
    const parts = [relay.state];
    if (relay.error) parts.push(relay.error);
    if (relay.last_ok) parts.push(when(relay.last_ok));
    return parts.join(" — ");
  }

  function certificate(cert) {
    if (!cert) return L.lNoCert;
    if (cert.error) return cert.error;
    return fill(L.lCert, {
      names: cert.names.join(", "),
      date: when(cert.not_after).slice(0, 10),
      days: cert.days_left,
    });
  }

  function backup(last) {
    if (!last) return L.lNoBackup;
    return fill(last.ok ? L.lBackupOk : L.lBackupFailed, { time: when(last.at), summary: last.summary });
  }

  function logRow(line) {
    const tr = document.createElement("tr");
    tr.dataset.level = line.level;
    const count = line.count > 1 ? ` ×${line.count}` : "";
    for (const text of [when(line.at), line.level, line.logger, line.text + count]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }

  function render(report) {
    const status = $("health-status");
    status.textContent = report.status === "ok" ? L.lOk : L.lDegraded;
    status.dataset.status = report.status;
    for (const li of $("health-warnings").querySelectorAll("li[data-warning]")) {
      li.hidden = !report.warnings.includes(li.dataset.warning);
    }
    $("health-version").textContent = report.version;
    $("health-uptime").textContent = uptime(report);
    $("health-disk").textContent = fill(L.lDisk, {
      free: bytes(report.disk.free_bytes),
      total: bytes(report.disk.total_bytes),
    });
    $("health-db").textContent = fill(L.lDb, {
      db: bytes(report.database.db_bytes),
      wal: bytes(report.database.wal_bytes),
    });
    $("health-tunnel").textContent = tunnel(report.relay);
    $("health-cert").textContent = certificate(report.certificate);
    $("health-backup").textContent = backup(report.backup);
    $("health-log").replaceChildren(...report.log.map(logRow));
    $("health-log-empty").hidden = report.log.length > 0;
    $("health-updated").textContent = fill(L.lUpdated, { time: new Date().toLocaleTimeString() });
  }

  async function refresh() {
    const error = $("health-error");
    try {
      render(await api("GET", "/api/admin/health"));
      error.hidden = true;
    } catch (err) {
      error.textContent = fill(L.lFailed, { message: err.message || err });
      error.hidden = false;
    }
  }

  refresh();
  setInterval(refresh, Number(L.refreshMs) || 15000);
})();
