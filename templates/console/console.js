// Small helpers for the console pages. No framework, no build step.
"use strict";

/** The session's CSRF token, for calls to the operator API. */
function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/** Calls the operator API with the session cookie and the CSRF token. */
async function operatorApi(method, path, body) {
  const response = await fetch("/operator/api" + path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json = null;
  try { json = await response.json(); } catch (_) { json = null; }
  return { ok: response.ok, status: response.status, body: json };
}

document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: <button data-copy="#id">.
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(source);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
    });
  });
  // Forms that need a confirmation: <form data-confirm="...">.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});

// The template editor: live preview through the operator API, merge fields
// inserted at the cursor, problems shown next to each part as you type.
document.addEventListener("DOMContentLoaded", () => {
  const editor = document.getElementById("editor");
  if (!editor) return;
  const name = editor.dataset.template;
  const parts = ["subject", "text_body", "html_body"];
  const input = (id) => document.getElementById(id);
  let lastFocused = input("text_body");
  parts.forEach((id) => input(id).addEventListener("focus", () => { lastFocused = input(id); }));

  document.querySelectorAll("#fields [data-field]").forEach((button) => {
    button.addEventListener("click", () => {
      const field = lastFocused;
      if (!field || field.readOnly) return;
      const token = "[#" + button.dataset.field + "#]";
      const start = field.selectionStart ?? field.value.length;
      const end = field.selectionEnd ?? field.value.length;
      field.value = field.value.slice(0, start) + token + field.value.slice(end);
      field.selectionStart = field.selectionEnd = start + token.length;
      field.focus();
      schedule();
    });
  });

  const status = input("preview-status");
  function showProblems(problems) {
    parts.forEach((part) => { input(part + "-problems").replaceChildren(); });
    (problems || []).forEach((problem) => {
      const list = input(problem.part + "-problems");
      if (!list) return;
      const item = document.createElement("li");
      item.textContent = problem.message;
      list.appendChild(item);
    });
  }

  let sequence = 0;
  async function refresh() {
    const mine = ++sequence;
    const body = {
      subject: input("subject").value,
      text_body: input("text_body").value,
      html_body: input("html_body").value,
    };
    const customer = input("preview-customer").value.trim();
    if (customer) body.customer = customer;
    const answer = await operatorApi("POST", "/templates/" + encodeURIComponent(name) + "/preview", body);
    if (mine !== sequence) return; // a newer preview is on its way
    if (answer.ok) {
      showProblems([]);
      input("preview-subject").textContent = answer.body.subject;
      input("preview-text").textContent = answer.body.text_body;
      input("preview-html").srcdoc = answer.body.html_body;
      status.textContent = customer ? "Preview with the values of " + customer + "." : "Preview with sample values.";
      status.className = "muted";
    } else {
      showProblems(answer.body && answer.body.problems);
      status.textContent = (answer.body && answer.body.message) || ("Preview failed (" + answer.status + ").");
      status.className = "error";
    }
  }
  let timer = null;
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }
  parts.forEach((id) => input(id).addEventListener("input", schedule));
  input("preview-customer").addEventListener("change", schedule);
  refresh();
});
