// Admin page: the limits on pictures and files in chats (the largest file, the accepted
// kinds), through PUT /api/admin/files. Labels come from the card's data-l-* attributes.
import { api } from "./console-base.js";

function wire(card) {
  const $ = (name) => card.querySelector(`[data-cb="${name}"]`);
  const form = $("files-form");
  const result = $("files-result");
  const error = $("files-error");
  const boxes = () => [...card.querySelectorAll('input[name="kinds"]')];
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      max_mb: Number($("files-max-mb").value),
      kinds: boxes().filter((b) => b.checked).map((b) => b.value),
    };
    $("files-submit").disabled = true;
    try {
      const saved = await api("PUT", "/api/admin/files", body);
      $("files-max-mb").value = String(saved.max_mb);
      for (const b of boxes()) b.checked = saved.kinds.includes(b.value);
      error.hidden = true;
      result.textContent = card.dataset.lSaved;
    } catch (err) {
      result.textContent = "";
      error.textContent = card.dataset.lFailed.replace("{message}", err.message || String(err));
      error.hidden = false;
    } finally {
      $("files-submit").disabled = false;
    }
  });
}

const card = document.querySelector('[data-cb="file-limits"]');
if (card) wire(card);
