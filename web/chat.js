// chat.js: the chat playground. Streams from the same-origin relay
// (/chat/api/completions, OpenAI's SSE shape), keeps the conversation and
// the settings in localStorage, and shows model output as markdown rendered
// by the server (cmark-gfm, /chat/api/markdown) and then copied into the page
// through an allow-list of elements and attributes: model text is never
// parsed as HTML into the live document and never runs.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const root = $("hd-chat");
  if (!root) return;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const KEY = "huddle.chat.v1";

  const els = {
    model: $("hd-model"), models: $("hd-model-list"), note: $("hd-model-note"),
    system: $("hd-system"), temperature: $("hd-temperature"), temperatureOut: $("hd-temperature-out"),
    topP: $("hd-top-p"), topPOut: $("hd-top-p-out"), maxTokens: $("hd-max-tokens"),
    clear: $("hd-clear"), messages: $("hd-messages"), error: $("hd-chat-error"),
    form: $("hd-chat-form"), input: $("hd-input"), send: $("hd-send"), stop: $("hd-stop"),
    regenerate: $("hd-regenerate"),
  };

  // ---- state ---------------------------------------------------------------
  let state = { messages: [], settings: {} };
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "null");
    if (saved && Array.isArray(saved.messages)) {
      state.messages = saved.messages.filter((m) =>
        m && (m.role === "user" || m.role === "assistant") && typeof m.content === "string");
      state.settings = typeof saved.settings === "object" && saved.settings ? saved.settings : {};
    }
  } catch { /* a broken entry starts a new conversation */ }
  const save = () => {
    try { localStorage.setItem(KEY, JSON.stringify(state)); } catch { /* full or disabled */ }
  };

  const s = state.settings;
  if (root.dataset.model) s.model = root.dataset.model;
  if (typeof s.model === "string") els.model.value = s.model;
  if (typeof s.system === "string") els.system.value = s.system;
  if (typeof s.temperature === "number") els.temperature.value = String(s.temperature);
  if (typeof s.top_p === "number") els.topP.value = String(s.top_p);
  if (typeof s.max_tokens === "number") els.maxTokens.value = String(s.max_tokens);
  const syncSettings = () => {
    s.model = els.model.value.trim();
    s.system = els.system.value;
    s.temperature = Number(els.temperature.value);
    s.top_p = Number(els.topP.value);
    s.max_tokens = Math.max(1, parseInt(els.maxTokens.value, 10) || 256);
    els.temperatureOut.textContent = els.temperature.value;
    els.topPOut.textContent = els.topP.value;
    save();
  };
  for (const el of [els.model, els.system, els.temperature, els.topP, els.maxTokens]) {
    el.addEventListener("input", syncSettings);
  }
  syncSettings();

  // ---- safe markdown ---------------------------------------------------------
  const ALLOWED = {
    P: [], BR: [], HR: [], H1: [], H2: [], H3: [], H4: [], H5: [], H6: [],
    STRONG: [], EM: [], DEL: [], CODE: ["class"], PRE: ["class"], BLOCKQUOTE: [],
    UL: [], OL: ["start"], LI: [], A: ["href"], TABLE: [], THEAD: [], TBODY: [], TR: [],
    TH: ["align"], TD: ["align"], IMG: ["src", "alt"], SUP: [], SUB: [], SECTION: [],
    INPUT: ["type", "checked", "disabled"],
  };
  const DROP = new Set(["SCRIPT", "STYLE", "TEMPLATE", "IFRAME", "OBJECT", "EMBED", "SVG", "MATH"]);
  const okHref = (v) => /^(https?:\/\/|mailto:|#|\/(?![\/\\]))/i.test(v);
  const okSrc = (v) => /^(\/(?![\/\\])|data:image\/(png|gif|jpeg|webp);)/i.test(v);
  function cloneSafe(node, out) {
    for (const ch of node.childNodes) {
      if (ch.nodeType === Node.TEXT_NODE) {
        out.appendChild(document.createTextNode(ch.data));
      } else if (ch.nodeType === Node.ELEMENT_NODE) {
        const tag = ch.tagName.toUpperCase();
        if (DROP.has(tag)) continue;
        const allowed = ALLOWED[tag];
        if (!allowed) { cloneSafe(ch, out); continue; }
        const el = document.createElement(tag);
        for (const name of allowed) {
          const v = ch.getAttribute(name);
          if (v === null) continue;
          if (name === "href" && !okHref(v)) continue;
          if (name === "src" && !okSrc(v)) continue;
          if (tag === "INPUT" && name === "type" && v !== "checkbox") continue;
          el.setAttribute(name, v);
        }
        if (tag === "INPUT" && el.getAttribute("type") !== "checkbox") continue;
        if (tag === "INPUT") el.setAttribute("disabled", "");
        if (tag === "IMG" && !el.hasAttribute("src")) continue;
        if (tag === "A") { el.rel = "noopener noreferrer nofollow"; el.target = "_blank"; }
        cloneSafe(ch, el);
        out.appendChild(el);
      }
    }
  }
  async function renderMarkdown(target, text) {
    try {
      const res = await fetch("/chat/api/markdown", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ text }),
      });
      if (!res.ok) throw new Error(String(res.status));
      const { html } = await res.json();
      const doc = new DOMParser().parseFromString(String(html), "text/html");
      const frag = document.createDocumentFragment();
      cloneSafe(doc.body, frag);
      target.replaceChildren(frag);
      target.classList.add("markdown");
      target.classList.remove("plain");
    } catch {
      target.textContent = text; // plain text is always safe
    }
  }

  // ---- the conversation view -------------------------------------------------
  let busy = false;
  let controller = null;

  function showError(msg) {
    els.error.hidden = !msg;
    els.error.textContent = msg || "";
  }

  function button(label, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  function messageEl(m, i) {
    const div = document.createElement("div");
    div.className = "msg " + m.role;
    div.dataset.index = String(i);
    const who = document.createElement("div");
    who.className = "who";
    who.textContent = m.role === "user" ? "You" : (s.model || "Assistant");
    const body = document.createElement("div");
    body.className = "body plain";
    body.textContent = m.content;
    const actions = document.createElement("div");
    actions.className = "msg-actions";
    if (m.role === "assistant") {
      actions.appendChild(button("Copy", "copy small", async (ev) => {
        const b = ev.currentTarget;
        try { await navigator.clipboard.writeText(m.content); b.textContent = "Copied"; }
        catch { b.textContent = "Copy failed"; }
        setTimeout(() => { b.textContent = "Copy"; }, 1500);
      }));
    }
    const lastUser = state.messages.map((x) => x.role).lastIndexOf("user");
    if (m.role === "user" && i === lastUser) {
      actions.appendChild(button("Edit", "edit small secondary", () => editMessage(div, i)));
    }
    div.append(who, body, actions);
    if (m.role === "assistant" && m.content) renderMarkdown(body, m.content);
    return div;
  }

  function renderAll() {
    const frag = document.createDocumentFragment();
    state.messages.forEach((m, i) => frag.appendChild(messageEl(m, i)));
    els.messages.replaceChildren(frag);
    els.regenerate.disabled = busy || state.messages.length === 0;
    els.messages.scrollTop = els.messages.scrollHeight;
  }

  function editMessage(div, i) {
    if (busy) return;
    const body = div.querySelector(".body");
    const ta = document.createElement("textarea");
    ta.className = "edit-box";
    ta.value = state.messages[i].content;
    ta.rows = 3;
    const saveBtn = button("Save & send", "small", () => {
      const text = ta.value.trim();
      if (!text) return;
      state.messages = state.messages.slice(0, i);
      state.messages.push({ role: "user", content: text });
      save();
      renderAll();
      complete();
    });
    const cancel = button("Cancel", "small secondary", () => renderAll());
    body.replaceChildren(ta);
    div.querySelector(".msg-actions").replaceChildren(saveBtn, cancel);
    ta.focus();
  }

  function setBusy(b) {
    busy = b;
    els.send.disabled = b;
    els.stop.hidden = !b;
    els.regenerate.disabled = b || state.messages.length === 0;
    root.classList.toggle("busy", b);
  }

  // ---- streaming -------------------------------------------------------------
  async function complete() {
    syncSettings();
    showError("");
    if (!s.model) { showError("Pick a model first."); root.dataset.state = "error"; return; }
    root.dataset.state = "streaming";
    const messages = [];
    if (s.system && s.system.trim()) messages.push({ role: "system", content: s.system });
    for (const m of state.messages) messages.push({ role: m.role, content: m.content });
    const reply = { role: "assistant", content: "" };
    state.messages.push(reply);
    renderAll();
    const div = els.messages.lastElementChild;
    const body = div.querySelector(".body");
    body.classList.add("streaming");
    setBusy(true);
    controller = new AbortController();
    let stopped = false;
    try {
      const res = await fetch("/chat/api/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({
          model: s.model, messages, stream: true,
          temperature: s.temperature, top_p: s.top_p, max_tokens: s.max_tokens,
        }),
        signal: controller.signal,
      });
      if (!res.ok) {
        let msg = `The model did not answer (HTTP ${res.status}).`;
        try {
          const j = await res.json();
          const e = j && (j.error && (j.error.message || j.error));
          if (typeof e === "string") msg = e;
        } catch { /* not JSON */ }
        if (res.status === 404) msg += " Is the inference service running, and may you use this model?";
        throw new Error(msg);
      }
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let pending = "";
      let done = false;
      while (!done) {
        const { value, done: end } = await reader.read();
        if (end) break;
        pending += dec.decode(value, { stream: true });
        let nl;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl).replace(/\r$/, "");
          pending = pending.slice(nl + 1);
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") { done = true; break; }
          let j;
          try { j = JSON.parse(data); } catch { continue; }
          if (j.error) throw new Error(j.error.message || String(j.error));
          const delta = j.choices && j.choices[0] && j.choices[0].delta;
          if (delta && typeof delta.content === "string" && delta.content) {
            reply.content += delta.content;
            body.textContent = reply.content;
            els.messages.scrollTop = els.messages.scrollHeight;
          }
        }
      }
    } catch (e) {
      if (e.name === "AbortError") stopped = true;
      else showError(e.message || String(e));
    } finally {
      controller = null;
      body.classList.remove("streaming");
      if (!reply.content && !stopped) state.messages.pop();
      save();
      setBusy(false);
      renderAll();
      root.dataset.state = stopped ? "stopped" : "done";
    }
  }

  els.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (busy) return;
    const text = els.input.value.trim();
    if (!text) return;
    els.input.value = "";
    state.messages.push({ role: "user", content: text });
    save();
    complete();
  });
  els.input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      els.form.requestSubmit();
    }
  });
  els.stop.addEventListener("click", () => { if (controller) controller.abort(); });
  els.regenerate.addEventListener("click", () => {
    if (busy || !state.messages.length) return;
    if (state.messages[state.messages.length - 1].role === "assistant") state.messages.pop();
    save();
    complete();
  });
  els.clear.addEventListener("click", () => {
    if (controller) controller.abort();
    state.messages = [];
    save();
    showError("");
    renderAll();
  });

  // ---- models ------------------------------------------------------------------
  (async () => {
    try {
      const res = await fetch("/chat/api/models", { headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const j = await res.json();
      const ids = Array.isArray(j.data) ? j.data.map((m) => m && m.id).filter((x) => typeof x === "string") : [];
      for (const id of ids) {
        const o = document.createElement("option");
        o.value = id;
        els.models.appendChild(o);
      }
      els.note.textContent = ids.length ? `${ids.length} model${ids.length === 1 ? "" : "s"} available.` : "No model is available to you.";
      if (!els.model.value && ids.length) { els.model.value = ids[0]; syncSettings(); }
    } catch (e) {
      els.note.textContent = `Could not list models (${e.message}). Type a model id.`;
    }
  })();

  renderAll();
})();
