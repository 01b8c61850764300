// app.js: the little every page does in the browser. Loaded by nonce;
// never evaluates strings, never writes HTML (textContent only).
"use strict";
(() => {
  // Copy buttons: data-copy="ID" copies the text of element ID,
  // data-copy-text="..." copies the value itself.
  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-copy], button[data-copy-text]");
    if (!btn) return;
    let text = btn.dataset.copyText;
    if (text === undefined) {
      const el = document.getElementById(btn.dataset.copy || "");
      text = el ? el.textContent : "";
    }
    const old = btn.textContent;
    try {
      await navigator.clipboard.writeText(text);
      btn.textContent = "Copied";
    } catch {
      btn.textContent = "Copy failed";
    }
    setTimeout(() => { btn.textContent = old; }, 1500);
  });

  // Listing filters: apply a select at once.
  const filters = document.getElementById("hd-filters");
  if (filters) {
    for (const sel of filters.querySelectorAll("select")) {
      sel.addEventListener("change", () => filters.requestSubmit());
    }
  }
})();
