// Callbox admin page, staff devices: add (the WireGuard profile and QR code shown once,
// never stored by the box), list with the relay's handshakes, renew, revoke, and the
// default validity. Labels come from the section's data-l-* attributes; every name and
// owner goes in as text.
import { api } from "./console-base.js";

(() => {
  const root = document.querySelector('[data-cb="devices"]');
  if (!root) return;
  const L = root.dataset;
  const $ = (name, scope = root) => scope.querySelector(`[data-cb="${name}"]`);
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
  const STATE = { active: L.lStateActive, expired: L.lStateExpired, revoked: L.lStateRevoked };
  const list = $("device-list");

  // The box sends its own local time with an offset; show its wall-clock part as is.
  function when(iso) {
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso || "");
    return m ? `${m[1]} ${m[2]}` : L.lNever;
  }

  function show(err, text) {
    $("dev-error").textContent = err ? fill(L.lFailed, { message: err.message || err }) : "";
    $("dev-error").hidden = !err;
    $("dev-result").textContent = err ? "" : text || "";
  }

  function row(device) {
    const tr = document.createElement("tr");
    tr.dataset.device = device.name;
    tr.dataset.state = device.state;
    const cell = (text, name) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (name) td.dataset.cb = name;
      tr.append(td);
      return td;
    };
    cell(device.name);
    cell(device.address);
    cell(device.owner);
    cell(STATE[device.state] || device.state, "dev-state");
    cell(when(device.expires_at), "dev-expires");
    cell(device.latest_handshake ? when(device.latest_handshake) : "—", "dev-handshake");
    const actions = cell("");
    actions.className = "dev-actions";
    if (device.state !== "revoked") {
      for (const [name, cls, text] of [
        ["dev-renew", "secondary", L.lRenew],
        ["dev-revoke", "danger", L.lRevoke],
      ]) {
        const b = document.createElement("button");
        Object.assign(b, { type: "button", className: cls, textContent: text });
        b.dataset.cb = name;
        actions.append(b, " ");
      }
    }
    return tr;
  }

  function put(device) {
    const tr = row(device);
    const old = list.querySelector(`tr[data-device="${CSS.escape(device.name)}"]`);
    if (old) old.replaceWith(tr); else list.prepend(tr);
  }

  async function refresh() {
    try {
      const data = await api("GET", "/api/admin/devices");
      list.replaceChildren(...data.devices.map(row));
      if (data.relay_error) show(null, fill(L.lRelayUnreachable, { message: data.relay_error }));
    } catch (err) {
      show(err);
    }
  }

  function days() {
    const n = Number($("dev-days").value);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  }

  // --- the profile, once -------------------------------------------------------------
  const panel = $("dev-profile");
  function showProfile(name, profile) {
    $("dev-qr").src = profile.qr_svg;
    $("dev-config").textContent = profile.config;
    const file = $("dev-download");
    file.href = `data:text/plain;charset=utf-8,${encodeURIComponent(profile.config)}`;
    file.download = `${name}.conf`;
    $("dev-ca-download").href =
      `data:application/x-pem-file;charset=utf-8,${encodeURIComponent(profile.console_ca)}`;
    $("dev-console-url").textContent = profile.console_url;
    panel.hidden = false;
  }
  function forgetProfile() {
    // The private key leaves the page: nothing on the box or here can show it again.
    $("dev-qr").removeAttribute("src");
    $("dev-config").textContent = "";
    $("dev-download").removeAttribute("href");
    panel.hidden = true;
  }
  $("dev-profile-done").addEventListener("click", forgetProfile);

  $("dev-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: $("dev-name").value.trim(), owner: $("dev-owner").value.trim() };
    if (days() !== undefined) body.days = days();
    $("dev-submit").disabled = true;
    try {
      const data = await api("POST", "/api/admin/devices", body);
      put(data.device);
      showProfile(data.device.name, data.profile);
      $("dev-name").value = "";
      $("dev-owner").value = "";
      show(null, fill(L.lAddedOk, { name: data.device.name }));
    } catch (err) {
      show(err);
    } finally {
      $("dev-submit").disabled = !L.enrolled;
    }
  });

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    const tr = button && button.closest("tr[data-device]");
    if (!tr) return;
    const name = tr.dataset.device;
    const path = `/api/admin/devices/${encodeURIComponent(name)}`;
    try {
      if (button.dataset.cb === "dev-renew") {
        const body = days() === undefined ? {} : { days: days() };
        const data = await api("POST", `${path}/renew`, body);
        put(data.device);
        show(null, fill(L.lRenewedOk, { name, until: when(data.device.expires_at) }));
      } else if (button.dataset.cb === "dev-revoke") {
        if (!window.confirm(fill(L.lRevokeConfirm, { name }))) return;
        const data = await api("DELETE", path);
        put(data.device);
        show(null, fill(L.lRevokedOk, { name }));
      }
    } catch (err) {
      show(err);
    }
  });

  $("dev-settings-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const data = await api("PUT", "/api/admin/device-settings", {
        expiry_days: Number($("dev-default-days").value),
      });
      $("dev-default-days").value = String(data.expiry_days);
      $("dev-days").value = String(data.expiry_days);
      show(null, L.lSaved);
    } catch (err) {
      show(err);
    }
  });

  refresh();
})();
