// ---- start ---------------------------------------------------------------------------
function start() {
  mount(); // 05a-host.js
  outbox.forEach(addPending); // unsent text from before a reload is still on its way
  setStatus();
  ensureSession()
    .then(() => {
      identify();
      startTracking();
      loadTopics();
      if (!convId) return null;
      return api("GET", "/api/visitor/conversations/" + encodeURIComponent(convId)).then(
        (r) => {
          if (!r.conversation || r.conversation.status === "closed") forgetConversation();
          else conv = r.conversation; // history is replayed by join, from seq 0 on a fresh page
        },
        (err) => { if (err.status === 404) forgetConversation(); else throw err; });
    })
    .then(() => (wanted() ? sync() : setStatus()))
    .catch(() => { if (wanted()) scheduleRetry(); });
}

if (document.body) start();
else document.addEventListener("DOMContentLoaded", start, { once: true });
