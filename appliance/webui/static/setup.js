// Callbox first-boot steps 2-4 (also reached from the admin page): the box's identity,
// joining a relay with an enrolment token, the visitor certificate (upload or ACME).
// Each step shows its result or the server's error in place. Labels come from the
// data-l-* attributes of [data-cb="box-steps"]; everything shown goes in as text.
import { api } from "./console-base.js";

(() => {
  const root = document.querySelector('[data-cb="box-steps"]');
  if (!root) return;
  const L = root.dataset;
  const $ = (name) => root.querySelector(`[data-cb="${name}"]`);
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));

  function show(step, err, text) {
    const error = $(`${step}-error`);
    error.textContent = err ? fill(L.lFailed, { message: err.message || err }) : "";
    error.hidden = !err;
    const result = $(`${step}-result`);
    if (result && result.tagName !== "UL") result.textContent = err ? "" : text || "";
  }

  // --- step 2: who the box is --------------------------------------------------------
  $("box-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      company_name: $("box-company").value.trim(),
      public_host: $("box-host").value.trim(),
      time_zone: $("box-zone").value.trim(),
      default_lang: $("box-lang").value,
    };
    $("box-submit").disabled = true;
    try {
      const box = await api("PUT", "/api/admin/box", body);
      $("box-host").value = box.public_host;
      $("box-zone").value = box.time_zone;
      const note = box.restart_needed ? ` ${fill(L.lRestart, { zone: box.time_zone })}` : "";
      show("box", null, L.lSaved + note);
    } catch (err) {
      show("box", err);
    } finally {
      $("box-submit").disabled = false;
    }
  });

  // --- step 3: join a relay ----------------------------------------------------------
  const results = $("relay-result");
  function line(text, bad) {
    const li = document.createElement("li");
    li.textContent = text;
    if (bad) li.className = "bad";
    results.append(li);
  }
  $("relay-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    results.replaceChildren();
    show("relay", null);
    line(L.lJoining);
    $("relay-submit").disabled = true;
    try {
      const joined = await api("POST", "/api/admin/relay/join", {
        token: $("relay-token").value.trim(),
        relay: $("relay-host").value.trim(),
      });
      results.replaceChildren();
      const text = fill(L.lJoined, { tenant: joined.tenant, hostname: joined.hostname });
      line(text);
      line(fill(L.lTunnel, { state: joined.tunnel }), joined.tunnel !== "up");
      line(fill(L.lSites, { state: joined.sites }), joined.sites !== "open");
      $("relay-state").textContent = text;
      $("relay-form").hidden = true;
      if (!$("box-host").value) $("box-host").value = joined.hostname;
    } catch (err) {
      results.replaceChildren();
      show("relay", err);
    } finally {
      $("relay-submit").disabled = false;
    }
  });

  // --- step 4: the visitor certificate -----------------------------------------------
  function certState(cert) {
    $("cert-state").textContent = cert.present
      ? fill(L.lCertOk, { names: cert.names.join(", "), until: (cert.not_after || "").slice(0, 10) })
      : L.lCertNone;
  }
  $("cert-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const cert = $("cert-file").files[0];
    const key = $("key-file").files[0];
    if (!cert || !key) {
      show("cert", null, L.lChooseFiles);
      return;
    }
    $("cert-submit").disabled = true;
    try {
      const installed = await api("POST", "/api/admin/certificate", {
        cert_pem: await cert.text(),
        key_pem: await key.text(),
      });
      certState(installed);
      $("cert-form").reset();
      show("cert", null, L.lSaved);
    } catch (err) {
      show("cert", err);
    } finally {
      $("cert-submit").disabled = false;
    }
  });
  $("acme-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("acme-submit").disabled = true;
    show("cert", null, L.lAcmeWait);
    try {
      certState(await api("POST", "/api/admin/certificate/acme", { email: $("acme-email").value.trim() }));
      show("cert", null, L.lSaved);
    } catch (err) {
      show("cert", err);
    } finally {
      $("acme-submit").disabled = false;
    }
  });
})();
